"""Traffic split: nginx.conf under real nginx traffic, HTTPRoute specs."""

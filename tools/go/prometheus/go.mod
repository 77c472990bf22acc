// prometheus and promtool at the release the stacks deploy: module v0.3MM.P is
// Prometheus 3.MM.P. Built with -mod=mod and SD build tags (see tools/build.py):
// the Nomad SD's dependency is not served, and go mod tidy ignores build tags.
module perfstack.local/tools/prometheus

go 1.26.7

require github.com/prometheus/prometheus v0.316.0

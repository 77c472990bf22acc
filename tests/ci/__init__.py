"""Tests of the GitHub workflows and their scripts (.github/)."""

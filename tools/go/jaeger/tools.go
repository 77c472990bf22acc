//go:build tools

// Package tools pins the jaeger command.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"

//go:build tools

// Package tools pins the provider's main package so go mod tidy keeps its dependencies.
package tools

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"

//go:build tools

// Package tools names the commands built from the pinned release, so that
// `go mod tidy` keeps their dependencies.
package tools

import (
	_ "go.universe.tf/metallb/configmaptocrs"
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
)

//go:build tools

// Package tools names the etcd server command built for the e2e cluster.
package tools

import _ "go.etcd.io/etcd/server/v3"

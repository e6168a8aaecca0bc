// Package etcd is etcd as a system under test: a static etcd server built
// from the Go module proxy into a FROM scratch image, a node command for a
// static cluster bootstrap, readiness through the v3 API, and a register
// client over etcd's v3 client.
package etcd

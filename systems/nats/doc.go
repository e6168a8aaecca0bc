// Package nats is NATS JetStream as a system under test: any nats-server
// release the Go module proxy serves, built once per version into a
// static binary (see buildmod/README.md), run as a cluster of 3 or 5
// nodes with routes between them, serving one replicated stream to the
// queue workload.
//
// What the lab checks of it, and what it does not, is in
// docs/systems/nats.md.
package nats

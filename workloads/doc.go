// Package workloads drives client operations at a system under test and
// records each one in the history as it happens: an invoke event before the
// request is sent, and an ok, fail or info event when it returns.
//
// The register workload ([Register]) reads, writes and compare-and-sets a
// small set of keys. Its shape follows Jepsen's: each client process is bound
// to one node, so a partition is seen by the clients on each side; written
// values are unique per key, which lets the checker tell every write apart;
// and an operation whose outcome is unknown (timeout, lost connection) is
// recorded as info, after which the client carries on under a new process
// number, since the old one may still have a request in flight.
//
// The rate is held by a dispatcher that hands out operations at fixed
// intended times; when every client is busy the operations queue, so a slow
// system shows as latency and lateness in the history, not as a quietly lower
// rate. Lateness is counted in [Stats].
package workloads

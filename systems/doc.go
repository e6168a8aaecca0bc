// Package systems holds what every system under test provides to the lab,
// and one folder per system (systems/etcd, ...).
//
// A system is data plus a few functions ([System]): the recipe of its image,
// the command of each node from the node's name and its peers, how to tell
// it is ready, and clients for the workloads it supports. Adding a system is
// a new folder that implements these, and one line in the runner's list.
//
// Clients classify their errors once, here at the boundary: an error wrapped
// with [Definite] means the operation certainly did not take effect (the
// history records fail); any other error means its outcome is unknown
// (info). When in doubt a client must leave an error unknown: calling an
// operation failed that may have happened makes the checker wrong.
package systems

// Package etcd is etcd as a system under test: a static etcd server built
// from the Go module proxy, a node command for a static cluster bootstrap,
// readiness through the v3 API, and a register client over etcd's v3
// client.
//
// system.version chooses the server: a 3.4 release of the table
// releases34 (3.4 is served only as pseudo-versions of go.etcd.io/etcd),
// or 3.5 and newer as the proxy serves go.etcd.io/etcd/server/v3, or
// [DefaultVersion], whose build module is pinned in buildmod/. [System.Open]
// refuses any other before anything starts, naming the versions the lab
// knows. Each release is built once, into os.UserCacheDir()/lab/
// etcd-<release>-<hash of its inputs>/etcd, and both runtimes run that
// binary. docs/systems/etcd.md says what differs between releases and how
// the lab handles it.
package etcd

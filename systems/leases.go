package systems

import (
	"context"
	"time"
)

// Leases is a system that supports the lease workload: leases granted
// with a time to live, kept alive by their owner, with keys attached that
// the system deletes when their lease expires (etcd's leases).
type Leases interface {
	Instance
	// LeaseClient connects to one node.
	LeaseClient(ctx context.Context, node Peer) (LeaseClient, error)
}

// LeaseClient is a client of leases and of the keys attached to them,
// bound to one node: every request goes to that node, which may forward
// it. As with registers, an error wrapped with [Definite] proves the
// operation did not happen; every other error leaves its outcome unknown.
type LeaseClient interface {
	// Grant asks for a new lease of ttl (whole seconds; the system may
	// raise it to its minimum) and returns its ID and the TTL granted.
	Grant(ctx context.Context, ttl time.Duration) (id int64, granted time.Duration, err error)
	// KeepAliveOnce renews the lease once and returns its TTL from now
	// (etcd's LeaseKeepAlive, one request). A lease the system no longer
	// has is a [Definite] error: nothing was renewed, and the lease is
	// gone.
	KeepAliveOnce(ctx context.Context, id int64) (ttl time.Duration, err error)
	// Put sets key to value, attached to the lease: the key is deleted
	// when the lease expires. A lease the system does not have is a
	// [Definite] error.
	Put(ctx context.Context, key, value string, lease int64) error
	// Read returns the key's value, linearizably; found is false if the
	// key has none.
	Read(ctx context.Context, key string) (value string, found bool, err error)
	Close() error
}

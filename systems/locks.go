package systems

import (
	"context"
	"time"
)

// Locks is a system that supports the lock workload: named locks, each
// held under a lease that the holder keeps alive, and released by the
// holder or by the lease's expiry (etcd's Lock RPC and its client's
// mutex).
type Locks interface {
	Instance
	// LockClient connects to one node.
	LockClient(ctx context.Context, node Peer) (LockClient, error)
	// LockMethods are the ways the system can take a lock, the first
	// being its default ("v3lock", "mutex" for etcd).
	LockMethods() []string
}

// LockClient is a client of named locks, bound to one node. It holds
// nothing itself: each [LockLease] it grants is one holder.
type LockClient interface {
	// Grant takes a new lease of ttl and keeps it alive, from this
	// client, until [LockLease.End].
	Grant(ctx context.Context, ttl time.Duration) (LockLease, error)
	Close() error
}

// LockLease is one lease and the locks taken under it. As with registers, an
// error wrapped with [Definite] proves the operation did not happen; every
// other error leaves its outcome unknown.
type LockLease interface {
	// ID is the system's name for the lease.
	ID() int64
	// ValidUntil is the latest instant the lease is known to be alive at:
	// the moment the last keepalive that the system answered was sent,
	// plus the TTL. The system renewed the lease after that send, so the
	// lease cannot expire before ValidUntil unless it is revoked. It only
	// grows. The time carries Go's monotonic reading.
	ValidUntil() time.Time
	// Gone reports whether the system said the lease no longer exists.
	Gone() bool
	// Acquire takes the lock name with method (one of
	// [Locks.LockMethods]) and waits until it is held.
	Acquire(ctx context.Context, name, method string) (LockHold, error)
	// Release gives the lock up. Releasing a lock whose key the lease's
	// expiry already removed succeeds.
	Release(ctx context.Context, h LockHold) error
	// End stops the keepalives and revokes the lease, which releases every
	// lock held under it. Best effort: an error means the lease may live
	// until it expires.
	End(ctx context.Context) error
}

// LockHold is one lock held under a lease.
type LockHold struct {
	// Name is the lock's name; Key the system's key that holds it.
	Name, Key string
	// Method is how it was taken.
	Method string
	// Token is the fencing token: the revision at which the lock's key
	// was created, larger for each later holder of the same lock; 0 when
	// the system could not say.
	Token int64
}

package systems

import "context"

// Sets is a system that supports the set workload: keys each holding a
// set of strings that only grows, as a replicated store keeps it (a Redis
// set, a table with a unique column). Elements are added one at a time and
// read a whole set at a time, so the check can ask of every element
// acknowledged whether it is still there at the end.
type Sets interface {
	Instance
	// SetClient connects to one node.
	SetClient(ctx context.Context, node Peer) (SetClient, error)
}

// SetClient is a client of the sets, bound to one node. As with
// registers, an error wrapped with [Definite] proves the operation did not
// happen; every other error leaves its outcome unknown.
type SetClient interface {
	// Add adds element to the set at key and waits for the system's
	// acknowledgement: an add acknowledged is a promise that the element
	// stays. Adding an element the set holds changes nothing.
	Add(ctx context.Context, key, element string) error
	// ReadSet returns the whole set at key as this node serves it, in any
	// order; none (and no error) when the key has no set. What the node
	// returns is recorded as it is: an element twice is a duplicate for the
	// check, not something to clean up here.
	ReadSet(ctx context.Context, key string) ([]string, error)
	Close() error
}

package systems

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/lab-chaos/lab/cluster"
)

// System is a system under test.
type System interface {
	// Name is the system's name in scenario files, such as "etcd".
	Name() string
	// Version is the version of the server the image contains.
	Version() string
	// Image is the recipe of the node image.
	Image() cluster.Image
	// Nodes returns the spec of each node, given the image tag, the node
	// names and their fixed addresses (same order), and a token unique to
	// the run.
	Nodes(image string, peers []Peer, token string) []cluster.NodeSpec
	// Ready returns nil when the node at addr serves requests.
	Ready(ctx context.Context, addr netip.Addr) error
}

// Peer is a node's name and address.
type Peer struct {
	Name string
	Addr netip.Addr
}

// RegisterClient is a client of a set of registers (keys with a value),
// bound to one node. Values are opaque strings to the client.
type RegisterClient interface {
	// Read returns the key's value; found is false if the key has none.
	Read(ctx context.Context, key string) (value string, found bool, err error)
	// Write sets the key's value.
	Write(ctx context.Context, key, value string) error
	// CAS sets the key to new if its value is old (found=false when old is
	// empty means "the key has no value"), and reports whether it swapped.
	CAS(ctx context.Context, key string, old string, oldFound bool, new string) (swapped bool, err error)
	Close() error
}

// ReadMode chooses the consistency of reads.
type ReadMode string

// Read modes.
const (
	Linearizable ReadMode = "linearizable"
	Serializable ReadMode = "serializable"
)

// Registers is a system that supports the register workload.
type Registers interface {
	System
	// RegisterClient connects to one node.
	RegisterClient(ctx context.Context, node Peer, reads ReadMode) (RegisterClient, error)
}

type definiteError struct{ err error }

func (e definiteError) Error() string { return e.err.Error() }
func (e definiteError) Unwrap() error { return e.err }

// Definite marks err as a definite failure: the operation did not happen.
func Definite(err error) error {
	if err == nil {
		return nil
	}
	return definiteError{err}
}

// IsDefinite reports whether err was marked with Definite.
func IsDefinite(err error) bool {
	var d definiteError
	return errors.As(err, &d)
}

// Leaders is a system with a leader that can be asked for.
type Leaders interface {
	// Leader returns the name of the node the answering nodes agree leads,
	// asking each of peers in turn; an error if none answers or they
	// disagree.
	Leader(ctx context.Context, peers []Peer) (string, error)
}

// Clocks is a system whose node reports its own wall clock, so that a clock
// fault is proven by the node itself, never by trusting the injector.
type Clocks interface {
	// NodeTime returns the node's own idea of the current time.
	NodeTime(ctx context.Context, node Peer) (time.Time, error)
}

// Binaries is a system whose server can run as a plain executable, for
// runtimes without images (the local runtime).
type Binaries interface {
	// Binary builds the server once (cached by the hash of its inputs) and
	// returns its path.
	Binary(ctx context.Context) (string, error)
}

// LocalNodes is a system that can give node specs for a runtime whose nodes
// share the host's file system: each node's data goes in dataDir(node).
type LocalNodes interface {
	LocalNodes(peers []Peer, token string, dataDir func(string) string) []cluster.NodeSpec
}

// Split returns the names and addresses of peers, in order.
func Split(peers []Peer) (names []string, addrs []netip.Addr) {
	for _, p := range peers {
		names = append(names, p.Name)
		addrs = append(addrs, p.Addr)
	}
	return names, addrs
}

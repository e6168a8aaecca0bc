package systems

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
)

// System is a kind of system under test, before a scenario configures it:
// a plugin. As a [scenarios.SystemKind] it names itself, lists its node
// counts, and decodes the settings of its own that a scenario may give
// under system: (its Keys; none is fine).
type System interface {
	scenarios.SystemKind
	// Open returns the system as one scenario configures it. An error is
	// bad input (a version the system cannot build, say), found before
	// anything starts.
	Open(cfg Config) (Instance, error)
}

// Config is what a scenario says of its system beyond the name and the
// node count.
type Config struct {
	// Version is the server version asked for; empty for the system's
	// default.
	Version string
	// Params are the system's own settings, as the system decoded them from
	// the scenario; nil when it has none.
	Params any
	// BuildOutput receives the output of a one-time build.
	BuildOutput io.Writer
}

// Cluster is what a node's command may name of the whole cluster.
type Cluster struct {
	// Nodes are every node's placement, in order.
	Nodes []runtime.Placement
	// Token is unique to the run (for cluster tokens and IDs).
	Token string
}

// Instance is a system configured for one run: what its nodes run, how each
// starts, when it is ready, and what its logs say. The workloads it serves
// are the client interfaces it implements ([Registers], ...).
type Instance interface {
	// Version is the version of the server the artifact holds.
	Version() string
	// Settings describe the options that matter to the result (durability,
	// consistency), as "name: value" lines for the report.
	Settings() []string
	// Artifact builds the server unless it is cached by content, and says
	// whether it had to.
	Artifact(ctx context.Context) (art runtime.Artifact, built bool, err error)
	// Node is the command of the node placed at p. One spec serves every
	// runtime: the runtime decides addresses and the data directory.
	Node(p runtime.Placement, c Cluster) runtime.NodeSpec
	// Ready returns nil when the node serves requests.
	Ready(ctx context.Context, node Peer) error
	// LogPatterns say which lines of a node's log are leader changes and
	// restarts.
	LogPatterns() logcheck.Patterns
}

// Peer is a node's name and address, as clients see it.
type Peer struct {
	Name string
	Addr netip.Addr
}

// Peers returns the peers of placements, in order.
func Peers(ps []runtime.Placement) []Peer {
	out := make([]Peer, len(ps))
	for i, p := range ps {
		out[i] = Peer{Name: p.Name, Addr: p.Addr}
	}
	return out
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
	Instance
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

// Offering is an instance whose client capabilities depend on how it is
// configured: a system file's adapter serves the workloads the file lists,
// though every such instance has every client method.
type Offering interface {
	// Offers is nil when the instance serves the workload, else why not.
	Offers(workload string) error
}

// Packaged is an instance whose nodes run from a file system of their own
// (a Debian root, a Dockerfile's image) rather than one static binary. A
// runtime that runs only static binaries refuses it before anything starts.
type Packaged interface {
	// NeedsImage says whether this configuration needs one.
	NeedsImage() bool
}

// LeaderOptional is a [Leaders] whose power depends on how it is
// configured: a system file may or may not say how to ask for the leader.
type LeaderOptional interface {
	// HasLeader says whether Leader can be asked at all.
	HasLeader() bool
}

// AsLeaders returns inst's power to name its leader, if it has one.
func AsLeaders(inst Instance) (Leaders, bool) {
	l, ok := inst.(Leaders)
	if !ok {
		return nil, false
	}
	if o, ok := inst.(LeaderOptional); ok && !o.HasLeader() {
		return nil, false
	}
	return l, true
}

// Clocks is a system whose node reports its own wall clock, so that a clock
// fault is proven by the node itself, never by trusting the injector.
type Clocks interface {
	// NodeTime returns the node's own idea of the current time.
	NodeTime(ctx context.Context, node Peer) (time.Time, error)
}

// Lookup returns the system named name from list.
func Lookup(list []System, name string) (System, bool) {
	for _, s := range list {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// Split returns the names and addresses of peers, in order.
func Split(peers []Peer) (names []string, addrs []netip.Addr) {
	for _, p := range peers {
		names = append(names, p.Name)
		addrs = append(addrs, p.Addr)
	}
	return names, addrs
}

// Named is an instance that has a name of its own, apart from its kind's
// (a system file's system is of kind "byo" and named by its file).
type Named interface {
	Name() string
}

// NameOf is how reports and progress lines call the system: its own name
// when it has one, else its kind's.
func NameOf(kind System, inst Instance) string {
	if n, ok := inst.(Named); ok && n.Name() != "" {
		return n.Name()
	}
	return kind.Name()
}

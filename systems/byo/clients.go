package byo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/adapter"
)

// The clients of a system file are adapter processes: one per client,
// bound to one node, started from the file's adapter command. What the
// adapter answers decides what the history records (see
// systems/adapter): an adapter that dies, hangs or prints garbage makes
// its operation an unknown outcome, never a failure.

// cluster remembers every node's placement as the runner asks for their
// commands, for the adapter's {{.Peers}}.
type cluster struct {
	mu    sync.Mutex
	nodes []runtime.Placement
}

func (c *cluster) set(nodes []runtime.Placement) {
	c.mu.Lock()
	c.nodes = slices.Clone(nodes)
	c.mu.Unlock()
}

func (c *cluster) peers() []Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Peer, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = Peer{Name: n.Name, Addr: n.Addr.String()}
	}
	return out
}

// adapterCommand expands the adapter's command for a client bound to node.
func (s *Instance) adapterCommand(node systems.Peer) (adapter.Command, error) {
	words, err := s.file.Adapter.Command.Words(AdapterVars{Name: node.Name, Addr: node.Addr.String(), Peers: s.cluster.peers(), Dir: s.file.Dir})
	if err != nil {
		return adapter.Command{}, fmt.Errorf("%s: adapter.command: %w", s.file.Path, err)
	}
	return adapter.Command{Path: words[0], Args: words[1:], Dir: s.file.Dir}, nil
}

func (s *Instance) adapterLog() io.Writer { return s.buildOutput }

// startAdapter starts one adapter bound to node, and waits for its answer
// to a ping, so the first operation does not pay for the start.
func (s *Instance) startAdapter(node systems.Peer) (*adapter.Client, error) {
	cmd, err := s.adapterCommand(node)
	if err != nil {
		return nil, err
	}
	c := adapter.NewClient(cmd, s.adapterLog())
	if err := c.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	_ systems.RegisterClient = (*adapter.Client)(nil)
	_ systems.SetClient      = (*adapter.Client)(nil)
)

// registers is a system file whose adapter serves the register workload.
type registers struct{ *Instance }

var _ systems.Registers = registers{}

// RegisterClient starts one adapter bound to node. Reads are as the
// adapter makes them: the read mode is the adapter's business, and the
// report names the system file.
func (r registers) RegisterClient(ctx context.Context, node systems.Peer, _ systems.ReadMode) (systems.RegisterClient, error) {
	c, err := r.startAdapter(node)
	if err != nil {
		return nil, err // not a nil *adapter.Client in a non-nil interface
	}
	return c, nil
}

// sets is a system file whose adapter serves the set workload (add,
// read-set).
type sets struct{ *Instance }

var _ systems.Sets = sets{}

// SetClient starts one adapter bound to node.
func (s sets) SetClient(ctx context.Context, node systems.Peer) (systems.SetClient, error) {
	c, err := s.startAdapter(node)
	if err != nil {
		return nil, err // not a nil *adapter.Client in a non-nil interface
	}
	return c, nil
}

// registersAndSets is a system file whose adapter serves both. Each
// capability is a type of its own rather than one type with every method,
// so that the runner's refusal of a workload the adapter does not declare
// is a type assertion, as for every other system.
type registersAndSets struct{ *Instance }

var (
	_ systems.Registers = registersAndSets{}
	_ systems.Sets      = registersAndSets{}
)

// RegisterClient is [registers.RegisterClient].
func (b registersAndSets) RegisterClient(ctx context.Context, node systems.Peer, m systems.ReadMode) (systems.RegisterClient, error) {
	return registers{b.Instance}.RegisterClient(ctx, node, m)
}

// SetClient is [sets.SetClient].
func (b registersAndSets) SetClient(ctx context.Context, node systems.Peer) (systems.SetClient, error) {
	return sets{b.Instance}.SetClient(ctx, node)
}

// serving wraps an instance in the client capabilities its adapter
// declares, so the runner refuses a workload the adapter does not serve
// before anything starts.
func serving(s *Instance) systems.Instance {
	reg := slices.Contains(s.file.Adapter.Workloads, "register")
	set := slices.Contains(s.file.Adapter.Workloads, "set")
	switch {
	case reg && set:
		return registersAndSets{s}
	case reg:
		return registers{s}
	case set:
		return sets{s}
	}
	return s
}

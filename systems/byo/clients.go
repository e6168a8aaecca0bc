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

// registers is a system file whose adapter serves the register workload.
type registers struct{ *Instance }

var _ systems.Registers = registers{}

// RegisterClient starts (lazily) one adapter bound to node. Reads are as
// the adapter makes them: the read mode is the adapter's business, and
// the report names the system file.
func (r registers) RegisterClient(ctx context.Context, node systems.Peer, _ systems.ReadMode) (systems.RegisterClient, error) {
	cmd, err := r.adapterCommand(node)
	if err != nil {
		return nil, err
	}
	c := adapter.NewClient(cmd, r.adapterLog())
	if err := c.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// serving wraps an instance in the client capabilities its adapter
// declares, so the runner refuses a workload the adapter does not serve
// before anything starts.
func serving(s *Instance) systems.Instance {
	if slices.Contains(s.file.Adapter.Workloads, "register") {
		return registers{s}
	}
	return s
}

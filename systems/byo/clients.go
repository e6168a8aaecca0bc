package byo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
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

var _ systems.QueueClient = (*adapter.Client)(nil)

// served is a system file's instance with every client capability an
// adapter can have; Offers says which of them the file's adapter serves,
// and the workloads refuse the others before anything starts.
type served struct{ *Instance }

var (
	_ systems.Registers = served{}
	_ systems.Sets      = served{}
	_ systems.Queues    = served{}
	_ systems.Offering  = served{}
)

// Offers is nil for a workload in the file's adapter.workloads.
func (s served) Offers(workload string) error {
	if slices.Contains(s.file.Adapter.Workloads, workload) {
		return nil
	}
	return fmt.Errorf("%s's adapter does not serve it (adapter.workloads in %s lists %s)", s.file.Name, s.file.Path, strings.Join(s.file.Adapter.Workloads, ", "))
}

// RegisterClient starts one adapter bound to node. Reads are as the
// adapter makes them: the read mode is the adapter's business, and the
// report names the system file.
func (s served) RegisterClient(ctx context.Context, node systems.Peer, _ systems.ReadMode) (systems.RegisterClient, error) {
	return client[systems.RegisterClient](s, node)
}

// SetClient starts one adapter bound to node.
func (s served) SetClient(ctx context.Context, node systems.Peer) (systems.SetClient, error) {
	return client[systems.SetClient](s, node)
}

// QueueClient starts one adapter bound to node.
func (s served) QueueClient(ctx context.Context, node systems.Peer) (systems.QueueClient, error) {
	return client[systems.QueueClient](s, node)
}

// client starts an adapter as the client interface C; on error C's zero
// value, never a nil *adapter.Client in a non-nil interface.
func client[C any](s served, node systems.Peer) (C, error) {
	c, err := s.startAdapter(node)
	if err != nil {
		var none C
		return none, err
	}
	return any(c).(C), nil
}

// serving wraps an instance in the client capabilities an adapter can
// have; the file's adapter.workloads decides which it offers.
func serving(s *Instance) systems.Instance { return served{s} }

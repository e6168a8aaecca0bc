package nemesis

import (
	"context"
	"net/netip"
)

// NodeSet is a fixed list of named nodes with their addresses, and a way to
// find each node's current PID: the [Nodes] of any runtime.
type NodeSet struct {
	gateway netip.Addr
	names   []string
	addrs   map[string]netip.Addr
	pid     func(ctx context.Context, node string) (int, error)
}

var _ Nodes = (*NodeSet)(nil)

// NewNodeSet returns the nodes named in names (in that order), at addrs
// (same order), whose PIDs pid looks up.
func NewNodeSet(names []string, addrs []netip.Addr, pid func(ctx context.Context, node string) (int, error)) *NodeSet {
	s := &NodeSet{names: append([]string(nil), names...), addrs: map[string]netip.Addr{}, pid: pid}
	for i, n := range names {
		s.addrs[n] = addrs[i]
	}
	return s
}

// Names lists the nodes in order.
func (s *NodeSet) Names() []string { return append([]string(nil), s.names...) }

// Addr is the node's address.
func (s *NodeSet) Addr(node string) (netip.Addr, bool) {
	a, ok := s.addrs[node]
	return a, ok
}

// Pid is the host PID of the node's main process now.
func (s *NodeSet) Pid(ctx context.Context, node string) (int, error) { return s.pid(ctx, node) }

// WithGateway records the address the lab's clients come from, so that a
// scenario can ask for them to be cut off too.
func (s *NodeSet) WithGateway(a netip.Addr) *NodeSet {
	s.gateway = a
	return s
}

// Gateway is the address the lab's clients come from; invalid if unknown.
func (s *NodeSet) Gateway() netip.Addr { return s.gateway }

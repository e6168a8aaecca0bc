package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Nodes is what partitions need of the runtime: node addresses, and the PID
// whose network namespace is the node's.
type Nodes interface {
	Names() []string
	Addr(node string) (netip.Addr, bool)
	Pid(ctx context.Context, node string) (int, error)
}

// Cut is a set of blocked links. Drops[a] lists the nodes a exchanges no
// packets with (a symmetric partition lists each pair on both sides);
// OneWay[b] lists the nodes whose packets b drops on arrival while its own
// still go out (a grudge). Reject makes the cut fail fast: a TCP reset or an
// ICMP "administratively prohibited" answers each packet, so peers see an
// error at once instead of a timeout.
type Cut struct {
	Drops  map[string][]string
	OneWay map[string][]string
	Reject bool
	// Clients lists nodes also cut off from the lab's own clients (the
	// runtime's gateway address); needs Nodes that implement [Gateways].
	Clients []string
}

// Gateways is a runtime that knows the address the lab's clients come from.
type Gateways interface {
	Gateway() netip.Addr
}

// Pairs returns the blocked links as sorted "a-b" strings, each once.
func (c Cut) Pairs() []string {
	seen := map[string]bool{}
	for a, bs := range c.Drops {
		for _, b := range bs {
			x, y := a, b
			if y < x {
				x, y = y, x
			}
			seen[x+"-"+y] = true
		}
	}
	for b, as := range c.OneWay {
		for _, a := range as {
			seen[a+"->"+b] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// CutBetween blocks every link between nodes of different groups.
func CutBetween(groups [][]string) Cut {
	c := Cut{Drops: map[string][]string{}}
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				c.Drops[a] = append(c.Drops[a], h...)
			}
		}
	}
	for a := range c.Drops {
		sort.Strings(c.Drops[a])
	}
	return c
}

// Partitioner cuts and heals links between nodes.
type Partitioner struct {
	nodes Nodes
	mu    sync.Mutex
	// active faults: id -> namespaces where a table was written
	active map[int][]*nsTable
}

type nsTable struct {
	node  string
	ns    netns.NsHandle
	table *nftables.Table
}

// NewPartitioner returns a partitioner over nodes.
func NewPartitioner(nodes Nodes) *Partitioner {
	return &Partitioner{nodes: nodes, active: map[int][]*nsTable{}}
}

// Name is "partition".
func (*Partitioner) Name() string { return "partition" }

func tableName(id int) string { return fmt.Sprintf("lab-f%d", id) }

// Cut applies cut as fault id. On error, whatever was applied is healed
// before returning: nothing is half-applied.
func (p *Partitioner) Cut(ctx context.Context, id int, cut Cut) (err error) {
	p.mu.Lock()
	if _, ok := p.active[id]; ok {
		p.mu.Unlock()
		return fmt.Errorf("fault %d is already in effect", id)
	}
	p.active[id] = nil
	p.mu.Unlock()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Heal(context.WithoutCancel(ctx), id))
		}
	}()
	touched := map[string]bool{}
	for n := range cut.Drops {
		touched[n] = true
	}
	for n := range cut.OneWay {
		touched[n] = true
	}
	clientCut := map[string]bool{}
	var gateway netip.Addr
	if len(cut.Clients) > 0 {
		if g, ok := p.nodes.(Gateways); ok {
			gateway = g.Gateway()
		}
		if !gateway.IsValid() {
			return errors.New("partition: cutting the lab's clients needs a runtime that says where they come from")
		}
		for _, n := range cut.Clients {
			if _, ok := p.nodes.Addr(n); !ok {
				return fmt.Errorf("partition: no node %q", n)
			}
			touched[n] = true
			clientCut[n] = true
		}
	}
	names := make([]string, 0, len(touched))
	for n := range touched {
		names = append(names, n)
	}
	sort.Strings(names)
	addrs := func(nodes []string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, peer := range nodes {
			a, ok := p.nodes.Addr(peer)
			if !ok {
				return nil, fmt.Errorf("partition: no node %q", peer)
			}
			out = append(out, a)
		}
		return out, nil
	}
	for _, node := range names {
		both, err := addrs(cut.Drops[node])
		if err != nil {
			return err
		}
		inOnly, err := addrs(cut.OneWay[node])
		if err != nil {
			return err
		}
		if clientCut[node] {
			both = append(both, gateway)
		}
		pid, err := p.nodes.Pid(ctx, node)
		if err != nil {
			return fmt.Errorf("partition %s: %w", node, err)
		}
		ns, err := netns.GetFromPid(pid)
		if err != nil {
			return fmt.Errorf("partition %s: network namespace of pid %d: %w", node, pid, err)
		}
		t := &nsTable{node: node, ns: ns, table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: tableName(id)}}
		p.mu.Lock()
		p.active[id] = append(p.active[id], t)
		p.mu.Unlock()
		if err := writeDropTable(t, both, inOnly, cut.Reject); err != nil {
			return fmt.Errorf("partition %s: %w", node, err)
		}
	}
	return nil
}

// writeDropTable creates the fault's table in one namespace: two base chains
// that drop (or reject) every packet from (input) and to (output) the peers
// in both, and only from (input) the peers in inOnly.
func writeDropTable(t *nsTable, both, inOnly []netip.Addr, reject bool) error {
	conn, err := nftables.New(nftables.WithNetNSFd(int(t.ns)))
	if err != nil {
		return err
	}
	tbl := conn.AddTable(t.table)
	accept := nftables.ChainPolicyAccept
	in := conn.AddChain(&nftables.Chain{Name: "input", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	out := conn.AddChain(&nftables.Chain{Name: "output", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	want := map[*nftables.Chain]int{}
	add := func(ch *nftables.Chain, offset uint32, a netip.Addr) {
		for _, exprs := range blockRules(offset, a, reject) {
			conn.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: exprs})
			want[ch]++
		}
	}
	// The IPv4 header holds the source address at offset 12 and the
	// destination at 16.
	for _, a := range both {
		add(in, 12, a)
		add(out, 16, a)
	}
	for _, a := range inOnly {
		add(in, 12, a)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	// Read the rules back: the cut is in effect only if the kernel has them.
	for _, ch := range []*nftables.Chain{in, out} {
		rules, err := conn.GetRules(tbl, ch)
		if err != nil {
			return fmt.Errorf("nftables: read back %s: %w", ch.Name, err)
		}
		if len(rules) != want[ch] {
			return fmt.Errorf("nftables: %s chain has %d rules, want %d", ch.Name, len(rules), want[ch])
		}
	}
	return nil
}

// blockRules returns the rules that block packets whose address at offset
// is a: one silent drop, or for a fast-failing cut a TCP reset for TCP and
// an ICMP "administratively prohibited" for the rest.
func blockRules(offset uint32, a netip.Addr, reject bool) [][]expr.Any {
	ip := a.As4()
	match := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: slices.Clone(ip[:])},
	}
	if !reject {
		return [][]expr.Any{append(slices.Clone(match), &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})}
	}
	tcp := append(slices.Clone(match),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Counter{},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	other := append(slices.Clone(match),
		&expr.Counter{},
		// ICMP type 3 (unreachable), code 13: communication
		// administratively prohibited.
		&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 13})
	return [][]expr.Any{tcp, other}
}

// Heal removes fault id's tables from every namespace it touched. Healing a
// fault that is not in effect does nothing.
func (p *Partitioner) Heal(ctx context.Context, id int) error {
	p.mu.Lock()
	tables := p.active[id]
	delete(p.active, id)
	p.mu.Unlock()
	var errs []error
	for _, t := range tables {
		if err := deleteTable(t); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", t.node, err))
		}
		t.ns.Close()
	}
	return errors.Join(errs...)
}

func deleteTable(t *nsTable) error {
	conn, err := nftables.New(nftables.WithNetNSFd(int(t.ns)))
	if err != nil {
		return err
	}
	conn.DelTable(t.table)
	err = conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		return nil // already gone, e.g. the node was restarted
	}
	return err
}

// Active lists the faults in effect.
func (p *Partitioner) Active() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faultIDs(p.active)
}

// HealAll heals every fault in effect (the teardown on every exit path).
func (p *Partitioner) HealAll(ctx context.Context) error {
	return healEach(ctx, p.Active(), p.Heal)
}

// describe renders a cut for the history.
func describe(groups [][]string, cut Cut) string {
	if groups != nil {
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = "{" + strings.Join(g, " ") + "}"
		}
		return strings.Join(parts, " | ")
	}
	return "cut " + strings.Join(cut.Pairs(), ", ")
}

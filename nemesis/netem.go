package nemesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Qdisc faults: on each of the node's interfaces that leads to a peer, an
// htb qdisc at the root (handle 1:) whose default is its direct queue, so
// traffic to anyone else (the lab's clients) passes untouched; one class
// 1:1 that u32 filters send the peers' packets to, with the rate as its
// rate; and, where the kernel has netem, a netem qdisc (10:) under that
// class for delay, jitter, loss, duplicate, reorder and corrupt. Healing
// deletes the root qdisc on each interface, and with it everything else.
//
// One qdisc fault per interface at a time: a second one on the same node
// fails (the root is taken) and changes nothing.

// unlimited is the class rate when only netem's effects are asked for.
const unlimited = 10_000_000_000 // 10 Gbit/s

// qdiscRules is a qdisc fault on a node's interfaces.
type qdiscRules struct {
	ns    netns.NsHandle
	links []int // interfaces whose root htb this fault added
}

// applyQdisc adds the qdisc fault and reports each interface to add as
// soon as it carries something to heal.
func applyQdisc(ns netns.NsHandle, peers []netip.Addr, f PacketFault, withNetem bool, add func(applied)) error {
	rate := uint64(unlimited)
	if f.Rate != "" {
		r, err := parseRate(f.Rate)
		if err != nil {
			return err
		}
		rate = r
	}
	h, err := vnl.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	// The interface each peer is reached through.
	byLink := map[int][]netip.Addr{}
	var order []int
	for _, a := range peers {
		routes, err := h.RouteGet(a.AsSlice())
		if err != nil || len(routes) == 0 {
			return fmt.Errorf("no route to peer %v: %v", a, err)
		}
		l := routes[0].LinkIndex
		if _, ok := byLink[l]; !ok {
			order = append(order, l)
		}
		byLink[l] = append(byLink[l], a)
	}
	q := &qdiscRules{ns: ns}
	add(q)
	for _, l := range order {
		root := vnl.NewHtb(vnl.QdiscAttrs{LinkIndex: l, Handle: vnl.MakeHandle(1, 0), Parent: vnl.HANDLE_ROOT})
		if err := h.QdiscAdd(root); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("interface %d already has a root qdisc (another packet fault, or one of the node's own): heal that first", l)
			}
			return fmt.Errorf("htb root on interface %d: %w", l, err)
		}
		q.links = append(q.links, l)
		class := vnl.NewHtbClass(vnl.ClassAttrs{LinkIndex: l, Parent: vnl.MakeHandle(1, 0), Handle: vnl.MakeHandle(1, 1)},
			vnl.HtbClassAttrs{Rate: rate})
		if err := h.ClassAdd(class); err != nil {
			return fmt.Errorf("htb class on interface %d: %w", l, err)
		}
		if withNetem {
			if err := h.QdiscAdd(newNetem(l, f)); err != nil {
				return fmt.Errorf("netem on interface %d: %w", l, err)
			}
		}
		for _, a := range byLink[l] {
			if err := h.FilterAdd(peerFilter(l, a)); err != nil {
				return fmt.Errorf("u32 filter for %v on interface %d: %w", a, l, err)
			}
		}
	}
	return nil
}

// newNetem is the netem qdisc under class 1:1 with f's effects.
func newNetem(link int, f PacketFault) *vnl.Netem {
	return vnl.NewNetem(vnl.QdiscAttrs{LinkIndex: link, Parent: vnl.MakeHandle(1, 1), Handle: vnl.MakeHandle(10, 0)},
		vnl.NetemQdiscAttrs{
			Latency:     uint32(f.Delay.Microseconds()),
			Jitter:      uint32(f.Jitter.Microseconds()),
			Loss:        float32(f.Loss * 100),
			Duplicate:   float32(f.Duplicate * 100),
			ReorderProb: float32(f.Reorder * 100),
			CorruptProb: float32(f.Corrupt * 100),
			Limit:       10000,
		})
}

// peerFilter sends IPv4 packets to a into class 1:1 ("u32 match ip dst a/32").
func peerFilter(link int, a netip.Addr) *vnl.U32 {
	ip := a.As4()
	return &vnl.U32{
		FilterAttrs: vnl.FilterAttrs{LinkIndex: link, Parent: vnl.MakeHandle(1, 0), Priority: 1, Protocol: unix.ETH_P_IP},
		ClassId:     vnl.MakeHandle(1, 1),
		Sel: &vnl.TcU32Sel{Flags: vnl.TC_U32_TERMINAL, Keys: []vnl.TcU32Key{
			{Mask: 0xffffffff, Val: binary.BigEndian.Uint32(ip[:]), Off: 16},
		}},
	}
}

func (q *qdiscRules) heal() error {
	if len(q.links) == 0 {
		return nil
	}
	h, err := vnl.NewHandleAt(q.ns)
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	for _, l := range q.links {
		root := &vnl.Htb{QdiscAttrs: vnl.QdiscAttrs{LinkIndex: l, Handle: vnl.MakeHandle(1, 0), Parent: vnl.HANDLE_ROOT}}
		err := h.QdiscDel(root)
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("interface %d: %w", l, err))
		}
	}
	q.links = nil
	return errors.Join(errs...)
}

// parseRate reads a rate in tc's units into bits per second: bit, kbit,
// mbit, gbit (powers of 1000), and bps, kbps, mbps, gbps (bytes).
func parseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"bit", 1},
		{"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}, {"bps", 8},
	}
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			bits := v * u.mult
			if bits < 8 || bits > 8*float64(^uint32(0)) {
				return 0, fmt.Errorf("rate %q is out of range", s)
			}
			return uint64(bits), nil
		}
	}
	return 0, fmt.Errorf("rate %q: want a number and a unit such as 1mbit, 500kbit or 10mbps", s)
}

package nemesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lossModulus is the resolution of nftables loss: numgen draws 0..9999 and
// a packet is dropped when the draw is below loss*10000 (0.01% steps).
const lossModulus = 10000

// packetRules is a fault's nftables table in a node's namespace: an output
// chain whose rules, per peer, drop at random (loss) and then hand the
// survivors to the lab's queue (delay). Healing deletes the table.
type packetRules struct {
	ns       netns.NsHandle
	name     string
	peers    []netip.Addr
	loss     float64
	withLoss bool
	queue    *nfqDelay // where the NFQUEUE rules send packets, nil for none
}

func (r *packetRules) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: r.name}
}

// write creates the table in one transaction and reads the rules back: the
// fault is in effect only if the kernel has them.
func (r *packetRules) write() error {
	conn, err := nftables.New(nftables.WithNetNSFd(int(r.ns)))
	if err != nil {
		return err
	}
	tbl := conn.AddTable(r.table())
	accept := nftables.ChainPolicyAccept
	out := conn.AddChain(&nftables.Chain{Name: "output", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	want := 0
	for _, a := range r.peers {
		if r.withLoss {
			conn.AddRule(&nftables.Rule{Table: tbl, Chain: out, Exprs: lossExprs(a, r.loss)})
			want++
		}
		if r.queue != nil {
			conn.AddRule(&nftables.Rule{Table: tbl, Chain: out, Exprs: queueExprs(a, r.queue.queue)})
			want++
		}
	}
	if err := conn.Flush(); err != nil {
		return err
	}
	rules, err := conn.GetRules(tbl, out)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if len(rules) != want {
		return fmt.Errorf("output chain has %d rules, want %d", len(rules), want)
	}
	return nil
}

func (r *packetRules) heal() error {
	if r.queue != nil {
		r.queue.drain() // first: the kernel drops what a deleted rule queued
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(r.ns)))
	if err != nil {
		return err
	}
	conn.DelTable(r.table())
	err = conn.Flush()
	if errors.Is(err, unix.ENOENT) {
		return nil // already gone: never written, or the node restarted
	}
	return err
}

// daddrIs matches IPv4 packets to a (the destination is at offset 16).
func daddrIs(a netip.Addr) []expr.Any {
	ip := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip[:]},
	}
}

// lossExprs is "ip daddr a numgen random mod 10000 < loss*10000 counter
// drop". numgen leaves its draw in host byte order; cmp lt compares bytes,
// so the draw is turned big-endian first, as nft itself does.
func lossExprs(a netip.Addr, loss float64) []expr.Any {
	threshold := uint32(math.Round(loss * lossModulus))
	return append(daddrIs(a),
		&expr.Numgen{Register: 1, Modulus: lossModulus, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, threshold)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

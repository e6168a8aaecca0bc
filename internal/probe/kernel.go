package probe

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tryQdisc adds a qdisc of kind at the root of a veth in a throwaway
// namespace. The namespace, the veth and the qdisc go with it.
func tryQdisc(kind string) error {
	return InThrowawayNS(func(ns netns.NsHandle) error {
		h, err := vnl.NewHandleAt(ns)
		if err != nil {
			return fmt.Errorf("netlink in a throwaway namespace: %w", err)
		}
		defer h.Close()
		if err := h.LinkAdd(&vnl.Veth{LinkAttrs: vnl.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}); err != nil {
			return fmt.Errorf("veth in a throwaway namespace: %w", err)
		}
		link, err := h.LinkByName("probe0")
		if err != nil {
			return err
		}
		attrs := vnl.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: vnl.MakeHandle(1, 0), Parent: vnl.HANDLE_ROOT}
		var q vnl.Qdisc
		switch kind {
		case "netem":
			q = vnl.NewNetem(attrs, vnl.NetemQdiscAttrs{Latency: 1000})
		case "tbf":
			q = &vnl.Tbf{QdiscAttrs: attrs, Rate: 125000, Limit: 10000, Buffer: 20000}
		case "htb":
			q = vnl.NewHtb(attrs)
		default:
			return fmt.Errorf("no probe for qdisc %q", kind)
		}
		if err := h.QdiscAdd(q); err != nil {
			return fmt.Errorf("add a %s qdisc: %w", kind, err)
		}
		return nil
	})
}

// tryRule writes a table, and a chain holding one rule of exprs when exprs
// is not nil, in a throwaway namespace, then deletes the table.
func tryRule(exprs []expr.Any) error {
	return InThrowawayNS(func(ns netns.NsHandle) error {
		conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
		if err != nil {
			return err
		}
		t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "lab-probe"})
		if exprs != nil {
			accept := nftables.ChainPolicyAccept
			ch := conn.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
				Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
			conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
		}
		if err := conn.Flush(); err != nil {
			return err
		}
		conn.DelTable(t)
		return conn.Flush()
	})
}

// NFTables writes and deletes a table in a throwaway namespace.
func NFTables() Check {
	return answer("nftables", tryRule(nil), "nf_tables over netlink",
		"partitions (every shape, one-way too): one table per fault in each node's namespace",
		"no partitions and no nftables packet loss")
}

// Numgen tries a rule with a random number generator expression, which
// random loss is made of.
func Numgen() Check {
	err := tryRule([]expr.Any{
		&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})
	return answer("numgen", notInKernel(err, "nft_numgen"), "nft numgen random",
		"random packet loss through nftables, per peer, where netem is missing",
		"no random loss through nftables")
}

// nfqueueInfo is struct xt_NFQ_info_v3 (queue number, queues total, flags),
// in host byte order, padded to the 8-byte alignment of xtables.
func nfqueueInfo(queue uint16) []byte {
	const bypass = 1 // NFQ_FLAG_BYPASS: accept when no program listens
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:], queue)
	binary.NativeEndian.PutUint16(b[2:], 1)
	binary.NativeEndian.PutUint16(b[4:], bypass)
	return b
}

// NFQueueTarget tries a rule with the xtables NFQUEUE target through
// nft_compat (the native nft queue expression is a separate module that
// some kernels lack).
func NFQueueTarget() Check {
	info := xt.Unknown(nfqueueInfo(0))
	err := tryRule([]expr.Any{&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}})
	return answer("nfqueue-target", notInKernel(err, "xt_NFQUEUE through nft_compat"), "xt NFQUEUE v3 via nft_compat",
		"nftables rules can hand a peer's packets to the lab: delay, jitter, reorder without netem",
		"no userspace delay")
}

// Constants of nfnetlink_queue, from linux/netfilter/nfnetlink_queue.h.
const (
	nfnlSubsysQueue = 3
	nfqnlMsgConfig  = 2
	nfqaCfgCmd      = 1
	nfqnlCfgCmdBind = 1
	nfqnlCfgCmdUnbd = 2
)

// NFQueue binds queue 0 over nfnetlink in a throwaway namespace: the lab
// reads queued packets this way.
func NFQueue() Check {
	err := InThrowawayNS(func(ns netns.NsHandle) error {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(ns)})
		if err != nil {
			return err
		}
		defer c.Close()
		for _, cmd := range []byte{nfqnlCfgCmdBind, nfqnlCfgCmdUnbd} {
			ae := netlink.NewAttributeEncoder()
			ae.Bytes(nfqaCfgCmd, []byte{cmd, 0, 0, unix.AF_INET})
			attrs, err := ae.Encode()
			if err != nil {
				return err
			}
			// struct nfgenmsg: family, version 0, queue number (big endian).
			data := append([]byte{unix.AF_UNSPEC, 0, 0, 0}, attrs...)
			_, err = c.Execute(netlink.Message{
				Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysQueue<<8 | nfqnlMsgConfig),
					Flags: netlink.Request | netlink.Acknowledge},
				Data: data,
			})
			if err != nil {
				return fmt.Errorf("nfnetlink_queue config: %w", err)
			}
		}
		return nil
	})
	return answer("nfnetlink-queue", notInKernel(err, "nfnetlink_queue"), "queue bound over nfnetlink",
		"the lab can read queued packets and release them later (NFQUEUE delay)",
		"no userspace delay")
}

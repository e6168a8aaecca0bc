package nemesis

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Delay without netem: an nftables rule in the node's namespace hands each
// packet to a peer to an NFQUEUE queue; the lab reads the queue over
// nfnetlink (on a socket opened in the node's namespace, where the queue
// is), holds each packet's verdict for the delay, then accepts it. The
// packet itself never leaves the kernel: only its id comes to the lab
// (copy mode "meta"), and the verdict sends it on its way.
//
// Overload fails open: past delayQueueCap packets held, or when the
// kernel's queue is full, packets pass at once and are counted. Healing
// first accepts every packet held (and from then on every packet at once),
// then deletes the rule, then closes the queue: the kernel drops whatever a
// deleted rule had queued, so the order matters. Only a packet queued in
// the instant between the drain and the deletion can be lost to a heal.

const (
	delayQueueCap   = 4096              // packets held by the lab at most
	delayKernelMax  = 2 * delayQueueCap // the kernel's queue length
	delayReadBuffer = 4 << 20
)

// Constants of nfnetlink_queue, from linux/netfilter/nfnetlink_queue.h.
const (
	nfnlSubsysQueue    = 3
	nfqnlMsgPacket     = 0
	nfqnlMsgVerdict    = 1
	nfqnlMsgConfig     = 2
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaCfgMask        = 4
	nfqaCfgFlags       = 5
	nfqnlCfgCmdBind    = 1
	nfqnlCopyMeta      = 1
	nfqaCfgFFailOpen   = 1
	nfqaCfgFGSO        = 4
	nfAccept           = 1
)

// queueExprs is "ip daddr a counter queue num q bypass", written with the
// xtables NFQUEUE target through nft_compat: kernels without nft_queue (as
// the lab's own) still have it. With bypass, a packet passes when nobody
// reads the queue: a lab that died leaves no black hole behind.
func queueExprs(a netip.Addr, q uint16) []expr.Any {
	info := xt.Unknown(nfqueueTargetInfo(q))
	return append(daddrIs(a),
		&expr.Counter{},
		&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info},
	)
}

// nfqueueTargetInfo is struct xt_NFQ_info_v3 {queuenum, queues_total,
// flags} in host byte order, padded to xtables' 8-byte alignment.
func nfqueueTargetInfo(q uint16) []byte {
	const bypass = 1 // NFQ_FLAG_BYPASS
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:], q)
	binary.NativeEndian.PutUint16(b[2:], 1)
	binary.NativeEndian.PutUint16(b[4:], bypass)
	return b
}

// nfqDelay is one fault's queue: a reader of packets and a releaser of
// verdicts.
type nfqDelay struct {
	queue   uint16
	limit   int // packets held at most; past it, they pass (fail open)
	conn    *netlink.Conn
	delay   time.Duration
	jitter  time.Duration
	reorder float64
	rng     *rand.Rand // the reader's own
	log     *slog.Logger

	mu       sync.Mutex
	held     heldHeap
	draining bool
	wake     chan struct{}
	done     chan struct{} // closed to drain
	released chan struct{} // closed when every held packet was accepted
	reading  sync.WaitGroup

	delayed, passed, overflow, failed atomic.Int64
}

type heldPacket struct {
	at time.Time
	id uint32
}

type heldHeap []heldPacket

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(heldPacket)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// startDelay binds queue q in ns and starts reading it. Packets come only
// once a rule sends them there ([queueExprs]).
func startDelay(ns netns.NsHandle, q uint16, delay, jitter time.Duration, reorder float64, seed, stream uint64, log *slog.Logger) (*nfqDelay, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(ns)})
	if err != nil {
		return nil, fmt.Errorf("nfnetlink: %w", err)
	}
	d := &nfqDelay{queue: q, limit: delayQueueCap, conn: conn, delay: delay, jitter: jitter, reorder: reorder,
		rng: rand.New(rand.NewPCG(seed, stream)), log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), released: make(chan struct{})}
	if err := d.bind(); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadBuffer(delayReadBuffer)
	_ = conn.SetOption(netlink.NoENOBUFS, true)
	d.reading.Add(1)
	go d.read()
	go d.release()
	return d, nil
}

// bind configures the queue in one acknowledged message: bind, copy only
// the metadata, the kernel's queue length, fail open when it is full.
func (d *nfqDelay) bind() error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET})
	ae.Bytes(nfqaCfgParams, []byte{0, 0, 0, 0, nfqnlCopyMeta}) // copy_range 0, copy_mode
	ae.Uint32(nfqaCfgQueueMaxlen, delayKernelMax)
	ae.Uint32(nfqaCfgMask, nfqaCfgFFailOpen|nfqaCfgFGSO)
	ae.Uint32(nfqaCfgFlags, nfqaCfgFFailOpen|nfqaCfgFGSO)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = d.conn.Execute(netlink.Message{
		Header: netlink.Header{Type: nfqType(nfqnlMsgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(d.nfgen(), attrs...),
	})
	if err != nil {
		return fmt.Errorf("bind queue %d: %w", d.queue, err)
	}
	return nil
}

func nfqType(msg int) netlink.HeaderType { return netlink.HeaderType(nfnlSubsysQueue<<8 | msg) }

// nfgen is struct nfgenmsg: family, version 0, the queue (big endian).
func (d *nfqDelay) nfgen() []byte {
	return []byte{unix.AF_UNSPEC, 0, byte(d.queue >> 8), byte(d.queue)}
}

// verdict accepts packet id.
func (d *nfqDelay) verdict(id uint32) error {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, nfAccept)
	binary.BigEndian.PutUint32(b[4:], id)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(nfqaVerdictHdr, b)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = d.conn.Send(netlink.Message{
		Header: netlink.Header{Type: nfqType(nfqnlMsgVerdict), Flags: netlink.Request},
		Data:   append(d.nfgen(), attrs...),
	})
	return err
}

// packetID reads the id out of a queued packet's message.
func packetID(m netlink.Message) (uint32, bool) {
	if m.Header.Type != nfqType(nfqnlMsgPacket) || len(m.Data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return 0, false
	}
	for ad.Next() {
		if ad.Type() == nfqaPacketHdr {
			if b := ad.Bytes(); len(b) >= 4 {
				return binary.BigEndian.Uint32(b), true
			}
		}
	}
	return 0, false
}

// read takes packets off the queue and decides when each goes. An error
// message from the kernel (a verdict for a packet it no longer holds, or
// ENOBUFS when it failed open) does not stop it; a run of errors does.
func (d *nfqDelay) read() {
	defer d.reading.Done()
	errs := 0
	for {
		msgs, err := d.conn.Receive()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return
			}
			if errs++; errs > 100 {
				d.log.Warn("nfqueue read stopped; packets pass once the kernel's queue is full (fail open)", "err", err)
				return
			}
			continue
		}
		errs = 0
		for _, m := range msgs {
			id, ok := packetID(m)
			if !ok {
				continue
			}
			d.admit(id)
		}
	}
}

// admit holds packet id for its delay, or lets it pass at once when
// reordered, when draining, or when the lab holds too many.
func (d *nfqDelay) admit(id uint32) {
	wait := d.delay
	if d.jitter > 0 {
		wait += time.Duration(d.rng.Int64N(int64(2*d.jitter)+1)) - d.jitter
	}
	now := d.reorder > 0 && d.rng.Float64() < d.reorder
	d.mu.Lock()
	full := len(d.held) >= d.limit
	if d.draining || now || full || wait <= 0 {
		d.mu.Unlock()
		if full {
			d.overflow.Add(1)
		} else {
			d.passed.Add(1)
		}
		d.accept(id)
		return
	}
	heap.Push(&d.held, heldPacket{at: time.Now().Add(wait), id: id})
	first := d.held[0].id == id
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *nfqDelay) accept(id uint32) {
	if err := d.verdict(id); err != nil {
		d.failed.Add(1)
		if !errors.Is(err, os.ErrClosed) {
			d.log.Warn("nfqueue verdict", "err", err)
		}
	}
}

// release accepts each held packet when its time comes; on heal, all of
// them at once.
func (d *nfqDelay) release() {
	defer close(d.released)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		var due []uint32
		now := time.Now()
		for len(d.held) > 0 && (d.draining || !d.held[0].at.After(now)) {
			due = append(due, heap.Pop(&d.held).(heldPacket).id)
		}
		next := time.Hour
		if len(d.held) > 0 {
			next = d.held[0].at.Sub(now)
		}
		draining := d.draining
		d.mu.Unlock()
		for _, id := range due {
			d.accept(id)
		}
		d.delayed.Add(int64(len(due)))
		if draining {
			return
		}
		timer.Reset(next)
		select {
		case <-d.wake:
		case <-timer.C:
		case <-d.done:
		}
	}
}

// drain accepts every packet held, and from now on every packet at once.
// It must come before the rule is deleted: the kernel drops the packets
// still queued by a rule that goes away.
func (d *nfqDelay) drain() {
	d.mu.Lock()
	already := d.draining
	d.draining = true
	d.mu.Unlock()
	if !already {
		close(d.done)
	}
	<-d.released
}

// heal drains the queue and closes it. Once the rule is gone, the kernel
// holds nothing more for this queue (it drops what a deleted rule queued,
// which is why [nfqDelay.drain] comes first): the reader can stop at once.
func (d *nfqDelay) heal() error {
	d.drain()
	if d.conn == nil {
		return nil
	}
	_ = d.conn.SetReadDeadline(time.Now())
	d.reading.Wait()
	d.log.Info("nfqueue delay released", "delayed", d.delayed.Load(), "passed", d.passed.Load(), "overflow", d.overflow.Load(), "failed", d.failed.Load())
	err := d.conn.Close()
	d.conn = nil
	return err
}

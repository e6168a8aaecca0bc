package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lab-chaos/lab/internal/vdso"
)

// Clocks skews the wall clock of one node's process, not the host's: it
// patches the process's vDSO (see package internal/vdso) so that
// CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI, gettimeofday and time
// read real time plus an offset. Monotonic clocks are left alone, so the
// node's timers, timeouts and leases run at the real rate: what the node
// sees is a wall clock that is wrong, as after a bad NTP step, not one that
// runs fast or slow.
//
// Every fault is undone by [Clocks.Reset], which writes the kernel's
// original bytes back. A node restarted meanwhile has a fresh vDSO, and its
// skew is already gone.
type Clocks struct {
	nodes Nodes
	log   *slog.Logger

	mu     sync.Mutex
	active map[int]*skew
	offset map[string]time.Duration
}

// skew is one clock fault in effect.
type skew struct {
	node string
	pid  int
	// For a strobe: stop ends it, done closes when it has reset.
	stop context.CancelFunc
	done chan struct{}
}

// NewClocks returns a clock nemesis over nodes. log may be nil.
func NewClocks(nodes Nodes, log *slog.Logger) *Clocks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Clocks{nodes: nodes, log: log, active: map[int]*skew{}, offset: map[string]time.Duration{}}
}

// Name is "clock".
func (*Clocks) Name() string { return "clock" }

// Log attribute keys.
const (
	attrNode   = "node"
	attrPid    = "pid"
	attrOffset = "offset"
	attrFault  = "fault"
	attrTook   = "took"
)

// claim registers fault id on node, or says why it cannot be.
func (c *Clocks) claim(ctx context.Context, id int, node string) (*skew, error) {
	if !c.known(node) {
		return nil, fmt.Errorf("clock: no node %q", node)
	}
	pid, err := c.nodes.Pid(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("clock %s: %w", node, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.active[id]; ok {
		return nil, fmt.Errorf("clock: fault %d is already in effect", id)
	}
	for other, s := range c.active {
		if s.node == node {
			return nil, fmt.Errorf("clock %s: already skewed by fault %d", node, other)
		}
	}
	s := &skew{node: node, pid: pid}
	c.active[id] = s
	return s, nil
}

func (c *Clocks) known(node string) bool {
	for _, n := range c.nodes.Names() {
		if n == node {
			return true
		}
	}
	return false
}

// set applies offset to s's process and records it.
func (c *Clocks) set(ctx context.Context, id int, s *skew, offset time.Duration) error {
	t0 := time.Now()
	if err := vdso.Set(ctx, s.pid, offset); err != nil {
		return fmt.Errorf("clock %s: %w", s.node, err)
	}
	c.mu.Lock()
	c.offset[s.node] = offset
	c.mu.Unlock()
	c.log.Info("clock skewed", attrFault, id, attrNode, s.node, attrPid, s.pid, attrOffset, offset, attrTook, time.Since(t0))
	return nil
}

// Bump makes node's wall clock read real time + offset from now on, as
// fault id, until [Clocks.Reset] of id. On error nothing stays applied.
func (c *Clocks) Bump(ctx context.Context, id int, node string, offset time.Duration) (err error) {
	s, err := c.claim(ctx, id, node)
	if err != nil {
		return err
	}
	if err := c.set(ctx, id, s, offset); err != nil {
		return errors.Join(err, c.Reset(context.WithoutCancel(ctx), id))
	}
	return nil
}

// Strobe, as fault id, alternates node's offset between +delta and 0, each
// for period, until duration has passed or ctx ends, calling onChange (if
// not nil) with the new offset after each change. It resets the clock
// before it returns, whatever the reason (onChange then hears 0), and
// returns nil when it ran its course or ctx ended.
func (c *Clocks) Strobe(ctx context.Context, id int, node string, delta, period, duration time.Duration, onChange func(offset time.Duration)) error {
	if period <= 0 {
		return fmt.Errorf("clock: strobe period %v must be positive", period)
	}
	s, err := c.claim(ctx, id, node)
	if err != nil {
		return err
	}
	run, stop := context.WithTimeout(ctx, duration)
	defer stop()
	s.stop, s.done = stop, make(chan struct{})
	defer close(s.done)
	change := func(off time.Duration) {
		if onChange != nil {
			onChange(off)
		}
	}
	var errs []error
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := time.Duration(0)
flips:
	for off := delta; ; off = delta - off {
		if err := c.set(run, id, s, off); err != nil {
			if run.Err() == nil {
				errs = append(errs, err)
			}
			break
		}
		last = off
		change(off)
		select {
		case <-run.Done():
			break flips
		case <-tick.C:
		}
	}
	errs = append(errs, c.reset(context.WithoutCancel(ctx), id, s))
	c.mu.Lock()
	delete(c.active, id)
	c.mu.Unlock()
	if last != 0 {
		change(0)
	}
	return errors.Join(errs...)
}

// Reset ends fault id: the node's original vDSO bytes back, offset 0. A
// strobe is stopped and waited for. Resetting a fault not in effect does
// nothing.
func (c *Clocks) Reset(ctx context.Context, id int) error {
	c.mu.Lock()
	s, ok := c.active[id]
	if ok && s.stop == nil {
		delete(c.active, id)
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	if s.stop != nil {
		s.stop()
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("clock %s: strobe did not end: %w", s.node, ctx.Err())
		}
	}
	return c.reset(ctx, id, s)
}

func (c *Clocks) reset(ctx context.Context, id int, s *skew) error {
	t0 := time.Now()
	err := vdso.Reset(ctx, s.pid)
	if err != nil && !alive(s.pid) {
		err = nil // the process is gone, and its skew with it
	}
	if err != nil {
		return fmt.Errorf("clock %s: %w", s.node, err)
	}
	c.mu.Lock()
	c.offset[s.node] = 0
	c.mu.Unlock()
	c.log.Info("clock reset", attrFault, id, attrNode, s.node, attrPid, s.pid, attrTook, time.Since(t0))
	return nil
}

// Offset is the offset in effect on node's clock, 0 when none.
func (c *Clocks) Offset(node string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset[node]
}

// Active lists the clock faults in effect.
func (c *Clocks) Active() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return faultIDs(c.active)
}

// HealAll resets every clock fault in effect.
func (c *Clocks) HealAll(ctx context.Context) error {
	return healEach(ctx, c.Active(), c.Reset)
}

// alive reports whether process pid still exists.
func alive(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

package local

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kill sends signal (such as "SIGKILL" or "TERM") to the node's server.
// Its namespace and data stay: [Runtime.StartNode] brings the node back
// with whatever reached its disk. For SIGKILL, Kill returns once the
// process is gone.
func (r *Runtime) Kill(ctx context.Context, node, signal string) error {
	sig, err := parseSignal(signal)
	if err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	n, err := r.node(node)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	p, _ := r.current(n)
	if p == nil || p.exited() {
		return fmt.Errorf("kill %s: node is not running", node)
	}
	if err := unix.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	if sig == unix.SIGKILL {
		return waitExit(ctx, p, node)
	}
	return nil
}

// Stop stops the node gracefully: SIGTERM, then SIGKILL after timeoutSec.
// A paused node is resumed first, or it could not act on the SIGTERM.
// Stopping a node that is not running does nothing.
func (r *Runtime) Stop(ctx context.Context, node string, timeoutSec int) error {
	n, err := r.node(node)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	p, _ := r.current(n)
	if p == nil || p.exited() {
		return nil
	}
	if err := r.resume(ctx, n, p); err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	unix.Kill(p.pid, unix.SIGTERM)
	grace, cancel := context.WithTimeout(ctx, time.Duration(timeoutSec)*time.Second)
	defer cancel()
	select {
	case <-p.done:
		return nil
	case <-grace.Done():
	}
	unix.Kill(p.pid, unix.SIGKILL)
	return waitExit(ctx, p, node)
}

// StartNode starts a node that was killed or stopped, with the same
// arguments, environment, namespace and data. Starting a running node does
// nothing.
func (r *Runtime) StartNode(ctx context.Context, node string) error {
	n, err := r.node(node)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	p, _ := r.current(n)
	if p != nil && !p.exited() {
		return nil
	}
	if !namedNSExists(nodeNS(r.runID, node)) {
		return fmt.Errorf("start %s: its network namespace is gone (runtime closed?)", node)
	}
	// A node killed while frozen left its cgroup frozen: the new process
	// would start frozen.
	if n.cgroup != "" {
		if err := freeze(ctx, n.cgroup, false); err != nil {
			return fmt.Errorf("start %s: %w", node, err)
		}
	}
	r.mu.Lock()
	n.paused = false
	r.mu.Unlock()
	if err := r.startProc(n); err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	return nil
}

// Pause freezes the node: with the cgroup v2 freezer where the machine has
// one (every process of the node, and the kernel says when it is done),
// else with SIGSTOP. To its peers and clients it looks dead, and then it
// comes back with the beliefs it had. Pausing a paused node does nothing.
func (r *Runtime) Pause(ctx context.Context, node string) error {
	n, err := r.node(node)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	p, paused := r.current(n)
	if p == nil || p.exited() {
		return fmt.Errorf("pause %s: node is not running", node)
	}
	if paused {
		return nil
	}
	if n.cgroup != "" {
		if err := freeze(ctx, n.cgroup, true); err != nil {
			freeze(context.WithoutCancel(ctx), n.cgroup, false)
			return fmt.Errorf("pause %s: %w", node, err)
		}
	} else {
		if err := unix.Kill(p.pid, unix.SIGSTOP); err != nil {
			return fmt.Errorf("pause %s: %w", node, err)
		}
		if err := poll(ctx, 5*time.Second, func() bool { return procState(p.pid) == 'T' }, "process not stopped"); err != nil {
			unix.Kill(p.pid, unix.SIGCONT)
			return fmt.Errorf("pause %s: %w", node, err)
		}
	}
	r.mu.Lock()
	n.paused = true
	r.mu.Unlock()
	return nil
}

// Resume thaws a paused node. Resuming a node that is not paused does
// nothing.
func (r *Runtime) Resume(ctx context.Context, node string) error {
	n, err := r.node(node)
	if err != nil {
		return err
	}
	n.op.Lock()
	defer n.op.Unlock()
	p, _ := r.current(n)
	if err := r.resume(ctx, n, p); err != nil {
		return fmt.Errorf("resume %s: %w", node, err)
	}
	return nil
}

// resume thaws n if it is paused; the caller holds n.op.
func (r *Runtime) resume(ctx context.Context, n *node, p *proc) error {
	r.mu.Lock()
	paused := n.paused
	r.mu.Unlock()
	if !paused {
		return nil
	}
	if n.cgroup != "" {
		if err := freeze(ctx, n.cgroup, false); err != nil {
			return err
		}
	} else if p != nil && !p.exited() {
		if err := unix.Kill(p.pid, unix.SIGCONT); err != nil {
			return err
		}
	}
	r.mu.Lock()
	n.paused = false
	r.mu.Unlock()
	return nil
}

// waitExit waits until the process has been reaped.
func waitExit(ctx context.Context, p *proc, node string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node %s (pid %d) still running: %w", node, p.pid, ctx.Err())
	}
}

// parseSignal accepts "SIGKILL", "KILL", "sigkill" or a number.
func parseSignal(s string) (unix.Signal, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	var n int
	if _, err := fmt.Sscan(s, &n); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// procState returns the state letter of pid from /proc, 0 if unknown.
func procState(pid int) byte {
	st, err := procStat(pid)
	if err != nil || len(st) == 0 || len(st[0]) == 0 {
		return 0
	}
	return st[0][0]
}

package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// The states a node goes through, as [Driver.OnChange] and
// [Runtime.Running] name them.
const (
	Running = "running"
	Killed  = "killed"
	Stopped = "stopped"
	Paused  = "paused"
	// NotStarted is a node placed but not yet started; OnChange never
	// reports it.
	NotStarted = "not started"
)

// Driver makes fake runtimes and keeps each one it made, so that a test
// can read their lines after the run that used them has returned. The zero
// Driver is ready to use; it is safe for concurrent use.
type Driver struct {
	// OnChange, when set, is called by every runtime the driver makes
	// whenever one of its nodes changes state, with the node's name and
	// its new state ([Running], [Killed], [Stopped] or [Paused]). It is
	// read when [Driver.New] makes a runtime, so set it before the run
	// starts (systems/fake's System.OnOpen runs early enough). It is called
	// with the runtime's lock held, in the order of the changes, so it must
	// not call back into the runtime.
	OnChange func(node, state string)

	mu       sync.Mutex
	runtimes []*Runtime
}

var _ runtime.Driver = (*Driver)(nil)

// Name is "fake".
func (*Driver) Name() string { return "fake" }

// Abilities: the nodes are no host processes (no PID, no network
// namespace, so no network faults), but they can be killed, stopped,
// paused and restarted, and have fake disks when asked (see [Disk]).
func (*Driver) Abilities() runtime.Abilities {
	return runtime.Abilities{HostProcesses: false, Processes: true, Disks: true}
}

// Check: every machine can serve a fake runtime.
func (*Driver) Check(context.Context) error { return nil }

// Prepare builds nothing.
func (*Driver) Prepare(_ context.Context, art runtime.Artifact, _ io.Writer) (string, bool, error) {
	return "fake " + art.Name, false, nil
}

// New makes a runtime for the run and keeps it. With opts.Disks every node
// started gets a [Disk].
func (d *Driver) New(ctx context.Context, runID string, art runtime.Artifact, opts runtime.Options) (runtime.Runtime, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &Runtime{runID: runID, art: art, opts: opts, onChange: d.OnChange, nodes: map[string]*node{}}
	d.runtimes = append(d.runtimes, r)
	return r, nil
}

// Runtimes returns every runtime the driver made, oldest first.
func (d *Driver) Runtimes() []*Runtime {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.runtimes)
}

// Last returns the runtime the driver made last; nil if it made none.
func (d *Driver) Last() *Runtime {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.runtimes) == 0 {
		return nil
	}
	return d.runtimes[len(d.runtimes)-1]
}

// Cleanup has nothing to remove: a fake runtime leaves nothing behind.
func (*Driver) Cleanup(context.Context, string) ([]string, error) { return nil, nil }

// Close holds no connection to release.
func (*Driver) Close() error { return nil }

// Runtime is one run's fake nodes. Every action on a known node is
// recorded as a line, even one that changes nothing (killing a killed
// node, resuming a running one), because the runner heals defensively and
// a test may want to see that it did. Actions on unknown nodes, with an
// ended context, or after Close are errors and record nothing. A Runtime
// is safe for concurrent use.
type Runtime struct {
	runID    string
	art      runtime.Artifact
	opts     runtime.Options
	onChange func(node, state string)

	mu     sync.Mutex
	order  []string // placed nodes, in placement order
	nodes  map[string]*node
	lines  []string
	closed bool
}

type node struct {
	place runtime.Placement
	state string
	lines []string
	disk  *Disk
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Disks   = (*Runtime)(nil)
)

// Network is "fake-<runID>".
func (r *Runtime) Network() string { return "fake-" + r.runID }

// Artifact is the artifact the runtime was made for.
func (r *Runtime) Artifact() runtime.Artifact { return r.art }

// Place puts the i-th name on 127.0.10.<i+1>, with its data in
// /fake/<runID>/<name>. Nothing listens there: the addresses only name
// the nodes.
func (r *Runtime) Place(names []string) []runtime.Placement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Placement, len(names))
	for i, name := range names {
		p := runtime.Placement{
			Name:    name,
			Addr:    netip.AddrFrom4([4]byte{127, 0, 10, byte(i + 1)}),
			DataDir: "/fake/" + r.runID + "/" + name,
		}
		out[i] = p
		if n, ok := r.nodes[name]; ok {
			n.place = p
			continue
		}
		r.nodes[name] = &node{place: p, state: NotStarted}
		r.order = append(r.order, name)
	}
	return out
}

// Gateway is invalid: the fake nodes have no network of their own.
func (*Runtime) Gateway() netip.Addr { return netip.Addr{} }

// Start starts each spec's node, in order; each must have been placed and
// not started yet.
func (r *Runtime) Start(ctx context.Context, specs []runtime.NodeSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(ctx); err != nil {
		return err
	}
	for _, s := range specs {
		n, ok := r.nodes[s.Name]
		if !ok {
			return fmt.Errorf("start %s: the node was never placed", s.Name)
		}
		if n.state != NotStarted {
			return fmt.Errorf("start %s: already started (%s)", s.Name, n.state)
		}
		if r.opts.Disks && n.disk == nil {
			dir, err := os.MkdirTemp("", "lab-fake-disk-")
			if err != nil {
				return fmt.Errorf("start %s: disk: %w", s.Name, err)
			}
			n.disk = &Disk{r: r, n: n, dir: dir}
		}
		r.record(n, "start "+s.Name)
		r.set(n, Running)
	}
	return nil
}

// Disk returns the node's fake disk, when the run asked for disks and the
// node was started.
func (r *Runtime) Disk(name string) (runtime.Disk, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.nodes[name]
	if !ok || n.disk == nil {
		return nil, false
	}
	return n.disk, true
}

// Disk is a fake node's disk: a real backing directory (a temporary one,
// removed by Close), so that the offline faults act on real files, and a
// line recorded for every call of the faults while the node runs
// ("power-loss n1", "disk-errors n1 0.5 fsync", "disk-slow n1 10ms",
// "disk-clear n1", "disk-sync n1"). PowerLoss drops nothing.
type Disk struct {
	r   *Runtime
	n   *node
	dir string
}

var _ runtime.Disk = (*Disk)(nil)

func (d *Disk) line(s string) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	d.r.record(d.n, s+" "+d.n.place.Name)
}

// PowerLoss records the call; it drops nothing.
func (d *Disk) PowerLoss() (faultfs.Report, error) {
	d.line("power-loss")
	return faultfs.Report{}, nil
}

// SetErrors records the call.
func (d *Disk) SetErrors(fraction float64, ops ...faultfs.Op) {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	d.r.record(d.n, strings.TrimSpace(fmt.Sprintf("disk-errors %s %g %s", d.n.place.Name, fraction, strings.Join(s, ","))))
}

// SetFsyncDelay records the call.
func (d *Disk) SetFsyncDelay(delay time.Duration) {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	d.r.record(d.n, fmt.Sprintf("disk-slow %s %s", d.n.place.Name, delay))
}

// Clear records the call.
func (d *Disk) Clear() { d.line("disk-clear") }

// Sync records the call.
func (d *Disk) Sync() error {
	d.line("disk-sync")
	return nil
}

// Backing is the disk's temporary directory.
func (d *Disk) Backing() string { return d.dir }

// Kill kills the node with signal, whatever the signal: the node is
// killed. A node that is not running stays as it is.
func (r *Runtime) Kill(ctx context.Context, name, signal string) error {
	return r.act(ctx, name, "kill "+name+" "+signal, func(n *node) error {
		if n.state == Running || n.state == Paused {
			r.set(n, Killed)
		}
		return nil
	})
}

// Stop stops the node gracefully (timeoutSec is not waited for). A node
// that is not running stays as it is.
func (r *Runtime) Stop(ctx context.Context, name string, timeoutSec int) error {
	return r.act(ctx, name, "stop "+name, func(n *node) error {
		if n.state == Running || n.state == Paused {
			r.set(n, Stopped)
		}
		return nil
	})
}

// StartNode starts a killed or stopped node again; a running or paused
// node stays as it is.
func (r *Runtime) StartNode(ctx context.Context, name string) error {
	return r.act(ctx, name, "start "+name, func(n *node) error {
		if n.state == Killed || n.state == Stopped {
			r.set(n, Running)
		}
		return nil
	})
}

// Pause freezes a running node; pausing a paused node changes nothing,
// and a node that is not running cannot be paused.
func (r *Runtime) Pause(ctx context.Context, name string) error {
	return r.act(ctx, name, "pause "+name, func(n *node) error {
		switch n.state {
		case Running:
			r.set(n, Paused)
		case Paused:
		default:
			return fmt.Errorf("pause %s: not running (%s)", n.place.Name, n.state)
		}
		return nil
	})
}

// Resume thaws a paused node; any other node stays as it is.
func (r *Runtime) Resume(ctx context.Context, name string) error {
	return r.act(ctx, name, "resume "+name, func(n *node) error {
		if n.state == Paused {
			r.set(n, Running)
		}
		return nil
	})
}

// act records line for the known node name and applies fn to it.
func (r *Runtime) act(ctx context.Context, name, line string, fn func(*node) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(ctx); err != nil {
		return err
	}
	n, err := r.started(name)
	if err != nil {
		return err
	}
	r.record(n, line)
	return fn(n)
}

// ErrNoProcesses is [Runtime.Pid]'s error: fake nodes are no processes.
var ErrNoProcesses = errors.New("the fake runtime has no host processes")

// Pid is always an error: there is no process, so no network namespace
// to inject network faults into.
func (r *Runtime) Pid(_ context.Context, name string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.known(name); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid of %s: %w", name, ErrNoProcesses)
}

// Running reports whether the node is up: true for running and paused
// nodes, as a frozen process is still alive.
func (r *Runtime) Running(_ context.Context, name string) (bool, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.known(name)
	if err != nil {
		return false, "", err
	}
	return n.state == Running || n.state == Paused, n.state, nil
}

// Logs returns the last tail lines recorded for the node (all of them if
// tail <= 0): what happened to it, as its log.
func (r *Runtime) Logs(_ context.Context, name string, tail int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.known(name)
	if err != nil {
		return "", err
	}
	lines := n.lines
	if tail > 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	return strings.Join(lines, "\n"), nil
}

// SaveLogs writes each placed node's lines to dir/<node>.log and records
// "save logs", so a test sees when the logs were taken. It works after
// Close too, as the lines are kept in memory.
func (r *Runtime) SaveLogs(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "save logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save logs: %w", err)
	}
	var errs []error
	for _, name := range r.order {
		var b strings.Builder
		for _, l := range r.nodes[name].lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("save log of %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops every node that is up and records "close", once; a second
// Close does nothing.
func (r *Runtime) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.lines = append(r.lines, "close")
	var errs []error
	for _, name := range r.order {
		n := r.nodes[name]
		if n.state == Running || n.state == Paused {
			r.set(n, Stopped)
		}
		if n.disk != nil {
			errs = append(errs, os.RemoveAll(n.disk.dir))
		}
	}
	return errors.Join(errs...)
}

// Lines returns a copy of every line recorded, in order.
func (r *Runtime) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// State is the node's state ([NotStarted], [Running], ...); empty for a
// node never placed.
func (r *Runtime) State(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.nodes[name]; ok {
		return n.state
	}
	return ""
}

func (r *Runtime) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed {
		return errors.New("the fake runtime is closed")
	}
	return nil
}

func (r *Runtime) known(name string) (*node, error) {
	n, ok := r.nodes[name]
	if !ok {
		return nil, fmt.Errorf("no node %q in run %s", name, r.runID)
	}
	return n, nil
}

// started is the node, if it was ever started: process control of a node
// that never ran is a bug in the caller.
func (r *Runtime) started(name string) (*node, error) {
	n, err := r.known(name)
	if err != nil {
		return nil, err
	}
	if n.state == NotStarted {
		return nil, fmt.Errorf("node %s was never started", name)
	}
	return n, nil
}

func (r *Runtime) record(n *node, line string) {
	r.lines = append(r.lines, line)
	n.lines = append(n.lines, line)
}

// set changes the node's state and tells OnChange; r.mu is held.
func (r *Runtime) set(n *node, state string) {
	if n.state == state {
		return
	}
	n.state = state
	if r.onChange != nil {
		r.onChange(n.place.Name, state)
	}
}

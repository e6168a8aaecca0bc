package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Artifact is what every node of a system runs: one static executable on
// the host, built once and cached by the hash of its inputs. The Docker
// runtime wraps it in a FROM scratch image tagged with Content; the local
// runtime runs it as it is.
type Artifact struct {
	// Name names the server, such as "etcd"; it names the image too.
	Name string
	// Version is the server's version, for the report.
	Version string
	// Binary is the executable's path on the host; when Root is set, its
	// path inside that root (the node's entry point).
	Binary string
	// Root, when set, is a directory holding the node's whole file system
	// (a server built from Debian packages and the libraries it loads);
	// empty for a static binary.
	Root string
	// Dockerfile, when set, is a Dockerfile on the host, built with its
	// directory as the context; Binary is then the entry point inside the
	// image it builds.
	Dockerfile string
	// Content is a hash of every input of the build: equal content, equal
	// binary, so an image made from it is never rebuilt.
	Content string
}

// Placement is where one node lives, as the runtime decides it: what a
// system needs to write the node's command.
type Placement struct {
	Name string
	// Addr is the node's fixed address, which its peers and the lab's
	// clients use.
	Addr netip.Addr
	// DataDir is the directory the node keeps its data in, as the node sees
	// it: /data in a container, a directory of the run on the host.
	DataDir string
}

// NodeSpec says how to start one node: the artifact's arguments and
// environment. The runtime supplies the executable.
type NodeSpec struct {
	Name string
	Args []string
	Env  []string
}

// Processes is the control of the nodes' processes that process faults
// use. Signals are named as kill(1) names them ("SIGKILL").
type Processes interface {
	Kill(ctx context.Context, node, signal string) error
	Stop(ctx context.Context, node string, timeoutSec int) error
	StartNode(ctx context.Context, node string) error
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
}

// Runtime is one run's nodes, from the network they share to their removal.
// Its methods are safe for concurrent use once Start has returned.
type Runtime interface {
	// Network names what the nodes share (a Docker network, a hub
	// namespace), for progress lines.
	Network() string
	// Place returns where each named node lives, in the same order. A
	// runtime places the i-th name the same way every time.
	Place(names []string) []Placement
	// Gateway is the address the lab's own clients reach the nodes from;
	// partitions leave it alone unless a scenario asks. Invalid where the
	// runtime has no network of its own.
	Gateway() netip.Addr
	// Start starts one node per spec, in order; the specs' names are the
	// names given to Place.
	Start(ctx context.Context, specs []NodeSpec) error
	Processes
	// Pid is the host PID of the node's main process now (a restart
	// changes it): its network namespace is the node's. An error where the
	// runtime has no host processes.
	Pid(ctx context.Context, node string) (int, error)
	// Running reports whether the node's process is alive, and its state
	// in words when it is not.
	Running(ctx context.Context, node string) (bool, string, error)
	// Logs returns the last tail lines of the node's output (all if tail
	// is 0 or less).
	Logs(ctx context.Context, node string, tail int) (string, error)
	// SaveLogs writes each node's whole output to dir/<node>.log.
	SaveLogs(ctx context.Context, dir string) error
	// Close stops the nodes and removes everything the runtime made.
	Close(ctx context.Context) error
}

// Driver is a kind of runtime, before any run: it checks the machine,
// prepares an artifact, makes one run's [Runtime], and removes what a
// killed run left.
type Driver interface {
	// Name is the runtime's name in scenario files ("docker", "local").
	Name() string
	// Abilities say what the runtime's nodes are, and what it can do to
	// them: what faults can ask of it.
	Abilities() Abilities
	// Check says whether this machine can serve the runtime; the error is
	// an *EnvError with a hint when it cannot.
	Check(ctx context.Context) error
	// Prepare makes the artifact runnable (an image for Docker) unless that
	// is already done, and says what it made and whether it had to.
	Prepare(ctx context.Context, art Artifact, progress io.Writer) (what string, built bool, err error)
	// New makes the runtime of one run, labelled with runID, as opts ask.
	New(ctx context.Context, runID string, art Artifact, opts Options) (Runtime, error)
	// Cleanup removes what runs left behind (one run if runID is not
	// empty), only what the lab labelled, and says what it removed.
	Cleanup(ctx context.Context, runID string) ([]string, error)
	// Close releases the driver's own connections.
	Close() error
}

// Abilities say what a runtime's nodes are and what it can do to them.
type Abilities struct {
	// HostProcesses is true when every node is a process on this host,
	// with a PID and a network namespace of its own.
	HostProcesses bool
	// Processes is true when the runtime can kill, stop, pause and
	// restart nodes.
	Processes bool
	// StaticOnly is true when the runtime runs only a static binary, not
	// a file system of the node's own (a Debian root, a Dockerfile's
	// image): the local runtime.
	StaticOnly bool
	// Disks is true when the runtime can put each node's data directory
	// on a disk that injects faults ([Options.Disks], [Disks]).
	Disks bool
}

// Options are what one run asks of its runtime beyond the artifact. The
// zero value asks for nothing more.
type Options struct {
	// Disks puts every node's data directory on a disk that injects
	// faults (the lab's FUSE layer, internal/faultfs), mounted before the
	// node starts and unmounted by Close; the runtime then implements
	// [Disks]. Off, the data directories are plain directories and cost
	// nothing.
	Disks bool
	// Seed seeds what the disks draw (which writes or fsyncs fail), one
	// stream per node, so that a run's disk errors replay.
	Seed uint64
}

// EnvError is a machine that cannot do what was asked: no Docker engine,
// no root. Hint says what to do about it.
type EnvError struct {
	Err  error
	Hint string
}

func (e *EnvError) Error() string { return e.Err.Error() }
func (e *EnvError) Unwrap() error { return e.Err }

// WaitFor polls cond every interval until it returns nil, returns an error
// marked [Final] (waiting longer cannot help: that error is returned at
// once), the timeout passes (the last error is returned) or ctx ends.
func WaitFor(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	// before is the last answer given before the deadline: the attempt
	// the deadline cut off says only that it was cut off, and what kept
	// the condition false is in the one before it.
	var before error
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		var f finalError
		if errors.As(err, &f) {
			return f.err
		}
		if ctx.Err() == nil {
			before = err
		}
		select {
		case <-ctx.Done():
			if before != nil && before != err {
				return fmt.Errorf("not within %s: %w (the last answer before that: %v)", timeout, err, before)
			}
			return fmt.Errorf("not within %s: %w", timeout, err)
		case <-t.C:
		}
	}
}

type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

// Final marks err as one that ends a [WaitFor] at once, such as a node
// that exited while it was awaited.
func Final(err error) error { return finalError{err} }

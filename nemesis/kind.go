package nemesis

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
)

// Kind is one kind of fault: a plugin. It decodes and checks its own
// parameters when the scenario loads ([scenarios.Plugin]), says whether a
// run can inject it before anything is built, and makes the injector of
// one run, which injects, heals, heals everything, and records what it
// did in the history.
type Kind interface {
	scenarios.Plugin
	// Available says whether a run with these powers can inject the fault
	// as params ask; nil if it can. It is asked before anything is built.
	Available(p Powers, params any) error
	// Start returns the kind's injector for one run.
	Start(env *Env) Injector
}

// All is every kind of fault the lab knows, in the order documentation
// lists them. Adding a kind is one file and one entry here.
var All = []Kind{
	PartitionKind{},
	ProcessKind{Verb: KindKill},
	ProcessKind{Verb: KindStop},
	ProcessKind{Verb: KindPause},
	PacketKind{},
	ClockKind{},
	AdminKind{Op: KindCompact},
	AdminKind{Op: KindDefrag},
	AdminKind{Op: KindSnapshot},
	SequenceKind{},
	PowerLossKind{},
	CorruptKind{},
	TruncateKind{},
	SnapshotRollbackKind{},
	DiskErrorsKind{},
	DiskSlowKind{},
}

// Fault kinds, by the name a scenario gives in faults[].kind.
const (
	KindPartition = "partition"
	KindKill      = "kill"
	KindStop      = "stop"
	KindPause     = "pause"
	KindPacket    = "packet"
	KindClock     = "clock"
)

// Powers are what a run can do, as far as faults care: decided by the
// machine, the runtime and the system before anything starts.
type Powers struct {
	// Root is true when the lab runs as root (netlink, ptrace, setns).
	Root bool
	// HostProcesses is true when every node is a process on this host,
	// with a PID and a network namespace of its own (Docker, local).
	HostProcesses bool
	// Processes is true when the runtime can kill, stop, pause and
	// restart nodes.
	Processes bool
	// Leader is true when the system can be asked who leads.
	Leader bool
	// Admin names the maintenance operations the system offers.
	Admin []string
	// Disks is true when the runtime can put the nodes' data directories
	// on the lab's FUSE layer (runtime.Abilities.Disks).
	Disks bool
	// DiskProblem, when not empty, says why this machine cannot serve that
	// layer (no FUSE); asked only of runs that need disks.
	DiskProblem string
}

// Occurrence is one planned occurrence of a fault: its ID (from 1, in time
// order), its kind and parameters, and when it starts and ends, from the
// start of the workload. A step of a sequence is an occurrence of its own
// (see [Plan]).
type Occurrence struct {
	ID         int
	Kind       string
	Params     any
	Start, End time.Duration
	// Parent is the ID of the sequence the occurrence is a step of, and
	// Step its place among the steps, from 1; both 0 for a fault of its
	// own.
	Parent, Step int
}

// Injector injects the faults of one kind during one run.
type Injector interface {
	// Inject applies one occurrence and returns what to record of it
	// (the fault's start event) and the heal that undoes it. On error
	// nothing is left applied.
	Inject(ctx context.Context, o Occurrence) (f *history.Fault, heal func(context.Context) error, err error)
	// HealAll heals whatever of this kind is still in effect. It is
	// idempotent, and called on every way out of a run.
	HealAll(ctx context.Context) error
}

// Env is what injectors act through and record to during one run.
type Env struct {
	Nodes Nodes
	// Procs controls the nodes' processes; nil where the runtime cannot.
	Procs runtime.Processes
	// Running says whether a node's process is alive, and its state in
	// words when not; nil if unknown.
	Running func(ctx context.Context, node string) (bool, string, error)
	// Disks are the nodes' disks on the lab's FUSE layer; nil when the run
	// put no node there.
	Disks runtime.Disks
	// Leader asks the system who leads; nil if it cannot tell.
	Leader func(ctx context.Context) (string, error)
	// NodeClock reads a node's own wall clock; nil if the system cannot
	// tell.
	NodeClock func(ctx context.Context, node string) (time.Time, error)
	// Admin runs one of the system's maintenance operations through a
	// node and says what it did; nil if the system offers none.
	Admin func(ctx context.Context, op, node string, arg int64) (string, error)
	Rec   Recorder
	Clock *history.Clock
	// T0 is time zero of the run: the start of the workload.
	T0  time.Time
	Log *slog.Logger
	// Rand draws victims and partition sides (the run's nemesis stream).
	Rand *rand.Rand
	// Seed is the run's seed, for streams of a kind's own.
	Seed uint64
}

// Record appends a fault event to the history at the current time.
func (env *Env) Record(f string, fault *history.Fault, errText string) {
	env.Rec.Append(history.Event{Time: env.Clock.Now(), Process: history.Nemesis, Type: history.Info, F: f, Fault: fault, Error: errText})
}

// Describer is a kind's parameters that describe themselves in a few
// words, for plans and progress lines.
type Describer interface {
	String() string
}

// Describe names an occurrence in a few words: "partition isolate n1".
func Describe(kind string, params any) string {
	if d, ok := params.(Describer); ok {
		if s := d.String(); s != "" {
			return kind + " " + s
		}
	}
	return kind
}

// Lookup returns the kind named name from kinds.
func Lookup(kinds []Kind, name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name() == name {
			return k, true
		}
	}
	return nil, false
}

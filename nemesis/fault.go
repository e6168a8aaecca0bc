package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Fault kinds.
const (
	KindPartition = "partition"
	KindKill      = "kill"
	KindStop      = "stop"
	KindPause     = "pause"
	KindPacket    = "packet"
	KindClock     = "clock"
)

// Kinds lists the fault kinds the lab knows.
var Kinds = []string{KindPartition, KindKill, KindStop, KindPause, KindPacket, KindClock}

// Partition modes.
const (
	// ModeSilent drops packets: peers see timeouts, as when a cable or a
	// switch port dies. The default: it is the harder case for a system,
	// and the one production networks produce most.
	ModeSilent = "silent"
	// ModeFastFail rejects packets: peers see connection refused or
	// unreachable at once, as when a host's firewall or routing says no.
	ModeFastFail = "fast-fail"
)

// Targets of process, packet and clock faults.
const (
	TargetOne      = "one"
	TargetMinority = "minority"
	TargetMajority = "majority"
	TargetAll      = "all"
	TargetLeader   = "leader"
	TargetNodes    = "nodes"
)

// Targets lists the targets.
var Targets = []string{TargetOne, TargetMinority, TargetMajority, TargetAll, TargetLeader, TargetNodes}

// Spec is one fault occurrence, resolved from a scenario: what, to whom,
// and when, relative to the start of the workload.
type Spec struct {
	ID   int
	Kind string
	// Partition: Shape and Mode; Node for isolate; Groups for groups;
	// From and To for one-way (To drops what From sends).
	Shape, Mode string
	Node        string
	Groups      [][]string
	From, To    []string
	// Clients lists nodes that the partition also cuts off from the lab's
	// own clients (never done unless a scenario asks).
	Clients []string
	// Process, packet and clock faults: Target, and Nodes for TargetNodes.
	Target string
	Nodes  []string
	// Clock: Offset, and Period for a strobe (0 for a bump).
	Offset, Period time.Duration
	// Packet: what happens to the target's traffic with its peers.
	Packet     PacketFault
	Start, End time.Duration
}

// Processes is what process faults need of the runtime.
type Processes interface {
	Kill(ctx context.Context, node, signal string) error
	Stop(ctx context.Context, node string, timeoutSec int) error
	StartNode(ctx context.Context, node string) error
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
}

// Env is everything Execute acts through and records to.
type Env struct {
	Nodes       Nodes
	Partitioner *Partitioner
	// Procs is nil where the runtime cannot do process faults.
	Procs Processes
	// Leader asks the system who leads; nil if it has no leader.
	Leader func(ctx context.Context) (string, error)
	// Extra injects the kinds this file does not know (packet, clock):
	// they are provided by their own files and wired by the runner.
	Extra map[string]Injector
	Rec   Recorder
	Clock *history.Clock
	T0    time.Time
	Log   *slog.Logger
	Seed  uint64
}

// Injector injects one fault and returns what to record and how to heal.
// An error means nothing is left applied.
type Injector func(ctx context.Context, sp Spec, victims []string) (f *history.Fault, heal func(context.Context) error, err error)

// Execute runs the schedule: for each occurrence it waits for its start
// (relative to T0), injects, records the start, waits for its end, heals
// and records the heal. Choices come from rand.NewPCG(seed, 1), so the same
// seed gives the same faults. When ctx ends it heals what is in effect at
// once and returns.
func Execute(ctx context.Context, env Env, specs []Spec) error {
	rng := rand.New(rand.NewPCG(env.Seed, 1))
	var errs []error
	for _, sp := range specs {
		if !sleepUntil(ctx, env.T0.Add(sp.Start)) {
			break
		}
		f, heal, err := env.inject(ctx, sp, rng)
		if f == nil {
			f = &history.Fault{ID: sp.ID, Kind: sp.Kind, Shape: sp.Shape}
		}
		if err != nil {
			f.Error = err.Error()
			env.record(history.FaultStart, f, err.Error())
			return errors.Join(append(errs, fmt.Errorf("fault %d (%s): %w", sp.ID, sp.Kind, err))...)
		}
		env.record(history.FaultStart, f, "")
		env.Log.Info("fault in effect", "id", sp.ID, "kind", sp.Kind, "detail", f.Detail)
		env.observe(ctx, sp, f)
		sleepUntil(ctx, env.T0.Add(sp.End))
		end := *f
		if err := heal(context.WithoutCancel(ctx)); err != nil {
			end.Error = err.Error()
			errs = append(errs, fmt.Errorf("heal fault %d: %w", sp.ID, err))
		}
		env.record(history.FaultEnd, &end, end.Error)
		env.Log.Info("fault healed", "id", sp.ID, "kind", sp.Kind)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func (env Env) record(f string, fault *history.Fault, errText string) {
	env.Rec.Append(history.Event{Time: env.Clock.Now(), Process: history.Nemesis, Type: history.Info, F: f, Fault: fault, Error: errText})
}

// inject resolves the spec's victims and calls the kind's injector.
func (env Env) inject(ctx context.Context, sp Spec, rng *rand.Rand) (*history.Fault, func(context.Context) error, error) {
	names := env.Nodes.Names()
	switch sp.Kind {
	case KindPartition:
		return env.partition(ctx, sp, names, rng)
	case KindKill, KindStop, KindPause:
		if env.Procs == nil {
			return nil, nil, fmt.Errorf("%s faults need a runtime that controls processes", sp.Kind)
		}
		victims, err := env.victims(ctx, sp, names, rng)
		if err != nil {
			return nil, nil, err
		}
		return env.process(ctx, sp, victims)
	}
	inj, ok := env.Extra[sp.Kind]
	if !ok {
		return nil, nil, fmt.Errorf("fault kind %q is not available in this run", sp.Kind)
	}
	victims, err := env.victims(ctx, sp, names, rng)
	if err != nil {
		return nil, nil, err
	}
	return inj(ctx, sp, victims)
}

// victims resolves a target to node names.
func (env Env) victims(ctx context.Context, sp Spec, names []string, rng *rand.Rand) ([]string, error) {
	shuffled := slices.Clone(names)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	n := len(names)
	var out []string
	switch sp.Target {
	case TargetOne, "":
		out = shuffled[:1]
	case TargetMinority:
		out = shuffled[:max(1, (n-1)/2)]
	case TargetMajority:
		out = shuffled[:n/2+1]
	case TargetAll:
		out = shuffled
	case TargetLeader:
		if env.Leader == nil {
			return nil, errors.New("target leader: this system has no leader to ask for")
		}
		l, err := env.Leader(ctx)
		if err != nil {
			return nil, fmt.Errorf("target leader: %w", err)
		}
		out = []string{l}
	case TargetNodes:
		out = sp.Nodes
	default:
		return nil, fmt.Errorf("unknown target %q (known: %v)", sp.Target, Targets)
	}
	out = slices.Clone(out)
	slices.Sort(out)
	return out, nil
}

func (env Env) partition(ctx context.Context, sp Spec, names []string, rng *rand.Rand) (*history.Fault, func(context.Context) error, error) {
	var groups [][]string
	var cut Cut
	var err error
	switch sp.Shape {
	case ShapeLeader:
		if env.Leader == nil {
			return nil, nil, errors.New("shape leader: this system has no leader to ask for")
		}
		l, lerr := env.Leader(ctx)
		if lerr != nil {
			return nil, nil, fmt.Errorf("shape leader: %w", lerr)
		}
		groups, cut, err = PlanPartition(ShapeIsolate, l, names, rng)
	case ShapeGroups:
		groups = sp.Groups
		cut = CutBetween(groups)
	case ShapeOneWay:
		cut = Cut{OneWay: map[string][]string{}}
		for _, b := range sp.To {
			cut.OneWay[b] = slices.Clone(sp.From)
		}
	default:
		groups, cut, err = PlanPartition(sp.Shape, sp.Node, names, rng)
	}
	if err != nil {
		return nil, nil, err
	}
	cut.Reject = sp.Mode == ModeFastFail
	cut.Clients = sp.Clients
	mode := sp.Mode
	if mode == "" {
		mode = ModeSilent
	}
	f := &history.Fault{ID: sp.ID, Kind: KindPartition, Shape: sp.Shape, Groups: groups, Detail: describe(groups, cut) + " (" + mode + ")"}
	if sp.Shape == ShapeOneWay {
		f.Detail = fmt.Sprintf("%s drop what %s send (%s)", strings.Join(sp.To, " "), strings.Join(sp.From, " "), mode)
	}
	if len(sp.Clients) > 0 {
		f.Detail += "; the lab's clients cut off from " + strings.Join(sp.Clients, " ")
	}
	if err := env.Partitioner.Cut(ctx, sp.ID, cut); err != nil {
		return f, nil, err
	}
	return f, func(ctx context.Context) error { return env.Partitioner.Heal(ctx, sp.ID) }, nil
}

// observe records, some time into a partition or process fault, who leads
// now: the evidence that the fault did what faults do to a consensus
// system.
func (env Env) observe(ctx context.Context, sp Spec, f *history.Fault) {
	if env.Leader == nil || (sp.Kind != KindPartition && sp.Kind != KindKill && sp.Kind != KindStop && sp.Kind != KindPause) {
		return
	}
	// Give the system a few election timeouts, but never past the fault.
	wait := min(4*time.Second, (sp.End-sp.Start)/2)
	if !sleepUntil(ctx, time.Now().Add(wait)) {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	obs := &history.Fault{ID: sp.ID, Kind: "leader"}
	if l, err := env.Leader(lctx); err != nil {
		obs.Detail = "no leader: " + err.Error()
	} else {
		obs.Detail = l
	}
	env.record(history.Observe, obs, "")
	env.Log.Info("observed", "fault", sp.ID, "leader", obs.Detail)
}

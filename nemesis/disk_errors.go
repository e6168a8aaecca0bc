package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// DiskErrorsKind makes the target nodes' disks fail a fraction of their
// writes, fsyncs or reads with EIO for the fault's duration (drawn from
// each disk's own stream of the run's seed), then stops. A failed write
// writes nothing; a failed fsync makes nothing durable. A node that exits
// on such an error (as etcd does on a failed fsync) is started again at
// the fault's end, and that is recorded.
type DiskErrorsKind struct{}

var (
	_ Kind     = DiskErrorsKind{}
	_ DiskUser = DiskErrorsKind{}
)

// DiskErrorsParams are a disk-errors fault's parameters.
type DiskErrorsParams struct {
	Target `yaml:",inline"`
	// Fraction of the operations that fail, more than 0 and at most 1.
	Fraction float64 `yaml:"fraction"`
	// Ops are the operations that fail: write, fsync, read; default
	// fsync.
	Ops []string `yaml:"ops"`
}

func (p DiskErrorsParams) String() string {
	return fmt.Sprintf("%g of %s on %s", p.Fraction, strings.Join(p.Ops, ", "), p.Target)
}

// DiskOps lists the operations disk-errors can fail.
var DiskOps = []string{string(faultfs.OpWrite), string(faultfs.OpFsync), string(faultfs.OpRead)}

// Name is "disk-errors".
func (DiskErrorsKind) Name() string { return KindDiskErrors }

// Keys: whom, how often, which operations.
func (DiskErrorsKind) Keys() []string { return append([]string{"fraction", "ops"}, targetKeys...) }

// Decode reads the target, the fraction (required) and the operations
// (fsync by default).
func (DiskErrorsKind) Decode(f fields) any {
	p := DiskErrorsParams{Target: decodeTarget(f), Ops: []string{string(faultfs.OpFsync)}}
	if f.Require("fraction", "fraction: 0.5", "kind "+KindDiskErrors) {
		if v, ok := f.Fraction("fraction"); ok {
			if v == 0 {
				f.Report("fraction", "more than 0 and at most 1 (0.1 is 10%)", "fraction 0 fails nothing")
			} else {
				p.Fraction = v
			}
		}
	}
	if ops, ok := f.Strings("ops"); ok {
		hint := "ops is a list of " + strings.Join(DiskOps, ", ") + ", such as [fsync] or [write, fsync]"
		switch {
		case len(ops) == 0:
			f.Report("ops", hint, "ops is empty")
		default:
			seen := map[string]bool{}
			for _, op := range ops {
				if !slices.Contains(DiskOps, op) {
					f.Report("ops", hint, "%q is not an operation disk-errors can fail", op)
					return p
				}
				if seen[op] {
					f.Report("ops", "name each operation once", "%q is named twice", op)
					return p
				}
				seen[op] = true
			}
			p.Ops = ops
		}
	}
	return p
}

// NeedsDisk: always.
func (DiskErrorsKind) NeedsDisk(any) bool { return true }

// Available needs disks and FUSE (and, to restart a node the errors
// brought down, process control, which every runtime with disks has).
func (DiskErrorsKind) Available(pw Powers, params any) error {
	return diskAvailable(KindDiskErrors, pw, targetOf(params), false)
}

// Start returns the run's disk-errors injector.
func (DiskErrorsKind) Start(env *Env) Injector {
	return newSetting(env, KindDiskErrors,
		func(o Occurrence, d runtime.Disk) (string, error) {
			p, ok := o.Params.(DiskErrorsParams)
			if !ok {
				return "", errNoParams
			}
			ops := make([]faultfs.Op, len(p.Ops))
			for i, op := range p.Ops {
				ops[i] = faultfs.Op(op)
			}
			d.SetErrors(p.Fraction, ops...)
			return fmt.Sprintf("EIO on %g of %s", p.Fraction, strings.Join(p.Ops, ", ")), nil
		},
		func(d runtime.Disk) { d.SetErrors(0) })
}

// setting is the injector of the kinds that set something on disks for
// the fault's duration (errors, a delay): set at the start, unset at the
// end, if no later fault of the kind took the disk over; at the end a
// victim that went down is started again.
type setting struct {
	env   *Env
	kind  string
	set   func(Occurrence, runtime.Disk) (string, error)
	unset func(runtime.Disk)

	mu    sync.Mutex
	held  map[int][]string
	owner map[string]int // node -> fault whose setting is in effect
	disks map[string]runtime.Disk
}

func newSetting(env *Env, kind string, set func(Occurrence, runtime.Disk) (string, error), unset func(runtime.Disk)) *setting {
	return &setting{env: env, kind: kind, set: set, unset: unset, held: map[int][]string{}, owner: map[string]int{}, disks: map[string]runtime.Disk{}}
}

func (s *setting) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	env := s.env
	t := targetOf(o.Params)
	victims, err := env.victims(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	f := &history.Fault{ID: o.ID, Kind: s.kind, Shape: targetName(t.Target), Groups: [][]string{victims}}
	disks, err := env.disksOf(s.kind, victims)
	if err != nil {
		return f, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var what string
	for _, v := range victims {
		w, err := s.set(o, disks[v])
		if err != nil {
			// Nothing left half-applied: what this fault set goes.
			for _, u := range victims {
				if s.owner[u] == o.ID {
					s.unset(disks[u])
					delete(s.owner, u)
				}
			}
			return f, nil, err
		}
		what = w
		s.owner[v] = o.ID
		s.disks[v] = disks[v]
	}
	s.held[o.ID] = victims
	f.Detail = fmt.Sprintf("%s on the disks of %s (target %s)", what, strings.Join(victims, " "), targetName(t.Target))
	return f, func(ctx context.Context) error { return s.heal(ctx, o.ID) }, nil
}

// heal unsets what fault id set (where no later fault took a disk over)
// and starts any of its victims that went down.
func (s *setting) heal(ctx context.Context, id int) error {
	s.mu.Lock()
	victims := s.held[id]
	for _, v := range victims {
		if s.owner[v] == id {
			s.unset(s.disks[v])
			delete(s.owner, v)
		}
	}
	s.mu.Unlock()
	err := s.env.restartCrashed(ctx, id, s.kind, victims)
	if err == nil {
		s.mu.Lock()
		delete(s.held, id)
		s.mu.Unlock()
	}
	return err
}

// HealAll unsets every disk still set and starts every victim down.
func (s *setting) HealAll(ctx context.Context) error {
	s.mu.Lock()
	ids := faultIDs(s.held)
	for _, id := range ids {
		for _, v := range s.held[id] {
			if d, ok := s.disks[v]; ok {
				s.unset(d)
			}
			delete(s.owner, v)
		}
	}
	s.mu.Unlock()
	return healEach(ctx, ids, s.heal)
}

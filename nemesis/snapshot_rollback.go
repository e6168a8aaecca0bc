package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
)

// SnapshotRollbackKind rolls the target nodes' files back in time: at the
// fault's start each node is stopped gracefully (SIGTERM, then SIGKILL
// after 10 s) for as long as it takes to copy the files matching the glob,
// and started again; it then runs on for the fault's duration. At the
// fault's end it is stopped again, the files are put back as they were
// copied (files made since that match the glob are removed), and it is
// started: a node that forgets what it wrote, as after a restore from an
// old backup or a disk that lost a stretch of writes. The saved files are
// recorded at the start, every file rolled back at the end (an observe
// event of the fault).
//
// The copy is taken while the node is stopped, so it is a consistent one.
// If the run ends some other way before the fault's end (a panic),
// nothing is rolled back: the copy is discarded and the node left running.
type SnapshotRollbackKind struct{}

var (
	_ Kind     = SnapshotRollbackKind{}
	_ DiskUser = SnapshotRollbackKind{}
)

// SnapshotRollbackParams are a snapshot-rollback fault's parameters.
type SnapshotRollbackParams struct {
	Target `yaml:",inline"`
	// Files is a glob relative to the data directory ("**": any depth).
	Files string `yaml:"files"`
}

func (p SnapshotRollbackParams) String() string { return fmt.Sprintf("%s on %s", p.Files, p.Target) }

// Name is "snapshot-rollback".
func (SnapshotRollbackKind) Name() string { return KindSnapshotRollback }

// Keys: whom, which files.
func (SnapshotRollbackKind) Keys() []string { return append([]string{"files"}, targetKeys...) }

// Decode reads the target and the glob (required).
func (SnapshotRollbackKind) Decode(f fields) any {
	return SnapshotRollbackParams{Target: decodeTarget(f), Files: decodeFiles(f, KindSnapshotRollback)}
}

// NeedsDisk: always.
func (SnapshotRollbackKind) NeedsDisk(any) bool { return true }

// Available needs disks, FUSE and process control.
func (SnapshotRollbackKind) Available(pw Powers, params any) error {
	return diskAvailable(KindSnapshotRollback, pw, targetOf(params), true)
}

// Start returns the run's snapshot-rollback injector.
func (SnapshotRollbackKind) Start(env *Env) Injector {
	return &rollback{env: env, active: map[int]*saving{}}
}

type rollback struct {
	env *Env

	mu     sync.Mutex
	active map[int]*saving
}

// saving is one fault's copies, by node.
type saving struct {
	victims []string
	saved   map[string]*faultfs.Saved
	dirs    map[string]string
}

func (s *saving) discard() error {
	var errs []error
	for _, sv := range s.saved {
		errs = append(errs, sv.Discard())
	}
	return errors.Join(errs...)
}

func (r *rollback) Inject(ctx context.Context, o Occurrence) (*history.Fault, func(context.Context) error, error) {
	env := r.env
	if env.Procs == nil {
		return nil, nil, errors.New("snapshot-rollback faults need a runtime that controls processes")
	}
	p, ok := o.Params.(SnapshotRollbackParams)
	if !ok {
		return nil, nil, fmt.Errorf("snapshot-rollback: parameters are %T", o.Params)
	}
	victims, err := env.victims(ctx, p.Target)
	if err != nil {
		return nil, nil, err
	}
	f := &history.Fault{ID: o.ID, Kind: KindSnapshotRollback, Shape: targetName(p.Target.Target), Groups: [][]string{victims}}
	disks, err := env.disksOf(KindSnapshotRollback, victims)
	if err != nil {
		return f, nil, err
	}
	notes, err := env.stopAll(ctx, victims, false)
	if err != nil {
		return f, nil, err
	}
	s := &saving{victims: victims, saved: map[string]*faultfs.Saved{}, dirs: map[string]string{}}
	var sums []string
	var errs []error
	for _, v := range victims {
		sv, err := faultfs.Snapshot(disks[v].Backing(), p.Files)
		e := history.DiskEffect{Node: v}
		if err != nil {
			e.Error = err.Error()
			errs = append(errs, fmt.Errorf("snapshot of %s: %w", v, err))
		} else {
			s.saved[v], s.dirs[v] = sv, disks[v].Backing()
			e.Saved = sv.Files()
		}
		f.Disk = append(f.Disk, e)
		sums = append(sums, fmt.Sprintf("%s: %d %s saved", v, len(e.Saved), plural(len(e.Saved), "file", "files")))
	}
	f.Detail = fmt.Sprintf("graceful stop of %s (target %s), files matching %s saved, restarted; rolled back at the end; %s",
		strings.Join(victims, " "), targetName(p.Target.Target), p.Files, strings.Join(sums, "; "))
	if len(notes) > 0 {
		f.Detail += "; " + strings.Join(notes, "; ")
	}
	errs = append(errs, env.startAll(context.WithoutCancel(ctx), victims))
	if err := errors.Join(errs...); err != nil {
		return f, nil, errors.Join(err, s.discard())
	}
	r.mu.Lock()
	r.active[o.ID] = s
	r.mu.Unlock()
	return f, func(ctx context.Context) error { return r.heal(ctx, o.ID) }, nil
}

// heal rolls back: stop, restore, start; what was rolled back is
// recorded as an observation of the fault.
func (r *rollback) heal(ctx context.Context, id int) error {
	r.mu.Lock()
	s := r.active[id]
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	// The fault stays known until its heal is done, so that HealAll can
	// start its nodes if the heal is cut short (a panic).
	done := func() error {
		r.mu.Lock()
		delete(r.active, id)
		r.mu.Unlock()
		return s.discard()
	}
	env := r.env
	_, err := env.stopAll(ctx, s.victims, false)
	if err != nil {
		return errors.Join(err, env.startAll(ctx, s.victims), done())
	}
	obs := &history.Fault{ID: id, Kind: KindSnapshotRollback, Groups: [][]string{s.victims}}
	var sums []string
	var errs []error
	for _, v := range s.victims {
		sv := s.saved[v]
		if sv == nil {
			continue
		}
		cs, err := sv.Restore()
		e := changeEffect(v, cs, err)
		obs.Disk = append(obs.Disk, e)
		sums = append(sums, changeSummary(e, "nothing had changed"))
		if err != nil {
			errs = append(errs, fmt.Errorf("rollback of %s: %w", v, err))
		}
	}
	obs.Detail = "rolled back, graceful stop and start of " + strings.Join(s.victims, " ") + "; " + strings.Join(sums, "; ")
	env.Record(history.Observe, obs, "")
	errs = append(errs, env.startAll(ctx, s.victims), done())
	return errors.Join(errs...)
}

// HealAll discards the copies of faults not yet rolled back, and starts
// their nodes (one could be stopped by a heal cut short).
func (r *rollback) HealAll(ctx context.Context) error {
	r.mu.Lock()
	active := r.active
	r.active = map[int]*saving{}
	r.mu.Unlock()
	var errs []error
	for _, id := range faultIDs(active) {
		s := active[id]
		errs = append(errs, s.discard(), r.env.startAll(ctx, s.victims))
	}
	return errors.Join(errs...)
}

package nemesis

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// The disk fault kinds, by the name a scenario gives in faults[].kind.
// Each acts on the nodes' data directories, which the run then puts on the
// lab's FUSE layer (internal/faultfs): see docs/faults.md.
const (
	KindPowerLoss        = "power-loss"
	KindCorrupt          = "corrupt"
	KindTruncate         = "truncate"
	KindSnapshotRollback = "snapshot-rollback"
	KindDiskErrors       = "disk-errors"
	KindDiskSlow         = "disk-slow"
)

// DiskUser is a kind whose faults act on the nodes' disks: a run with one
// puts every node's data directory on the lab's FUSE layer before the
// nodes start. A kind that holds other faults (a sequence) answers for
// what it holds.
type DiskUser interface {
	NeedsDisk(params any) bool
}

// NeedsDisk says whether a fault of kind k with params needs the nodes'
// disks.
func NeedsDisk(k Kind, params any) bool {
	d, ok := k.(DiskUser)
	return ok && d.NeedsDisk(params)
}

// diskAvailable is every disk kind's availability: a runtime that gives
// the nodes disks, FUSE on this machine, process control when the kind
// stops nodes, and a leader to ask for when the target is the leader.
func diskAvailable(kind string, pw Powers, t Target, stops bool) error {
	if !pw.Disks {
		return fmt.Errorf("%s faults need a runtime that puts the nodes' data directories on the lab's FUSE layer (runtime docker or local)", kind)
	}
	if pw.DiskProblem != "" {
		return fmt.Errorf("%s faults need FUSE on this machine, and it does not work here: %s", kind, pw.DiskProblem)
	}
	if stops && !pw.Processes {
		return fmt.Errorf("%s faults stop and restart nodes, which needs a runtime that controls the nodes' processes", kind)
	}
	return needsLeader(pw, t)
}

// decodeFiles reads a required glob of files relative to the data
// directory: path.Match patterns per element, "**" for any number of
// elements, never absolute and never out of the directory.
func decodeFiles(f fields, kind string) string {
	if !f.Require("files", "files: member/wal/*.wal", "kind "+kind) {
		return ""
	}
	v, ok := f.String("files")
	if !ok {
		return ""
	}
	hint := `a glob relative to the node's data directory, such as member/wal/*.wal, or "**" for every file`
	if strings.TrimSpace(v) == "" {
		f.Report("files", hint, "files is empty")
		return ""
	}
	if strings.HasPrefix(v, "/") {
		f.Report("files", hint, "files %q is absolute", v)
		return ""
	}
	for _, seg := range strings.Split(v, "/") {
		if seg == ".." || seg == "." {
			f.Report("files", hint, "files %q names %q: globs stay inside the data directory", v, seg)
			return ""
		}
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			f.Report("files", hint, "files %q is not a glob: %v", v, err)
			return ""
		}
	}
	return v
}

// disksOf returns each victim's disk, or an error naming a node without.
func (env *Env) disksOf(kind string, victims []string) (map[string]runtime.Disk, error) {
	if env.Disks == nil {
		return nil, fmt.Errorf("%s: the run did not put the nodes' data directories on the lab's FUSE layer", kind)
	}
	out := map[string]runtime.Disk{}
	for _, v := range victims {
		d, ok := env.Disks.Disk(v)
		if !ok {
			return nil, fmt.Errorf("%s: node %s has no disk of the lab's", kind, v)
		}
		out[v] = d
	}
	return out, nil
}

// up says whether node runs, with its state in words; true when unknown.
func (env *Env) up(ctx context.Context, node string) (bool, string) {
	if env.Running == nil {
		return true, ""
	}
	ok, state, err := env.Running(ctx, node)
	if err != nil {
		return true, ""
	}
	return ok, state
}

// waitDown waits until node's process is gone (the runtime's kill and
// stop return once it is; this makes sure before a disk is touched).
func (env *Env) waitDown(ctx context.Context, node string) error {
	if env.Running == nil {
		return nil
	}
	return runtime.WaitFor(ctx, 15*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		ok, state, err := env.Running(ctx, node)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%s still %s", node, state)
		}
		return nil
	})
}

// stopAll takes every victim down, with SIGKILL (kill) or a graceful stop
// (SIGTERM, then SIGKILL after 10 s), and waits until each is gone. A
// node already down is left as it is and named in the returned notes. On
// error the nodes it took down are started again.
func (env *Env) stopAll(ctx context.Context, victims []string, kill bool) (notes []string, err error) {
	var done []string
	undo := func(err error) ([]string, error) {
		errs := []error{err}
		for _, v := range done {
			errs = append(errs, env.Procs.StartNode(context.WithoutCancel(ctx), v))
		}
		return notes, errors.Join(errs...)
	}
	for _, v := range victims {
		if ok, state := env.up(ctx, v); !ok {
			notes = append(notes, fmt.Sprintf("%s was down already (%s)", v, state))
			continue
		}
		var err error
		if kill {
			err = env.Procs.Kill(ctx, v, "SIGKILL")
		} else {
			err = env.Procs.Stop(ctx, v, 10)
		}
		if err != nil {
			return undo(err)
		}
		done = append(done, v)
	}
	for _, v := range victims {
		if err := env.waitDown(ctx, v); err != nil {
			return undo(err)
		}
	}
	return notes, nil
}

// startAll starts every node, going on past errors.
func (env *Env) startAll(ctx context.Context, nodes []string) error {
	var errs []error
	for _, v := range nodes {
		errs = append(errs, env.Procs.StartNode(ctx, v))
	}
	return errors.Join(errs...)
}

// held is the nodes each fault of a kind holds down until its heal, which
// starts them again; HealAll starts every node still held.
type held struct {
	env *Env

	mu     sync.Mutex
	active map[int][]string // fault ID -> nodes down
}

func newHeld(env *Env) held { return held{env: env, active: map[int][]string{}} }

func (h *held) hold(id int, nodes []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active[id] = nodes
}

// release starts the nodes fault id holds.
func (h *held) release(ctx context.Context, id int) error {
	h.mu.Lock()
	nodes := h.active[id]
	h.mu.Unlock()
	err := h.env.startAll(ctx, nodes)
	// Forgotten only once started: a heal cut short or failed leaves
	// HealAll the nodes to start.
	if err == nil {
		h.mu.Lock()
		delete(h.active, id)
		h.mu.Unlock()
	}
	return err
}

func (h *held) healAll(ctx context.Context) error {
	h.mu.Lock()
	ids := faultIDs(h.active)
	h.mu.Unlock()
	return healEach(ctx, ids, h.release)
}

// restartCrashed starts each node that is down at the end of a fault that
// did not stop it (a node that exits on an I/O error), recording what it
// found: the fault is over, and no node is left down.
func (env *Env) restartCrashed(ctx context.Context, id int, kind string, nodes []string) error {
	if env.Procs == nil {
		return nil
	}
	var errs []error
	for _, v := range nodes {
		ok, state := env.up(ctx, v)
		if ok {
			continue
		}
		err := env.Procs.StartNode(ctx, v)
		detail := fmt.Sprintf("%s was down at the end of the fault (%s): started again", v, state)
		if err != nil {
			detail = fmt.Sprintf("%s was down at the end of the fault (%s), and could not be started: %v", v, state, err)
			errs = append(errs, err)
		}
		if env.Rec != nil {
			env.Record(history.Observe, &history.Fault{ID: id, Kind: kind, Groups: [][]string{{v}}, Detail: detail}, "")
		}
	}
	return errors.Join(errs...)
}

// lossEffect is what a power loss did to one node's disk, for the history.
func lossEffect(node string, r faultfs.Report, err error) history.DiskEffect {
	e := history.DiskEffect{Node: node}
	for _, l := range r.Files {
		e.Lost = append(e.Lost, history.DiskLoss{Path: l.Path, Writes: l.Writes, Bytes: l.Bytes, SizeBefore: l.SizeBefore, SizeAfter: l.SizeAfter, Error: l.Err})
	}
	for _, n := range r.Names {
		e.Names = append(e.Names, n.String())
	}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

// lossSummary says in a few words what a power loss dropped from a node.
func lossSummary(e history.DiskEffect) string {
	var writes int
	var bytes int64
	for _, l := range e.Lost {
		writes += l.Writes
		bytes += l.Bytes
	}
	var parts []string
	if len(e.Lost) > 0 {
		parts = append(parts, fmt.Sprintf("%d writes (%d bytes) to %d %s dropped", writes, bytes, len(e.Lost), plural(len(e.Lost), "file", "files")))
	}
	if len(e.Names) > 0 {
		parts = append(parts, fmt.Sprintf("%d %s undone", len(e.Names), plural(len(e.Names), "name change", "name changes")))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to drop (everything was fsynced)")
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	return e.Node + ": " + strings.Join(parts, ", ")
}

// changeEffect is what an offline fault did to one node's files.
func changeEffect(node string, cs []faultfs.Change, err error) history.DiskEffect {
	e := history.DiskEffect{Node: node}
	for _, c := range cs {
		e.Changes = append(e.Changes, history.DiskChange{Path: c.Path, Kind: c.Kind, Offset: c.Offset, Bit: c.Bit, Old: int(c.Old), New: int(c.New), OldSize: c.OldSize, NewSize: c.NewSize})
	}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

// maxDetailChanges is how many changes per node a fault's one-line detail
// names; the history's disk field has them all.
const maxDetailChanges = 8

// changeSummary names a node's changes, the first few in full.
func changeSummary(e history.DiskEffect, none string) string {
	var parts []string
	for i, c := range e.Changes {
		if i == maxDetailChanges {
			parts = append(parts, fmt.Sprintf("and %d more (all in the fault's disk field)", len(e.Changes)-i))
			break
		}
		parts = append(parts, changeString(c))
	}
	if len(parts) == 0 {
		parts = append(parts, none)
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	return e.Node + ": " + strings.Join(parts, "; ")
}

func changeString(c history.DiskChange) string {
	switch c.Kind {
	case "bitflip":
		return fmt.Sprintf("%s byte %d %#02x->%#02x (bit %d)", c.Path, c.Offset, c.Old, c.New, c.Bit)
	case "truncate":
		return fmt.Sprintf("%s cut from %d to %d bytes", c.Path, c.OldSize, c.NewSize)
	case "restore":
		if c.OldSize < 0 {
			return fmt.Sprintf("%s made again (%d bytes)", c.Path, c.NewSize)
		}
		return fmt.Sprintf("%s rolled back (%d bytes, was %d)", c.Path, c.NewSize, c.OldSize)
	case "remove":
		return fmt.Sprintf("%s removed (%d bytes, not in the snapshot)", c.Path, c.OldSize)
	}
	return fmt.Sprintf("%s %s", c.Path, c.Kind)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sortedKeys lists a victims map's nodes in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

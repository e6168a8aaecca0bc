package nemesis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
)

// fakeProcs is process control that records every call and keeps each
// node's state; a node can be made to fail a call.
type fakeProcs struct {
	mu    sync.Mutex
	state map[string]string
	calls []string
	fail  map[string]error // call -> error
}

func newFakeProcs(names ...string) *fakeProcs {
	p := &fakeProcs{state: map[string]string{}, fail: map[string]error{}}
	for _, n := range names {
		p.state[n] = "running"
	}
	return p
}

func (p *fakeProcs) do(call, node, state string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	if err := p.fail[call]; err != nil {
		return err
	}
	p.state[node] = state
	return nil
}

func (p *fakeProcs) Kill(_ context.Context, n, sig string) error {
	return p.do("kill "+n+" "+sig, n, "killed")
}
func (p *fakeProcs) Stop(_ context.Context, n string, _ int) error {
	return p.do("stop "+n, n, "stopped")
}
func (p *fakeProcs) StartNode(_ context.Context, n string) error {
	return p.do("start "+n, n, "running")
}
func (p *fakeProcs) Pause(_ context.Context, n string) error  { return p.do("pause "+n, n, "running") }
func (p *fakeProcs) Resume(_ context.Context, n string) error { return p.do("resume "+n, n, "running") }

func (p *fakeProcs) running(_ context.Context, n string) (bool, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state[n]
	return s == "running", s, nil
}

func (p *fakeProcs) set(n, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[n] = state
}

func (p *fakeProcs) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func (p *fakeProcs) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// diskEvents is a Recorder that keeps what it is given.
type diskEvents struct {
	mu sync.Mutex
	es []history.Event
}

func (e *diskEvents) Append(ev history.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.es = append(e.es, ev)
	return nil
}

func (e *diskEvents) observed() []*history.Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*history.Fault
	for _, ev := range e.es {
		if ev.F == history.Observe {
			out = append(out, ev.Fault)
		}
	}
	return out
}

// diskMap is the runtime's disks, by node.
type diskMap map[string]runtime.Disk

func (m diskMap) Disk(n string) (runtime.Disk, bool) { d, ok := m[n]; return d, ok }

// diskLab is three nodes, each with a real faultfs mount over a backing
// directory of its own, and fake process control.
type diskLab struct {
	env   *Env
	procs *fakeProcs
	rec   *diskEvents
	fs    map[string]*faultfs.FS
}

func newDiskLab(t *testing.T) *diskLab {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" || os.Getenv("LAB_REQUIRE_DOCKER") != "" {
			t.Fatalf("these tests mount FUSE as root, which CI requires: /dev/fuse %v, uid %d", err, os.Geteuid())
		}
		t.Skip("needs root and /dev/fuse (they mount the lab's FUSE layer)")
	}
	names := []string{"n1", "n2", "n3"}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12"), netip.MustParseAddr("10.0.0.13")}
	l := &diskLab{procs: newFakeProcs(names...), rec: &diskEvents{}, fs: map[string]*faultfs.FS{}}
	disks := diskMap{}
	for _, n := range names {
		dir := t.TempDir()
		backing, mnt := filepath.Join(dir, "disk"), filepath.Join(dir, "data")
		for _, d := range []string{backing, mnt} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		f, err := faultfs.Mount(context.Background(), backing, mnt, faultfs.Options{RunID: "nemesis-test", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := f.Unmount(ctx); err != nil {
				t.Errorf("unmount %s: %v", n, err)
			}
		})
		l.fs[n] = f
		disks[n] = f
	}
	l.env = &Env{
		Nodes: NewNodeSet(names, addrs, nil), Procs: l.procs, Running: l.procs.running, Disks: disks,
		Rec: l.rec, Clock: history.NewClock(), Log: slog.New(slog.DiscardHandler), Rand: rand.New(rand.NewPCG(3, 4)),
	}
	return l
}

// write writes content to the node's data directory, fsynced or not.
func (l *diskLab) write(t *testing.T, node, name, content string, sync bool) {
	t.Helper()
	p := filepath.Join(l.fs[node].Mountpoint(), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		// The directory too, so that the name is durable under any rule.
		if d, err := os.Open(filepath.Dir(p)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// read reads a file of the node's data directory, through the mount; ""
// when it is not there.
func (l *diskLab) read(t *testing.T, node, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.fs[node].Mountpoint(), name))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func nodes(ns ...string) Target { return Target{Target: TargetNodes, Nodes: ns} }

func TestDiskKindsAvailable(t *testing.T) {
	kinds := []Kind{PowerLossKind{}, CorruptKind{}, TruncateKind{}, SnapshotRollbackKind{}, DiskErrorsKind{}, DiskSlowKind{}}
	good := Powers{Root: true, HostProcesses: true, Processes: true, Disks: true}
	for _, k := range kinds {
		if !NeedsDisk(k, nil) {
			t.Errorf("%s does not say it needs disks", k.Name())
		}
		if err := k.Available(good, nil); err != nil {
			t.Errorf("%s on docker-like powers: %v", k.Name(), err)
		}
		noDisks := good
		noDisks.Disks = false
		if err := k.Available(noDisks, nil); err == nil || !strings.Contains(err.Error(), "runtime docker or local") {
			t.Errorf("%s on a runtime without disks: %v", k.Name(), err)
		}
		noFUSE := good
		noFUSE.DiskProblem = "no /dev/fuse: load the fuse kernel module"
		if err := k.Available(noFUSE, nil); err == nil || !strings.Contains(err.Error(), "needs FUSE") && !strings.Contains(err.Error(), "need FUSE") || !strings.Contains(err.Error(), "no /dev/fuse") {
			t.Errorf("%s on a machine without FUSE: %v, want the probe's words", k.Name(), err)
		}
		if err := k.Available(good, targetParams(k, Target{Target: TargetLeader})); err == nil {
			t.Errorf("%s of the leader on a system without one: available", k.Name())
		}
	}
	if NeedsDisk(ProcessKind{Verb: KindKill}, nil) || NeedsDisk(PartitionKind{}, nil) {
		t.Error("kill or partition says it needs disks")
	}
}

// targetParams gives kind k's parameters with target t.
func targetParams(k Kind, t Target) any {
	switch k.(type) {
	case PowerLossKind:
		return PowerLossParams{Target: t}
	case CorruptKind:
		return CorruptParams{Target: t, Files: "**", Bits: 1}
	case TruncateKind:
		return TruncateParams{Target: t, Files: "**"}
	case SnapshotRollbackKind:
		return SnapshotRollbackParams{Target: t, Files: "**"}
	case DiskErrorsKind:
		return DiskErrorsParams{Target: t, Fraction: 1, Ops: []string{"fsync"}}
	case DiskSlowKind:
		return DiskSlowParams{Target: t, Delay: scenarios.Duration(time.Millisecond)}
	}
	return t
}

// TestPowerLossDropsWhatWasNotFsynced: the victims are killed first, then
// their disks drop what was not fsynced (recorded, file by file); the
// others keep everything; the heal starts the victims again.
func TestPowerLossDropsWhatWasNotFsynced(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2", "n3"} {
		l.write(t, n, "wal/durable", "fsynced "+n, true)
		l.write(t, n, "wal/volatile", "only in the page cache", false)
	}
	inj := PowerLossKind{}.Start(l.env)
	f, heal, err := inj.Inject(ctx, Occurrence{ID: 1, Kind: KindPowerLoss, Params: PowerLossParams{Target: nodes("n1", "n3")}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.procs.log(), []string{"kill n1 SIGKILL", "kill n3 SIGKILL"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	for _, n := range []string{"n1", "n3"} {
		if got := l.read(t, n, "wal/durable"); got != "fsynced "+n {
			t.Errorf("%s: fsynced file reads %q after the power loss", n, got)
		}
		if got := l.read(t, n, "wal/volatile"); got != "" {
			t.Errorf("%s: the file never fsynced survived the power loss: %q", n, got)
		}
	}
	if got := l.read(t, "n2", "wal/volatile"); got != "only in the page cache" {
		t.Errorf("n2, not a victim, lost its page cache: %q", got)
	}
	if len(f.Disk) != 2 || f.Disk[0].Node != "n1" || f.Disk[1].Node != "n3" {
		t.Fatalf("disk effects %+v, want n1 and n3", f.Disk)
	}
	e := f.Disk[0]
	if !slices.ContainsFunc(e.Lost, func(d history.DiskLoss) bool {
		return d.Path == "wal/volatile" && d.Bytes == int64(len("only in the page cache"))
	}) {
		t.Errorf("n1's losses %+v do not name wal/volatile and its bytes", e.Lost)
	}
	if !slices.Contains(e.Names, "create wal/volatile undone") {
		t.Errorf("n1's names undone %q", e.Names)
	}
	for _, want := range []string{"SIGKILL and power loss of n1 n3", "n1: 1 writes (22 bytes) to 1 file dropped", "1 name change undone"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail %q lacks %q", f.Detail, want)
		}
	}
	l.procs.reset()
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := l.procs.log(), []string{"start n1", "start n3"}; !slices.Equal(got, want) {
		t.Errorf("heal calls %q, want %q", got, want)
	}
	if err := inj.HealAll(ctx); err != nil || len(l.procs.log()) != 2 {
		t.Errorf("HealAll after the heal: %v, calls %q (want none more)", err, l.procs.log())
	}
}

// TestPowerLossWriteback: with writeback, what was written before the
// fault starts reaches the disk; only what came after is lost.
func TestPowerLossWriteback(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	l.write(t, "n2", "before", "written before the write-back", false)
	inj := PowerLossKind{}.Start(l.env)
	go func() {
		time.Sleep(50 * time.Millisecond)
		l.write(t, "n2", "after", "written after it", false)
	}()
	start := time.Now()
	f, _, err := inj.Inject(ctx, Occurrence{ID: 1, Kind: KindPowerLoss, Params: PowerLossParams{Target: nodes("n2"), Writeback: scenarios.Duration(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("the power went %s after the write-back, want 300ms", d)
	}
	if got := l.read(t, "n2", "before"); got != "written before the write-back" {
		t.Errorf("a write before the write-back was lost: %q", got)
	}
	if got := l.read(t, "n2", "after"); got != "" {
		t.Errorf("a write after the write-back survived: %q", got)
	}
	if !strings.Contains(f.Detail, "300ms after the disks wrote everything back") {
		t.Errorf("detail %q does not say when the disks wrote back", f.Detail)
	}
	// Never healed: HealAll starts the node.
	l.procs.reset()
	if err := inj.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); !slices.Equal(got, []string{"start n2"}) {
		t.Errorf("HealAll calls %q, want start n2", got)
	}
}

// TestPowerLossNeverHalfApplied: a victim that cannot be killed leaves the
// others started again and no disk touched; a node already down is not
// killed but loses its page cache all the same.
func TestPowerLossNeverHalfApplied(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	l.write(t, "n1", "volatile", "x", false)
	l.procs.fail["kill n2 SIGKILL"] = errors.New("no such container")
	inj := PowerLossKind{}.Start(l.env)
	if _, _, err := inj.Inject(ctx, Occurrence{ID: 1, Kind: KindPowerLoss, Params: PowerLossParams{Target: nodes("n1", "n2")}}); err == nil {
		t.Fatal("a kill that failed: no error")
	}
	if got, want := l.procs.log(), []string{"kill n1 SIGKILL", "kill n2 SIGKILL", "start n1"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got := l.read(t, "n1", "volatile"); got != "x" {
		t.Errorf("the power loss went ahead on n1: %q", got)
	}

	delete(l.procs.fail, "kill n2 SIGKILL")
	l.procs.set("n3", "exited")
	l.write(t, "n3", "volatile", "y", false)
	l.procs.reset()
	f, heal, err := inj.Inject(ctx, Occurrence{ID: 2, Kind: KindPowerLoss, Params: PowerLossParams{Target: nodes("n3")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); len(got) != 0 {
		t.Errorf("calls %q on a node already down, want none", got)
	}
	if got := l.read(t, "n3", "volatile"); got != "" || !strings.Contains(f.Detail, "n3 was down already (exited)") {
		t.Errorf("n3 reads %q after its power loss; detail %q", got, f.Detail)
	}
	if err := heal(ctx); err != nil || !slices.Equal(l.procs.log(), []string{"start n3"}) {
		t.Errorf("heal: %v, calls %q: want n3 started", err, l.procs.log())
	}
}

// TestCorruptAndTruncate: the victims are stopped gracefully, the files
// matching the glob changed as recorded, byte for byte, and the heal
// starts them; a glob that matches nothing is recorded, not fatal.
func TestCorruptAndTruncate(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	content := strings.Repeat("etcd write-ahead log ", 50)
	l.write(t, "n1", "member/wal/0.wal", content, true)
	l.write(t, "n1", "member/snap/db", content, true)

	inj := CorruptKind{}.Start(l.env)
	f, heal, err := inj.Inject(ctx, Occurrence{ID: 1, Kind: KindCorrupt, Params: CorruptParams{Target: nodes("n1"), Files: "member/wal/*.wal", Bits: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); !slices.Equal(got, []string{"stop n1"}) {
		t.Errorf("calls %q, want a graceful stop of n1", got)
	}
	if len(f.Disk) != 1 || len(f.Disk[0].Changes) != 5 {
		t.Fatalf("disk effects %+v, want 5 flips on n1", f.Disk)
	}
	got := []byte(l.read(t, "n1", "member/wal/0.wal"))
	want := []byte(content)
	for _, c := range f.Disk[0].Changes {
		if c.Path != "member/wal/0.wal" || c.Kind != "bitflip" || int(want[c.Offset]) != c.Old || c.New != c.Old^(1<<c.Bit) {
			t.Errorf("change %+v does not describe a flip of the file's byte %#02x", c, want[c.Offset])
		}
		want[c.Offset] = byte(c.New)
	}
	if !bytes.Equal(got, want) {
		t.Error("the file differs from its old content by more than the recorded flips")
	}
	if l.read(t, "n1", "member/snap/db") != content {
		t.Error("a file the glob does not match was changed")
	}
	if !strings.Contains(f.Detail, "graceful stop of n1") || !strings.Contains(f.Detail, "member/wal/0.wal byte ") {
		t.Errorf("detail %q", f.Detail)
	}
	l.procs.reset()
	if err := heal(ctx); err != nil || !slices.Equal(l.procs.log(), []string{"start n1"}) {
		t.Errorf("heal: %v, calls %q", err, l.procs.log())
	}

	// Nothing matches: recorded, and the fault goes on.
	f, heal, err = inj.Inject(ctx, Occurrence{ID: 2, Kind: KindCorrupt, Params: CorruptParams{Target: nodes("n2"), Files: "member/wal/*.wal", Bits: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Disk[0].Error == "" || !strings.Contains(f.Detail, "no bytes to corrupt") {
		t.Errorf("a glob that matched nothing on n2: effect %+v, detail %q", f.Disk[0], f.Detail)
	}
	heal(ctx)

	tinj := TruncateKind{}.Start(l.env)
	f, heal, err = tinj.Inject(ctx, Occurrence{ID: 3, Kind: KindTruncate, Params: TruncateParams{Target: nodes("n1"), Files: "member/**"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Disk[0].Changes) != 2 {
		t.Fatalf("truncate changes %+v, want both files", f.Disk[0].Changes)
	}
	for _, c := range f.Disk[0].Changes {
		if got := l.read(t, "n1", c.Path); int64(len(got)) != c.NewSize || c.OldSize != int64(len(content)) || c.NewSize >= c.OldSize {
			t.Errorf("change %+v, but %s now holds %d bytes", c, c.Path, len(got))
		}
	}
	if !strings.Contains(f.Detail, "cut from 1050 to") {
		t.Errorf("detail %q", f.Detail)
	}
	// Not healed: HealAll starts n1.
	l.procs.reset()
	if err := tinj.HealAll(ctx); err != nil || !slices.Equal(l.procs.log(), []string{"start n1"}) {
		t.Errorf("HealAll: %v, calls %q", err, l.procs.log())
	}
	_ = heal
}

// TestSnapshotRollback: the files are saved with the node stopped, the
// node runs on, and at the heal it is stopped, rolled back (a file made
// since is removed) and started; the rollback is recorded.
func TestSnapshotRollback(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	l.write(t, "n2", "member/wal/0.wal", "old log", true)
	inj := SnapshotRollbackKind{}.Start(l.env)
	f, heal, err := inj.Inject(ctx, Occurrence{ID: 4, Kind: KindSnapshotRollback, Params: SnapshotRollbackParams{Target: nodes("n2"), Files: "member/**"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); !slices.Equal(got, []string{"stop n2", "start n2"}) {
		t.Errorf("calls %q, want a brief stop", got)
	}
	if !slices.Equal(f.Disk[0].Saved, []string{"member/wal/0.wal"}) {
		t.Errorf("saved %q", f.Disk[0].Saved)
	}
	l.write(t, "n2", "member/wal/0.wal", "new log, longer", true)
	l.write(t, "n2", "member/wal/1.wal", "a new segment", true)
	l.procs.reset()
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); !slices.Equal(got, []string{"stop n2", "start n2"}) {
		t.Errorf("heal calls %q", got)
	}
	if got := l.read(t, "n2", "member/wal/0.wal"); got != "old log" {
		t.Errorf("after the rollback the log reads %q", got)
	}
	if got := l.read(t, "n2", "member/wal/1.wal"); got != "" {
		t.Errorf("a file made after the snapshot survived the rollback: %q", got)
	}
	obs := l.rec.observed()
	if len(obs) != 1 || len(obs[0].Disk) != 1 || len(obs[0].Disk[0].Changes) != 2 || !strings.Contains(obs[0].Detail, "rolled back") {
		t.Fatalf("observations %+v, want the rollback of two files", obs)
	}

	// Never rolled back: HealAll discards the copy and starts the node.
	if _, _, err := inj.Inject(ctx, Occurrence{ID: 5, Kind: KindSnapshotRollback, Params: SnapshotRollbackParams{Target: nodes("n1"), Files: "**"}}); err != nil {
		t.Fatal(err)
	}
	l.procs.set("n1", "stopped")
	l.procs.reset()
	if err := inj.HealAll(ctx); err != nil || !slices.Equal(l.procs.log(), []string{"start n1"}) {
		t.Errorf("HealAll: %v, calls %q", err, l.procs.log())
	}
}

// TestDiskErrorsAndSlow: fsyncs fail (or wait) for the fault's duration
// only; a node that went down meanwhile is started at the heal, and that
// is recorded.
func TestDiskErrorsAndSlow(t *testing.T) {
	l := newDiskLab(t)
	ctx := context.Background()
	fsync := func(node string) error {
		f, err := os.OpenFile(filepath.Join(l.fs[node].Mountpoint(), "f"), os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.WriteString("x")
		return f.Sync()
	}
	inj := DiskErrorsKind{}.Start(l.env)
	f, heal, err := inj.Inject(ctx, Occurrence{ID: 6, Kind: KindDiskErrors, Params: DiskErrorsParams{Target: nodes("n1"), Fraction: 1, Ops: []string{"fsync"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fsync("n1"); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync on n1 during the fault: %v, want EIO", err)
	}
	if err := fsync("n2"); err != nil {
		t.Errorf("fsync on n2, not a victim: %v", err)
	}
	if !strings.Contains(f.Detail, "EIO on 1 of fsync on the disks of n1") {
		t.Errorf("detail %q", f.Detail)
	}
	l.procs.set("n1", "exited, exit code 2") // etcd exits on a failed fsync
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fsync("n1"); err != nil {
		t.Errorf("fsync on n1 after the heal: %v", err)
	}
	if got := l.procs.log(); !slices.Equal(got, []string{"start n1"}) {
		t.Errorf("calls %q, want the crashed n1 started", got)
	}
	if obs := l.rec.observed(); len(obs) != 1 || !strings.Contains(obs[0].Detail, "n1 was down at the end of the fault (exited, exit code 2): started again") {
		t.Errorf("observations %+v", obs)
	}

	// disk-slow, ended by HealAll rather than its heal.
	sinj := DiskSlowKind{}.Start(l.env)
	if _, _, err := sinj.Inject(ctx, Occurrence{ID: 7, Kind: KindDiskSlow, Params: DiskSlowParams{Target: nodes("n3"), Delay: scenarios.Duration(200 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := fsync("n3"); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("fsync on n3 took %s (%v), want at least 200ms", time.Since(start), err)
	}
	if err := sinj.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := fsync("n3"); err != nil || time.Since(start) > 100*time.Millisecond {
		t.Errorf("fsync on n3 after HealAll took %s (%v)", time.Since(start), err)
	}
}

// TestDiskFaultWithoutDisks: a run whose runtime gave no disks cannot
// inject, and says why.
func TestDiskFaultWithoutDisks(t *testing.T) {
	env := &Env{Nodes: NewNodeSet([]string{"n1"}, []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil), Procs: newFakeProcs("n1"), Rand: rand.New(rand.NewPCG(1, 1))}
	for _, k := range []Kind{PowerLossKind{}, CorruptKind{}, DiskSlowKind{}} {
		_, _, err := k.Start(env).Inject(context.Background(), Occurrence{ID: 1, Kind: k.Name(), Params: targetParams(k, Target{Target: TargetOne})})
		if err == nil || !strings.Contains(err.Error(), "FUSE layer") {
			t.Errorf("%s without disks: %v", k.Name(), err)
		}
	}
}

// TestPowerLossInterruptedBeforeTheCut: a run interrupted while the disks
// wait for the cut leaves the power on: no node is killed, nothing is lost,
// and it is no error.
func TestPowerLossInterruptedBeforeTheCut(t *testing.T) {
	l := newDiskLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	l.write(t, "n1", "after", "never fsynced", false)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	f, heal, err := PowerLossKind{}.Start(l.env).Inject(ctx, Occurrence{ID: 1, Kind: KindPowerLoss, Params: PowerLossParams{Target: nodes("n1"), Writeback: scenarios.Duration(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.procs.log(); len(got) != 0 {
		t.Errorf("calls %q, want none", got)
	}
	if !strings.Contains(f.Detail, "interrupted before the power went") || heal(context.Background()) != nil {
		t.Errorf("detail %q", f.Detail)
	}
	if got := l.read(t, "n1", "after"); got != "never fsynced" {
		t.Errorf("the file reads %q: the power went after all", got)
	}
}

package workloads_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/workloads"
)

// memLocks is an in-process lock service with leases, as etcd's: the
// holder of a name is the earliest key of the name whose lease lives;
// tokens are a global revision. Every fifth acquire (timeoutEvery) takes
// the lock and then reports a timeout, every seventh release (if
// releaseTimeoutEvery) releases and reports one: outcomes the client
// cannot know.
type memLocks struct {
	systems.Instance // not called by the workload
	mu               sync.Mutex
	cond             *sync.Cond
	rev, nextLease   int64
	keys             map[string][]memKey // per name, in creation order
	alive            map[int64]bool
	acquires         int
	releases         int
	timeoutEvery     int
	releaseTimeouts  int
}

type memKey struct {
	lease, rev int64
}

var errTimeout = errors.New("context deadline exceeded (injected)")

func newMemLocks() *memLocks {
	m := &memLocks{keys: map[string][]memKey{}, alive: map[int64]bool{}, timeoutEvery: 5, releaseTimeouts: 7}
	m.cond = sync.NewCond(&m.mu)
	return m
}

func (m *memLocks) LockMethods() []string { return []string{"v3lock", "mutex"} }

func (m *memLocks) LockClient(context.Context, systems.Peer) (systems.LockClient, error) {
	return memClient{m}, nil
}

type memClient struct{ m *memLocks }

func (memClient) Close() error { return nil }

func (c memClient) Grant(_ context.Context, ttl time.Duration) (systems.LockLease, error) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextLease++
	m.alive[m.nextLease] = true
	return &memLease{m: m, id: m.nextLease, ttl: ttl}, nil
}

type memLease struct {
	m   *memLocks
	id  int64
	ttl time.Duration
}

func (l *memLease) ID() int64             { return l.id }
func (l *memLease) ValidUntil() time.Time { return time.Now().Add(l.ttl) }
func (l *memLease) Gone() bool {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	return !l.m.alive[l.id]
}

func (l *memLease) Acquire(ctx context.Context, name, method string) (systems.LockHold, error) {
	m := l.m
	stop := context.AfterFunc(ctx, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.alive[l.id] {
		return systems.LockHold{}, systems.Definite(errors.New("lease not found"))
	}
	m.rev++
	k := memKey{lease: l.id, rev: m.rev}
	m.keys[name] = append(m.keys[name], k)
	m.acquires++
	ghost := m.acquires%m.timeoutEvery == 0
	for !ghost && m.keys[name][0] != k {
		if ctx.Err() != nil {
			return systems.LockHold{}, ctx.Err() // the key stays: a ghost
		}
		m.cond.Wait()
	}
	if ghost {
		return systems.LockHold{}, errTimeout
	}
	return systems.LockHold{Name: name, Key: name, Method: method, Token: k.rev}, nil
}

func (l *memLease) Release(_ context.Context, h systems.LockHold) error {
	m := l.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(func(k memKey) bool { return k.lease == l.id && k.rev == h.Token }, h.Name)
	m.releases++
	if m.releases%m.releaseTimeouts == 0 {
		return errTimeout
	}
	return nil
}

func (l *memLease) End(context.Context) error {
	m := l.m
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.alive, l.id)
	for name := range m.keys {
		m.remove(func(k memKey) bool { return k.lease == l.id }, name)
	}
	return nil
}

// remove deletes the keys of name that match; m.mu is held.
func (m *memLocks) remove(match func(memKey) bool, name string) {
	keep := m.keys[name][:0]
	for _, k := range m.keys[name] {
		if !match(k) {
			keep = append(keep, k)
		}
	}
	m.keys[name] = keep
	m.cond.Broadcast()
}

type lockRec struct {
	mu sync.Mutex
	ev []history.Event
}

func (r *lockRec) Append(e history.Event) error {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
	return nil
}

// TestLockWorkload drives the in-process lock service with unknown
// outcomes injected and checks what the history holds: every process's
// operations alternate acquire and release, each process records one
// lease after its last operation, unknown outcomes start a new process,
// and the lock checker finds the history valid.
func TestLockWorkload(t *testing.T) {
	sys := newMemLocks()
	rec := &lockRec{}
	env := workloads.Env{
		System: sys, Nodes: []systems.Peer{{Name: "n1", Addr: netip.MustParseAddr("10.0.0.1")}, {Name: "n2", Addr: netip.MustParseAddr("10.0.0.2")}},
		Rate: 200, Concurrency: 5, Timeout: 100 * time.Millisecond,
		Params: workloads.Lock{Locks: 2, Method: workloads.MethodBoth, TTL: scenarios.Duration(2 * time.Second), Hold: scenarios.Duration(2 * time.Millisecond)},
		Rec:    rec, Clock: history.NewClock(), Rand: rand.New(rand.NewPCG(1, 2)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	stats, err := workloads.LockWorkload{}.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Started < 50 {
		t.Fatalf("only %d acquires started", stats.Started)
	}
	if err := (workloads.LockWorkload{}).FinalReads(context.Background(), env, stats.NextProcess(env.Concurrency)); err != nil {
		t.Fatal(err)
	}

	type procState struct {
		last   string // f of the last completed operation
		holds  bool
		leases int
		node   string
	}
	procs := map[history.Process]*procState{}
	methods := map[string]int{}
	var infos int
	for i, e := range rec.ev {
		p := procs[e.Process]
		if p == nil {
			p = &procState{node: e.Node}
			procs[e.Process] = p
		}
		if e.Node != p.node {
			t.Fatalf("event %d: process %s on %s and %s", i+1, e.Process, p.node, e.Node)
		}
		if p.leases > 0 {
			t.Fatalf("event %d: process %s goes on after its lease record: %+v", i+1, e.Process, e)
		}
		if e.Type == history.Invoke {
			if e.F == "acquire" {
				methods[string(e.Value)]++
				if p.holds {
					t.Fatalf("event %d: process %s acquires while holding", i+1, e.Process)
				}
			}
			continue
		}
		switch {
		case e.F == "acquire" && e.Type == history.OK:
			p.holds = true
		case e.F == "release" && e.Type != history.Fail:
			p.holds = false
		case e.F == "lease":
			p.leases++
			if p.holds {
				t.Errorf("event %d: process %s's lease ended while it held a lock it did not try to release", i+1, e.Process)
			}
		}
		if e.Type == history.Info {
			infos++
		}
		p.last = e.F
	}
	for id, p := range procs {
		if p.leases != 1 || p.last != "lease" {
			t.Errorf("process %s: %d lease records, last operation %s; want one lease record, last", id, p.leases, p.last)
		}
	}
	if infos == 0 || len(procs) <= env.Concurrency {
		t.Errorf("%d unknown outcomes over %d processes: the injected timeouts did not show", infos, len(procs))
	}
	if methods[`"v3lock"`] == 0 || methods[`"mutex"`] == 0 {
		t.Errorf("methods used: %v, want both", methods)
	}
	res, err := checker.Check(context.Background(), rec.ev, checker.Options{Model: workloads.LockWorkload{}.Model()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Valid || res.Lock == nil || res.Lock.Holds == 0 || !res.Lock.LeasesRecorded {
		t.Errorf("check: %s (%s), lock report %+v, anomalies %+v", res.Verdict, res.Reason, res.Lock, res.Anomalies)
	}
	t.Logf("%d events, %d processes, %d unknown outcomes, %d holds; methods %v", len(rec.ev), len(procs), infos, res.Lock.Holds, methods)
}

// TestLockWorkloadTwoHolders: a lock service that lets a second holder in
// while the first holds is found invalid from the history the workload
// records.
func TestLockWorkloadTwoHolders(t *testing.T) {
	sys := &brokenLocks{memLocks: newMemLocks()}
	sys.timeoutEvery, sys.releaseTimeouts = 1<<30, 1<<30
	rec := &lockRec{}
	env := workloads.Env{
		System: sys, Nodes: []systems.Peer{{Name: "n1"}, {Name: "n2"}},
		Rate: 100, Concurrency: 4, Timeout: time.Second,
		Params: workloads.Lock{Locks: 1, Method: "v3lock", TTL: scenarios.Duration(5 * time.Second), Hold: scenarios.Duration(20 * time.Millisecond)},
		Rec:    rec, Clock: history.NewClock(), Rand: rand.New(rand.NewPCG(3, 4)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := (workloads.LockWorkload{}).Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	res, err := checker.Check(context.Background(), rec.ev, checker.Options{Model: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Invalid || len(res.Anomalies) == 0 || res.Anomalies[0].Kind != "two-holders" {
		t.Fatalf("check: %s, anomalies %+v", res.Verdict, res.Anomalies)
	}
	t.Log(res.Anomalies[0].Summary)
}

// brokenLocks grants every lock at once.
type brokenLocks struct{ *memLocks }

func (b *brokenLocks) LockClient(ctx context.Context, p systems.Peer) (systems.LockClient, error) {
	return brokenClient{b.memLocks}, nil
}

type brokenClient struct{ m *memLocks }

func (brokenClient) Close() error { return nil }
func (c brokenClient) Grant(ctx context.Context, ttl time.Duration) (systems.LockLease, error) {
	l, err := memClient{c.m}.Grant(ctx, ttl)
	return brokenLease{l.(*memLease)}, err
}

type brokenLease struct{ *memLease }

func (l brokenLease) Acquire(_ context.Context, name, method string) (systems.LockHold, error) {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.m.rev++
	return systems.LockHold{Name: name, Key: name, Method: method, Token: l.m.rev}, nil
}

// TestLockFields: the workload decodes its own fields, with defaults, and
// refuses bad ones with file, line and field.
func TestLockFields(t *testing.T) {
	vocab := plugins.Default().Vocabulary()
	good := `name: l
seed: 1
system: {name: etcd, nodes: 3}
workload: {name: lock, rate: 10, concurrency: 3, locks: 3, method: mutex, ttl: 4s, hold: 1s}
time_limit: 10s
faults: [{kind: kill, target: one, at: 2s, duration: 2s}]
`
	s, err := scenarios.Parse([]byte(good), "l.yaml", vocab)
	if err != nil {
		t.Fatal(err)
	}
	want := workloads.Lock{Locks: 3, Method: "mutex", TTL: scenarios.Duration(4 * time.Second), Hold: scenarios.Duration(time.Second)}
	if s.Workload.Params != want {
		t.Errorf("params = %#v, want %#v", s.Workload.Params, want)
	}
	def, err := scenarios.Parse([]byte(strings.Replace(good, ", locks: 3, method: mutex, ttl: 4s, hold: 1s", "", 1)), "l.yaml", vocab)
	if err != nil {
		t.Fatal(err)
	}
	if want := (workloads.Lock{Locks: 2, Method: "both", TTL: scenarios.Duration(5 * time.Second), Hold: scenarios.Duration(200 * time.Millisecond)}); def.Workload.Params != want {
		t.Errorf("defaults = %#v, want %#v", def.Workload.Params, want)
	}
	for _, tc := range []struct{ sub, with, want string }{
		{"locks: 3", "locks: 0", "l.yaml:4"},
		{"method: mutex", "method: flock", "flock"},
		{"ttl: 4s", "ttl: 100ms", "l.yaml:4"},
		{"hold: 1s", "hold: forever", "l.yaml:4"},
		{"hold: 1s", "holds: 1s", "holds"},
	} {
		_, err := scenarios.Parse([]byte(strings.Replace(good, tc.sub, tc.with, 1)), "l.yaml", vocab)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.with, err, tc.want)
		}
	}
}

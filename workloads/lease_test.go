package workloads_test

import (
	"context"
	"errors"
	"math/rand/v2"
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

// fakeLeases is an in-memory lease store with etcd's rules: a lease lives
// until TTL after its grant or last renewal, and its keys go with it. A
// keepalive through the node named stall never returns before its
// deadline (a frozen leader, seen from its clients).
type fakeLeases struct {
	systems.Instance // nil: only the lease capability is used
	stall            string

	mu     sync.Mutex
	next   int64
	leases map[int64]*fakeLease
	kv     map[string]fakeKV
}

type fakeLease struct {
	ttl    time.Duration
	expiry time.Time
}

type fakeKV struct {
	value string
	lease int64
}

var errNotFound = errors.New("requested lease not found")

func newFakeLeases(stall string) *fakeLeases {
	return &fakeLeases{stall: stall, next: 0x694d0000, leases: map[int64]*fakeLease{}, kv: map[string]fakeKV{}}
}

func (f *fakeLeases) LeaseClient(ctx context.Context, node systems.Peer) (systems.LeaseClient, error) {
	return &fakeLeaseClient{f: f, node: node.Name}, nil
}

// expire removes the leases whose time is up, and their keys; f.mu held.
func (f *fakeLeases) expire() {
	now := time.Now()
	for id, l := range f.leases {
		if now.After(l.expiry) {
			delete(f.leases, id)
			for k, v := range f.kv {
				if v.lease == id {
					delete(f.kv, k)
				}
			}
		}
	}
}

type fakeLeaseClient struct {
	f    *fakeLeases
	node string
}

func (c *fakeLeaseClient) Grant(ctx context.Context, ttl time.Duration) (int64, time.Duration, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.leases[f.next] = &fakeLease{ttl: ttl, expiry: time.Now().Add(ttl)}
	return f.next, ttl, nil
}

func (c *fakeLeaseClient) KeepAliveOnce(ctx context.Context, id int64) (time.Duration, error) {
	if c.node == c.f.stall {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	l := f.leases[id]
	if l == nil {
		return 0, systems.Definite(errNotFound)
	}
	l.expiry = time.Now().Add(l.ttl)
	return l.ttl, nil
}

func (c *fakeLeaseClient) Put(ctx context.Context, key, value string, lease int64) error {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	if f.leases[lease] == nil {
		return systems.Definite(errNotFound)
	}
	f.kv[key] = fakeKV{value, lease}
	return nil
}

func (c *fakeLeaseClient) Read(ctx context.Context, key string) (string, bool, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire()
	v, ok := f.kv[key]
	return v.value, ok, nil
}

func (c *fakeLeaseClient) Close() error { return nil }

// memRec keeps the history in memory.
type memRec struct {
	mu sync.Mutex
	ev []history.Event
}

func (m *memRec) Append(e history.Event) error {
	m.mu.Lock()
	m.ev = append(m.ev, e)
	m.mu.Unlock()
	return nil
}

func (m *memRec) events() []history.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]history.Event(nil), m.ev...)
}

// TestLeaseWorkloadOnFake runs the lease workload against the in-memory
// store for four seconds (TTL 1 s, kept 2 s), then its final reads, and
// checks the history with the lease model: valid, every function there,
// every lease let go and seen gone, the final reads one per key and node,
// all finding nothing. With n1's keepalives stalled, the lease of the
// owner on n1 lapses and its key goes while the owner still tries: valid
// too.
func TestLeaseWorkloadOnFake(t *testing.T) {
	for _, stall := range []string{"", "n1"} {
		t.Run("stall="+stall, func(t *testing.T) {
			t.Parallel()
			rec := &memRec{}
			p := workloads.LeaseParams{Leases: 3, TTL: scenarios.Duration(time.Second), Keep: scenarios.Duration(2 * time.Second)}
			env := workloads.Env{
				System: newFakeLeases(stall),
				Nodes:  []systems.Peer{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
				Rate:   50, Concurrency: 5, Timeout: 200 * time.Millisecond,
				Params: p, Rec: rec, Clock: history.NewClock(), Rand: rand.New(rand.NewPCG(1, 0)),
				Carry: &workloads.Carry{},
			}
			w := workloads.LeaseWorkload{}
			if err := w.Supports(env.System); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			stats, err := w.Run(ctx, env)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			during := rec.events()
			first := stats.NextProcess(env.Concurrency)
			for _, e := range during {
				if int64(e.Process) >= first {
					t.Fatalf("Run used process %d, but NextProcess is %d", e.Process, first)
				}
			}
			if err := w.FinalReads(context.Background(), env, first); err != nil {
				t.Fatal(err)
			}
			events := rec.events()

			res, err := checker.Check(context.Background(), events, checker.Options{Model: w.Model()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != checker.Valid || len(res.Problems) > 0 {
				t.Fatalf("verdict %s, problems %v, reason %q, anomalies %+v", res.Verdict, res.Problems, res.Reason, res.Anomalies)
			}
			for _, f := range []string{"grant", "put", "keepalive", "release", "read"} {
				if res.Counts.ByF[f].OK == 0 {
					t.Errorf("no ok %s in the history: %+v", f, res.Counts.ByF)
				}
			}
			r := res.Lease
			if r.Granted < 3 || r.Released != r.Granted || r.Expired != r.Attached || r.Unknown != 0 {
				t.Errorf("report %+v: want every lease let go and seen gone", *r)
			}
			if stall == "" && (r.Kept != r.Attached || r.Lapsed != 0) {
				t.Errorf("report %+v: want every lease kept alive", *r)
			}
			if stall == "n1" && r.Lapsed == 0 {
				t.Errorf("report %+v: want the leases of n1's owner lapsed", *r)
			}

			keys := map[string]bool{}
			for _, e := range during {
				if e.F == "grant" {
					keys[e.Key] = true
				}
			}
			finals := 0
			ops, _, _ := history.Pair(events)
			for _, op := range ops {
				if int64(op.Process) >= first && op.F == "read" {
					finals++
					if op.Type != history.OK || !op.Output.IsNil() {
						t.Errorf("final read of %s through %s: %s %s, want ok null", op.Key, op.Node, op.Type, op.Output)
					}
				}
			}
			if finals != 3*len(keys) {
				t.Errorf("%d final reads, want %d (3 nodes x %d keys)", finals, 3*len(keys), len(keys))
			}
		})
	}
}

var leaseVocab = plugins.Default().Vocabulary()

// TestLeaseFields: the lease workload decodes its fields with their
// defaults, refuses bad ones with file, line and field, and writes them
// back into scenario.yaml so that they load the same.
func TestLeaseFields(t *testing.T) {
	doc := func(fields string) string {
		return "name: l\nseed: 1\nsystem: {name: etcd, nodes: 3}\nworkload: {name: lease" + fields + "}\ntime_limit: 30s\n"
	}
	for _, tt := range []struct {
		fields string
		want   workloads.LeaseParams
	}{
		{"", workloads.LeaseParams{Leases: 3, TTL: scenarios.Duration(5 * time.Second), Keep: scenarios.Duration(15 * time.Second)}},
		{", ttl: 4s", workloads.LeaseParams{Leases: 3, TTL: scenarios.Duration(4 * time.Second), Keep: scenarios.Duration(12 * time.Second)}},
		{", leases: 2, ttl: 2s, keep: 0s, rate: 20, concurrency: 4", workloads.LeaseParams{Leases: 2, TTL: scenarios.Duration(2 * time.Second), Keep: 0}},
	} {
		s, err := scenarios.Parse([]byte(doc(tt.fields)), "l.yaml", leaseVocab)
		if err != nil {
			t.Fatalf("%q: %v", tt.fields, err)
		}
		if s.Workload.Params != tt.want {
			t.Errorf("%q: params %+v, want %+v", tt.fields, s.Workload.Params, tt.want)
		}
		b, err := s.Resolved()
		if err != nil {
			t.Fatal(err)
		}
		again, err := scenarios.Parse(b, "resolved.yaml", leaseVocab)
		if err != nil {
			t.Fatalf("%q: the resolved scenario does not load: %v\n%s", tt.fields, err, b)
		}
		if again.Workload.Params != tt.want {
			t.Errorf("%q: resolved params %+v, want %+v\n%s", tt.fields, again.Workload.Params, tt.want, b)
		}
	}
	for _, tt := range []struct{ fields, want string }{
		{", ttl: 1s", "l.yaml:4:30: workload.ttl: 1s is out of range"},
		{", ttl: 2500ms", "etcd grants leases in whole seconds, and 2.5s is not"},
		{", leases: 0", "l.yaml:4:33: workload.leases"},
		{", keep: -1s", "workload.keep"},
		{", keys: 3", "keys does not apply to workload lease"},
	} {
		_, err := scenarios.Parse([]byte(doc(tt.fields)), "l.yaml", leaseVocab)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want one containing %q", tt.fields, err, tt.want)
		}
	}
}

func TestLeaseDescribe(t *testing.T) {
	env := workloads.Env{Rate: 20, Concurrency: 6, Timeout: time.Second,
		Params: workloads.LeaseParams{Leases: 3, TTL: scenarios.Duration(4 * time.Second), Keep: scenarios.Duration(12 * time.Second)}}
	got := workloads.LeaseWorkload{}.Describe(env)
	want := "lease: 3 owners, ttl 4s kept alive every 1.333s for 12s, 20 reads/s by 3 readers, 1s timeout"
	if got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if err := (workloads.LeaseWorkload{}).Supports(nil); err == nil {
		t.Error("Supports(nil) = nil, want an error")
	}
}

package workloads_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/byo"
	"github.com/lab-chaos/lab/systems/fake"
	"github.com/lab-chaos/lab/workloads"
)

var setVocab = plugins.Default().Vocabulary()

// TestSetFields: the set workload decodes its fields with their defaults,
// refuses bad ones with file, line and field, and writes them back into
// scenario.yaml so that they load the same.
func TestSetFields(t *testing.T) {
	doc := func(fields string) string {
		return "name: s\nseed: 1\nsystem: {name: etcd, nodes: 3}\nworkload: {name: set" + fields + "}\ntime_limit: 30s\n"
	}
	for _, tt := range []struct {
		fields string
		want   workloads.SetParams
	}{
		{"", workloads.SetParams{Keys: 1, ReadFraction: 0.1, FinalDeadline: scenarios.Duration(60 * time.Second)}},
		{", keys: 5", workloads.SetParams{Keys: 5, ReadFraction: 0.1, FinalDeadline: scenarios.Duration(60 * time.Second)}},
		{", keys: 3, read_fraction: 0.25, final_deadline: 2m, rate: 20", workloads.SetParams{Keys: 3, ReadFraction: 0.25, FinalDeadline: scenarios.Duration(2 * time.Minute)}},
		{", read_fraction: 0", workloads.SetParams{Keys: 1, ReadFraction: 0, FinalDeadline: scenarios.Duration(60 * time.Second)}},
	} {
		s, err := scenarios.Parse([]byte(doc(tt.fields)), "s.yaml", setVocab)
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
		again, err := scenarios.Parse(b, "resolved.yaml", setVocab)
		if err != nil {
			t.Fatalf("%q: the resolved scenario does not load: %v\n%s", tt.fields, err, b)
		}
		if again.Workload.Params != tt.want {
			t.Errorf("%q: resolved params %+v, want %+v\n%s", tt.fields, again.Workload.Params, tt.want, b)
		}
	}
	for _, tt := range []struct{ fields, want string }{
		{", keys: 0", "s.yaml:4:29: workload.keys"},
		{", keys: 1001", "s.yaml:4:29: workload.keys"},
		{", keys: many", "s.yaml:4:29: workload.keys"},
		{", read_fraction: 1", "s.yaml:4:38: workload.read_fraction: a read fraction of 1 adds nothing"},
		{", read_fraction: 1.5", "s.yaml:4:38: workload.read_fraction"},
		{", read_fraction: -0.1", "s.yaml:4:38: workload.read_fraction"},
		{", final_deadline: 500ms", "s.yaml:4:39: workload.final_deadline"},
		{", final_deadline: 60", "s.yaml:4:39: workload.final_deadline"},
		{", reads: serializable", "reads does not apply to workload set"},
	} {
		_, err := scenarios.Parse([]byte(doc(tt.fields)), "s.yaml", setVocab)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want one containing %q", tt.fields, err, tt.want)
		}
	}
}

// TestSetDescribeAndSupports: the one-line description, and a system
// without sets refused with a message that says so.
func TestSetDescribeAndSupports(t *testing.T) {
	env := workloads.Env{Rate: 50, Concurrency: 6, Timeout: time.Second,
		Params: workloads.SetParams{Keys: 2, ReadFraction: 0.07, FinalDeadline: scenarios.Duration(time.Minute)}}
	want := "set: 2 keys, 7% reads, 50 ops/s, 6 clients, 1s timeout, final reads within 1m"
	if got := (workloads.SetWorkload{}).Describe(env); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	inst, err := fake.System{}.Open(systems.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := (workloads.SetWorkload{}).Supports(inst); err != nil {
		t.Errorf("Supports(fake) = %v, want nil", err)
	}
	err = workloads.SetWorkload{}.Supports(&fakeLeases{})
	if err == nil || !strings.Contains(err.Error(), "the set workload needs a system with sets") {
		t.Errorf("Supports(a system without sets) = %v, want the set workload's refusal", err)
	}
	if w, ok := workloads.Lookup(workloads.All, "set"); !ok || w.Model() != "set" {
		t.Errorf("Lookup(All, set) = %v, %v; want the set workload, model set", w, ok)
	}
}

// setRun runs the set workload on sys for d, then its final reads, and
// returns the history and the first process of the final reads.
func setRun(t *testing.T, sys systems.Instance, p workloads.SetParams, d time.Duration, beforeFinal func()) ([]history.Event, int64, workloads.Env) {
	t.Helper()
	rec := &memRec{}
	env := workloads.Env{
		System: sys,
		Nodes:  []systems.Peer{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
		Rate:   400, Concurrency: 6, Timeout: 100 * time.Millisecond,
		Params: p, Rec: rec, Clock: history.NewClock(), Rand: rand.New(rand.NewPCG(5, 6)),
		Carry: &workloads.Carry{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	stats, err := workloads.SetWorkload{}.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Started < 50 {
		t.Fatalf("only %d operations started", stats.Started)
	}
	if beforeFinal != nil {
		beforeFinal()
	}
	first := stats.NextProcess(env.Concurrency)
	if err := (workloads.SetWorkload{}).FinalReads(context.Background(), env, first); err != nil {
		t.Fatalf("FinalReads: %v", err)
	}
	return rec.events(), first, env
}

// checkSetHistory checks what every set history must be: each process
// invokes one operation at a time and records nothing after an unknown
// outcome; every add's value is an integer no other add has; every ok
// read's value is a JSON array.
func checkSetHistory(t *testing.T, ev []history.Event) {
	t.Helper()
	inFlight := map[history.Process]bool{}
	ended := map[history.Process]bool{}
	elems := map[string]bool{}
	for i, e := range ev {
		if ended[e.Process] {
			t.Fatalf("event %d: process %s goes on after an unknown outcome: %+v", i+1, e.Process, e)
		}
		if e.Type == history.Invoke {
			if inFlight[e.Process] {
				t.Fatalf("event %d: process %s invokes twice", i+1, e.Process)
			}
			inFlight[e.Process] = true
			if e.F == "add" {
				if _, ok := e.Value.Int(); !ok || elems[string(e.Value)] {
					t.Fatalf("event %d: add of %s, want an integer added once", i+1, e.Value)
				}
				elems[string(e.Value)] = true
			}
			continue
		}
		if !inFlight[e.Process] {
			t.Fatalf("event %d: process %s completes with nothing in flight", i+1, e.Process)
		}
		inFlight[e.Process] = false
		if e.Type == history.Info {
			ended[e.Process] = true
		}
		if e.F == "read" && e.Type == history.OK {
			if _, ok := e.Value.Ints(); !ok {
				t.Fatalf("event %d: read returned %s, want a list of integers", i+1, e.Value)
			}
		}
	}
}

// finalReads are the ok reads of processes from first on, by node and
// key.
func finalReads(ev []history.Event, first int64) map[string][]history.Event {
	out := map[string][]history.Event{}
	for _, e := range ev {
		if int64(e.Process) >= first && e.F == "read" && e.Type == history.OK {
			out[e.Node+"/"+e.Key] = append(out[e.Node+"/"+e.Key], e)
		}
	}
	return out
}

// TestSetWorkloadOnFake runs the set workload against the fake system:
// valid when it is right, invalid with the lost elements named when it
// drops every fifth add. Either way the final reads read every key once
// through every node, with processes firstProc + i*keys + k.
func TestSetWorkloadOnFake(t *testing.T) {
	for _, mode := range []string{fake.Linearizable, fake.LostWrites} {
		t.Run(mode, func(t *testing.T) {
			inst, err := fake.System{}.Open(systems.Config{Params: fake.Params{Mode: mode}})
			if err != nil {
				t.Fatal(err)
			}
			p := workloads.SetParams{Keys: 2, ReadFraction: 0.2, FinalDeadline: scenarios.Duration(5 * time.Second)}
			ev, first, env := setRun(t, inst, p, 400*time.Millisecond, nil)
			checkSetHistory(t, ev)

			fr := finalReads(ev, first)
			last := map[string]map[int64]bool{} // per key, what the final reads held
			for i, n := range env.Nodes {
				for k := range p.Keys {
					reads := fr[n.Name+"/"+strconv.Itoa(k)]
					if len(reads) != 1 {
						t.Fatalf("%s key %d: %d final reads, want 1", n.Name, k, len(reads))
					}
					if want := history.Process(first + int64(i*p.Keys+k)); reads[0].Process != want {
						t.Errorf("%s key %d: final read by process %s, want %s", n.Name, k, reads[0].Process, want)
					}
					vals, _ := reads[0].Value.Ints()
					key := strconv.Itoa(k)
					if last[key] == nil {
						last[key] = map[int64]bool{}
					}
					for _, v := range vals {
						last[key][v] = true
					}
				}
			}
			// The lost elements are exactly the acknowledged adds the
			// final reads lack, named key/element.
			var wantLost []string
			var reads, adds int
			for _, e := range ev {
				switch {
				case e.F == "add" && e.Type == history.OK:
					adds++
					if v, _ := e.Value.Int(); !last[e.Key][v] {
						wantLost = append(wantLost, e.Key+"/"+strconv.FormatInt(v, 10))
					}
				case e.F == "read" && e.Type == history.OK && int64(e.Process) < first:
					reads++
				}
			}
			if reads == 0 || adds == 0 {
				t.Fatalf("%d adds and %d reads acknowledged during the run, want some of each", adds, reads)
			}
			res, err := checker.Check(context.Background(), ev, checker.Options{Model: workloads.SetWorkload{}.Model()})
			if err != nil {
				t.Fatal(err)
			}
			if res.Set == nil {
				t.Fatalf("no set account: %+v", res)
			}
			slices.Sort(wantLost)
			gotLost := slices.Sorted(slices.Values(res.Set.Lost))
			if !slices.Equal(gotLost, wantLost) {
				t.Errorf("lost %v, want %v", gotLost, wantLost)
			}
			switch mode {
			case fake.Linearizable:
				if res.Verdict != checker.Valid || len(wantLost) != 0 || res.Set.Stable != adds {
					t.Errorf("verdict %s, %d lost, %d stable of %d acknowledged; want valid, none lost, all stable: %+v", res.Verdict, len(wantLost), res.Set.Stable, adds, res.Anomalies)
				}
			case fake.LostWrites:
				// Every fifth add served is dropped: about a fifth of the
				// acknowledged ones.
				if res.Verdict != checker.Invalid || len(wantLost) < adds/6 || len(res.Anomalies) == 0 || res.Anomalies[0].Kind != "lost" {
					t.Errorf("verdict %s, %d of %d acknowledged adds lost, anomalies %+v; want invalid, about a fifth lost", res.Verdict, len(wantLost), adds, res.Anomalies)
				}
			}
			t.Logf("%d events, %d adds acknowledged, %d reads, %d lost", len(ev), adds, reads, len(wantLost))
		})
	}
}

var (
	errRefused = systems.Definite(errors.New("connection refused (injected)"))
	errLost    = errors.New("connection lost after the request was sent (injected)")
)

// flakySets is the fake system with errors injected: every 7th add is
// refused before it happens (definite), every 11th happens and then loses
// its answer (unknown), every 4th read during the run loses its answer;
// in the final reads, the first read through each node loses its answer.
type flakySets struct {
	*fake.Instance
	mu          sync.Mutex
	adds, reads int
	final       bool
	failedOnce  map[string]bool
}

func (f *flakySets) SetClient(ctx context.Context, node systems.Peer) (systems.SetClient, error) {
	c, err := f.Instance.SetClient(ctx, node)
	return &flakyClient{SetClient: c, f: f, node: node.Name}, err
}

type flakyClient struct {
	systems.SetClient
	f    *flakySets
	node string
}

func (c *flakyClient) Add(ctx context.Context, key, element string) error {
	c.f.mu.Lock()
	c.f.adds++
	n := c.f.adds
	c.f.mu.Unlock()
	if n%7 == 0 {
		return errRefused
	}
	if err := c.SetClient.Add(ctx, key, element); err != nil {
		return err
	}
	if n%11 == 0 {
		return errLost
	}
	return nil
}

func (c *flakyClient) ReadSet(ctx context.Context, key string) ([]string, error) {
	c.f.mu.Lock()
	c.f.reads++
	lose := !c.f.final && c.f.reads%4 == 0
	if c.f.final && !c.f.failedOnce[c.node] {
		c.f.failedOnce[c.node] = true
		lose = true
	}
	c.f.mu.Unlock()
	if lose {
		return nil, errLost
	}
	return c.SetClient.ReadSet(ctx, key)
}

// TestSetWorkloadOutcomes: a refused add is recorded as a fail, an add or
// read whose answer was lost as unknown (info, never fail), and the
// process goes on under a new number after it; a final read whose answer
// was lost is tried again, under a new process numbered after every
// (node, key) one, and the history stays valid.
func TestSetWorkloadOutcomes(t *testing.T) {
	inst, err := fake.System{}.Open(systems.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sys := &flakySets{Instance: inst.(*fake.Instance), failedOnce: map[string]bool{}}
	p := workloads.SetParams{Keys: 2, ReadFraction: 0.3, FinalDeadline: scenarios.Duration(5 * time.Second)}
	ev, first, env := setRun(t, sys, p, 400*time.Millisecond, func() {
		sys.mu.Lock()
		sys.final = true
		sys.mu.Unlock()
	})
	checkSetHistory(t, ev)
	count := map[string]int{}
	for i, e := range ev {
		switch e.Type {
		case history.Fail:
			count["fail "+e.F]++
			if e.Error != errRefused.Error() {
				t.Errorf("event %d: fail with error %q, want only the refused adds to fail", i+1, e.Error)
			}
		case history.Info:
			count["info "+e.F]++
			// A lost answer, or an operation the deadline cut (the run's
			// end, or its timeout on a loaded machine): both unknown.
			if e.Error != errLost.Error() && e.Error != context.DeadlineExceeded.Error() && e.Error != context.Canceled.Error() {
				t.Errorf("event %d: info with error %q, want only lost answers and deadlines unknown", i+1, e.Error)
			}
		}
	}
	for _, k := range []string{"fail add", "info add", "info read"} {
		if count[k] == 0 {
			t.Errorf("no %s in the history (%v): the injected errors did not show", k, count)
		}
	}
	if count["fail read"] != 0 {
		t.Errorf("%d reads recorded as failed; every read error injected was unknown", count["fail read"])
	}
	// The first final read through each node (key 0, the first it reads)
	// lost its answer: one info, then an ok under a new process, above
	// every (node, key) process.
	fr := finalReads(ev, first)
	above := first + int64(len(env.Nodes)*p.Keys)
	for i, n := range env.Nodes {
		for k := range p.Keys {
			reads := fr[n.Name+"/"+strconv.Itoa(k)]
			if len(reads) != 1 {
				t.Fatalf("%s key %d: %d ok final reads, want 1", n.Name, k, len(reads))
			}
			got := int64(reads[0].Process)
			if k == 0 && got < above {
				t.Errorf("%s key 0: the retry after the lost answer is process %d, want one from %d on", n.Name, got, above)
			}
			if k > 0 && got != first+int64(i*p.Keys+k) {
				t.Errorf("%s key %d: process %d, want %d", n.Name, k, got, first+int64(i*p.Keys+k))
			}
		}
	}
	res, err := checker.Check(context.Background(), ev, checker.Options{Model: "set"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Valid || len(res.Set.Lost) != 0 {
		t.Errorf("verdict %s, lost %v, anomalies %+v; want valid", res.Verdict, res.Set.Lost, res.Anomalies)
	}
	t.Logf("%d events, outcomes %v", len(ev), count)
}

// TestSetFinalReadsDeadline: a node that never answers (paused) holds the
// final reads no longer than the final deadline; its reads are recorded
// as unknown, never as failed, the other nodes are read all the same, and
// the error names the node and its keys.
func TestSetFinalReadsDeadline(t *testing.T) {
	opened, err := fake.System{}.Open(systems.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inst := opened.(*fake.Instance)
	inst.NodeState("n2", "paused")
	rec := &memRec{}
	env := workloads.Env{
		System: inst,
		Nodes:  []systems.Peer{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}},
		Rate:   100, Concurrency: 3, Timeout: 100 * time.Millisecond,
		Params: workloads.SetParams{Keys: 2, ReadFraction: 0.1, FinalDeadline: scenarios.Duration(300 * time.Millisecond)},
		Rec:    rec, Clock: history.NewClock(), Rand: rand.New(rand.NewPCG(1, 1)),
	}
	began := time.Now()
	err = workloads.SetWorkload{}.FinalReads(context.Background(), env, 10)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("FinalReads took %s with a 300ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "n2: no final read of key 0, 1 succeeded within 300ms") {
		t.Errorf("FinalReads error %v, want one naming n2 and its keys", err)
	}
	oks := map[string]int{}
	var n2Infos int
	for _, e := range rec.events() {
		switch {
		case e.Type == history.Fail:
			t.Errorf("a read recorded as failed: %+v", e)
		case e.Type == history.OK:
			oks[e.Node]++
		case e.Type == history.Info && e.Node == "n2":
			n2Infos++
		}
	}
	if oks["n1"] != 2 || oks["n3"] != 2 || oks["n2"] != 0 || n2Infos == 0 {
		t.Errorf("ok reads by node %v and %d unknown through n2; want 2 through n1 and n3, none ok but some unknown through n2", oks, n2Infos)
	}
}

// systemFile is a system file whose adapter serves the workloads listed
// (YAML, such as "[register, set]"), with an adapter in sh that answers
// every add ok and every read-set with ["1","2"].
const systemFile = `name: toy
nodes: [1, 3]
files:
  debian:
    packages: [toy]
    binaries: [/usr/bin/toy]
command: /usr/bin/toy --listen {{.Addr}}
ready: {tcp: 7000}
adapter:
  command: sh {{.Dir}}/toy.sh {{.Name}}
  workloads: WORKLOADS
`

const toyAdapter = `#!/bin/sh
while read -r line; do
  id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
  case "$line" in
    *'"f":"read-set"'*) echo "{\"id\":$id,\"type\":\"ok\",\"value\":[\"1\",\"2\"]}" ;;
    *) echo "{\"id\":$id,\"type\":\"ok\"}" ;;
  esac
done
`

// TestSetOnSystemFiles: a system file serves the set workload when its
// adapter lists set, alone or with register, and is refused it otherwise;
// its set clients are adapters that the workload's operations reach.
// Nothing here starts a node: only the file is read and the adapter run.
func TestSetOnSystemFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "toy.sh"), []byte(toyAdapter), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		workloads     string
		register, set bool
	}{
		{"[register]", true, false},
		{"[set]", false, true},
		{"[register, set]", true, true},
		{"[set, register]", true, true},
		{"[queue]", false, false},
	} {
		path := filepath.Join(dir, "toy.yaml")
		if err := os.WriteFile(path, []byte(strings.Replace(systemFile, "WORKLOADS", tt.workloads, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		inst, err := byo.System{}.Open(systems.Config{Params: byo.Params{File: path}})
		if err != nil {
			t.Fatalf("%s: %v", tt.workloads, err)
		}
		if err := (workloads.RegisterWorkload{}).Supports(inst); (err == nil) != tt.register {
			t.Errorf("%s: the register workload's Supports = %v, want supported=%v", tt.workloads, err, tt.register)
		}
		err = workloads.SetWorkload{}.Supports(inst)
		if (err == nil) != tt.set {
			t.Errorf("%s: the set workload's Supports = %v, want supported=%v", tt.workloads, err, tt.set)
		}
		if systems.NameOf(byo.System{}, inst) != "toy" {
			t.Errorf("%s: the instance is called %q, want the file's name toy", tt.workloads, systems.NameOf(byo.System{}, inst))
		}
		if !tt.set {
			if err == nil || !strings.Contains(err.Error(), "the set workload: toy's adapter does not serve it") {
				t.Errorf("%s: refusal %v, want the set workload's", tt.workloads, err)
			}
			continue
		}
		sets, ok := inst.(systems.Sets)
		if !ok {
			continue // reported above
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := sets.SetClient(ctx, systems.Peer{Name: "n1", Addr: netip.MustParseAddr("10.0.0.1")})
		if err != nil {
			cancel()
			t.Fatalf("%s: SetClient: %v", tt.workloads, err)
		}
		if err := c.Add(ctx, "0", "7"); err != nil {
			t.Errorf("%s: Add through the adapter: %v", tt.workloads, err)
		}
		got, err := c.ReadSet(ctx, "0")
		if err != nil || !slices.Equal(got, []string{"1", "2"}) {
			t.Errorf("%s: ReadSet through the adapter = %q, %v; want [1 2]", tt.workloads, got, err)
		}
		c.Close()
		cancel()
	}
}

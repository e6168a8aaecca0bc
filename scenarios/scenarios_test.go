package scenarios_test

import (
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/workloads"

	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// vocab is the lab's own plugins: the scenarios in this folder and in
// testdata name them.
var vocab = plugins.Default().Vocabulary()

func load(path string) (*scenarios.Scenario, error) { return scenarios.Load(path, vocab) }
func parse(data []byte, name string) (*scenarios.Scenario, error) {
	return scenarios.Parse(data, name, vocab)
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bad")

// pos is where an error points: line, column and field path.
type pos struct {
	line, col int
	field     string
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		want []pos
	}{
		{"unknown-field", []pos{{1, 1, "time_limit"}, {4, 3, "system.node"}, {5, 1, "time_limt"}, {7, 3, "workload.concurency"}, {9, 5, "faults[0].duration"}, {12, 5, "faults[0].durration"}}},
		{"wrong-type", []pos{{4, 10, "system.nodes"}, {5, 12, "system.version"}, {7, 9, "workload.keys"}, {8, 9, "workload.rate"}, {9, 16, "workload.concurrency"}, {10, 8, "workload.mix"}, {12, 14, "final_reads"}, {14, 3, "faults"}}},
		{"bad-duration", []pos{{4, 13, "time_limit"}, {6, 12, "workload.timeout"}, {11, 15, "faults[0].duration"}, {12, 11, "recovery"}}},
		{"out-of-range", []pos{{2, 7, "seed"}, {5, 10, "system.nodes"}, {7, 9, "workload.keys"}, {8, 9, "workload.rate"}, {9, 16, "workload.concurrency"}, {10, 12, "workload.timeout"}, {12, 5, "workload.mix"}, {15, 13, "time_limit"}, {16, 11, "recovery"}}},
		{"bad-node", []pos{{9, 11, "faults[0].node"}, {14, 11, "faults[1].node"}}},
		{"bad-enum", []pos{{3, 9, "system.name"}, {6, 9, "workload.name"}, {10, 11, "faults[0].kind"}}},
		{"bad-name", []pos{{1, 7, "name"}, {4, 10, "recovery"}}},
		{"duplicate-key", []pos{{8, 3, "workload.keys"}, {9, 1, "time_limit"}}},
		{"multi-doc", []pos{{6, 1, ""}}},
		{"anchors", []pos{{4, 13, "time_limit"}, {9, 15, "faults[0].duration"}}},
		{"overlap", []pos{{16, 9, "faults[2].at"}, {21, 9, "faults[3].at"}}},
		{"overlap-together", []pos{{10, 36, "faults[3].at"}, {14, 47, "faults[7].at"}, {15, 63, "faults[8].at"}}},
		{"sequence", []pos{{11, 30, "faults[0].steps[1].target"}, {12, 58, "faults[0].steps[2].duration"}, {13, 39, "faults[0].steps[3].at"},
			{18, 9, "faults[1].steps[0].kind"}, {23, 61, "faults[1].steps[2].after"}, {24, 32, "faults[1].steps[3].after"}, {25, 5, "faults[2].steps"}}},
		{"past-limit", []pos{{8, 9, "faults[0].at"}, {12, 9, "faults[1].at"}, {16, 9, "faults[2].at"}, {20, 9, "faults[3].at"}}},
		{"schedule", []pos{{10, 12, "faults[0].every"}, {15, 12, "faults[1].times"}, {18, 9, "faults[2].at"}, {19, 15, "faults[2].duration"}, {25, 12, "faults[3].every"}}},
		{"missing", []pos{{1, 1, "name"}, {1, 1, "system"}, {1, 1, "time_limit"}, {5, 5, "faults[0].kind"}, {5, 5, "faults[0].at"}}},
		{"syntax", []pos{{3, 0, ""}}},
		{"empty", []pos{{0, 0, ""}}},
		{"not-mapping", []pos{{1, 1, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.name+".yaml")
			s, err := load(path)
			if err == nil {
				t.Fatalf("load(%s)=%+v, want an error", path, s)
			}
			var errs scenarios.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("load(%s) error is %T, want Errors", path, err)
			}
			var got []pos
			for _, e := range errs {
				if e.File != path {
					t.Errorf("error %q names file %q, want %q", e, e.File, path)
				}
				got = append(got, pos{e.Line, e.Column, e.Field})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("load(%s) errors at\n%v, want\n%v\nerrors:\n%v", path, got, tt.want, err)
			}
			golden := filepath.Join("testdata", "bad", tt.name+".golden")
			text := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test -update to create it)", rerr)
			}
			if text != string(want) {
				t.Errorf("load(%s) errors:\n%s\nwant (%s):\n%s", path, text, golden, want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		in   scenarios.Error
		want string
	}{
		{"full", scenarios.Error{File: "a.yaml", Line: 3, Column: 5, Field: "faults[1].duration", Msg: `"12" is bad`, Hint: "fix it"}, `a.yaml:3:5: faults[1].duration: "12" is bad (hint: fix it)`},
		{"no hint", scenarios.Error{File: "a.yaml", Line: 3, Column: 5, Field: "name", Msg: "bad"}, "a.yaml:3:5: name: bad"},
		{"no column", scenarios.Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{"no position", scenarios.Error{File: "a.yaml", Msg: "bad", Hint: "h"}, "a.yaml: bad (hint: h)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Error(); got != tt.want {
				t.Errorf("Error()=%q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := parse([]byte("name: x\nsystem: {name: etcd}\ntime_limit: 60s\nbogus: 1\n"), "x.yaml")
	var e *scenarios.Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *scenarios.Error) failed", err)
	}
	if e.Line != 4 || e.Field != "bogus" {
		t.Errorf("first error %q at line %d field %q, want line 4 field bogus", e, e.Line, e.Field)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := load(filepath.Join("testdata", "no-such-file.yaml"))
	want := "testdata/no-such-file.yaml: cannot read scenario: no such file or directory"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("load(missing)=%v, want %q...", err, want)
	}
}

func TestShippedScenarios(t *testing.T) {
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"partition.yaml", "etcd-serializable-reads.yaml"} {
		found := false
		for _, q := range paths {
			found = found || q == p
		}
		if !found {
			t.Errorf("scenario %s is missing", p)
		}
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			s, err := load(p)
			if err != nil {
				t.Fatalf("load(%s): %v", p, err)
			}
			if want := strings.TrimSuffix(p, ".yaml"); s.Name != want {
				t.Errorf("load(%s).Name=%q, want %q (the file name)", p, s.Name, want)
			}
			if !s.SeedSet {
				t.Errorf("load(%s) has no seed; shipped scenarios are reproducible", p)
			}
		})
	}
}

func TestShippedSerializable(t *testing.T) {
	s, err := load("etcd-serializable-reads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &scenarios.Scenario{
		Name: "etcd-serializable-reads", Seed: 7, SeedSet: true,
		System: scenarios.System{Name: "etcd", Nodes: 3},
		Workload: scenarios.Workload{Name: "register", Rate: 60, Concurrency: 6, Timeout: scenarios.Duration(time.Second),
			Params: workloads.Register{Keys: 4, Reads: "serializable", Mix: workloads.Mix{Read: 2, Write: 1, CAS: 1}}},
		TimeLimit: scenarios.Duration(30 * time.Second),
		Faults: []scenarios.Fault{{Kind: "partition", At: scenarios.Duration(8 * time.Second), Duration: scenarios.Duration(14 * time.Second), Times: 1,
			Params: nemesis.Partition{Shape: nemesis.ShapeIsolate, Node: "n3", Mode: "silent"}, Line: 42}},
		Recovery:   scenarios.Duration(8 * time.Second),
		FinalReads: true,
		Schedule:   scenarios.Schedule{Mode: "fixed"},
		Runtime:    "docker",
		Path:       "etcd-serializable-reads.yaml",
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Load=%+v\nwant %+v", s, want)
	}
}

const minimal = "name: minimal\nsystem:\n  name: etcd\ntime_limit: 30s\n"

func TestDefaults(t *testing.T) {
	s, err := parse([]byte(minimal), "minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &scenarios.Scenario{
		Name:   "minimal",
		System: scenarios.System{Name: "etcd", Nodes: 3},
		Workload: scenarios.Workload{Name: "register", Rate: 50, Concurrency: 6, Timeout: scenarios.Duration(time.Second),
			Params: workloads.Register{Keys: 8, Reads: "linearizable", Mix: workloads.Mix{Read: 2, Write: 1, CAS: 1}}},
		TimeLimit:  scenarios.Duration(30 * time.Second),
		Recovery:   scenarios.Duration(10 * time.Second),
		FinalReads: true,
		Schedule:   scenarios.Schedule{Mode: "fixed"},
		Runtime:    "docker",
		Path:       "minimal.yaml",
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("parse(minimal)=%+v\nwant %+v", s, want)
	}
	if got, want := s.NodeNames(), []string{"n1", "n2", "n3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NodeNames()=%q, want %q", got, want)
	}
}

func TestFaultDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want scenarios.Fault
	}{
		{"single", "{kind: partition, shape: isolate, at: 5s, duration: 2s}", scenarios.Fault{Kind: "partition", At: scenarios.Duration(5 * time.Second), Duration: scenarios.Duration(2 * time.Second), Times: 1, Line: 6, Params: nemesis.Partition{Shape: "isolate", Mode: "silent"}}},
		{"every fills times", "{kind: partition, shape: random-halves, at: 5s, duration: 2s, every: 10s}", scenarios.Fault{Kind: "partition", At: scenarios.Duration(5 * time.Second), Duration: scenarios.Duration(2 * time.Second), Every: scenarios.Duration(10 * time.Second), Times: 3, Line: 6, Params: nemesis.Partition{Shape: "random-halves", Mode: "silent"}}},
		{"every and times", "{kind: partition, shape: random-halves, at: 5s, duration: 2s, every: 10s, times: 2}", scenarios.Fault{Kind: "partition", At: scenarios.Duration(5 * time.Second), Duration: scenarios.Duration(2 * time.Second), Every: scenarios.Duration(10 * time.Second), Times: 2, Line: 6, Params: nemesis.Partition{Shape: "random-halves", Mode: "silent"}}},
		{"seed picks the node", "{kind: partition, shape: isolate, at: 0s, duration: 30s}", scenarios.Fault{Kind: "partition", Duration: scenarios.Duration(30 * time.Second), Times: 1, Line: 6, Params: nemesis.Partition{Shape: "isolate", Mode: "silent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse([]byte(minimal+"faults:\n  - "+tt.in+"\n"), "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Faults) != 1 || !reflect.DeepEqual(s.Faults[0], tt.want) {
				t.Errorf("Faults=%+v, want [%+v]", s.Faults, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	s, err := parse([]byte(minimal), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.SeedSet {
		t.Fatalf("SeedSet=true without a seed in the file")
	}
	s.Resolve(42)
	if s.Seed != 42 || !s.SeedSet {
		t.Errorf("after Resolve(42): Seed=%d SeedSet=%v, want 42 true", s.Seed, s.SeedSet)
	}
	s.Resolve(43)
	if s.Seed != 42 {
		t.Errorf("Resolve(43) replaced seed 42 with %d", s.Seed)
	}
	z, err := parse([]byte(minimal+"seed: 0\n"), "z.yaml")
	if err != nil || z.SeedSet {
		t.Errorf("seed: 0 gave SeedSet=%v, err %v; want false, nil", z != nil && z.SeedSet, err)
	}
}

func TestResolvedRoundTrip(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"partition", "partition.yaml"},
		{"serializable", "etcd-serializable-reads.yaml"},
		{"minimal", ""},
		{"everything", "testdata/everything.yaml"},
		{"sequence", "etcd-part-kill.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *scenarios.Scenario
			var err error
			if tt.in == "" {
				s, err = parse([]byte(minimal), "minimal.yaml")
			} else {
				s, err = load(tt.in)
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Resolve(99)
			out, err := s.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "scenario.yaml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			back, err := load(path)
			if err != nil {
				t.Fatalf("load(Resolved()): %v\n%s", err, out)
			}
			back.Path = s.Path
			// Lines are where each fault starts in its file, and the
			// written file lays them out anew.
			for i := range back.Faults {
				back.Faults[i].Line, s.Faults[i].Line = 0, 0
				back.Faults[i].Params, s.Faults[i].Params = withoutLines(back.Faults[i].Params), withoutLines(s.Faults[i].Params)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("load(Resolved())=%+v\nwant %+v\nYAML:\n%s", back, s, out)
			}
		})
	}
}

func TestOccurrences(t *testing.T) {
	s := func(d float64) time.Duration { return time.Duration(d * float64(time.Second)) }
	D := func(d float64) scenarios.Duration { return scenarios.Duration(s(d)) }
	tests := []struct {
		name  string
		f     scenarios.Fault
		limit time.Duration
		want  []scenarios.Window
	}{
		{"single", scenarios.Fault{At: D(10), Duration: D(12), Times: 1}, s(60), []scenarios.Window{{s(10), s(22)}}},
		{"times zero without every", scenarios.Fault{At: D(10), Duration: D(12)}, s(60), []scenarios.Window{{s(10), s(22)}}},
		{"times without every", scenarios.Fault{At: D(10), Duration: D(12), Times: 3}, s(60), []scenarios.Window{{s(10), s(22)}}},
		{"repeated", scenarios.Fault{At: D(5), Duration: D(2), Every: D(10), Times: 3}, s(60), []scenarios.Window{{s(5), s(7)}, {s(15), s(17)}, {s(25), s(27)}}},
		{"as many as fit", scenarios.Fault{At: D(5), Duration: D(2), Every: D(10)}, s(30), []scenarios.Window{{s(5), s(7)}, {s(15), s(17)}, {s(25), s(27)}}},
		{"fits exactly", scenarios.Fault{At: D(0), Duration: D(5), Every: D(10)}, s(25), []scenarios.Window{{0, s(5)}, {s(10), s(15)}, {s(20), s(25)}}},
		{"clipped end", scenarios.Fault{At: D(50), Duration: D(20), Times: 1}, s(60), []scenarios.Window{{s(50), s(60)}}},
		{"clipped repeats", scenarios.Fault{At: D(5), Duration: D(4), Every: D(10), Times: 5}, s(28), []scenarios.Window{{s(5), s(9)}, {s(15), s(19)}, {s(25), s(28)}}},
		{"none fit fully", scenarios.Fault{At: D(5), Duration: D(40), Every: D(50)}, s(30), []scenarios.Window{{s(5), s(30)}}},
		{"at the limit", scenarios.Fault{At: D(60), Duration: D(1), Times: 1}, s(60), nil},
		{"no duration", scenarios.Fault{At: D(1), Times: 1}, s(60), nil},
		{"negative at", scenarios.Fault{At: D(-1), Duration: D(1), Times: 1}, s(60), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Occurrences(tt.limit); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Occurrences(%s)=%v, want %v", tt.limit, got, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Millisecond, "500ms"},
		{10 * time.Second, "10s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + time.Minute, "1h1m"},
		{time.Hour + time.Second, "1h0m1s"},
	}
	for _, tt := range tests {
		if got := scenarios.Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%v).String()=%q, want %q", tt.in, got, tt.want)
		}
		back, err := time.ParseDuration(scenarios.Duration(tt.in).String())
		if err != nil || back != tt.in {
			t.Errorf("ParseDuration(%q)=%v, %v; want %v", scenarios.Duration(tt.in), back, err, tt.in)
		}
	}
}

func TestRandomPlanIsSeededAndFits(t *testing.T) {
	src := minimal + `schedule: {mode: random, mean_interval: 3s}
faults:
  - {kind: partition, shape: majority-minority, duration: 2s}
  - {kind: pause, target: one, duration: 1s}
`
	s, err := parse([]byte(src), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Resolve(11)
	a, b := s.Plan(), s.Plan()
	if !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Fatalf("plan not repeatable or empty: %v vs %v", a, b)
	}
	var prevEnd time.Duration
	kinds := map[int]bool{}
	for _, p := range a {
		if p.Start < prevEnd || p.End > time.Duration(s.TimeLimit) {
			t.Errorf("occurrence %+v overlaps the previous (ending %s) or passes the time limit", p, prevEnd)
		}
		if got, want := p.End-p.Start, time.Duration(s.Faults[p.Fault].Duration); got != want {
			t.Errorf("occurrence %+v lasts %s, want %s", p, got, want)
		}
		prevEnd = p.End
		kinds[p.Fault] = true
	}
	if len(kinds) != 2 {
		t.Errorf("a 30 s plan with a 3 s mean used %d of the 2 faults of the mix", len(kinds))
	}
	s2, _ := parse([]byte(src), "r.yaml")
	s2.Resolve(12)
	if reflect.DeepEqual(s2.Plan(), a) {
		t.Error("another seed gave the same plan")
	}
}

func TestFaultKindErrors(t *testing.T) {
	tests := []struct{ name, fault, want string }{
		{"kill takes no shape", "{kind: kill, shape: isolate, at: 1s, duration: 2s}", "faults[0].shape: shape does not apply to kind kill"},
		{"groups need groups", "{kind: partition, shape: groups, at: 1s, duration: 2s}", `faults[0].groups: required field "groups" is missing for partition groups`},
		{"groups name nodes", "{kind: partition, shape: groups, groups: [[n1], [n9]], at: 1s, duration: 2s}", `faults[0].groups: node "n9" does not exist`},
		{"one-way is not reflexive", "{kind: partition, shape: one-way, from: [n1], to: [n1, n2], at: 1s, duration: 2s}", `node "n1" is in both from and to`},
		{"clock needs offset", "{kind: clock, at: 1s, duration: 2s}", `required field "offset" is missing for kind clock`},
		{"packet loss is a fraction", "{kind: packet, packet: {loss: 20}, at: 1s, duration: 2s}", "faults[0].packet.loss: 20 is out of range"},
		{"target nodes needs nodes", "{kind: pause, target: nodes, at: 1s, duration: 2s}", `required field "nodes" is missing for target nodes`},
		{"reorder needs a delay", "{kind: packet, packet: {reorder: 0.2}, at: 1s, duration: 2s}", "faults[0].packet: reorder needs a delay"},
		{"a rate tc can read", "{kind: packet, packet: {rate: 10 bananas}, at: 1s, duration: 2s}", "faults[0].packet.rate: "},
		{"jitter needs a delay", "{kind: packet, packet: {jitter: 5ms}, at: 1s, duration: 2s}", "faults[0].packet: jitter needs a delay"},
		{"random takes no at", "", ""},
	}
	for _, tt := range tests[:len(tests)-1] {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(minimal+"faults:\n  - "+tt.fault+"\n"), "k.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parse(%s) error = %v, want it to contain %q", tt.fault, err, tt.want)
			}
		})
	}
	_, err := parse([]byte(minimal+"schedule: {mode: random, mean_interval: 5s}\nfaults:\n  - {kind: kill, at: 1s, duration: 2s}\n"), "k.yaml")
	if err == nil || !strings.Contains(err.Error(), "at does not apply with schedule mode random") {
		t.Errorf("random schedule with at: %v", err)
	}
}

// TestEveryShippedScenarioLoads keeps every scenario in this folder valid.
func TestEveryShippedScenarioLoads(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("scenario files: %v %v", files, err)
	}
	for _, f := range files {
		s, err := load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if s.Name+".yaml" != f {
			t.Errorf("%s is named %q: name the file after the scenario", f, s.Name)
		}
		if len(s.Plan()) == 0 {
			t.Errorf("%s plans no fault", f)
		}
	}
}

// withoutLines zeroes the lines of a sequence's steps.
func withoutLines(params any) any {
	p, ok := params.(nemesis.SequenceParams)
	if !ok {
		return params
	}
	p.Steps = slices.Clone(p.Steps)
	for i := range p.Steps {
		p.Steps[i].Line = 0
	}
	return p
}

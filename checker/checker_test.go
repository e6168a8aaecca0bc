package checker

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// hop is a hand-written operation for tests: times in seconds.
type hop struct {
	proc      int64
	f, key    string
	in, out   string // JSON
	typ       history.Type
	call, ret float64
}

func hist(ops ...hop) []history.Event {
	var ev []history.Event
	for _, o := range ops {
		ns := func(s float64) int64 { return int64(s * 1e9) }
		in := history.Value(o.in)
		if o.in == "" {
			in = history.Nil
		}
		ev = append(ev, history.Event{Time: ns(o.call), Process: history.Process(o.proc), Type: history.Invoke, F: o.f, Key: o.key, Value: in})
		if o.typ != history.Invoke { // Invoke as the type: never completed
			out := history.Value(o.out)
			if o.out == "" {
				out = nil
			}
			ev = append(ev, history.Event{Time: ns(o.ret), Process: history.Process(o.proc), Type: o.typ, F: o.f, Key: o.key, Value: out})
		}
	}
	// Order by time, keeping each op's invoke before its completion.
	sortEvents(ev)
	return ev
}

func sortEvents(ev []history.Event) {
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].Time < ev[j-1].Time; j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
}

func mustCheck(t *testing.T, ev []history.Event, opts Options) Result {
	t.Helper()
	res, err := Check(context.Background(), ev, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

const (
	ok   = history.OK
	fail = history.Fail
	info = history.Info
)

func TestStaleReadStory(t *testing.T) {
	ev := hist(
		hop{0, "write", "3", "2", "2", ok, 10.0, 10.1},
		hop{1, "write", "3", "5", "5", ok, 11.2, 11.9},
		hop{2, "read", "3", "", "2", ok, 12.4, 12.5},
	)
	res := mustCheck(t, ev, Options{})
	if res.Verdict != Invalid || len(res.Anomalies) != 1 {
		t.Fatalf("verdict %s with %d anomalies, want invalid with 1", res.Verdict, len(res.Anomalies))
	}
	a := res.Anomalies[0]
	want := "read of key 3 invoked at 12.4 s returned 2, but the write of 5 had completed at 11.9 s and nothing wrote 2 after it"
	if a.Kind != "stale-read" || !strings.HasPrefix(a.Summary, want) {
		t.Errorf("anomaly %s: %q\nwant stale-read starting %q", a.Kind, a.Summary, want)
	}
	if a.Key != "3" || a.Time != 12_400_000_000 || len(a.Ops) != 3 || a.Ops[0].F != "read" {
		t.Errorf("anomaly key %q time %d ops %d, want key 3, time 12.4e9, 3 ops with the read first", a.Key, a.Time, len(a.Ops))
	}
	if res.Partitions[0].Method != "refuted" {
		t.Errorf("method %q, want refuted", res.Partitions[0].Method)
	}
}

func TestZonesCatchWhatRefutationMisses(t *testing.T) {
	// Two concurrent writes, then reads of 1, 2, 1: each read alone is
	// fine, together they need 1 and 2 to alternate.
	ev := hist(
		hop{0, "write", "k", "1", "1", ok, 0, 1},
		hop{1, "write", "k", "2", "2", ok, 0, 1},
		hop{2, "read", "k", "", "1", ok, 2, 3},
		hop{2, "read", "k", "", "2", ok, 4, 5},
		hop{2, "read", "k", "", "1", ok, 6, 7},
	)
	res := mustCheck(t, ev, Options{})
	if res.Verdict != Invalid || res.Partitions[0].Method != "zones" {
		t.Fatalf("verdict %s by %s, want invalid by zones", res.Verdict, res.Partitions[0].Method)
	}
	want := "key k must hold 2 from 1 s (its write completed) to 4 s (a read of 2 began), and must hold 1 from 1 s (its write completed) to 6 s (a read of 1 began)"
	if !strings.HasPrefix(res.Anomalies[0].Summary, want) {
		t.Errorf("summary %q\nwant prefix %q", res.Anomalies[0].Summary, want)
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name  string
		model string
		ops   []hop
		want  Verdict
	}{
		{"empty", "", nil, Valid},
		{"read nil then write", "", []hop{{0, "read", "x", "", "null", ok, 1, 2}, {1, "write", "x", "1", "1", ok, 3, 4}}, Valid},
		{"concurrent read sees write", "", []hop{{0, "write", "x", "1", "1", ok, 1, 4}, {1, "read", "x", "", "1", ok, 2, 3}}, Valid},
		{"read from the future", "", []hop{{0, "read", "x", "", "1", ok, 1, 2}, {1, "write", "x", "1", "1", ok, 3, 4}}, Invalid},
		{"failed write is dropped", "", []hop{{0, "write", "x", "1", "", fail, 1, 2}, {1, "read", "x", "", "null", ok, 3, 4}}, Valid},
		{"failed write seen is invalid", "", []hop{{0, "write", "x", "1", "", fail, 1, 2}, {1, "read", "x", "", "1", ok, 3, 4}}, Invalid},
		{"info write may happen late", "", []hop{{0, "write", "x", "1", "", info, 1, 2}, {1, "read", "x", "", "null", ok, 3, 4}, {2, "read", "x", "", "1", ok, 5, 6}}, Valid},
		{"info write may never happen", "", []hop{{0, "write", "x", "1", "", info, 1, 2}, {1, "read", "x", "", "null", ok, 30, 40}}, Valid},
		{"never completed write", "", []hop{{0, "write", "x", "1", "", history.Invoke, 1, 0}, {1, "read", "x", "", "1", ok, 30, 40}}, Valid},
		{"info read constrains nothing", "", []hop{{0, "read", "x", "", "7", info, 1, 2}}, Valid},
		{"cas ok", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "cas", "x", "[1,2]", "[1,2]", ok, 3, 4}, {2, "read", "x", "", "2", ok, 5, 6}}, Valid},
		{"cas not swapped observes mismatch", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "cas", "x", "[1,2]", "false", ok, 3, 4}}, Invalid},
		{"cas not swapped rescued by info write", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {2, "write", "x", "3", "", info, 2.5, 2.6}, {1, "cas", "x", "[1,2]", "false", ok, 3, 4}}, Valid},
		{"failed cas did not happen", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "cas", "x", "[1,2]", "", fail, 3, 4}}, Valid},
		{"failed cas seen is invalid", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "cas", "x", "[1,2]", "", fail, 3, 4}, {2, "read", "x", "", "2", ok, 5, 6}}, Invalid},
		{"keys independent", "", []hop{{0, "write", "a", "1", "1", ok, 1, 2}, {1, "read", "b", "", "null", ok, 3, 4}}, Valid},
		{"register rejects nothing valid", "register", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "read", "x", "", "1", ok, 3, 4}}, Valid},
		{"duplicate values fall back", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "write", "x", "2", "2", ok, 3, 4}, {2, "write", "x", "1", "1", ok, 5, 6}, {3, "read", "x", "", "1", ok, 7, 8}}, Valid},
		{"duplicate values stale", "", []hop{{0, "write", "x", "1", "1", ok, 1, 2}, {1, "write", "x", "2", "2", ok, 3, 4}, {2, "write", "x", "1", "1", ok, 5, 6}, {3, "read", "x", "", "2", ok, 7, 8}}, Invalid},
		{"kv append", "kv", []hop{{0, "append", "k", `"a"`, `"a"`, ok, 1, 2}, {1, "append", "k", `"b"`, `"b"`, ok, 3, 4}, {2, "get", "k", "", `"ab"`, ok, 5, 6}}, Valid},
		{"kv lost append", "kv", []hop{{0, "append", "k", `"a"`, `"a"`, ok, 1, 2}, {1, "append", "k", `"b"`, `"b"`, ok, 3, 4}, {2, "get", "k", "", `"b"`, ok, 5, 6}}, Invalid},
		{"mutex", "mutex", []hop{{0, "acquire", "", "", "", ok, 1, 2}, {0, "release", "", "", "", ok, 3, 4}, {1, "acquire", "", "", "", ok, 5, 6}}, Valid},
		{"mutex two holders", "mutex", []hop{{0, "acquire", "", "", "", ok, 1, 2}, {1, "acquire", "", "", "", ok, 3, 4}}, Invalid},
		{"mutex info acquire", "mutex", []hop{{0, "acquire", "", "", "", info, 1, 2}, {1, "acquire", "", "", "", ok, 3, 4}}, Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCheck(t, hist(tt.ops...), Options{Model: tt.model})
			if res.Verdict != tt.want {
				t.Errorf("Check=%s, want %s (anomalies %+v)", res.Verdict, tt.want, res.Anomalies)
			}
			if (res.Verdict == Invalid) != (len(res.Anomalies) > 0) {
				t.Errorf("verdict %s with %d anomalies", res.Verdict, len(res.Anomalies))
			}
		})
	}
}

func TestReductionCounts(t *testing.T) {
	tests := []struct {
		name string
		ops  []hop
		want Reductions
	}{
		{"unobserved info write dropped", []hop{{0, "write", "x", "1", "", info, 1, 2}, {1, "read", "x", "", "null", ok, 3, 4}},
			Reductions{DroppedUnobserved: 1}},
		{"observed info write bounded", []hop{{0, "write", "x", "1", "", info, 1, 2}, {1, "read", "x", "", "1", ok, 3, 4}},
			Reductions{BoundedObserved: 1}},
		{"cas not swapped after blocks the drop", []hop{{0, "write", "x", "1", "1", ok, 0, 0.5}, {1, "write", "x", "2", "", info, 1, 2}, {2, "cas", "x", "[1,3]", "false", ok, 3, 4}},
			Reductions{}},
		{"cas not swapped before does not block", []hop{{2, "cas", "x", "[7,3]", "false", ok, 0, 0.5}, {0, "write", "x", "7", "7", ok, 0, 0.1}, {1, "write", "x", "2", "", info, 1, 2}},
			Reductions{DroppedUnobserved: 1}},
		{"impossible cas not swapped dropped", []hop{{2, "cas", "x", "[9,3]", "false", ok, 0, 0.5}},
			Reductions{DroppedImpossibleCAS: 1}},
		{"failed cas dropped", []hop{{2, "cas", "x", "[9,3]", "", fail, 0, 0.5}},
			Reductions{DroppedFailed: 1}},
		{"info read dropped", []hop{{0, "read", "x", "", "", info, 1, 2}}, Reductions{DroppedUnknownReads: 1}},
		{"failed write dropped", []hop{{0, "write", "x", "1", "", fail, 1, 2}}, Reductions{DroppedFailed: 1}},
		{"not unique: no value reductions", []hop{{0, "write", "x", "1", "", info, 1, 2}, {1, "write", "x", "1", "1", ok, 3, 4}},
			Reductions{NotUnique: []string{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCheck(t, hist(tt.ops...), Options{})
			got, _ := json.Marshal(res.Reductions)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("Reductions=%s, want %s", got, want)
			}
		})
	}
}

// TestReductionsAgreeWithPlainSearch is the soundness test of the
// reductions and refutations: on many small random histories, dense with
// unknown outcomes, failed cas and corrupted reads, the full checker and
// the plain search (no reductions, no refutations) must give the same
// verdict, and it must be porcupine's on the unconverted history.
func TestReductionsAgreeWithPlainSearch(t *testing.T) {
	seen := map[Verdict]int{}
	methods := map[string]int{}
	reduced := 0
	for seed := range uint64(1500) {
		rng := rand.New(rand.NewPCG(seed, 7))
		spec := synthSpec{ops: 8 + rng.IntN(20), keys: 1 + rng.IntN(2), procs: 2 + rng.IntN(3), unknown: 0.3, cas: seed%2 != 0, seed: seed}
		ev := synthHistory(spec)
		corrupt(ev, rng)
		full, err := check(context.Background(), ev, Options{}, tuning{})
		if err != nil {
			t.Fatal(err)
		}
		plain, err := check(context.Background(), ev, Options{}, tuning{noReduce: true, noRefute: true})
		if err != nil {
			t.Fatal(err)
		}
		por := plainPorcupine(ev, 0)
		want := map[porcupine.CheckResult]Verdict{porcupine.Ok: Valid, porcupine.Illegal: Invalid}[por]
		if full.Verdict != plain.Verdict || full.Verdict != want {
			t.Fatalf("seed %d: full %s, plain %s, porcupine %s\n%s", seed, full.Verdict, plain.Verdict, por, dump(ev))
		}
		seen[full.Verdict]++
		for _, pr := range full.Partitions {
			methods[pr.Method+"/"+string(pr.Verdict)]++
		}
		if full.Reductions.DroppedUnobserved+full.Reductions.BoundedObserved > 0 {
			reduced++
		}
	}
	if seen[Valid] < 100 || seen[Invalid] < 100 || reduced < 100 || methods["zones/valid"] < 50 || methods["zones/invalid"] < 10 || methods["refuted/invalid"] < 50 || methods["witness/valid"] < 100 || methods["relaxed-zones/invalid"] < 3 {
		t.Errorf("too few interesting cases: %v, %d with reductions, methods %v", seen, reduced, methods)
	}
	t.Logf("verdicts %v, methods %v, %d with reductions", seen, methods, reduced)
}

// corrupt changes, half of the time, one ok read to return another value
// that some operation of the history wrote (or nil), or swaps the outputs
// of two reads.
func corrupt(ev []history.Event, rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		return
	}
	var vals []history.Value
	var reads []int
	for i, e := range ev {
		if e.Type == history.Invoke && e.F == "write" {
			vals = append(vals, e.Value)
		}
		if e.Type == history.OK && e.F == "read" {
			reads = append(reads, i)
		}
	}
	if len(reads) == 0 {
		return
	}
	vals = append(vals, history.Nil)
	if rng.IntN(2) == 0 {
		// Swap the outputs of two reads: often only the zones see it.
		i, j := reads[rng.IntN(len(reads))], reads[rng.IntN(len(reads))]
		ev[i].Value, ev[j].Value = ev[j].Value, ev[i].Value
		return
	}
	ev[reads[rng.IntN(len(reads))]].Value = vals[rng.IntN(len(vals))]
}

func dump(ev []history.Event) string {
	var b strings.Builder
	for _, e := range ev {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestSyntheticSingleRegister(t *testing.T) {
	for _, invalid := range []bool{false, true} {
		ev := synthHistory(synthSpec{ops: 20000, keys: 1, procs: 10, unknown: 0.02, cas: true, invalid: invalid, seed: 3})
		start := time.Now()
		res := mustCheck(t, ev, Options{Timeout: 60 * time.Second})
		want := Valid
		if invalid {
			want = Invalid
		}
		if res.Verdict != want {
			t.Fatalf("invalid=%v: verdict %s, want %s (%s)", invalid, res.Verdict, want, res.Reason)
		}
		if invalid && res.Anomalies[0].Kind != "stale-read" {
			t.Errorf("anomaly %s, want stale-read: %s", res.Anomalies[0].Kind, res.Anomalies[0].Summary)
		}
		t.Logf("invalid=%v: %s in %s, reductions %+v", invalid, res.Verdict, time.Since(start), res.Reductions)
	}
}

func TestTimeoutIsUnknownNeverValid(t *testing.T) {
	// Plain search on the single-register history with unknown outcomes
	// explodes; with 1 ms it cannot finish.
	ev := synthHistory(synthSpec{ops: 4000, keys: 1, procs: 10, unknown: 0.05, cas: true, seed: 5})
	res, err := check(context.Background(), ev, Options{Timeout: time.Millisecond}, tuning{noReduce: true, noRefute: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Unknown || res.Reason == "" {
		t.Errorf("verdict %s (%q), want unknown with a reason", res.Verdict, res.Reason)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, _ = Check(ctx, ev, Options{})
	if res.Verdict == Valid {
		t.Errorf("a cancelled check is valid")
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, model string
		ops         []hop
		want        string
	}{
		{"unknown model", "stack", nil, "unknown model"},
		{"f not in model", "register", []hop{{0, "cas", "x", "[1,2]", "", ok, 1, 2}}, `f "cas" is not an operation of the register model`},
		{"bad cas value", "", []hop{{0, "cas", "x", "5", "", ok, 1, 2}}, "cas value must be [old new]"},
		{"kv f", "kv", []hop{{0, "read", "x", "", "", ok, 1, 2}}, `f "read"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(context.Background(), hist(tt.ops...), Options{Model: tt.model})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check err=%v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestVerdictJSON(t *testing.T) {
	for v, want := range map[Verdict]string{Valid: "true", Invalid: "false", Unknown: `"unknown"`} {
		b, _ := json.Marshal(Result{Verdict: v})
		if !strings.Contains(string(b), `"valid":`+want) {
			t.Errorf("Marshal(%s) = %s, want \"valid\":%s", v, b, want)
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil || r.Verdict != v {
			t.Errorf("round trip of %s = %s, %v", v, r.Verdict, err)
		}
	}
}

func TestSet(t *testing.T) {
	ev := hist(
		hop{0, "add", "", "1", "", ok, 1, 2},
		hop{1, "add", "", "2", "", ok, 1, 2},
		hop{2, "add", "", "3", "", ok, 1, 2},
		hop{3, "add", "", "4", "", info, 1, 2},
		hop{4, "add", "", "5", "", fail, 1, 2},
		hop{0, "read", "", "", "[1,3]", ok, 3, 4},         // 2 missing: stale later
		hop{1, "read", "", "", "[1,2,4,4,5,9]", ok, 5, 6}, // 3 lost, 4 duplicated, 5 and 9 unexpected
		hop{0, "add", "", "6", "", ok, 7, 8},              // never read
	)
	res := mustCheck(t, ev, Options{Model: "set"})
	s := res.Set
	if res.Verdict != Invalid || s == nil {
		t.Fatalf("verdict %s, set %+v", res.Verdict, s)
	}
	check := func(name string, got []string, want string) {
		if strings.Join(got, ",") != want {
			t.Errorf("%s = %v, want %s", name, got, want)
		}
	}
	check("lost", s.Lost, "3")
	check("stale", s.Stale, "2")
	check("never-read", s.NeverRead, "4,6") // 4 was first seen by the last read
	check("duplicated", s.Duplicated, "4")
	check("unexpected", s.Unexpected, "5,9")
	if s.Stable != 1 || s.Attempted != 5 || s.Acknowledged != 4 { // only 1 is stable
		t.Errorf("stable %d attempted %d acknowledged %d, want 1, 5, 4", s.Stable, s.Attempted, s.Acknowledged)
	}
	kinds := ""
	for _, a := range res.Anomalies {
		kinds += a.Kind + " "
	}
	if kinds != "lost duplicated unexpected " {
		t.Errorf("anomaly kinds %q", kinds)
	}
}

func TestInferModel(t *testing.T) {
	for f, want := range map[string]string{"append": "kv", "acquire": "mutex", "add": "set", "read": "cas-register"} {
		if got := InferModel([]history.Event{{F: f}}); got != want {
			t.Errorf("InferModel(%s)=%s, want %s", f, got, want)
		}
	}
}

func TestTimelessHistoryUsesPositions(t *testing.T) {
	ev := []history.Event{
		{Process: 0, Type: history.Invoke, F: "write", Value: history.IntValue(1)},
		{Process: 0, Type: history.OK, F: "write", Value: history.IntValue(1)},
		{Process: 1, Type: history.Invoke, F: "write", Value: history.IntValue(2)},
		{Process: 1, Type: history.OK, F: "write", Value: history.IntValue(2)},
		{Process: 2, Type: history.Invoke, F: "read"},
		{Process: 2, Type: history.OK, F: "read", Value: history.IntValue(1)},
	}
	res := mustCheck(t, ev, Options{})
	if !res.Timeless || res.Verdict != Invalid || !strings.Contains(res.Anomalies[0].Summary, "invoked at event 5") {
		t.Errorf("timeless %v verdict %s anomalies %+v", res.Timeless, res.Verdict, res.Anomalies)
	}
}

var _ = strconv.Itoa

// TestZonesAgreeWithSearch checks the zone decision against porcupine on
// read/write histories whose reads are shuffled, where most invalid ones
// escape the direct refutations.
func TestZonesAgreeWithSearch(t *testing.T) {
	methods := map[string]int{}
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 9))
		ev := synthHistory(synthSpec{ops: 10 + rng.IntN(16), keys: 1, procs: 3 + rng.IntN(3), unknown: 0.1, seed: seed + 10_000})
		var reads []int
		for i, e := range ev {
			if e.Type == history.OK && e.F == "read" {
				reads = append(reads, i)
			}
		}
		if len(reads) > 1 {
			i, j := reads[rng.IntN(len(reads))], reads[rng.IntN(len(reads))]
			ev[i].Value, ev[j].Value = ev[j].Value, ev[i].Value
		}
		full := mustCheck(t, ev, Options{})
		want := map[porcupine.CheckResult]Verdict{porcupine.Ok: Valid, porcupine.Illegal: Invalid}[plainPorcupine(ev, 0)]
		if full.Verdict != want {
			t.Fatalf("seed %d: lab %s (by %s), porcupine %s\n%s", seed, full.Verdict, full.Partitions[0].Method, want, dump(ev))
		}
		methods[full.Partitions[0].Method+"/"+string(full.Verdict)]++
	}
	if methods["zones/invalid"] < 50 || methods["zones/valid"] < 50 {
		t.Errorf("too few zone decisions: %v", methods)
	}
	t.Logf("methods %v", methods)
}

func TestVisualizationBounded(t *testing.T) {
	ev := synthHistory(synthSpec{ops: 5000, keys: 3, procs: 10, unknown: 0.02, cas: true, invalid: true, seed: 21})
	ev = append(ev, history.Event{Time: ev[100].Time, Process: history.Nemesis, Type: history.Info, F: history.FaultStart,
		Fault: &history.Fault{ID: 1, Kind: "partition", Detail: "n3 alone"}})
	sortEvents(ev)
	res := mustCheck(t, ev, Options{})
	if res.Verdict != Invalid {
		t.Fatalf("verdict %s, want invalid", res.Verdict)
	}
	var b strings.Builder
	if err := WriteVisualization(&b, ev, res); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if len(page) > 4<<20 || !strings.Contains(page, "n3 alone") || !strings.Contains(page, "from a wildcard state") {
		t.Errorf("page of %d bytes; annotation %v, window note %v", len(page),
			strings.Contains(page, "n3 alone"), strings.Contains(page, "from a wildcard state"))
	}
}

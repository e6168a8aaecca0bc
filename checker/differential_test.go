package checker

import (
	"context"
	"flag"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// The differential test: small random cas-register histories, checked by
// the full checker (reductions, refutations, zones, witness, relaxed
// zones) and by plain porcupine with a reference model written here, on
// the history as recorded and with nothing reduced. The two must agree on
// every history, under both readings of a failed cas.

// wildHistory generates a small random history: a few processes, up to a
// dozen operations per key, outputs from a simulated register at a point
// inside each operation (so many histories are valid), then unknown
// outcomes, failed operations (which did not take effect), cas that did and
// did not swap, values that repeat or not, cas whose new value is a value
// expected before (cycles, down to cas [v v]), and half of the time one
// output changed.
func wildHistory(seed uint64) []history.Event {
	rng := rand.New(rand.NewPCG(seed, 99))
	procs := 2 + rng.IntN(3)
	keys := 1 + rng.IntN(2)
	n := keys * (1 + rng.IntN(12))
	unique := rng.IntN(2) == 0
	type wop struct {
		proc          int
		key           string
		f             string
		a, b          int64 // write a; cas [a b]
		out           int64 // read output, -1 for nil
		typ           history.Type
		notSwapped    bool
		call, lp, ret int64
		effect        bool
	}
	next := make([]int64, procs)
	var ops []*wop
	val := int64(0)
	var expected []int64
	newVal := func() int64 {
		if unique {
			val++
			return val
		}
		return 1 + rng.Int64N(3)
	}
	for range n {
		c := rng.IntN(procs)
		call := next[c] + rng.Int64N(3)
		lp := call + rng.Int64N(4)
		ret := lp + rng.Int64N(4)
		next[c] = ret + 1
		op := &wop{proc: c, key: strconv.Itoa(rng.IntN(keys)), call: call, lp: lp, ret: ret, typ: history.OK, effect: true}
		switch r := rng.IntN(10); {
		case r < 4:
			op.f = "read"
		case r < 7:
			op.f, op.a = "write", newVal()
		default:
			op.f = "cas"
			op.a = rng.Int64N(val + 2)
			if len(expected) > 0 && rng.IntN(3) == 0 {
				op.a = expected[rng.IntN(len(expected))]
			}
			op.b = newVal()
			if rng.IntN(5) == 0 && len(expected) > 0 {
				op.b = expected[rng.IntN(len(expected))] // a cycle
			}
			expected = append(expected, op.a)
		}
		switch r := rng.Float64(); {
		case r < 0.2:
			op.typ, op.effect = history.Info, rng.IntN(2) == 0
		case r < 0.3:
			op.typ, op.effect = history.Fail, false
		}
		ops = append(ops, op)
	}
	byLP := append([]*wop(nil), ops...)
	sort.SliceStable(byLP, func(i, j int) bool { return byLP[i].lp < byLP[j].lp })
	state := map[string]int64{} // absent: nil
	for _, op := range byLP {
		cur, has := state[op.key]
		switch op.f {
		case "read":
			op.out = -1
			if has {
				op.out = cur
			}
		case "write":
			if op.effect {
				state[op.key] = op.a
			}
		case "cas":
			match := has && cur == op.a || !has && op.a == 0
			if match && op.effect {
				state[op.key] = op.b
			}
			if !match && op.typ == history.OK {
				op.notSwapped = true
			}
		}
	}
	if rng.IntN(2) == 0 {
		op := ops[rng.IntN(len(ops))]
		switch op.f {
		case "read":
			op.out = rng.Int64N(val+2) - 1
		case "cas":
			op.notSwapped = !op.notSwapped && op.typ == history.OK
		}
	}
	var ev []history.Event
	for i, op := range ops {
		in := history.Nil
		switch op.f {
		case "write":
			in = history.IntValue(op.a)
		case "cas":
			in = casValue(op.a, op.b)
		}
		p := history.Process(i*10 + op.proc) // a fresh process per operation: no pairing problems
		ev = append(ev, history.Event{Time: op.call, Process: p, Type: history.Invoke, F: op.f, Key: op.key, Value: in})
		out := in
		switch {
		case op.f == "read" && op.out >= 0:
			out = history.IntValue(op.out)
		case op.f == "read":
			out = history.Nil
		case op.notSwapped:
			out = history.NotSwapped
		}
		if op.typ == history.Info && rng.IntN(3) == 0 {
			continue // never completed
		}
		ev = append(ev, history.Event{Time: op.ret, Process: p, Type: op.typ, F: op.f, Key: op.key, Value: out})
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time < ev[j].Time })
	return ev
}

// casValue is [a b], with 0 standing for nil (the initial state).
func casValue(a, b int64) history.Value {
	s := func(v int64) string {
		if v == 0 {
			return "null"
		}
		return strconv.FormatInt(v, 10)
	}
	return history.Value("[" + s(a) + "," + s(b) + "]")
}

// refIn and refOut are the reference model's operations: values as the
// JSON text they were recorded as.
type refIn struct{ f, a, b string }

type refOut struct {
	v          string
	unknown    bool
	notSwapped bool
}

// refModel is a cas-register written plainly, independent of regStep.
var refModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Metadata.(string)
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "null" },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(string), in.(refIn), out.(refOut)
		switch i.f {
		case "read":
			return o.unknown || o.v == s, s
		case "write":
			return true, i.a
		}
		switch {
		case o.notSwapped:
			return s != i.a, s
		case s == i.a:
			return true, i.b
		}
		return o.unknown, s // an unknown cas that did not match changed nothing
	},
	Equal: func(a, b any) bool { return a == b },
}

// refCheck is plain porcupine on the recorded history: a failed operation
// is left out (or, for a cas under the observed reading, kept as a
// compare that did not match), an unknown one returns at infinity.
func refCheck(ev []history.Event, failObserved bool) porcupine.CheckResult {
	ops, _, _ := history.Pair(ev)
	var pops []porcupine.Operation
	for _, op := range ops {
		in := refIn{f: op.F, a: string(op.Input)}
		out := refOut{v: string(op.Output), unknown: op.Type == history.Info}
		if op.F == "cas" {
			v, _ := elems(op.Input)
			in.a, in.b = string(v[0]), string(v[1])
			out.notSwapped = op.Type == history.OK && string(op.Output) == "false" || op.Type == history.Fail && failObserved
		}
		if op.Type == history.Fail && !out.notSwapped {
			continue
		}
		ret := op.Return
		if op.Type == history.Info {
			ret = math.MaxInt64
		}
		pops = append(pops, porcupine.Operation{ClientId: int(op.Process), Input: in, Output: out, Call: op.Call, Return: ret, Metadata: op.Key})
	}
	return porcupine.CheckOperationsTimeout(refModel, pops, 10*time.Second)
}

// differential checks one history both ways under both readings and
// returns a message for a disagreement, or "".
func differential(ev []history.Event, methods map[string]int) string {
	for _, reading := range FailCASReadings {
		res, err := Check(context.Background(), ev, Options{FailCAS: reading})
		if err != nil {
			return "check: " + err.Error()
		}
		ref := refCheck(ev, reading == FailCASObserved)
		if ref == porcupine.Unknown {
			continue
		}
		want := map[porcupine.CheckResult]Verdict{porcupine.Ok: Valid, porcupine.Illegal: Invalid}[ref]
		if res.Verdict != want {
			return reading + ": checker " + string(res.Verdict) + ", porcupine " + string(ref)
		}
		for _, p := range res.Partitions {
			methods[p.Method+"/"+string(p.Verdict)]++
		}
		if res.Reductions.DroppedUnobserved+res.Reductions.BoundedObserved+res.Reductions.DroppedImpossibleCAS > 0 {
			methods["reduced"]++
		}
	}
	return ""
}

var differentialN = flag.Int("differential", 10000, "number of histories TestDifferential generates")

// TestDifferential runs the differential test on a fixed number of
// histories (a few seconds); FuzzDifferential runs it on as many as the
// fuzzer likes.
func TestDifferential(t *testing.T) {
	n := *differentialN
	if testing.Short() {
		n = min(n, 500)
	}
	methods := map[string]int{}
	for seed := range uint64(n) {
		ev := wildHistory(seed)
		if msg := differential(ev, methods); msg != "" {
			t.Fatalf("seed %d: %s\n%s", seed, msg, dump(ev))
		}
	}
	t.Logf("%d histories, both readings: %v", n, methods)
	for _, m := range []string{"witness/valid", "zones/valid", "refuted/invalid", "search/valid", "search/invalid", "reduced"} {
		if methods[m] < 10 && !testing.Short() {
			t.Errorf("too few keys decided by %s: %v", m, methods)
		}
	}
}

func FuzzDifferential(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		ev := wildHistory(seed)
		if msg := differential(ev, map[string]int{}); msg != "" {
			t.Fatalf("seed %d: %s\n%s", seed, msg, dump(ev))
		}
	})
}

package checker

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// synthSpec describes a synthetic cas-register history: a linearizable
// store simulated with a linearization point inside each operation's
// interval, so the history is valid by construction; invalid twins get one
// late read changed to return a value overwritten long before.
type synthSpec struct {
	ops, keys, procs int
	unknown          float64 // share of operations with an unknown outcome
	cas              bool    // include cas (else read/write only)
	invalid          bool
	seed             uint64
}

type synthOp struct {
	proc          int64
	key           string
	f             string
	in, out       history.Value
	typ           history.Type
	call, lp, ret int64
	takesEffect   bool
}

func synthHistory(s synthSpec) []history.Event {
	rng := rand.New(rand.NewPCG(s.seed, 1))
	ops := make([]*synthOp, 0, s.ops)
	next := make([]int64, s.procs) // next free time per client slot
	procID := make([]int64, s.procs)
	for i := range procID {
		procID[i] = int64(i)
	}
	nextProc := int64(s.procs)
	lastWritten := make([]int64, s.keys) // per key, most recent value generated
	value := int64(0)
	for len(ops) < s.ops {
		c := rng.IntN(s.procs)
		k := rng.IntN(s.keys)
		call := next[c] + rng.Int64N(200_000)
		lp := call + rng.Int64N(1_000_000)
		ret := lp + rng.Int64N(1_000_000)
		op := &synthOp{proc: procID[c], key: strconv.Itoa(k), call: call, lp: lp, ret: ret, typ: history.OK, takesEffect: true}
		switch r := rng.IntN(10); {
		case r < 5:
			op.f, op.in = "read", history.Nil
		case r < 8 || !s.cas:
			value++
			op.f, op.in = "write", history.IntValue(value)
			lastWritten[k] = value
		default:
			value++
			op.f, op.in = "cas", history.PairValue(lastWritten[k], value)
		}
		if rng.Float64() < s.unknown {
			op.typ = history.Info
			op.takesEffect = rng.IntN(2) == 0
			procID[c] = nextProc // Jepsen: the client continues as a new process
			nextProc++
		}
		next[c] = ret
		ops = append(ops, op)
	}
	// Apply at the linearization points.
	byLP := append([]*synthOp(nil), ops...)
	sort.Slice(byLP, func(i, j int) bool { return byLP[i].lp < byLP[j].lp })
	state := map[string]int64{}
	for _, op := range byLP {
		cur, has := state[op.key]
		switch op.f {
		case "read":
			op.out = history.Nil
			if has {
				op.out = history.IntValue(cur)
			}
		case "write":
			op.out = op.in
			if op.takesEffect {
				state[op.key] = mustInt(op.in)
			}
		case "cas":
			v, _ := op.in.Ints()
			op.out = op.in
			if has && cur == v[0] {
				if op.takesEffect {
					state[op.key] = v[1]
				}
			} else if op.typ == history.OK {
				op.out = history.NotSwapped
			}
		}
	}
	if s.invalid {
		makeStale(ops)
	}
	events := make([]history.Event, 0, 2*len(ops))
	for _, op := range ops {
		events = append(events, history.Event{Time: op.call, Process: history.Process(op.proc), Type: history.Invoke, F: op.f, Key: op.key, Value: op.in})
		done := history.Event{Time: op.ret, Process: history.Process(op.proc), Type: op.typ, F: op.f, Key: op.key, Value: op.out}
		if op.typ == history.Info {
			done.Value, done.Error = nil, "timeout"
		}
		events = append(events, done)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	return events
}

func mustInt(v history.Value) int64 {
	n, ok := v.Int()
	if !ok {
		panic("not an int: " + string(v))
	}
	return n
}

// makeStale changes one ok read near 90% of the history to return the
// first value ever written to its key by an ok write, provided a later ok
// write of that key completed before the read began: a stale read.
func makeStale(ops []*synthOp) {
	sorted := append([]*synthOp(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].call < sorted[j].call })
	first := map[string]*synthOp{}
	for _, op := range sorted[int(float64(len(sorted))*0.9):] {
		if op.f != "read" || op.typ != history.OK {
			continue
		}
		for _, w := range sorted {
			if w.key != op.key || w.f != "write" || w.typ != history.OK {
				continue
			}
			if first[op.key] == nil {
				first[op.key] = w
				continue
			}
			if w.call > first[op.key].ret && w.ret < op.call && string(op.out) != string(first[op.key].in) {
				op.out = first[op.key].in
				return
			}
		}
	}
	panic("makeStale: no read to make stale")
}

// plainPorcupine converts the history the direct way, with the same
// typed models but none of the reductions or refutations (unknown outcomes
// return at infinity; failed writes and unknown reads are left out, as any
// porcupine user does), and hands every key to one porcupine call with its
// own partitioning and parallelism: porcupine alone on the same data.
func plainPorcupine(events []history.Event, timeout float64) porcupine.CheckResult {
	return plainPorcupineModel(events, "cas-register", timeout)
}

func plainPorcupineModel(events []history.Event, modelName string, timeout float64) porcupine.CheckResult {
	m, err := lookupModelTuned(modelName, tuning{noReduce: true, noRefute: true})
	if err != nil {
		panic(err)
	}
	events, timeless := withPositions(events)
	ops, _, _ := history.Pair(events)
	keys, groups := byKey(ops)
	var models []porcupine.Model
	var all []porcupine.Operation
	for _, k := range keys {
		p, err := m.build(k, groups[k], timeFormat(timeless))
		if err != nil {
			panic(err)
		}
		for _, op := range p.search {
			op.Input = vizIn{part: len(models), in: op.Input}
			all = append(all, op)
		}
		models = append(models, p.pm)
	}
	return porcupine.CheckOperationsTimeout(vizModel(models), all, secs(timeout))
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

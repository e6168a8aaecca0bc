package checker

import (
	"fmt"
	"math"
	"sort"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// The register models: a single value per key, initially nil, with read
// and write, and for cas-register compare-and-set [old new]. A failed
// operation did not take place and is dropped. A cas that ran and did not
// swap (ok with output false, or a legacy lab "compare failed") is an
// observation: the value was not the expected one at some instant of its
// interval. Under the observed reading (porcupine's, for its etcd logs)
// every failed cas is read that way too.

type regKind uint8

const (
	regRead regKind = iota
	regWrite
	regCAS
)

type regStatus uint8

// regFail is a cas that ran and did not swap (not an operation that failed:
// those are dropped before the model sees them).
const (
	regOK regStatus = iota
	regFail
	regUnknown
)

// notSwapped reports whether a completed cas ran without swapping, under
// the chosen reading of a failed cas.
func notSwapped(op history.Op, failObserved bool) bool {
	return history.IsNotSwapped(op.Type, op.Output, op.Error) || failObserved && op.Type == history.Fail
}

// regIn is a register operation's input: the value written (a), or the
// cas's expected (a) and new (b) values, as interned ids.
type regIn struct {
	kind regKind
	a, b int32
}

// regOut is its outcome: the value read, and whether it succeeded.
type regOut struct {
	v  int32
	st regStatus
}

// regWild is the wildcard state a visualization window starts from.
const regWild int32 = -1

// regStep is the typed sequential specification of a (cas-)register.
func regStep(st int32, in regIn, out regOut) (bool, int32) {
	wild := st == regWild
	switch in.kind {
	case regRead:
		if wild {
			return true, out.v
		}
		return out.v == st, st
	case regWrite:
		return true, in.a
	}
	switch out.st {
	case regOK:
		if wild || st == in.a {
			return true, in.b
		}
		return false, st
	case regFail:
		return st != in.a, st
	}
	// Unknown outcome: it swaps if it can (placing it last stands for
	// never having happened).
	if st == in.a {
		return true, in.b
	}
	return true, st
}

func regModel(names *interner, init int32) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(st, in, out any) (bool, any) {
			ok, next := regStep(st.(int32), in.(regIn), out.(regOut))
			return ok, next
		},
		Hash: func(st any) uint64 { return uint64(uint32(st.(int32))) },
		DescribeOperation: func(in, out any) string {
			i, o := in.(regIn), out.(regOut)
			switch i.kind {
			case regRead:
				return "read() -> " + names.name(o.v)
			case regWrite:
				return "write(" + names.name(i.a) + ")"
			}
			res := map[regStatus]string{regOK: "ok", regFail: "fail", regUnknown: "unknown"}[o.st]
			return fmt.Sprintf("cas(%s, %s) -> %s", names.name(i.a), names.name(i.b), res)
		},
		DescribeState: func(st any) string {
			if s := st.(int32); s != regWild {
				return names.name(s)
			}
			return "?"
		},
	}
}

// rop is one register operation during the reductions.
type rop struct {
	src       int // index into the partition's ops
	in        regIn
	out       regOut
	call, ret int64
	bounded   bool // an unknown writer given a finite return
	drop      bool
}

func (r *rop) writes() (int32, bool) {
	switch {
	case r.in.kind == regWrite:
		return r.in.a, true
	case r.in.kind == regCAS && r.out.st != regFail:
		return r.in.b, true
	}
	return 0, false
}

// definite reports whether r certainly changed the state, by a finite time.
func (r *rop) definite() bool {
	_, w := r.writes()
	return w && r.out.st == regOK
}

func buildRegister(cas bool, t tuning) func(string, []history.Op, timeFormat) (*partition, error) {
	return func(key string, ops []history.Op, tf timeFormat) (*partition, error) {
		p := &partition{key: key, ops: ops}
		names := newInterner()
		var rs []rop
		for i, op := range ops {
			if op.Type == history.Info {
				p.unknown++
			}
			r := rop{src: i, call: op.Call, ret: op.Return}
			switch op.Type {
			case history.OK:
				r.out.st = regOK
			case history.Fail:
				r.out.st = regFail
			default:
				r.out.st = regUnknown
			}
			switch op.F {
			case "read":
				switch op.Type {
				case history.OK:
					r.in.kind = regRead
					r.out.v = names.id(op.Output)
				case history.Fail:
					p.red.DroppedFailed++
					continue
				default:
					p.red.DroppedUnknownReads++
					continue
				}
			case "write":
				if op.Type == history.Fail {
					p.red.DroppedFailed++
					continue
				}
				r.in = regIn{kind: regWrite, a: names.id(op.Input)}
			case "cas":
				if !cas {
					return nil, fmt.Errorf("event %d: f %q is not an operation of the register model (use --model cas-register)", op.Index+1, op.F)
				}
				v, ok := elems(op.Input)
				if !ok || len(v) != 2 {
					v, ok = elems(op.Output)
				}
				if !ok || len(v) != 2 {
					return nil, fmt.Errorf("event %d: cas value must be [old new], got %s", op.Index+1, op.Input)
				}
				r.in = regIn{kind: regCAS, a: names.id(v[0]), b: names.id(v[1])}
				switch {
				case notSwapped(op, t.failObserved):
					r.out.st = regFail
				case op.Type == history.Fail:
					p.red.DroppedFailed++
					continue
				}
			default:
				return nil, fmt.Errorf("event %d: f %q is not an operation of this model", op.Index+1, op.F)
			}
			rs = append(rs, r)
		}
		unique := reduceRegister(p, rs, t)
		switch {
		case !unique:
			p.red.NotUnique = []string{key}
		case t.noRefute:
		default:
			if p.refuted = refuteRegister(p, rs, names, tf); p.refuted != nil {
				p.decided, p.method = Invalid, "refuted"
			} else if ok, an := zoneCheck(p, rs, names, tf); ok {
				p.decided, p.method, p.refuted = Valid, "zones", an
				if an != nil {
					p.decided = Invalid
				}
			} else if witnessRegister(rs) {
				p.decided, p.method = Valid, "witness"
			} else if an := relaxedRefute(p, rs, names, tf); an != nil {
				p.decided, p.method, p.refuted = Invalid, "relaxed-zones", an
			}
		}
		for i := range rs {
			r := &rs[i]
			if r.drop {
				continue
			}
			p.search = append(p.search, porcupine.Operation{
				ClientId: int(ops[r.src].Process), Input: r.in, Output: r.out,
				Call: r.call, Return: r.ret, Metadata: r.src,
			})
		}
		pm := regModel(names, 0)
		p.pm = pm
		vm := regModel(names, regWild)
		p.vizModel = &vm
		return p, nil
	}
}

// reduceRegister applies the sound reductions of docs/checking.md to one
// key's operations and reports whether written values were unique (the
// precondition of the value-based ones).
func reduceRegister(p *partition, rs []rop, t tuning) bool {
	count := map[int32]int{}
	for i := range rs {
		if v, ok := rs[i].writes(); ok {
			count[v]++
		}
	}
	unique := count[0] == 0
	for _, c := range count {
		if c > 1 {
			unique = false
		}
	}
	if t.plain {
		return unique
	}
	dropImpossible(p, rs)
	if !unique || t.noReduce {
		return unique
	}
	// Reduction 3: an unknown writer whose value an ok read or ok cas
	// observed took effect, before the first observer completed.
	minObs := map[int32]int64{}
	for i := range rs {
		r := &rs[i]
		if r.drop || r.out.st != regOK || r.in.kind == regWrite {
			continue
		}
		v := r.out.v
		if r.in.kind == regCAS {
			v = r.in.a
		}
		if old, ok := minObs[v]; !ok || r.ret < old {
			minObs[v] = r.ret
		}
	}
	for i := range rs {
		r := &rs[i]
		v, w := r.writes()
		if !w || r.drop || r.out.st != regUnknown {
			continue
		}
		if obs, ok := minObs[v]; ok && obs >= r.call {
			r.ret = obs
			r.out.st = regOK
			r.bounded = true
			p.red.BoundedObserved++
		}
	}
	// Reductions 1 and 2 feed each other: a dropped writer can make a
	// failed cas vacuous, and a dropped failed cas can free a writer.
	dead := deadTimes(rs)
	for {
		n := p.red.DroppedImpossibleCAS + p.red.DroppedUnobserved
		dropVacuous(p, rs, dead)
		dropUnobserved(p, rs, dead)
		dropImpossible(p, rs)
		if p.red.DroppedImpossibleCAS+p.red.DroppedUnobserved == n {
			return true
		}
	}
}

// dropImpossible is reduction 1: a failed cas whose expected value no
// remaining writer writes (and is not the initial nil) never matched.
func dropImpossible(p *partition, rs []rop) {
	written := map[int32]bool{}
	for i := range rs {
		if v, ok := rs[i].writes(); ok && !rs[i].drop {
			written[v] = true
		}
	}
	for i := range rs {
		r := &rs[i]
		if !r.drop && r.in.kind == regCAS && r.out.st == regFail && r.in.a != 0 && !written[r.in.a] {
			r.drop = true
			p.red.DroppedImpossibleCAS++
		}
	}
}

// dropVacuous is reduction 1 with unique values: a failed cas whose
// expected value was dead before it began, or whose only writer began
// after it completed, never matched.
func dropVacuous(p *partition, rs []rop, dead map[int32]int64) {
	born := map[int32]int64{0: math.MinInt64}
	for i := range rs {
		if v, ok := rs[i].writes(); ok && !rs[i].drop {
			born[v] = rs[i].call
		}
	}
	for i := range rs {
		r := &rs[i]
		if r.drop || r.in.kind != regCAS || r.out.st != regFail {
			continue
		}
		b, ok := born[r.in.a]
		if d, isDead := dead[r.in.a]; (isDead && d < r.call) || (ok && b > r.ret) {
			r.drop = true
			p.red.DroppedImpossibleCAS++
		}
	}
}

// dropUnobserved is reduction 2, applied to a group G of unknown writers
// at once: writers whose values (V) no ok read returned and no ok or
// unknown cas expects, such that every remaining failed cas expecting a
// value outside V, and completing at or after the invocation of a writer
// in G, expects a value dead by that invocation. The group shrinks until
// that holds; the failed cas expecting values in V never matched once G
// is gone (dropImpossible removes them next).
func dropUnobserved(p *partition, rs []rop, dead map[int32]int64) {
	mentioned := map[int32]bool{}
	var fails []int
	for i := range rs {
		r := &rs[i]
		switch {
		case r.drop:
		case r.in.kind == regRead:
			mentioned[r.out.v] = true
		case r.in.kind == regCAS && r.out.st == regFail:
			fails = append(fails, i)
		case r.in.kind == regCAS:
			mentioned[r.in.a] = true
		}
	}
	inG := map[int32]int{} // value -> writer
	for i := range rs {
		r := &rs[i]
		if v, w := r.writes(); w && !r.drop && r.out.st == regUnknown && !mentioned[v] {
			inG[v] = i
		}
	}
	sort.Slice(fails, func(a, b int) bool { return rs[fails[a]].ret < rs[fails[b]].ret })
	n := len(fails)
	latest := make([]int64, n+1) // over fails[j:] expecting values outside G
	for changed, rounds := true, 0; changed; rounds++ {
		if rounds == 64 {
			return // not settled: drop nothing
		}
		changed = false
		latest[n] = math.MinInt64
		for j := n - 1; j >= 0; j-- {
			latest[j] = latest[j+1]
			a := rs[fails[j]].in.a
			if _, ok := inG[a]; ok {
				continue
			}
			d, ok := dead[a]
			if !ok {
				d = math.MaxInt64
			}
			latest[j] = max(latest[j], d)
		}
		for v, i := range inG {
			r := &rs[i]
			j := sort.Search(n, func(j int) bool { return rs[fails[j]].ret >= r.call })
			if latest[j] >= r.call {
				delete(inG, v)
				changed = true
			}
		}
	}
	for _, i := range inG {
		rs[i].drop = true
		p.red.DroppedUnobserved++
	}
}

// refuteRegister looks for a direct contradiction in a key whose written
// values are unique: an observer (ok read, ok cas) of value v such that
// v was never written, or only written after the observer returned, or
// overwritten by a write that began after v's write completed and itself
// completed before the observer began. Each of these makes the history
// non-linearizable on its own (docs/checking.md, "Refutations").
func refuteRegister(p *partition, rs []rop, names *interner, tf timeFormat) *Anomaly {
	writer := map[int32]int{}
	var defs []int // definite writers, by call
	for i := range rs {
		r := &rs[i]
		if r.drop {
			continue
		}
		if v, ok := r.writes(); ok {
			writer[v] = i
		}
		if r.definite() {
			defs = append(defs, i)
		}
	}
	sort.Slice(defs, func(a, b int) bool { return rs[defs[a]].call < rs[defs[b]].call })
	// sufMin[j] is the index (into defs) of the smallest return among defs[j:].
	sufMin := make([]int, len(defs)+1)
	sufMin[len(defs)] = -1
	for j := len(defs) - 1; j >= 0; j-- {
		sufMin[j] = j
		if k := sufMin[j+1]; k >= 0 && rs[defs[k]].ret < rs[defs[j]].ret {
			sufMin[j] = k
		}
	}
	order := make([]int, 0, len(rs))
	for i := range rs {
		if !rs[i].drop && !rs[i].bounded && rs[i].out.st == regOK && (rs[i].in.kind == regRead || rs[i].in.kind == regCAS) {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool { return rs[order[a]].call < rs[order[b]].call })
	for _, i := range order {
		r := &rs[i]
		v := r.out.v
		if r.in.kind == regCAS {
			v = r.in.a
		}
		wEnd := int64(math.MinInt64)
		if v != 0 {
			wi, ok := writer[v]
			if !ok {
				return p.anomaly("nonlinearizable", rs, []int{i}, fmt.Sprintf(
					"%s, but no operation ever wrote %s", p.observed(r, names, tf), names.name(v)))
			}
			w := &rs[wi]
			if w.call > r.ret {
				return p.anomaly("nonlinearizable", rs, []int{i, wi}, fmt.Sprintf(
					"%s and completed at %s, but the only write of %s was invoked later, at %s",
					p.observed(r, names, tf), tf.at(r.ret), names.name(v), tf.at(w.call)))
			}
			if w.ret == math.MaxInt64 {
				continue
			}
			wEnd = w.ret
		}
		j := sort.Search(len(defs), func(j int) bool { return rs[defs[j]].call > wEnd })
		if k := sufMin[j]; k < 0 || rs[defs[k]].ret >= r.call {
			continue
		}
		// Stale: pick, for the story, the latest such write.
		best := -1
		for _, d := range defs[j:] {
			if rs[d].ret < r.call && (best < 0 || rs[d].ret > rs[best].ret) {
				best = d
			}
		}
		w2 := &rs[best]
		kind := "stale-read"
		if r.in.kind == regCAS {
			kind = "nonlinearizable"
		}
		story := fmt.Sprintf("%s, but %s had completed at %s and nothing wrote %s after it",
			p.observed(r, names, tf), describeWriter(w2, names, tf), tf.at(w2.ret), names.name(v))
		involved := []int{i, best}
		if v == 0 {
			story = fmt.Sprintf("%s, but %s had completed at %s and nothing writes nil",
				p.observed(r, names, tf), describeWriter(w2, names, tf), tf.at(w2.ret))
		} else {
			wi := writer[v]
			involved = append(involved, wi)
			story += fmt.Sprintf(" (%s completed at %s, before that write began at %s)",
				describeWriter(&rs[wi], names, tf), tf.at(rs[wi].ret), tf.at(w2.call))
		}
		if kind == "stale-read" {
			story += ": a stale read, of a value already overwritten"
		}
		return p.anomaly(kind, rs, involved, story)
	}
	return nil
}

// observed tells what an observer saw: "read of key 3 invoked at 12.4 s
// returned 2" or "cas of key 3 from 2 to 7 invoked at 12.4 s succeeded".
func (p *partition) observed(r *rop, names *interner, tf timeFormat) string {
	if r.in.kind == regRead {
		return fmt.Sprintf("read%s invoked at %s returned %s", p.ofKey(), tf.at(r.call), names.name(r.out.v))
	}
	return fmt.Sprintf("cas%s from %s to %s invoked at %s succeeded", p.ofKey(), names.name(r.in.a), names.name(r.in.b), tf.at(r.call))
}

func describeWriter(w *rop, names *interner, tf timeFormat) string {
	s := "the write of " + names.name(w.in.a)
	if w.in.kind == regCAS {
		s = fmt.Sprintf("the cas from %s to %s", names.name(w.in.a), names.name(w.in.b))
	}
	if w.bounded {
		s += fmt.Sprintf(" (outcome unknown, but its value was seen by %s)", tf.at(w.ret))
	}
	return s
}

func (p *partition) anomaly(kind string, rs []rop, idx []int, summary string) *Anomaly {
	a := &Anomaly{Kind: kind, Key: p.key, Time: rs[idx[0]].call, Summary: summary}
	for _, i := range idx {
		a.Ops = append(a.Ops, p.ops[rs[i].src])
	}
	return a
}

// ofKey is " of key K", or nothing for a history without keys.
func (p *partition) ofKey() string {
	if p.key == "" {
		return ""
	}
	return " of key " + p.key
}

// deadTimes gives, for each value that can never again be the state after
// some time, that time: for nil, the earliest completion of a definite
// writer; for a value written by a definite writer Wa, the earliest
// completion of a definite writer invoked after Wa completed. Values are
// unique, so once overwritten that way a value never comes back.
func deadTimes(rs []rop) map[int32]int64 {
	var defs []int
	for i := range rs {
		if !rs[i].drop && rs[i].definite() {
			defs = append(defs, i)
		}
	}
	sort.Slice(defs, func(a, b int) bool { return rs[defs[a]].call < rs[defs[b]].call })
	sufMin := make([]int64, len(defs)+1)
	sufMin[len(defs)] = math.MaxInt64
	for j := len(defs) - 1; j >= 0; j-- {
		sufMin[j] = min(sufMin[j+1], rs[defs[j]].ret)
	}
	dead := map[int32]int64{}
	if sufMin[0] != math.MaxInt64 {
		dead[0] = sufMin[0]
	}
	for _, i := range defs {
		v, _ := rs[i].writes()
		end := rs[i].ret
		j := sort.Search(len(defs), func(j int) bool { return rs[defs[j]].call > end })
		if sufMin[j] != math.MaxInt64 {
			dead[v] = sufMin[j]
		}
	}
	return dead
}

// relaxedRefute looks for a contradiction in a weaker history: failed cas
// dropped and every successful cas split into a read of its expected
// value and a write of its new one, both over the cas's interval. Any
// linearization of the key gives one of the weaker history (place the read
// and the write at the cas's instant), so if the zones refute the weaker
// history, the key is invalid. The reductions are applied to the weaker
// history afresh (without failed cas, more unknown writes can go); if an
// operation still returns at infinity, nothing is concluded.
func relaxedRefute(p *partition, rs []rop, names *interner, tf timeFormat) *Anomaly {
	weak := make([]rop, 0, len(rs))
	hasCAS := false
	for _, r := range rs {
		if r.drop || r.in.kind == regCAS && r.out.st == regFail {
			continue
		}
		hasCAS = hasCAS || r.in.kind == regCAS
		weak = append(weak, r)
	}
	if !hasCAS {
		return nil
	}
	scratch := &partition{key: p.key}
	if !reduceRegister(scratch, weak, tuning{}) {
		return nil
	}
	split := make([]rop, 0, len(weak)+len(weak)/4)
	for _, r := range weak {
		switch {
		case r.drop:
			continue
		case r.ret == math.MaxInt64:
			return nil
		case r.in.kind == regCAS:
			rd, wr := r, r
			rd.in, rd.out = regIn{kind: regRead}, regOut{v: r.in.a, st: regOK}
			wr.in, wr.out = regIn{kind: regWrite, a: r.in.b}, regOut{st: regOK}
			split = append(split, rd, wr)
			continue
		}
		split = append(split, r)
	}
	ok, an := zoneCheck(p, split, names, tf)
	if !ok || an == nil {
		return nil
	}
	an.Summary += " (with every cas taken as a read of its expected value and a write of its new one, which only loosens the constraints)"
	return an
}

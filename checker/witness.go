package checker

import (
	"math"
	"sort"
)

// A witness proves a key valid without a search: a greedy pass over the
// key's events in time order builds a linearization, and an independent
// replay checks it (every operation placed at an instant inside its
// interval, instants never decreasing, every step accepted by the model).
// Only the replay matters for soundness; when the greedy pass gets stuck
// or the replay disagrees, the key goes to the search as before.
//
// The greedy pass needs unique values. Observers (reads, cas expecting the
// current value, failed cas) are placed as early as they can be; state
// changes (writes, ok cas) as late as they can be: at their completion, or
// earlier when an observer of their value completes, or when a failed cas
// needs the state changed (an unobserved unknown write is used first).
// Before a state change ends the current value's reign, the pending
// observers of that value are placed, since the value never comes back.
// Unknown operations nobody needed are placed last.

type witness struct {
	rs    []rop
	cur   int32
	now   int64
	done  []bool
	at    []int64 // instant given to each placed op
	order []int
	// pending (invoked, not placed) ops
	called     []bool
	readsOf    map[int32][]int // ok reads waiting for a value
	casOf      map[int32][]int // ok cas expecting a value
	failOf     map[int32][]int // failed cas expecting a value
	writerOf   map[int32]int   // writer of each value
	killers    []int           // unknown unbounded writers nobody observed
	writes     map[int]bool    // pending definite writes
	left       map[int32]int   // observers of each value not yet placed
	lastObs    map[int32]int64 // latest invocation of an observer of each value
	firstObs   map[int32]int64 // earliest completion of an observer of each value
	busy       map[int]bool
	stuck      bool
	observedBy map[int32]bool
}

// witnessRegister returns true if it built and verified a linearization.
func witnessRegister(rs []rop) bool {
	w := &witness{rs: rs, done: make([]bool, len(rs)), at: make([]int64, len(rs)), called: make([]bool, len(rs)),
		readsOf: map[int32][]int{}, casOf: map[int32][]int{}, failOf: map[int32][]int{},
		writerOf: map[int32]int{}, observedBy: map[int32]bool{}, writes: map[int]bool{}, left: map[int32]int{}, lastObs: map[int32]int64{}, firstObs: map[int32]int64{}, busy: map[int]bool{}}
	type ev struct {
		t   int64
		ret bool
		i   int
	}
	var evs []ev
	for i := range rs {
		r := &rs[i]
		if r.drop {
			w.done[i] = true
			continue
		}
		if v, ok := r.writes(); ok {
			w.writerOf[v] = i
		}
		if r.in.kind == regRead {
			w.observedBy[r.out.v] = true
			w.left[r.out.v]++
			w.lastObs[r.out.v] = max(w.lastObs[r.out.v], r.call)
			if o, ok := w.firstObs[r.out.v]; !ok || r.ret < o {
				w.firstObs[r.out.v] = r.ret
			}
		}
		if r.in.kind == regCAS && r.out.st != regFail {
			w.observedBy[r.in.a] = true
		}
		if r.in.kind == regCAS && r.out.st == regOK {
			w.left[r.in.a]++
			w.lastObs[r.in.a] = max(w.lastObs[r.in.a], r.call)
			if o, ok := w.firstObs[r.in.a]; !ok || r.ret < o {
				w.firstObs[r.in.a] = r.ret
			}
		}
		evs = append(evs, ev{t: r.call, i: i})
		if r.ret != math.MaxInt64 {
			evs = append(evs, ev{t: r.ret, ret: true, i: i})
		}
	}
	sort.Slice(evs, func(a, b int) bool {
		if evs[a].t != evs[b].t {
			return evs[a].t < evs[b].t
		}
		return !evs[a].ret && evs[b].ret // calls first: intervals are closed
	})
	for _, e := range evs {
		w.now = e.t
		if e.ret {
			w.complete(e.i)
		} else {
			w.invoke(e.i)
		}
		if w.stuck {
			return false
		}
	}
	// Unknown operations nobody needed go last.
	for i := range rs {
		if !w.done[i] {
			if rs[i].ret != math.MaxInt64 {
				return false
			}
			w.place(i, math.MaxInt64)
		}
	}
	return verifyWitness(rs, w.order, w.at)
}

func (w *witness) invoke(i int) {
	r := &w.rs[i]
	w.called[i] = true
	switch {
	case r.in.kind == regRead:
		if r.out.v == w.cur {
			w.place(i, w.now)
			return
		}
		w.readsOf[r.out.v] = append(w.readsOf[r.out.v], i)
	case r.in.kind == regCAS && r.out.st == regFail:
		if r.in.a != w.cur {
			w.place(i, w.now)
			return
		}
		w.failOf[r.in.a] = append(w.failOf[r.in.a], i)
	case r.in.kind == regCAS && r.out.st == regOK:
		w.casOf[r.in.a] = append(w.casOf[r.in.a], i)
	case r.in.kind == regWrite && r.out.st == regOK:
		w.writes[i] = true
	case r.out.st == regUnknown:
		if v, _ := r.writes(); r.in.kind == regWrite && !w.observedBy[v] {
			w.killers = append(w.killers, i)
		}
	}
}

func (w *witness) complete(i int) {
	if w.done[i] {
		return
	}
	r := &w.rs[i]
	switch {
	case r.in.kind == regRead:
		if !w.bring(r.out.v) {
			w.stuck = true
			return
		}
		if !w.done[i] {
			w.place(i, w.now)
		}
	case r.in.kind == regWrite:
		w.change(i)
	case r.out.st == regOK: // cas
		if !w.bring(r.in.a) {
			w.stuck = true
			return
		}
		if !w.done[i] {
			w.change(i)
		}
	default: // failed cas whose value is current: change the state now
		w.killCurrent()
		if !w.done[i] {
			w.stuck = true
		}
	}
}

// killCurrent changes the state away from the current value for a failed
// cas that completes while it holds. After that cas no observer of the
// value can follow (the value would have to reign over the cas's instant),
// so any pending state change will do: an unobserved unknown write, else
// an ok cas expecting the value (it has to go during this reign anyway),
// else the pending write that completes first.
func (w *witness) killCurrent() {
	for _, k := range w.killers {
		if !w.done[k] && w.called[k] {
			w.change(k)
			return
		}
	}
	for _, j := range w.casOf[w.cur] {
		if !w.done[j] {
			w.change(j)
			return
		}
	}
	// Prefer a write whose value nobody still has to observe; among
	// those, the one that completes first.
	best := -1
	better := func(j int) bool {
		if best < 0 {
			return true
		}
		nj, nb := w.left[w.rs[j].in.a], w.left[w.rs[best].in.a]
		if (nj == 0) != (nb == 0) {
			return nj == 0
		}
		return w.rs[j].ret < w.rs[best].ret
	}
	for j := range w.writes {
		if !w.done[j] && better(j) {
			best = j
		}
	}
	if best >= 0 {
		delete(w.writes, best)
		w.change(best)
	}
}

// bring makes v the current value, placing its writer now if it is
// pending; false if that is impossible. A cas writer needs its expected
// value first, and so on down the chain: the chain is followed with a set
// of values already met, since a cycle of cas writers (down to a single
// cas [1 1]) would otherwise never end. A cycle cannot be brought about,
// so the pass gives up and the key goes to the search.
func (w *witness) bring(v int32) bool {
	var chain []int // writers to place, the last one first
	seen := map[int32]bool{}
	for x := v; x != w.cur; {
		if seen[x] {
			return false
		}
		seen[x] = true
		wi, ok := w.writerOf[x]
		if !ok || w.done[wi] || !w.called[wi] {
			return false
		}
		chain = append(chain, wi)
		if w.rs[wi].in.kind != regCAS {
			break
		}
		x = w.rs[wi].in.a
	}
	for k := len(chain) - 1; k >= 0; k-- {
		wi := chain[k]
		if !w.done[wi] {
			w.change(wi)
		}
		if x, _ := w.rs[wi].writes(); w.cur != x || w.stuck {
			return false
		}
	}
	return true
}

// change places the state changer i now, after the pending observers of
// the current value.
func (w *witness) change(i int) {
	r := &w.rs[i]
	// A pending write Y must take effect by its deadline (its completion,
	// or the first completion of an observer of its value); if that is
	// before the last observer of i's value begins, Y cannot come inside
	// that value's reign: it goes first.
	if v, _ := r.writes(); r.in.kind == regWrite && !w.busy[i] {
		w.busy[i] = true
		for !w.stuck {
			y := -1
			for j := range w.writes {
				if j != i && !w.done[j] && !w.busy[j] && w.deadline(j) < w.lastObs[v] && (y < 0 || w.deadline(j) < w.deadline(y)) {
					y = j
				}
			}
			if y < 0 {
				break
			}
			w.change(y)
		}
		delete(w.busy, i)
		if w.stuck || w.done[i] {
			return
		}
	}
	// An ok cas expecting the current value has to go during its reign,
	// which i is about to end: it goes first (and so on down the chain).
	for !w.stuck {
		j := -1
		for _, c := range w.casOf[w.cur] {
			if c != i && !w.done[c] && !w.busy[c] {
				j = c
				break
			}
		}
		if j < 0 {
			break
		}
		w.busy[i] = true
		w.change(j)
		delete(w.busy, i)
	}
	if w.stuck {
		return
	}
	old := w.cur
	for _, j := range w.readsOf[old] {
		if !w.done[j] {
			w.place(j, w.now)
		}
	}
	delete(w.readsOf, old)
	if r.in.kind == regCAS && r.in.a != old {
		w.stuck = true
		return
	}
	v, _ := r.writes()
	w.cur = v
	w.place(i, w.now)
	for _, j := range w.readsOf[v] {
		if !w.done[j] {
			w.place(j, w.now)
		}
	}
	delete(w.readsOf, v)
	for a, fs := range w.failOf {
		if a == v {
			continue
		}
		for _, j := range fs {
			if !w.done[j] {
				w.place(j, w.now)
			}
		}
		delete(w.failOf, a)
	}
}

// deadline is when the write i must have taken effect by.
func (w *witness) deadline(i int) int64 {
	d := w.rs[i].ret
	if o, ok := w.firstObs[w.rs[i].in.a]; ok && o < d {
		d = o
	}
	return d
}

func (w *witness) place(i int, t int64) {
	delete(w.writes, i)
	switch r := &w.rs[i]; {
	case r.in.kind == regRead:
		w.left[r.out.v]--
	case r.in.kind == regCAS && r.out.st == regOK:
		w.left[r.in.a]--
	}
	w.done[i] = true
	w.at[i] = t
	w.order = append(w.order, i)
}

// verifyWitness replays order: instants never decrease and lie inside
// each operation's interval, and the model accepts every step.
func verifyWitness(rs []rop, order []int, at []int64) bool {
	var st int32
	last := int64(math.MinInt64)
	seen := make([]bool, len(rs))
	for _, i := range order {
		r := &rs[i]
		t := at[i]
		if seen[i] || t < last || t < r.call || t > r.ret {
			return false
		}
		seen[i] = true
		last = t
		ok, next := regStep(st, r.in, r.out)
		if !ok {
			return false
		}
		st = next
	}
	for i := range rs {
		if !rs[i].drop && !seen[i] {
			return false
		}
	}
	return true
}

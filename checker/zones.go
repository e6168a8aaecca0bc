package checker

import (
	"fmt"
	"math"
	"sort"
)

// Zones decide a read/write register with unique written values in
// O(n log n), without a search (Gibbons and Korach, "Testing shared
// memories", SIAM J. Comput. 1997). They apply to a key once the
// reductions have left only reads and writes, every write certainly
// happened (ok, or unknown but observed and bounded), and none returns at
// infinity.
//
// The cluster of a value v is its write and the reads that returned it.
// Let f be the earliest return in the cluster and s the latest invocation.
// The write took effect by f and the last read no earlier than s, so if
// f < s the register must hold v throughout the forward zone (f, s). If
// s <= f every operation of the cluster overlaps [s, f], its backward zone.
// The key is linearizable if and only if every read's write began before
// the read returned, no two forward zones overlap, and no backward zone
// lies inside a forward zone (the cluster's write would overwrite v' while
// v' must stay).

type zone struct {
	v          int32
	f, s       int64
	fOp, sOp   int // indices into rs of the ops giving f and s
	forward    bool
	start, end int64
}

// zoneCheck decides the key, returning (true, nil) if it is linearizable,
// (true, anomaly) if not, or (false, nil) if zones do not apply.
func zoneCheck(p *partition, rs []rop, names *interner, tf timeFormat) (bool, *Anomaly) {
	const initial = math.MinInt64 / 2
	writer := map[int32]int{}
	clusters := map[int32]*zone{}
	get := func(v int32) *zone {
		z, ok := clusters[v]
		if !ok {
			z = &zone{v: v, f: math.MaxInt64, s: math.MinInt64, fOp: -1, sOp: -1}
			clusters[v] = z
		}
		return z
	}
	add := func(z *zone, i int, call, ret int64) {
		if ret < z.f {
			z.f, z.fOp = ret, i
		}
		if call > z.s {
			z.s, z.sOp = call, i
		}
	}
	add(get(0), -1, initial, initial)
	for i := range rs {
		r := &rs[i]
		if r.drop {
			continue
		}
		if r.in.kind == regCAS || r.ret == math.MaxInt64 || r.out.st != regOK {
			return false, nil
		}
		if r.in.kind == regWrite {
			writer[r.in.a] = i
			add(get(r.in.a), i, r.call, r.ret)
		}
	}
	for i := range rs {
		r := &rs[i]
		if r.drop || r.in.kind != regRead {
			continue
		}
		if r.out.v != 0 {
			w, ok := writer[r.out.v]
			if !ok || rs[w].call > r.ret {
				return false, nil // refuteRegister tells these; not ours to explain
			}
		}
		add(get(r.out.v), i, r.call, r.ret)
	}
	var fwd, back []*zone
	for _, z := range clusters {
		if z.f < z.s {
			z.forward, z.start, z.end = true, z.f, z.s
			fwd = append(fwd, z)
		} else {
			z.start, z.end = z.s, z.f
			back = append(back, z)
		}
	}
	sort.Slice(fwd, func(i, j int) bool {
		if fwd[i].start != fwd[j].start {
			return fwd[i].start < fwd[j].start
		}
		if fwd[i].end != fwd[j].end {
			return fwd[i].end < fwd[j].end
		}
		return fwd[i].v < fwd[j].v
	})
	for i := 1; i < len(fwd); i++ {
		a, b := fwd[i-1], fwd[i]
		if b.start < a.end {
			return true, zoneAnomaly(p, rs, names, tf, a, b)
		}
	}
	for _, z := range back {
		// The forward zone starting last before z starts.
		j := sort.Search(len(fwd), func(j int) bool { return fwd[j].start >= z.start }) - 1
		if j >= 0 && z.end < fwd[j].end {
			return true, zoneAnomaly(p, rs, names, tf, fwd[j], z)
		}
	}
	return true, nil
}

// zoneAnomaly tells why two clusters cannot both be placed: a must hold
// its value over its forward zone, and b needs the register inside it.
func zoneAnomaly(p *partition, rs []rop, names *interner, tf timeFormat, a, b *zone) *Anomaly {
	why := func(z *zone) string {
		return fmt.Sprintf("from %s (%s) to %s (%s)", tf.at(z.f), zoneOpDesc(rs, z.fOp, names, "completed"), tf.at(z.s), zoneOpDesc(rs, z.sOp, names, "began"))
	}
	what := fmt.Sprintf("must hold %s over its whole span", names.name(b.v))
	if !b.forward {
		what = fmt.Sprintf("needs the write of %s and its reads placed between %s and %s", names.name(b.v), tf.at(b.start), tf.at(b.end))
	}
	summary := fmt.Sprintf("key %s must hold %s %s, but it also %s, which overlaps: no order of the operations explains both values",
		p.key, names.name(a.v), why(a), what)
	if b.forward {
		summary = fmt.Sprintf("key %s must hold %s %s, and must hold %s %s; the two spans overlap, so no order of the operations explains both values",
			p.key, names.name(a.v), why(a), names.name(b.v), why(b))
	}
	if p.key == "" {
		summary = "the register" + summary[len("key "):]
	}
	var idx []int
	for _, i := range []int{b.sOp, a.sOp, a.fOp, b.fOp} {
		if i >= 0 && !containsInt(idx, i) {
			idx = append(idx, i)
		}
	}
	an := &Anomaly{Kind: "nonlinearizable", Key: p.key, Summary: summary}
	for _, i := range idx {
		an.Ops = append(an.Ops, p.ops[rs[i].src])
	}
	if len(idx) > 0 {
		an.Time = rs[idx[0]].call
	}
	return an
}

func zoneOpDesc(rs []rop, i int, names *interner, verb string) string {
	if i < 0 {
		return "the initial value"
	}
	r := &rs[i]
	if r.in.kind == regRead {
		return fmt.Sprintf("a read of %s %s", names.name(r.out.v), verb)
	}
	return fmt.Sprintf("its write %s", verb)
}

func containsInt(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

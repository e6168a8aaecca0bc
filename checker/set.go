package checker

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The set model is not a linearizability search but Jepsen's set-full
// account: for each element added, when it became known to be present
// (its add was acknowledged, or a read returned it) and what the reads
// invoked after that saw.

// SetReport is the set-full account of a set history, elements by name
// (prefixed with "key/" when the history has several keys).
type SetReport struct {
	// Attempted counts elements whose add did not fail; Acknowledged those
	// whose add completed ok.
	Attempted    int `json:"attempted"`
	Acknowledged int `json:"acknowledged"`
	// Stable elements were in every read invoked after they were known.
	Stable int `json:"stable"`
	// Lost elements were known present, then missing from the last read
	// invoked after that.
	Lost []string `json:"lost,omitempty"`
	// Stale elements were missing from some reads invoked after they were
	// known, then present again in the last one. Jepsen's default does not
	// count them against validity; they are reported.
	Stale []string `json:"stale,omitempty"`
	// NeverRead elements were known, but no read was invoked afterwards.
	NeverRead []string `json:"never_read,omitempty"`
	// Duplicated elements appeared more than once in one read.
	Duplicated []string `json:"duplicated,omitempty"`
	// Unexpected elements were read but never added (or their add failed).
	Unexpected []string `json:"unexpected,omitempty"`
}

type setElem struct {
	name  string
	add   *history.Op
	known int64
}

func checkSet(ops []history.Op, res *Result, tf timeFormat) {
	rep := &SetReport{}
	res.Set = rep
	keys, groups := byKey(ops)
	res.Counts.Keys = len(keys)
	for _, k := range keys {
		checkSetKey(k, len(keys) > 1, groups[k], rep, res, tf)
	}
	if len(rep.Lost)+len(rep.Duplicated)+len(rep.Unexpected) > 0 {
		res.Verdict = Invalid
	}
	if len(rep.Stale) > 0 {
		res.Reason = fmt.Sprintf("%d element(s) were stale (missing from reads after they were known, present later): allowed by the set-full defaults, not by a linearizable set", len(rep.Stale))
	}
}

func checkSetKey(key string, prefix bool, ops []history.Op, rep *SetReport, res *Result, tf timeFormat) {
	label := func(e string) string {
		if prefix {
			return key + "/" + e
		}
		return e
	}
	elems := map[string]*setElem{}
	var order []string
	var failed = map[string]bool{}
	var reads []history.Op
	for i := range ops {
		op := &ops[i]
		switch op.F {
		case "add":
			name := op.Input.String()
			if op.Type == history.Fail {
				failed[name] = true
				continue
			}
			if _, ok := elems[name]; !ok {
				order = append(order, name)
			}
			known := int64(math.MaxInt64)
			if op.Type == history.OK {
				known = op.Return
			}
			elems[name] = &setElem{name: name, add: op, known: known}
			rep.Attempted++
			if op.Type == history.OK {
				rep.Acknowledged++
			}
		case "read":
			if op.Type == history.OK {
				reads = append(reads, *op)
			}
		}
	}
	sort.SliceStable(reads, func(i, j int) bool { return reads[i].Call < reads[j].Call })
	contents := make([]map[string]bool, len(reads))
	var unexpected, duplicated []string
	var unexpectedOps, duplicatedOps []history.Op
	seenBad := map[string]bool{}
	for i, r := range reads {
		vals, ok := elems2(r.Output)
		if !ok {
			continue
		}
		contents[i] = map[string]bool{}
		for _, v := range vals {
			name := v.String()
			if contents[i][name] && !seenBad["dup"+name] {
				seenBad["dup"+name] = true
				duplicated = append(duplicated, label(name))
				duplicatedOps = append(duplicatedOps, r)
			}
			contents[i][name] = true
			e, ok := elems[name]
			if !ok {
				if !seenBad["unexp"+name] {
					seenBad["unexp"+name] = true
					unexpected = append(unexpected, label(name))
					unexpectedOps = append(unexpectedOps, r)
				}
				continue
			}
			e.known = min(e.known, r.Return)
		}
	}
	var lost []string
	var lostOps []history.Op
	for _, name := range order {
		e := elems[name]
		if e.known == math.MaxInt64 {
			continue // an unknown add nobody saw: nothing is owed
		}
		var after []int
		for i, r := range reads {
			if r.Call > e.known && contents[i] != nil {
				after = append(after, i)
			}
		}
		if len(after) == 0 {
			rep.NeverRead = append(rep.NeverRead, label(name))
			continue
		}
		last := after[len(after)-1]
		missing := 0
		for _, i := range after {
			if !contents[i][name] {
				missing++
			}
		}
		switch {
		case !contents[last][name]:
			lost = append(lost, label(name))
			lostOps = append(lostOps, *e.add, reads[last])
		case missing > 0:
			rep.Stale = append(rep.Stale, label(name))
		default:
			rep.Stable++
		}
	}
	rep.Lost = append(rep.Lost, lost...)
	rep.Duplicated = append(rep.Duplicated, duplicated...)
	rep.Unexpected = append(rep.Unexpected, unexpected...)
	where := ""
	if key != "" {
		where = " of key " + key
	}
	if len(lost) > 0 {
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "lost", Key: key, Time: lostOps[0].Call, Ops: clipOps(lostOps),
			Summary: fmt.Sprintf("%d element(s)%s were lost: %s; e.g. %s was added (known present at %s) but the last read, invoked at %s, did not return it",
				len(lost), where, clipNames(lost), lost[0], tf.at(elems[strings.TrimPrefix(lost[0], key+"/")].known), tf.at(lostOps[1].Call))})
	}
	if len(duplicated) > 0 {
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "duplicated", Key: key, Time: duplicatedOps[0].Call, Ops: clipOps(duplicatedOps),
			Summary: fmt.Sprintf("%d element(s)%s appeared more than once in a single read: %s; e.g. the read invoked at %s", len(duplicated), where, clipNames(duplicated), tf.at(duplicatedOps[0].Call))})
	}
	if len(unexpected) > 0 {
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "unexpected", Key: key, Time: unexpectedOps[0].Call, Ops: clipOps(unexpectedOps),
			Summary: fmt.Sprintf("%d element(s)%s were read but never added (or their add failed): %s; e.g. the read invoked at %s", len(unexpected), where, clipNames(unexpected), tf.at(unexpectedOps[0].Call))})
	}
}

// elems2 reads a set read's output: a JSON array, or null for empty.
func elems2(v history.Value) ([]history.Value, bool) {
	if v.IsNil() {
		return nil, true
	}
	return elems(v)
}

func clipNames(s []string) string {
	if len(s) > 20 {
		return strings.Join(s[:20], ", ") + fmt.Sprintf(" and %d more", len(s)-20)
	}
	return strings.Join(s, ", ")
}

func clipOps(ops []history.Op) []history.Op {
	if len(ops) > 10 {
		return ops[:10]
	}
	return ops
}

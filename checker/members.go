package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// memberStateF is the function of the operations that record what one
// member of the system holds at the end of a run, read from that member
// alone (workloads.MemberStateF): an ok whose output is
// {"revision": R, "hash": H, "kvs": {key: value}}. Whatever the model,
// members read at the same revision must hold the same keys and values.
const memberStateF = "member-state"

type memberState struct {
	Revision int64             `json:"revision"`
	Hash     uint32            `json:"hash"`
	KVs      map[string]string `json:"kvs"`
}

// memberRevisionF is the function of the operations that record the
// revision one member said it had applied, asked through the run
// (workloads.MemberRevisionF): an ok whose output is the revision.
const memberRevisionF = "member-revision"

// splitMembers takes the member-state and member-revision operations out
// of ops.
func splitMembers(ops []history.Op) (rest, members []history.Op) {
	return splitBy(ops, func(f string) bool { return f == memberStateF || f == memberRevisionF })
}

// splitBy takes the operations whose function is picked out of ops.
func splitBy(ops []history.Op, pick func(f string) bool) (rest, picked []history.Op) {
	rest = ops[:0:0]
	for _, op := range ops {
		if pick(op.F) {
			picked = append(picked, op)
		} else {
			rest = append(rest, op)
		}
	}
	return rest, picked
}

// maxMemberDiffs bounds the keys named in one disagreement.
const maxMemberDiffs = 10

// checkMembers compares what the members held, revision by revision, and
// adds a "members-disagree" anomaly (the history is invalid) for each
// revision at which two members differ: keys with different values or
// present on some members only, and their hashes. A member that could not
// be read (a fail) is said in the notes, not judged. A member-state value
// that cannot be read is bad input, naming the event.
func checkMembers(members []history.Op, res *Result) error {
	if len(members) == 0 {
		return nil
	}
	members, asks := splitBy(members, func(f string) bool { return f == memberRevisionF })
	if err := checkRevisions(asks, res); err != nil {
		return err
	}
	type read struct {
		node string
		st   memberState
		op   history.Op
	}
	byRev := map[int64][]read{}
	var unread []string
	for _, op := range members {
		if op.Type != history.OK {
			unread = append(unread, op.Node)
			continue
		}
		var st memberState
		if err := json.Unmarshal(op.Output, &st); err != nil || st.KVs == nil {
			return fmt.Errorf("event %d: a member-state value must be {\"revision\": R, \"hash\": H, \"kvs\": {...}}, got %s", op.Index+1, clip(string(op.Output)))
		}
		byRev[st.Revision] = append(byRev[st.Revision], read{op.Node, st, op})
	}
	if len(unread) > 0 {
		res.Reason = joinReason(res.Reason, fmt.Sprintf("member state not read from %s: not compared", strings.Join(unread, ", ")))
	}
	revs := make([]int64, 0, len(byRev))
	for r := range byRev {
		revs = append(revs, r)
	}
	slices.Sort(revs)
	for _, rev := range revs {
		rs := byRev[rev]
		if len(rs) < 2 {
			continue
		}
		keys := map[string]bool{}
		for _, r := range rs {
			for k := range r.st.KVs {
				keys[k] = true
			}
		}
		var diffs []string
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			var parts []string
			first, firstOK := rs[0].st.KVs[k]
			differ := false
			for _, r := range rs {
				v, ok := r.st.KVs[k]
				if ok != firstOK || v != first {
					differ = true
				}
				if ok {
					parts = append(parts, fmt.Sprintf("%s=%q", r.node, clip(v)))
				} else {
					parts = append(parts, r.node+" has no value")
				}
			}
			if differ {
				diffs = append(diffs, fmt.Sprintf("key %q: %s", k, strings.Join(parts, ", ")))
			}
		}
		hashes := map[uint32][]string{}
		for _, r := range rs {
			hashes[r.st.Hash] = append(hashes[r.st.Hash], r.node)
		}
		if len(diffs) == 0 && len(hashes) == 1 {
			continue
		}
		var hs []string
		for h, nodes := range hashes {
			hs = append(hs, fmt.Sprintf("%s: %08x", strings.Join(nodes, " "), h))
		}
		sort.Strings(hs)
		total := len(diffs)
		if len(diffs) > maxMemberDiffs {
			diffs = append(diffs[:maxMemberDiffs], fmt.Sprintf("and %d more keys", total-maxMemberDiffs))
		}
		summary := fmt.Sprintf("Read each on its own at revision %d, the members do not hold the same data: ", rev)
		if total > 0 {
			summary += fmt.Sprintf("%d key(s) differ: %s. ", total, strings.Join(diffs, "; "))
		} else {
			summary += "every key reads the same, but their own hashes of the key space (which cover every revision kept) differ. "
		}
		summary += "Hashes: " + strings.Join(hs, ", ") + ". A member that diverged silently serves different reads than the others whenever a client reads from it alone."
		a := Anomaly{Kind: "members-disagree", Time: rs[0].op.Call, Summary: summary}
		for _, r := range rs {
			a.Ops = append(a.Ops, r.op)
		}
		res.Anomalies = append(res.Anomalies, a)
		res.Verdict = Invalid
	}
	return nil
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// addMembers adds what checkMembers found to the model's result.
func (r *Result) addMembers(m Result) {
	r.Anomalies = append(r.Anomalies, m.Anomalies...)
	if m.Verdict == Invalid {
		r.Verdict = Invalid
	}
	if m.Reason != "" {
		r.Reason = joinReason(r.Reason, m.Reason)
	}
}

// checkRevisions adds a "revision-backwards" anomaly (the history is
// invalid) for each member that, asked after an earlier answer had
// returned, told a lower revision than that answer: a member that forgot
// entries it had applied. Asks that overlap in time are not compared, and
// failed asks tell nothing. A revision that is not a whole number is bad
// input, naming the event.
func checkRevisions(revs []history.Op, res *Result) error {
	type ask struct {
		rev int64
		op  history.Op
	}
	byNode := map[string][]ask{}
	var nodes []string
	for _, op := range revs {
		if op.Type != history.OK {
			continue
		}
		var rev int64
		if err := json.Unmarshal(op.Output, &rev); err != nil {
			return fmt.Errorf("event %d: a member-revision value must be a whole number, got %s", op.Index+1, clip(string(op.Output)))
		}
		if _, ok := byNode[op.Node]; !ok {
			nodes = append(nodes, op.Node)
		}
		byNode[op.Node] = append(byNode[op.Node], ask{rev, op})
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		asks := byNode[n]
		sort.SliceStable(asks, func(i, j int) bool { return asks[i].op.Call < asks[j].op.Call })
		// best is the highest revision among the answers that returned
		// before the current ask was made. Asks are sorted by call, so
		// answers are added to it as the call times pass their returns.
		byReturn := slices.Clone(asks)
		sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].op.Return < byReturn[j].op.Return })
		var best *ask
		next := 0
		for _, a := range asks {
			for next < len(byReturn) && byReturn[next].op.Return < a.op.Call {
				if best == nil || byReturn[next].rev > best.rev {
					best = &byReturn[next]
				}
				next++
			}
			if best == nil || a.rev >= best.rev {
				continue
			}
			res.Anomalies = append(res.Anomalies, Anomaly{
				Kind: "revision-backwards",
				Time: a.op.Call,
				Summary: fmt.Sprintf("Member %s said it had applied revision %d, then, asked again later, revision %d: "+
					"it went back %d revision(s). A member that forgets what it applied serves reads older than ones it already served, "+
					"and may vote or lead with a log that lost committed entries.", n, best.rev, a.rev, best.rev-a.rev),
				Ops: []history.Op{best.op, a.op},
			})
			res.Verdict = Invalid
			// One anomaly per member: the later asks would repeat it.
			break
		}
	}
	return nil
}

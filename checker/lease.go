package checker

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
)

// The lease model checks leases with a time to live and the keys attached
// to them (etcd's leases, the lab's lease workload). Like the set and the
// queue it is an account, not a search: one pass over each key's
// operations. See docs/systems/etcd-lease.md.
//
// # History
//
// Every operation names its key; each key has at most one grant and one
// put (one lease cycle of one owner). Values are JSON:
//
//	f          invoke value       ok value         fail                  info
//	grant      requested TTL (s)  [lease, ttl]     no lease              a lease may exist, unknown
//	put        [value, lease]     [value, lease]   not written           may be written, any time
//	keepalive  lease              TTL (s)          lease not found:      may renew the lease, any
//	                                               the lease was gone    time until its completion
//	release    lease              lease            -                     -
//	read       null               value or null    -                     -
//
// release is a marker: from its invocation on, the owner sends no
// keepalive. value is an integer or a string, unique per key; read returns
// null for no key. Processes change after an info, as everywhere.
//
// # Rules
//
// A lease never comes back once gone, and a renewal at instant r keeps it
// until at least r + TTL. A grant invoked at g gives the lease until at
// least g + TTL, and an ok keepalive invoked at k until at least k + TTL
// (the leader renewed it after k): so the lease is certainly alive from
// its grant's completion until aliveUntil, the latest of these, even
// across keepalives that failed or timed out in between (a later ok
// keepalive proves it was never gone). Then:
//
//   - vanished: an ok read of the key, invoked after the key was known
//     present (its put completed, or a read returned its value) and
//     completed before aliveUntil, returned null;
//   - lost: a keepalive answered "lease not found" and completed before
//     aliveUntil;
//   - not expired: a read invoked after expireBy still returned the value.
//     expireBy is the last instant a renewal may have happened (the grant's
//     completion, an ok keepalive's completion, an info keepalive's
//     completion: none invoked later, as the owner let the lease go) plus
//     the TTL plus [LeaseMargin]. etcd extends every lease when a new
//     leader takes over (by the election timeout), and a frozen or cut off
//     node may still forward a renewal when it comes back, so every fault
//     window overlapping [last renewal, expireBy] pushes expireBy to the
//     fault's end + TTL + margin (repeated until no window does);
//   - returned: after a read found the key gone (invoked once it was known
//     present), a later read returned the value again;
//   - unexpected: a read returned a value never put to the key, one whose
//     put failed, or the value before its put was invoked.
//
// Each makes the history invalid; reads that see the key before
// expireBy, or see it gone once a keepalive failed or timed out, are fine.
// Leader changes outside fault windows are not known to the checker.

// LeaseMargin is how long after its TTL a lease let go may still be there:
// the leader finds expired leases every 500 ms, and revoking one is a raft
// proposal; the new leader's extension of every lease by the election
// timeout (1 s by default) after a fault is also covered by it.
const LeaseMargin = 3 * time.Second

// leaseMaxPerKind bounds the anomalies listed per kind; the report counts
// them all.
const leaseMaxPerKind = 20

// leaseMaxEntries bounds the leases listed in the report.
const leaseMaxEntries = 1000

// leaseFs are the functions of a lease history.
var leaseFs = []string{"grant", "put", "keepalive", "release", "read"}

// LeaseReport is the account of a lease history.
type LeaseReport struct {
	// Granted counts grants that returned a lease; GrantsUnknown those
	// with an unknown outcome, GrantsFailed those that failed.
	Granted       int `json:"granted"`
	GrantsUnknown int `json:"grants_unknown"`
	GrantsFailed  int `json:"grants_failed"`
	// Attached counts granted leases whose key was put (ok, or unknown but
	// read); the others had no key to judge by reads.
	Attached int `json:"attached"`
	// Kept counts attached leases proven alive from the grant to the
	// release: each TTL window renewed by an ok keepalive before it ran
	// out. Lapsed counts the others (a keepalive failed or timed out too
	// long): their key may legitimately vanish.
	Kept   int `json:"kept"`
	Lapsed int `json:"lapsed"`
	// Released counts leases let go (a release marker).
	Released int `json:"released"`
	// Expired counts attached leases whose key a read invoked after the
	// last renewal found gone, with no anomaly.
	Expired int `json:"expired"`
	// Unknown counts attached leases not seen gone after their last
	// renewal (no such read, or the bound is unknown), with no anomaly.
	Unknown int `json:"unknown"`
	// The anomalies, counted by lease (a read for Unexpected).
	Vanished   int `json:"vanished"`
	Lost       int `json:"lost"`
	NotExpired int `json:"not_expired"`
	Returned   int `json:"returned"`
	Unexpected int `json:"unexpected"`
	// Reads counts ok reads; ReadsAbsent those that found no key.
	Reads       int `json:"reads"`
	ReadsAbsent int `json:"reads_absent"`
	// Margin is [LeaseMargin].
	Margin time.Duration `json:"margin_ns"`
	// Leases lists each granted lease (the first 1000), in grant order.
	Leases []LeaseEntry `json:"leases,omitempty"`
}

// LeaseEntry is one granted lease and its fate.
type LeaseEntry struct {
	Key   string `json:"key"`
	Lease string `json:"lease"` // the ID in hex, as etcdctl prints it
	Node  string `json:"node,omitempty"`
	TTL   int64  `json:"ttl_s"`
	// Granted is the grant's completion (ns since the run's start);
	// Released the release marker's invocation, -1 if none.
	Granted  int64 `json:"granted"`
	Released int64 `json:"released"`
	// AliveUntil is the instant the lease was certainly alive until;
	// ExpireBy the instant it must have expired by, -1 if unbounded.
	AliveUntil int64 `json:"alive_until"`
	ExpireBy   int64 `json:"expire_by"`
	Kept       bool  `json:"kept"`
	// Fate is one of the LeaseFate* constants.
	Fate string `json:"fate"`
}

// Fates of a lease, [LeaseEntry.Fate].
const (
	LeaseFateExpired    = "expired"     // seen gone after its last renewal
	LeaseFateUnknown    = "unknown"     // not seen gone after its last renewal
	LeaseFateNoKey      = "no-key"      // its put failed, or was unknown and never seen
	LeaseFateVanished   = "vanished"    // its key gone while the lease was certainly alive
	LeaseFateLost       = "lost"        // a keepalive did not find it while certainly alive
	LeaseFateNotExpired = "not-expired" // its key read after it must have expired
	LeaseFateReturned   = "returned"    // its key read again after it was seen gone
)

// leaseKey is one key and the one lease cycle on it.
type leaseKey struct {
	key   string
	grant *history.Op
	id    int64
	ttl   int64 // ns
	put   *history.Op
	val   string // the value put, as a message
	keeps []*history.Op
	rel   *history.Op
	reads []leaseRead

	// What the judgement found.
	present    int64 // first instant the key is known present; -1 unknown
	presentBy  *history.Op
	aliveUntil int64
	aliveBy    *history.Op // the grant or ok keepalive that proves it
	lastRenew  int64       // last instant a renewal may have happened
	renewBy    *history.Op
	expireBy   int64 // math.MaxInt64: unbounded
	extendedBy *history.Window
	kept       bool
	fate       string
}

// leaseRead is one ok read of a key.
type leaseRead struct {
	op     *history.Op
	absent bool
	val    string
}

type leaseCheck struct {
	tf      timeFormat
	windows []history.Window
	done    map[int]int // invocation index -> completion index
	res     *Result
	keys    map[string]*leaseKey
	order   []*leaseKey // keys by their first operation
	anoms   map[string][]Anomaly
	notes   []string
}

// checkLease fills res with the lease account of ops. events are the
// history's events (for the event numbers of completions in errors) and
// windows its fault windows. A value the model cannot read is an error
// naming its event.
func checkLease(events []history.Event, ops []history.Op, windows []history.Window, res *Result, tf timeFormat) error {
	if tf && len(ops) > 0 {
		return fmt.Errorf("the lease model needs the times of the history's events (nanoseconds since the start), and this history has none")
	}
	l := &leaseCheck{tf: tf, windows: windows, done: completions(events), res: res, keys: map[string]*leaseKey{}, anoms: map[string][]Anomaly{}}
	if err := l.read(ops); err != nil {
		return err
	}
	l.judge()
	return nil
}

// judge settles every key and sets the verdict.
func (l *leaseCheck) judge() {
	rep := &LeaseReport{Margin: LeaseMargin}
	l.res.Lease = rep
	l.res.Counts.Keys = len(l.order)
	for _, k := range l.order {
		for _, r := range k.reads {
			rep.Reads++
			if r.absent {
				rep.ReadsAbsent++
			}
		}
		if k.grant == nil {
			l.unexpected(k, rep)
			continue
		}
		switch k.grant.Type {
		case history.OK:
			rep.Granted++
		case history.Fail:
			rep.GrantsFailed++
			l.unexpected(k, rep)
			continue
		default:
			rep.GrantsUnknown++
			l.unexpected(k, rep)
			continue
		}
		if k.rel != nil {
			rep.Released++
		}
		l.judgeKey(k, rep)
		if len(rep.Leases) < leaseMaxEntries {
			e := LeaseEntry{Key: k.key, Lease: fmt.Sprintf("%x", uint64(k.id)), Node: k.grant.Node, TTL: k.ttl / int64(time.Second),
				Granted: k.grant.Return, Released: -1, AliveUntil: k.aliveUntil, ExpireBy: k.expireBy, Kept: k.kept, Fate: k.fate}
			if k.rel != nil {
				e.Released = k.rel.Call
			}
			if e.ExpireBy == math.MaxInt64 {
				e.ExpireBy = -1
			}
			rep.Leases = append(rep.Leases, e)
		}
	}
	if len(l.order) > leaseMaxEntries {
		l.notes = append(l.notes, fmt.Sprintf("the report lists the first %d leases", leaseMaxEntries))
	}
	for _, kind := range []string{"vanished", "lease-lost", "not-expired", "returned", "unexpected"} {
		list := l.anoms[kind]
		sort.SliceStable(list, func(i, j int) bool { return list[i].Time < list[j].Time })
		if len(list) > leaseMaxPerKind {
			l.notes = append(l.notes, fmt.Sprintf("%s: %d, the first %d listed", kind, len(list), leaseMaxPerKind))
			list = list[:leaseMaxPerKind]
		}
		l.res.Anomalies = append(l.res.Anomalies, list...)
	}
	var reasons []string
	if rep.Unknown > 0 {
		reasons = append(reasons, fmt.Sprintf("%d lease(s) were not seen to expire: no read after their last renewal found their key gone (or their bound is unknown); not judged", rep.Unknown))
	}
	if rep.Lapsed > 0 {
		reasons = append(reasons, fmt.Sprintf("%d lease(s) were not kept alive within every TTL window (a keepalive failed or did not complete in time): their keys could go", rep.Lapsed))
	}
	l.res.Reason = joinReason(l.res.Reason, strings.Join(append(reasons, l.notes...), "; "))
	if rep.Vanished+rep.Lost+rep.NotExpired+rep.Returned+rep.Unexpected > 0 {
		l.res.Verdict = Invalid
	} else {
		l.res.Verdict = Valid
	}
}

func (l *leaseCheck) add(kind string, a Anomaly) {
	a.Kind = kind
	l.anoms[kind] = append(l.anoms[kind], a)
}

// unexpected reports the reads of k that returned a value never put to
// it, a value whose put failed, or the value before its put was invoked.
func (l *leaseCheck) unexpected(k *leaseKey, rep *LeaseReport) {
	for _, r := range k.reads {
		if r.absent {
			continue
		}
		var why string
		switch {
		case k.put == nil:
			why = "nothing was ever put to the key"
		case r.val != k.val:
			why = fmt.Sprintf("the only value put to the key is %s", k.val)
		case k.put.Type == history.Fail:
			why = fmt.Sprintf("its put (invoked at %s) failed: %s", l.tf.at(k.put.Call), k.put.Error)
		case r.op.Return < k.put.Call:
			why = fmt.Sprintf("the read completed before its put was invoked, at %s", l.tf.at(k.put.Call))
		default:
			continue
		}
		rep.Unexpected++
		a := Anomaly{Key: k.key, Time: r.op.Call, Ops: []history.Op{*r.op},
			Summary: fmt.Sprintf("key %s read through %s at %s returned %s, %s, but %s", k.key, leaseNode(r.op.Node), l.tf.at(r.op.Call), r.val, l.faultAt(r.op.Call), why)}
		if k.put != nil {
			a.Ops = append(a.Ops, *k.put)
		}
		l.add("unexpected", a)
	}
}

// judgeKey applies the rules to one granted lease and its key.
func (l *leaseCheck) judgeKey(k *leaseKey, rep *LeaseReport) {
	l.unexpected(k, rep)
	g := k.grant
	k.aliveUntil, k.aliveBy = g.Call+k.ttl, g
	k.lastRenew, k.renewBy = g.Return, g
	for _, op := range k.keeps {
		switch op.Type {
		case history.OK:
			t, _ := op.Output.Int()
			if until := op.Call + t*int64(time.Second); until > k.aliveUntil {
				k.aliveUntil, k.aliveBy = until, op
			}
			if op.Return > k.lastRenew {
				k.lastRenew, k.renewBy = op.Return, op
			}
		case history.Info:
			end := op.Completed
			if end < 0 {
				end = math.MaxInt64
			}
			if end > k.lastRenew {
				k.lastRenew, k.renewBy = end, op
			}
		}
	}
	k.present = -1
	if k.put != nil && k.put.Type == history.OK {
		k.present, k.presentBy = k.put.Return, k.put
	}
	for _, r := range k.reads {
		if !r.absent && r.val == k.val && k.put != nil && k.put.Type != history.Fail && r.op.Return >= k.put.Call && (k.present < 0 || r.op.Return < k.present) {
			k.present, k.presentBy = r.op.Return, r.op
		}
	}
	k.expireBy = l.expireBy(k)
	k.kept = l.keptAlive(k)

	if k.present < 0 {
		k.fate = LeaseFateNoKey
	} else {
		rep.Attached++
		if k.kept {
			rep.Kept++
		} else {
			rep.Lapsed++
		}
	}
	fates := []string{}
	if k.present >= 0 {
		if a := l.vanished(k); a != nil {
			rep.Vanished++
			fates = append(fates, LeaseFateVanished)
			l.add("vanished", *a)
		}
	}
	if a := l.lost(k); a != nil {
		rep.Lost++
		fates = append(fates, LeaseFateLost)
		l.add("lease-lost", *a)
	}
	if a := l.notExpired(k); a != nil {
		rep.NotExpired++
		fates = append(fates, LeaseFateNotExpired)
		l.add("not-expired", *a)
	}
	if a := l.returned(k); a != nil {
		rep.Returned++
		fates = append(fates, LeaseFateReturned)
		l.add("returned", *a)
	}
	switch {
	case len(fates) > 0:
		k.fate = fates[0]
	case k.present < 0:
	case l.seenGone(k):
		k.fate = LeaseFateExpired
		rep.Expired++
	default:
		k.fate = LeaseFateUnknown
		rep.Unknown++
	}
}

// expireBy is the instant the lease must have expired by: its last
// possible renewal + TTL + margin, pushed past every fault window that
// overlaps the span, unless the window starts after a read found the key
// gone (the lease was revoked then, for good).
func (l *leaseCheck) expireBy(k *leaseKey) int64 {
	if k.lastRenew == math.MaxInt64 {
		return math.MaxInt64
	}
	gone := int64(math.MaxInt64)
	if k.present >= 0 {
		for _, r := range k.reads {
			if r.absent && r.op.Call > k.present {
				gone = min(gone, r.op.Return)
			}
		}
	}
	margin := int64(LeaseMargin)
	by := k.lastRenew + k.ttl + margin
	for changed := true; changed; {
		changed = false
		for i := range l.windows {
			w := &l.windows[i]
			if w.Start > by || w.Start >= gone || (w.End >= 0 && w.End < k.lastRenew) {
				continue
			}
			if w.End < 0 {
				k.extendedBy = w
				return math.MaxInt64
			}
			if end := w.End + k.ttl + margin; end > by {
				by, k.extendedBy, changed = end, w, true
			}
		}
	}
	return by
}

// renewals are the grant and the ok keepalives, in invocation order.
func (k *leaseKey) renewals() []*history.Op {
	out := []*history.Op{k.grant}
	for _, op := range k.keeps {
		if op.Type == history.OK {
			out = append(out, op)
		}
	}
	return out
}

// keptAlive says whether each TTL window from the grant to the release
// (or the last keepalive) was renewed by an ok keepalive before it ran
// out, and no keepalive failed.
func (l *leaseCheck) keptAlive(k *leaseKey) bool {
	ev := k.renewals()
	for i := 1; i < len(ev); i++ {
		if ev[i].Return > ev[i-1].Call+k.ttl {
			return false
		}
	}
	for _, op := range k.keeps {
		if op.Type == history.Fail {
			return false
		}
	}
	last := ev[len(ev)-1]
	return k.rel == nil || k.rel.Call <= last.Call+k.ttl
}

// vanished finds the first read that found the key gone while the lease
// was certainly alive.
func (l *leaseCheck) vanished(k *leaseKey) *Anomaly {
	var first *leaseRead
	n := 0
	for i := range k.reads {
		r := &k.reads[i]
		if r.absent && r.op.Call > k.present && r.op.Return < k.aliveUntil {
			n++
			if first == nil {
				first = r
			}
		}
	}
	if first == nil {
		return nil
	}
	return l.vanishedStory(k, first, n)
}

// lost finds the first keepalive that did not find the lease while it was
// certainly alive.
func (l *leaseCheck) lost(k *leaseKey) *Anomaly {
	for _, op := range k.keeps {
		if op.Type == history.Fail && op.Return < k.aliveUntil {
			return l.lostStory(k, op)
		}
	}
	return nil
}

// notExpired finds the first read invoked after expireBy that still
// returned the value.
func (l *leaseCheck) notExpired(k *leaseKey) *Anomaly {
	if k.expireBy == math.MaxInt64 || k.put == nil || k.put.Type == history.Fail {
		return nil
	}
	for i := range k.reads {
		r := &k.reads[i]
		if !r.absent && r.val == k.val && r.op.Call > k.expireBy {
			return l.notExpiredStory(k, r)
		}
	}
	return nil
}

// returned finds a read of the value invoked after a read, invoked once
// the key was known present, found it gone.
func (l *leaseCheck) returned(k *leaseKey) *Anomaly {
	if k.present < 0 {
		return nil
	}
	var gone *leaseRead
	for i := range k.reads {
		r := &k.reads[i]
		if r.absent && r.op.Call > k.present && (gone == nil || r.op.Return < gone.op.Return) {
			gone = r
		}
	}
	if gone == nil {
		return nil
	}
	for i := range k.reads {
		r := &k.reads[i]
		if !r.absent && r.val == k.val && r.op.Call > gone.op.Return {
			return l.returnedStory(k, gone, r)
		}
	}
	return nil
}

// seenGone says whether a read invoked after the last renewal found the
// key gone.
func (l *leaseCheck) seenGone(k *leaseKey) bool {
	if k.lastRenew == math.MaxInt64 {
		return false
	}
	for _, r := range k.reads {
		if r.absent && r.op.Call > k.lastRenew {
			return true
		}
	}
	return false
}

package checker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// lop is a hand-written lock operation: times in seconds, values JSON
// ("" is null).
type lop struct {
	proc      int64
	f, key    string
	node      string
	in, out   string
	typ       history.Type // history.Invoke: never completed
	call, ret float64
}

// lease is process proc's lease record at t: valid until the given second
// (a negative one writes null).
func lease(proc int64, t, validUntil float64) lop {
	v := "null"
	if validUntil >= 0 {
		v = fmt.Sprint(int64(validUntil * 1e9))
	}
	return lop{proc: proc, f: "lease", in: fmt.Sprint(100 + proc), out: fmt.Sprintf("[%d,%s]", 100+proc, v), typ: history.OK, call: t, ret: t}
}

// hold is an ok acquire of lock with token tok from a to b, then a release
// from c to d with outcome rel.
func hold(proc int64, node, lock string, tok int64, a, b, c, d float64, rel history.Type) []lop {
	return []lop{
		{proc: proc, f: "acquire", key: lock, node: node, in: `"v3lock"`, out: fmt.Sprint(tok), typ: history.OK, call: a, ret: b},
		{proc: proc, f: "release", key: lock, node: node, in: fmt.Sprint(tok), out: fmt.Sprint(tok), typ: rel, call: c, ret: d},
	}
}

func lhist(faults []history.Event, groups ...[]lop) []history.Event {
	ns := func(s float64) int64 { return int64(s * 1e9) }
	ev := append([]history.Event(nil), faults...)
	for _, g := range groups {
		for _, o := range g {
			in, out := history.Value(o.in), history.Value(o.out)
			if o.in == "" {
				in = history.Nil
			}
			if o.out == "" {
				out = history.Nil
			}
			ev = append(ev, history.Event{Time: ns(o.call), Process: history.Process(o.proc), Type: history.Invoke, F: o.f, Key: o.key, Node: o.node, Value: in})
			if o.typ != history.Invoke {
				ev = append(ev, history.Event{Time: ns(o.ret), Process: history.Process(o.proc), Type: o.typ, F: o.f, Key: o.key, Node: o.node, Value: out})
			}
		}
	}
	sortEvents(ev)
	return ev
}

func ops(list ...lop) []lop { return list }

// TestLock: one case per story the lock model tells.
func TestLock(t *testing.T) {
	const L = "lab-lock/0"
	tests := []struct {
		name    string
		ev      []history.Event
		verdict Verdict
		// two, expired, order are the report's counts.
		two, expired, order int
		// want is in the first anomaly's summary (or, with none, in the
		// reason).
		want []string
		kind string
	}{
		{
			name: "sequential holds",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK), hold(1, "n2", L, 7, 1.5, 2.2, 3, 3.1, history.OK),
				hold(0, "n1", L, 9, 3.5, 3.6, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 9))),
			verdict: Valid,
		},
		{
			name:    "two holders while both leases were valid",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 9))),
			verdict: Invalid, two: 1, kind: "two-holders",
			want: []string{"lock lab-lock/0 had two holders at once: process 1 (via n2) acquired it at 2 s with token 7 while process 0 (via n1) held it (acquired at 1.1 s with token 5; it began its release at 3 s)",
				"Both leases were known alive then (process 0 (via n1)'s lease was known alive until 9 s, process 1 (via n2)'s lease was known alive until 9 s), so no lease expiry explains it: the lock had two holders from 2 s until 3 s, with no fault in effect.",
				"The key of token 5 still existed, yet the lock went to the later key of token 7."},
		},
		{
			name:    "the first holder's lease had expired",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 4, 4.1, history.OK), ops(lease(0, 5, 1.8), lease(1, 5, 9))),
			verdict: Valid, expired: 1,
			want: []string{"1 hold(s) began while another process still believed it held the lock but one of the two leases may have expired: the known limit of lease-based locks, not a violation",
				"lock lab-lock/0: process 1 (via n2) acquired it at 2 s with token 7 while process 0 (via n1) still believed it held it (acquired at 1.1 s with token 5; it began its release at 3 s), with no fault in effect; but process 0 (via n1)'s lease was known alive until 1.8 s, before then: it may have expired",
				"Two holders through an expired lease is the known limit of lease-based locks, not a bug of the lock service"},
		},
		{
			name: "lease expired while a partition was in effect",
			ev: lhist(qPartition(1.2, 7), hold(0, "n3", L, 5, 1, 1.1, 7, 7.1, history.Info), hold(1, "n1", L, 7, 1.5, 6.5, 8, 8.1, history.OK),
				ops(lease(0, 9, 1.3), lease(1, 9, 12))),
			verdict: Valid, expired: 1,
			want: []string{"while partition (majority-minority) [n1 n2 | n3] was in effect; but process 0 (via n3)'s lease was known alive until 1.3 s"},
		},
		{
			// Process 1's key was created after process 0 held the lock:
			// process 1's own lease cannot have freed it for process 1.
			name:    "the later holder's lease does not explain it when it was invoked after the first acquire returned",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 1.9))),
			verdict: Invalid, two: 1, kind: "two-holders",
		},
		{
			// Process 1 may have been granted the lock first (its acquire
			// was invoked at 1 s), lost it by 1.05 s when its lease
			// expired, and process 0 took it before 1.1 s.
			name:    "the later holder may have held first and lost it to an expired lease",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1.05, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 4, 1, 2, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 1.05))),
			verdict: Valid, expired: 1,
			want: []string{"but process 1 (via n2)'s acquire was invoked at 1 s, before process 0 (via n1)'s returned, and process 1 (via n2)'s lease was known alive until 1.05 s, no later than that"},
		},
		{
			name:    "a lease that was not recorded may have expired",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 4, 4.1, history.OK), ops(lease(1, 5, 9))),
			verdict: Valid, expired: 1,
			want: []string{"and process 0 (via n1)'s lease was not recorded (known alive only when it last acquired a lock, at 1 s), so it may have expired before then"},
		},
		{
			name:    "a null validity is a lease of unknown validity",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 4, 4.1, history.OK), ops(lease(0, 5, -1), lease(1, 5, 9))),
			verdict: Valid, expired: 1,
		},
		{
			name:    "locks without leases: an overlap is two holders",
			ev:      lhist(nil, hold(0, "n1", L, 0, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", L, 0, 1.5, 2, 4, 4.1, history.OK)),
			verdict: Invalid, two: 1, kind: "two-holders",
			want: []string{"process 0 (via n1) held no lease, process 1 (via n2) held no lease"},
		},
		{
			name: "an unknown release may have released",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 4, history.Info), hold(1, "n2", L, 7, 1.5, 3, 5, 5.1, history.OK),
				ops(lease(0, 6, 9), lease(1, 6, 9))),
			verdict: Valid,
		},
		{
			name: "a release that never completed may have released",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 0, history.Invoke), hold(1, "n2", L, 7, 1.5, 3, 5, 5.1, history.OK),
				ops(lease(1, 6, 9))),
			verdict: Valid,
		},
		{
			name: "unknown and failed acquires hold nothing",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK),
				ops(lop{proc: 1, f: "acquire", key: L, node: "n2", in: `"mutex"`, typ: history.Info, call: 1.5, ret: 9},
					lop{proc: 2, f: "acquire", key: L, node: "n3", in: `"mutex"`, out: `"garbage"`, typ: history.Fail, call: 1.5, ret: 1.6},
					lop{proc: 3, f: "acquire", key: L, node: "n3", in: `"mutex"`, typ: history.Invoke, call: 1.2}),
				hold(4, "n2", L, 8, 1.5, 3, 4, 4.1, history.OK), ops(lease(0, 6, 9), lease(4, 6, 9))),
			verdict: Valid,
		},
		{
			name: "a failed release did not release",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.Fail), hold(1, "n2", L, 7, 1.5, 3, 5, 5.1, history.OK),
				ops(lop{proc: 0, f: "release", key: L, node: "n1", in: "5", typ: history.OK, call: 4, ret: 4.1}, lease(0, 6, 9), lease(1, 6, 9))),
			verdict: Invalid, two: 1, kind: "two-holders",
			want: []string{"acquired it at 3 s with token 7 while process 0 (via n1) held it (acquired at 1.1 s with token 5; it began its release at 4 s)"},
		},
		{
			name:    "holds touching at an instant do not overlap",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 3, 3.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 9))),
			verdict: Valid,
		},
		{
			name:    "different locks are independent",
			ev:      lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 3, 3.1, history.OK), hold(1, "n2", "lab-lock/1", 6, 1.5, 2, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 9))),
			verdict: Valid,
		},
		{
			name:    "a later acquire with a smaller token",
			ev:      lhist(nil, hold(0, "n1", L, 9, 1, 1.1, 2, 2.1, history.OK), hold(1, "n2", L, 7, 3, 3.1, 4, 4.1, history.OK), ops(lease(0, 5, 9), lease(1, 5, 9))),
			verdict: Invalid, order: 1, kind: "token-order",
			want: []string{"lock lab-lock/0: process 1's acquire, invoked at 3 s after process 0's acquire had returned at 1.1 s with token 9, got token 7"},
		},
		{
			name: "three holders, each overlap counted once",
			ev: lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 5, 5.1, history.OK), hold(1, "n2", L, 7, 1.5, 2, 6, 6.1, history.OK),
				hold(2, "n3", L, 8, 1.5, 3, 7, 7.1, history.OK), ops(lease(0, 8, 1.5), lease(1, 8, 9), lease(2, 8, 9))),
			// Process 2 overlaps process 1, whose lease was alive.
			verdict: Invalid, two: 1, expired: 1, kind: "two-holders",
			want: []string{"process 2 (via n3) acquired it at 3 s with token 8 while process 1 (via n2) held it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Check(context.Background(), tt.ev, Options{Model: "lock"})
			if err != nil {
				t.Fatal(err)
			}
			l := res.Lock
			if res.Verdict != tt.verdict || l == nil || l.TwoHolders != tt.two || l.LeaseExpired != tt.expired || l.TokenOrder != tt.order {
				t.Fatalf("verdict %s, report %+v, want %s with %d two-holders, %d lease-expired, %d token-order\nreason: %s\nanomalies: %+v",
					res.Verdict, l, tt.verdict, tt.two, tt.expired, tt.order, res.Reason, res.Anomalies)
			}
			text := res.Reason
			if len(res.Anomalies) > 0 {
				text = res.Anomalies[0].Summary
				if res.Anomalies[0].Kind != tt.kind {
					t.Errorf("anomaly kind %q, want %q", res.Anomalies[0].Kind, tt.kind)
				}
			} else if tt.kind != "" {
				t.Errorf("no anomaly, want %s", tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("story lacks %q:\n%s", w, text)
				}
			}
			if tt.verdict == Valid && len(res.Anomalies) > 0 {
				t.Errorf("valid with anomalies %+v", res.Anomalies)
			}
			if tt.expired > 0 && (len(l.LeaseLimit) == 0 || l.LeaseLimit[0].Kind != "lease-expired") {
				t.Errorf("lease limit stories %+v", l.LeaseLimit)
			}
		})
	}
}

// TestLockBadValues: values the model reads are checked, and a bad one is
// an error naming its event (1-based); values it does not read are not.
func TestLockBadValues(t *testing.T) {
	const L = "l"
	base := func(extra ...lop) []history.Event {
		return lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK), extra)
	}
	bad := []struct {
		name string
		ev   []history.Event
		want string
	}{
		{"token a string", lhist(nil, ops(lop{proc: 0, f: "acquire", key: L, out: `"five"`, typ: history.OK, call: 1, ret: 2})), `event 2: acquire ok value must be the fencing token (an integer, 0 or more) or null, got "five"`},
		{"token negative", lhist(nil, ops(lop{proc: 0, f: "acquire", key: L, out: `-3`, typ: history.OK, call: 1, ret: 2})), "event 2: acquire ok value must be the fencing token"},
		{"token a list", lhist(nil, ops(lop{proc: 0, f: "acquire", key: L, out: `[1,2]`, typ: history.OK, call: 1, ret: 2})), "event 2: acquire ok value must be the fencing token"},
		{"lease an object", base(lop{proc: 0, f: "lease", out: `{"id":1}`, typ: history.OK, call: 3, ret: 3.1}), `event 6: lease ok value must be [lease id, valid until (ns)], got {"id":1}`},
		{"lease too short", base(lop{proc: 0, f: "lease", out: `[1]`, typ: history.OK, call: 3, ret: 3.1}), "event 6: lease ok value must be"},
		{"lease time a string", base(lop{proc: 0, f: "lease", out: `[1,"soon"]`, typ: history.OK, call: 3, ret: 3.1}), `event 6: lease ok value must be [lease id, valid until (ns)], and "soon" is no time`},
		{"lease id a list", base(lop{proc: 0, f: "lease", out: `[[1],2]`, typ: history.OK, call: 3, ret: 3.1}), "event 6: lease ok value must be"},
		{"a write", base(lop{proc: 1, f: "write", key: L, in: "1", typ: history.OK, call: 3, ret: 3.1}), `event 5: f "write" is not an operation of the lock model`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(context.Background(), tt.ev, Options{Model: "lock"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrInternal) {
				t.Errorf("bad input reported as an internal error: %v", err)
			}
		})
	}
	// Values the model does not read: anything goes.
	ok := base(
		lop{proc: 1, f: "acquire", key: L, in: `{"x":[1]}`, out: `{"y":2}`, typ: history.Info, call: 3, ret: 3.1},
		lop{proc: 2, f: "release", key: L, in: `[[["deep"]]]`, out: `"?"`, typ: history.OK, call: 3, ret: 3.1},
		lop{proc: 0, f: "lease", in: `{"a":1}`, out: `{"b":2}`, typ: history.Info, call: 4, ret: 4.1},
		lop{proc: 0, f: "lease", out: `["abc",9000000000]`, typ: history.OK, call: 5, ret: 5.1},
	)
	res, err := Check(context.Background(), ok, Options{Model: "lock"})
	if err != nil || res.Verdict != Valid {
		t.Fatalf("values the model does not read: %s, %v", res.Verdict, err)
	}
	if !strings.Contains(strings.Join(res.Problems, "\n"), "release(s) by processes that held no lock") {
		t.Errorf("problems %q lack the stray release", res.Problems)
	}
}

// TestLockInferred: a history of acquires and releases with lease records
// is a lock history; without them a mutex history.
func TestLockInferred(t *testing.T) {
	const L = "l"
	with := lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK), ops(lease(0, 3, 9)))
	without := lhist(nil, hold(0, "n1", L, 5, 1, 1.1, 2, 2.1, history.OK))
	if got := InferModel(with); got != "lock" {
		t.Errorf("InferModel(with leases) = %q, want lock", got)
	}
	if got := InferModel(without); got != "mutex" {
		t.Errorf("InferModel(without leases) = %q, want mutex", got)
	}
}

// TestLockBounded: the stories listed are bounded, the counts are not.
func TestLockBounded(t *testing.T) {
	var groups [][]lop
	for i := range 30 {
		a := float64(i * 10)
		groups = append(groups, hold(int64(2*i), "n1", "l", int64(4*i+1), a, a+1, a+5, a+5.1, history.OK),
			hold(int64(2*i+1), "n2", "l", int64(4*i+2), a+0.5, a+2, a+6, a+6.1, history.OK),
			ops(lease(int64(2*i), a+7, a+9), lease(int64(2*i+1), a+7, a+9)))
	}
	res, err := Check(context.Background(), lhist(nil, groups...), Options{Model: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lock.TwoHolders != 30 || len(res.Anomalies) != lockMaxPerKind || !strings.Contains(res.Reason, "two-holders: 30, the first 20 listed") {
		t.Errorf("two-holders %d, %d listed, reason %q", res.Lock.TwoHolders, len(res.Anomalies), res.Reason)
	}
}

// TestLockHistories checks the histories of checker/testdata/lock through
// CheckPath, the path lab check takes, with the model inferred.
func TestLockHistories(t *testing.T) {
	tests := []struct {
		file    string
		verdict Verdict
		want    string
	}{
		{"two-holders.jsonl", Invalid, "had two holders at once"},
		{"lease-expired.jsonl", Valid, "the known limit of lease-based locks"},
		{"sequential.jsonl", Valid, ""},
		{"jepsen-mutex.edn", Invalid, "held no lease"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			model := "auto"
			if strings.HasSuffix(tt.file, ".edn") {
				model = "lock"
			}
			res, _, err := CheckPath(context.Background(), filepath.Join("testdata", "lock", tt.file), "", Options{Model: model})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Reason
			for _, a := range res.Anomalies {
				text += "\n" + a.Summary
			}
			if res.Model != "lock" || res.Verdict != tt.verdict || !strings.Contains(text, tt.want) {
				t.Errorf("%s: model %s, %s, want lock, %s with %q:\n%s", tt.file, res.Model, res.Verdict, tt.verdict, tt.want, text)
			}
		})
	}
}

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

// leaseOp is a hand-written lease operation: times in seconds, values JSON.
type leaseOp struct {
	proc      int64
	f, key    string
	node      string
	in, out   string
	typ       history.Type
	call, ret float64
	err       string
}

func leaseHist(faults []history.Event, ops ...leaseOp) []history.Event {
	ns := func(s float64) int64 { return int64(s * 1e9) }
	ev := append([]history.Event(nil), faults...)
	for _, o := range ops {
		in := history.Value(o.in)
		if o.in == "" {
			in = history.Nil
		}
		ev = append(ev, history.Event{Time: ns(o.call), Process: history.Process(o.proc), Type: history.Invoke, F: o.f, Key: o.key, Node: o.node, Value: in})
		if o.typ != history.Invoke {
			out := history.Nil
			if o.out != "" {
				out = history.Value(o.out)
			}
			ev = append(ev, history.Event{Time: ns(o.ret), Process: history.Process(o.proc), Type: o.typ, F: o.f, Key: o.key, Node: o.node, Value: out, Error: o.err})
		}
	}
	sortEvents(ev)
	return ev
}

// leasePause is a pause of n1 from start to end seconds.
func leasePause(start, end float64) []history.Event {
	f := &history.Fault{ID: 1, Kind: "pause", Shape: "leader", Groups: [][]string{{"n1"}}}
	return []history.Event{
		{Time: int64(start * 1e9), Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f},
		{Time: int64(end * 1e9), Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Fault: f},
	}
}

const leaseK = "lease-1-1"

// leaseBase is one valid lease cycle: process 0 through n1 grants lease 7
// (TTL 4 s) at 1 s, puts 100 to lease-1-1 under it, keeps it alive at 2.3,
// 3.6 and 4.9 s (each returning TTL 4), reading between, and lets it go at
// 5.5 s. Its last renewal completed at 5.0 s, so it must be gone by 12 s
// (5 + 4 + 3). keep replaces the three keepalives.
func leaseBase(keep ...leaseOp) []leaseOp {
	ops := []leaseOp{
		{proc: 0, f: "grant", key: leaseK, node: "n1", in: "4", out: "[7,4]", typ: ok, call: 1, ret: 1.1},
		{proc: 0, f: "put", key: leaseK, node: "n1", in: "[100,7]", out: "[100,7]", typ: ok, call: 1.2, ret: 1.3},
		{proc: 0, f: "read", key: leaseK, node: "n1", out: "100", typ: ok, call: 1.4, ret: 1.5},
	}
	if keep == nil {
		keep = []leaseOp{
			{proc: 0, f: "keepalive", key: leaseK, node: "n1", in: "7", out: "4", typ: ok, call: 2.3, ret: 2.4},
			{proc: 0, f: "keepalive", key: leaseK, node: "n1", in: "7", out: "4", typ: ok, call: 3.6, ret: 3.7},
			{proc: 0, f: "keepalive", key: leaseK, node: "n1", in: "7", out: "4", typ: ok, call: 4.9, ret: 5.0},
		}
	}
	ops = append(ops, keep...)
	return append(ops, leaseOp{proc: 20, f: "release", key: leaseK, node: "n1", in: "7", out: "7", typ: ok, call: 5.5, ret: 5.5})
}

// leaseGone is a read through n2 at call that finds lease-1-1 gone.
func leaseGone(call float64) leaseOp { return leaseReadAt(1, "n2", call, "null") }

func leaseKeep(typ history.Type, call float64, out string) leaseOp {
	return leaseOp{proc: 0, f: "keepalive", key: leaseK, node: "n1", in: "7", out: out, typ: typ, call: call, ret: call + 0.1}
}

// leaseReadAt is a read of lease-1-1 by its own process (so as not to overlap
// another).
func leaseReadAt(proc int64, node string, call float64, out string) leaseOp {
	return leaseOp{proc: proc, f: "read", key: leaseK, node: node, out: out, typ: ok, call: call, ret: call + 0.1}
}

func TestLeaseVerdicts(t *testing.T) {
	info := history.Info
	tests := []struct {
		name   string
		faults []history.Event
		ops    []leaseOp
		want   Verdict
		kind   string   // the anomaly's kind, for invalid ones
		says   []string // the story names these
		fate   string
	}{
		{name: "kept, let go, expired", ops: append(leaseBase(), leaseGone(12.5)), want: Valid, fate: LeaseFateExpired},
		{name: "vanished while kept alive", ops: append(leaseBase(), leaseReadAt(2, "n3", 4.0, "null")), want: Invalid, kind: "vanished",
			says: []string{"key lease-1-1 vanished", "through n3 invoked at 4 s", "lease 7", "certainly alive until 8.9 s", "keepalive through n1 invoked at 4.9 s", "with no fault in effect", "its put of 100 completed at 1.3 s"},
			fate: LeaseFateVanished},
		{name: "vanished after keepalives timed out", ops: append(leaseBase(leaseKeep(info, 2.3, ""), leaseKeep(info, 3.6, ""), leaseKeep(info, 4.9, "")),
			leaseReadAt(2, "n3", 5.2, "null")), want: Valid, fate: LeaseFateExpired},
		{name: "vanished after keepalives failed", ops: append(leaseBase(leaseKeep(info, 2.3, ""), leaseKeep(info, 3.6, ""), leaseKeep(history.Fail, 5.1, "")),
			leaseReadAt(2, "n3", 5.2, "null")), want: Valid, fate: LeaseFateExpired},
		{name: "a later ok keepalive proves it was alive across a gap", ops: append(leaseBase(leaseKeep(info, 2.3, ""), leaseKeep(info, 3.6, ""), leaseKeep(ok, 4.9, "4")),
			leaseReadAt(2, "n3", 5.2, "null")), want: Invalid, kind: "vanished", says: []string{"certainly alive until 8.9 s"}},
		{name: "a read completing after the window is fine", ops: append(leaseBase(), leaseReadAt(2, "n3", 8.85, "null")), want: Valid, fate: LeaseFateExpired},
		{name: "keepalive not found while alive", ops: append(leaseBase(leaseKeep(ok, 2.3, "4"), leaseKeep(history.Fail, 3.6, "")), leaseGone(12.5)), want: Invalid, kind: "lease-lost",
			says: []string{"lease 7 (key lease-1-1, granted through n1 at 1.1 s with a TTL of 4s) was lost", "invoked at 3.6 s", "certainly alive until 6.3 s"}},
		{name: "let go, never expired", ops: append(leaseBase(), leaseReadAt(2, "n3", 20, "100")), want: Invalid, kind: "not-expired",
			says: []string{"did not expire", "through n3 invoked at 20 s", "let go at 5.5 s", "must have expired by 12 s", "completed at 5 s", "TTL of 4s and a margin of 3s"}, fate: LeaseFateNotExpired},
		{name: "read of the value just before the bound", ops: append(leaseBase(), leaseReadAt(2, "n3", 11.9, "100"), leaseGone(12.5)), want: Valid, fate: LeaseFateExpired},
		{name: "a fault window extends the bound", faults: leasePause(4, 10), ops: append(leaseBase(), leaseReadAt(2, "n3", 16.9, "100"), leaseGone(17.5)), want: Valid, fate: LeaseFateExpired},
		{name: "past the extended bound", faults: leasePause(4, 10), ops: append(leaseBase(), leaseReadAt(2, "n3", 17.2, "100")), want: Invalid, kind: "not-expired",
			says: []string{"must have expired by 17 s", "pushed to the end of pause (leader) [n1] at 10 s", "with no fault in effect"}},
		{name: "a fault after the key was seen gone extends nothing", faults: leasePause(11, 20), ops: append(leaseBase(), leaseGone(10), leaseReadAt(2, "n3", 13, "100")), want: Invalid, kind: "not-expired",
			says: []string{"must have expired by 12 s"}},
		{name: "an unhealed fault leaves it unbounded", faults: leasePause(4, 10)[:1], ops: append(leaseBase(), leaseReadAt(2, "n3", 50, "100")), want: Valid},
		{name: "an info keepalive never completed leaves it unbounded", ops: append(leaseBase(leaseKeep(ok, 2.3, "4"), leaseOp{proc: 0, f: "keepalive", key: leaseK, node: "n1", in: "7", typ: history.Invoke, call: 3.6}),
			leaseReadAt(2, "n3", 50, "100")), want: Valid, fate: LeaseFateUnknown},
		{name: "a key that came back", faults: leasePause(4, 10), ops: append(leaseBase(), leaseReadAt(2, "n3", 10.5, "null"), leaseReadAt(3, "n3", 11, "100")), want: Invalid, kind: "returned",
			says: []string{"key lease-1-1 came back", "found it gone at 10.6 s"}},
		{name: "a value never put", ops: append(leaseBase(), leaseReadAt(2, "n3", 3, "101")), want: Invalid, kind: "unexpected", says: []string{"returned 101", "the only value put to the key is 100"}},
		{name: "garbage from the system", ops: append(leaseBase(), leaseReadAt(2, "n3", 3, `"x\u0000y"`)), want: Invalid, kind: "unexpected"},
		{name: "the value before its put", ops: append(leaseBase(), leaseReadAt(2, "n3", 0.5, "100")), want: Invalid, kind: "unexpected", says: []string{"completed before its put was invoked"}},
		{name: "reads on a key nobody granted", ops: []leaseOp{leaseReadAt(2, "n3", 1, "null"), {proc: 3, f: "read", key: "other", node: "n1", out: "5", typ: ok, call: 1, ret: 2}},
			want: Invalid, kind: "unexpected", says: []string{"nothing was ever put to the key"}},
		{name: "put with an unknown outcome, seen", ops: []leaseOp{
			{proc: 0, f: "grant", key: leaseK, node: "n1", in: "4", out: "[7,4]", typ: ok, call: 1, ret: 1.1},
			{proc: 0, f: "put", key: leaseK, node: "n1", in: "[100,7]", typ: info, call: 1.2, ret: 2.2},
			leaseReadAt(1, "n2", 2.5, "100"), leaseReadAt(2, "n2", 3, "null")}, want: Invalid, kind: "vanished", says: []string{"a read through n2 returned 100 at 2.6 s"}},
		{name: "put with an unknown outcome, unseen", ops: []leaseOp{
			{proc: 0, f: "grant", key: leaseK, node: "n1", in: "4", out: "[7,4]", typ: ok, call: 1, ret: 1.1},
			{proc: 0, f: "put", key: leaseK, node: "n1", in: "[100,7]", typ: info, call: 1.2, ret: 2.2},
			leaseReadAt(2, "n2", 3, "null")}, want: Valid, fate: LeaseFateNoKey},
		{name: "failed put", ops: []leaseOp{
			{proc: 0, f: "grant", key: leaseK, node: "n1", in: "4", out: "[7,4]", typ: ok, call: 1, ret: 1.1},
			{proc: 0, f: "put", key: leaseK, node: "n1", in: "[100,7]", typ: history.Fail, call: 1.2, ret: 1.3, err: "etcdserver: requested lease not found"},
			leaseReadAt(2, "n2", 3, "100")}, want: Invalid, kind: "unexpected", says: []string{"failed: etcdserver: requested lease not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCheck(t, leaseHist(tt.faults, tt.ops...), Options{Model: "lease"})
			if res.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s; reason %q; anomalies %+v", res.Verdict, tt.want, res.Reason, res.Anomalies)
			}
			if tt.want == Invalid {
				if len(res.Anomalies) == 0 || res.Anomalies[0].Kind != tt.kind {
					t.Fatalf("anomalies %+v, want the first of kind %s", res.Anomalies, tt.kind)
				}
				for _, s := range tt.says {
					if !strings.Contains(res.Anomalies[0].Summary, s) {
						t.Errorf("story %q does not say %q", res.Anomalies[0].Summary, s)
					}
				}
			} else if len(res.Anomalies) > 0 {
				t.Errorf("anomalies %+v in a valid history", res.Anomalies)
			}
			if tt.fate != "" {
				if res.Lease == nil || len(res.Lease.Leases) == 0 || res.Lease.Leases[0].Fate != tt.fate {
					t.Errorf("lease report %+v, want the first lease's fate %s", res.Lease, tt.fate)
				}
			}
		})
	}
}

// TestLeaseReport: the counts of the account.
func TestLeaseReport(t *testing.T) {
	ops := append(leaseBase(), leaseGone(12.5),
		leaseOp{proc: 5, f: "grant", key: "lease-1-2", node: "n2", in: "4", typ: history.Info, call: 1, ret: 2, err: "timeout"},
		leaseOp{proc: 6, f: "grant", key: "lease-1-3", node: "n2", in: "4", typ: history.Fail, call: 3, ret: 4, err: "no"},
		leaseOp{proc: 7, f: "grant", key: "lease-2-1", node: "n3", in: "4", out: "[9,4]", typ: ok, call: 1, ret: 1.1},
		leaseOp{proc: 7, f: "put", key: "lease-2-1", node: "n3", in: "[200,9]", out: "[200,9]", typ: ok, call: 1.2, ret: 1.3},
		leaseOp{proc: 7, f: "keepalive", key: "lease-2-1", node: "n3", in: "9", typ: history.Info, call: 2.3, ret: 3.3},
		leaseOp{proc: 8, f: "release", key: "lease-2-1", node: "n3", in: "9", out: "9", typ: ok, call: 6, ret: 6},
		leaseOp{proc: 9, f: "read", key: "lease-2-1", node: "n1", out: "null", typ: ok, call: 7, ret: 7.1},
	)
	res := mustCheck(t, leaseHist(nil, ops...), Options{Model: "lease"})
	r := res.Lease
	if res.Verdict != Valid || r == nil {
		t.Fatalf("verdict %s, report %+v, anomalies %+v", res.Verdict, r, res.Anomalies)
	}
	want := LeaseReport{Granted: 2, GrantsUnknown: 1, GrantsFailed: 1, Attached: 2, Kept: 1, Lapsed: 1, Released: 2, Expired: 2,
		Reads: 3, ReadsAbsent: 2, Margin: LeaseMargin}
	got := *r
	got.Leases = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("report\n %+v, want\n %+v", got, want)
	}
	if len(r.Leases) != 2 || r.Leases[1].Key != "lease-2-1" || r.Leases[1].Lease != "9" || r.Leases[1].Kept || r.Leases[0].ExpireBy != 12e9 || r.Leases[0].AliveUntil != 8.9e9 {
		t.Errorf("leases %+v", r.Leases)
	}
	if !strings.Contains(res.Reason, "1 lease(s) were not kept alive within every TTL window") {
		t.Errorf("reason %q", res.Reason)
	}
}

// TestLeaseBadValues: values the model cannot read are bad input naming
// the event (1-based), never a crash.
func TestLeaseBadValues(t *testing.T) {
	grant := leaseOp{proc: 0, f: "grant", key: leaseK, node: "n1", in: "4", out: "[7,4]", typ: ok, call: 1, ret: 2}
	tests := []struct {
		name string
		ops  []leaseOp
		want string
	}{
		{"grant value not a pair", []leaseOp{{proc: 0, f: "grant", key: leaseK, in: "4", out: "[7]", typ: ok, call: 1, ret: 2}}, "event 2: grant ok value must be [lease, ttl]"},
		{"grant ttl zero", []leaseOp{{proc: 0, f: "grant", key: leaseK, in: "4", out: "[7,0]", typ: ok, call: 1, ret: 2}}, "event 2: grant ok value must be [lease, ttl]"},
		{"grant ttl huge", []leaseOp{{proc: 0, f: "grant", key: leaseK, in: "4", out: "[7,9223372036854775807]", typ: ok, call: 1, ret: 2}}, "event 2:"},
		{"second grant", []leaseOp{grant, {proc: 1, f: "grant", key: leaseK, in: "4", out: "[8,4]", typ: ok, call: 3, ret: 4}}, "event 3: key \"lease-1-1\" has a second grant (the first at event 1)"},
		{"no key", []leaseOp{{proc: 0, f: "read", out: "null", typ: ok, call: 1, ret: 2}}, "event 1: a read of the lease model must name its key"},
		{"put not a pair", []leaseOp{grant, {proc: 0, f: "put", key: leaseK, in: "100", typ: ok, call: 3, ret: 4}}, "event 3: put value must be [value, lease], got 100"},
		{"put of a list", []leaseOp{grant, {proc: 0, f: "put", key: leaseK, in: "[[1],7]", typ: ok, call: 3, ret: 4}}, "event 3: put value must be [value, lease] with an integer or string value"},
		{"put of another lease", []leaseOp{grant, {proc: 0, f: "put", key: leaseK, in: "[100,8]", typ: ok, call: 3, ret: 4}}, "event 3: put of lease 8 on key \"lease-1-1\", whose grant (event 1) returned lease 7"},
		{"put without a grant", []leaseOp{{proc: 0, f: "put", key: leaseK, in: "[100,8]", typ: ok, call: 3, ret: 4}}, "which has no grant"},
		{"second put", []leaseOp{grant, {proc: 0, f: "put", key: leaseK, in: "[100,7]", typ: ok, call: 3, ret: 4}, {proc: 0, f: "put", key: leaseK, in: "[101,7]", typ: ok, call: 5, ret: 6}}, "event 5: key \"lease-1-1\" has a second put"},
		{"keepalive of garbage", []leaseOp{grant, {proc: 0, f: "keepalive", key: leaseK, in: `"x"`, typ: ok, call: 3, ret: 4}}, `event 3: keepalive value must be the lease (an integer), got "x"`},
		{"keepalive ttl garbage", []leaseOp{grant, {proc: 0, f: "keepalive", key: leaseK, in: "7", out: `{"ttl":4}`, typ: ok, call: 3, ret: 4}}, "event 4: keepalive ok value must be the lease's TTL in seconds"},
		{"keepalive after an unknown grant", []leaseOp{{proc: 0, f: "grant", key: leaseK, in: "4", typ: history.Info, call: 1, ret: 2}, {proc: 1, f: "keepalive", key: leaseK, in: "7", typ: ok, out: "4", call: 3, ret: 4}}, "whose grant (event 1) returned no lease"},
		{"release of garbage", []leaseOp{grant, {proc: 0, f: "release", key: leaseK, in: "null", typ: ok, call: 3, ret: 3}}, "event 3: release value must be the lease (an integer), got nil"},
		{"read of a list", []leaseOp{grant, {proc: 1, f: "read", key: leaseK, out: "[1,2]", typ: ok, call: 3, ret: 4}}, "event 4: read ok value must be the key's value (an integer or a string) or null, got [1,2]"},
		{"read of an object", []leaseOp{{proc: 1, f: "read", key: leaseK, out: `{"a":1}`, typ: ok, call: 3, ret: 4}}, "event 2: read ok value must be"},
		{"not a lease function", []leaseOp{grant, {proc: 1, f: "cas", key: leaseK, in: "[1,2]", typ: ok, call: 3, ret: 4}}, `event 3: f "cas" is not an operation of the lease model`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(context.Background(), leaseHist(nil, tt.ops...), Options{Model: "lease"})
			if err == nil || errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check err = %v, want bad input containing %q", err, tt.want)
			}
		})
	}
	// Garbage in outcomes that carry nothing is ignored.
	res := mustCheck(t, leaseHist(nil, grant,
		leaseOp{proc: 1, f: "read", key: leaseK, out: `{"x":1}`, typ: history.Info, call: 3, ret: 4},
		leaseOp{proc: 2, f: "read", key: leaseK, out: `[1]`, typ: history.Fail, call: 5, ret: 6},
		leaseOp{proc: 0, f: "keepalive", key: leaseK, in: "7", out: `"gone"`, typ: history.Fail, call: 3.5, ret: 3.6}), Options{Model: "lease"})
	if res.Verdict != Invalid || res.Lease.Lost != 1 {
		t.Errorf("verdict %s, report %+v: the failed keepalive within the grant's TTL is a lost lease", res.Verdict, res.Lease)
	}
	// A history without times cannot be judged by TTLs.
	ev := leaseHist(nil, grant)
	for i := range ev {
		ev[i].Time = 0
	}
	if _, err := Check(context.Background(), ev, Options{Model: "lease"}); err == nil || !strings.Contains(err.Error(), "needs the times") {
		t.Errorf("timeless: err %v", err)
	}
}

// TestLeaseManyAnomalies: anomalies are bounded per kind, counted in full.
func TestLeaseManyAnomalies(t *testing.T) {
	ops := leaseBase()
	for i := 0; i < 30; i++ {
		ops = append(ops, leaseOp{proc: int64(100 + i), f: "read", key: leaseK, node: "n2", out: "555", typ: ok, call: 2 + float64(i)*0.01, ret: 2.005 + float64(i)*0.01})
	}
	res := mustCheck(t, leaseHist(nil, ops...), Options{Model: "lease"})
	if res.Lease.Unexpected != 30 || len(res.Anomalies) != leaseMaxPerKind || !strings.Contains(res.Reason, "unexpected: 30, the first 20 listed") {
		t.Errorf("unexpected %d, %d anomalies, reason %q", res.Lease.Unexpected, len(res.Anomalies), res.Reason)
	}
}

// TestLeaseFiles checks the histories in testdata/lease through CheckPath,
// the code path of lab check (the model inferred): the verdict is in the
// name.
func TestLeaseFiles(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "lease", "*.jsonl"))
	if len(paths) < 3 {
		t.Fatalf("found %d histories in testdata/lease, want at least 3", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			res, _, err := CheckPath(context.Background(), p, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := Invalid
			if strings.Contains(p, "-ok.") {
				want = Valid
			}
			if res.Model != "lease" || res.Verdict != want {
				t.Errorf("CheckPath(%s) = %s (model %s), want %s; %q %+v", p, res.Verdict, res.Model, want, res.Reason, res.Anomalies)
			}
		})
	}
}

func TestInferLease(t *testing.T) {
	ev := leaseHist(nil, leaseBase()...)
	if got := InferModel(ev); got != "lease" {
		t.Errorf("InferModel = %s, want lease", got)
	}
}

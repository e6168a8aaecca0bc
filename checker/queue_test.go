package checker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// qop is a hand-written queue operation: times in seconds, values JSON.
type qop struct {
	proc      int64
	f, node   string
	in, out   string
	typ       history.Type
	call, ret float64
	err       string
}

func qhist(faults []history.Event, ops ...qop) []history.Event {
	ns := func(s float64) int64 { return int64(s * 1e9) }
	ev := append([]history.Event(nil), faults...)
	for _, o := range ops {
		in := history.Value(o.in)
		if o.in == "" {
			in = history.Nil
		}
		ev = append(ev, history.Event{Time: ns(o.call), Process: history.Process(o.proc), Type: history.Invoke, F: o.f, Node: o.node, Value: in})
		if o.typ != history.Invoke {
			var out history.Value
			if o.out != "" {
				out = history.Value(o.out)
			}
			ev = append(ev, history.Event{Time: ns(o.ret), Process: history.Process(o.proc), Type: o.typ, F: o.f, Node: o.node, Value: out, Error: o.err})
		}
	}
	sortEvents(ev)
	return ev
}

// qPartition is a majority-minority partition from start to end seconds.
func qPartition(start, end float64) []history.Event {
	f := &history.Fault{ID: 1, Kind: "partition", Shape: "majority-minority", Groups: [][]string{{"n1", "n2"}, {"n3"}}}
	return []history.Event{
		{Time: int64(start * 1e9), Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f},
		{Time: int64(end * 1e9), Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Fault: f},
	}
}

// queueStream is what a healthy run acknowledges: process 0 publishes 1, 2,
// 3 through n1 and process 1 publishes 10, 11, 12 through n2, at seqs 1 to
// 6 in that interleaving.
var queueStream = [][2]int{{1, 1}, {10, 2}, {2, 3}, {11, 4}, {3, 5}, {12, 6}}

// queueBase is a valid queue history: the six publishes, one consumer
// fetch of the first two, and a complete drain of the six through each of
// n1, n2 and n3. drop removes messages from every read; nodeDrop from one
// node's drain only.
func queueBase(drop []int, nodeDrop map[string][]int) []qop {
	var ops []qop
	for i, p := range queueStream {
		proc, node := int64(0), "n1"
		if p[0] >= 10 {
			proc, node = 1, "n2"
		}
		t := float64(i + 1)
		ops = append(ops, qop{proc: proc, f: "enqueue", node: node, in: fmt.Sprint(p[0]), out: fmt.Sprintf("[%d,%d]", p[0], p[1]), typ: ok, call: t, ret: t + 0.1})
	}
	pairs := func(skip []int) string {
		var s []string
		for _, p := range queueStream {
			if !slices.Contains(skip, p[0]) {
				s = append(s, fmt.Sprintf("[%d,%d]", p[0], p[1]))
			}
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	deq := []string{}
	for _, m := range []int{1, 10} {
		if !slices.Contains(drop, m) {
			deq = append(deq, fmt.Sprintf("[%d,%d]", m, map[int]int{1: 1, 10: 2}[m]))
		}
	}
	ops = append(ops, qop{proc: 2, f: "dequeue", node: "n3", out: "[" + strings.Join(deq, ",") + "]", typ: ok, call: 2.5, ret: 2.6})
	for i, n := range []string{"n1", "n2", "n3"} {
		t := 10 + float64(i)
		ops = append(ops,
			qop{proc: int64(5 + i), f: "drain", node: n, in: "1", out: pairs(append(append([]int(nil), drop...), nodeDrop[n]...)), typ: ok, call: t, ret: t + 0.1},
			qop{proc: int64(5 + i), f: "drained", node: n, out: "6", typ: ok, call: t + 0.2, ret: t + 0.3})
	}
	return ops
}

// with replaces the operations of base matching f, node and (when in is
// set) input, and appends the rest of extra.
func with(base []qop, extra ...qop) []qop {
	out := append([]qop(nil), base...)
	for _, x := range extra {
		replaced := false
		for i, o := range out {
			if o.f == x.f && o.node == x.node && (x.in == "" || o.in == x.in) && o.proc == x.proc {
				out[i], replaced = x, true
				break
			}
		}
		if !replaced {
			out = append(out, x)
		}
	}
	return out
}

func anomalyKinds(as []Anomaly) string {
	var k []string
	for _, a := range as {
		k = append(k, a.Kind)
	}
	return strings.Join(k, " ")
}

func TestQueue(t *testing.T) {
	n3Short := []qop{
		{proc: 7, f: "drain", node: "n3", in: "1", out: "[[1,1],[10,2],[2,3],[11,4]]", typ: ok, call: 12, ret: 12.1},
		{proc: 7, f: "drained", node: "n3", out: "4", typ: ok, call: 12.2, ret: 12.3},
	}
	gaveUp := func(n string, proc int64, t float64) qop {
		return qop{proc: proc, f: "drained", node: n, typ: info, call: t + 0.2, ret: t + 5, err: "context deadline exceeded"}
	}
	tests := []struct {
		name    string
		faults  []history.Event
		ops     []qop
		opts    Options
		verdict Verdict
		kinds   string   // anomaly kinds in order
		counts  string   // selected QueueReport counts
		says    []string // substrings of the summaries, reason and problems
	}{
		{name: "valid", ops: queueBase(nil, nil), verdict: Valid,
			counts: "attempted 6 acknowledged 6 read 6 lost 0 unread 0 lost-on-node 0 duplicated 0 recovered 0"},
		{name: "lost during a partition", faults: qPartition(3.5, 4.5), ops: queueBase([]int{11}, nil), verdict: Invalid,
			kinds: "lost-middle", counts: "attempted 6 acknowledged 6 read 5 lost 1 unread 0 lost-on-node 0 duplicated 0 recovered 0",
			says: []string{"message 11 (process 1, via n2), acknowledged at seq 4 at 4.1 s, while partition (majority-minority) [n1 n2 | n3] was in effect, was never read",
				"though process 1's later message 12 was read: a hole", "n1's drain completed at seq 6"}},
		{name: "lost-start", ops: queueBase([]int{1}, nil), verdict: Invalid, kinds: "lost-start",
			says: []string{"message 1 (process 0, via n1), acknowledged at seq 1 at 1.1 s, with no fault in effect", "its first message read is 2"}},
		{name: "lost-middle", ops: queueBase([]int{2}, nil), verdict: Invalid, kinds: "lost-middle"},
		{name: "lost-end", ops: queueBase([]int{3}, nil), verdict: Invalid, kinds: "lost-end", says: []string{"its last message read is 2"}},
		{name: "no message of the publisher read", ops: queueBase([]int{10, 11, 12}, nil), verdict: Invalid,
			kinds: "lost-start lost-start lost-start", says: []string{"none of process 1's 3 messages was read"}},
		{name: "drain gave up: unread, not lost", ops: with(queueBase([]int{11}, nil), gaveUp("n1", 5, 10), gaveUp("n2", 6, 11), gaveUp("n3", 7, 12)),
			verdict: Unknown, counts: "attempted 6 acknowledged 6 read 5 lost 0 unread 1 lost-on-node 0 duplicated 0 recovered 0",
			says: []string{"1 acknowledged message(s) were read nowhere, and no reader completed its drain", "n1's drain gave up after seq 6 (context deadline exceeded)", "unread, not lost"}},
		{name: "one drain gave up, another completed", ops: with(queueBase([]int{11}, nil), gaveUp("n3", 7, 12)), verdict: Invalid,
			kinds: "lost-middle", says: []string{"n3's drain gave up after seq 6 (context deadline exceeded): not judged"}},
		{name: "lost on a node", ops: with(queueBase(nil, map[string][]int{"n2": {2}}), n3Short...), verdict: Invalid,
			kinds: "lost-on-node lost-on-node lost-on-node", counts: "attempted 6 acknowledged 6 read 6 lost 0 unread 0 lost-on-node 3 duplicated 0 recovered 0",
			says: []string{"message 2 (process 0, via n1), acknowledged at seq 3 at 3.1 s, with no fault in effect, was read through n1's drain at seq 3 but is missing from n2's drain",
				"missing from n2's drain: n2's drain completed at seq 6, past the message's seq 3",
				"message 12 (process 1, via n2), acknowledged at seq 6 at 6.1 s, with no fault in effect, was read through n1's drain at seq 6 but is missing from n3's drain: node n3 holds only up to seq 4"}},
		{name: "divergent", ops: append(queueBase(nil, nil),
			qop{proc: 3, f: "enqueue", node: "n3", in: "20", typ: info, call: 7, ret: 8, err: "timeout"},
			qop{proc: 4, f: "enqueue", node: "n1", in: "21", typ: info, call: 7, ret: 8, err: "timeout"},
			qop{proc: 8, f: "drain", node: "n1", in: "7", out: "[[21,7]]", typ: ok, call: 13, ret: 13.1},
			qop{proc: 9, f: "drain", node: "n3", in: "7", out: "[[20,7]]", typ: ok, call: 13, ret: 13.1}),
			verdict: Invalid, kinds: "divergent", counts: "attempted 8 acknowledged 6 read 8 lost 0 unread 0 lost-on-node 0 duplicated 0 recovered 2",
			says: []string{"seq 7 holds different messages", "message 21 (process 4, via n1) read through n1's drain at seq 7", "message 20 (process 3, via n3) read through n3's drain at seq 7"}},
		{name: "unexpected", ops: append(with(queueBase(nil, nil), qop{proc: 5, f: "drain", node: "n1", in: "1", out: "[[1,1],[10,2],[2,3],[11,4],[3,5],[12,6],[77,7]]", typ: ok, call: 10, ret: 10.1}),
			qop{proc: 3, f: "enqueue", node: "n2", in: "30", typ: fail, call: 7, ret: 7.1, err: "no responders"},
			qop{proc: 4, f: "dequeue", node: "n2", out: "[[30,8]]", typ: ok, call: 8, ret: 8.1}),
			verdict: Invalid, kinds: "unexpected unexpected",
			says: []string{"message 30 was read by the dequeue of process 4 via n2 invoked at 8 s at seq 8, with no fault in effect, but it was published by process 3 at 7 s, but that publish failed definitely (no responders)",
				"message 77 was read through n1's drain at seq 7, with no fault in effect, but it was never published"}},
		{name: "duplicates allowed by default", ops: append(queueBase(nil, nil), qop{proc: 4, f: "dequeue", node: "n1", out: "[[1,1]]", typ: ok, call: 4, ret: 4.1}),
			verdict: Valid, counts: "attempted 6 acknowledged 6 read 6 lost 0 unread 0 lost-on-node 0 duplicated 1 recovered 0",
			says: []string{"1 message(s) were delivered more than once"}},
		{name: "duplicates with exactly-once", ops: append(queueBase(nil, nil), qop{proc: 4, f: "dequeue", node: "n1", out: "[[1,1]]", typ: ok, call: 4, ret: 4.1}),
			opts: Options{ExactlyOnce: true}, verdict: Invalid, kinds: "duplicated",
			says: []string{"message 1 (process 0, via n1), acknowledged at seq 1 at 1.1 s, with no fault in effect, was delivered 2 times by consumers"}},
		{name: "read at two seqs is a duplicate", ops: with(queueBase(nil, nil), qop{proc: 5, f: "drain", node: "n1", in: "1", out: "[[1,1],[10,2],[2,3],[11,4],[3,5],[12,6],[1,7]]", typ: ok, call: 10, ret: 10.1}),
			opts: Options{ExactlyOnce: true}, verdict: Invalid, kinds: "order duplicated", says: []string{"read at seqs 1 7"}},
		{name: "recovered", ops: with(queueBase(nil, nil), qop{proc: 0, f: "enqueue", node: "n1", in: "3", typ: info, call: 5, ret: 5.5, err: "timeout"}),
			verdict: Valid, counts: "attempted 6 acknowledged 5 read 6 lost 0 unread 0 lost-on-node 0 duplicated 0 recovered 1"},
		{name: "unknown publish never read is fine", ops: append(queueBase(nil, nil), qop{proc: 3, f: "enqueue", node: "n3", in: "40", typ: info, call: 7, ret: 8}),
			verdict: Valid, counts: "attempted 7 acknowledged 6 read 6 lost 0 unread 0 lost-on-node 0 duplicated 0 recovered 0"},
		{name: "order", ops: with(queueBase(nil, nil), qop{proc: 0, f: "enqueue", node: "n1", in: "2", out: "[2,7]", typ: ok, call: 3, ret: 3.1}),
			verdict: Invalid, kinds: "order order",
			says: []string{"message 3 (process 0, via n1), invoked at 5 s and acknowledged at seq 5 at 5.1 s, with no fault in effect, does not come after the same process's message 2, acknowledged at seq 7 at 3.1 s",
				"message 2 (process 0, via n1) was acknowledged at seq 7 at 3.1 s, with no fault in effect, but read through n1's drain at seq 3"}},
		{name: "jepsen style: scalars, no seqs, one anonymous drain", ops: []qop{
			{proc: 0, f: "enqueue", in: "1", out: "1", typ: ok, call: 1, ret: 1.1},
			{proc: 0, f: "enqueue", in: "2", out: "2", typ: ok, call: 2, ret: 2.1},
			{proc: 0, f: "enqueue", in: "3", out: "3", typ: ok, call: 3, ret: 3.1},
			{proc: 1, f: "dequeue", out: "1", typ: ok, call: 4, ret: 4.1},
			{proc: 1, f: "dequeue", typ: fail, call: 5, ret: 5.1, err: "empty"},
			{proc: 2, f: "drain", out: "[3]", typ: ok, call: 6, ret: 6.1}},
			verdict: Invalid, kinds: "lost-middle", counts: "attempted 3 acknowledged 3 read 2 lost 1 unread 0 lost-on-node 0 duplicated 0 recovered 0",
			says: []string{"message 2 (process 0), acknowledged at 2.1 s, with no fault in effect, was never read by any consumer or drain (the drain completed)"}},
		{name: "no drain at all: unread", ops: []qop{
			{proc: 0, f: "enqueue", in: "1", out: "1", typ: ok, call: 1, ret: 1.1},
			{proc: 0, f: "enqueue", in: "2", out: "2", typ: ok, call: 2, ret: 2.1},
			{proc: 1, f: "dequeue", out: "1", typ: ok, call: 4, ret: 4.1}},
			verdict: Unknown, counts: "attempted 2 acknowledged 2 read 1 lost 0 unread 1 lost-on-node 0 duplicated 0 recovered 0",
			says: []string{"the history has no final drain"}},
		{name: "string and integer messages are the same", ops: []qop{
			{proc: 0, f: "enqueue", in: "1", out: `["1",1]`, typ: ok, call: 1, ret: 1.1},
			{proc: 2, f: "drain", node: "n1", out: `[["1",1]]`, typ: ok, call: 6, ret: 6.1}},
			verdict: Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Model = "queue"
			res := mustCheck(t, qhist(tt.faults, tt.ops...), tt.opts)
			q := res.Queue
			if q == nil {
				t.Fatalf("no queue report: %+v", res)
			}
			if res.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s (reason %q, anomalies %+v)", res.Verdict, tt.verdict, res.Reason, res.Anomalies)
			}
			if got := anomalyKinds(res.Anomalies); got != tt.kinds {
				t.Errorf("anomaly kinds %q, want %q", got, tt.kinds)
			}
			if tt.counts != "" {
				got := fmt.Sprintf("attempted %d acknowledged %d read %d lost %d unread %d lost-on-node %d duplicated %d recovered %d",
					q.Attempted, q.Acknowledged, q.Read, q.Lost, q.Unread, q.LostOnNode, q.Duplicated, q.Recovered)
				if got != tt.counts {
					t.Errorf("counts\n %s, want\n %s", got, tt.counts)
				}
			}
			var all []string
			for _, a := range res.Anomalies {
				all = append(all, a.Summary)
			}
			all = append(all, res.Reason)
			all = append(all, res.Problems...)
			text := strings.Join(all, "\n")
			for _, s := range tt.says {
				if !strings.Contains(text, s) {
					t.Errorf("the result does not say %q:\n%s", s, text)
				}
			}
			if tt.verdict != Invalid && strings.Contains(anomalyKinds(res.Anomalies), "lost") {
				t.Errorf("a %s verdict with a lost anomaly", tt.verdict)
			}
		})
	}
}

// TestQueueFates: each message's fate, the node account and the split of
// lost messages by publisher.
func TestQueueFates(t *testing.T) {
	ops := with(queueBase([]int{1, 2, 12}, nil),
		qop{proc: 1, f: "enqueue", node: "n2", in: "11", typ: info, call: 4, ret: 4.5},
		qop{proc: 7, f: "drained", node: "n3", typ: info, call: 12.2, ret: 15, err: "deadline"})
	ops = append(ops, qop{proc: 3, f: "enqueue", node: "n1", in: "50", typ: fail, call: 7, ret: 7.1})
	res := mustCheck(t, qhist(nil, ops...), Options{Model: "queue"})
	q := res.Queue
	fates := map[string]string{}
	for _, m := range q.Messages {
		fates[m.Msg] = m.Fate
	}
	want := map[string]string{"1": FateLostStart, "2": FateLostStart, "3": FateRead, "10": FateRead, "11": FateRecovered, "12": FateLostEnd, "50": FateFailed}
	for m, f := range want {
		if fates[m] != f {
			t.Errorf("fate of %s = %q, want %q", m, fates[m], f)
		}
	}
	if q.LostStart != 2 || q.LostMiddle != 0 || q.LostEnd != 1 || q.Lost != 3 || q.Failed != 1 || q.Unknown != 1 {
		t.Errorf("lost start %d middle %d end %d total %d failed %d unknown %d, want 2 0 1 3 1 1", q.LostStart, q.LostMiddle, q.LostEnd, q.Lost, q.Failed, q.Unknown)
	}
	if len(q.Nodes) != 3 || !q.Nodes[0].Complete || q.Nodes[2].Complete || q.Nodes[2].Error != "deadline" || q.Nodes[0].LastSeq != 6 || q.Nodes[0].Read != 3 {
		t.Errorf("nodes %+v", q.Nodes)
	}
	for _, m := range q.Messages {
		if m.Msg == "3" && strings.Join(m.HeldBy, ",") != "n1,n2,n3" {
			t.Errorf("3 held by %v, want n1 n2 n3", m.HeldBy)
		}
	}
}

// TestQueueBounded: a run that loses thousands lists the first 20 per kind
// and counts them all.
func TestQueueBounded(t *testing.T) {
	var ops []qop
	for i := range 1000 {
		t := float64(i) / 100
		ops = append(ops, qop{proc: 0, f: "enqueue", node: "n1", in: fmt.Sprint(i), out: fmt.Sprintf("[%d,%d]", i, i+1), typ: ok, call: t, ret: t + 0.001})
	}
	ops = append(ops, qop{proc: 1, f: "drain", node: "n1", in: "1", out: "[[999,1000]]", typ: ok, call: 20, ret: 20.1},
		qop{proc: 1, f: "drained", node: "n1", out: "1000", typ: ok, call: 21, ret: 21.1})
	res := mustCheck(t, qhist(nil, ops...), Options{Model: "queue"})
	if res.Queue.LostStart != 999 || len(res.Anomalies) != queueMaxPerKind {
		t.Fatalf("lost-start %d, anomalies %d; want 999 and %d", res.Queue.LostStart, len(res.Anomalies), queueMaxPerKind)
	}
	if !strings.Contains(res.Reason, "lost-start: 999, the first 20 listed") {
		t.Errorf("reason %q", res.Reason)
	}
}

// TestQueueBadValues: values the model cannot read are bad input naming the
// event (1-based), never a crash.
func TestQueueBadValues(t *testing.T) {
	enq := qop{proc: 0, f: "enqueue", node: "n1", in: "1", out: "[1,1]", typ: ok, call: 1, ret: 2}
	tests := []struct {
		name string
		op   qop
		want string
	}{
		{"drain value not an array", qop{proc: 1, f: "drain", node: "n1", out: "5", typ: ok, call: 3, ret: 4}, "event 4: drain value must be an array of [msg, seq] pairs or of messages, got 5"},
		{"drain pair too short", qop{proc: 1, f: "drain", node: "n1", out: "[[1]]", typ: ok, call: 3, ret: 4}, "event 4: drain value, element 1: expected a message or a pair [msg, seq], got [1]"},
		{"seq not an integer", qop{proc: 1, f: "drain", node: "n1", out: `[[1,"x"]]`, typ: ok, call: 3, ret: 4}, `event 4: drain value, element 1: expected a seq (an integer from 1) in [msg, seq], got "x"`},
		{"seq zero", qop{proc: 1, f: "drain", node: "n1", out: `[[1,0]]`, typ: ok, call: 3, ret: 4}, "expected a seq (an integer from 1)"},
		{"message an object", qop{proc: 1, f: "dequeue", node: "n1", out: `{"a":1}`, typ: ok, call: 3, ret: 4}, `event 4: dequeue value must be an array of [msg, seq] pairs or of messages, or one message, got {"a":1}`},
		{"message a list in a pair", qop{proc: 1, f: "dequeue", node: "n1", out: `[[[1],1]]`, typ: ok, call: 3, ret: 4}, "expected a message (an integer or a string) in [msg, seq], got [1]"},
		{"enqueue of a list", qop{proc: 1, f: "enqueue", node: "n1", in: "[1,2]", typ: ok, call: 3, ret: 4}, "event 3: enqueue value must be a message (an integer or a string), got [1,2]"},
		{"enqueue ok of garbage", qop{proc: 1, f: "enqueue", node: "n1", in: "7", out: "[7,1,2]", typ: ok, call: 3, ret: 4}, "event 4: enqueue ok value must be [msg, seq] or the message"},
		{"drained not a seq", qop{proc: 1, f: "drained", node: "n1", out: `"end"`, typ: ok, call: 3, ret: 4}, `event 4: drained value must be the last seq the node holds`},
		{"bool message", qop{proc: 1, f: "dequeue", node: "n1", out: "true", typ: ok, call: 3, ret: 4}, "got true"},
		{"not a queue function", qop{proc: 1, f: "read", node: "n1", typ: ok, call: 3, ret: 4}, `event 3: f "read" is not an operation of the queue model`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(context.Background(), qhist(nil, enq, tt.op), Options{Model: "queue"})
			if err == nil || errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check err = %v, want bad input containing %q", err, tt.want)
			}
		})
	}
	// Garbage in outcomes that carry nothing is ignored.
	res := mustCheck(t, qhist(nil, enq,
		qop{proc: 1, f: "dequeue", node: "n1", out: `{"x":1}`, typ: info, call: 3, ret: 4},
		qop{proc: 2, f: "drain", node: "n1", out: `"nope"`, typ: fail, call: 5, ret: 6},
		qop{proc: 3, f: "drain", node: "n1", in: `"whatever"`, out: "[[1,1]]", typ: ok, call: 7, ret: 8}), Options{Model: "queue"})
	if res.Queue.Read != 1 {
		t.Errorf("read %d, want 1", res.Queue.Read)
	}
}

// TestQueueFiles checks the histories in testdata/queue through CheckPath,
// the code path of lab check: the verdict is in the name.
func TestQueueFiles(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "queue", "*.*"))
	if len(paths) < 4 {
		t.Fatalf("found %d histories in testdata/queue, want at least 4", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			res, _, err := CheckPath(context.Background(), p, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := Invalid
			switch {
			case strings.Contains(p, "-ok."):
				want = Valid
			case strings.Contains(p, "-unread."):
				want = Unknown
			}
			if res.Model != "queue" || res.Verdict != want {
				t.Errorf("CheckPath(%s) = %s (model %s), want %s; %q %+v", p, res.Verdict, res.Model, want, res.Reason, res.Anomalies)
			}
		})
	}
}

// TestQueueJepsenEDN: a Jepsen queue history in EDN, nemesis :start/:stop
// pairs as fault windows, keyword errors, no times.
func TestQueueJepsenEDN(t *testing.T) {
	res, _, err := CheckPath(context.Background(), filepath.Join("testdata", "queue", "jepsen-lost.edn"), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Queue
	if res.Verdict != Invalid || q.Attempted != 5 || q.Acknowledged != 4 || q.Recovered != 1 || q.Lost != 1 || q.LostMiddle != 1 || !res.Timeless {
		t.Fatalf("verdict %s, report %+v, timeless %v", res.Verdict, q, res.Timeless)
	}
	want := "message 3 (process 0), acknowledged at event 12, while start was in effect, was never read"
	if len(res.Anomalies) != 1 || !strings.Contains(res.Anomalies[0].Summary, want) {
		t.Errorf("anomalies %+v, want one saying %q", res.Anomalies, want)
	}
}

func TestInferQueue(t *testing.T) {
	for _, f := range []string{"enqueue", "dequeue", "drain"} {
		if got := InferModel([]history.Event{{F: f}}); got != "queue" {
			t.Errorf("InferModel(%s) = %s, want queue", f, got)
		}
	}
}

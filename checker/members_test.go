package checker

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// memberHistory is a valid register history (write 1, read 1 on key "k")
// followed by what each member held at the end.
func memberHistory(states map[string]string, failed ...string) []history.Event {
	ev := []history.Event{
		{Time: 1, Process: 0, Type: history.Invoke, F: "write", Key: "k", Value: history.IntValue(1)},
		{Time: 2, Process: 0, Type: history.OK, F: "write", Key: "k", Value: history.IntValue(1)},
		{Time: 3, Process: 1, Type: history.Invoke, F: "read", Key: "k", Value: history.Nil},
		{Time: 4, Process: 1, Type: history.OK, F: "read", Key: "k", Value: history.IntValue(1)},
	}
	p := history.Process(10)
	for _, n := range []string{"n1", "n2", "n3"} {
		ev = append(ev, history.Event{Time: 5, Process: p, Type: history.Invoke, F: memberStateF, Node: n, Value: history.Nil})
		done := history.Event{Time: 6, Process: p, Type: history.OK, F: memberStateF, Node: n, Value: history.Value(states[n])}
		for _, f := range failed {
			if f == n {
				done.Type, done.Value, done.Error = history.Fail, history.Nil, "connection refused"
			}
		}
		ev = append(ev, done)
		p++
	}
	return ev
}

func TestMembers(t *testing.T) {
	same := `{"revision":7,"hash":1234,"kvs":{"k":"1"}}`
	tests := []struct {
		name    string
		states  map[string]string
		failed  []string
		want    Verdict
		summary []string
	}{
		{"agree", map[string]string{"n1": same, "n2": same, "n3": same}, nil, Valid, nil},
		{"one member's value differs", map[string]string{"n1": same, "n2": same, "n3": `{"revision":7,"hash":999,"kvs":{"k":"2"}}`}, nil, Invalid,
			[]string{`revision 7`, `key "k": n1="1", n2="1", n3="2"`, "n3: 000003e7"}},
		{"a key on one member only", map[string]string{"n1": same, "n2": `{"revision":7,"hash":1234,"kvs":{"k":"1","x":"9"}}`, "n3": same}, nil, Invalid,
			[]string{`key "x": n1 has no value, n2="9", n3 has no value`}},
		{"same keys, different hashes", map[string]string{"n1": same, "n2": same, "n3": `{"revision":7,"hash":5,"kvs":{"k":"1"}}`}, nil, Invalid,
			[]string{"hashes of the key space", "n1 n2: 000004d2"}},
		{"a member not read is not judged", map[string]string{"n1": same, "n2": same}, []string{"n3"}, Valid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Check(context.Background(), memberHistory(tc.states, tc.failed...), Options{Model: "cas-register"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%+v)", res.Verdict, tc.want, res.Anomalies)
			}
			if res.Counts.Ops != 2 {
				t.Errorf("counted %d operations, want the 2 of the workload", res.Counts.Ops)
			}
			if tc.want == Invalid {
				if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != "members-disagree" {
					t.Fatalf("anomalies %+v, want one members-disagree", res.Anomalies)
				}
				for _, s := range tc.summary {
					if !strings.Contains(res.Anomalies[0].Summary, s) {
						t.Errorf("summary %q lacks %q", res.Anomalies[0].Summary, s)
					}
				}
			}
			if len(tc.failed) > 0 && !strings.Contains(res.Reason, "not read from n3") {
				t.Errorf("reason %q should say n3 was not read", res.Reason)
			}
		})
	}
}

func TestMembersBadValue(t *testing.T) {
	ev := memberHistory(map[string]string{"n1": `{"revision":7}`, "n2": `[1,2]`, "n3": `"x"`})
	_, err := Check(context.Background(), ev, Options{Model: "cas-register"})
	if err == nil || !strings.Contains(err.Error(), "event 5") {
		t.Fatalf("a member-state value without kvs: %v, want an error naming event 5", err)
	}
}

// revisionHistory is a valid register history followed by revision asks:
// each ask is {node, call, return, revision}; a negative revision is a
// failed ask.
func revisionHistory(asks ...[4]int64) []history.Event {
	ev := memberHistory(map[string]string{})[:4]
	for i, a := range asks {
		node := []string{"n1", "n2", "n3"}[a[0]]
		p := history.Process(100 + i)
		ev = append(ev, history.Event{Time: a[1], Process: p, Type: history.Invoke, F: memberRevisionF, Node: node, Value: history.Nil})
		done := history.Event{Time: a[2], Process: p, Type: history.OK, F: memberRevisionF, Node: node, Value: history.IntValue(a[3])}
		if a[3] < 0 {
			done.Type, done.Value, done.Error = history.Fail, history.Nil, "deadline exceeded"
		}
		ev = append(ev, done)
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time < ev[j].Time })
	return ev
}

func TestRevisionsBackwards(t *testing.T) {
	tests := []struct {
		name    string
		asks    [][4]int64
		want    Verdict
		summary []string
	}{
		{"rising on every member", [][4]int64{{0, 10, 11, 5}, {1, 10, 11, 4}, {0, 20, 21, 9}, {1, 20, 21, 9}}, Valid, nil},
		{"the same after a restart", [][4]int64{{2, 10, 11, 7}, {2, 20, 21, -1}, {2, 30, 31, 7}}, Valid, nil},
		{"members may differ from each other", [][4]int64{{0, 10, 11, 9}, {1, 20, 21, 3}}, Valid, nil},
		{"overlapping asks are not compared", [][4]int64{{0, 10, 30, 9}, {0, 20, 25, 4}}, Valid, nil},
		{"lower after an earlier answer", [][4]int64{{0, 10, 11, 5}, {2, 10, 11, 9}, {2, 20, 21, -1}, {2, 30, 31, 6}, {2, 40, 41, 2}}, Invalid,
			[]string{"Member n3 said it had applied revision 9", "revision 6", "went back 3 revision(s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Check(context.Background(), revisionHistory(tc.asks...), Options{Model: "cas-register"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%+v)", res.Verdict, tc.want, res.Anomalies)
			}
			if tc.want == Valid {
				return
			}
			if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != "revision-backwards" {
				t.Fatalf("anomalies %+v, want one revision-backwards", res.Anomalies)
			}
			for _, s := range tc.summary {
				if !strings.Contains(res.Anomalies[0].Summary, s) {
					t.Errorf("summary %q lacks %q", res.Anomalies[0].Summary, s)
				}
			}
		})
	}
}

func TestRevisionNotANumberIsBadInput(t *testing.T) {
	ev := revisionHistory([4]int64{0, 10, 11, 5})
	ev[len(ev)-1].Value = history.Value(`"five"`)
	_, err := Check(context.Background(), ev, Options{Model: "cas-register"})
	if err == nil || !strings.Contains(err.Error(), "member-revision value must be a whole number") {
		t.Fatalf("err %v, want a bad-input error naming the value", err)
	}
}

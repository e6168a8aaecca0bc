package reports

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/logcheck"
)

// bigRun is n operations at 1000 per second on five nodes with two
// partitions, 200 leader-change log lines and 60 anomalies: the size of a
// long nightly run.
func bigRun(n int) *Run {
	r := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	var evs []history.Event
	isolated := func(t int64) bool { return (t >= 20e9 && t < 40e9) || (t >= 60e9 && t < 70e9) }
	var anomalies []Anomaly
	for i := 0; i < n; i++ {
		call := int64(i) * int64(time.Millisecond)
		node := nodes[i%len(nodes)]
		f := []string{"read", "write", "cas"}[i%3]
		lat := int64(2e6 + r.IntN(8e6))
		typ := history.OK
		if node == "n5" && isolated(call) {
			typ, lat = history.Info, 1e9
		} else if r.IntN(200) == 0 {
			typ = history.Fail
		}
		evs = append(evs, opEvents(int64(i), node, f, "k"+string(rune('0'+i%8)), history.IntValue(int64(i)), history.IntValue(int64(i)), call, call+lat, typ, "timeout")...)
		if i%1500 == 0 && isolated(call) {
			ops, _, _ := history.Pair(evs[len(evs)-2:])
			anomalies = append(anomalies, Anomaly{Kind: "stale read", Key: "k0", Time: call + lat, Summary: "a read returned an old value", Ops: ops})
		}
	}
	evs = append(evs, faultEvents(1, "isolate", [][]string{{"n5"}, {"n1", "n2", "n3", "n4"}}, 20e9, 40e9)...)
	evs = append(evs, faultEvents(2, "isolate", [][]string{{"n5"}, {"n1", "n2", "n3", "n4"}}, 60e9, 70e9)...)
	sortEvents(evs)
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var logs []logcheck.Finding
	for i := 0; i < 200; i++ {
		logs = append(logs, logcheck.Finding{Node: nodes[i%5], Line: i, Time: started.Add(time.Duration(i) * 400 * time.Millisecond),
			Kind: logcheck.LeaderChange, Term: int64(i / 5), Text: "elected leader"})
	}
	return &Run{Scenario: "big", Seed: 1, Nodes: nodes, Verdict: Invalid, Events: evs, Anomalies: anomalies,
		Started: started, Logs: logs, LogsChecked: true, Files: []string{"history.html"}}
}

// BenchmarkWrite100k renders every plot (PNG and SVG) and both reports of a
// 100 000-operation run.
//
//	go test ./reports -run '^$' -bench Write100k -benchtime 3x
func BenchmarkWrite100k(b *testing.B) {
	run := bigRun(100_000)
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		if err := Write(dir, run); err != nil {
			b.Fatal(err)
		}
	}
}

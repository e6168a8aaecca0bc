package runner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
)

// TestProgressKeepsAFaultUntilItsEnd: an observation recorded during a
// fault (who leads, a node's clock) carries the fault's ID, and must not
// take the fault off the progress line; only its end does.
func TestProgressKeepsAFaultUntilItsEnd(t *testing.T) {
	hw, err := history.Create(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	var out strings.Builder
	p := newProgress(&out, hw)
	nem := func(f string, fault *history.Fault) {
		hw.Append(history.Event{Process: history.Nemesis, Type: history.Info, F: f, Fault: fault})
	}
	start := &history.Fault{ID: 1, Kind: "partition", Shape: "isolate", Detail: "{n3} | {n1 n2} (silent)"}
	steps := []struct {
		what string
		do   func()
		want string
	}{
		{"before", func() {}, "faults in effect: none"},
		{"started", func() { nem(history.FaultStart, start) }, "faults in effect: 1: partition {n3} | {n1 n2} (silent)"},
		{"leader observed", func() { nem(history.Observe, &history.Fault{ID: 1, Kind: "leader", Detail: "n1"}) }, "faults in effect: 1: partition {n3} | {n1 n2} (silent)"},
		{"healed", func() { nem(history.FaultEnd, start) }, "faults in effect: none"},
	}
	for _, s := range steps {
		s.do()
		if got := p.line(time.Second, time.Minute); !strings.HasSuffix(got, s.want) {
			t.Errorf("%s: progress line %q, want it to end with %q", s.what, got, s.want)
		}
	}
}

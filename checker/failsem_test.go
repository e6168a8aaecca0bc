package checker

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// TestFailReadings checks the synthetic Jepsen histories of
// testdata/failsem under both readings of a failed cas. Built on Jepsen's
// convention (a failed operation did not take place), each is valid as
// written; read as "the compare did not match", those with a failed cas
// over the reign of its expected value are not.
func TestFailReadings(t *testing.T) {
	tests := []struct {
		file              string
		dropped, observed Verdict
	}{
		{"fail-cas.edn", Valid, Invalid},
		{"fail-mixed.edn", Valid, Invalid},
		{"fail-cas-harmless.edn", Valid, Valid},
		{"fail-cas-info-nemesis.edn", Valid, Invalid},
	}
	for _, tt := range tests {
		path := filepath.Join("testdata", "failsem", tt.file)
		for _, c := range []struct {
			flag, used string
			want       Verdict
		}{{"", FailCASDropped, tt.dropped}, {FailCASDropped, FailCASDropped, tt.dropped}, {FailCASObserved, FailCASObserved, tt.observed}} {
			t.Run(tt.file+"/"+c.flag, func(t *testing.T) {
				res, _, err := CheckPath(context.Background(), path, "", Options{FailCAS: c.flag})
				if err != nil {
					t.Fatal(err)
				}
				if res.Verdict != c.want || res.FailCAS != c.used {
					t.Errorf("verdict %s with reading %q, want %s with %q (%v)", res.Verdict, res.FailCAS, c.want, c.used, res.Anomalies)
				}
			})
		}
	}
}

// TestFailReadingPerFormat: without a choice, old Jepsen logs keep
// porcupine's reading, EDN and the lab's history Jepsen's.
func TestFailReadingPerFormat(t *testing.T) {
	for format, want := range map[string]string{"jepsen-log": FailCASObserved, "edn": FailCASDropped, "jsonl": FailCASDropped} {
		if got := FailCASFor(format); got != want {
			t.Errorf("FailCASFor(%s) = %s, want %s", format, got, want)
		}
	}
	res, _, err := CheckPath(context.Background(), filepath.Join("testdata", "porcupine", "jepsen", "etcd_000.log"), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailCAS != FailCASObserved {
		t.Errorf("etcd_000.log read with %q, want %q", res.FailCAS, FailCASObserved)
	}
}

// TestLegacyLabCompareFailed: lab histories written before ok/false
// recorded a compare that did not match as a fail with the error "compare
// failed"; that still reads as an observation, while a fail with any other
// error (a definite error: the cas never reached the state machine) is
// dropped.
func TestLegacyLabCompareFailed(t *testing.T) {
	write1 := []hop{{0, "write", "x", "1", "1", ok, 1, 2}}
	tests := []struct {
		name  string
		err   string
		want  Verdict
		count int
	}{
		{"compare failed is a mismatch", history.LegacyCompareFailed, Invalid, 1},
		{"a definite error did not happen", "etcdserver: key not found", Valid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := hist(append(write1, hop{1, "cas", "x", "[1,2]", "[1,2]", fail, 3, 4})...)
			ev[len(ev)-1].Error = tt.err
			res := mustCheck(t, ev, Options{})
			if res.Verdict != tt.want || res.Counts.CASNotSwapped != tt.count {
				t.Errorf("verdict %s with %d cas not swapped, want %s with %d", res.Verdict, res.Counts.CASNotSwapped, tt.want, tt.count)
			}
		})
	}
}

// TestIndependentKeys: a jepsen.independent history is checked per key.
func TestIndependentKeys(t *testing.T) {
	res, _, err := CheckPath(context.Background(), filepath.Join("testdata", "failsem", "independent.edn"), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Invalid || res.Counts.Keys != 2 || len(res.Anomalies) != 1 || res.Anomalies[0].Key != "2" || res.Anomalies[0].Kind != "stale-read" {
		t.Fatalf("verdict %s over %d keys, anomalies %+v; want invalid over 2 keys, a stale read of key 2", res.Verdict, res.Counts.Keys, res.Anomalies)
	}
}

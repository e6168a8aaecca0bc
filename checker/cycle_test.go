package checker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// TestCASCyclesDoNotCrash: cas writers whose expected values form a cycle
// once sent the witness's chain of writers round forever (a stack
// overflow). Each of these is invalid: nothing writes the first expected
// value before the cycle, so no cas of it can be the first to swap.
func TestCASCyclesDoNotCrash(t *testing.T) {
	tests := []struct {
		name string
		ops  []hop
	}{
		{"cas [1 1] alone", []hop{{0, "cas", "", "[1,1]", "[1,1]", ok, 1, 2}}},
		{"two-cycle", []hop{
			{0, "cas", "", "[1,2]", "[1,2]", ok, 1, 4},
			{1, "cas", "", "[2,1]", "[2,1]", ok, 2, 3},
			{2, "read", "", "", "1", ok, 5, 6},
		}},
		{"three-cycle with a read", []hop{
			{0, "cas", "", "[1,2]", "[1,2]", ok, 1, 10},
			{1, "cas", "", "[2,3]", "[2,3]", ok, 1, 10},
			{2, "cas", "", "[3,1]", "[3,1]", ok, 1, 10},
			{3, "read", "", "", "2", ok, 11, 12},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCheck(t, hist(tt.ops...), Options{Model: "cas-register"})
			if res.Verdict != Invalid {
				t.Fatalf("verdict %s, want invalid", res.Verdict)
			}
			if len(res.Anomalies) == 0 {
				t.Fatalf("invalid without an anomaly")
			}
		})
	}
}

// TestPanicIsInternalError: a panic while a worker checks a key (a bug in
// the checker) comes back as an error wrapping ErrInternal, never as a
// verdict and never as a crash of the process.
func TestPanicIsInternalError(t *testing.T) {
	boom := &model{name: "boom", build: func(key string, _ []history.Op, _ timeFormat) (*partition, error) {
		panic("boom on key " + key)
	}}
	_, _, err := runPartitions(context.Background(), boom, false, []string{"a", "b"}, map[string][]history.Op{})
	if !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), "boom on key") {
		t.Fatalf("err = %v, want one wrapping ErrInternal with the panic's value", err)
	}
}

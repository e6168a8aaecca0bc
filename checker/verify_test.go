package checker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// TestVerifyAgrees: on the differential test's histories, verification
// re-checks the decided keys and agrees.
func TestVerifyAgrees(t *testing.T) {
	verified := 0
	for seed := range uint64(300) {
		ev := wildHistory(seed)
		res, err := Check(context.Background(), ev, Options{Verify: true})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if res.Verified == nil {
			t.Fatalf("seed %d: no verification in the result", seed)
		}
		verified += res.Verified.Keys
	}
	if verified < 300 {
		t.Errorf("only %d keys verified", verified)
	}
}

// TestVerifyNamesDisagreement: a key whose verdict plain porcupine does not
// share is an internal error naming the key.
func TestVerifyNamesDisagreement(t *testing.T) {
	ev := hist(
		hop{0, "write", "k7", "1", "1", ok, 1, 2},
		hop{1, "read", "k7", "", "2", ok, 3, 4},
	)
	ops, _, _ := history.Pair(ev)
	_, groups := byKey(ops)
	res := Result{Partitions: []PartitionResult{{Key: "k7", Verdict: Valid, Ops: 2, Method: "witness"}}}
	err := verify(context.Background(), &res, groups, "cas-register", false, false)
	if !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), `key "k7"`) {
		t.Fatalf("err = %v, want an internal error naming key k7", err)
	}
}

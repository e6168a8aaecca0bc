package checker

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Verification re-checks decided keys with plain porcupine: the key's
// operations as recorded (failed ones left out, unknown ones returning at
// infinity), no reduction, refutation, zone or witness. It is a safety net
// for the shortcuts, not a second opinion on the model: both sides use the
// same model and the same reading of failed cas.

// The bounds of verification: keys with more operations, or whose plain
// search does not finish in time, are counted as not verified.
const (
	VerifyMaxOps  = 5000
	VerifyTimeout = 10 * time.Second
)

// Verification is what [Options.Verify] did.
type Verification struct {
	// Keys is how many keys plain porcupine re-checked and agreed on.
	Keys int `json:"keys"`
	// TooLarge counts keys over VerifyMaxOps operations; TimedOut keys
	// whose plain search did not finish within VerifyTimeout.
	TooLarge int `json:"too_large"`
	TimedOut int `json:"timed_out"`
	// Duration is the time verification took.
	Duration time.Duration `json:"duration_ns"`
}

// verify re-checks every decided key of res with plain porcupine. A
// disagreement is an error wrapping ErrInternal that names the key.
func verify(ctx context.Context, res *Result, groups map[string][]history.Op, modelName string, tf timeFormat, failObserved bool) error {
	start := time.Now()
	m, err := lookupModelTuned(modelName, tuning{plain: true, noReduce: true, noRefute: true, failObserved: failObserved})
	if err != nil {
		return err
	}
	v := &Verification{}
	var todo []PartitionResult
	for _, pr := range res.Partitions {
		switch {
		case pr.Verdict == Unknown:
		case pr.Ops > VerifyMaxOps:
			v.TooLarge++
		default:
			todo = append(todo, pr)
		}
	}
	errs := make([]error, len(todo))
	outcome := make([]porcupine.CheckResult, len(todo))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outcome[i], errs[i] = plainKey(m, todo[i].Key, groups[todo[i].Key], tf)
			}
		}()
	}
	for i := range todo {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for i, pr := range todo {
		if errs[i] != nil {
			return errs[i]
		}
		want := map[porcupine.CheckResult]Verdict{porcupine.Ok: Valid, porcupine.Illegal: Invalid}[outcome[i]]
		switch {
		case outcome[i] == porcupine.Unknown:
			v.TimedOut++
		case want != pr.Verdict:
			return fmt.Errorf("%w: verification failed on key %q: the checker says %s (method %s), plain porcupine says %s", ErrInternal, pr.Key, pr.Verdict, pr.Method, want)
		default:
			v.Keys++
		}
	}
	v.Duration = time.Since(start)
	res.Verified = v
	return nil
}

// plainKey runs porcupine on one key's operations with nothing reduced.
func plainKey(m *model, key string, ops []history.Op, tf timeFormat) (porcupine.CheckResult, error) {
	p, err := m.build(key, ops, tf)
	if err != nil {
		return porcupine.Unknown, err
	}
	return porcupine.CheckOperationsTimeout(p.pm, p.search, VerifyTimeout), nil
}

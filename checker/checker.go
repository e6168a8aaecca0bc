package checker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Check judges a history against the model named in opts. The error is
// bad input (an unknown model, a function or value the model does not
// understand), or, wrapping [ErrInternal], a failure inside the checker;
// everything the history itself gets wrong is in the Result. When ctx is
// cancelled or opts.Timeout passes before the search ends, the verdict is
// Unknown unless a key was already found invalid.
func Check(ctx context.Context, events []history.Event, opts Options) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, internalError(v)
		}
	}()
	return check(ctx, events, opts, tuning{})
}

// ErrInternal marks a failure inside the checker: a bug, not a property
// of the history. It must never be read as a verdict (lab check exits 255
// on it, not 2).
var ErrInternal = errors.New("internal checker error")

// internalError turns a recovered panic into an error wrapping
// ErrInternal, with the stack for the bug report.
func internalError(v any) error {
	return fmt.Errorf("%w: %v\n%s", ErrInternal, v, debug.Stack())
}

func check(ctx context.Context, events []history.Event, opts Options, t tuning) (Result, error) {
	start := time.Now()
	switch opts.FailCAS {
	case "", FailCASDropped:
	case FailCASObserved:
		t.failObserved = true
	default:
		return Result{}, fmt.Errorf("unknown reading of a failed cas %q; expected one of %s", opts.FailCAS, strings.Join(FailCASReadings, ", "))
	}
	m, err := lookupModelTuned(opts.Model, t)
	if err != nil {
		return Result{}, err
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	res := Result{Model: m.name, Verdict: Valid}
	events, res.Timeless = withPositions(events)
	tf := timeFormat(res.Timeless)
	ops, faults, problems := history.Pair(events)
	for _, pr := range problems {
		res.Problems = append(res.Problems, fmt.Sprintf("event %d: %s", pr.Index+1, pr.Msg))
	}
	if err := completedBeforeCalled(ops, tf); err != nil {
		return Result{}, err
	}
	// What each member held at the end is compared whatever the model,
	// and added to the model's verdict at the end.
	ops, members := splitMembers(ops)
	var mres Result
	if err := checkMembers(members, &mres); err != nil {
		return Result{}, err
	}
	res.Counts = countOps(ops, t.failObserved)
	if slices.Contains(m.fs, "write") {
		res.FailCAS = FailCASDropped
		if t.failObserved {
			res.FailCAS = FailCASObserved
		}
	}
	res.Counts.Nemesis = len(faults)
	for _, op := range ops {
		if !supported(m, op.F) {
			return Result{}, fmt.Errorf("event %d: f %q is not an operation of the %s model (expected %v)", op.Index+1, op.F, m.name, m.fs)
		}
	}
	if m.name == "set" {
		checkSet(ops, &res, tf)
		res.addMembers(mres)
		res.Duration = time.Since(start)
		return res, nil
	}
	if m.name == "queue" {
		res.Counts.Keys = 1
		if err := checkQueue(events, ops, history.FaultWindows(faults), opts.ExactlyOnce, &res, tf); err != nil {
			return Result{}, err
		}
		res.addMembers(mres)
		res.Duration = time.Since(start)
		return res, nil
	}
	if m.name == "lease" {
		if err := checkLease(events, ops, history.FaultWindows(faults), &res, tf); err != nil {
			return Result{}, err
		}
		res.addMembers(mres)
		res.Duration = time.Since(start)
		return res, nil
	}

	if m.name == "lock" {
		if err := checkLock(ctx, events, ops, history.FaultWindows(faults), &res, tf); err != nil {
			return Result{}, err
		}
		res.addMembers(mres)
		res.Duration = time.Since(start)
		return res, nil
	}

	keys, groups := byKey(ops)
	ops = nil
	res.Counts.Keys = len(keys)
	parts, reds, err := runPartitions(ctx, m, tf, keys, groups)
	if err != nil {
		return Result{}, err
	}
	for _, r := range reds {
		res.Reductions.add(r)
	}
	res.Partitions = make([]PartitionResult, len(parts))
	for i, p := range parts {
		res.Partitions[i] = p.result
	}

	var unknownKeys []string
	stopped := 0
	for i := range res.Partitions {
		pr := res.Partitions[i]
		switch pr.Verdict {
		case Invalid:
			res.Verdict = Invalid
			if a := explain(ctx, parts[i].part, tf); a != nil {
				res.Anomalies = append(res.Anomalies, *a)
			}
		case Unknown:
			if pr.Method == "stopped" {
				stopped++
				continue
			}
			unknownKeys = append(unknownKeys, pr.Key)
		}
	}
	if len(unknownKeys) > 0 {
		if res.Verdict == Valid {
			res.Verdict = Unknown
		}
		res.Reason = fmt.Sprintf("the search did not finish (%v) for %d key(s): %s", context.Cause(ctx), len(unknownKeys), clipList(unknownKeys, 10))
	}
	if stopped > 0 {
		note := fmt.Sprintf("%d key(s) were not finished: checking stops at the first invalid key", stopped)
		if res.Reason != "" {
			note = res.Reason + "; " + note
		}
		res.Reason = note
	}
	sort.SliceStable(res.Partitions, func(i, j int) bool { return res.Partitions[i].Ops > res.Partitions[j].Ops })
	if opts.Verify && m.hasReductions() {
		if err := verify(ctx, &res, groups, m.name, tf, t.failObserved); err != nil {
			return Result{}, err
		}
	}
	res.addMembers(mres)
	res.Duration = time.Since(start)
	return res, nil
}

// withPositions gives a history without times (every event at zero) the
// event positions 1, 2, ... as times.
func withPositions(events []history.Event) ([]history.Event, bool) {
	if len(events) < 2 {
		return events, false
	}
	for _, e := range events {
		if e.Time != 0 {
			return events, false
		}
	}
	out := make([]history.Event, len(events))
	for i, e := range events {
		e.Time = int64(i + 1)
		out[i] = e
	}
	return out, true
}

// completedBeforeCalled rejects an operation whose completion is timed
// before its invocation: times that cannot be trusted, not an anomaly of
// the system. The readers catch it with the file's line; this is for
// histories given to Check directly.
func completedBeforeCalled(ops []history.Op, tf timeFormat) error {
	for _, op := range ops {
		if op.Return != math.MaxInt64 && op.Return < op.Call {
			return fmt.Errorf("event %d: process %s's %s completed at %s, before its invocation at %s", op.Index+1, op.Process, op.F, tf.at(op.Return), tf.at(op.Call))
		}
	}
	return nil
}

func countOps(ops []history.Op, failObserved bool) Counts {
	c := Counts{ByF: map[string]FCounts{}}
	for _, op := range ops {
		if op.F == "cas" && notSwapped(op, failObserved) {
			c.CASNotSwapped++
		}
		c.Ops++
		f := c.ByF[op.F]
		switch op.Type {
		case history.OK:
			c.OK++
			f.OK++
		case history.Fail:
			c.Fail++
			f.Fail++
		default:
			c.Info++
			f.Info++
		}
		c.ByF[op.F] = f
	}
	return c
}

// runPartitions builds and checks the keys on a pool of one worker per
// core, largest first. Each key is built by the worker that checks it and
// released when it is valid, so memory holds the keys in flight, not all
// of them. The first invalid key stops the others, as porcupine does:
// refuting a hard key can take exponentially long, and one invalid key
// settles the verdict; the keys stopped that way are still built (to
// report bad input) and get method "stopped".
func runPartitions(ctx context.Context, m *model, tf timeFormat, keys []string, groups map[string][]history.Op) ([]*checked, []Reductions, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(groups[keys[order[a]]]) > len(groups[keys[order[b]]]) })
	out := make([]*checked, len(keys))
	reds := make([]Reductions, len(keys))
	errs := make([]error, len(keys))
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(keys))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= len(order) {
					return
				}
				i := order[n]
				out[i], reds[i], errs[i] = checkKey(ctx, cancel, m, tf, keys[i], groups[keys[i]])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return out, reds, nil
}

// checkKey builds and checks one key on a worker. A panic there would
// kill the process from a goroutine no caller can recover, so it is
// recovered here and becomes an error wrapping ErrInternal.
func checkKey(ctx context.Context, cancel context.CancelCauseFunc, m *model, tf timeFormat, key string, ops []history.Op) (c *checked, red Reductions, err error) {
	defer func() {
		if v := recover(); v != nil {
			c, err = nil, internalError(v)
			cancel(err)
		}
	}()
	p, err := m.build(key, ops, tf)
	if err != nil {
		cancel(err)
		return nil, Reductions{}, err
	}
	c = &checked{result: checkPartition(ctx, p)}
	switch {
	case c.result.Verdict == Invalid:
		c.part = p
		cancel(errStopped)
	case c.result.Verdict == Unknown && errors.Is(context.Cause(ctx), errStopped):
		c.result.Method = "stopped"
	}
	return c, p.red, nil
}

// checked is one key's verdict; part is kept only for invalid keys, to
// explain them.
type checked struct {
	result PartitionResult
	part   *partition
}

var errStopped = errors.New("another key was found invalid")

func checkPartition(ctx context.Context, p *partition) PartitionResult {
	start := time.Now()
	pr := PartitionResult{Key: p.key, Ops: len(p.ops), Unknown: p.unknown, Searched: len(p.search)}
	defer func() { pr.Duration = time.Since(start) }()
	switch {
	case p.decided != "":
		pr.Verdict, pr.Method = p.decided, p.method
		return pr
	case len(p.search) == 0:
		pr.Verdict, pr.Method = Valid, "empty"
		return pr
	}
	pr.Method = "search"
	pr.Verdict = search(ctx, p.pm, p.search)
	return pr
}

// search runs porcupine on one partition. Cancellation reaches it through
// the model's step function, which refuses every step once ctx is done, so
// porcupine unwinds; a refusal it caused can only make the answer Illegal,
// which is then reported as Unknown.
func search(ctx context.Context, pm porcupine.Model, ops []porcupine.Operation) Verdict {
	if ctx.Err() != nil {
		return Unknown
	}
	var stopped atomic.Bool
	stop := context.AfterFunc(ctx, func() { stopped.Store(true) })
	defer stop()
	step := pm.Step
	pm.Step = nil
	pm.StepContext = func(_ context.Context, st, in, out any) (bool, any) {
		if stopped.Load() {
			return false, st
		}
		return step(st, in, out)
	}
	ok := porcupine.CheckOperations(pm, ops)
	switch {
	case ok:
		return Valid
	case stopped.Load():
		return Unknown
	}
	return Invalid
}

func clipList(s []string, n int) string {
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
}

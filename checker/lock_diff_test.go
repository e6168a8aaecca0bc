package checker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// randomLockHistory is a small history of one lock: processes that
// acquire, hold and release in turn, each outcome ok, unknown (completed
// or not) or failed; a process whose operation had an unknown outcome
// retires and a new one starts; a failed release is retried. Times are
// small integers, so that many operations touch at an instant. Most
// histories record leases, valid until a random time or not recorded.
func randomLockHistory(rng *rand.Rand) []history.Event {
	const horizon = 60
	var ev []history.Event
	next := history.Process(0)
	add := func(p history.Process, t int64, typ history.Type, f, v string) {
		ev = append(ev, history.Event{Time: t, Process: p, Type: typ, F: f, Key: "l", Value: history.Value(v)})
	}
	outcome := func() history.Type {
		switch x := rng.IntN(100); {
		case x < 70:
			return history.OK
		case x < 85:
			return history.Info
		}
		return history.Fail
	}
	var procs []history.Process
	think := 1 + rng.IntN(30) // how long processes wait between holds
	for range 2 + rng.IntN(3) {
		t := int64(rng.IntN(10))
		p := next
		next++
		procs = append(procs, p)
		for t < horizon {
			call, ret := t, t+int64(rng.IntN(6))
			typ := outcome()
			add(p, call, history.Invoke, "acquire", "null")
			retire := typ == history.Info
			if !retire || rng.IntN(2) == 0 {
				add(p, ret, typ, "acquire", "null")
			}
			t = ret + int64(rng.IntN(4))
			if typ == history.OK {
				for {
					call, ret := t+int64(rng.IntN(7)), int64(0)
					ret = call + int64(rng.IntN(4))
					rt := outcome()
					add(p, call, history.Invoke, "release", "null")
					if rt != history.Info || rng.IntN(2) == 0 {
						add(p, ret, rt, "release", "null")
					}
					t = ret + int64(rng.IntN(4))
					if rt == history.Info {
						retire = true
					}
					if rt != history.Fail {
						break
					}
				}
			}
			t += int64(rng.IntN(think))
			if retire {
				p = next
				next++
				procs = append(procs, p)
				t += int64(rng.IntN(5))
			}
		}
	}
	if rng.IntN(5) > 0 {
		for _, p := range procs {
			if rng.IntN(10) == 0 {
				continue
			}
			v := fmt.Sprintf("[%d,%d]", p, rng.IntN(horizon+10))
			ev = append(ev, history.Event{Time: horizon + 20, Process: p, Type: history.Invoke, F: "lease", Value: history.Value(fmt.Sprint(p))},
				history.Event{Time: horizon + 20, Process: p, Type: history.OK, F: "lease", Value: history.Value(v)})
		}
	}
	sortEvents(ev)
	return ev
}

// TestLockDirectAgreesWithSearch: on random lock histories, the direct
// sweep finds two holders with valid leases exactly when porcupine, on
// the same lock with every lease allowed to expire once it is no longer
// known alive, finds no linearization. The full check never errs and its
// verdict is the search's.
func TestLockDirectAgreesWithSearch(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var invalid, expired, valid int
	for i := range n {
		ev := randomLockHistory(rng)
		ops, _, _ := history.Pair(ev)
		var res Result
		c := newLockCheck(ev, nil, &res, false)
		lockOps, err := c.leases(ops)
		if err != nil {
			t.Fatal(err)
		}
		holds, err := c.holds("l", lockOps)
		if err != nil {
			t.Fatal(err)
		}
		var st LockStat
		two := c.overlaps(holds, &st)
		pr := c.search(context.Background(), "l", lockOps, nil)
		if (two != nil) != (pr.Verdict == Invalid) || pr.Verdict == Unknown {
			t.Fatalf("history %d: direct two-holders %v, search %s\n%s", i, two != nil, pr.Verdict, dumpEvents(ev))
		}
		full, err := Check(context.Background(), ev, Options{Model: "lock"})
		if err != nil {
			t.Fatalf("history %d: %v", i, err)
		}
		if full.Verdict != pr.Verdict {
			t.Fatalf("history %d: check %s, search %s", i, full.Verdict, pr.Verdict)
		}
		switch {
		case two != nil:
			invalid++
		case st.LeaseExpired > 0:
			expired++
		default:
			valid++
		}
	}
	t.Logf("%d histories: %d two-holders, %d valid through an expired lease, %d valid without", n, invalid, expired, valid)
	if invalid == 0 || expired == 0 || valid == 0 {
		t.Errorf("the generator missed a class: %d two-holders, %d lease-expired, %d plain valid", invalid, expired, valid)
	}
}

func dumpEvents(ev []history.Event) string {
	s := ""
	for _, e := range ev {
		s += fmt.Sprintf("%d p%s %s %s %s\n", e.Time, e.Process, e.Type, e.F, e.Value)
	}
	return s
}

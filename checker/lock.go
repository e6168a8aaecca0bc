package checker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The lock model judges named locks held under leases (etcd's Lock RPC and
// its client's mutex): no two holders of one lock at once. It is both a
// search and an account. Each lock (each key) is searched by porcupine with
// a mutex that knows its holder and lets a holder's lease expire; and holds
// that overlap are found directly and sorted into two kinds:
//
//   - two-holders (invalid): two processes held the lock at once while both
//     their leases were known to be alive, a bug of the lock service;
//   - lease-expired (counted, not invalid): a process went on believing it
//     held the lock after its lease may have expired, and the lock was
//     given to another: the known limit of every lease-based lock.
//
// History format (the lab's JSONL; docs/systems/etcd-lock.md):
//
//	acquire  key = lock name; invoke value: the method ("v3lock", "mutex")
//	         or null; ok value: the fencing token (the create revision of the
//	         lock's key, an integer) or null; fail: not acquired; info: may
//	         have been acquired.
//	release  key = lock name; values are the hold's token, not read. ok:
//	         released; fail: certainly not released (the hold goes on);
//	         info: may have been released, at any time after its invocation.
//	lease    one per process, recorded when its lease ends: ok value
//	         [lease id, valid until], the latest time (ns on the history's
//	         clock) the lease is known alive at: the send time of the last
//	         keepalive the system answered plus the TTL. The lease cannot
//	         expire before then. A process holds one lease all its life.
//
// A hold is definite from its acquire's ok completion to the invocation
// of its release (or the end of the history): the lock was certainly held
// then (a hold whose release began before its acquire returned was held
// at some instant in between). Two definite holds that overlap by time
// are two holders at once: lease-expired when a lease that may have
// expired explains it (see lockCheck.explained), two-holders otherwise. A history with no lease event at all is of
// locks without leases: holds last until released. In a history with
// lease events, a process without one has a lease of unknown validity.
//
// Fencing tokens are checked too (token-order, invalid): an acquire
// invoked after another acquire of the same lock returned must get a
// larger token, since its key was created later.

// LockReport is the account of a lock history.
type LockReport struct {
	// Locks is the number of lock names; Holds the acquires that
	// succeeded.
	Locks int `json:"locks"`
	Holds int `json:"holds"`
	// Leases counts lease records read; LeasesRecorded is false when the
	// history has none (locks without leases).
	Leases         int  `json:"leases"`
	LeasesRecorded bool `json:"leases_recorded"`
	// TwoHolders counts holds that began while another process held the
	// same lock, both leases known alive: invalid.
	TwoHolders int `json:"two_holders"`
	// LeaseExpired counts holds that began while another process still
	// believed it held the same lock, one of the two leases possibly
	// expired: the known limit of lease locks, not invalid.
	LeaseExpired int `json:"lease_expired"`
	// TokenOrder counts acquires whose fencing token was not larger than
	// that of an acquire that returned before they were invoked: invalid.
	TokenOrder int `json:"token_order"`
	// ByLock gives the same per lock name, in name order.
	ByLock []LockStat `json:"by_lock,omitempty"`
	// LeaseLimit tells the first lease-expired overlaps, in plain words.
	LeaseLimit []Anomaly `json:"lease_limit,omitempty"`
}

// LockStat is the account of one lock.
type LockStat struct {
	Name         string `json:"name"`
	Holds        int    `json:"holds"`
	MaxToken     int64  `json:"max_token,omitempty"`
	TwoHolders   int    `json:"two_holders,omitempty"`
	LeaseExpired int    `json:"lease_expired,omitempty"`
	TokenOrder   int    `json:"token_order,omitempty"`
}

// lockFs are the functions of a lock history.
var lockFs = []string{"acquire", "release", "lease"}

// lockMaxPerKind bounds the overlaps and token stories listed per kind;
// the report counts them all.
const lockMaxPerKind = 20

// Lease validity when nothing is known: the history records leases, but
// none for this process (it may have expired at any time); and no lease at
// all (locks without leases never expire).
const (
	validUnknown int64 = math.MinInt64
	validForever int64 = math.MaxInt64
)

// lockOrLeaseModel names the model of a history of acquires and releases:
// lock when it records leases, mutex otherwise. [InferModel] asks it.
func lockOrLeaseModel(events []history.Event) string {
	for _, e := range events {
		if e.F == "lease" && e.Process != history.Nemesis {
			return "lock"
		}
	}
	return "mutex"
}

// lockHold is one hold: from its acquire's ok completion (start) to its
// release's invocation (end, MaxInt64 if it has none).
type lockHold struct {
	lock       string
	proc       history.Process
	node       string
	acq, rel   *history.Op
	start, end int64
	token      int64 // 0 if unknown
	valid      int64 // the lease's known validity: a time, validUnknown or validForever
	recorded   bool  // the history has a lease record of proc
}

type lockCheck struct {
	tf      timeFormat
	windows []history.Window
	done    map[int]int
	res     *Result
	rep     *LockReport
	valid   map[history.Process]int64
	lastAcq map[history.Process]int64
	leased  bool
	anoms   map[string][]Anomaly
	limit   []Anomaly
	notes   []string
}

// checkLock fills res with the lock account of ops and the verdict.
func checkLock(ctx context.Context, events []history.Event, ops []history.Op, windows []history.Window, res *Result, tf timeFormat) error {
	c := newLockCheck(events, windows, res, tf)
	lockOps, err := c.leases(ops)
	if err != nil {
		return err
	}
	keys, groups := byKey(lockOps)
	res.Counts.Keys = len(keys)
	c.rep.Locks = len(keys)
	unknown := 0
	for _, k := range keys {
		holds, err := c.holds(k, groups[k])
		if err != nil {
			return err
		}
		st := LockStat{Name: k, Holds: len(holds)}
		for _, h := range holds {
			st.MaxToken = max(st.MaxToken, h.token)
		}
		c.rep.Holds += len(holds)
		two := c.overlaps(holds, &st)
		c.tokens(k, groups[k], &st)
		pr := c.search(ctx, k, groups[k], two)
		if pr.Verdict == Unknown {
			unknown++
		}
		res.Partitions = append(res.Partitions, pr)
		c.rep.ByLock = append(c.rep.ByLock, st)
	}
	c.judge(ctx, unknown)
	return nil
}

func newLockCheck(events []history.Event, windows []history.Window, res *Result, tf timeFormat) *lockCheck {
	return &lockCheck{tf: tf, windows: windows, done: completions(events), res: res, rep: &LockReport{},
		valid: map[history.Process]int64{}, lastAcq: map[history.Process]int64{}, anoms: map[string][]Anomaly{}}
}

// leases reads the lease records of ops and returns the other operations.
func (c *lockCheck) leases(ops []history.Op) ([]history.Op, error) {
	var lockOps []history.Op
	for i := range ops {
		if op := ops[i]; op.F != "lease" {
			if op.F == "acquire" && op.Type == history.OK {
				if t, ok := c.lastAcq[op.Process]; !ok || op.Call > t {
					c.lastAcq[op.Process] = op.Call
				}
			}
			lockOps = append(lockOps, op)
			continue
		}
		if err := c.lease(&ops[i]); err != nil {
			return nil, err
		}
	}
	c.rep.LeasesRecorded = c.leased
	if c.leased && bool(c.tf) {
		c.notes = append(c.notes, "the history has no times, so the leases' validity cannot be placed: every lease is taken as possibly expired")
	}
	return lockOps, nil
}

// lease reads one lease record.
func (c *lockCheck) lease(op *history.Op) error {
	c.leased = true
	if op.Type != history.OK {
		return nil
	}
	v, ok := elems(op.Output)
	if !ok || len(v) != 2 || !scalar(v[0]) {
		return fmt.Errorf("event %d: lease ok value must be [lease id, valid until (ns)], got %s", c.event(op), clip(op.Output.String()))
	}
	c.rep.Leases++
	if v[1].IsNil() {
		return nil
	}
	t, ok := v[1].Int()
	if !ok {
		return fmt.Errorf("event %d: lease ok value must be [lease id, valid until (ns)], and %s is no time", c.event(op), clip(v[1].String()))
	}
	if bool(c.tf) {
		return nil
	}
	if old, ok := c.valid[op.Process]; !ok || t > old {
		c.valid[op.Process] = t
	}
	return nil
}

// scalar reports whether v is an integer or a string.
func scalar(v history.Value) bool {
	if _, ok := v.Int(); ok {
		return true
	}
	s := strings.TrimSpace(string(v))
	return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"'
}

// validity is what is known of process p's lease: alive until the time
// its record says, and in any case when it last acquired a lock (a lease
// etcd no longer has takes no lock). A lease expires once, so only the
// hold p had last can have ended by its expiry.
func (c *lockCheck) validity(p history.Process) int64 {
	if !c.leased {
		return validForever
	}
	v, ok := c.valid[p]
	if !ok {
		v = validUnknown
	}
	if t, ok := c.lastAcq[p]; ok {
		v = max(v, t)
	}
	return v
}

func (c *lockCheck) event(op *history.Op) int {
	if i, ok := c.done[op.Index]; ok {
		return i + 1
	}
	return op.Index + 1
}

// token reads an ok acquire's value: the fencing token, or 0 for null.
func (c *lockCheck) token(op *history.Op) (int64, error) {
	if op.Output.IsNil() {
		return 0, nil
	}
	if n, ok := op.Output.Int(); ok && n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("event %d: acquire ok value must be the fencing token (an integer, 0 or more) or null, got %s", c.event(op), clip(op.Output.String()))
}

// holds follows each process through its operations on one lock and
// returns its definite holds, in order of their start.
func (c *lockCheck) holds(lock string, ops []history.Op) ([]*lockHold, error) {
	cur := map[history.Process]*lockHold{}
	var out []*lockHold
	stray := 0
	for i := range ops {
		op := &ops[i]
		switch op.F {
		case "acquire":
			if op.Type != history.OK {
				continue
			}
			tok, err := c.token(op)
			if err != nil {
				return nil, err
			}
			if h := cur[op.Process]; h != nil {
				c.res.Problems = append(c.res.Problems, fmt.Sprintf("event %d: process %s acquired lock %s again without releasing it (acquired at event %d); the first hold is taken to end there", op.Index+1, op.Process, lock, h.acq.Index+1))
				h.end = op.Call
			}
			h := &lockHold{lock: lock, proc: op.Process, node: op.Node, acq: op, start: op.Return, end: math.MaxInt64,
				token: tok, valid: c.validity(op.Process)}
			_, h.recorded = c.valid[op.Process]
			cur[op.Process] = h
			out = append(out, h)
		case "release":
			h := cur[op.Process]
			switch {
			case op.Type == history.Fail:
				// Not released: the hold goes on.
			case h == nil:
				stray++
			default:
				h.rel, h.end = op, op.Call
				delete(cur, op.Process)
			}
		}
	}
	if stray > 0 {
		c.res.Problems = append(c.res.Problems, fmt.Sprintf("lock %s: %d release(s) by processes that held no lock (ignored)", lock, stray))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out, nil
}

// overlaps finds every hold that began while another process held the same
// lock (one sweep in order of start, keeping the holds still running), and
// says of each whether a lease that may have expired explains it
// ([lockCheck.explained]). Its cost is the number of holds plus the number
// of overlapping pairs. It returns the first two-holders anomaly, if any.
func (c *lockCheck) overlaps(holds []*lockHold, st *LockStat) *Anomaly {
	var first *Anomaly
	var active []*lockHold
	for _, h := range holds {
		running := active[:0]
		for _, a := range active {
			if a.end > h.start {
				running = append(running, a)
			}
		}
		active = running
		// A hold whose release began before its acquire returned (end <=
		// start) was held at some instant between the two; it meets a
		// running hold only if that one began before the release did.
		point := h.end <= h.start
		var bug, limit *lockHold
		for _, a := range active {
			if point && a.start >= h.end {
				continue
			}
			if !c.explained(a, h) {
				bug = a
				break
			}
			if limit == nil {
				limit = a
			}
		}
		switch {
		case bug != nil:
			st.TwoHolders++
			c.rep.TwoHolders++
			an := c.twoHoldersStory(bug, h)
			c.add("two-holders", an)
			if first == nil {
				first = &an
			}
		case limit != nil:
			st.LeaseExpired++
			c.rep.LeaseExpired++
			if len(c.limit) < lockMaxPerKind {
				c.limit = append(c.limit, c.leaseExpiredStory(limit, h))
			}
		}
		if !point {
			active = append(active, h)
		}
	}
	return first
}

// explained reports whether an expired lease can explain that h began
// while a held the same lock (a began first). Either a's lease may have
// expired before h's acquire returned (freeing the lock for h), or h was
// invoked before a's acquire returned and h's lease may have expired by
// then: h was granted the lock first and lost it to a before its own
// acquire returned. These are exactly the two ways the search model
// (lock_model.go) can place the pair, so a pair explained by neither is
// refuted without a search.
func (c *lockCheck) explained(a, h *lockHold) bool {
	return a.valid <= h.start || (h.acq.Call <= a.start && h.valid <= a.start)
}

// tokens checks that an acquire invoked after another acquire of the lock
// returned got a larger token: sorted by return, swept by invocation.
func (c *lockCheck) tokens(lock string, ops []history.Op, st *LockStat) {
	var acq []*history.Op
	for i := range ops {
		if op := &ops[i]; op.F == "acquire" && op.Type == history.OK {
			if n, ok := op.Output.Int(); ok && n > 0 {
				acq = append(acq, op)
			}
		}
	}
	byReturn := append([]*history.Op(nil), acq...)
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	var top *history.Op
	var topTok int64
	k := 0
	for _, b := range acq { // in invocation order
		for k < len(byReturn) && byReturn[k].Return < b.Call {
			if n, _ := byReturn[k].Output.Int(); top == nil || n > topTok {
				top, topTok = byReturn[k], n
			}
			k++
		}
		n, _ := b.Output.Int()
		if top == nil || n > topTok || (n == topTok && top.Process == b.Process) {
			continue
		}
		st.TokenOrder++
		c.rep.TokenOrder++
		c.add("token-order", c.tokenStory(lock, top, topTok, b, n))
	}
}

func (c *lockCheck) add(kind string, a Anomaly) {
	a.Kind = kind
	c.anoms[kind] = append(c.anoms[kind], a)
}

// judge sets the verdict and the reason.
func (c *lockCheck) judge(ctx context.Context, unknown int) {
	res, rep := c.res, c.rep
	res.Lock = rep
	rep.LeaseLimit = c.limit
	for _, kind := range []string{"two-holders", "token-order", "nonlinearizable"} {
		list := c.anoms[kind]
		sort.SliceStable(list, func(i, j int) bool { return list[i].Time < list[j].Time })
		if len(list) > lockMaxPerKind {
			c.notes = append(c.notes, fmt.Sprintf("%s: %d, the first %d listed", kind, len(list), lockMaxPerKind))
			list = list[:lockMaxPerKind]
		}
		res.Anomalies = append(res.Anomalies, list...)
	}
	var reasons []string
	if !c.leased {
		reasons = append(reasons, "the history records no leases: each hold is taken to last until its release")
	}
	if rep.LeaseExpired > 0 {
		s := fmt.Sprintf("%d hold(s) began while another process still believed it held the lock but one of the two leases may have expired: the known limit of lease-based locks, not a violation", rep.LeaseExpired)
		if len(c.limit) > 0 {
			s += "; the first: " + c.limit[0].Summary
		}
		reasons = append(reasons, s)
	}
	if unknown > 0 {
		reasons = append(reasons, fmt.Sprintf("the search did not finish (%v) for %d lock(s)", context.Cause(ctx), unknown))
	}
	reasons = append(reasons, c.notes...)
	res.Reason = strings.Join(reasons, "; ")
	switch {
	case len(res.Anomalies) > 0:
		res.Verdict = Invalid
	case unknown > 0:
		res.Verdict = Unknown
	default:
		res.Verdict = Valid
	}
}

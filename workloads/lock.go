package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// LockWorkload acquires and releases a few named locks, each client under
// a lease of its own: the load that asks whether a lock service ever lets
// two holders have one lock at once.
//
// Each client is bound to one node and holds one lease at a time, which it
// keeps alive itself; a process is one lease. A cycle acquires a lock
// (recorded with its fencing token), holds it for Hold, and releases it.
// After an outcome it cannot know (an acquire or release that timed out)
// or a lease the system says is gone, the client ends the lease (it stops
// the keepalives and revokes it, which frees whatever the lease held),
// records until when the lease was known alive, and goes on as a new
// process with a new lease. See docs/systems/etcd-lock.md for the history
// it records.
type LockWorkload struct{}

var _ Workload = LockWorkload{}

// Lock is the lock workload's parameters.
type Lock struct {
	// Locks is how many lock names the clients share; default 2, 1..100.
	Locks int `yaml:"locks"`
	// Method is how locks are taken: "v3lock" (etcd's Lock RPC), "mutex"
	// (the client library's mutex), or "both" (the default): each acquire
	// picks one of the system's methods at random.
	Method string `yaml:"method"`
	// TTL is each lease's time to live; default 5s, 1s..1m. etcd counts
	// it in whole seconds (and raises it to its minimum, 2s by default).
	TTL scenarios.Duration `yaml:"ttl"`
	// Hold is how long a holder keeps a lock before releasing it; default
	// 200ms, 0..1m.
	Hold scenarios.Duration `yaml:"hold"`
}

// MethodBoth asks for every method the system has.
const MethodBoth = "both"

// LockMethods are the values of method: etcd's two ways of locking
// ([systems.Locks.LockMethods]) and both.
var LockMethods = []string{"v3lock", "mutex", MethodBoth}

// Name is "lock".
func (LockWorkload) Name() string { return "lock" }

// Keys are the lock workload's fields.
func (LockWorkload) Keys() []string { return []string{"locks", "method", "ttl", "hold"} }

// Model: the lock model (two holders with valid leases, lease expiry,
// fencing tokens).
func (LockWorkload) Model() string { return "lock" }

// Decode reads locks, method, ttl and hold, with their defaults.
func (LockWorkload) Decode(f *scenarios.Fields) any {
	l := Lock{Locks: 2, Method: MethodBoth, TTL: scenarios.Duration(5 * time.Second), Hold: scenarios.Duration(200 * time.Millisecond)}
	if v, ok := f.Int("locks", 1, 100); ok {
		l.Locks = v
	}
	if v, ok := f.Enum("method", LockMethods); ok {
		l.Method = v
	}
	if v, ok := f.Duration("ttl", time.Second, time.Minute); ok {
		l.TTL = v
	}
	if v, ok := f.Duration("hold", 0, time.Minute); ok {
		l.Hold = v
	}
	return l
}

// Supports needs a system with locks, and the method asked for.
func (LockWorkload) Supports(inst systems.Instance) error {
	return LockWorkload{}.supports(inst, nil)
}

func (LockWorkload) supports(inst systems.Instance, params any) error {
	sys, err := needs[systems.Locks](inst, "lock", "leased locks")
	if err != nil {
		return err
	}
	if l, ok := params.(Lock); ok && l.Method != MethodBoth && !slices.Contains(sys.LockMethods(), l.Method) {
		return fmt.Errorf("lock method %q: the system has %s (or both)", l.Method, strings.Join(sys.LockMethods(), ", "))
	}
	return nil
}

// Describe: "lock: 2 locks by v3lock and mutex, 10 acquires/s, 6 clients, lease TTL 5s, held 200ms, 10s timeout".
func (LockWorkload) Describe(env Env) string {
	l, _ := env.Params.(Lock)
	method := l.Method
	if method == MethodBoth {
		method = "every method"
		if sys, ok := env.System.(systems.Locks); ok {
			method = strings.Join(sys.LockMethods(), " and ")
		}
	}
	return fmt.Sprintf("lock: %d locks by %s, %g acquires/s, %d clients, lease TTL %s, held %s, %s timeout",
		l.Locks, method, env.Rate, env.Concurrency, l.TTL, l.Hold, env.Timeout)
}

// lockName is the name of lock i.
func lockName(i int) string { return "lab-lock/" + strconv.Itoa(i) }

type lockTicket struct {
	intended time.Time
	lock     int
	method   string
}

// lockRun is the state the clients of one run share.
type lockRun struct {
	journal
	env  Env
	cfg  Lock
	pace *pacer
}

// Run acquires at the rate until ctx ends; every client then releases
// what it holds and ends its lease.
func (LockWorkload) Run(ctx context.Context, env Env) (Stats, error) {
	l, ok := env.Params.(Lock)
	if err := env.check(); err != nil || !ok || l.Locks < 1 {
		return Stats{}, fmt.Errorf("lock workload: %v (parameters %T)", err, env.Params)
	}
	if err := (LockWorkload{}).supports(env.System, l); err != nil {
		return Stats{}, err
	}
	sys := env.System.(systems.Locks)
	methods := sys.LockMethods()
	if l.Method != MethodBoth {
		methods = []string{l.Method}
	}
	s := &lockRun{journal: journal{to: env.Rec}, env: env, cfg: l, pace: newPacer(env.Rate)}
	s.nextProc.Store(int64(env.Concurrency))

	clients, err := openClients(ctx, env, env.Concurrency, sys.LockClient)
	if err != nil {
		return Stats{}, err
	}
	defer closeClients(clients)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tickets := make(chan lockTicket, env.Concurrency)
	wait := goClients(env, clients, cancel, func(_ int, c systems.LockClient, node string, proc history.Process) {
		s.client(ctx, c, node, proc, tickets)
	})
	rng := env.Rand
	feed(ctx, s.pace, tickets, func(intended time.Time) lockTicket {
		return lockTicket{intended: intended, lock: rng.IntN(l.Locks), method: methods[rng.IntN(len(methods))]}
	})
	close(tickets)
	return finish(s.pace, &s.journal, wait)
}

// client runs one client: one node, one lease (one process) at a time.
// A lease it cannot get costs the ticket, and the client tries again
// with the next.
func (s *lockRun) client(ctx context.Context, c systems.LockClient, node string, proc history.Process, in <-chan lockTicket) {
	var ls systems.LockLease
	defer func() {
		if ls != nil {
			s.endLease(ctx, ls, proc, node)
		}
	}()
	for t := range in {
		if ctx.Err() != nil {
			return
		}
		if ls != nil && ls.Gone() {
			s.endLease(ctx, ls, proc, node)
			ls, proc = nil, s.newProc()
		}
		if ls == nil {
			gctx, cancel := context.WithTimeout(ctx, s.env.Timeout)
			l, err := c.Grant(gctx, time.Duration(s.cfg.TTL))
			cancel()
			if err != nil {
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			ls = l
		}
		s.pace.started(t.intended)
		if !s.cycle(ctx, ls, node, proc, t) {
			s.endLease(ctx, ls, proc, node)
			ls, proc = nil, s.newProc()
		}
	}
}

// tokenValue is a hold's token in the history: null when unknown.
func tokenValue(h systems.LockHold) history.Value {
	if h.Token <= 0 {
		return history.Nil
	}
	return history.IntValue(h.Token)
}

// outcome records the completion of op f and returns its type.
func (s *lockRun) outcome(proc history.Process, f, key, node string, v history.Value, err error) history.Type {
	done := history.Event{Time: s.env.Clock.Now(), Process: proc, F: f, Key: key, Node: node, Value: v}
	switch {
	case err == nil:
		done.Type = history.OK
	case systems.IsDefinite(err):
		done.Type, done.Error = history.Fail, err.Error()
	default:
		done.Type, done.Error = history.Info, err.Error()
	}
	s.record(done)
	return done.Type
}

// cycle acquires, holds and releases one lock, and says whether the lease
// can go on: not after an unknown outcome, nor once the system said the
// lease is gone. The hold ends early when ctx ends, and the release is
// made whatever ctx, within one timeout.
func (s *lockRun) cycle(ctx context.Context, ls systems.LockLease, node string, proc history.Process, t lockTicket) bool {
	name := lockName(t.lock)
	method := jsonString(t.method)
	actx, cancel := context.WithTimeout(ctx, s.env.Timeout)
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.Invoke, F: "acquire", Key: name, Node: node, Value: method})
	h, err := ls.Acquire(actx, name, t.method)
	cancel()
	out := method
	if err == nil {
		out = tokenValue(h)
	}
	if typ := s.outcome(proc, "acquire", name, node, out, err); typ != history.OK {
		return typ == history.Fail && !ls.Gone()
	}
	sleep(ctx, time.Duration(s.cfg.Hold))

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.env.Timeout)
	defer cancel()
	tok := tokenValue(h)
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.Invoke, F: "release", Key: name, Node: node, Value: tok})
	switch s.outcome(proc, "release", name, node, tok, ls.Release(rctx, h)) {
	case history.OK:
		return !ls.Gone()
	case history.Info:
		return false
	}
	// The release certainly did not happen: release by revoking the
	// lease, which is recorded as the hold's release.
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.Invoke, F: "release", Key: name, Node: node, Value: tok})
	s.outcome(proc, "release", name, node, tok, ls.End(rctx))
	return false
}

// endLease ends the lease of proc (stops its keepalives, revokes it, best
// effort within a few seconds) and records a lease operation whose value
// says until when the lease was known alive: [lease id, valid until (ns)].
func (s *lockRun) endLease(ctx context.Context, ls systems.LockLease, proc history.Process, node string) {
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.Invoke, F: "lease", Node: node, Value: history.IntValue(ls.ID())})
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.env.Timeout, 3*time.Second))
	err := ls.End(ectx)
	cancel()
	valid := ls.ValidUntil().Sub(s.env.Clock.Base())
	v := history.Value(fmt.Sprintf("[%d,%d]", ls.ID(), int64(valid)))
	e := history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.OK, F: "lease", Node: node, Value: v}
	if err != nil {
		// The record stands; the revoke failing only means the lease may
		// live until it expires.
		e.Error = "revoke: " + err.Error()
	}
	s.record(e)
}

// jsonString encodes s as a JSON string value.
func jsonString(s string) history.Value {
	b, _ := json.Marshal(s)
	return history.Value(b)
}

// FinalReads reads what every member holds on its own, if the system
// can tell: the locks' keys are gone by then (every client released what
// it held and ended its lease when Run ended), but the members must still
// agree on the rest and on their hashes.
func (LockWorkload) FinalReads(ctx context.Context, env Env, firstProc int64) error {
	var mu sync.Mutex
	var recErr error
	recordMemberStates(ctx, env, firstProc, func(e history.Event) {
		if err := env.Rec.Append(e); err != nil {
			mu.Lock()
			recErr = err
			mu.Unlock()
		}
	})
	return recErr
}

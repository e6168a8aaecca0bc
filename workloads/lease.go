package workloads

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// LeaseWorkload grants leases with a time to live, attaches a key to each,
// keeps it alive through its owner's node for a while, lets it go, and
// reads the keys all along: the load that asks whether a key whose lease
// was kept alive stays, and whether a lease let go expires.
//
// Each owner (the first [LeaseParams.Leases] clients, bound round robin to
// the nodes) runs cycles, each on a key of its own, lease-<owner>-<cycle>:
// grant a lease of the TTL; put a value unique in the run to the key,
// attached to the lease; every third of the TTL send one keepalive,
// reading the key between them; after Keep, stop (a release marker in the
// history) and read the key until it is gone, or until TTL + 5 s after the
// last keepalive; then the next cycle, with a new key. The other clients
// read the owners' current and previous keys at the rate. The history's
// format is in docs/systems/etcd-lease.md and checker/lease.go.
type LeaseWorkload struct{}

var _ Workload = LeaseWorkload{}

// LeaseParams are the lease workload's parameters.
type LeaseParams struct {
	// Leases is how many owners hold a lease at once, each its own;
	// default 3, 1..100. They are the first clients of the concurrency;
	// the others read.
	Leases int `yaml:"leases"`
	// TTL is the lease's time to live, whole seconds, at least 2 s (etcd's
	// minimum with its default election timeout); default 5 s.
	TTL scenarios.Duration `yaml:"ttl"`
	// Keep is how long an owner keeps its lease alive before letting it
	// go; default three TTLs. 0 lets it go right after the put.
	Keep scenarios.Duration `yaml:"keep"`
}

// Name is "lease".
func (LeaseWorkload) Name() string { return "lease" }

// Keys are the lease workload's fields.
func (LeaseWorkload) Keys() []string { return []string{"leases", "ttl", "keep"} }

// Model: the lease checker (a key kept alive must not vanish, a lease let
// go must expire).
func (LeaseWorkload) Model() string { return "lease" }

// Decode reads leases, ttl and keep, with their defaults.
func (LeaseWorkload) Decode(f *scenarios.Fields) any {
	p := LeaseParams{Leases: 3, TTL: scenarios.Duration(5 * time.Second)}
	if v, ok := f.Int("leases", 1, 100); ok {
		p.Leases = v
	}
	if v, ok := f.Duration("ttl", 2*time.Second, time.Hour); ok {
		if time.Duration(v)%time.Second != 0 {
			f.Report("ttl", "write whole seconds, such as 4s", "etcd grants leases in whole seconds, and %s is not", v)
		} else {
			p.TTL = v
		}
	}
	p.Keep = 3 * p.TTL
	if v, ok := f.Duration("keep", 0, 24*time.Hour); ok {
		p.Keep = v
	}
	return p
}

// Supports needs a system with lease clients.
func (LeaseWorkload) Supports(inst systems.Instance) error {
	_, err := needs[systems.Leases](inst, "lease", "leases")
	return err
}

// Describe: "lease: 3 owners, ttl 5s kept alive every 1.667s for 15s, 50
// reads/s by 3 readers, 1s timeout".
func (LeaseWorkload) Describe(env Env) string {
	p, _ := env.Params.(LeaseParams)
	return fmt.Sprintf("lease: %d owners, ttl %s kept alive every %s for %s, %g reads/s by %d readers, %s timeout",
		p.Leases, p.TTL, (time.Duration(p.TTL) / 3).Round(time.Millisecond), p.Keep, env.Rate, leaseReaders(env, p), env.Timeout)
}

func leaseReaders(env Env, p LeaseParams) int { return max(0, env.Concurrency-p.Leases) }

// leaseSlack is how long past TTL + 3 s (the checker's margin) the final
// reads wait after the last keepalive, and how long past the TTL an owner
// watches its key after letting the lease go.
const leaseSlack = 2 * time.Second

// leaseCarry is what Run passes to FinalReads: every key used, and the
// largest TTL granted.
type leaseCarry struct {
	keys []string
	ttl  time.Duration
}

// leaseRun is the state the clients of one run share.
type leaseRun struct {
	journal
	env      Env
	cfg      LeaseParams
	pace     *pacer
	nextVal  atomic.Int64
	ownerOps atomic.Int64

	mu       sync.Mutex
	current  []string // per owner, the key of its cycle
	previous []string // per owner, the key of its cycle before
	keys     []string // every key used
	ttl      time.Duration
}

type leaseTicket struct {
	intended time.Time
	key      string
}

// Run drives the owners and the readers until ctx ends. Every owner lets
// its lease go (a release marker) when ctx ends.
func (LeaseWorkload) Run(ctx context.Context, env Env) (Stats, error) {
	p, ok := env.Params.(LeaseParams)
	if err := env.check(); err != nil || !ok || p.Leases < 1 || p.TTL < scenarios.Duration(time.Second) {
		return Stats{}, fmt.Errorf("lease workload: %v (parameters %T %+v)", err, env.Params, env.Params)
	}
	sys, ok := env.System.(systems.Leases)
	if !ok {
		return Stats{}, LeaseWorkload{}.Supports(env.System)
	}
	readers := leaseReaders(env, p)
	procs := p.Leases + readers
	s := &leaseRun{journal: journal{to: env.Rec}, env: env, cfg: p, pace: newPacer(env.Rate), current: make([]string, p.Leases), previous: make([]string, p.Leases)}
	s.nextProc.Store(int64(procs))

	clients, err := openClients(ctx, env, procs, sys.LeaseClient)
	if err != nil {
		return Stats{}, err
	}
	defer closeClients(clients)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tickets := make(chan leaseTicket, max(1, readers))
	wait := goClients(env, clients, cancel, func(i int, c systems.LeaseClient, node string, proc history.Process) {
		if i < p.Leases {
			s.own(ctx, c, i, node, proc)
			return
		}
		s.read(ctx, c, node, proc, tickets)
	})
	if readers > 0 {
		s.dispatch(ctx, tickets)
	} else {
		<-ctx.Done()
	}
	close(tickets)
	panicErr := wait()

	s.mu.Lock()
	env.Carry.Put(leaseCarry{keys: append([]string(nil), s.keys...), ttl: s.ttl})
	s.mu.Unlock()
	stats := s.pace.snapshot()
	// Started counts the owners' operations too, and at least every
	// process number handed out, so that the final reads' processes
	// (from NextProcess on) are new.
	stats.Started += s.ownerOps.Load()
	if used := s.nextProc.Load() - int64(env.Concurrency); stats.Started < used {
		stats.Started = used
	}
	if panicErr != nil {
		return stats, panicErr
	}
	if err := s.err(); err != nil {
		return stats, err
	}
	return stats, nil
}

// dispatch hands out reads at the rate, each of a key an owner uses now
// or used in its cycle before, drawn from the run's stream.
func (s *leaseRun) dispatch(ctx context.Context, out chan<- leaseTicket) {
	rng := s.env.Rand
	s.pace.run(ctx, func(intended time.Time) bool {
		s.mu.Lock()
		var keys []string
		for i := range s.current {
			for _, k := range []string{s.current[i], s.previous[i]} {
				if k != "" {
					keys = append(keys, k)
				}
			}
		}
		s.mu.Unlock()
		if len(keys) == 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case out <- leaseTicket{intended: intended, key: keys[rng.IntN(len(keys))]}:
			return true
		}
	})
}

// read runs one reader: one node, one read at a time.
func (s *leaseRun) read(ctx context.Context, c systems.LeaseClient, node string, proc history.Process, in <-chan leaseTicket) {
	for t := range in {
		if ctx.Err() != nil {
			return
		}
		s.pace.started(t.intended)
		s.readKey(ctx, c, &proc, t.key, node)
	}
}

// op records one operation: its invocation, then call under the timeout,
// then its completion: ok with call's output, fail on a definite error,
// info on any other (after which *proc is a new process).
func (s *leaseRun) op(ctx context.Context, proc *history.Process, f, key, node string, in history.Value, call func(context.Context) (history.Value, error)) (history.Type, error) {
	opCtx, cancel := context.WithTimeout(ctx, s.env.Timeout)
	defer cancel()
	s.record(history.Event{Time: s.env.Clock.Now(), Process: *proc, Type: history.Invoke, F: f, Key: key, Node: node, Value: in})
	out, err := call(opCtx)
	done := history.Event{Time: s.env.Clock.Now(), Process: *proc, F: f, Key: key, Node: node, Value: out}
	switch {
	case err == nil:
		done.Type = history.OK
	case systems.IsDefinite(err):
		done.Type, done.Value, done.Error = history.Fail, history.Nil, err.Error()
	default:
		done.Type, done.Value, done.Error = history.Info, history.Nil, err.Error()
	}
	s.record(done)
	if done.Type == history.Info {
		*proc = s.newProc()
	}
	return done.Type, err
}

// readKey reads key once and says whether it found it absent (ok, null).
func (s *leaseRun) readKey(ctx context.Context, c systems.LeaseClient, proc *history.Process, key, node string) (absent bool) {
	typ, _ := s.op(ctx, proc, "read", key, node, history.Nil, func(ctx context.Context) (history.Value, error) {
		v, found, err := c.Read(ctx, key)
		if err != nil {
			return nil, err
		}
		absent = !found
		return readValue(v, found), nil
	})
	return typ == history.OK && absent
}

func (s *leaseRun) setKey(owner int, key string) {
	s.mu.Lock()
	s.previous[owner], s.current[owner] = s.current[owner], key
	s.keys = append(s.keys, key)
	s.mu.Unlock()
}

// own runs one owner's cycles until ctx ends.
func (s *leaseRun) own(ctx context.Context, c systems.LeaseClient, owner int, node string, proc history.Process) {
	for cycle := 1; ctx.Err() == nil; cycle++ {
		key := fmt.Sprintf("lease-%d-%d", owner+1, cycle)
		s.setKey(owner, key)
		proc = s.cycle(ctx, c, node, proc, key)
	}
}

// ownerOp is op for an owner's operations, counted in the stats.
func (s *leaseRun) ownerOp(ctx context.Context, proc *history.Process, f, key, node string, in history.Value, call func(context.Context) (history.Value, error)) history.Type {
	s.ownerOps.Add(1)
	typ, _ := s.op(ctx, proc, f, key, node, in, call)
	return typ
}

// cycle is one lease of one owner, on its own key: grant, put, keep alive
// for Keep, let go, watch the key go. It returns the owner's process.
func (s *leaseRun) cycle(ctx context.Context, c systems.LeaseClient, node string, proc history.Process, key string) history.Process {
	var id int64
	var ttl time.Duration
	typ := s.ownerOp(ctx, &proc, "grant", key, node, history.IntValue(int64(time.Duration(s.cfg.TTL)/time.Second)), func(ctx context.Context) (history.Value, error) {
		var err error
		if id, ttl, err = c.Grant(ctx, time.Duration(s.cfg.TTL)); err != nil {
			return nil, err
		}
		return history.PairValue(id, int64(ttl/time.Second)), nil
	})
	if typ != history.OK {
		// A lease granted with an unknown outcome has no key: the next
		// cycle starts over on a new key, after a pause so as not to spin
		// on a node that cannot serve.
		sleep(ctx, min(time.Duration(s.cfg.TTL)/3, time.Second))
		return proc
	}
	if ttl < time.Second {
		ttl = time.Duration(s.cfg.TTL)
	}
	s.mu.Lock()
	s.ttl = max(s.ttl, ttl)
	s.mu.Unlock()
	last := time.Now() // the latest a renewal may have happened

	v := s.nextVal.Add(1)
	put := history.PairValue(v, id)
	typ = s.ownerOp(ctx, &proc, "put", key, node, put, func(ctx context.Context) (history.Value, error) {
		if err := c.Put(ctx, key, strconv.FormatInt(v, 10), id); err != nil {
			return nil, err
		}
		return put, nil
	})
	// A failed put attached nothing: the lease is gone, or never will
	// hold the key. Let it go at once.
	kept := typ != history.Fail
	if kept {
		interval := ttl / 3
		deadline := time.Now().Add(time.Duration(s.cfg.Keep))
		next := time.Now().Add(interval)
		for ctx.Err() == nil {
			s.ownerOps.Add(1)
			s.readKey(ctx, c, &proc, key, node)
			if next.After(deadline) {
				break
			}
			sleep(ctx, time.Until(next))
			if ctx.Err() != nil {
				break
			}
			typ := s.ownerOp(ctx, &proc, "keepalive", key, node, history.IntValue(id), func(ctx context.Context) (history.Value, error) {
				t, err := c.KeepAliveOnce(ctx, id)
				if err != nil {
					return nil, err
				}
				return history.IntValue(int64(t / time.Second)), nil
			})
			if typ == history.Fail {
				break // the lease is gone
			}
			last = time.Now()
			next = next.Add(interval)
			if now := time.Now(); next.Before(now) {
				next = now
			}
		}
	}
	// Let go: no keepalive from here on. The marker is recorded even when
	// ctx has ended, so that the final reads judge this lease too.
	s.ownerOps.Add(1)
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.Invoke, F: "release", Key: key, Node: node, Value: history.IntValue(id)})
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: history.OK, F: "release", Key: key, Node: node, Value: history.IntValue(id)})
	if !kept {
		return proc
	}
	until := last.Add(ttl + leaseSlack + 3*time.Second)
	for ctx.Err() == nil && time.Now().Before(until) {
		s.ownerOps.Add(1)
		if s.readKey(ctx, c, &proc, key, node) {
			break
		}
		sleep(ctx, min(ttl/3, 500*time.Millisecond))
	}
	return proc
}

// FinalReads waits until every lease must have expired (all were let go
// when Run ended: the largest TTL, the checker's 3 s margin and 2 s more),
// then reads every key the run used through every node, linearizably,
// then what every member holds on its own ([systems.Members]). Its time is
// bounded by that wait, one timeout per read and ten seconds more.
func (LeaseWorkload) FinalReads(ctx context.Context, env Env, firstProc int64) error {
	p, _ := env.Params.(LeaseParams)
	sys, ok := env.System.(systems.Leases)
	if !ok {
		return LeaseWorkload{}.Supports(env.System)
	}
	carry, _ := env.Carry.Get().(leaseCarry)
	ttl := max(carry.ttl, time.Duration(p.TTL))
	sleep(ctx, ttl+3*time.Second+leaseSlack)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(env.Nodes)*len(carry.keys)+1)*env.Timeout+10*time.Second)
	defer cancel()
	s := &leaseRun{journal: journal{to: env.Rec}, env: env, cfg: p}
	proc := firstProc
	for _, n := range env.Nodes {
		c, err := sys.LeaseClient(ctx, n)
		if err != nil {
			return err
		}
		for _, k := range carry.keys {
			if ctx.Err() != nil {
				break
			}
			pr := history.Process(proc)
			proc++
			s.readKey(ctx, c, &pr, k, n.Name)
		}
		c.Close()
	}
	recordMemberStates(ctx, env, proc, s.record)
	if err := s.err(); err != nil {
		return err
	}
	return ctx.Err()
}

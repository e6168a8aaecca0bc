package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/systems"
)

// Recorder takes history events; *history.Writer is one.
type Recorder interface {
	Append(history.Event) error
}

// Mix is the relative weight of each operation.
type Mix struct{ Read, Write, CAS float64 }

// Register is the register workload's configuration.
type Register struct {
	Keys        int
	Rate        float64 // operations per second, all clients together
	Concurrency int
	Timeout     time.Duration // per operation
	Mix         Mix
	Reads       systems.ReadMode
	Nodes       []systems.Peer
	Seed        uint64
}

// Stats says how well the rate was held.
type Stats struct {
	// Offered is the number of operations the dispatcher scheduled.
	Offered int64
	// Started is the number of operations clients invoked.
	Started int64
	// Late counts operations invoked more than one interval after their
	// intended time (every client was busy).
	Late int64
	// Skipped counts scheduled operations dropped because the backlog was
	// over one second long.
	Skipped int64
	// Interval is the intended time between two operations.
	Interval time.Duration
}

type ticket struct {
	intended time.Time
	f        string
	key      int
}

// session holds the state shared by the clients of one run.
type session struct {
	cfg      Register
	rec      Recorder
	clock    *history.Clock
	nextProc atomic.Int64
	counters []atomic.Int64 // last value handed out, per key
	lastMu   sync.Mutex
	last     map[int]int64 // last value seen per key, for cas
	stats    Stats
	statsMu  sync.Mutex
	recErr   atomic.Value
}

// Run drives the workload until ctx ends. Clients that cannot connect are
// an error; operations that fail are history, not errors. The returned error
// is also set if the history could not be written.
func (r Register) Run(ctx context.Context, sys systems.Registers, rec Recorder, clock *history.Clock) (Stats, error) {
	if r.Concurrency < 1 || r.Rate <= 0 || r.Keys < 1 || len(r.Nodes) == 0 {
		return Stats{}, fmt.Errorf("register workload: bad configuration %+v", r)
	}
	s := &session{cfg: r, rec: rec, clock: clock, counters: make([]atomic.Int64, r.Keys), last: map[int]int64{}}
	s.nextProc.Store(int64(r.Concurrency))
	interval := time.Duration(float64(time.Second) / r.Rate)
	s.stats.Interval = interval

	clients := make([]systems.RegisterClient, r.Concurrency)
	for i := range clients {
		node := r.Nodes[i%len(r.Nodes)]
		c, err := sys.RegisterClient(ctx, node, r.Reads)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return Stats{}, err
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	tickets := make(chan ticket, r.Concurrency)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s.client(ctx, clients[i], r.Nodes[i%len(r.Nodes)].Name, history.Process(i), interval, tickets)
		}(i)
	}
	s.dispatch(ctx, interval, tickets)
	close(tickets)
	wg.Wait()
	if err, _ := s.recErr.Load().(error); err != nil {
		return s.stats, err
	}
	return s.stats, nil
}

// dispatch hands out operations at their intended times until ctx ends.
func (s *session) dispatch(ctx context.Context, interval time.Duration, out chan<- ticket) {
	rng := rand.New(rand.NewPCG(s.cfg.Seed, 0))
	start := time.Now()
	total := s.cfg.Mix.Read + s.cfg.Mix.Write + s.cfg.Mix.CAS
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if -wait > time.Second {
			// Over a second behind: drop what cannot be served rather than
			// burst a backlog at a system that just came back.
			s.statsMu.Lock()
			s.stats.Skipped++
			s.statsMu.Unlock()
			continue
		}
		x := rng.Float64() * total
		f := "cas"
		switch {
		case x < s.cfg.Mix.Read:
			f = "read"
		case x < s.cfg.Mix.Read+s.cfg.Mix.Write:
			f = "write"
		}
		t := ticket{intended: intended, f: f, key: rng.IntN(s.cfg.Keys)}
		s.statsMu.Lock()
		s.stats.Offered++
		s.statsMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case out <- t:
		}
	}
}

func (s *session) record(e history.Event) {
	if err := s.rec.Append(e); err != nil {
		s.recErr.CompareAndSwap(nil, err)
	}
}

// client runs one client: one node, one process at a time.
func (s *session) client(ctx context.Context, c systems.RegisterClient, node string, proc history.Process, interval time.Duration, in <-chan ticket) {
	for t := range in {
		if ctx.Err() != nil {
			return
		}
		s.statsMu.Lock()
		s.stats.Started++
		if time.Since(t.intended) > interval {
			s.stats.Late++
		}
		s.statsMu.Unlock()
		if s.do(ctx, c, node, proc, t.f, t.key) == history.Info {
			proc = history.Process(s.nextProc.Add(1) - 1)
		}
	}
}

// do performs and records one operation and returns its outcome type.
func (s *session) do(ctx context.Context, c systems.RegisterClient, node string, proc history.Process, f string, keyIdx int) history.Type {
	key := strconv.Itoa(keyIdx)
	inv := history.Event{Process: proc, Type: history.Invoke, F: f, Key: key, Node: node}
	var oldVal int64
	var oldFound bool
	var newVal int64
	switch f {
	case "read":
		inv.Value = history.Nil
	case "write":
		newVal = s.counters[keyIdx].Add(1)
		inv.Value = history.IntValue(newVal)
	case "cas":
		s.lastMu.Lock()
		oldVal, oldFound = s.last[keyIdx]
		s.lastMu.Unlock()
		newVal = s.counters[keyIdx].Add(1)
		if !oldFound {
			// Nothing seen yet on this key: a cas from "absent" is checked
			// the same way, with null as the expected value.
			inv.Value = history.Value(fmt.Sprintf("[null,%d]", newVal))
		} else {
			inv.Value = history.PairValue(oldVal, newVal)
		}
	}
	opCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	inv.Time = s.clock.Now()
	s.record(inv)

	done := history.Event{Process: proc, F: f, Key: key, Node: node, Value: inv.Value}
	var err error
	switch f {
	case "read":
		var v string
		var found bool
		v, found, err = c.Read(opCtx, key)
		if err == nil {
			done.Value = readValue(v, found)
			if n, ok := done.Value.Int(); ok {
				s.seen(keyIdx, n)
			}
		}
	case "write":
		err = c.Write(opCtx, key, strconv.FormatInt(newVal, 10))
		if err == nil {
			s.seen(keyIdx, newVal)
		}
	case "cas":
		var swapped bool
		old := ""
		if oldFound {
			old = strconv.FormatInt(oldVal, 10)
		}
		swapped, err = c.CAS(opCtx, key, old, oldFound, strconv.FormatInt(newVal, 10))
		if err == nil && !swapped {
			// The compare ran and did not match: the cas happened and
			// changed nothing, an ok that did not swap. A fail is kept for
			// a cas that did not take place (a definite error).
			done.Time = s.clock.Now()
			done.Type = history.OK
			done.Value = history.NotSwapped
			s.record(done)
			return history.OK
		}
		if err == nil {
			s.seen(keyIdx, newVal)
		}
	}
	done.Time = s.clock.Now()
	switch {
	case err == nil:
		done.Type = history.OK
	case systems.IsDefinite(err):
		done.Type = history.Fail
		done.Error = err.Error()
	default:
		done.Type = history.Info
		done.Error = err.Error()
	}
	s.record(done)
	return done.Type
}

func (s *session) seen(key int, v int64) {
	s.lastMu.Lock()
	s.last[key] = v
	s.lastMu.Unlock()
}

// readValue turns what the system returned into a history value: an integer
// as written, null for no value, and anything else (garbage from the system
// under test) as a JSON string, for the checker to flag.
func readValue(v string, found bool) history.Value {
	if !found {
		return history.Nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return history.IntValue(n)
	}
	b, _ := json.Marshal(v)
	return history.Value(b)
}

// FinalReads reads every key once through every node, with linearizable
// reads, after the faults are healed and the system had time to recover.
// Process numbers continue from firstProc; it returns the next free one.
func FinalReads(ctx context.Context, sys systems.Registers, nodes []systems.Peer, keys int, timeout time.Duration, rec Recorder, clock *history.Clock, firstProc int64) (int64, error) {
	proc := firstProc
	s := &session{cfg: Register{Timeout: timeout, Keys: keys}, rec: rec, clock: clock, counters: make([]atomic.Int64, keys), last: map[int]int64{}}
	for _, n := range nodes {
		c, err := sys.RegisterClient(ctx, n, systems.Linearizable)
		if err != nil {
			return proc, err
		}
		for k := 0; k < keys && ctx.Err() == nil; k++ {
			s.do(ctx, c, n.Name, history.Process(proc), "read", k)
			proc++
		}
		c.Close()
	}
	if err, _ := s.recErr.Load().(error); err != nil {
		return proc, err
	}
	return proc, ctx.Err()
}

// NextProcess is the first process number never used by a Run with this
// configuration that ended with stats; FinalReads starts there.
func (s Stats) NextProcess(concurrency int) int64 {
	return int64(concurrency) + s.Started
}

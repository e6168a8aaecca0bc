package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// RegisterWorkload reads, writes and compare-and-sets a few keys, each a
// register: the load that linearizability checking was made for.
type RegisterWorkload struct{}

var _ Workload = RegisterWorkload{}

// Mix is the relative weight of each operation.
type Mix struct {
	Read  float64 `yaml:"read"`
	Write float64 `yaml:"write"`
	CAS   float64 `yaml:"cas"`
}

// Register is the register workload's parameters.
type Register struct {
	// Keys is how many registers; default 8, 1..10000.
	Keys int `yaml:"keys"`
	// Reads is the read consistency, one of [systems.Linearizable] (the
	// default) and [systems.Serializable].
	Reads systems.ReadMode `yaml:"reads"`
	// Mix weighs the operations; default 2 reads, 1 write, 1 cas.
	Mix Mix `yaml:"mix"`
}

func (r Register) String() string {
	return fmt.Sprintf("%d keys, %s reads", r.Keys, r.Reads)
}

// Name is "register".
func (RegisterWorkload) Name() string { return "register" }

// Keys are the register workload's fields.
func (RegisterWorkload) Keys() []string { return []string{"keys", "reads", "mix"} }

// Model: compare-and-set registers.
func (RegisterWorkload) Model() string { return "cas-register" }

// Decode reads keys, reads and mix, with their defaults.
func (RegisterWorkload) Decode(f *scenarios.Fields) any {
	r := Register{Keys: 8, Reads: systems.Linearizable, Mix: Mix{Read: 2, Write: 1, CAS: 1}}
	if v, ok := f.Int("keys", 1, 10000); ok {
		r.Keys = v
	}
	if v, ok := f.Enum("reads", []string{string(systems.Linearizable), string(systems.Serializable)}); ok {
		r.Reads = systems.ReadMode(v)
	}
	f.Sub("mix", []string{"read", "write", "cas"}, func(g *scenarios.Fields) {
		weight := func(key string, dst *float64) {
			if v, ok := g.Number(key, 0, 1e6, "a weight from 0 to 1000000"); ok {
				*dst = v
			}
		}
		m := Mix{}
		weight("read", &m.Read)
		weight("write", &m.Write)
		weight("cas", &m.CAS)
		if g.Valid("read") && g.Valid("write") && g.Valid("cas") && m.Read+m.Write+m.CAS <= 0 {
			g.Report("", "give at least one of read, write, cas a weight above 0", "all weights are 0")
		}
		r.Mix = m
	})
	return r
}

// Supports needs a system with register clients.
func (RegisterWorkload) Supports(inst systems.Instance) error {
	_, err := needs[systems.Registers](inst, "register", "register clients")
	return err
}

// Describe: "register: 8 keys, 50 ops/s, 6 clients, 1s timeout, linearizable reads".
func (RegisterWorkload) Describe(env Env) string {
	r, _ := env.Params.(Register)
	return fmt.Sprintf("register: %d keys, %g ops/s, %d clients, %s timeout, %s reads", r.Keys, env.Rate, env.Concurrency, env.Timeout, r.Reads)
}

type ticket struct {
	intended time.Time
	f        string
	key      int
}

// session holds the state shared by the clients of one run.
type session struct {
	journal
	env      Env
	cfg      Register
	clock    *history.Clock
	counters []atomic.Int64 // last value handed out, per key
	lastMu   sync.Mutex
	last     map[int]int64 // last value seen per key, for cas
	pace     *pacer
}

// Run drives the workload until ctx ends.
func (RegisterWorkload) Run(ctx context.Context, env Env) (Stats, error) {
	r, ok := env.Params.(Register)
	if err := env.check(); err != nil || !ok || r.Keys < 1 {
		return Stats{}, fmt.Errorf("register workload: %v (parameters %T)", err, env.Params)
	}
	sys, ok := env.System.(systems.Registers)
	if !ok {
		return Stats{}, RegisterWorkload{}.Supports(env.System)
	}
	s := &session{journal: journal{to: env.Rec}, env: env, cfg: r, clock: env.Clock, counters: make([]atomic.Int64, r.Keys), last: map[int]int64{}, pace: newPacer(env.Rate)}
	s.nextProc.Store(int64(env.Concurrency))

	clients, err := openClients(ctx, env, env.Concurrency, func(ctx context.Context, n systems.Peer) (systems.RegisterClient, error) {
		return sys.RegisterClient(ctx, n, r.Reads)
	})
	if err != nil {
		return Stats{}, err
	}
	defer closeClients(clients)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tickets := make(chan ticket, env.Concurrency)
	wait := goClients(env, clients, cancel, func(_ int, c systems.RegisterClient, node string, proc history.Process) {
		s.client(ctx, c, node, proc, tickets)
	})
	s.dispatch(ctx, tickets)
	close(tickets)
	return finish(s.pace, &s.journal, wait)
}

// dispatch hands out operations at their intended times until ctx ends.
func (s *session) dispatch(ctx context.Context, out chan<- ticket) {
	rng := s.env.Rand
	total := s.cfg.Mix.Read + s.cfg.Mix.Write + s.cfg.Mix.CAS
	feed(ctx, s.pace, out, func(intended time.Time) ticket {
		x := rng.Float64() * total
		f := "cas"
		switch {
		case x < s.cfg.Mix.Read:
			f = "read"
		case x < s.cfg.Mix.Read+s.cfg.Mix.Write:
			f = "write"
		}
		return ticket{intended: intended, f: f, key: rng.IntN(s.cfg.Keys)}
	})
}

// client runs one client: one node, one process at a time.
func (s *session) client(ctx context.Context, c systems.RegisterClient, node string, proc history.Process, in <-chan ticket) {
	for t := range in {
		if ctx.Err() != nil {
			return
		}
		s.pace.started(t.intended)
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
	opCtx, cancel := context.WithTimeout(ctx, s.env.Timeout)
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
// reads, then what every member holds on its own (where the system can
// tell: [systems.Members]). Its time is bounded by one timeout per read,
// and ten seconds more.
func (RegisterWorkload) FinalReads(ctx context.Context, env Env, firstProc int64) error {
	r, _ := env.Params.(Register)
	sys, ok := env.System.(systems.Registers)
	if !ok {
		return RegisterWorkload{}.Supports(env.System)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(env.Nodes)*r.Keys+1)*env.Timeout+10*time.Second)
	defer cancel()
	proc := firstProc
	s := &session{journal: journal{to: env.Rec}, env: env, cfg: r, clock: env.Clock, counters: make([]atomic.Int64, r.Keys), last: map[int]int64{}}
	for _, n := range env.Nodes {
		c, err := sys.RegisterClient(ctx, n, systems.Linearizable)
		if err != nil {
			return err
		}
		for k := 0; k < r.Keys && ctx.Err() == nil; k++ {
			s.do(ctx, c, n.Name, history.Process(proc), "read", k)
			proc++
		}
		c.Close()
	}
	recordMemberStates(ctx, env, proc, s.record)
	if err := s.err(); err != nil {
		return err
	}
	return ctx.Err()
}

package workloads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// SetWorkload adds unique elements to a few sets and now and then reads a
// whole set; at the end it reads every set through every node: the load
// that asks whether an acknowledged add can be lost (Jepsen's set-full).
//
// Each element is an integer unique in the run, added once, to one key,
// so the checker can follow every element from its add to the last read
// of its key. An add records the element as its value; a read records, on
// ok, the list of elements the node returned, as it returned them.
type SetWorkload struct{}

var _ Workload = SetWorkload{}

// SetParams are the set workload's parameters.
type SetParams struct {
	// Keys is how many sets; default 1, 1..1000.
	Keys int `yaml:"keys"`
	// ReadFraction is the share of operations that read a whole set, the
	// others add; default 0.1, at least 0 and below 1 (a load of reads
	// only would add nothing to lose).
	ReadFraction float64 `yaml:"read_fraction"`
	// FinalDeadline bounds the final reads, all nodes together; default
	// 60s, 1s..1h.
	FinalDeadline scenarios.Duration `yaml:"final_deadline"`
}

// Name is "set".
func (SetWorkload) Name() string { return "set" }

// Keys are the set workload's fields.
func (SetWorkload) Keys() []string { return []string{"keys", "read_fraction", "final_deadline"} }

// Model: the set-full account (lost, stale, never read, duplicated,
// unexpected elements).
func (SetWorkload) Model() string { return "set" }

// defaultSet is the set workload's parameters when a scenario gives none.
var defaultSet = SetParams{Keys: 1, ReadFraction: 0.1, FinalDeadline: scenarios.Duration(60 * time.Second)}

// Decode reads keys, read_fraction and final_deadline, with their
// defaults.
func (SetWorkload) Decode(f *scenarios.Fields) any {
	p := defaultSet
	if v, ok := f.Int("keys", 1, 1000); ok {
		p.Keys = v
	}
	if v, ok := f.Number("read_fraction", 0, 1, "a fraction from 0 to below 1 (0.1 is 10%)"); ok {
		if v == 1 {
			f.Report("read_fraction", "leave some operations to add, such as read_fraction: 0.5",
				"a read fraction of 1 adds nothing, so nothing can be lost")
		} else {
			p.ReadFraction = v
		}
	}
	if v, ok := f.Duration("final_deadline", time.Second, time.Hour); ok {
		p.FinalDeadline = v
	}
	return p
}

// Supports needs a system with set clients.
func (SetWorkload) Supports(inst systems.Instance) error {
	_, err := needs[systems.Sets](inst, "set", "sets")
	return err
}

// Describe: "set: 1 key, 10% reads, 50 ops/s, 6 clients, 1s timeout, final reads within 1m".
func (SetWorkload) Describe(env Env) string {
	p, _ := env.Params.(SetParams)
	keys := "keys"
	if p.Keys == 1 {
		keys = "key"
	}
	return fmt.Sprintf("set: %d %s, %.3g%% reads, %g ops/s, %d clients, %s timeout, final reads within %s",
		p.Keys, keys, p.ReadFraction*100, env.Rate, env.Concurrency, env.Timeout, p.FinalDeadline)
}

type setTicket struct {
	intended time.Time
	read     bool
	key      int
}

// setRun is the state the clients of one run share.
type setRun struct {
	journal
	env  Env
	cfg  SetParams
	pace *pacer
	// nextElem is the last element handed out: every add has its own.
	nextElem atomic.Int64
}

// Run adds and reads at the rate until ctx ends.
func (SetWorkload) Run(ctx context.Context, env Env) (Stats, error) {
	p, ok := env.Params.(SetParams)
	if err := env.check(); err != nil || !ok || p.Keys < 1 {
		return Stats{}, fmt.Errorf("set workload: %v (parameters %T)", err, env.Params)
	}
	sys, ok := env.System.(systems.Sets)
	if !ok {
		return Stats{}, SetWorkload{}.Supports(env.System)
	}
	s := &setRun{journal: journal{to: env.Rec}, env: env, cfg: p, pace: newPacer(env.Rate)}
	s.nextProc.Store(int64(env.Concurrency))

	clients, err := openClients(ctx, env, env.Concurrency, sys.SetClient)
	if err != nil {
		return Stats{}, err
	}
	defer closeClients(clients)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tickets := make(chan setTicket, env.Concurrency)
	wait := goClients(env, clients, cancel, func(_ int, c systems.SetClient, node string, proc history.Process) {
		s.client(ctx, c, node, proc, tickets)
	})
	rng := env.Rand
	feed(ctx, s.pace, tickets, func(intended time.Time) setTicket {
		return setTicket{intended: intended, read: rng.Float64() < p.ReadFraction, key: rng.IntN(p.Keys)}
	})
	close(tickets)
	return finish(s.pace, &s.journal, wait)
}

// client runs one client: one node, one process at a time.
func (s *setRun) client(ctx context.Context, c systems.SetClient, node string, proc history.Process, in <-chan setTicket) {
	for t := range in {
		if ctx.Err() != nil {
			return
		}
		s.pace.started(t.intended)
		if s.do(ctx, c, node, proc, t.read, t.key, s.env.Timeout) == history.Info {
			proc = s.newProc()
		}
	}
}

// do performs and records one add or read, within timeout, and returns its
// outcome type.
func (s *setRun) do(ctx context.Context, c systems.SetClient, node string, proc history.Process, read bool, keyIdx int, timeout time.Duration) history.Type {
	key := strconv.Itoa(keyIdx)
	inv := history.Event{Process: proc, Type: history.Invoke, F: "add", Key: key, Node: node}
	var elem int64
	if read {
		inv.F, inv.Value = "read", history.Nil
	} else {
		elem = s.nextElem.Add(1)
		inv.Value = history.IntValue(elem)
	}
	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inv.Time = s.env.Clock.Now()
	s.record(inv)

	done := history.Event{Process: proc, F: inv.F, Key: key, Node: node, Value: inv.Value}
	var err error
	if read {
		var elems []string
		elems, err = c.ReadSet(opCtx, key)
		if err == nil {
			done.Value = elementsValue(elems)
		}
	} else {
		err = c.Add(opCtx, key, strconv.FormatInt(elem, 10))
	}
	done.Time = s.env.Clock.Now()
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

// elementsValue renders what a read returned as a JSON array, in the
// node's order, duplicates kept. An element that is not one of the lab's
// integers as the lab wrote it (garbage from the system, "007") is kept as
// a JSON string, which no add has as its value: the checker reports it as
// unexpected.
func elementsValue(elems []string) history.Value {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		if n, err := strconv.ParseInt(e, 10, 64); err == nil && strconv.FormatInt(n, 10) == e {
			b.WriteString(e)
		} else {
			q, _ := json.Marshal(e)
			b.Write(q)
		}
	}
	b.WriteByte(']')
	return history.Value(b.String())
}

// finalReadTimeout is the least time one final read may take: a whole set
// can be large by the end, and nothing else asks the node for anything.
const finalReadTimeout = 5 * time.Second

// FinalReads reads every key through every node, each node on its own
// client, all nodes at once, so that an element lost on any node is
// missing from a read at the end. Each (node, key) has its process, from
// firstProc on: node i's key k is firstProc + i*Keys + k. A read that
// fails or whose outcome is unknown is tried again, round after round over
// the keys not yet read, until the final deadline; an unknown outcome ends
// its process, and the retry goes on under a new one, numbered after all
// of those. Then what every member holds on its own is recorded, where the
// system can tell ([systems.Members]).
//
// It returns an error naming the keys some node never answered by the
// deadline: what the history lacks, for the run's log.
func (SetWorkload) FinalReads(ctx context.Context, env Env, firstProc int64) error {
	p, _ := env.Params.(SetParams)
	sys, ok := env.System.(systems.Sets)
	if !ok {
		return SetWorkload{}.Supports(env.System)
	}
	if p.Keys < 1 {
		p.Keys = defaultSet.Keys
	}
	if p.FinalDeadline <= 0 {
		p.FinalDeadline = defaultSet.FinalDeadline
	}
	s := &setRun{journal: journal{to: env.Rec}, env: env, cfg: p}
	s.nextProc.Store(firstProc + int64(len(env.Nodes)*p.Keys))
	rctx, cancel := context.WithTimeout(ctx, time.Duration(p.FinalDeadline))
	defer cancel()
	unread := make([]error, len(env.Nodes))
	var wg sync.WaitGroup
	for i, n := range env.Nodes {
		procs := make([]history.Process, p.Keys)
		for k := range procs {
			procs[k] = history.Process(firstProc + int64(i*p.Keys+k))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			unread[i] = s.finalNode(rctx, sys, n, procs)
		}()
	}
	wg.Wait()
	mctx, mcancel := context.WithTimeout(ctx, env.Timeout+10*time.Second)
	defer mcancel()
	recordMemberStates(mctx, env, s.nextProc.Load(), s.record)
	if err := s.err(); err != nil {
		return err
	}
	if err := errors.Join(unread...); err != nil {
		return err
	}
	return ctx.Err()
}

// finalNode reads every key through node, each until a read is ok or ctx
// ends, and says which keys it could not read.
func (s *setRun) finalNode(ctx context.Context, sys systems.Sets, node systems.Peer, procs []history.Process) error {
	var c systems.SetClient
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	timeout := max(s.env.Timeout, finalReadTimeout)
	pending := make([]int, len(procs))
	for k := range pending {
		pending[k] = k
	}
	var lastErr error
	for len(pending) > 0 && ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = sys.SetClient(ctx, node); err != nil {
				c, lastErr = nil, err
				sleep(ctx, 500*time.Millisecond)
				continue
			}
		}
		var left []int
		for _, k := range pending {
			if ctx.Err() != nil {
				left = append(left, k)
				continue
			}
			switch s.do(ctx, c, node.Name, procs[k], true, k, timeout) {
			case history.OK:
				continue
			case history.Info:
				procs[k] = s.newProc()
			}
			left = append(left, k)
		}
		pending = left
		if len(pending) > 0 {
			// Give the node a moment before the next round.
			sleep(ctx, 200*time.Millisecond)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	keys := make([]string, len(pending))
	for i, k := range pending {
		keys[i] = strconv.Itoa(k)
	}
	err := fmt.Errorf("%s: no final read of key %s succeeded within %s", node.Name, strings.Join(keys, ", "), s.cfg.FinalDeadline)
	if c == nil && lastErr != nil {
		err = fmt.Errorf("%w; no client could connect: %v", err, lastErr)
	}
	return err
}

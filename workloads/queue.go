package workloads

import (
	"context"
	"encoding/json"
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

// QueueWorkload publishes unique values to one replicated queue, consumes
// them, and at the end drains the whole queue through every node: the load
// that asks whether an acknowledged message can be lost.
type QueueWorkload struct{}

var _ Workload = QueueWorkload{}

// Queue is the queue workload's parameters.
type Queue struct {
	// Consumers is how many of the clients consume; the others publish.
	// Default: a third of the clients, at least one; 0 publishes only.
	// Nil when the scenario does not say, so that the scenario written
	// back into the run directory says what the scenario said.
	Consumers *int `yaml:"consumers,omitempty"`
	// Batch is the most messages one consume takes; default 10.
	Batch int `yaml:"batch"`
	// DrainDeadline bounds the final drain of each node; default 60s.
	DrainDeadline scenarios.Duration `yaml:"drain_deadline"`
	// ExactlyOnce makes a message delivered twice an anomaly; by default
	// duplicates are counted (JetStream delivers at least once).
	ExactlyOnce bool `yaml:"exactly_once"`
}

// consumers is how many clients consume: at least one client always
// publishes.
func (q Queue) consumers(concurrency int) int {
	c := max(1, concurrency/3)
	if q.Consumers != nil {
		c = *q.Consumers
	}
	return max(0, min(c, concurrency-1))
}

// Name is "queue".
func (QueueWorkload) Name() string { return "queue" }

// Keys are the queue workload's fields.
func (QueueWorkload) Keys() []string {
	return []string{"consumers", "batch", "drain_deadline", "exactly_once"}
}

// Model: the queue checker (lost, lost on a node, unexpected, duplicated,
// recovered, order).
func (QueueWorkload) Model() string { return "queue" }

// Decode reads consumers, batch, drain_deadline and exactly_once.
func (QueueWorkload) Decode(f *scenarios.Fields) any {
	q := Queue{Batch: 10, DrainDeadline: scenarios.Duration(60 * time.Second)}
	if v, ok := f.Int("consumers", 0, 1000); ok {
		q.Consumers = &v
	}
	if v, ok := f.Int("batch", 1, 1000); ok {
		q.Batch = v
	}
	if v, ok := f.Duration("drain_deadline", time.Second, time.Hour); ok {
		q.DrainDeadline = scenarios.Duration(v)
	}
	if v, ok := f.Bool("exactly_once"); ok {
		q.ExactlyOnce = v
	}
	return q
}

// ExactlyOnce says whether the history is checked for exactly-once
// delivery.
func (QueueWorkload) ExactlyOnce(params any) bool {
	q, _ := params.(Queue)
	return q.ExactlyOnce
}

// Supports needs a system with queue clients.
func (QueueWorkload) Supports(inst systems.Instance) error {
	_, err := needs[systems.Queues](inst, "queue", "a replicated queue")
	return err
}

// Describe: "queue: 100 publishes/s, 4 publishers, 2 consumers (batch 10), 1s timeout".
func (QueueWorkload) Describe(env Env) string {
	q, _ := env.Params.(Queue)
	c := q.consumers(env.Concurrency)
	return fmt.Sprintf("queue: %g publishes/s, %d publishers, %d consumers (batch %d), %s timeout, drain deadline %s",
		env.Rate, env.Concurrency-c, c, q.Batch, env.Timeout, q.DrainDeadline)
}

// queueRun is the state the clients of one run share.
type queueRun struct {
	journal
	env     Env
	cfg     Queue
	pace    *pacer
	nextVal atomic.Int64
	// highest is the highest position any publish was acknowledged at:
	// the final drain reads every node at least that far.
	highest atomic.Uint64
}

// Run publishes at the rate and consumes as fast as the consumers can,
// until ctx ends.
func (QueueWorkload) Run(ctx context.Context, env Env) (Stats, error) {
	q, ok := env.Params.(Queue)
	if err := env.check(); err != nil || !ok {
		return Stats{}, fmt.Errorf("queue workload: %v (parameters %T)", err, env.Params)
	}
	sys, ok := env.System.(systems.Queues)
	if !ok {
		return Stats{}, QueueWorkload{}.Supports(env.System)
	}
	s := &queueRun{journal: journal{to: env.Rec}, env: env, cfg: q, pace: newPacer(env.Rate)}
	s.nextProc.Store(int64(env.Concurrency))
	defer func() { env.Carry.Put(s.highest.Load()) }()

	clients, err := openClients(ctx, env, env.Concurrency, sys.QueueClient)
	if err != nil {
		return Stats{}, err
	}
	defer closeClients(clients)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumers := q.consumers(env.Concurrency)
	tickets := make(chan time.Time, env.Concurrency)
	wait := goClients(env, clients, cancel, func(i int, c systems.QueueClient, node string, proc history.Process) {
		// The first clients consume, so that with few clients every node
		// still has a publisher bound to it.
		if i < consumers {
			s.consume(ctx, c, node, proc)
			return
		}
		s.publish(ctx, c, node, proc, tickets)
	})
	if consumers < env.Concurrency {
		feed(ctx, s.pace, tickets, func(intended time.Time) time.Time { return intended })
	} else {
		<-ctx.Done()
	}
	close(tickets)
	return finish(s.pace, &s.journal, wait)
}

// publish runs one publisher: one node, one message at a time, each value
// unique in the run.
func (s *queueRun) publish(ctx context.Context, c systems.QueueClient, node string, proc history.Process, in <-chan time.Time) {
	for intended := range in {
		if ctx.Err() != nil {
			return
		}
		s.pace.started(intended)
		v := s.nextVal.Add(1)
		inv := history.Event{Process: proc, Type: history.Invoke, F: "enqueue", Value: history.IntValue(v), Node: node}
		opCtx, cancel := context.WithTimeout(ctx, s.env.Timeout)
		inv.Time = s.env.Clock.Now()
		s.record(inv)
		seq, err := c.Publish(opCtx, strconv.FormatInt(v, 10))
		cancel()
		done := history.Event{Time: s.env.Clock.Now(), Process: proc, F: "enqueue", Value: inv.Value, Node: node}
		switch {
		case err == nil:
			done.Type = history.OK
			done.Value = history.PairValue(v, int64(seq))
			for {
				h := s.highest.Load()
				if seq <= h || s.highest.CompareAndSwap(h, seq) {
					break
				}
			}
		case systems.IsDefinite(err):
			done.Type, done.Error = history.Fail, err.Error()
		default:
			done.Type, done.Error = history.Info, err.Error()
		}
		s.record(done)
		if done.Type == history.Info {
			proc = s.newProc()
		}
	}
}

// consume runs one consumer: fetch a batch, record what came, again.
func (s *queueRun) consume(ctx context.Context, c systems.QueueClient, node string, proc history.Process) {
	wait := min(s.env.Timeout/2, 500*time.Millisecond)
	for ctx.Err() == nil {
		inv := history.Event{Process: proc, Type: history.Invoke, F: "dequeue", Value: history.Nil, Node: node}
		opCtx, cancel := context.WithTimeout(ctx, s.env.Timeout)
		inv.Time = s.env.Clock.Now()
		s.record(inv)
		msgs, err := c.Consume(opCtx, s.cfg.Batch, wait)
		cancel()
		done := history.Event{Time: s.env.Clock.Now(), Process: proc, F: "dequeue", Node: node}
		switch {
		case err == nil:
			done.Type, done.Value = history.OK, messagesValue(msgs)
		case systems.IsDefinite(err):
			done.Type, done.Value, done.Error = history.Fail, history.Nil, err.Error()
		default:
			done.Type, done.Value, done.Error = history.Info, history.Nil, err.Error()
		}
		s.record(done)
		if done.Type == history.Info {
			proc = s.newProc()
		}
		if err != nil {
			// A refused fetch returns at once; do not spin on a node that
			// cannot serve.
			sleep(ctx, 100*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// messagesValue renders messages as [[value, seq], ...]. A value that is
// not one of the lab's integers (garbage from the system) is kept as a
// JSON string, for the checker to report as unexpected.
func messagesValue(msgs []systems.Message) history.Value {
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		if n, err := strconv.ParseInt(m.Value, 10, 64); err == nil {
			b.WriteString(strconv.FormatInt(n, 10))
		} else {
			q, _ := json.Marshal(m.Value)
			b.Write(q)
		}
		b.WriteByte(',')
		b.WriteString(strconv.FormatUint(m.Seq, 10))
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return history.Value(b.String())
}

// drainBatch is how many messages one drain operation reads.
const drainBatch = 500

// FinalReads drains the queue through every node at once, each node with
// its own process and the drain deadline. A node's drain reads from the
// first position up to the node's own end until that end is at least the
// highest position any publish was acknowledged at; it then records
// "drained" ok with the node's last position. A node that answers to the
// deadline but stays behind (or holds no replica at all) is recorded the
// same way, with what it held: the checker finds what it lacks. A node
// that cannot be read (no answer, errors) by the deadline is recorded as
// given up (drained info), which the checker reports apart from loss.
func (QueueWorkload) FinalReads(ctx context.Context, env Env, firstProc int64) error {
	q, _ := env.Params.(Queue)
	sys, ok := env.System.(systems.Queues)
	if !ok {
		return QueueWorkload{}.Supports(env.System)
	}
	if q.DrainDeadline <= 0 {
		q.DrainDeadline = scenarios.Duration(60 * time.Second)
	}
	target, _ := env.Carry.Get().(uint64)
	s := &queueRun{journal: journal{to: env.Rec}, env: env, cfg: q}
	var wg sync.WaitGroup
	for i, n := range env.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.drain(ctx, sys, n, history.Process(firstProc+int64(i)), target)
		}()
	}
	wg.Wait()
	if err := s.err(); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *queueRun) drain(ctx context.Context, sys systems.Queues, node systems.Peer, proc history.Process, target uint64) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.DrainDeadline))
	defer cancel()
	var c systems.QueueClient
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	from := uint64(1)
	// last is the node's own end, as it said last; answered says whether
	// its last answer came without error.
	var last uint64
	answered := false
	var lastErr error
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = sys.QueueClient(ctx, node); err != nil {
				lastErr, answered = err, false
				sleep(ctx, 500*time.Millisecond)
				continue
			}
		}
		// The node's own end first: reads past it would be answered by
		// another node's replica, and are not what this node holds.
		l, err := c.Last(ctx)
		if err != nil {
			lastErr, answered = err, false
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		last, answered = l, true
		if from <= l {
			inv := history.Event{Process: proc, Type: history.Invoke, F: "drain", Value: history.IntValue(int64(from)), Node: node.Name}
			opCtx, opCancel := context.WithTimeout(ctx, max(s.env.Timeout, 5*time.Second))
			inv.Time = s.env.Clock.Now()
			s.record(inv)
			msgs, err := c.ReadFrom(opCtx, from, int(min(l-from+1, drainBatch)))
			opCancel()
			done := history.Event{Time: s.env.Clock.Now(), Process: proc, F: "drain", Node: node.Name}
			if err != nil && len(msgs) == 0 {
				// A read changes nothing: a failed one is a fail, and the
				// drain goes on with the same process.
				done.Type, done.Value, done.Error = history.Fail, history.Nil, err.Error()
				s.record(done)
				lastErr, answered = err, false
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			var mine []systems.Message
			for _, m := range msgs {
				if m.Seq <= l {
					mine = append(mine, m)
				}
			}
			done.Type, done.Value = history.OK, messagesValue(mine)
			s.record(done)
			if len(mine) > 0 {
				from = mine[len(mine)-1].Seq + 1
			}
			if len(mine) == 0 || from <= l {
				if len(mine) == 0 {
					// Nothing at or after from up to the node's end: the rest
					// of its log is a hole.
					from = l + 1
				}
				continue
			}
		}
		if l >= target {
			s.drained(proc, node.Name, history.OK, history.IntValue(int64(l)), "")
			return
		}
		lastErr = fmt.Errorf("%s holds up to position %d, behind the highest acknowledged %d", node.Name, l, target)
		sleep(ctx, 500*time.Millisecond)
	}
	if answered {
		// The node answered to the end and still holds less than was
		// acknowledged: that is what it holds, after every fault was
		// healed and the recovery and the whole drain deadline had
		// passed. The checker judges it.
		s.drained(proc, node.Name, history.OK, history.IntValue(int64(last)),
			fmt.Sprintf("%s still held only up to position %d after %s (highest acknowledged: %d)", node.Name, last, s.cfg.DrainDeadline, target))
		return
	}
	why := fmt.Sprintf("gave up after %s: read up to position %d of %d the node last reported (highest acknowledged: %d)", s.cfg.DrainDeadline, from-1, last, target)
	if lastErr != nil {
		why += "; last error: " + lastErr.Error()
	}
	s.drained(proc, node.Name, history.Info, history.Nil, why)
}

func (s *queueRun) drained(proc history.Process, node string, typ history.Type, v history.Value, errText string) {
	t := s.env.Clock.Now()
	s.record(history.Event{Time: t, Process: proc, Type: history.Invoke, F: "drained", Value: history.Nil, Node: node})
	s.record(history.Event{Time: s.env.Clock.Now(), Process: proc, Type: typ, F: "drained", Value: v, Node: node, Error: errText})
}

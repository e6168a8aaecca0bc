package workloads

import (
	"context"
	"sync"
	"time"
)

// pacer holds a workload's rate: it hands out operations at fixed intended
// times and counts what it offered, what clients started late and what it
// had to skip. It is shared by every workload's clients.
type pacer struct {
	mu    sync.Mutex
	stats Stats
}

func newPacer(rate float64) *pacer {
	return &pacer{stats: Stats{Interval: time.Duration(float64(time.Second) / rate)}}
}

// run calls emit with each operation's intended start time, one interval
// apart, until ctx ends or emit returns false. Over a second behind, it
// drops what cannot be served rather than burst a backlog at a system that
// just came back.
func (p *pacer) run(ctx context.Context, emit func(intended time.Time) bool) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		intended := start.Add(time.Duration(i) * p.stats.Interval)
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if -wait > time.Second {
			p.mu.Lock()
			p.stats.Skipped++
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.stats.Offered++
		p.mu.Unlock()
		if !emit(intended) {
			return
		}
	}
}

// started counts an operation a client starts, late if it starts more than
// one interval after its intended time.
func (p *pacer) started(intended time.Time) {
	p.mu.Lock()
	p.stats.Started++
	if time.Since(intended) > p.stats.Interval {
		p.stats.Late++
	}
	p.mu.Unlock()
}

// snapshot returns the counts so far.
func (p *pacer) snapshot() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// feed paces tickets into out until ctx ends: next draws the ticket of
// each intended start, once, in the order the pacer gives them.
func feed[T any](ctx context.Context, p *pacer, out chan<- T, next func(intended time.Time) T) {
	p.run(ctx, func(intended time.Time) bool {
		select {
		case <-ctx.Done():
			return false
		case out <- next(intended):
			return true
		}
	})
}

// err is the first error recording an event, or nil.
func (j *journal) err() error {
	err, _ := j.recErr.Load().(error)
	return err
}

// finish waits for the clients (wait, from goClients) and returns the
// pacer's stats with the first error: the clients', then the journal's.
func finish(p *pacer, j *journal, wait func() error) (Stats, error) {
	if err := wait(); err != nil {
		return p.snapshot(), err
	}
	return p.snapshot(), j.err()
}

package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// Workload is a kind of client load: a plugin. It decodes its own
// parameters from the scenario ([scenarios.Plugin]), names the checker
// model its history is judged by, says which systems it can drive, drives
// them, and reads what every node holds at the end.
type Workload interface {
	scenarios.Plugin
	// Model is the checker model of its histories ("cas-register").
	Model() string
	// Supports says whether the workload can drive inst; nil if it can.
	Supports(inst systems.Instance) error
	// Describe says in one line what the load is, for progress and the
	// report.
	Describe(env Env) string
	// Run drives the load until ctx ends. Clients that cannot connect are
	// an error; operations that fail are history, not errors.
	Run(ctx context.Context, env Env) (Stats, error)
	// FinalReads reads what every node holds, after the faults are healed
	// and the system had time to recover, with process numbers from
	// firstProc on. It bounds its own time.
	FinalReads(ctx context.Context, env Env, firstProc int64) error
}

// All is every workload the lab knows. Adding one is a file and an entry
// here.
var All = []Workload{RegisterWorkload{}, QueueWorkload{}, LeaseWorkload{}, LockWorkload{}, SetWorkload{}}

// Lookup returns the workload named name.
func Lookup(list []Workload, name string) (Workload, bool) {
	for _, w := range list {
		if w.Name() == name {
			return w, true
		}
	}
	return nil, false
}

// Env is what a workload runs with: the system and its nodes, the
// harness's settings shared by every workload, its own parameters, and
// where to record.
type Env struct {
	System systems.Instance
	Nodes  []systems.Peer
	// Rate is operations per second, all clients together; Concurrency
	// the number of client processes; Timeout bounds each operation.
	Rate        float64
	Concurrency int
	Timeout     time.Duration
	// Params are the workload's own, as it decoded them.
	Params any
	Rec    Recorder
	Clock  *history.Clock
	// Rand is the run's workload stream: which operation, which key.
	Rand *rand.Rand
	// Carry passes what a workload's Run learnt to its FinalReads (the
	// queue's highest acknowledged position); the runner makes one per
	// run. Nil means nothing is carried.
	Carry *Carry
}

// Carry holds one value from a workload's Run to its FinalReads.
type Carry struct {
	mu sync.Mutex
	v  any
}

// Put keeps v; a nil Carry keeps nothing.
func (c *Carry) Put(v any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.v = v
	c.mu.Unlock()
}

// Get returns what Put kept, or nil.
func (c *Carry) Get() any {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v
}

func (env Env) check() error {
	if env.Concurrency < 1 || env.Rate <= 0 || len(env.Nodes) == 0 || env.Timeout <= 0 {
		return fmt.Errorf("bad configuration: %d clients, %g ops/s, %d nodes, %s timeout", env.Concurrency, env.Rate, len(env.Nodes), env.Timeout)
	}
	return nil
}

// Recorder takes history events; *history.Writer is one.
type Recorder interface {
	Append(history.Event) error
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

// NextProcess is the first process number never used by a run with
// concurrency clients that ended with these stats; final reads start
// there.
func (s Stats) NextProcess(concurrency int) int64 {
	return int64(concurrency) + s.Started
}

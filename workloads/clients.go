package workloads

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/systems"
)

// Every workload's Run has the same frame around what it does: check that
// the system has its kind of client, open one client per worker, bound to
// a node, run each worker in a goroutine of its own while the pacer hands
// out operations, wait for them, close the clients. The helpers here are
// that frame, written once, so that the node binding, the process
// numbering and the way a panicking client ends a run cannot drift apart
// from one workload to the next. What a worker does stays in its workload.

// needs returns inst as I, the kind of system a workload drives, or the
// error its Supports reports when inst is not one: "the <workload>
// workload needs a system with <what>, and <type> has none".
func needs[I any](inst systems.Instance, workload, what string) (I, error) {
	sys, ok := inst.(I)
	if !ok {
		return sys, fmt.Errorf("the %s workload needs a system with %s, and %T has none", workload, what, inst)
	}
	if o, ok := inst.(systems.Offering); ok {
		if err := o.Offers(workload); err != nil {
			return sys, fmt.Errorf("the %s workload: %w", workload, err)
		}
	}
	return sys, nil
}

// node is the node worker i is bound to: round robin over the nodes, so
// that every node has clients and a partition is seen by the clients on
// each side, as in Jepsen.
func (env Env) node(i int) systems.Peer { return env.Nodes[i%len(env.Nodes)] }

// openClients opens n clients with open, client i through env.node(i). A
// client that cannot be opened is an error of the run, returned as open
// returned it; the clients opened before it are closed first, so that a
// run that cannot start leaves no connection behind. The caller closes the
// others, with closeClients, when its workers are done.
func openClients[C io.Closer](ctx context.Context, env Env, n int, open func(context.Context, systems.Peer) (C, error)) ([]C, error) {
	clients := make([]C, n)
	for i := range clients {
		c, err := open(ctx, env.node(i))
		if err != nil {
			closeClients(clients[:i])
			return nil, err
		}
		clients[i] = c
	}
	return clients, nil
}

// closeClients closes every client. An error closing one is dropped: the
// history is written by then, and a connection that does not close well
// changes nothing in it.
func closeClients[C io.Closer](clients []C) {
	for _, c := range clients {
		c.Close()
	}
}

// goClients runs work for each client in a goroutine of its own: client i,
// the name of the node it is bound to (env.node(i), where openClients
// opened it) and its first process, i (later ones come from the
// workload's own counter, which starts above every client's). It returns a
// wait that waits for every worker.
//
// A worker that panics (garbage from a client library, a bug of ours) must
// not kill the process while faults are in effect: the panic is recovered,
// the first one kept as an error, "client i panicked: ..." with its stack,
// and cancel called, so that the other workers and the dispatcher stop.
// wait returns that error (nil when no worker panicked), and the run ends
// with it through the runner's cleanup, which heals the faults.
func goClients[C any](env Env, clients []C, cancel context.CancelFunc, work func(i int, c C, node string, proc history.Process)) (wait func() error) {
	var wg sync.WaitGroup
	var panicked atomic.Value
	for i, c := range clients {
		node := env.node(i).Name
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panicked.CompareAndSwap(nil, fmt.Errorf("client %d panicked: %v\n%s", i, p, debug.Stack()))
					cancel()
				}
			}()
			work(i, c, node, history.Process(i))
		}()
	}
	return func() error {
		wg.Wait()
		err, _ := panicked.Load().(error)
		return err
	}
}

// journal is what every workload's run shares with its clients: where
// events go, the first error recording them, and the next process number
// (a client whose operation ended unknown continues as a new process).
type journal struct {
	to       Recorder
	nextProc atomic.Int64
	recErr   atomic.Value
}

// record appends e; the first error is kept for the run to return.
func (j *journal) record(e history.Event) {
	if err := j.to.Append(e); err != nil {
		j.recErr.CompareAndSwap(nil, err)
	}
}

// newProc hands out the next process number.
func (j *journal) newProc() history.Process { return history.Process(j.nextProc.Add(1) - 1) }

package workloads

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/systems"
)

// MemberStateF is the function of the events that record what one member
// holds at the end of a run ([systems.Members]): an ok whose value is the
// member's [systems.MemberState] as JSON, or a fail when the member could
// not be read. Every checker model compares them: members that disagree
// make the history invalid.
const MemberStateF = "member-state"

// recordMemberStates reads every node's own state, if the system can, and
// records one member-state operation per node, with processes from proc
// on. It returns the next process number.
func recordMemberStates(ctx context.Context, env Env, proc int64, rec func(history.Event)) int64 {
	m, ok := env.System.(systems.Members)
	if !ok {
		return proc
	}
	inv := make([]history.Event, len(env.Nodes))
	for i, n := range env.Nodes {
		inv[i] = history.Event{Time: env.Clock.Now(), Process: history.Process(proc + int64(i)), Type: history.Invoke, F: MemberStateF, Value: history.Nil, Node: n.Name}
		rec(inv[i])
	}
	states, errs := m.MemberStates(ctx, env.Nodes)
	for i, e := range inv {
		done := history.Event{Time: env.Clock.Now(), Process: e.Process, F: MemberStateF, Node: e.Node, Value: history.Nil}
		if i < len(errs) && errs[i] != nil {
			// A read changes nothing: it did not happen.
			done.Type, done.Error = history.Fail, errs[i].Error()
		} else if b, err := json.Marshal(states[i]); err == nil {
			done.Type, done.Value = history.OK, history.Value(b)
		} else {
			done.Type, done.Error = history.Fail, err.Error()
		}
		rec(done)
	}
	return proc + int64(len(env.Nodes))
}

// MemberRevisionF is the function of the events that record the revision
// one member said it had applied ([systems.Revisions]), asked through the
// run: an ok whose value is the revision, or a fail when the member did
// not answer. A revision that goes backwards on a member makes the history
// invalid, whatever the model.
const MemberRevisionF = "member-revision"

// RevisionProcess is the process of the revision watcher of node i: far
// above any client's, so the two never meet.
func RevisionProcess(i int) history.Process { return history.Process(1<<40 + int64(i)) }

// WatchRevisions asks every node its applied revision every interval,
// each node from a goroutine of its own, until ctx ends, and records each
// ask as a member-revision operation. It does nothing for a system that
// cannot tell ([systems.Revisions]). A node that cannot be reached is
// asked again at the next interval.
func WatchRevisions(ctx context.Context, env Env, interval time.Duration) {
	rs, ok := env.System.(systems.Revisions)
	if !ok || interval <= 0 {
		return
	}
	timeout := env.Timeout
	if timeout <= 0 || timeout > interval {
		timeout = interval
	}
	var wg sync.WaitGroup
	for i, n := range env.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				// A panic in a system's client must not take the run down;
				// the revisions already recorded stand.
				_ = recover()
			}()
			watchRevision(ctx, env, rs, n, RevisionProcess(i), interval, timeout)
		}()
	}
	wg.Wait()
}

func watchRevision(ctx context.Context, env Env, rs systems.Revisions, n systems.Peer, proc history.Process, interval, timeout time.Duration) {
	var rd systems.RevisionReader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rd == nil {
			// The reader lives as long as the watch: its context is ctx.
			r, err := rs.RevisionReader(ctx, n)
			if err != nil {
				continue
			}
			rd = r
		}
		if env.Rec.Append(history.Event{Time: env.Clock.Now(), Process: proc, Type: history.Invoke, F: MemberRevisionF, Value: history.Nil, Node: n.Name}) != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		rev, err := rd.Revision(rctx)
		cancel()
		done := history.Event{Time: env.Clock.Now(), Process: proc, F: MemberRevisionF, Node: n.Name, Value: history.Nil}
		if err != nil {
			// Asking changes nothing: it did not happen.
			done.Type, done.Error = history.Fail, err.Error()
		} else {
			done.Type, done.Value = history.OK, history.Value(strconv.FormatInt(rev, 10))
		}
		if env.Rec.Append(done) != nil || ctx.Err() != nil {
			return
		}
	}
}

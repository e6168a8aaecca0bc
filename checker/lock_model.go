package checker

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// The lock's search model: a mutex that knows its holder (a process), as
// etcd's lock keys do, and lets a holder's lease expire.
//
//   - acquire by p (ok): the lock must be free (as in Knossos's mutex, a
//     holder does not take its lock again); then p holds it;
//   - release by p (ok, or info: any time after its invocation, or never):
//     frees the lock if p holds it, and does nothing otherwise (deleting a
//     key that the lease's expiry already removed succeeds);
//   - expire of p's lease (one per process, made by the checker): invoked
//     when the lease was last known alive (at the latest of its record and
//     p's last acquire), returning never; frees the lock if p holds it.
//
// Failed acquires and releases did not happen and are left out; so are
// acquires with an unknown outcome: such an acquire can only have taken a
// free lock and kept it until its lease ended, which makes no other
// operation possible that was not possible without it.

type lockStep uint8

const (
	stepAcquire lockStep = iota
	stepRelease
	stepExpire
)

type lockIn struct {
	step lockStep
	proc int64
}

// lockFree is the state of a lock nobody holds, lockWild the unknown
// state a drawing cut out of a long history starts from (any acquire fits
// it); any other state is the holder's process.
const (
	lockFree int64 = -1
	lockWild int64 = -2
)

func lockModelStep(st int64, in lockIn) (bool, int64) {
	switch in.step {
	case stepAcquire:
		if st == lockFree || st == lockWild {
			return true, in.proc
		}
		return false, st
	default:
		if st == in.proc {
			return true, lockFree
		}
		return true, st
	}
}

func lockModel(init int64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(st, in, _ any) (bool, any) {
			ok, next := lockModelStep(st.(int64), in.(lockIn))
			return ok, next
		},
		Hash: func(st any) uint64 { return uint64(st.(int64) + 2) },
		DescribeOperation: func(in, _ any) string {
			i := in.(lockIn)
			return [...]string{"acquire", "release", "lease expires"}[i.step] + fmt.Sprintf(" (process %d)", i.proc)
		},
		DescribeState: func(st any) string {
			switch p := st.(int64); p {
			case lockFree:
				return "free"
			case lockWild:
				return "?"
			default:
				return fmt.Sprintf("held by process %d", p)
			}
		},
	}
}

// lockSearchOps turns one lock's operations into the model's, with an
// expiry for the lease of each process that acquired the lock (none when
// the history has no leases). Metadata is the index into ops, or -1 for an
// expiry.
func (c *lockCheck) lockSearchOps(ops []history.Op) (out []porcupine.Operation, unknown int) {
	firstAcq := map[history.Process]int64{}
	for i, op := range ops {
		if op.Type == history.Info {
			unknown++
		}
		var in lockIn
		switch {
		case op.F == "acquire" && op.Type == history.OK:
			in.step = stepAcquire
			if _, ok := firstAcq[op.Process]; !ok {
				firstAcq[op.Process] = op.Call
			}
		case op.F == "release" && op.Type != history.Fail:
			in.step = stepRelease
		default:
			continue
		}
		in.proc = int64(op.Process)
		out = append(out, porcupine.Operation{ClientId: int(op.Process), Input: in, Output: true, Call: op.Call, Return: op.Return, Metadata: i})
	}
	if !c.leased {
		return out, unknown
	}
	for p, first := range firstAcq {
		at := c.validity(p)
		if at == validUnknown || at < first {
			at = first
		}
		out = append(out, porcupine.Operation{ClientId: int(p), Input: lockIn{step: stepExpire, proc: int64(p)}, Output: true,
			Call: at, Return: math.MaxInt64, Metadata: -1})
	}
	return out, unknown
}

// search decides one lock: refuted when the direct sweep found two holders
// (which the search would refute too), by porcupine otherwise.
func (c *lockCheck) search(ctx context.Context, lock string, ops []history.Op, refuted *Anomaly) PartitionResult {
	start := time.Now()
	sops, unknown := c.lockSearchOps(ops)
	pr := PartitionResult{Key: lock, Ops: len(ops), Unknown: unknown, Searched: len(sops)}
	defer func() { pr.Duration = time.Since(start) }()
	switch {
	case refuted != nil:
		pr.Verdict, pr.Method, pr.Searched = Invalid, "refuted", 0
		return pr
	case len(sops) == 0:
		pr.Verdict, pr.Method = Valid, "empty"
		return pr
	}
	pr.Method = "search"
	pr.Verdict = search(ctx, lockModel(lockFree), sops)
	if pr.Verdict == Invalid {
		c.add("nonlinearizable", c.searchStory(lock, ops))
	}
	return pr
}

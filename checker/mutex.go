package checker

import (
	"fmt"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// The mutex model, as Knossos's: per key a lock, initially free; acquire
// takes a free lock, release frees a held one. Two holders at once, or a
// release of a free lock, cannot be placed.

type mutexIn struct{ acquire bool }

type mutexState uint8

const (
	mutexFree mutexState = iota
	mutexHeld
	mutexWild
)

func mutexStep(st mutexState, in mutexIn, unknown bool) (bool, mutexState) {
	want, next := mutexFree, mutexHeld
	if !in.acquire {
		want, next = mutexHeld, mutexFree
	}
	if st == want || st == mutexWild {
		return true, next
	}
	// An acquire of a held lock (or release of a free one) can only be an
	// unknown outcome that did not take effect.
	return unknown, st
}

func mutexModel(init mutexState) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return init },
		Step: func(st, in, out any) (bool, any) {
			ok, next := mutexStep(st.(mutexState), in.(mutexIn), out.(bool))
			return ok, next
		},
		Hash: func(st any) uint64 { return uint64(st.(mutexState)) },
		DescribeOperation: func(in, out any) string {
			s := "release()"
			if in.(mutexIn).acquire {
				s = "acquire()"
			}
			if out.(bool) {
				s += " -> unknown"
			}
			return s
		},
		DescribeState: func(st any) string {
			return map[mutexState]string{mutexFree: "free", mutexHeld: "held", mutexWild: "?"}[st.(mutexState)]
		},
	}
}

func buildMutex(key string, ops []history.Op, _ timeFormat) (*partition, error) {
	p := &partition{key: key, ops: ops}
	for i, op := range ops {
		if op.Type == history.Info {
			p.unknown++
		}
		var in mutexIn
		switch op.F {
		case "acquire":
			in.acquire = true
		case "release":
		default:
			return nil, fmt.Errorf("event %d: f %q is not an operation of the mutex model (expected acquire, release)", op.Index+1, op.F)
		}
		if op.Type == history.Fail {
			p.red.DroppedFailed++
			continue
		}
		p.search = append(p.search, porcupine.Operation{
			ClientId: int(op.Process), Input: in, Output: op.Type != history.OK,
			Call: op.Call, Return: op.Return, Metadata: i,
		})
	}
	p.pm = mutexModel(mutexFree)
	vm := mutexModel(mutexWild)
	p.vizModel = &vm
	return p, nil
}

package history

import (
	"fmt"
	"math"
	"sort"
)

// Op is one client operation: an invocation paired with its completion.
type Op struct {
	Process Process
	F       string
	Key     string
	Node    string
	// Input is the value given at invocation; Output the value returned.
	Input, Output Value
	// Type is OK, Fail or Info (Info also for an invocation that never
	// completed).
	Type Type
	// Call and Return are the invocation and completion times. Return is
	// math.MaxInt64 when the outcome is unknown: the operation may take
	// effect at any time after Call.
	Call, Return int64
	// Completed is the time the completion event was recorded, even for an
	// Info (for latency plots); -1 if there was none.
	Completed int64
	Error     string
	// Index is the position of the invocation in the event stream, from 0;
	// messages for people say event Index+1.
	Index int
}

// Unknown reports whether the op's outcome is unknown.
func (o Op) Unknown() bool { return o.Type == Info }

// Pairing problems are reported, not fatal: histories from elsewhere are
// often a little ragged. Index counts from 0, and Msg names events from 1
// (event Index+1), as every message for people does.
type PairingProblem struct {
	Index int
	Msg   string
}

// Pair matches every client invocation with the next completion of the same
// process and returns the operations in invocation order, plus the nemesis
// events, and any problems found (a completion with no invocation, a
// process with two invocations in flight). An invocation with no completion
// becomes an Info op.
func Pair(events []Event) (ops []Op, faults []Event, problems []PairingProblem) {
	open := map[Process]int{} // process -> index into ops
	for i, e := range events {
		if e.Process == Nemesis {
			faults = append(faults, e)
			continue
		}
		switch e.Type {
		case Invoke:
			if j, ok := open[e.Process]; ok {
				problems = append(problems, PairingProblem{i, fmt.Sprintf("process %s invoked again before its operation at event %d completed; that one is taken as unknown", e.Process, ops[j].Index+1)})
			}
			open[e.Process] = len(ops)
			ops = append(ops, Op{
				Process: e.Process, F: e.F, Key: e.Key, Node: e.Node,
				Input: e.Value, Type: Info, Call: e.Time, Return: math.MaxInt64,
				Completed: -1, Index: i,
			})
		default:
			j, ok := open[e.Process]
			if !ok {
				problems = append(problems, PairingProblem{i, fmt.Sprintf("process %s completed (%s) with nothing in flight", e.Process, e.Type)})
				continue
			}
			delete(open, e.Process)
			op := &ops[j]
			op.Type = e.Type
			op.Output = e.Value
			op.Error = e.Error
			op.Completed = e.Time
			if e.Type != Info {
				op.Return = e.Time
			}
			if e.Key != "" && op.Key == "" {
				op.Key = e.Key
			}
		}
	}
	sort.SliceStable(ops, func(a, b int) bool { return ops[a].Call < ops[b].Call })
	return ops, faults, problems
}

// Window is a span of time during which one fault was in effect.
type Window struct {
	Fault      Fault
	Start, End int64 // End is -1 if the fault was never healed in the record
	Healed     bool
}

// FaultWindows pairs fault-start and fault-end events by fault ID.
func FaultWindows(events []Event) []Window {
	var out []Window
	idx := map[int]int{}
	for _, e := range events {
		if e.Process != Nemesis || e.Fault == nil {
			continue
		}
		switch e.F {
		case FaultStart:
			idx[e.Fault.ID] = len(out)
			out = append(out, Window{Fault: *e.Fault, Start: e.Time, End: -1})
		case FaultEnd:
			if j, ok := idx[e.Fault.ID]; ok {
				out[j].End = e.Time
				out[j].Healed = e.Fault.Error == ""
				if e.Fault.Error != "" {
					out[j].Fault.Error = e.Fault.Error
				}
			}
		}
	}
	return out
}

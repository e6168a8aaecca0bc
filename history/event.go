package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Type is the kind of an event: an invocation or one of the three outcomes.
type Type string

// The event types, with Jepsen's meanings.
const (
	// Invoke marks the moment a client sent an operation.
	Invoke Type = "invoke"
	// OK means the operation took effect, with the recorded output.
	OK Type = "ok"
	// Fail means the operation certainly did not take effect.
	Fail Type = "fail"
	// Info means the outcome is unknown: the operation may have taken effect
	// at any time after its invocation, or never.
	Info Type = "info"
)

// Valid reports whether t is one of the four known types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies who issued an event: a client process (a number that is
// never reused: a client whose operation ended in info continues under a new
// number, as in Jepsen) or the nemesis.
type Process int64

// Nemesis is the process of fault events. It encodes as the JSON string
// "nemesis".
const Nemesis Process = -1

// String renders a process as it appears in reports.
func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.FormatInt(int64(p), 10)
}

// MarshalJSON encodes client processes as numbers and the nemesis as "nemesis".
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON accepts a non-negative integer or the string "nemesis".
func (p *Process) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte(`"nemesis"`)) || bytes.Equal(b, []byte(`":nemesis"`)) {
		*p = Nemesis
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

// Event is one line of a history.
type Event struct {
	// Time is nanoseconds since the start of the run, from a monotonic clock.
	Time int64 `json:"time"`
	// Process is the client process, or [Nemesis] for fault events.
	Process Process `json:"process"`
	// Type is invoke, ok, fail or info.
	Type Type `json:"type"`
	// F is the function: read, write, cas, ... for clients; for the nemesis
	// [FaultStart] or [FaultEnd].
	F string `json:"f"`
	// Key is the key the operation acted on, empty where there is none.
	Key string `json:"key,omitempty"`
	// Value is the operation's input on invoke and its output on completion.
	Value Value `json:"value,omitempty"`
	// Node is the node the client was bound to, or the nodes a fault hit.
	Node string `json:"node,omitempty"`
	// Error is the error text of a fail or info, as the client saw it.
	Error string `json:"error,omitempty"`
	// Fault describes the fault of a nemesis event.
	Fault *Fault `json:"fault,omitempty"`
}

// Nemesis event functions.
const (
	FaultStart = "fault-start"
	FaultEnd   = "fault-end"
	// Observe records what the nemesis saw of a fault's effect (the
	// leader after a partition, a node's own clock after a skew), in the
	// fault's Detail; it is evidence for people, ignored by checkers.
	Observe = "observe"
)

// Fault describes one injected fault. The start and end events of a fault
// carry the same ID.
type Fault struct {
	// ID pairs a fault's start with its end; unique within a run.
	ID int `json:"id"`
	// Kind names the fault family, such as "partition".
	Kind string `json:"kind"`
	// Shape says which variant, such as "majority-minority".
	Shape string `json:"shape,omitempty"`
	// Groups are the sides of a partition: nodes in different groups cannot
	// talk to each other.
	Groups [][]string `json:"groups,omitempty"`
	// Detail is a one-line human description.
	Detail string `json:"detail,omitempty"`
	// Error is set on an end event when healing failed.
	Error string `json:"error,omitempty"`
	// Offset is the clock offset a fault of kind "clock" set on its nodes,
	// in nanoseconds (negative: behind); zero for other faults.
	Offset int64 `json:"offset_ns,omitempty"`
	// Parent is the ID of the sequence this fault is a step of (its Detail
	// says which step); 0 for a fault of its own.
	Parent int `json:"parent,omitempty"`
	// Disk is what a disk fault did to each node's data directory.
	Disk []DiskEffect `json:"disk,omitempty"`
}

// Value is an operation's input or output, kept as the JSON it was written
// as: null, an integer, a string, or an array of them. Models interpret it.
type Value json.RawMessage

// Nil is the JSON null value.
var Nil = Value("null")

// NotSwapped is the output of an ok cas whose compare ran and did not
// match: the operation happened, left the state as it was, and observed
// that the value was not the expected one. A fail always means the
// operation did not take place.
var NotSwapped = Value("false")

// LegacyCompareFailed is the error text of a failed cas in lab histories
// written before [NotSwapped]: there it meant the compare did not match,
// and readers take such a fail as an ok cas that did not swap.
const LegacyCompareFailed = "compare failed"

// IsNotSwapped reports whether a completed cas ran without swapping: an
// ok with output [NotSwapped], or a legacy lab fail (see
// [LegacyCompareFailed]).
func IsNotSwapped(typ Type, output Value, errText string) bool {
	switch typ {
	case OK:
		return string(output) == string(NotSwapped)
	case Fail:
		return errText == LegacyCompareFailed
	}
	return false
}

// IntValue encodes n.
func IntValue(n int64) Value { return Value(strconv.AppendInt(nil, n, 10)) }

// PairValue encodes [a, b], the input of a compare-and-set.
func PairValue(a, b int64) Value {
	return Value(fmt.Sprintf("[%d,%d]", a, b))
}

// MarshalJSON writes the value as it is; an empty value is null.
func (v Value) MarshalJSON() ([]byte, error) {
	if len(v) == 0 {
		return []byte("null"), nil
	}
	return v, nil
}

// UnmarshalJSON keeps a copy of the raw JSON.
func (v *Value) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("value is not valid JSON: %q", b)
	}
	*v = append((*v)[:0], b...)
	return nil
}

// IsNil reports whether the value is absent or null.
func (v Value) IsNil() bool {
	return len(v) == 0 || string(v) == "null"
}

// Int returns the value as an integer, if it is one.
func (v Value) Int() (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// Ints returns the value as a list of integers, if it is one.
func (v Value) Ints() ([]int64, bool) {
	var out []int64
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, false
	}
	return out, true
}

// String renders the value for people: "nil" for null, the JSON otherwise.
func (v Value) String() string {
	if v.IsNil() {
		return "nil"
	}
	return string(v)
}

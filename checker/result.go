package checker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Verdict is the outcome of a check: [Valid], [Invalid] or [Unknown].
type Verdict string

// The three verdicts, kept apart: a check that could not finish is Unknown,
// never Valid.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// MarshalJSON writes Valid as true, Invalid as false and Unknown as
// "unknown", Jepsen's :valid? convention.
func (v Verdict) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON reads what [Verdict.MarshalJSON] writes, and the three
// names.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"valid"`:
		*v = Valid
	case "false", `"invalid"`:
		*v = Invalid
	case `"unknown"`, "null":
		*v = Unknown
	default:
		return fmt.Errorf("verdict must be true, false or \"unknown\", got %s", b)
	}
	return nil
}

// Options tune [Check].
type Options struct {
	// Model names the model: register, cas-register, kv, mutex, set,
	// queue or lock.
	// Empty means cas-register. See [Models].
	Model string
	// Timeout bounds the search; 0 means no limit. A check that runs out
	// of time is Unknown.
	Timeout time.Duration
	// FailCAS is the reading of a failed cas: [FailCASDropped] (empty
	// means this one: it did not take place, Jepsen's convention) or
	// [FailCASObserved] (the compare ran and did not match, porcupine's
	// reading of its etcd logs). A cas that ran without swapping is
	// recorded as an ok cas with output [history.NotSwapped] and is an
	// observation under both; see docs/checking.md, Semantics.
	FailCAS string
	// ExactlyOnce makes a message delivered more than once an anomaly of
	// the queue model; by default duplicates are counted and allowed
	// (at-least-once delivery).
	ExactlyOnce bool
	// Verify re-checks every key the checker decided, up to
	// [VerifyMaxOps] operations, with plain porcupine and no reduction;
	// a disagreement is an error wrapping [ErrInternal] naming the key.
	Verify bool
}

// The readings of a failed cas, [Options.FailCAS].
const (
	FailCASDropped  = "dropped"
	FailCASObserved = "observed"
)

// FailCASReadings lists the readings [Options.FailCAS] accepts.
var FailCASReadings = []string{FailCASDropped, FailCASObserved}

// Result is the verdict on one history with the evidence behind it. It
// marshals to the JSON of results.json, where the verdict is the field
// "valid": true, false or "unknown".
type Result struct {
	Verdict   Verdict   `json:"valid"`
	Model     string    `json:"model"`
	Counts    Counts    `json:"counts"`
	Anomalies []Anomaly `json:"anomalies"`
	// Reason says why the verdict is unknown, or holds notes.
	Reason string `json:"reason,omitempty"`
	// Partitions holds one entry per key, largest first.
	Partitions []PartitionResult `json:"partitions,omitempty"`
	// Reductions counts what the sound reductions removed or bounded.
	Reductions Reductions `json:"reductions"`
	// Problems are oddities of the history itself (a process with two
	// operations in flight, a completion with nothing invoked).
	Problems []string `json:"problems,omitempty"`
	// Truncated is set when the file's last line was an event cut short
	// (a killed run) and was dropped; Problems says where.
	Truncated bool `json:"truncated,omitempty"`
	// FailCAS is the reading of failed cas that was used, "dropped" or
	// "observed" ([Options.FailCAS]); empty for models without cas.
	FailCAS string `json:"fail_cas,omitempty"`
	// Timeless is set when the history carried no times (old Jepsen logs):
	// operations are then ordered by their position, and anomalies name
	// event numbers instead of seconds.
	Timeless bool `json:"timeless,omitempty"`
	// Verified says what [Options.Verify] re-checked; nil without it.
	Verified *Verification `json:"verified,omitempty"`
	// Set holds the set-full account of a set history.
	Set *SetReport `json:"set,omitempty"`
	// Queue holds the account of a queue history.
	Queue *QueueReport `json:"queue,omitempty"`
	// Lease holds the account of a lease history.
	Lease *LeaseReport `json:"lease,omitempty"`
	// Lock holds the account of a lock history.
	Lock *LockReport `json:"lock,omitempty"`
	// Duration is the wall time the check took.
	Duration time.Duration `json:"duration_ns"`
}

// Counts describes the history that was checked.
type Counts struct {
	// Ops counts client operations, by outcome: OK, Fail and Info (unknown,
	// including invocations that never completed).
	Ops  int `json:"ops"`
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
	// CASNotSwapped counts the cas that ran and did not swap, kept as
	// observations: ok with output false, a legacy lab "compare failed",
	// or every failed cas under the observed reading.
	CASNotSwapped int `json:"cas_not_swapped,omitempty"`
	// ByF breaks the same counts down by function.
	ByF map[string]FCounts `json:"by_f,omitempty"`
	// Keys is the number of partitions checked independently.
	Keys int `json:"keys"`
	// Nemesis counts nemesis events.
	Nemesis int `json:"nemesis"`
}

// FCounts counts the outcomes of one function.
type FCounts struct {
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
}

// Anomaly is one thing that cannot be explained, in plain words.
type Anomaly struct {
	// Kind is "stale-read" (a read returned a value already overwritten
	// by a completed write), "nonlinearizable" (no order explains the
	// operations), for sets "lost", "duplicated", "unexpected", and for
	// queues "lost-start", "lost-middle", "lost-end", "lost-on-node",
	// "divergent", "unexpected", "order", "duplicated" (docs/checking.md),
	// for locks "two-holders", "token-order", "nonlinearizable"
	// (checker/lock.go).
	Kind string `json:"kind"`
	Key  string `json:"key,omitempty"`
	// Time is the invocation time (ns since the run's start) of the
	// operation that cannot be placed. A queue anomaly about one message
	// is timed at the message's acknowledgement (its invocation if it was
	// not acknowledged); one about a read, at the read's invocation.
	Time int64 `json:"time"`
	// Summary is the story: the operation and what makes it impossible.
	Summary string `json:"summary"`
	// Ops are the operations involved, the impossible one first.
	Ops []history.Op `json:"ops,omitempty"`
}

// PartitionResult is the verdict on one key.
type PartitionResult struct {
	Key     string  `json:"key"`
	Verdict Verdict `json:"valid"`
	// Ops is the number of operations on the key; Unknown how many of them
	// had an unknown outcome; Searched how many went into the search after
	// the reductions.
	Ops      int `json:"ops"`
	Unknown  int `json:"unknown"`
	Searched int `json:"searched"`
	// Method is how the verdict was reached: "search" (porcupine),
	// "refuted" (a direct contradiction), "zones" (the O(n log n)
	// decision for read/write registers with unique values), "witness" (a
	// linearization built greedily and verified by replay),
	// "relaxed-zones" (the zones refute the key with every cas split into
	// a read and a write), "empty", or
	// "stopped" (not finished because another key was found invalid). See
	// docs/checking.md.
	Method   string        `json:"method"`
	Duration time.Duration `json:"duration_ns"`
}

// Reductions counts the operations each sound reduction removed or bounded.
// Each is proven in docs/checking.md.
type Reductions struct {
	// DroppedFailed: fail outcomes, which did not happen (under the
	// observed reading a failed cas is kept instead: it observed that the
	// compare did not match).
	DroppedFailed int `json:"dropped_failed"`
	// DroppedUnknownReads: reads with no known output constrain nothing.
	DroppedUnknownReads int `json:"dropped_unknown_reads"`
	// DroppedImpossibleCAS: failed cas whose expected value nobody could
	// have written: the compare could never have matched.
	DroppedImpossibleCAS int `json:"dropped_impossible_cas"`
	// DroppedUnobserved: unknown-outcome writes whose unique value nobody
	// observed.
	DroppedUnobserved int `json:"dropped_unobserved"`
	// BoundedObserved: unknown-outcome writes whose unique value was
	// observed, given the earliest observer's completion as return time.
	BoundedObserved int `json:"bounded_observed"`
	// NotUnique lists keys whose written values were not unique, so the
	// value-based reductions were not applied there (plain search).
	NotUnique []string `json:"not_unique,omitempty"`
}

func (r *Reductions) add(o Reductions) {
	r.DroppedFailed += o.DroppedFailed
	r.DroppedUnknownReads += o.DroppedUnknownReads
	r.DroppedImpossibleCAS += o.DroppedImpossibleCAS
	r.DroppedUnobserved += o.DroppedUnobserved
	r.BoundedObserved += o.BoundedObserved
	r.NotUnique = append(r.NotUnique, o.NotUnique...)
}

// MarshalIndent renders r for results.json.
func (r Result) MarshalIndent() ([]byte, error) {
	if r.Anomalies == nil {
		r.Anomalies = []Anomaly{}
	}
	return json.MarshalIndent(r, "", "  ")
}

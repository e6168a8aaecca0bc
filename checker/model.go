package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Models lists the model names [Check] accepts.
var Models = []string{"register", "cas-register", "kv", "mutex", "set", "queue", "lock", "lease"}

// model is a typed sequential specification behind a thin porcupine
// adapter. build turns one key's operations into a partition ready for the
// search, applying the model's sound reductions.
type model struct {
	name  string
	fs    []string // functions the model understands
	build func(key string, ops []history.Op, tf timeFormat) (*partition, error)
}

// partition is one key's operations, prepared for the search.
type partition struct {
	key string
	// ops are all the key's operations, in invocation order.
	ops []history.Op
	// search holds the operations given to porcupine, with Metadata the
	// index into ops.
	search  []porcupine.Operation
	pm      porcupine.Model
	red     Reductions
	unknown int
	// refuted is set when build found a direct contradiction: the key is
	// invalid without a search.
	refuted *Anomaly
	// decided is set when build settled the key without a search, by
	// method ("refuted" or "zones").
	decided Verdict
	method  string
	// vizModel is the model with a wildcard initial state, for drawing a
	// window cut out of a long partition; nil if the model has none.
	vizModel *porcupine.Model
}

// tuning switches parts of the checker off, for benchmarks and tests that
// measure what each part buys; the zero value is the full checker. It also
// carries the reading of failed cas that [Options.FailCAS] chose.
type tuning struct {
	noReduce     bool // skip the value-based reductions (2 and 3)
	noRefute     bool // skip the direct refutations and the zone decision
	failObserved bool // a failed cas is a compare that did not match
	plain        bool // no reduction at all, not even reduction 1 (verification)
}

// hasReductions reports whether the model's keys are decided by anything
// but porcupine (the register models): only those need verification.
func (m *model) hasReductions() bool { return slices.Contains(m.fs, "write") }

func lookupModelTuned(name string, t tuning) (*model, error) {
	switch name {
	case "", "cas-register":
		return &model{name: "cas-register", fs: []string{"read", "write", "cas"}, build: buildRegister(true, t)}, nil
	case "register":
		return &model{name: "register", fs: []string{"read", "write"}, build: buildRegister(false, t)}, nil
	case "kv":
		return &model{name: "kv", fs: []string{"get", "put", "append"}, build: buildKV}, nil
	case "mutex":
		return &model{name: "mutex", fs: []string{"acquire", "release"}, build: buildMutex}, nil
	case "set":
		return &model{name: "set", fs: []string{"add", "read"}}, nil
	case "queue":
		return &model{name: "queue", fs: queueFs}, nil
	case "lock":
		return &model{name: "lock", fs: lockFs}, nil
	case "lease":
		return &model{name: "lease", fs: leaseFs}, nil
	}
	return nil, fmt.Errorf("unknown model %q; expected one of %s", name, strings.Join(Models, ", "))
}

// InferModel guesses the model from the functions a history uses: get, put
// or append mean kv; acquire or release mutex (lock when the history
// records leases); add set; enqueue, dequeue
// or drain queue; anything else cas-register. It is what `lab check` does
// without --model.
func InferModel(events []history.Event) string {
	for _, e := range events {
		if e.Process == history.Nemesis {
			continue
		}
		switch e.F {
		case "grant", "keepalive":
			return "lease"
		case "get", "put", "append":
			return "kv"
		case "acquire", "release":
			return lockOrLeaseModel(events)
		case "add":
			return "set"
		case "enqueue", "dequeue", "drain", "drained":
			return "queue"
		}
	}
	return "cas-register"
}

// timeFormat renders times in explanations: seconds, or event positions
// for histories without times.
type timeFormat bool

func (tf timeFormat) at(t int64) string {
	if tf {
		return "event " + strconv.FormatInt(t, 10)
	}
	s := strconv.FormatFloat(float64(t)/1e9, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	return s + " s"
}

// interner numbers the distinct values of one key; 0 is nil.
type interner struct {
	ids   map[string]int32
	names []string
}

func newInterner() *interner {
	return &interner{ids: map[string]int32{}, names: []string{"nil"}}
}

func (in *interner) id(v history.Value) int32 {
	if v.IsNil() {
		return 0
	}
	s := strings.TrimSpace(string(v))
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := int32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

func (in *interner) name(id int32) string { return in.names[id] }

// elems splits a JSON array value into its elements.
func elems(v history.Value) ([]history.Value, bool) {
	s := strings.TrimSpace(string(v))
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	var raw []history.Value
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, false
	}
	return raw, true
}

// byKey groups operations by key, keeping invocation order, keys sorted.
func byKey(ops []history.Op) (keys []string, groups map[string][]history.Op) {
	groups = map[string][]history.Op{}
	for _, op := range ops {
		if _, ok := groups[op.Key]; !ok {
			keys = append(keys, op.Key)
		}
		groups[op.Key] = append(groups[op.Key], op)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	return keys, groups
}

// keyLess orders numeric keys numerically, others as strings.
func keyLess(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

func supported(m *model, f string) bool { return slices.Contains(m.fs, f) }

// describeOp renders a history operation for people: "write of 5",
// "read that returned 3", "cas from 1 to 2 (did not swap)", "append of \"x\"".
func describeOp(op history.Op) string {
	var s string
	switch op.F {
	case "read", "get":
		s = op.F
		if op.Type == history.OK {
			s += " that returned " + op.Output.String()
		}
	case "cas":
		if v, ok := elems(op.Input); ok && len(v) == 2 {
			s = fmt.Sprintf("cas from %s to %s", v[0].String(), v[1].String())
		} else {
			s = "cas " + op.Input.String()
		}
	default:
		s = op.F
		if !op.Input.IsNil() {
			s += " of " + op.Input.String()
		}
	}
	switch {
	case op.F == "cas" && history.IsNotSwapped(op.Type, op.Output, op.Error):
		s += " (did not swap)"
	case op.Type == history.Fail:
		s += " (failed)"
	case op.Type == history.Info:
		s += " (outcome unknown)"
	}
	return s
}

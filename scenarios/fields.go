package scenarios

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Plugin is what the loader asks of a kind of system, workload or fault:
// its name in scenario files, the fields it takes of its own, and their
// decoding. The loader decodes what every kind shares (a fault's schedule,
// a workload's rate, a system's node count); the plugin decodes the rest,
// once, when the scenario loads, so a value it would refuse is bad input
// before anything starts.
type Plugin interface {
	// Name is the kind's name: faults[].kind, workload.name, system.name.
	Name() string
	// Keys lists the fields the kind takes of its own.
	Keys() []string
	// Decode reads the kind's fields from f, reports each problem through
	// f, and returns the kind's parameters with its defaults filled in.
	// The parameters are written back into scenario.yaml, so their YAML
	// form must decode to the same parameters.
	Decode(f *Fields) any
}

// SystemKind is a system under test as the loader sees it.
type SystemKind interface {
	Plugin
	// NodeCounts lists the cluster sizes the system runs with.
	NodeCounts() []int
}

// Vocabulary is every kind a scenario may name: the lab's plugins.
type Vocabulary struct {
	Systems   []SystemKind
	Workloads []Plugin
	Faults    []Plugin
	// Runtimes lists what can run the nodes, by runtime:.
	Runtimes []string
}

func names[P interface{ Name() string }](ps []P) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

func find[P interface{ Name() string }](ps []P, name string) (P, bool) {
	for _, p := range ps {
		if p.Name() == name {
			return p, true
		}
	}
	var zero P
	return zero, false
}

// Fields is one mapping of the scenario as a plugin decodes it: the
// fields of one fault beyond its kind and schedule, of the workload beyond
// its rate, of the system beyond its name. Each getter reports problems
// with the file, line and field path, and returns ok only for a value
// that is present and good.
type Fields struct {
	d    *decoder
	item *yaml.Node
	path string
	vals map[string]*yaml.Node
	// nodes are the scenario's node names; nil when the system is invalid
	// and node names cannot be checked.
	nodes []string
	// span is how long one occurrence of the fault lasts; 0 elsewhere.
	span time.Duration
	// nested is true in a step of a compound fault.
	nested bool
}

func (f *Fields) at(key string) string {
	if key == "" {
		return f.path
	}
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

// Has reports whether the field is present.
func (f *Fields) Has(key string) bool { return f.vals[key] != nil }

// Valid reports whether the field is absent or present and good so far.
func (f *Fields) Valid(key string) bool { return f.d.valid(f.at(key)) }

// Nodes are the scenario's node names, n1..nN; nil when the system part is
// wrong and they are unknown.
func (f *Fields) Nodes() []string { return f.nodes }

// Span is how long one occurrence of the fault lasts (0 when unknown or
// outside a fault).
func (f *Fields) Span() time.Duration { return f.span }

// Report records a problem with the field: at its value when present, at
// the mapping when not. An empty key is the mapping itself.
func (f *Fields) Report(key, hint, format string, args ...any) {
	n := f.vals[key]
	if n == nil {
		n = f.item
	}
	f.d.add(n, f.at(key), hint, format, args...)
}

// Require reports a missing field, with example as the line to add, and
// says whether it is present.
func (f *Fields) Require(key, example, what string) bool {
	if f.Has(key) {
		return true
	}
	f.d.add(f.item, f.at(key), fmt.Sprintf("add %q", example), "required field %q is missing for %s", key, what)
	return false
}

// Only reports the field when present, as one that applies only when
// the condition named in why holds (with a hint on what to do).
func (f *Fields) Only(key, why, hint string) {
	if f.Has(key) {
		f.d.add(f.vals[key], f.at(key), hint, "%s applies only to %s", key, why)
	}
}

// String decodes a string.
func (f *Fields) String(key string) (string, bool) {
	if !f.Has(key) {
		return "", false
	}
	return f.d.str(f.vals[key], f.at(key))
}

// Enum decodes a string that must be one of allowed.
func (f *Fields) Enum(key string, allowed []string) (string, bool) {
	if !f.Has(key) {
		return "", false
	}
	return f.d.enum(f.vals[key], f.at(key), allowed)
}

// Int decodes a whole number in lo..hi.
func (f *Fields) Int(key string, lo, hi int) (int, bool) {
	if !f.Has(key) {
		return 0, false
	}
	return f.d.integer(f.vals[key], f.at(key), lo, hi)
}

// Number decodes a number in lo..hi; want says the range in words for the
// hint.
func (f *Fields) Number(key string, lo, hi float64, want string) (float64, bool) {
	if !f.Has(key) {
		return 0, false
	}
	n, p := f.vals[key], f.at(key)
	v, ok := f.d.number(n, p)
	if !ok {
		return 0, false
	}
	if !(v >= lo && v <= hi) {
		f.d.outOfRange(n, p, want)
		return 0, false
	}
	return v, true
}

// Fraction decodes a probability, 0 to 1.
func (f *Fields) Fraction(key string) (float64, bool) {
	return f.Number(key, 0, 1, "a fraction from 0 to 1 (0.1 is 10%)")
}

// Bool decodes true or false.
func (f *Fields) Bool(key string) (bool, bool) {
	if !f.Has(key) {
		return false, false
	}
	return f.d.boolean(f.vals[key], f.at(key))
}

// Duration decodes a duration in lo..hi.
func (f *Fields) Duration(key string, lo, hi time.Duration) (Duration, bool) {
	if !f.Has(key) {
		return 0, false
	}
	return f.d.durationIn(f.vals[key], f.at(key), lo, hi)
}

// AnyDuration decodes a duration of any sign or size.
func (f *Fields) AnyDuration(key string) (Duration, bool) {
	if !f.Has(key) {
		return 0, false
	}
	return f.d.duration(f.vals[key], f.at(key))
}

// Strings decodes a list of strings (one string is a list of one).
func (f *Fields) Strings(key string) ([]string, bool) {
	if !f.Has(key) {
		return nil, false
	}
	return f.d.strList(f.vals[key], f.at(key))
}

// Node decodes the name of one of the scenario's nodes.
func (f *Fields) Node(key string) (string, bool) {
	v, ok := f.String(key)
	if !ok {
		return "", false
	}
	if f.nodes != nil && !slices.Contains(f.nodes, v) {
		f.Report(key, f.nodesHint(), "node %q does not exist", v)
		return "", false
	}
	return v, true
}

// NodeList decodes a list of the scenario's nodes, each named once.
func (f *Fields) NodeList(key string) ([]string, bool) {
	v, ok := f.Strings(key)
	if !ok {
		return nil, false
	}
	return v, f.checkNodes(key, v)
}

// NodeGroups decodes a list of lists of the scenario's nodes; no node is
// in two groups.
func (f *Fields) NodeGroups(key string) ([][]string, bool) {
	if !f.Has(key) {
		return nil, false
	}
	n, p := f.vals[key], f.at(key)
	if !f.d.plain(n, p) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		f.d.add(n, p, "write groups: [[n1, n2], [n3]]", "want a list of groups of nodes, got %s", describe(n))
		return nil, false
	}
	var groups [][]string
	var all []string
	for i, g := range n.Content {
		v, ok := f.d.strList(g, fmt.Sprintf("%s[%d]", p, i))
		if !ok {
			return nil, false
		}
		groups = append(groups, v)
		all = append(all, v...)
	}
	return groups, f.checkNodes(key, all)
}

func (f *Fields) nodesHint() string {
	return fmt.Sprintf("this scenario has %d nodes: %s", len(f.nodes), strings.Join(f.nodes, ", "))
}

// checkNodes reports the first name in list that is no node, or is named
// twice.
func (f *Fields) checkNodes(key string, list []string) bool {
	if f.nodes == nil {
		return true
	}
	seen := map[string]bool{}
	for _, n := range list {
		if !slices.Contains(f.nodes, n) {
			f.Report(key, f.nodesHint(), "node %q does not exist", n)
			return false
		}
		if seen[n] {
			f.Report(key, "name each node once", "node %q is named twice", n)
			return false
		}
		seen[n] = true
	}
	return true
}

// Sub decodes the mapping under key with decode, which sees its fields
// (keys lists them, for unknown ones); it says whether the mapping was
// there and well formed.
func (f *Fields) Sub(key string, keys []string, decode func(*Fields)) bool {
	if !f.Has(key) {
		return false
	}
	n, p := f.vals[key], f.at(key)
	sub := &Fields{d: f.d, item: n, path: p, nodes: f.nodes, span: f.span, nested: f.nested}
	fields := make([]field, len(keys))
	for i, k := range keys {
		fields[i] = field{key: k, decode: func(*yaml.Node, string) {}}
	}
	vals := f.d.mapping(n, p, fields)
	if vals == nil {
		return false
	}
	sub.vals = vals
	decode(sub)
	return true
}

// Empty reports whether the mapping has no field.
func (f *Fields) Empty() bool { return len(f.vals) == 0 }

// Path decodes a file name, relative to the scenario file's directory, and
// returns it as the lab can open it.
func (f *Fields) Path(key string) (string, bool) {
	v, ok := f.String(key)
	if !ok {
		return "", false
	}
	if v == "" {
		f.Report(key, "name a file, relative to the scenario's directory", "the file name is empty")
		return "", false
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(filepath.Dir(f.d.file), v)
	}
	return v, true
}

// Include records the problems found in another file the field names (a
// system file, say): each keeps its own file and line, and the field is
// marked bad.
func (f *Fields) Include(key string, errs Errors) {
	if len(errs) == 0 {
		return
	}
	f.d.errs = append(f.d.errs, errs...)
	f.d.bad[f.at(key)] = true
}

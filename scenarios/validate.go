package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// validName is what a scenario name may look like: it names a directory.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

const maxNameLen = 100

// defaults returns a Scenario holding every default value.
func defaults() *Scenario {
	return &Scenario{
		System: System{Nodes: 3},
		Workload: Workload{
			Name:        DefaultWorkload,
			Rate:        50,
			Concurrency: 6,
			Timeout:     Duration(time.Second),
		},
		Recovery:   Duration(10 * time.Second),
		FinalReads: true,
		Schedule:   Schedule{Mode: "fixed"},
		Runtime:    "docker",
	}
}

// DefaultWorkload is the workload of a scenario that names none.
const DefaultWorkload = "register"

// faultSource is where one fault came from in the file, for errors found by
// checks across fields.
type faultSource struct {
	item *yaml.Node
	vals map[string]*yaml.Node
	// kind is the fault's kind, and own its fields, when both are good.
	kind Plugin
	own  map[string]*yaml.Node
}

// pluginSource is the mapping of a system or workload, kept for its
// plugin's decoding once the whole file is read.
type pluginSource struct {
	item *yaml.Node
	vals map[string]*yaml.Node
	kind Plugin
}

// scenario decodes the top-level mapping.
func (d *decoder) scenario(root *yaml.Node) *Scenario {
	s := defaults()
	var srcs []faultSource
	var sysSrc, wlSrc pluginSource
	d.mapping(root, "", []field{
		{key: "name", required: true, example: "name: my-scenario", decode: func(n *yaml.Node, p string) {
			if v, ok := d.str(n, p); ok {
				if len(v) > maxNameLen || !validName.MatchString(v) {
					d.add(n, p, fmt.Sprintf("it names a directory: use at most %d of a-z 0-9 . _ -, starting with a letter or digit", maxNameLen), "name %q is not allowed", v)
					return
				}
				s.Name = v
			}
		}},
		{key: "seed", decode: func(n *yaml.Node, p string) {
			if v, ok := d.seed(n, p); ok {
				s.Seed, s.SeedSet = v, v != 0
			}
		}},
		{key: "system", required: true, example: "system: {name: " + d.exampleSystem() + ", nodes: 3}", decode: func(n *yaml.Node, p string) {
			sysSrc = d.system(n, p, &s.System)
		}},
		{key: "workload", decode: func(n *yaml.Node, p string) {
			wlSrc = d.workload(n, p, &s.Workload)
		}},
		{key: "time_limit", required: true, example: "time_limit: 60s", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 5*time.Second, 24*time.Hour); ok {
				s.TimeLimit = v
			}
		}},
		{key: "faults", decode: func(n *yaml.Node, p string) {
			s.Faults, srcs = d.faults(n, p)
		}},
		{key: "recovery", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 0, time.Hour); ok {
				s.Recovery = v
			}
		}},
		{key: "runtime", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, d.vocab.Runtimes); ok {
				s.Runtime = v
			}
		}},
		{key: "schedule", decode: func(n *yaml.Node, p string) {
			d.schedule(n, p, &s.Schedule)
		}},
		{key: "final_reads", decode: func(n *yaml.Node, p string) {
			if v, ok := d.boolean(n, p); ok {
				s.FinalReads = v
			}
		}},
	})
	if wlSrc.item == nil {
		// No workload: mapping; the default workload with its defaults.
		wlSrc = pluginSource{item: root}
		wlSrc.kind, _ = find(d.vocab.Workloads, s.Workload.Name)
	}
	nodes := s.NodeNames()
	if !d.valid("system") {
		nodes = nil
	}
	if k := sysSrc.kind; k != nil {
		s.System.Params = k.Decode(&Fields{d: d, item: sysSrc.item, path: "system", vals: sysSrc.vals, nodes: nodes})
	}
	if k := wlSrc.kind; k != nil {
		s.Workload.Params = k.Decode(&Fields{d: d, item: wlSrc.item, path: "workload", vals: wlSrc.vals, nodes: nodes})
	}
	d.checkFaults(s, srcs)
	return s
}

// selector returns the string value of key in mapping n, if it has one:
// the kind a mapping is of, read before its other fields.
func selector(n *yaml.Node, key string) (string, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return "", false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == key && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			return v.Value, true
		}
	}
	return "", false
}

// kindFields are the fields a mapping of one kind may have beyond the
// common ones: the kind's own, collected for its Decode; the fields of
// the other kinds, each reported as not applying to this one. When the
// kind is unknown (already reported), every kind's fields pass without a
// word, so one typo does not bury the file in errors.
func (d *decoder) kindFields(kind Plugin, all []Plugin, what string, own map[string]*yaml.Node) []field {
	var fields []field
	seen := map[string]bool{}
	collect := func(n *yaml.Node, p string) { own[p[strings.LastIndexByte(p, '.')+1:]] = n }
	if kind != nil {
		for _, k := range kind.Keys() {
			seen[k] = true
			fields = append(fields, field{key: k, decode: collect})
		}
	}
	for _, other := range all {
		for _, k := range other.Keys() {
			if seen[k] {
				continue
			}
			seen[k] = true
			if kind == nil {
				fields = append(fields, field{key: k, decode: func(*yaml.Node, string) {}})
				continue
			}
			hint := fmt.Sprintf("a %s %s takes: %s", kind.Name(), what, strings.Join(kind.Keys(), ", "))
			if len(kind.Keys()) == 0 {
				hint = fmt.Sprintf("a %s %s takes none of its own", kind.Name(), what)
			}
			fields = append(fields, field{key: k, decode: func(n *yaml.Node, p string) {
				d.add(n, p, hint, "%s does not apply to %s %s", k, what, kind.Name())
			}})
		}
	}
	return fields
}

func (d *decoder) system(n *yaml.Node, path string, sys *System) pluginSource {
	name, _ := selector(n, "name")
	// A system file stands for the name: system: {file: my-service.yaml}
	// is the system the file describes, run by the plugin named "byo".
	_, byFile := selector(n, "file")
	if name == "" && byFile {
		name, sys.Name = ByFile, ByFile
	}
	kind, _ := find(d.vocab.Systems, name)
	var plugin Plugin
	if kind != nil {
		plugin = kind
	}
	own := map[string]*yaml.Node{}
	vals := d.mapping(n, path, append([]field{
		{key: "name", required: !byFile, example: "name: " + d.exampleSystem(), decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, names(d.vocab.Systems)); ok {
				sys.Name = v
			}
		}},
		{key: "nodes", decode: func(n *yaml.Node, p string) {
			if v, ok := d.integer(n, p, 1, 99); ok {
				sys.Nodes = v
			}
		}},
		{key: "version", decode: func(n *yaml.Node, p string) {
			if v, ok := d.str(n, p); ok {
				sys.Version = v
			}
		}},
		{key: "disk", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownDisks); ok {
				sys.Disk = v
			}
		}},
	}, d.kindFields(plugin, asPlugins(d.vocab.Systems), "system", own)...))
	p := path + ".nodes"
	if vals == nil || kind == nil || !d.valid(path+".name") || !d.valid(p) {
		return pluginSource{}
	}
	if counts := kind.NodeCounts(); !slices.Contains(counts, sys.Nodes) {
		at := vals["nodes"]
		if at == nil {
			at = n
		}
		d.add(at, p, fmt.Sprintf("%s runs with %s nodes", sys.Name, joinInts(counts)), "%d nodes is not supported by %s", sys.Nodes, sys.Name)
	}
	return pluginSource{item: n, vals: own, kind: kind}
}

// ByFile is the name of the system plugin that runs a system described by
// a system file; a scenario names the file instead of the name.
const ByFile = "byo"

// exampleSystem names a system for hints: the vocabulary's first.
func (d *decoder) exampleSystem() string {
	if len(d.vocab.Systems) == 0 {
		return "<system>"
	}
	return d.vocab.Systems[0].Name()
}

func asPlugins[P Plugin](ps []P) []Plugin {
	out := make([]Plugin, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	if len(s) <= 2 {
		return strings.Join(s, " or ")
	}
	return fmt.Sprintf("%s to %s", s[0], s[len(s)-1])
}

func (d *decoder) workload(n *yaml.Node, path string, w *Workload) pluginSource {
	name, ok := selector(n, "name")
	if !ok {
		name = w.Name
	}
	kind, _ := find(d.vocab.Workloads, name)
	own := map[string]*yaml.Node{}
	vals := d.mapping(n, path, append([]field{
		{key: "name", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, names(d.vocab.Workloads)); ok {
				w.Name = v
			}
		}},
		{key: "rate", decode: func(n *yaml.Node, p string) {
			if v, ok := d.number(n, p); ok {
				if !(v > 0 && v <= 10000) {
					d.outOfRange(n, p, "more than 0 and at most 10000 operations per second")
					return
				}
				w.Rate = v
			}
		}},
		{key: "concurrency", decode: func(n *yaml.Node, p string) {
			if v, ok := d.integer(n, p, 1, 1000); ok {
				w.Concurrency = v
			}
		}},
		{key: "timeout", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 10*time.Millisecond, time.Minute); ok {
				w.Timeout = v
			}
		}},
	}, d.kindFields(kind, d.vocab.Workloads, "workload", own)...))
	if vals == nil || kind == nil || !d.valid(path+".name") {
		return pluginSource{item: n}
	}
	return pluginSource{item: n, vals: own, kind: kind}
}

func (d *decoder) faults(n *yaml.Node, path string) ([]Fault, []faultSource) {
	if !d.plain(n, path) {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if len(n.Content) == 0 && n.Kind == yaml.SequenceNode {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, `write each fault as an item starting with "- " on the lines below`, "want a list of faults, got %s", describe(n))
		return nil, nil
	}
	faults := make([]Fault, len(n.Content))
	srcs := make([]faultSource, len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		f := &faults[i]
		f.Line = item.Line
		name, _ := selector(item, "kind")
		kind, _ := find(d.vocab.Faults, name)
		own := map[string]*yaml.Node{}
		vals := d.mapping(item, p, append([]field{
			{key: "kind", required: true, example: "kind: partition", decode: func(n *yaml.Node, p string) {
				if v, ok := d.enum(n, p, names(d.vocab.Faults)); ok {
					f.Kind = v
				}
			}},
			{key: "at", decode: func(n *yaml.Node, p string) {
				if v, ok := d.duration(n, p); ok {
					if v < 0 {
						d.outOfRange(n, p, "0s or later, and before time_limit")
						return
					}
					f.At = v
				}
			}},
			{key: "duration", required: true, example: "duration: 10s", decode: func(n *yaml.Node, p string) {
				if v, ok := d.duration(n, p); ok {
					if v <= 0 {
						d.outOfRange(n, p, "more than 0s")
						return
					}
					f.Duration = v
				}
			}},
			{key: "every", decode: func(n *yaml.Node, p string) {
				if v, ok := d.duration(n, p); ok {
					if v <= 0 {
						d.outOfRange(n, p, "more than duration; remove it for a single occurrence")
						return
					}
					f.Every = v
				}
			}},
			{key: "times", decode: func(n *yaml.Node, p string) {
				if v, ok := d.integer(n, p, 0, maxOccurrences); ok {
					f.Times = v
				}
			}},
		}, d.kindFields(kind, d.vocab.Faults, "kind", own)...))
		srcs[i] = faultSource{item: item, vals: vals}
		if vals != nil && kind != nil && d.valid(p+".kind") {
			srcs[i].kind = kind
			srcs[i].own = own
		}
	}
	return faults, srcs
}

// checkFaults checks each fault against the rest of the scenario, fills in
// Times, and checks that no two faults overlap in time; with
// schedule.overlap, that no two that overlap cannot act together.
func (d *decoder) checkFaults(s *Scenario, srcs []faultSource) {
	limit := time.Duration(s.TimeLimit)
	limitOK := d.valid("time_limit")
	scheduled := make([][]Window, len(s.Faults))
	for i := range s.Faults {
		f, src, p := &s.Faults[i], srcs[i], fmt.Sprintf("faults[%d]", i)
		if src.vals == nil {
			continue
		}
		if src.kind != nil {
			nodes := s.NodeNames()
			if !d.valid("system") {
				nodes = nil
			}
			span := time.Duration(0)
			if d.valid(p + ".duration") {
				span = time.Duration(f.Duration)
			}
			f.Params = src.kind.Decode(&Fields{d: d, item: src.item, path: p, vals: src.own, nodes: nodes, span: span})
		}
		if s.Schedule.Mode == "random" {
			for _, k := range []string{"at", "every", "times"} {
				if n := src.vals[k]; n != nil {
					d.add(n, p+"."+k, "with schedule random the seed decides when: remove it", "%s does not apply with schedule mode random", k)
				}
			}
			if src.vals["duration"] != nil && limitOK && d.valid(p+".duration") && time.Duration(f.Duration) >= limit {
				d.add(src.vals["duration"], p+".duration", "make it shorter than time_limit", "duration %s does not fit in time_limit %s", f.Duration, s.TimeLimit)
			}
			f.Times = 0
			continue
		}
		if src.vals["at"] == nil {
			d.add(src.item, p+".at", `add "at: 10s": when the fault starts, from the start of the workload`, "required field %q is missing", "at")
			continue
		}
		at, dur, every := time.Duration(f.At), time.Duration(f.Duration), time.Duration(f.Every)
		atOK, durOK, everyOK, timesOK := d.valid(p+".at"), d.valid(p+".duration"), d.valid(p+".every"), d.valid(p+".times")
		if n := src.vals["every"]; n != nil && everyOK && durOK && every <= dur {
			d.add(n, p+".every", fmt.Sprintf("every is from one start to the next: make it more than %s, or remove it for a single occurrence", f.Duration), "every %s is not longer than duration %s", f.Every, f.Duration)
			everyOK = false
		}
		if n := src.vals["times"]; n != nil && timesOK && everyOK && every == 0 && f.Times > 1 {
			d.add(n, p+".times", "add every: the period from one start to the next", "times %d needs every", f.Times)
			timesOK = false
		}
		if !(limitOK && atOK && durOK && everyOK && timesOK) {
			continue
		}
		if at >= limit {
			d.add(src.vals["at"], p+".at", fmt.Sprintf("start before time_limit %s, or raise time_limit", s.TimeLimit), "at %s is not before time_limit %s", f.At, s.TimeLimit)
			continue
		}
		switch {
		case every == 0:
			f.Times = 1
		case f.Times == 0:
			f.Times = max(1, fitting(at, dur, every, limit))
			if f.Times > maxOccurrences {
				d.add(src.vals["every"], p+".every", fmt.Sprintf("use a longer every, or set times (at most %d)", maxOccurrences), "every %s repeats the fault %d times, more than %d", f.Every, f.Times, maxOccurrences)
				continue
			}
		}
		last := at + time.Duration(f.Times-1)*every
		if end := last + dur; end > limit {
			latest := limit - (end - at)
			hint := fmt.Sprintf("the latest at is %s; or shorten duration, or raise time_limit", Duration(latest))
			if latest < 0 {
				hint = fmt.Sprintf("shorten duration or times, or raise time_limit to %s or more", Duration(end-at))
			}
			what := "the fault ends"
			if f.Times > 1 {
				what = fmt.Sprintf("occurrence %d of %d ends", f.Times, f.Times)
			}
			d.add(src.vals["at"], p+".at", hint, "%s at %s, after time_limit %s", what, Duration(end), s.TimeLimit)
			continue
		}
		scheduled[i] = f.Occurrences(limit)
	}
	d.checkTogether(s, srcs, scheduled)
	if s.Schedule.Overlap {
		return
	}
	for j := range scheduled {
		for i := range j {
			a, b, ok := overlap(scheduled[i], scheduled[j])
			if !ok {
				continue
			}
			pi, pj := fmt.Sprintf("faults[%d]", i), fmt.Sprintf("faults[%d]", j)
			hint := fmt.Sprintf("the lab heals one fault before the next starts: move %s or %s", pi, pj)
			if len(scheduled[i]) == 1 && len(scheduled[j]) == 1 {
				hint = fmt.Sprintf("the lab heals one fault before the next starts: start %s at %s or later, or move %s", pj, Duration(a.End), pi)
			}
			hint += "; or let faults act together with schedule: {overlap: true}"
			d.add(srcs[j].vals["at"], pj+".at", hint,
				"%s (%s) from %s to %s overlaps %s (%s) from %s to %s",
				pj, describeFault(s.Faults[j]), Duration(b.Start), Duration(b.End),
				pi, describeFault(s.Faults[i]), Duration(a.Start), Duration(a.End))
			break
		}
	}
}

// overlap returns the first window of a and of b that overlap in time.
// Windows are half open: one may start when another ends.
func overlap(as, bs []Window) (Window, Window, bool) {
	for _, a := range as {
		for _, b := range bs {
			if a.Start < b.End && b.Start < a.End {
				return a, b, true
			}
		}
	}
	return Window{}, Window{}, false
}

// describeFault names a fault for messages: its kind, and what its
// parameters say of themselves.
func describeFault(f Fault) string { return describeKind(f.Kind, f.Params) }

func describeKind(kind string, params any) string {
	if st, ok := params.(fmt.Stringer); ok {
		if d := st.String(); d != "" {
			return kind + " " + d
		}
	}
	return kind
}

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

// nodeCounts lists the node counts a system supports.
func nodeCounts(system string) []int {
	switch system {
	case "etcd":
		return []int{3, 5}
	}
	return []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
}

// defaults returns a Scenario holding every default value.
func defaults() *Scenario {
	return &Scenario{
		System: System{Nodes: 3},
		Workload: Workload{
			Name:        "register",
			Keys:        8,
			Rate:        50,
			Concurrency: 6,
			Timeout:     Duration(time.Second),
			Reads:       "linearizable",
			Mix:         Mix{Read: 2, Write: 1, CAS: 1},
		},
		Recovery:   Duration(10 * time.Second),
		FinalReads: true,
		Schedule:   Schedule{Mode: "fixed"},
		Runtime:    "docker",
	}
}

// faultSource is where one fault came from in the file, for errors found by
// checks across fields.
type faultSource struct {
	item *yaml.Node
	vals map[string]*yaml.Node
}

// scenario decodes the top-level mapping.
func (d *decoder) scenario(root *yaml.Node) *Scenario {
	s := defaults()
	var srcs []faultSource
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
		{key: "system", required: true, example: "system: {name: etcd, nodes: 3}", decode: func(n *yaml.Node, p string) {
			d.system(n, p, &s.System)
		}},
		{key: "workload", decode: func(n *yaml.Node, p string) {
			d.workload(n, p, &s.Workload)
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
			if v, ok := d.enum(n, p, KnownRuntimes); ok {
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
	d.checkFaults(s, srcs)
	return s
}

func (d *decoder) system(n *yaml.Node, path string, sys *System) {
	vals := d.mapping(n, path, []field{
		{key: "name", required: true, example: "name: etcd", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownSystems); ok {
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
	})
	p := path + ".nodes"
	if vals == nil || !d.valid(path+".name") || !d.valid(p) {
		return
	}
	if counts := nodeCounts(sys.Name); !slices.Contains(counts, sys.Nodes) {
		at := vals["nodes"]
		if at == nil {
			at = n
		}
		d.add(at, p, fmt.Sprintf("%s runs with %s nodes", sys.Name, joinInts(counts)), "%d nodes is not supported by %s", sys.Nodes, sys.Name)
	}
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

func (d *decoder) workload(n *yaml.Node, path string, w *Workload) {
	d.mapping(n, path, []field{
		{key: "name", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownWorkloads); ok {
				w.Name = v
			}
		}},
		{key: "keys", decode: func(n *yaml.Node, p string) {
			if v, ok := d.integer(n, p, 1, 10000); ok {
				w.Keys = v
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
		{key: "reads", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownReads); ok {
				w.Reads = v
			}
		}},
		{key: "mix", decode: func(n *yaml.Node, p string) {
			d.mix(n, p, &w.Mix)
		}},
	})
}

func (d *decoder) mix(n *yaml.Node, path string, m *Mix) {
	weight := func(dst *float64) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			if v, ok := d.number(n, p); ok {
				if !(v >= 0 && v <= 1e6) {
					d.outOfRange(n, p, "a weight from 0 to 1000000")
					return
				}
				*dst = v
			}
		}
	}
	if d.mapping(n, path, []field{
		{key: "read", decode: weight(&m.Read)},
		{key: "write", decode: weight(&m.Write)},
		{key: "cas", decode: weight(&m.CAS)},
	}) == nil {
		return
	}
	if d.valid(path) && m.Read+m.Write+m.CAS <= 0 {
		d.add(n, path, "give at least one of read, write, cas a weight above 0", "all weights are 0")
	}
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
		srcs[i] = faultSource{item: item, vals: d.mapping(item, p, append([]field{
			{key: "kind", required: true, example: "kind: partition", decode: func(n *yaml.Node, p string) {
				if v, ok := d.enum(n, p, KnownFaults); ok {
					f.Kind = v
				}
			}},
			{key: "shape", decode: func(n *yaml.Node, p string) {
				if v, ok := d.enum(n, p, KnownShapes); ok {
					f.Shape = v
				}
			}},
			{key: "node", decode: func(n *yaml.Node, p string) {
				if v, ok := d.str(n, p); ok {
					f.Node = v
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
		}, d.kindFields(f)...))}
	}
	return faults, srcs
}

// checkFaults checks each fault against the rest of the scenario, fills in
// Times, and checks that no two faults overlap in time.
func (d *decoder) checkFaults(s *Scenario, srcs []faultSource) {
	limit := time.Duration(s.TimeLimit)
	limitOK := d.valid("time_limit")
	scheduled := make([][]Window, len(s.Faults))
	for i := range s.Faults {
		f, src, p := &s.Faults[i], srcs[i], fmt.Sprintf("faults[%d]", i)
		if src.vals == nil {
			continue
		}
		d.checkKind(s, f, src, p)
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
		if n := src.vals["node"]; n != nil && d.valid(p+".node") && d.valid(p+".shape") {
			if f.Shape != ShapeIsolate {
				d.add(n, p+".node", "remove node, or use shape: isolate", "node applies only to shape isolate, not %s", f.Shape)
			} else if d.valid("system") && !slices.Contains(s.NodeNames(), f.Node) {
				d.add(n, p+".node", fmt.Sprintf("this scenario has %d nodes: %s", s.System.Nodes, strings.Join(s.NodeNames(), ", ")), "node %q does not exist", f.Node)
			}
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

func describeFault(f Fault) string {
	s := f.Kind + " " + f.Shape
	if f.Node != "" {
		s += " " + f.Node
	}
	return s
}

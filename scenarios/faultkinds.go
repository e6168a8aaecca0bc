package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// kindFields are the fault fields beyond the schedule: the partition's
// shape details, the target of the other kinds, and their parameters.
// Which apply to which kind is checked in checkKind.
func (d *decoder) kindFields(f *Fault) []field {
	return []field{
		{key: "mode", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownModes); ok {
				f.Mode = v
			}
		}},
		{key: "groups", decode: func(n *yaml.Node, p string) {
			if !d.plain(n, p) {
				return
			}
			if n.Kind != yaml.SequenceNode {
				d.add(n, p, "write groups: [[n1, n2], [n3]]", "want a list of groups of nodes, got %s", describe(n))
				return
			}
			for i, g := range n.Content {
				if v, ok := d.strList(g, fmt.Sprintf("%s[%d]", p, i)); ok {
					f.Groups = append(f.Groups, v)
				}
			}
		}},
		{key: "from", decode: func(n *yaml.Node, p string) {
			if v, ok := d.strList(n, p); ok {
				f.From = v
			}
		}},
		{key: "to", decode: func(n *yaml.Node, p string) {
			if v, ok := d.strList(n, p); ok {
				f.To = v
			}
		}},
		{key: "clients", decode: func(n *yaml.Node, p string) {
			if v, ok := d.strList(n, p); ok {
				f.Clients = v
			}
		}},
		{key: "target", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownTargets); ok {
				f.Target = v
			}
		}},
		{key: "nodes", decode: func(n *yaml.Node, p string) {
			if v, ok := d.strList(n, p); ok {
				f.Nodes = v
			}
		}},
		{key: "offset", decode: func(n *yaml.Node, p string) {
			if v, ok := d.duration(n, p); ok {
				if v == 0 || time.Duration(v) > 24*365*time.Hour || time.Duration(v) < -24*365*time.Hour {
					d.outOfRange(n, p, "non-zero, within a year either way (e.g. 90s, -1h)")
					return
				}
				f.Offset = v
			}
		}},
		{key: "period", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 10*time.Millisecond, time.Hour); ok {
				f.Period = v
			}
		}},
		{key: "packet", decode: func(n *yaml.Node, p string) {
			f.Packet = d.packet(n, p)
		}},
	}
}

func (d *decoder) packet(n *yaml.Node, path string) *Packet {
	pk := &Packet{}
	prob := func(dst *float64) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			if v, ok := d.number(n, p); ok {
				if v < 0 || v > 1 {
					d.outOfRange(n, p, "a fraction from 0 to 1 (0.1 is 10%)")
					return
				}
				*dst = v
			}
		}
	}
	dur := func(dst *Duration) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 0, time.Minute); ok {
				*dst = v
			}
		}
	}
	vals := d.mapping(n, path, []field{
		{key: "delay", decode: dur(&pk.Delay)},
		{key: "jitter", decode: dur(&pk.Jitter)},
		{key: "loss", decode: prob(&pk.Loss)},
		{key: "duplicate", decode: prob(&pk.Duplicate)},
		{key: "reorder", decode: prob(&pk.Reorder)},
		{key: "corrupt", decode: prob(&pk.Corrupt)},
		{key: "rate", decode: func(n *yaml.Node, p string) {
			if v, ok := d.str(n, p); ok {
				pk.Rate = v
			}
		}},
	})
	if vals == nil {
		return nil
	}
	if len(vals) == 0 {
		d.add(n, path, "set at least one of delay, jitter, loss, duplicate, reorder, corrupt, rate", "a packet fault that does nothing")
	}
	if pk.Jitter > 0 && pk.Delay == 0 && vals["jitter"] != nil {
		d.add(vals["jitter"], path+".jitter", "jitter varies a delay: set delay too", "jitter without delay")
	}
	return pk
}

// strList decodes a list of strings, or a single string as a list of one.
func (d *decoder) strList(n *yaml.Node, path string) ([]string, bool) {
	if !d.plain(n, path) {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.add(n, path, "write a list of node names, such as [n1, n2]", "want a list of node names, got %s", describe(n))
		return nil, false
	}
	var out []string
	for i, item := range n.Content {
		if v, ok := d.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, v)
		}
	}
	return out, len(out) == len(n.Content)
}

func (d *decoder) schedule(n *yaml.Node, path string, sc *Schedule) {
	d.mapping(n, path, []field{
		{key: "mode", required: true, example: "mode: random", decode: func(n *yaml.Node, p string) {
			if v, ok := d.enum(n, p, KnownScheduleModes); ok {
				sc.Mode = v
			}
		}},
		{key: "mean_interval", decode: func(n *yaml.Node, p string) {
			if v, ok := d.durationIn(n, p, 100*time.Millisecond, time.Hour); ok {
				sc.MeanInterval = v
			}
		}},
	})
	if sc.Mode == "random" && sc.MeanInterval == 0 && d.valid(path) {
		d.add(n, path+".mean_interval", `add "mean_interval: 15s": the average gap between faults`, "schedule random needs mean_interval")
	}
	if sc.Mode == "fixed" && sc.MeanInterval != 0 {
		d.add(n, path+".mean_interval", "remove it, or use mode: random", "mean_interval applies only to mode random")
	}
}

// which fields each kind takes besides the schedule and kind itself.
var kindAllows = map[string][]string{
	"partition": {"shape", "mode", "node", "groups", "from", "to", "clients"},
	"kill":      {"target", "nodes"},
	"stop":      {"target", "nodes"},
	"pause":     {"target", "nodes"},
	"packet":    {"target", "nodes", "packet"},
	"clock":     {"target", "nodes", "offset", "period"},
}

var kindFieldNames = []string{"shape", "mode", "node", "groups", "from", "to", "clients", "target", "nodes", "packet", "offset", "period"}

// checkKind checks that a fault has the fields its kind needs and none it
// does not take, and that every node it names exists.
func (d *decoder) checkKind(s *Scenario, f *Fault, src faultSource, p string) {
	if !d.valid(p+".kind") || f.Kind == "" {
		return
	}
	allowed := kindAllows[f.Kind]
	for _, k := range kindFieldNames {
		if n := src.vals[k]; n != nil && !slices.Contains(allowed, k) {
			d.add(n, p+"."+k, fmt.Sprintf("a %s fault takes: %s", f.Kind, strings.Join(allowed, ", ")), "%s does not apply to kind %s", k, f.Kind)
		}
	}
	names := s.NodeNames()
	sysOK := d.valid("system")
	checkNodes := func(field string, list []string) {
		if !sysOK || !d.valid(p+"."+field) {
			return
		}
		seen := map[string]bool{}
		for _, n := range list {
			if !slices.Contains(names, n) {
				d.add(src.vals[field], p+"."+field, fmt.Sprintf("this scenario has %d nodes: %s", s.System.Nodes, strings.Join(names, ", ")), "node %q does not exist", n)
				return
			}
			if seen[n] {
				d.add(src.vals[field], p+"."+field, "name each node once", "node %q is named twice", n)
				return
			}
			seen[n] = true
		}
	}
	need := func(field, example string) bool {
		if src.vals[field] == nil {
			d.add(src.item, p+"."+field, fmt.Sprintf("add %q", example), "required field %q is missing for %s", field, describeKind(f))
			return false
		}
		return true
	}
	switch f.Kind {
	case "partition":
		if !need("shape", "shape: majority-minority") || !d.valid(p+".shape") {
			return
		}
		if f.Mode == "" {
			f.Mode = "silent"
		}
		for _, k := range []string{"groups", "from", "to"} {
			owner := map[string]string{"groups": ShapeGroups, "from": ShapeOneWay, "to": ShapeOneWay}[k]
			if n := src.vals[k]; n != nil && f.Shape != owner {
				d.add(n, p+"."+k, fmt.Sprintf("remove %s, or use shape: %s", k, owner), "%s applies only to shape %s, not %s", k, owner, f.Shape)
			}
		}
		checkNodes("clients", f.Clients)
		switch f.Shape {
		case ShapeGroups:
			if need("groups", "groups: [[n1, n2], [n3]]") {
				var all []string
				for _, g := range f.Groups {
					all = append(all, g...)
				}
				checkNodes("groups", all)
				if len(f.Groups) < 2 && d.valid(p+".groups") {
					d.add(src.vals["groups"], p+".groups", "name at least two groups: [[n1, n2], [n3]]", "one group cuts nothing")
				}
			}
		case ShapeOneWay:
			if need("from", "from: [n1]") && need("to", "to: [n2, n3]") {
				checkNodes("from", f.From)
				checkNodes("to", f.To)
				for _, n := range f.From {
					if slices.Contains(f.To, n) {
						d.add(src.vals["to"], p+".to", "a node cannot hold a grudge against itself", "node %q is in both from and to", n)
						break
					}
				}
			}
		case ShapeBridge, ShapeMajoritiesRing:
			if sysOK && s.System.Nodes < 3 {
				d.add(src.vals["shape"], p+".shape", "use 3 nodes or more", "shape %s needs at least 3 nodes", f.Shape)
			}
		}
	default:
		if f.Target == "" {
			f.Target = "one"
		}
		if f.Target == "nodes" {
			if need("nodes", "nodes: [n1]") {
				checkNodes("nodes", f.Nodes)
			}
		} else if n := src.vals["nodes"]; n != nil {
			d.add(n, p+".nodes", "remove nodes, or use target: nodes", "nodes applies only to target nodes, not %s", f.Target)
		}
		switch f.Kind {
		case "packet":
			need("packet", "packet: {loss: 0.2}")
		case "clock":
			need("offset", "offset: 90s")
			if f.Period != 0 && f.Offset != 0 && time.Duration(f.Period) > time.Duration(f.Duration) && d.valid(p+".duration") {
				d.add(src.vals["period"], p+".period", "a strobe flips the clock every period: make it shorter than duration", "period %s is longer than duration %s", f.Period, f.Duration)
			}
		}
	}
}

func describeKind(f *Fault) string {
	if f.Kind == "partition" && f.Shape != "" {
		return "partition " + f.Shape
	}
	return "kind " + f.Kind
}

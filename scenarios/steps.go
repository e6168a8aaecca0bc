package scenarios

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Step is one fault of a compound fault, such as a sequence: a fault of a
// kind of the vocabulary with that kind's parameters, which starts After
// the compound fault starts and lasts Duration, within the compound
// fault's own duration.
type Step struct {
	// Kind is the name of one of the vocabulary's fault kinds; required,
	// and not itself compound.
	Kind string `yaml:"kind"`
	// After is the step's start, from the start of its fault; >= 0,
	// default 0s.
	After Duration `yaml:"after"`
	// Duration is how long the step lasts; required, > 0, and After +
	// Duration is at most the fault's duration.
	Duration Duration `yaml:"duration"`
	// Params are what the kind decoded of its own fields.
	Params any `yaml:"-"`
	// Line is where the step starts in its file (0 when unknown).
	Line int `yaml:"-"`
}

// MarshalYAML writes the step with its kind's fields inline.
func (s Step) MarshalYAML() (any, error) {
	type plain Step
	return inline(plain(s), s.Params)
}

// Window is the step's window in an occurrence w of its fault.
func (s Step) Window(w Window) Window {
	start := w.Start + time.Duration(s.After)
	return Window{Start: start, End: start + time.Duration(s.Duration)}
}

// Compound is the parameters of a fault made of other faults (a
// sequence): its steps, each checked and run by its own kind.
type Compound interface {
	FaultSteps() []Step
}

// Nested reports whether the mapping is a step of a compound fault.
func (f *Fields) Nested() bool { return f.nested }

// Steps decodes the list under key as the steps of a compound fault:
// each a mapping with a kind of the vocabulary, decoded by that kind with
// its own fields (errors name the step: faults[0].steps[1].target), and
// the fields every step has: after (its start, from the start of the
// fault; default 0s) and duration (required). Each step must end within
// the fault's duration. A step cannot have steps of its own: compound
// faults nest one level only. Steps may overlap each other; those that
// cannot act together are refused once the whole scenario is read. It
// says whether the list is there and every step good.
func (f *Fields) Steps(key string) ([]Step, bool) {
	if !f.Has(key) {
		return nil, false
	}
	d, n, path := f.d, f.vals[key], f.at(key)
	if f.nested {
		d.add(n, path, "list these steps in the outer fault, with after counted from its start", "a step cannot have steps of its own: faults nest one level only")
		return nil, false
	}
	if !d.plain(n, path) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.add(n, path, "write each step as an item starting with \"- \", such as - {kind: kill, target: one, after: 5s, duration: 10s}", "want a list of steps, got %s", describe(n))
		return nil, false
	}
	owner, _ := selector(f.item, "kind")
	steps := make([]Step, len(n.Content))
	for i, item := range n.Content {
		sp := fmt.Sprintf("%s[%d]", path, i)
		s := &steps[i]
		s.Line = item.Line
		name, _ := selector(item, "kind")
		kind, _ := find(d.vocab.Faults, name)
		own := map[string]*yaml.Node{}
		notHere := func(n *yaml.Node, p string) {
			d.add(n, p, fmt.Sprintf("a step starts after its %s starts (after: 5s) and lasts duration; to repeat it, repeat the %s", owner, owner), "%s does not apply to a step", leaf(p))
		}
		vals := d.mapping(item, sp, append([]field{
			{key: "kind", required: true, example: "kind: kill", decode: func(n *yaml.Node, p string) {
				if v, ok := d.enum(n, p, names(d.vocab.Faults)); ok {
					s.Kind = v
				}
			}},
			{key: "after", decode: func(n *yaml.Node, p string) {
				if v, ok := d.duration(n, p); ok {
					if v < 0 {
						d.outOfRange(n, p, fmt.Sprintf("0s or later: the step's start, from the start of the %s", owner))
						return
					}
					s.After = v
				}
			}},
			{key: "duration", required: true, example: "duration: 10s", decode: func(n *yaml.Node, p string) {
				if v, ok := d.duration(n, p); ok {
					if v <= 0 {
						d.outOfRange(n, p, "more than 0s")
						return
					}
					s.Duration = v
				}
			}},
			{key: "at", decode: notHere},
			{key: "every", decode: notHere},
			{key: "times", decode: notHere},
		}, d.kindFields(kind, d.vocab.Faults, "kind", own)...))
		if vals == nil {
			continue
		}
		if kind != nil && d.valid(sp+".kind") {
			span := time.Duration(0)
			if d.valid(sp + ".duration") {
				span = time.Duration(s.Duration)
			}
			s.Params = kind.Decode(&Fields{d: d, item: item, path: sp, vals: own, nodes: f.nodes, span: span, nested: true})
		}
		if f.span > 0 && vals["duration"] != nil && d.valid(sp+".after") && d.valid(sp+".duration") {
			if end := time.Duration(s.After + s.Duration); end > f.span {
				d.add(vals["duration"], sp+".duration",
					fmt.Sprintf("a step runs within its %s: shorten after or duration, or make the %s's duration %s or more", owner, owner, Duration(end)),
					"the step ends at %s, after the %s's duration %s", Duration(end), owner, Duration(f.span))
			}
		}
	}
	return steps, d.clean(path)
}

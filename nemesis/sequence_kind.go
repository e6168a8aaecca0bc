package nemesis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/scenarios"
)

// KindSequence is the kind of a fault made of steps.
const KindSequence = "sequence"

// SequenceKind is a fault made of other faults: steps, each a fault of its
// own kind that starts a given time after the sequence starts and lasts
// its own duration, within the sequence's. Steps may overlap each other,
// which is the point: a partition, and while it holds a kill of a node of
// the majority (Jepsen's composed nemeses). Each step is decoded and
// checked by its own kind, and run as a fault of its own: [Plan] makes it
// an occurrence with an ID of its own and the sequence's as Parent, so the
// history records its start and end and the report shades its window.
// The sequence itself applies nothing: the history notes its start and
// end as observations. A step cannot be a sequence.
type SequenceKind struct{}

var _ Kind = SequenceKind{}

// SequenceParams are a sequence's parameters: its steps.
type SequenceParams struct {
	Steps []scenarios.Step `yaml:"steps"`
}

var _ scenarios.Compound = SequenceParams{}

// FaultSteps are the steps.
func (p SequenceParams) FaultSteps() []scenarios.Step { return p.Steps }

func (p SequenceParams) String() string {
	if len(p.Steps) == 0 {
		return ""
	}
	parts := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		parts[i] = fmt.Sprintf("%s at +%s for %s", Describe(s.Kind, s.Params), s.After, s.Duration)
	}
	return fmt.Sprintf("of %d steps: %s", len(p.Steps), strings.Join(parts, ", "))
}

// Name is "sequence".
func (SequenceKind) Name() string { return KindSequence }

// Keys: the steps.
func (SequenceKind) Keys() []string { return []string{"steps"} }

// Overlaps: a sequence is as its steps, and each of them is checked
// against what it may overlap.
func (SequenceKind) Overlaps(any, string, any) error { return nil }

// Decode reads the steps, each by its own kind.
func (SequenceKind) Decode(f fields) any {
	if f.Nested() {
		f.Report("kind", "list its steps in the outer sequence, with after counted from the outer sequence's start", "a step cannot be a sequence: sequences nest one level only")
		return SequenceParams{}
	}
	if !f.Require("steps", "steps: [{kind: kill, target: one, after: 0s, duration: 10s}]", "kind sequence") {
		return SequenceParams{}
	}
	steps, _ := f.Steps("steps")
	return SequenceParams{Steps: steps}
}

// Available: a run can inject a sequence if it can inject each step, as
// each step's kind says (looked up in [All]; the runner asks the run's own
// kinds, step by step).
func (SequenceKind) Available(pw Powers, params any) error {
	p, _ := params.(SequenceParams)
	var errs []error
	for i, s := range p.Steps {
		k, ok := Lookup(All, s.Kind)
		if !ok {
			errs = append(errs, fmt.Errorf("steps[%d]: fault kind %q is not one this lab knows", i, s.Kind))
			continue
		}
		if err := k.Available(pw, s.Params); err != nil {
			errs = append(errs, fmt.Errorf("steps[%d] (%s): %w", i, s.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// Start returns an injector that applies nothing: the nemesis runs a
// sequence as its steps (see [Plan]).
func (SequenceKind) Start(*Env) Injector { return sequences{} }

type sequences struct{}

func (sequences) Inject(context.Context, Occurrence) (*history.Fault, func(context.Context) error, error) {
	return nil, nil, errors.New("a sequence is run as its steps, each an occurrence of its own")
}

func (sequences) HealAll(context.Context) error { return nil }

// Plan is the scenario's fault plan as the nemesis runs it: an occurrence
// for each planned one, and for a sequence one more for each of its steps,
// at the sequence's start plus the step's after, with the sequence's ID as
// Parent and its place among the steps (from 1) as Step. IDs count from 1
// in time order of start; of occurrences that start together, the plan's
// order, a sequence before its steps and steps in their order. So a step
// has an ID of its own, as any fault, and is found by its Parent.
func Plan(sc *scenarios.Scenario) []Occurrence {
	type planned struct {
		o      Occurrence
		parent *planned
	}
	var all []*planned
	for _, p := range sc.Plan() {
		f := sc.Faults[p.Fault]
		seq := &planned{o: Occurrence{Kind: f.Kind, Params: f.Params, Start: p.Start, End: p.End}}
		all = append(all, seq)
		if sp, ok := f.Params.(SequenceParams); ok {
			for k, s := range sp.Steps {
				start := p.Start + time.Duration(s.After)
				all = append(all, &planned{o: Occurrence{Kind: s.Kind, Params: s.Params, Start: start, End: start + time.Duration(s.Duration), Step: k + 1}, parent: seq})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b *planned) int { return cmp.Compare(a.o.Start, b.o.Start) })
	for i, p := range all {
		p.o.ID = i + 1
	}
	out := make([]Occurrence, len(all))
	for i, p := range all {
		if p.parent != nil {
			p.o.Parent = p.parent.o.ID
		}
		out[i] = p.o
	}
	return out
}

// Label names an occurrence in a few words, as Describe does, and a step
// with its place in its sequence: "kill one (step 2 of sequence 3)".
func Label(o Occurrence) string {
	s := Describe(o.Kind, o.Params)
	if o.Parent != 0 {
		s += fmt.Sprintf(" (step %d of sequence %d)", o.Step, o.Parent)
	}
	return s
}

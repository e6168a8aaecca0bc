package scenarios

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Overlapper is a fault kind that says which faults its own may be in
// effect together with. A kind without it may overlap a fault of any
// other kind, but not one of its own: two of its faults in effect at once
// are refused, as nothing says they compose.
type Overlapper interface {
	// Overlaps says whether a fault of this kind with params may be in
	// effect while a fault of kind other, with otherParams, is: nil if it
	// may, else why not, in a few words. It is asked both ways round.
	Overlaps(params any, other string, otherParams any) error
}

// together says whether a fault of kind ka with params pa may be in
// effect while one of kind kb with params pb is: nil if it may.
func (d *decoder) together(ka string, pa any, kb string, pb any) error {
	a, _ := find(d.vocab.Faults, ka)
	b, _ := find(d.vocab.Faults, kb)
	oa, aok := a.(Overlapper)
	ob, bok := b.(Overlapper)
	if aok {
		if err := oa.Overlaps(pa, kb, pb); err != nil {
			return err
		}
	}
	if bok {
		if err := ob.Overlaps(pb, ka, pa); err != nil {
			return err
		}
	}
	if ka == kb && !aok {
		return fmt.Errorf("two %s faults cannot be in effect at once", ka)
	}
	return nil
}

// clean reports whether nothing at path or under it was rejected.
func (d *decoder) clean(path string) bool {
	if !d.valid(path) {
		return false
	}
	for p := range d.bad {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return false
		}
	}
	return true
}

// part is one fault as it acts: a fault of its own, or one step of a
// compound fault, with its window within an occurrence of its fault.
type part struct {
	kind     string
	params   any
	from, to time.Duration
	// path names it in errors: faults[1], faults[0].steps[2].
	path string
	// at is where errors about it point.
	at *yaml.Node
}

func (p part) String() string { return fmt.Sprintf("%s (%s)", p.path, describeKind(p.kind, p.params)) }

// within is p's window in occurrence w of its fault.
func (p part) within(w Window) Window { return Window{Start: w.Start + p.from, End: w.Start + p.to} }

// parts are the parts of fault i that decoded cleanly: its steps if it is
// compound, else the fault itself.
func (d *decoder) parts(f Fault, src faultSource, path string) []part {
	c, ok := f.Params.(Compound)
	if !ok {
		at := src.vals["at"]
		if at == nil {
			at = src.vals["kind"]
		}
		return []part{{kind: f.Kind, params: f.Params, to: time.Duration(f.Duration), path: path, at: at}}
	}
	var out []part
	items := src.own["steps"]
	for k, st := range c.FaultSteps() {
		sp := fmt.Sprintf("%s.steps[%d]", path, k)
		if st.Kind == "" || !d.clean(sp) || items == nil || k >= len(items.Content) {
			continue
		}
		item := items.Content[k]
		at := item
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value == "after" {
				at = item.Content[i+1]
			}
		}
		out = append(out, part{kind: st.Kind, params: st.Params, from: time.Duration(st.After), to: time.Duration(st.After + st.Duration), path: sp, at: at})
	}
	return out
}

// checkTogether refuses parts that may be in effect together though they
// cannot act together: the steps of a compound fault whose windows
// overlap, always; with overlap, parts of different faults whose windows
// overlap with the fixed schedule, and any two with the random one (the
// seed may make them overlap).
func (d *decoder) checkTogether(s *Scenario, srcs []faultSource, scheduled [][]Window) {
	parts := make([][]part, len(s.Faults))
	for i, f := range s.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		if srcs[i].kind != nil && d.valid(p) && d.valid(p+".kind") {
			parts[i] = d.parts(f, srcs[i], p)
		}
	}
	for i, f := range s.Faults {
		if _, ok := f.Params.(Compound); !ok {
			continue
		}
		ps := parts[i]
	steps:
		for b := range ps {
			for a := range b {
				pa, pb := ps[a], ps[b]
				if !(pa.from < pb.to && pb.from < pa.to) {
					continue
				}
				if err := d.together(pa.kind, pa.params, pb.kind, pb.params); err != nil {
					d.add(pb.at, pb.path+".after", fmt.Sprintf("move %s or %s with after so that they do not overlap", pb.path, pa.path),
						"%s from +%s to +%s overlaps %s from +%s to +%s, and they cannot act together: %v",
						pb, Duration(pb.from), Duration(pb.to), pa, Duration(pa.from), Duration(pa.to), err)
					break steps
				}
			}
		}
	}
	if !s.Schedule.Overlap {
		return
	}
	random := s.Schedule.Mode == "random"
	for j := range s.Faults {
	pairs:
		for i := range j {
			if !d.clean(fmt.Sprintf("faults[%d]", i)) || !d.clean(fmt.Sprintf("faults[%d]", j)) {
				continue
			}
			pi, pj := fmt.Sprintf("faults[%d]", i), fmt.Sprintf("faults[%d]", j)
			for _, a := range parts[i] {
				for _, b := range parts[j] {
					if random {
						err := d.together(a.kind, a.params, b.kind, b.params)
						if err == nil {
							continue
						}
						d.add(srcs[j].vals["kind"], pj+".kind",
							fmt.Sprintf("leave %s or %s out of the mix, or remove overlap from the schedule", pi, pj),
							"with schedule random and overlap the seed may make %s overlap %s, and they cannot act together: %v", b, a, err)
						break pairs
					}
					for _, wi := range scheduled[i] {
						for _, wj := range scheduled[j] {
							x, y := a.within(wi), b.within(wj)
							if !(x.Start < y.End && y.Start < x.End) {
								continue
							}
							err := d.together(a.kind, a.params, b.kind, b.params)
							if err == nil {
								continue
							}
							d.add(srcs[j].vals["at"], pj+".at", fmt.Sprintf("move %s or %s so that they do not overlap", pj, pi),
								"%s from %s to %s overlaps %s from %s to %s, and they cannot act together: %v",
								b, Duration(y.Start), Duration(y.End), a, Duration(x.Start), Duration(x.End), err)
							break pairs
						}
					}
				}
			}
		}
	}
}

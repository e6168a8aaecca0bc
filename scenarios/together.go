package scenarios

import (
	"fmt"
	"strings"
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

// checkTogether refuses, with overlap, faults that may be in effect
// together though they cannot act together: with the fixed schedule those
// whose windows overlap, with the random one any two of the mix (the seed
// may make them overlap).
func (d *decoder) checkTogether(s *Scenario, srcs []faultSource, scheduled [][]Window) {
	if !s.Schedule.Overlap {
		return
	}
	random := s.Schedule.Mode == "random"
	ok := func(i int) bool { return srcs[i].kind != nil && d.clean(fmt.Sprintf("faults[%d]", i)) }
	for j := range s.Faults {
		for i := range j {
			if !ok(i) || !ok(j) {
				continue
			}
			fi, fj := s.Faults[i], s.Faults[j]
			pi, pj := fmt.Sprintf("faults[%d]", i), fmt.Sprintf("faults[%d]", j)
			if random {
				if err := d.together(fi.Kind, fi.Params, fj.Kind, fj.Params); err != nil {
					d.add(srcs[j].vals["kind"], pj+".kind",
						fmt.Sprintf("leave %s or %s out of the mix, or remove overlap from the schedule", pi, pj),
						"with schedule random and overlap the seed may make %s (%s) overlap %s (%s), and they cannot act together: %v",
						pj, describeFault(fj), pi, describeFault(fi), err)
					break
				}
				continue
			}
			a, b, over := overlap(scheduled[i], scheduled[j])
			if !over {
				continue
			}
			if err := d.together(fi.Kind, fi.Params, fj.Kind, fj.Params); err != nil {
				d.add(srcs[j].vals["at"], pj+".at", fmt.Sprintf("move %s or %s so that they do not overlap", pj, pi),
					"%s (%s) from %s to %s overlaps %s (%s) from %s to %s, and they cannot act together: %v",
					pj, describeFault(fj), Duration(b.Start), Duration(b.End),
					pi, describeFault(fi), Duration(a.Start), Duration(a.End), err)
				break
			}
		}
	}
}

package scenarios

import (
	"cmp"
	"slices"
	"time"

	"github.com/lab-chaos/lab/internal/seed"
)

// maxOccurrences bounds how many times one fault may occur, so that a tiny
// every cannot schedule millions of partitions.
const maxOccurrences = 1000

// Occurrences returns the start and end of each occurrence of f, as offsets
// from the start of the workload, clipped to timeLimit: no window starts at
// or after it and none ends past it.
//
// Times 0 means one occurrence without Every, and with Every as many as end
// by timeLimit (at least the first). A Fault from [Load] always has Times set
// and every occurrence ending by the time limit, so no window is clipped.
func (f Fault) Occurrences(timeLimit time.Duration) []Window {
	at, dur, every := time.Duration(f.At), time.Duration(f.Duration), time.Duration(f.Every)
	if at < 0 || dur <= 0 || at >= timeLimit {
		return nil
	}
	times := f.Times
	switch {
	case every <= 0:
		times = 1
	case times <= 0:
		times = max(1, fitting(at, dur, every, timeLimit))
	}
	var ws []Window
	for i := range times {
		start := at + time.Duration(i)*every
		if start >= timeLimit {
			break
		}
		ws = append(ws, Window{Start: start, End: min(start+dur, timeLimit)})
	}
	return ws
}

// fitting is how many occurrences starting at at, then every every, lasting
// dur each, end by timeLimit.
func fitting(at, dur, every, timeLimit time.Duration) int {
	if at+dur > timeLimit || every <= 0 {
		return 0
	}
	return int((timeLimit-at-dur)/every) + 1
}

// Planned is one occurrence of one of the scenario's faults.
type Planned struct {
	// Fault indexes Scenario.Faults.
	Fault int
	Window
}

// Plan lays out every fault occurrence of the run in time order (of
// occurrences that start together, the earlier fault's first). With the
// fixed schedule that is each fault's own windows, as written. With the
// random schedule the faults are a mix, drawn from the scenario's seed
// alone, so the same seed gives the same plan: gaps are drawn from an
// exponential distribution with mean schedule.mean_interval, each
// occurrence's fault uniformly from the mix, and no two occurrences
// overlap. With schedule.overlap each fault of the mix has a timeline of
// its own instead: gaps of mean_interval on average between the end of
// one of its occurrences and the start of its next, drawn fault after
// fault, so occurrences of different faults may overlap (never two of the
// same fault). None ends after the time limit.
func (s *Scenario) Plan() []Planned {
	limit := time.Duration(s.TimeLimit)
	var out []Planned
	if s.Schedule.Mode != "random" {
		for i, f := range s.Faults {
			for _, w := range f.Occurrences(limit) {
				out = append(out, Planned{Fault: i, Window: w})
			}
		}
		slices.SortStableFunc(out, func(a, b Planned) int { return cmp.Compare(a.Start, b.Start) })
		return out
	}
	if len(s.Faults) == 0 {
		return nil
	}
	rng := seed.Plan.Rand(s.Seed)
	mean := float64(s.Schedule.MeanInterval)
	if s.Schedule.Overlap {
		for i, f := range s.Faults {
			t := time.Duration(0)
			for range maxOccurrences {
				t += time.Duration(rng.ExpFloat64() * mean)
				end := t + time.Duration(f.Duration)
				if end > limit {
					break
				}
				out = append(out, Planned{Fault: i, Window: Window{Start: t, End: end}})
				t = end
			}
		}
		slices.SortStableFunc(out, func(a, b Planned) int { return cmp.Compare(a.Start, b.Start) })
		return out
	}
	t := time.Duration(0)
	for len(out) < maxOccurrences {
		t += time.Duration(rng.ExpFloat64() * mean)
		i := rng.IntN(len(s.Faults))
		end := t + time.Duration(s.Faults[i].Duration)
		if end > limit {
			break
		}
		out = append(out, Planned{Fault: i, Window: Window{Start: t, End: end}})
		t = end
	}
	return out
}

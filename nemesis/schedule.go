package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Partition shapes.
const (
	ShapeIsolate          = "isolate"
	ShapeMajorityMinority = "majority-minority"
	ShapeRandomHalves     = "random-halves"
	ShapeMajoritiesRing   = "majorities-ring"
)

// Shapes lists the partition shapes the lab knows.
var Shapes = []string{ShapeIsolate, ShapeMajorityMinority, ShapeRandomHalves, ShapeMajoritiesRing}

// Occurrence is one planned fault: what, and when relative to the start of
// the workload.
type Occurrence struct {
	ID         int
	Kind       string
	Shape      string
	Node       string // for isolate; empty means chosen from the seed
	Start, End time.Duration
}

// Recorder takes history events; *history.Writer is one.
type Recorder interface {
	Append(history.Event) error
}

// PlanPartition resolves a shape into groups (nil for shapes that are not
// groups, such as a ring) and the links to cut, drawing any choice from rng.
func PlanPartition(shape, node string, names []string, rng *rand.Rand) ([][]string, Cut, error) {
	n := len(names)
	if n < 2 {
		return nil, Cut{}, fmt.Errorf("a partition needs at least 2 nodes, have %d", n)
	}
	shuffled := slices.Clone(names)
	rng.Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	split := func(k int) [][]string {
		a, b := slices.Clone(shuffled[:k]), slices.Clone(shuffled[k:])
		slices.Sort(a)
		slices.Sort(b)
		return [][]string{a, b}
	}
	var groups [][]string
	switch shape {
	case ShapeIsolate:
		if node == "" {
			node = shuffled[0]
		}
		if !slices.Contains(names, node) {
			return nil, Cut{}, fmt.Errorf("isolate: no node %q (nodes: %v)", node, names)
		}
		rest := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == node })
		groups = [][]string{{node}, rest}
	case ShapeMajorityMinority:
		// The minority first: floor((n-1)/2) nodes, at least one.
		groups = split(max(1, (n-1)/2))
	case ShapeRandomHalves:
		groups = split(n / 2)
	case ShapeMajoritiesRing:
		return nil, ringCut(shuffled), nil
	default:
		return nil, Cut{}, fmt.Errorf("unknown partition shape %q (known: %v)", shape, Shapes)
	}
	return groups, CutBetween(groups), nil
}

// ringCut places the nodes on a ring and lets each talk only to its nearest
// neighbours, so each sees a majority (itself and n/2 others) but no two
// see the same one. With three nodes a ring cannot do that symmetrically;
// there one link is cut, which leaves every node a majority and only one
// node (the bridge) with a view of all.
func ringCut(ring []string) Cut {
	n := len(ring)
	c := Cut{Drops: map[string][]string{}}
	// Neighbours on each side: at least n/2 others in all, so each node sees
	// a majority.
	reach := (n/2 + 1) / 2
	block := func(a, b string) {
		c.Drops[a] = append(c.Drops[a], b)
		c.Drops[b] = append(c.Drops[b], a)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			d := min(j-i, n-(j-i))
			if d > reach {
				block(ring[i], ring[j])
			}
		}
	}
	if len(c.Drops) == 0 && n >= 3 {
		block(ring[0], ring[n-1])
	}
	for a := range c.Drops {
		slices.Sort(c.Drops[a])
	}
	return c
}

// Execute runs the partition schedule against p: it waits for each
// occurrence's start (relative to t0), cuts, records the fault's start,
// waits for its end, heals and records the heal. Choices come from
// rand.NewPCG(seed, 1), so the same seed gives the same faults. When ctx ends
// it heals what is in effect at once and returns.
func Execute(ctx context.Context, p *Partitioner, occ []Occurrence, seed uint64, rec Recorder, clock *history.Clock, t0 time.Time, log *slog.Logger) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	var errs []error
	for _, o := range occ {
		groups, cut, err := PlanPartition(o.Shape, o.Node, p.nodes.Names(), rng)
		if err != nil {
			return err
		}
		if !sleepUntil(ctx, t0.Add(o.Start)) {
			return errors.Join(errs...)
		}
		f := &history.Fault{ID: o.ID, Kind: "partition", Shape: o.Shape, Groups: groups, Detail: describe(groups, cut)}
		if err := p.Cut(ctx, o.ID, cut); err != nil {
			f.Error = err.Error()
			rec.Append(history.Event{Time: clock.Now(), Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f, Error: err.Error()})
			return fmt.Errorf("fault %d (%s): %w", o.ID, o.Shape, err)
		}
		rec.Append(history.Event{Time: clock.Now(), Process: history.Nemesis, Type: history.Info, F: history.FaultStart, Fault: f})
		log.Info("fault in effect", "id", o.ID, "shape", o.Shape, "detail", f.Detail)
		sleepUntil(ctx, t0.Add(o.End))
		end := *f
		if err := p.Heal(context.WithoutCancel(ctx), o.ID); err != nil {
			end.Error = err.Error()
			errs = append(errs, fmt.Errorf("heal fault %d: %w", o.ID, err))
		}
		rec.Append(history.Event{Time: clock.Now(), Process: history.Nemesis, Type: history.Info, F: history.FaultEnd, Fault: &end, Error: end.Error})
		log.Info("fault healed", "id", o.ID, "shape", o.Shape)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// sleepUntil waits for t or ctx; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

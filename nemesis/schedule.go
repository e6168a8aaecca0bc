package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lab-chaos/lab/history"
)

// Partition shapes.
const (
	ShapeIsolate          = "isolate"
	ShapeLeader           = "leader"
	ShapeMajorityMinority = "majority-minority"
	ShapeRandomHalves     = "random-halves"
	ShapeMajoritiesRing   = "majorities-ring"
	ShapeBridge           = "bridge"
	ShapeGroups           = "groups"
	ShapeOneWay           = "one-way"
)

// Shapes lists the partition shapes the lab knows.
var Shapes = []string{ShapeIsolate, ShapeLeader, ShapeMajorityMinority, ShapeRandomHalves, ShapeMajoritiesRing, ShapeBridge, ShapeGroups, ShapeOneWay}

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
	case ShapeLeader:
		return nil, Cut{}, fmt.Errorf("shape leader is resolved by asking the system who leads, then isolating that node")
	case ShapeGroups, ShapeOneWay:
		return nil, Cut{}, fmt.Errorf("shape %s takes its nodes from the scenario", shape)
	case ShapeMajorityMinority:
		// The minority first: floor((n-1)/2) nodes, at least one.
		groups = split(max(1, (n-1)/2))
	case ShapeRandomHalves:
		groups = split(n / 2)
	case ShapeMajoritiesRing:
		return nil, ringCut(shuffled), nil
	case ShapeBridge:
		// Two sides that cannot talk, and one node in the middle that
		// talks to both: each side can reach a majority through it.
		if n < 3 {
			return nil, Cut{}, fmt.Errorf("bridge needs at least 3 nodes, have %d", n)
		}
		bridge := shuffled[0]
		rest := shuffled[1:]
		a, b := slices.Clone(rest[:len(rest)/2]), slices.Clone(rest[len(rest)/2:])
		slices.Sort(a)
		slices.Sort(b)
		return [][]string{a, {bridge}, b}, CutBetween([][]string{a, b}), nil
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

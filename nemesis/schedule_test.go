package nemesis

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "n" + string(rune('1'+i))
	}
	return out
}

func TestPlanPartitionShapes(t *testing.T) {
	tests := []struct {
		name      string
		shape     string
		node      string
		n         int
		wantSizes []int // group sizes, nil for a ring
	}{
		{"isolate named", ShapeIsolate, "n3", 3, []int{1, 2}},
		{"isolate random", ShapeIsolate, "", 5, []int{1, 4}},
		{"majority-minority of 3", ShapeMajorityMinority, "", 3, []int{1, 2}},
		{"majority-minority of 5", ShapeMajorityMinority, "", 5, []int{2, 3}},
		{"random halves of 5", ShapeRandomHalves, "", 5, []int{2, 3}},
		{"ring of 5", ShapeMajoritiesRing, "", 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups, cut, err := PlanPartition(tt.shape, tt.node, names(tt.n), rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, g := range groups {
				sizes = append(sizes, len(g))
			}
			if !reflect.DeepEqual(sizes, tt.wantSizes) {
				t.Errorf("group sizes = %v, want %v (groups %v)", sizes, tt.wantSizes, groups)
			}
			if tt.node != "" && groups[0][0] != tt.node {
				t.Errorf("isolated %v, want %s", groups[0], tt.node)
			}
			// Every node still sees a majority in majority shapes; the cut
			// is symmetric in all of them.
			for a, bs := range cut.Drops {
				for _, b := range bs {
					if !slices.Contains(cut.Drops[b], a) {
						t.Errorf("%s drops %s but not the other way", a, b)
					}
				}
			}
		})
	}
}

func TestRingEveryNodeSeesAMajority(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		_, cut, err := PlanPartition(ShapeMajoritiesRing, "", names(n), rand.New(rand.NewPCG(9, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if len(cut.Pairs()) == 0 {
			t.Fatalf("n=%d: ring cut nothing", n)
		}
		for _, a := range names(n) {
			sees := n - len(cut.Drops[a])
			if sees <= n/2 {
				t.Errorf("n=%d: %s sees %d nodes (itself included), not a majority", n, a, sees)
			}
		}
	}
}

func TestPlanIsDeterministicPerSeed(t *testing.T) {
	a, _, _ := PlanPartition(ShapeRandomHalves, "", names(5), rand.New(rand.NewPCG(42, 1)))
	b, _, _ := PlanPartition(ShapeRandomHalves, "", names(5), rand.New(rand.NewPCG(42, 1)))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed gave %v and %v", a, b)
	}
}

func TestPlanRejectsUnknown(t *testing.T) {
	if _, _, err := PlanPartition("bridge-ish", "", names(3), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("unknown shape accepted")
	}
	if _, _, err := PlanPartition(ShapeIsolate, "n9", names(3), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("isolate of a missing node accepted")
	}
}

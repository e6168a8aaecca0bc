package runner

import (
	"slices"
	"testing"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/scenarios"
)

// The scenario loader and the nemesis each name the faults they know
// (scenarios imports nothing of the lab's, so it cannot take the nemesis'
// lists): this keeps the two vocabularies one, so no scenario can load a
// fault the nemesis cannot inject, and no fault is out of reach of files.
func TestScenarioVocabularyMatchesTheNemesis(t *testing.T) {
	for _, tt := range []struct {
		what           string
		scenario, nems []string
	}{
		{"fault kinds", scenarios.KnownFaults, nemesis.Kinds},
		{"partition shapes", scenarios.KnownShapes, nemesis.Shapes},
		{"partition modes", scenarios.KnownModes, []string{nemesis.ModeSilent, nemesis.ModeFastFail}},
		{"targets", scenarios.KnownTargets, nemesis.Targets},
	} {
		a, b := slices.Sorted(slices.Values(tt.scenario)), slices.Sorted(slices.Values(tt.nems))
		if !slices.Equal(a, b) {
			t.Errorf("%s: scenarios know %v, the nemesis %v", tt.what, a, b)
		}
	}
}

package nemesis

import (
	"context"
	"errors"
	"maps"
	"slices"
)

// faultIDs returns the IDs of the faults in effect, in order. The nemeses
// key what they applied by fault ID; the caller holds their lock.
func faultIDs[V any](active map[int]V) []int {
	return slices.Sorted(maps.Keys(active))
}

// healEach heals every fault in ids with heal, going on past errors, so
// that one fault that cannot be healed does not leave the others in effect.
func healEach(ctx context.Context, ids []int, heal func(context.Context, int) error) error {
	var errs []error
	for _, id := range ids {
		errs = append(errs, heal(ctx, id))
	}
	return errors.Join(errs...)
}

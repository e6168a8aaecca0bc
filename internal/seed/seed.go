// Package seed names every random stream a run draws from its one seed.
//
// Each stream is a PCG stream of its own (rand.NewPCG(seed, stream)), so
// drawing more from one never changes another: a workload that issues
// more operations leaves the faults of the same seed as they were. The
// numbers are part of what a seed means: changing one changes what every
// recorded seed reproduces, so they are only ever added to.
package seed

import "math/rand/v2"

// Stream is one named source of randomness of a run.
type Stream uint64

// The streams of a run.
const (
	// Workload draws the operations: which kind, which key.
	Workload Stream = 0
	// Nemesis draws the victims of each fault and the sides of random
	// partitions.
	Nemesis Stream = 1
	// Plan draws the random fault schedule (schedule: random).
	Plan Stream = 2
	// Disk seeds the disks of the nodes (which writes and fsyncs fail
	// under disk-errors): its first draw is the runtime's disk seed.
	Disk Stream = 3
)

// Rand returns the stream's generator for seed.
func (s Stream) Rand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(s)))
}

// PacketDelay is the stream that times the delayed packets of the i-th
// node of packet fault id (numbered from 1): one stream per node, from
// 1000 on, so none meets the named ones.
func PacketDelay(id, i int) Stream { return Stream(id*1000 + i) }

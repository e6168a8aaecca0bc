package runtime

import (
	"context"
	"time"

	"github.com/lab-chaos/lab/internal/faultfs"
)

// Disk is the disk under one node's data directory, as disk faults use it:
// a mount of the lab's FUSE layer ([faultfs.FS] is one). The faults while
// the node runs act on the mount; the offline faults (bit flips,
// truncations, snapshots) act on Backing while the node is stopped.
type Disk interface {
	// PowerLoss drops every change the node did not make durable; run it
	// while the node is stopped.
	PowerLoss() (faultfs.Report, error)
	// SetErrors makes a fraction of the given operations fail with EIO
	// (replacing what an earlier call set; a fraction of 0 ends them).
	SetErrors(fraction float64, ops ...faultfs.Op)
	// SetFsyncDelay makes every fsync wait d first (0 ends it).
	SetFsyncDelay(d time.Duration)
	// Clear ends the errors and the delay.
	Clear()
	// Sync makes every change so far durable, as a kernel's write-back of
	// dirty pages would: a later PowerLoss drops only what comes after.
	Sync() error
	// Backing is the host directory that holds the node's files.
	Backing() string
}

var _ Disk = (*faultfs.FS)(nil)

// Disks is a runtime whose nodes' data directories can be such disks
// (made with [Options.Disks]): the power the disk faults ask of it,
// found by type assertion like the other optional powers.
type Disks interface {
	// Disk returns the node's disk; false when the node has none (the run
	// did not ask for disks, or there is no such node).
	Disk(node string) (Disk, bool)
}

// DiskChecker is a driver whose disks need something of the machine (FUSE):
// CheckDisks says whether this machine has it, with an error naming what
// is missing. It is asked before anything starts, only by runs that need
// disks.
type DiskChecker interface {
	CheckDisks(ctx context.Context) error
}

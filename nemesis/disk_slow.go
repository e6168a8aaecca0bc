package nemesis

import (
	"fmt"
	"time"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
)

// DiskSlowKind makes every fsync and fdatasync of the target nodes' disks
// (of files and of directories) wait delay before it syncs, for the
// fault's duration: a slow or overloaded disk, where durability costs
// time. Reads and writes keep their speed. A node that exits meanwhile is
// started again at the fault's end, and that is recorded.
type DiskSlowKind struct{}

var (
	_ Kind     = DiskSlowKind{}
	_ DiskUser = DiskSlowKind{}
)

// DiskSlowParams are a disk-slow fault's parameters.
type DiskSlowParams struct {
	Target `yaml:",inline"`
	// Delay is what every fsync waits.
	Delay scenarios.Duration `yaml:"delay"`
}

func (p DiskSlowParams) String() string {
	return fmt.Sprintf("fsync +%s on %s", time.Duration(p.Delay), p.Target)
}

// Name is "disk-slow".
func (DiskSlowKind) Name() string { return KindDiskSlow }

// Keys: whom, how slow.
func (DiskSlowKind) Keys() []string { return append([]string{"delay"}, targetKeys...) }

// Decode reads the target and the delay (required, 1ms to 1m).
func (DiskSlowKind) Decode(f fields) any {
	p := DiskSlowParams{Target: decodeTarget(f)}
	if f.Require("delay", "delay: 50ms", "kind "+KindDiskSlow) {
		if v, ok := f.Duration("delay", time.Millisecond, time.Minute); ok {
			p.Delay = v
		}
	}
	return p
}

// NeedsDisk: always.
func (DiskSlowKind) NeedsDisk(any) bool { return true }

// Available needs disks and FUSE.
func (DiskSlowKind) Available(pw Powers, params any) error {
	return diskAvailable(KindDiskSlow, pw, targetOf(params), false)
}

// Start returns the run's disk-slow injector.
func (DiskSlowKind) Start(env *Env) Injector {
	return newSetting(env, KindDiskSlow,
		func(o Occurrence, d runtime.Disk) (string, error) {
			p, ok := o.Params.(DiskSlowParams)
			if !ok {
				return "", errNoParams
			}
			d.SetFsyncDelay(time.Duration(p.Delay))
			return fmt.Sprintf("every fsync delayed %s", time.Duration(p.Delay)), nil
		},
		func(d runtime.Disk) { d.SetFsyncDelay(0) })
}

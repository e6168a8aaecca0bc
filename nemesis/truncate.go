package nemesis

import (
	"fmt"

	"github.com/lab-chaos/lab/internal/faultfs"
)

// TruncateKind cuts the files of the target nodes' data directories short
// while they are stopped: each node is stopped gracefully (SIGTERM, then
// SIGKILL after 10 s), every non-empty file matching the glob is cut to a
// length drawn from the run's nemesis stream (uniformly below its size),
// and the nodes are started again at the fault's end. Every cut is
// recorded: file, size before and after.
type TruncateKind struct{}

var (
	_ Kind     = TruncateKind{}
	_ DiskUser = TruncateKind{}
)

// TruncateParams are a truncate fault's parameters.
type TruncateParams struct {
	Target `yaml:",inline"`
	// Files is a glob relative to the data directory ("**": any depth).
	Files string `yaml:"files"`
}

func (p TruncateParams) String() string { return fmt.Sprintf("%s on %s", p.Files, p.Target) }

// Name is "truncate".
func (TruncateKind) Name() string { return KindTruncate }

// Keys: whom, which files.
func (TruncateKind) Keys() []string { return append([]string{"files"}, targetKeys...) }

// Decode reads the target and the glob (required).
func (TruncateKind) Decode(f fields) any {
	return TruncateParams{Target: decodeTarget(f), Files: decodeFiles(f, KindTruncate)}
}

// NeedsDisk: always.
func (TruncateKind) NeedsDisk(any) bool { return true }

// DisruptsLeader: the nodes are down for the fault.
func (TruncateKind) DisruptsLeader() bool { return true }

// Available needs disks, FUSE and process control.
func (TruncateKind) Available(pw Powers, params any) error {
	return diskAvailable(KindTruncate, pw, targetOf(params), true)
}

// Start returns the run's truncate injector.
func (TruncateKind) Start(env *Env) Injector {
	return newOffline(env, KindTruncate,
		func(o Occurrence, dir string) ([]faultfs.Change, error) {
			p, ok := o.Params.(TruncateParams)
			if !ok {
				return nil, errNoParams
			}
			return faultfs.Truncate(dir, p.Files, env.Rand)
		},
		func(o Occurrence) string {
			p, _ := o.Params.(TruncateParams)
			return "files matching " + p.Files + " cut short"
		},
		"no non-empty file to cut")
}

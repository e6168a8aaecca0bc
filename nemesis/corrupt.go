package nemesis

import (
	"fmt"

	"github.com/lab-chaos/lab/internal/faultfs"
)

// CorruptKind flips bits in the files of the target nodes' data
// directories while they are stopped: each node is stopped gracefully
// (SIGTERM, then SIGKILL after 10 s), bits distinct bits of the files
// matching the glob are flipped (drawn from the run's nemesis stream, a
// bigger file taking more), and the nodes are started again at the
// fault's end. Every flip is recorded: file, offset, bit, old and new
// byte.
type CorruptKind struct{}

var (
	_ Kind     = CorruptKind{}
	_ DiskUser = CorruptKind{}
)

// CorruptParams are a corrupt fault's parameters.
type CorruptParams struct {
	Target `yaml:",inline"`
	// Files is a glob relative to the data directory ("**": any depth).
	Files string `yaml:"files"`
	// Bits is how many bits to flip; default 1.
	Bits int `yaml:"bits"`
}

func (p CorruptParams) String() string {
	return fmt.Sprintf("%d %s of %s on %s", p.Bits, plural(p.Bits, "bit", "bits"), p.Files, p.Target)
}

// maxBits bounds the bits one corrupt fault flips (each flip is one entry
// of the fault's history event).
const maxBits = 10_000

// Name is "corrupt".
func (CorruptKind) Name() string { return KindCorrupt }

// Keys: whom, which files, how many bits.
func (CorruptKind) Keys() []string { return append([]string{"files", "bits"}, targetKeys...) }

// Decode reads the target, the glob (required) and the bits (1 by
// default).
func (CorruptKind) Decode(f fields) any {
	p := CorruptParams{Target: decodeTarget(f), Bits: 1}
	p.Files = decodeFiles(f, KindCorrupt)
	if v, ok := f.Int("bits", 1, maxBits); ok {
		p.Bits = v
	}
	return p
}

// NeedsDisk: always.
func (CorruptKind) NeedsDisk(any) bool { return true }

// DisruptsLeader: the nodes are down for the fault.
func (CorruptKind) DisruptsLeader() bool { return true }

// Available needs disks, FUSE and process control.
func (CorruptKind) Available(pw Powers, params any) error {
	return diskAvailable(KindCorrupt, pw, targetOf(params), true)
}

// Start returns the run's corrupt injector.
func (CorruptKind) Start(env *Env) Injector {
	return newOffline(env, KindCorrupt,
		func(o Occurrence, dir string) ([]faultfs.Change, error) {
			p, ok := o.Params.(CorruptParams)
			if !ok {
				return nil, errNoParams
			}
			return faultfs.Corrupt(dir, p.Files, p.Bits, env.Rand)
		},
		func(o Occurrence) string {
			p, _ := o.Params.(CorruptParams)
			return fmt.Sprintf("%d %s flipped in %s", p.Bits, plural(p.Bits, "bit", "bits"), p.Files)
		},
		"no file to corrupt")
}

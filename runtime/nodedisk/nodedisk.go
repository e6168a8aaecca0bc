// Package nodedisk makes the data directories of one run's nodes on the
// host, for the runtimes that run nodes there (docker, local): plain
// directories, or, when the run asks for disks ([runtime.Options.Disks]),
// mounts of the lab's FUSE layer (internal/faultfs) over a backing
// directory beside each. A [Set] owns its mounts: [Set.Unmount] removes
// them, and [UnmountUnder] removes what a killed lab left under a
// directory, so that the directory can be removed.
package nodedisk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// Set is the data directories of one run's nodes. It is safe for
// concurrent use.
type Set struct {
	runID string
	opts  runtime.Options

	mu    sync.Mutex
	disks map[string]*faultfs.FS
	order []string
}

var _ runtime.Disks = (*Set)(nil)

// New returns the set of run runID; opts say whether it mounts disks.
func New(runID string, opts runtime.Options) *Set {
	return &Set{runID: runID, opts: opts, disks: map[string]*faultfs.FS{}}
}

// Mounts says whether the set puts its nodes on faultfs mounts.
func (s *Set) Mounts() bool { return s.opts.Disks }

// Make makes the node's data directory dir with mode (the mode the node
// sees). With disks, it also makes backing, which then holds the files,
// and mounts faultfs over dir; the node is the index-th (its errors draw
// from a stream of their own). The mount is the set's from then on, even
// when Make fails later.
func (s *Set) Make(ctx context.Context, node string, index int, dir, backing string, mode os.FileMode) error {
	if _, ok := s.Disk(node); ok {
		return fmt.Errorf("disk of %s: made already", node)
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("data directory of %s: %w", node, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("data directory of %s: %w", node, err)
	}
	if !s.opts.Disks {
		return nil
	}
	if err := os.MkdirAll(backing, mode); err != nil {
		return fmt.Errorf("disk of %s: %w", node, err)
	}
	// The mount's root shows the backing root's mode and owner.
	if err := os.Chmod(backing, mode); err != nil {
		return fmt.Errorf("disk of %s: %w", node, err)
	}
	fs, err := faultfs.Mount(ctx, backing, dir, faultfs.Options{
		RunID: s.runID,
		Seed:  s.opts.Seed ^ (uint64(index+1) * 0x9e3779b97f4a7c15),
		// The node may run as another user than the lab (a container's
		// USER): the kernel checks permissions as on any file system.
		AllowOther: true,
	})
	if err != nil {
		return fmt.Errorf("disk of %s: %w", node, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disks[node] = fs
	s.order = append(s.order, node)
	return nil
}

// Disk returns the node's disk; false when the set mounts none or the node
// has none.
func (s *Set) Disk(node string) (runtime.Disk, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, ok := s.disks[node]
	if !ok {
		return nil, false
	}
	return fs, true
}

// Unmount removes every mount of the set, going on past errors; what
// the nodes wrote stays in the backing directories as it is. Call it once
// the nodes are gone (a busy mount is detached lazily). Calling it again
// does nothing.
func (s *Set) Unmount(ctx context.Context) error {
	s.mu.Lock()
	order := s.order
	disks := s.disks
	s.order, s.disks = nil, map[string]*faultfs.FS{}
	s.mu.Unlock()
	var errs []error
	for _, n := range order {
		if err := disks[n].Unmount(ctx); err != nil {
			errs = append(errs, fmt.Errorf("disk of %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// UnmountUnder removes the lab's faultfs mounts at or under root (what a
// lab killed before its Close left: each answers ENOTCONN until removed),
// so that root can be removed, and returns their mount points. Nothing but
// the lab's own mounts (type fuse.lab-faultfs) is touched.
func UnmountUnder(root string) ([]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	left, err := faultfs.Leftovers()
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	// Deepest first: a mount inside another goes before it.
	for i := len(left) - 1; i >= 0; i-- {
		m := left[i].Mountpoint
		if m != root && !strings.HasPrefix(m, root+"/") {
			continue
		}
		if err := faultfs.UnmountStale(m); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

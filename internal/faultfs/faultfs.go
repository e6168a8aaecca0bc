package faultfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FSName is the file system name of every mount this package makes: the
// mount's type is "fuse."+FSName and its source "lab-faultfs:<run id>", as
// /proc/self/mountinfo shows them. [Leftovers] finds mounts by it.
const FSName = "lab-faultfs"

// trashName is the hidden directory at the root of the backing directory
// that holds what an unlink or a replacing rename took away, until the
// change is durable (then it is deleted) or a power loss puts it back. It
// is invisible through the mount and skipped by Corrupt, Truncate and
// Snapshot.
const trashName = ".faultfs-trash"

// Options tune a mount. The zero value is ready to use.
type Options struct {
	// RunID labels the mount (its source is "lab-faultfs:"+RunID), so that
	// a cleanup can tell the mounts of one run from another's. Letters,
	// digits, '-', '_' and '.' only; empty means "none".
	RunID string
	// Seed seeds the draws of SetErrors, so that a run's errors replay.
	Seed uint64
	// MaxMemory caps the bytes of overwritten durable content kept in
	// memory for PowerLoss; past it, further content goes to an unnamed
	// file on the backing directory's file system (an O_TMPFILE, freed when
	// the process ends). Zero means 64 MiB.
	MaxMemory int64
	// StrictDirSync makes only a directory's fsync durable for the names
	// in it: fsync of a new file then keeps its data but not its name.
	// Without it, fsync of a file also makes durable the changes that
	// named that file (its creation, a rename to it), as ext4 and xfs do.
	StrictDirSync bool
	// AllowOther lets users other than the one mounting (root) use the
	// mount, with the kernel checking permissions (allow_other and
	// default_permissions).
	AllowOther bool
	// Debug logs every FUSE request (go-fuse's debug output) to stderr.
	Debug bool
}

// Op names an operation that SetErrors can fail.
type Op string

// The operations SetErrors can fail.
const (
	// OpWrite is a write (write, pwrite, copy_file_range into the file).
	OpWrite Op = "write"
	// OpFsync is an fsync or fdatasync, of a file or of a directory.
	OpFsync Op = "fsync"
	// OpRead is a read that reaches the file system (not one the kernel
	// serves from its page cache).
	OpRead Op = "read"
)

// FS is one mounted fault file system.
type FS struct {
	backing    string
	mountpoint string
	opts       Options
	server     *fuse.Server
	root       *node
	fuseDev    uint64 // device number of the mount: names its fusectl connection

	// world is read-held by every operation that changes the backing
	// directory and write-held by PowerLoss, so that a power loss sees no
	// change half done.
	world sync.RWMutex
	data  *tracker
	names *journal

	faultMu  sync.Mutex
	errFrac  float64
	errOps   map[Op]bool
	rnd      *rand.Rand
	fsyncDly time.Duration

	unmountMu sync.Mutex
	unmounted bool
}

// Mount serves a passthrough of backing at mountpoint, from goroutines of
// this process, until Unmount. Both must be existing directories.
// Everything in backing at mount time counts as durable.
//
// As root it mounts with mount(2) directly and needs no package; otherwise
// it needs a setuid-root fusermount3 or fusermount (Debian's fuse3).
func Mount(ctx context.Context, backing, mountpoint string, opts Options) (*FS, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var err error
	if backing, err = filepath.Abs(backing); err != nil {
		return nil, err
	}
	if mountpoint, err = filepath.Abs(mountpoint); err != nil {
		return nil, err
	}
	for _, d := range []string{backing, mountpoint} {
		st, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("faultfs: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("faultfs: %s is not a directory", d)
		}
	}
	if strings.HasPrefix(mountpoint+"/", backing+"/") || strings.HasPrefix(backing+"/", mountpoint+"/") {
		return nil, fmt.Errorf("faultfs: backing %s and mount point %s must not contain one another", backing, mountpoint)
	}
	runID := opts.RunID
	if runID == "" {
		runID = "none"
	}
	for _, r := range runID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return nil, fmt.Errorf("faultfs: run id %q: only letters, digits, '-', '_' and '.'", opts.RunID)
		}
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = 64 << 20
	}

	// What a killed lab left in the trash was removed before it died: the
	// backing directory without it is the state as the node last saw it.
	trash := filepath.Join(backing, trashName)
	if err := os.RemoveAll(trash); err != nil {
		return nil, fmt.Errorf("faultfs: clearing %s: %w", trash, err)
	}
	if err := os.Mkdir(trash, 0o700); err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}

	f := &FS{
		backing:    backing,
		mountpoint: mountpoint,
		opts:       opts,
		errOps:     map[Op]bool{},
		rnd:        rand.New(rand.NewPCG(opts.Seed, 0x6661756c74)),
	}
	f.data = newTracker(backing, opts.MaxMemory)
	f.names = newJournal(backing, trash)

	lroot, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	f.root = &node{LoopbackNode: lroot.(*fs.LoopbackNode), f: f}

	// Zero timeouts: the kernel asks again for every name and attribute,
	// so that what PowerLoss and the offline faults change behind its back
	// is seen at once. It costs a LOOKUP per path component and a GETATTR
	// where the kernel needs a size (appends).
	zero := time.Duration(0)
	mo := fuse.MountOptions{
		FsName:      FSName + ":" + runID,
		Name:        FSName,
		DirectMount: true,
		// Passthrough would let reads and writes bypass the server, and so
		// the tracking.
		DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		Debug:                opts.Debug,
	}
	if opts.AllowOther {
		mo.AllowOther = true
		mo.Options = append(mo.Options, "default_permissions")
	}
	server, err := fs.Mount(mountpoint, f.root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
	})
	if err != nil {
		f.data.close()
		os.Remove(trash)
		return nil, fmt.Errorf("faultfs: mounting %s on %s: %w", backing, mountpoint, err)
	}
	f.server = server
	var st unix.Stat_t
	if unix.Stat(mountpoint, &st) == nil {
		f.fuseDev = st.Dev
	}
	return f, nil
}

// Backing returns the backing directory (absolute).
func (f *FS) Backing() string { return f.backing }

// Mountpoint returns the mount point (absolute).
func (f *FS) Mountpoint() string { return f.mountpoint }

// SetErrors makes a fraction (0 to 1) of the given operations fail with
// EIO, drawn from the mount's seeded generator. No ops means writes and
// fsyncs. A failed write writes nothing; a failed fsync syncs nothing and
// leaves the file's changes as un-durable as they were. It replaces what
// an earlier SetErrors set.
func (f *FS) SetErrors(fraction float64, ops ...Op) {
	if len(ops) == 0 {
		ops = []Op{OpWrite, OpFsync}
	}
	f.faultMu.Lock()
	defer f.faultMu.Unlock()
	f.errFrac = min(max(fraction, 0), 1)
	f.errOps = map[Op]bool{}
	for _, op := range ops {
		f.errOps[op] = true
	}
}

// SetFsyncDelay makes every fsync (of a file or a directory) wait d before
// it syncs. Zero removes the delay.
func (f *FS) SetFsyncDelay(d time.Duration) {
	f.faultMu.Lock()
	defer f.faultMu.Unlock()
	f.fsyncDly = max(d, 0)
}

// Clear removes the errors and the delay.
func (f *FS) Clear() {
	f.faultMu.Lock()
	defer f.faultMu.Unlock()
	f.errFrac = 0
	f.errOps = map[Op]bool{}
	f.fsyncDly = 0
}

// fail draws whether this op fails.
func (f *FS) fail(op Op) bool {
	f.faultMu.Lock()
	defer f.faultMu.Unlock()
	if f.errFrac == 0 || !f.errOps[op] {
		return false
	}
	return f.errFrac >= 1 || f.rnd.Float64() < f.errFrac
}

// fsyncDelay waits the configured delay, or until the request is
// interrupted.
func (f *FS) fsyncDelay(ctx context.Context) syscall.Errno {
	f.faultMu.Lock()
	d := f.fsyncDly
	f.faultMu.Unlock()
	if d == 0 {
		return 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-ctx.Done():
		return syscall.EINTR
	}
}

// Unmount stops serving and removes the mount. It tries a plain unmount
// first; when the mount is busy (a process still has a file open or its
// working directory in it) it detaches it lazily, and waits for the kernel
// to let go of the connection until ctx ends, then aborts the connection
// if the fusectl file system allows. Un-durable changes stay as they are in
// the backing directory (no power loss). Calling it again does nothing.
func (f *FS) Unmount(ctx context.Context) error {
	f.unmountMu.Lock()
	defer f.unmountMu.Unlock()
	if f.unmounted {
		return nil
	}
	err := f.server.Unmount()
	if err != nil && mounted(f.mountpoint) {
		if derr := detach(f.mountpoint); derr != nil {
			return fmt.Errorf("faultfs: unmounting %s: %v; lazy unmount: %w", f.mountpoint, err, derr)
		}
		done := make(chan struct{})
		go func() { f.server.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			if aerr := abortConn(f.fuseDev); aerr != nil {
				return fmt.Errorf("faultfs: %s detached, but a process still holds it and the connection could not be aborted: %w", f.mountpoint, aerr)
			}
			<-done
		}
	}
	f.unmounted = true
	f.data.close()
	f.names.discard()
	return nil
}

// mounted reports whether path is a mount point in this mount namespace.
func mounted(path string) bool {
	ms, err := readMountinfo()
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.mountpoint == path {
			return true
		}
	}
	return false
}

// detach unmounts path lazily: with umount2(MNT_DETACH) as root, else with
// fusermount -u -z.
func detach(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if errors.Is(err, unix.EPERM) {
		return fusermountU(path, true)
	}
	return err
}

// abortConn aborts the FUSE connection of device dev through fusectl
// (/sys/fs/fuse/connections), which makes every pending and future request
// fail and ends the server's loop.
func abortConn(dev uint64) error {
	if dev == 0 {
		return errors.New("device of the mount unknown")
	}
	p := fmt.Sprintf("/sys/fs/fuse/connections/%d/abort", unix.Minor(dev))
	return os.WriteFile(p, []byte("1"), 0)
}

package faultfs

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hanwen/go-fuse/v2/fs"
)

// Report is what a PowerLoss dropped.
type Report struct {
	// Files lists the files whose un-durable changes were dropped, by
	// path.
	Files []LostData
	// Names lists the changes to names undone, newest first.
	Names []LostName
}

// Empty is whether the power loss dropped nothing.
func (r Report) Empty() bool { return len(r.Files) == 0 && len(r.Names) == 0 }

// String gives one line per file and per name.
func (r Report) String() string {
	var b strings.Builder
	for _, l := range r.Files {
		fmt.Fprintln(&b, l)
	}
	for _, l := range r.Names {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// PowerLoss drops every change not durable, as a machine losing power
// would: each file's content goes back to what it was at its last fsync
// (or at mount, or empty for a file made since), and the changes to names
// not made durable are undone, newest first (see the package doc for the
// rule). The mount stays up. Run it while the node using the mount is
// stopped: a process still writing would race it.
//
// The error joins what could not be undone; the report lists it too.
func (f *FS) PowerLoss() (Report, error) {
	f.unmountMu.Lock()
	defer f.unmountMu.Unlock()
	if f.unmounted {
		return Report{}, errors.New("faultfs: PowerLoss after Unmount")
	}
	// Dirty pages of shared writable mappings reach the file system only
	// when the kernel writes them back: have it do so now, so that they are
	// tracked, then dropped with the rest.
	for _, in := range f.data.knownInodes() {
		in.NotifyContent(0, 0)
	}

	f.world.Lock()
	files, inodes := f.data.restoreAll()
	names := f.names.undoAll()
	f.world.Unlock()

	// The kernel's caches and go-fuse's tree of names still show the
	// dropped state: mend them. Not under the world lock, as the kernel may
	// call back into the file system while it handles a notification.
	for _, l := range names {
		f.forgetName(l)
	}
	for _, in := range inodes {
		in.NotifyContent(0, 0)
	}

	var errs []error
	for _, l := range files {
		if l.Err != "" {
			errs = append(errs, fmt.Errorf("%s: %s", l.Path, l.Err))
		}
	}
	for _, l := range names {
		if l.Err != "" {
			errs = append(errs, fmt.Errorf("undoing %s %s: %s", l.Op, l.Path, l.Err))
		}
	}
	return Report{Files: files, Names: names}, errors.Join(errs...)
}

// Sync makes every change made so far durable, data and names, as a
// machine's kernel does when it writes its dirty pages back and its file
// system commits its journal (or as sync(2) does): a later PowerLoss drops
// only what changes after it. Without it, only fsync makes anything
// durable, which is the strictest case; the lab uses it to model a
// machine that wrote its dirty data back some time before it lost power.
func (f *FS) Sync() error {
	f.unmountMu.Lock()
	defer f.unmountMu.Unlock()
	if f.unmounted {
		return errors.New("faultfs: Sync after Unmount")
	}
	// Dirty pages of shared writable mappings first, as for PowerLoss: the
	// write-back takes them too.
	for _, in := range f.data.knownInodes() {
		in.NotifyContent(0, 0)
	}
	f.world.Lock()
	defer f.world.Unlock()
	f.data.cleanAll()
	f.names.commitAll()
	return nil
}

// inodeAt returns go-fuse's inode for a relative path, if it knows one.
func (f *FS) inodeAt(rel string) *fs.Inode {
	in := f.root.EmbeddedInode()
	if rel == "" || rel == "." {
		return in
	}
	for _, seg := range strings.Split(rel, "/") {
		if in = in.GetChild(seg); in == nil {
			return nil
		}
	}
	return in
}

// forgetName mirrors an undone change in go-fuse's tree of names (which
// maps inodes to backing paths) and drops the kernel's entries for the
// names involved.
func (f *FS) forgetName(l LostName) {
	dir, base := path.Split(l.Path)
	parent := f.inodeAt(strings.TrimSuffix(dir, "/"))
	switch l.Op {
	case "create", "mkdir", "mknod", "symlink", "link":
		if parent != nil {
			parent.RmChild(base)
		}
	case "rename", "exchange":
		tdir, tbase := path.Split(l.To)
		tparent := f.inodeAt(strings.TrimSuffix(tdir, "/"))
		if parent != nil && tparent != nil {
			if l.Op == "rename" {
				tparent.MvChild(tbase, parent, base, true)
			} else {
				tparent.ExchangeChild(tbase, parent, base)
			}
		} else if tparent != nil {
			tparent.RmChild(tbase)
		}
		if tparent != nil {
			tparent.NotifyEntry(tbase)
		}
	}
	if parent != nil {
		parent.NotifyEntry(base)
	}
}

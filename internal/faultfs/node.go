package faultfs

import (
	"context"
	"path"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a file or directory of the mount: go-fuse's loopback node, with
// every change to the backing directory passed through the tracking.
type node struct {
	*fs.LoopbackNode
	f *FS
}

// The interfaces go-fuse looks for. file lacks FilePassthroughFder and
// FileIoctler on purpose.
var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)

	_ fs.FileReaddirenter = (*dir)(nil)
	_ fs.FileSeekdirer    = (*dir)(nil)
	_ fs.FileReleasedirer = (*dir)(nil)
	_ fs.FileFsyncdirer   = (*dir)(nil)

	_ fs.FileReader    = (*file)(nil)
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileAllocater = (*file)(nil)
	_ fs.FileReleaser  = (*file)(nil)
	_ fs.FileFlusher   = (*file)(nil)
	_ fs.FileGetattrer = (*file)(nil)
	_ fs.FileStatxer   = (*file)(nil)
	_ fs.FileSetattrer = (*file)(nil)
	_ fs.FileLseeker   = (*file)(nil)
)

// WrapChild makes every node of the tree a *node.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: ln, f: n.f}
	}
	return ops
}

// rel is the node's path relative to the backing directory.
func (n *node) rel() string { return n.Path(n.Root()) }

func (n *node) relChild(name string) string { return path.Join(n.rel(), name) }

func (n *node) abs(name string) string {
	return filepath.Join(n.f.backing, filepath.FromSlash(n.rel()), name)
}

// hidden is whether name is the trash, which only the root holds.
func (n *node) hidden(name string) bool {
	return name == trashName && n.EmbeddedInode() == n.Root()
}

// key is the backing inode of this directory.
func (n *node) key() (key, bool) {
	var st unix.Stat_t
	if unix.Lstat(n.abs(""), &st) != nil {
		return key{}, false
	}
	return keyOf(&st), true
}

func (n *node) dirKeys() []key {
	if k, ok := n.key(); ok {
		return []key{k}
	}
	return nil
}

func lstatKey(p string) (key, bool) {
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil {
		return key{}, false
	}
	return keyOf(&st), true
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	return n.LoopbackNode.Lookup(ctx, name, out)
}

// logCreate logs a new name made in n. j.mu held.
func (n *node) logCreate(kind, name string) {
	op := nsOp{kind: kind, path: n.relChild(name), dirs: n.dirKeys()}
	op.target, op.hasTarget = lstatKey(n.abs(name))
	n.f.names.add(op)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if n.hidden(name) {
		return nil, nil, 0, syscall.EPERM
	}
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	f.names.mu.Lock()
	defer f.names.mu.Unlock()

	p := n.abs(name)
	var pre unix.Stat_t
	existed := unix.Lstat(p, &pre) == nil
	var ch *fs.Inode
	var fh fs.FileHandle
	var fl uint32
	var errno syscall.Errno
	if existed && flags&syscall.O_TRUNC != 0 && flags&syscall.O_EXCL == 0 && pre.Mode&unix.S_IFMT == unix.S_IFREG {
		errno = f.truncating(keyOf(&pre), p, nil, 0, func() syscall.Errno {
			ch, fh, fl, errno = n.LoopbackNode.Create(ctx, name, flags, mode, out)
			return errno
		})
	} else {
		ch, fh, fl, errno = n.LoopbackNode.Create(ctx, name, flags, mode, out)
	}
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		n.logCreate("create", name)
	}
	return ch, f.wrap(fh, ch, flags, n.relChild(name)), fl, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f := n.f
	var fh fs.FileHandle
	var fl uint32
	var errno syscall.Errno
	if flags&syscall.O_TRUNC != 0 {
		// The kernel sends a truncation as a SETATTR before the open when,
		// as here, atomic O_TRUNC is not negotiated; this is for safety.
		p := n.abs("")
		f.world.RLock()
		k, ok := lstatKey(p)
		if ok && n.Mode()&unix.S_IFMT == unix.S_IFREG {
			errno = f.truncating(k, p, nil, 0, func() syscall.Errno {
				fh, fl, errno = n.LoopbackNode.Open(ctx, flags)
				return errno
			})
		} else {
			fh, fl, errno = n.LoopbackNode.Open(ctx, flags)
		}
		f.world.RUnlock()
	} else {
		fh, fl, errno = n.LoopbackNode.Open(ctx, flags)
	}
	if errno != 0 {
		return nil, 0, errno
	}
	return f.wrap(fh, n.EmbeddedInode(), flags, n.rel()), fl, 0
}

func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, fl, errno := n.LoopbackNode.Tmpfile(ctx, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return ch, n.f.wrap(fh, ch, flags, n.relChild("(tmpfile)")), fl, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.makeName(ctx, "mkdir", name, func() (*fs.Inode, syscall.Errno) {
		return n.LoopbackNode.Mkdir(ctx, name, mode, out)
	})
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.makeName(ctx, "mknod", name, func() (*fs.Inode, syscall.Errno) {
		return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	})
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.makeName(ctx, "symlink", name, func() (*fs.Inode, syscall.Errno) {
		return n.LoopbackNode.Symlink(ctx, target, name, out)
	})
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.makeName(ctx, "link", name, func() (*fs.Inode, syscall.Errno) {
		return n.LoopbackNode.Link(ctx, target, name, out)
	})
}

// makeName runs an operation that makes a new name in n, and logs it.
func (n *node) makeName(ctx context.Context, kind, name string, do func() (*fs.Inode, syscall.Errno)) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	f.names.mu.Lock()
	defer f.names.mu.Unlock()
	ch, errno := do()
	if errno == 0 {
		n.logCreate(kind, name)
	}
	return ch, errno
}

// Unlink moves the name into the trash rather than removing it, so that a
// power loss can put it back.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	j := f.names
	j.mu.Lock()
	defer j.mu.Unlock()
	p := n.abs(name)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fs.ToErrno(err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return syscall.EISDIR
	}
	op := nsOp{kind: "unlink", path: n.relChild(name), dirs: n.dirKeys(), grave: j.grave()}
	if err := unix.Rename(p, op.grave); err != nil {
		if err != unix.EXDEV {
			return fs.ToErrno(err)
		}
		// p is on another file system than the trash (a mount inside the
		// backing directory): remove it for good.
		if err := unix.Unlink(p); err != nil {
			return fs.ToErrno(err)
		}
		op.grave = ""
		op.broken = "the name was on another file system than the backing directory's root"
	}
	j.add(op)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	j := f.names
	j.mu.Lock()
	defer j.mu.Unlock()
	p := n.abs(name)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fs.ToErrno(err)
	}
	if errno := n.LoopbackNode.Rmdir(ctx, name); errno != 0 {
		return errno
	}
	j.add(nsOp{kind: "rmdir", path: n.relChild(name), dirs: n.dirKeys(),
		dirGone: true, mode: st.Mode, uid: int(st.Uid), gid: int(st.Gid)})
	return 0
}

// Rename keeps a hard link to a file it replaces in the trash, so that a
// power loss can put it back.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&unix.RENAME_WHITEOUT != 0 {
		return syscall.EINVAL
	}
	if n.hidden(name) || np.hidden(newName) {
		return syscall.EPERM
	}
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	j := f.names
	j.mu.Lock()
	defer j.mu.Unlock()

	src, dst := n.abs(name), np.abs(newName)
	var sst, dst0 unix.Stat_t
	if err := unix.Lstat(src, &sst); err != nil {
		return fs.ToErrno(err)
	}
	op := nsOp{path: n.relChild(name), to: np.relChild(newName),
		dirs: append(n.dirKeys(), np.dirKeys()...), target: keyOf(&sst), hasTarget: true}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err != nil {
			return fs.ToErrno(err)
		}
		op.kind = "exchange"
		j.add(op)
		return 0
	}
	op.kind = "rename"
	if unix.Lstat(dst, &dst0) == nil {
		switch {
		case flags&unix.RENAME_NOREPLACE != 0:
			return syscall.EEXIST
		case keyOf(&dst0) == keyOf(&sst):
			// Two names of one inode: rename does nothing.
			return fs.ToErrno(unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, uint(flags)))
		case dst0.Mode&unix.S_IFMT == unix.S_IFDIR:
			op.dirGone, op.mode, op.uid, op.gid = true, dst0.Mode, int(dst0.Uid), int(dst0.Gid)
		default:
			op.grave = j.grave()
			if err := unix.Link(dst, op.grave); err != nil {
				op.grave = ""
				op.broken = "the replaced " + op.to + " could not be kept: " + err.Error()
			}
		}
	}
	if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, uint(flags)); err != nil {
		if op.grave != "" {
			unix.Unlink(op.grave)
		}
		return fs.ToErrno(err)
	}
	j.add(op)
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	sz, ok := in.GetSize()
	if !ok || n.Mode()&unix.S_IFMT != unix.S_IFREG {
		return n.LoopbackNode.Setattr(ctx, fh, in, out)
	}
	f := n.f
	f.world.RLock()
	defer f.world.RUnlock()
	if h, ok := fh.(*file); ok && h.st != nil {
		return f.truncating(h.k, "", h.st, int64(sz), func() syscall.Errno {
			return n.LoopbackNode.Setattr(ctx, fh, in, out)
		})
	}
	p := n.abs("")
	k, ok := lstatKey(p)
	if !ok {
		return n.LoopbackNode.Setattr(ctx, fh, in, out)
	}
	return f.truncating(k, p, nil, int64(sz), func() syscall.Errno {
		return n.LoopbackNode.Setattr(ctx, fh, in, out)
	})
}

// truncating runs do, which cuts the file (inode k, at backing path p, or
// with state st) to size, after keeping what it cuts. The caller holds the
// world lock.
func (f *FS) truncating(k key, p string, st *fileState, size int64, do func() syscall.Errno) syscall.Errno {
	if st == nil {
		st = f.data.acquire(k, f.relOf(p), func() (int, error) { return openPath(p) }, nil)
		defer f.data.release(st)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if f.data.begin(st) == nil {
		f.data.save(st, size, st.durable)
	}
	return do()
}

func (f *FS) relOf(p string) string {
	r, err := filepath.Rel(f.backing, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(*file)
	o, ok2 := fhOut.(*file)
	if !ok1 || !ok2 {
		return 0, syscall.ENOTSUP
	}
	f := n.f
	if f.fail(OpWrite) {
		return 0, syscall.EIO
	}
	f.world.RLock()
	defer f.world.RUnlock()
	if o.st != nil {
		o.st.mu.Lock()
		defer o.st.mu.Unlock()
		if f.data.begin(o.st) == nil {
			f.data.save(o.st, int64(offOut), int64(offOut+length))
		}
	}
	ri, ro := int64(offIn), int64(offOut)
	c, err := unix.CopyFileRange(in.fd, &ri, o.fd, &ro, int(length), int(flags))
	if o.st != nil && c > 0 {
		o.st.bytes += int64(c)
	}
	return uint32(max(c, 0)), fs.ToErrno(err)
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{fh: fh, n: n, root: n.EmbeddedInode() == n.Root()}, fl, 0
}

// dir is an open directory: its fsync commits the changes to its names.
type dir struct {
	fh   fs.FileHandle
	n    *node
	root bool
}

func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	r, ok := d.fh.(fs.FileReaddirenter)
	if !ok {
		return nil, syscall.ENOTSUP
	}
	for {
		de, errno := r.Readdirent(ctx)
		if errno != 0 || de == nil || !d.root || de.Name != trashName {
			return de, errno
		}
	}
}

func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.fh.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := d.fh.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
	}
}

func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	f := d.n.f
	if f.fail(OpFsync) {
		return syscall.EIO
	}
	if errno := f.fsyncDelay(ctx); errno != 0 {
		return errno
	}
	f.world.RLock()
	defer f.world.RUnlock()
	if s, ok := d.fh.(fs.FileFsyncdirer); ok {
		if errno := s.Fsyncdir(ctx, flags); errno != 0 {
			return errno
		}
	}
	if k, ok := d.n.key(); ok {
		f.names.commitDir(k)
	}
	return 0
}

// file is an open file: go-fuse's loopback file, with writes, truncations
// and fsyncs passed through the tracking. It deliberately offers no
// passthrough fd (the kernel would then bypass it) and no ioctl.
type file struct {
	lf  *fs.LoopbackFile
	fd  int
	k   key
	reg bool       // a regular file
	st  *fileState // nil unless open for writing
	f   *FS
}

// wrap makes the handle of a newly opened file.
func (f *FS) wrap(fh fs.FileHandle, inode *fs.Inode, flags uint32, name string) fs.FileHandle {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return fh
	}
	fd, _ := lf.PassthroughFd()
	h := &file{lf: lf, fd: fd, f: f}
	var s unix.Stat_t
	if unix.Fstat(fd, &s) == nil {
		h.k = keyOf(&s)
		h.reg = s.Mode&unix.S_IFMT == unix.S_IFREG
	}
	if h.reg && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		h.st = f.data.acquire(h.k, name, func() (int, error) { return reopen(fd) }, inode)
	}
	return h
}

func (h *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.f.fail(OpRead) {
		return nil, syscall.EIO
	}
	return h.lf.Read(ctx, buf, off)
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f := h.f
	if f.fail(OpWrite) {
		return 0, syscall.EIO
	}
	if h.st == nil {
		return h.lf.Write(ctx, data, off)
	}
	f.world.RLock()
	defer f.world.RUnlock()
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if f.data.begin(st) == nil {
		f.data.save(st, off, off+int64(len(data)))
	}
	n, errno := h.lf.Write(ctx, data, off)
	st.bytes += int64(n)
	return n, errno
}

// Fsync syncs the file, then makes its content durable, and (unless
// StrictDirSync) the changes that named it.
func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	f := h.f
	if f.fail(OpFsync) {
		return syscall.EIO
	}
	if errno := f.fsyncDelay(ctx); errno != 0 {
		return errno
	}
	f.world.RLock()
	defer f.world.RUnlock()
	st := h.st
	if st == nil && h.reg {
		// A handle not open for writing may still sync what others wrote.
		f.data.mu.Lock()
		st = f.data.files[h.k]
		f.data.mu.Unlock()
	}
	// The state's lock is let go before the journal's is taken: Create
	// takes them the other way round.
	if errno := h.syncData(ctx, st, flags); errno != 0 {
		return errno
	}
	if !f.opts.StrictDirSync {
		f.names.commitFile(h.k)
	}
	return 0
}

func (h *file) syncData(ctx context.Context, st *fileState, flags uint32) syscall.Errno {
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	if errno := h.lf.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	if st != nil {
		h.f.data.clean(st)
	}
	return 0
}

func (h *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	f := h.f
	if h.st == nil {
		return h.lf.Allocate(ctx, off, size, mode)
	}
	f.world.RLock()
	defer f.world.RUnlock()
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if f.data.begin(st) == nil {
		switch {
		case mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0:
			f.data.save(st, int64(off), st.durable)
		case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
			f.data.save(st, int64(off), int64(off+size))
		}
	}
	return h.lf.Allocate(ctx, off, size, mode)
}

func (h *file) Release(ctx context.Context) syscall.Errno {
	errno := h.lf.Release(ctx)
	if h.st != nil {
		h.f.data.release(h.st)
	}
	return errno
}

func (h *file) Flush(ctx context.Context) syscall.Errno { return h.lf.Flush(ctx) }

func (h *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *file) Statx(ctx context.Context, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	return h.lf.Statx(ctx, flags, mask, out)
}

// Setattr is reached through node.Setattr, which has done the tracking.
func (h *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Setattr(ctx, in, out)
}

func (h *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

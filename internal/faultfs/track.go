package faultfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// key names a backing inode.
type key struct{ dev, ino uint64 }

func keyOf(st *unix.Stat_t) key { return key{uint64(st.Dev), st.Ino} }

// chunk is a range of a file's durable content, saved before something
// overwrote it: in memory, as a run of zeros (no storage), or in the spill
// file.
type chunk struct {
	off, n int64
	data   []byte
	zero   bool
	spill  int64 // offset in the spill file, when data is nil and !zero
}

func (c chunk) end() int64 { return c.off + c.n }

// fileState is the tracking of one regular file (one backing inode). A
// clean state has nothing to undo; the first change after a durable point
// notes the durable size and makes it dirty; fsync makes it clean again.
type fileState struct {
	mu      sync.Mutex
	k       key
	fd      int // O_RDWR on the backing inode, ours; -1 when it could not be had
	fdErr   error
	handles int       // holds: open handles, and changes under way
	name    string    // a path of the file when first seen (for reports)
	inode   *fs.Inode // for invalidating the kernel's cache; may be stale

	dirty   bool
	durable int64   // the size at the last durable point
	chunks  []chunk // sorted, disjoint, within [0, durable)
	writes  int     // changes since the durable point
	bytes   int64   // bytes written since the durable point
}

// tracker holds the states of every file changed since its last fsync,
// and of every file open for writing.
type tracker struct {
	backing string

	mu        sync.Mutex
	files     map[key]*fileState
	mem, max  int64 // bytes of chunk data in memory, and the cap
	spill     *os.File
	spillEnd  int64
	spillLive int64
}

func newTracker(backing string, maxMem int64) *tracker {
	return &tracker{backing: backing, files: map[key]*fileState{}, max: maxMem}
}

// acquire returns the state of inode k, making it if needed with an fd
// from open, and holds it until release, so that it is not forgotten (its
// fd closed) while in use.
func (t *tracker) acquire(k key, name string, open func() (int, error), inode *fs.Inode) *fileState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.files[k]
	if st == nil {
		st = &fileState{k: k, fd: -1, name: name}
		st.fd, st.fdErr = open()
		if st.fdErr != nil {
			st.fd = -1
		}
		t.files[k] = st
	}
	st.handles++
	if inode != nil {
		st.inode = inode
	}
	return st
}

// release drops a hold; a clean state nobody holds is forgotten.
func (t *tracker) release(st *fileState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	st.handles--
	t.forgetIfIdle(st)
}

// forgetIfIdle forgets st if it is clean and nobody holds it. The caller
// holds st.mu (which guards dirty), then t.mu (which guards handles).
func (t *tracker) forgetIfIdle(st *fileState) {
	if st.handles > 0 || st.dirty || t.files[st.k] != st {
		return
	}
	delete(t.files, st.k)
	if st.fd >= 0 {
		unix.Close(st.fd)
		st.fd = -1
	}
}

// reopen opens an fd of our own on the inode behind fd, read-write
// whatever the flags of fd.
func reopen(fd int) (int, error) {
	return unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
}

// openPath opens an fd of our own on a backing path.
func openPath(p string) (int, error) {
	return unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
}

// begin is called, st.mu held, before every change to the file: the first
// change after a durable point notes the durable size.
func (t *tracker) begin(st *fileState) error {
	st.writes++
	if st.dirty {
		return nil
	}
	if st.fd < 0 {
		// The change goes ahead, but a power loss cannot undo it: it says
		// so in its report.
		st.dirty = true
		return fmt.Errorf("cannot track %s: %v", st.name, st.fdErr)
	}
	var s unix.Stat_t
	if err := unix.Fstat(st.fd, &s); err != nil {
		return err
	}
	st.dirty = true
	st.durable = s.Size
	return nil
}

// save keeps the durable bytes of [off, end) that no earlier change in
// this epoch already kept, before they are overwritten. st.mu held.
func (t *tracker) save(st *fileState, off, end int64) error {
	end = min(end, st.durable)
	if off < 0 || off >= end || st.fd < 0 {
		return nil
	}
	// The gaps of [off, end) between the chunks already kept.
	var gaps [][2]int64
	i := sort.Search(len(st.chunks), func(i int) bool { return st.chunks[i].end() > off })
	pos := off
	for ; i < len(st.chunks) && st.chunks[i].off < end; i++ {
		c := st.chunks[i]
		if c.off > pos {
			gaps = append(gaps, [2]int64{pos, c.off})
		}
		pos = max(pos, c.end())
	}
	if pos < end {
		gaps = append(gaps, [2]int64{pos, end})
	}
	if len(gaps) == 0 {
		return nil
	}
	for _, g := range gaps {
		for o := g[0]; o < g[1]; {
			n := min(g[1]-o, 1<<20)
			buf := make([]byte, n)
			r, err := unix.Pread(st.fd, buf, o)
			if err != nil {
				return err
			}
			if int64(r) < n { // the file is shorter than its durable size
				n = int64(r)
				buf = buf[:r]
				if n == 0 {
					break
				}
			}
			c := chunk{off: o, n: n}
			if isZero(buf) {
				c.zero = true
			} else if err := t.store(&c, buf); err != nil {
				return err
			}
			st.chunks = append(st.chunks, c)
			o += n
		}
	}
	sort.Slice(st.chunks, func(i, j int) bool { return st.chunks[i].off < st.chunks[j].off })
	st.chunks = t.merge(st.chunks)
	return nil
}

// store puts a chunk's bytes in memory, or in the spill file past the cap.
func (t *tracker) store(c *chunk, buf []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mem+int64(len(buf)) <= t.max {
		c.data = buf
		t.mem += int64(len(buf))
		return nil
	}
	if t.spill == nil {
		f, err := openSpill(t.backing)
		if err != nil {
			return err
		}
		t.spill = f
	}
	if _, err := t.spill.WriteAt(buf, t.spillEnd); err != nil {
		return fmt.Errorf("faultfs: spilling saved content: %w", err)
	}
	c.spill = t.spillEnd
	t.spillEnd += int64(len(buf))
	t.spillLive += int64(len(buf))
	return nil
}

// openSpill makes an unnamed file on the backing file system (or, where
// O_TMPFILE is not supported, in the temporary directory, unlinked at once).
func openSpill(backing string) (*os.File, error) {
	fd, err := unix.Open(backing, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), "faultfs-spill"), nil
	}
	f, err := os.CreateTemp("", "lab-faultfs-spill-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// merge joins neighbouring chunks of the same kind, so that sequential
// writes keep one chunk (memory chunks up to 4 MiB each).
func (t *tracker) merge(cs []chunk) []chunk {
	out := cs[:0]
	for _, c := range cs {
		if len(out) > 0 {
			p := &out[len(out)-1]
			switch {
			case p.end() == c.off && p.zero && c.zero:
				p.n += c.n
				continue
			case p.end() == c.off && p.data != nil && c.data != nil && p.n+c.n <= 4<<20:
				p.data = append(p.data, c.data...)
				p.n += c.n
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

var zeros = make([]byte, 1<<20)

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// clean makes the state's content durable: it forgets what it kept.
// st.mu held.
func (t *tracker) clean(st *fileState) {
	t.freeChunks(st.chunks)
	st.chunks = nil
	st.dirty = false
	st.writes = 0
	st.bytes = 0
	t.mu.Lock()
	t.forgetIfIdle(st)
	t.mu.Unlock()
}

func (t *tracker) freeChunks(cs []chunk) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cs {
		switch {
		case c.data != nil:
			t.mem -= c.n
		case !c.zero:
			t.spillLive -= c.n
		}
	}
	if t.spillLive == 0 && t.spill != nil && t.spillEnd > 0 {
		t.spill.Truncate(0)
		t.spillEnd = 0
	}
}

// LostData is what a power loss dropped from one file.
type LostData struct {
	// Path is the file's path relative to the backing directory when the
	// power loss came (before names were rolled back), or "(unlinked)".
	Path string
	// Writes counts the changes dropped: writes, truncations, fallocates.
	Writes int
	// Bytes counts the bytes those writes carried.
	Bytes int64
	// SizeBefore and SizeAfter are the file's size before and after.
	SizeBefore, SizeAfter int64
	// Restored counts the bytes of old content written back.
	Restored int64
	// Err says what could not be done, if anything.
	Err string
}

func (l LostData) String() string {
	s := fmt.Sprintf("%s: %d changes (%d bytes written) dropped, size %d -> %d, %d bytes restored",
		l.Path, l.Writes, l.Bytes, l.SizeBefore, l.SizeAfter, l.Restored)
	if l.Err != "" {
		s += ": " + l.Err
	}
	return s
}

// restoreAll puts every dirty file back as it was at its durable point and
// forgets every state (handles still open keep a fresh clean one). The
// caller holds the world lock.
func (t *tracker) restoreAll() (lost []LostData, inodes []*fs.Inode) {
	t.mu.Lock()
	states := make([]*fileState, 0, len(t.files))
	for _, st := range t.files {
		states = append(states, st)
	}
	t.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		if st.dirty {
			l := t.restore(st)
			lost = append(lost, l)
			if st.inode != nil {
				inodes = append(inodes, st.inode)
			}
			t.clean(st)
		}
		st.mu.Unlock()
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].Path < lost[j].Path })
	return lost, inodes
}

// cleanAll makes every file's content durable as it is (a write-back of
// every dirty page). The caller holds the world lock.
func (t *tracker) cleanAll() {
	t.mu.Lock()
	states := make([]*fileState, 0, len(t.files))
	for _, st := range t.files {
		states = append(states, st)
	}
	t.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		if st.dirty {
			t.clean(st)
		}
		st.mu.Unlock()
	}
}

// restore writes st's kept chunks back and cuts the file to its durable
// size. st.mu held.
func (t *tracker) restore(st *fileState) LostData {
	l := LostData{Writes: st.writes, Bytes: st.bytes, SizeAfter: st.durable}
	if st.fd < 0 {
		l.Path = st.name
		l.Err = fmt.Sprintf("not tracked, not restored: %v", st.fdErr)
		return l
	}
	l.Path = t.pathOf(st.fd, st.name)
	var s unix.Stat_t
	if err := unix.Fstat(st.fd, &s); err != nil {
		l.Err = err.Error()
		return l
	}
	l.SizeBefore = s.Size
	var errs []string
	for _, c := range st.chunks {
		buf, err := t.load(c)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, err := unix.Pwrite(st.fd, buf, c.off); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		l.Restored += c.n
	}
	if err := unix.Ftruncate(st.fd, st.durable); err != nil {
		errs = append(errs, err.Error())
	}
	l.Err = strings.Join(errs, "; ")
	return l
}

// load returns a chunk's bytes.
func (t *tracker) load(c chunk) ([]byte, error) {
	switch {
	case c.data != nil:
		return c.data, nil
	case c.zero:
		return make([]byte, c.n), nil
	}
	buf := make([]byte, c.n)
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.spill.ReadAt(buf, c.spill)
	return buf, err
}

// pathOf names the backing file behind fd, relative to the backing dir.
func (t *tracker) pathOf(fd int, fallback string) string {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return fallback
	}
	if strings.HasSuffix(p, " (deleted)") {
		return "(unlinked)"
	}
	rel, err := filepath.Rel(t.backing, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return p
	}
	if strings.HasPrefix(rel, trashName+"/") {
		return "(unlinked)"
	}
	return filepath.ToSlash(rel)
}

// knownInodes lists the kernel inodes of every tracked file.
func (t *tracker) knownInodes() []*fs.Inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*fs.Inode
	for _, st := range t.files {
		if st.inode != nil {
			out = append(out, st.inode)
		}
	}
	return out
}

// close forgets everything and closes every fd (at unmount).
func (t *tracker) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, st := range t.files {
		if st.fd >= 0 {
			unix.Close(st.fd)
			st.fd = -1
		}
		delete(t.files, k)
	}
	if t.spill != nil {
		t.spill.Close()
		t.spill = nil
	}
	t.mem, t.spillEnd, t.spillLive = 0, 0, 0
}

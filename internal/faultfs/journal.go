package faultfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// nsOp is one change to the names of the backing directory that is not
// durable yet.
type nsOp struct {
	kind     string // create, mkdir, mknod, symlink, link, unlink, rmdir, rename, exchange
	path, to string // relative slash paths; to only for rename and exchange
	dirs     []key  // the directories it changed: a fsync of one commits it
	target   key    // the inode it named (create, link, rename): its fsync commits it
	grave    string // where the unlinked or replaced inode waits (absolute), if anywhere
	// For rmdir, and a rename over an empty directory: the directory to
	// make again.
	dirGone          bool
	mode             uint32
	uid, gid         int
	broken           string // why it cannot be undone, if it cannot
	hasTarget, isDir bool
}

// journal is the ordered log of namespace changes not yet durable. Like the
// journal of ext4 or xfs it commits in order: making one change durable
// makes every earlier one durable too, so the changes not durable are
// always the newest ones, and undoing them newest first always finds the
// names as each change left them.
type journal struct {
	// mu is held across each change to the backing directory's names and
	// its entry in the log, so that the log's order is the order of the
	// changes.
	mu      sync.Mutex
	backing string
	trash   string
	ops     []nsOp
	seq     uint64
}

func newJournal(backing, trash string) *journal {
	return &journal{backing: backing, trash: trash}
}

// grave returns a fresh name in the trash. j.mu held.
func (j *journal) grave() string {
	j.seq++
	return filepath.Join(j.trash, strconv.FormatUint(j.seq, 10))
}

// maxPending bounds the log. Past it, the older half is taken as durable,
// as a journaling file system's periodic commit would have made it (ext4
// commits every five seconds): a node that never fsyncs cannot grow the
// log, and the trash, without end.
const maxPending = 1 << 16

// add logs a change just made. j.mu held.
func (j *journal) add(op nsOp) {
	j.ops = append(j.ops, op)
	if len(j.ops) > maxPending {
		j.commit(maxPending/2 - 1)
	}
}

// commitDir makes durable every change up to the last one that changed
// directory k.
func (j *journal) commitDir(k key) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := len(j.ops) - 1; i >= 0; i-- {
		for _, d := range j.ops[i].dirs {
			if d == k {
				j.commit(i)
				return
			}
		}
	}
}

// commitFile makes durable every change up to the last one that named
// inode k.
func (j *journal) commitFile(k key) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := len(j.ops) - 1; i >= 0; i-- {
		if j.ops[i].hasTarget && j.ops[i].target == k {
			j.commit(i)
			return
		}
	}
}

// commit drops ops[0..i] from the log, and what their graves held. j.mu
// held.
func (j *journal) commit(i int) {
	for _, op := range j.ops[:i+1] {
		if op.grave != "" {
			os.RemoveAll(op.grave)
		}
	}
	j.ops = append([]nsOp(nil), j.ops[i+1:]...)
}

// commitAll makes every change durable.
func (j *journal) commitAll() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.ops) > 0 {
		j.commit(len(j.ops) - 1)
	}
}

// pending counts the changes not durable.
func (j *journal) pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.ops)
}

// LostName is a change to names that a power loss undid.
type LostName struct {
	// Op is the change: create, mkdir, mknod, symlink, link, unlink,
	// rmdir, rename or exchange.
	Op string
	// Path is the name it made, removed or renamed (relative to the
	// backing directory); To is where a rename or exchange went.
	Path, To string
	// Err says what could not be undone, if anything.
	Err string
}

func (l LostName) String() string {
	s := l.Op + " " + l.Path
	if l.To != "" {
		s += " -> " + l.To
	}
	s += " undone"
	if l.Err != "" {
		s += ": " + l.Err
	}
	return s
}

// undoAll undoes every change not durable, newest first, and empties the
// log. It returns what it undid, newest first. The caller holds the world
// lock.
func (j *journal) undoAll() []LostName {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []LostName
	for i := len(j.ops) - 1; i >= 0; i-- {
		op := j.ops[i]
		l := LostName{Op: op.kind, Path: op.path, To: op.to}
		if err := j.undo(op); err != nil {
			l.Err = err.Error()
		}
		out = append(out, l)
	}
	j.ops = nil
	j.emptyTrash()
	return out
}

func (j *journal) abs(rel string) string { return filepath.Join(j.backing, filepath.FromSlash(rel)) }

// undo puts the names back as they were before op.
func (j *journal) undo(op nsOp) error {
	if op.broken != "" {
		return errors.New(op.broken)
	}
	p := j.abs(op.path)
	switch op.kind {
	case "create", "mknod", "symlink", "link":
		return unix.Unlink(p)
	case "mkdir":
		if err := unix.Rmdir(p); err != nil {
			if err2 := os.RemoveAll(p); err2 != nil {
				return err2
			}
		}
		return nil
	case "unlink":
		return unix.Rename(op.grave, p)
	case "rmdir":
		return remakeDir(p, op)
	case "rename":
		to := j.abs(op.to)
		if err := unix.Rename(to, p); err != nil {
			return err
		}
		switch {
		case op.grave != "":
			return unix.Rename(op.grave, to)
		case op.dirGone:
			return remakeDir(to, op)
		}
		return nil
	case "exchange":
		return unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, j.abs(op.to), unix.RENAME_EXCHANGE)
	}
	return fmt.Errorf("unknown change %q", op.kind)
}

func remakeDir(p string, op nsOp) error {
	if err := unix.Mkdir(p, op.mode&0o7777); err != nil {
		return err
	}
	unix.Chmod(p, op.mode&0o7777) // mkdir applied the umask
	return unix.Lchown(p, op.uid, op.gid)
}

// emptyTrash removes whatever the trash holds. j.mu held.
func (j *journal) emptyTrash() {
	ents, err := os.ReadDir(j.trash)
	if err != nil {
		return
	}
	for _, e := range ents {
		os.RemoveAll(filepath.Join(j.trash, e.Name()))
	}
}

// discard forgets the log at unmount: what was done stays done, and the
// trash goes.
func (j *journal) discard() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ops = nil
	os.RemoveAll(j.trash)
}

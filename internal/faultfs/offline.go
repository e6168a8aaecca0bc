package faultfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Change is one change an offline fault made to a file of a backing
// directory.
type Change struct {
	// Path is the file, relative to the directory given (slash separated).
	Path string
	// Kind is "bitflip", "truncate", "restore" (content put back from a
	// Snapshot, or the file made again) or "remove" (a file the snapshot
	// did not have).
	Kind string
	// Offset, Bit, Old and New describe a bit flip: the byte at Offset
	// went from Old to New (bit Bit, 0 the lowest, flipped).
	Offset int64
	Bit    int
	Old    byte
	New    byte
	// OldSize and NewSize describe a truncate, restore or remove: the
	// file's size before and after (-1: it did not exist).
	OldSize, NewSize int64
}

func (c Change) String() string {
	switch c.Kind {
	case "bitflip":
		return fmt.Sprintf("%s: bit %d of byte %d flipped (%#02x -> %#02x)", c.Path, c.Bit, c.Offset, c.Old, c.New)
	default:
		return fmt.Sprintf("%s: %s, size %d -> %d", c.Path, c.Kind, c.OldSize, c.NewSize)
	}
}

// Corrupt flips bits distinct bits of the regular files of dir that match
// glob, each bit drawn uniformly from all the bytes of all those files (a
// bigger file takes more flips), and returns one Change per flip, in the
// order applied (two flips may hit one byte: each records the byte as it
// found it). Meant for the backing directory while the node is stopped.
//
// glob is relative to dir, with path.Match patterns per path element and
// "**" for any number of elements; "" means every file. Symbolic links are
// not followed, and the trash of a mount is skipped.
func Corrupt(dir, glob string, bits int, rnd *rand.Rand) ([]Change, error) {
	files, err := matchFiles(dir, glob)
	if err != nil {
		return nil, err
	}
	var total int64
	starts := make([]int64, len(files))
	for i, fi := range files {
		starts[i] = total
		total += fi.size
	}
	if bits <= 0 {
		return nil, nil
	}
	if total == 0 {
		return nil, fmt.Errorf("faultfs: no bytes to corrupt: %q in %s matches no non-empty file", glob, dir)
	}
	if int64(bits) > total*8 {
		return nil, fmt.Errorf("faultfs: %d bits asked, the files matching %q hold %d", bits, glob, total*8)
	}
	seen := map[int64]bool{}
	var changes []Change
	for len(changes) < bits {
		g := rnd.Int64N(total * 8)
		if seen[g] {
			continue
		}
		seen[g] = true
		b := g / 8
		i := sort.Search(len(starts), func(i int) bool { return starts[i] > b }) - 1
		c := Change{Path: files[i].rel, Kind: "bitflip", Offset: b - starts[i], Bit: int(g % 8)}
		if err := flip(filepath.Join(dir, filepath.FromSlash(c.Path)), &c); err != nil {
			return changes, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

func flip(p string, c *Change) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("faultfs: %w", err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], c.Offset); err != nil {
		return fmt.Errorf("faultfs: reading %s at %d: %w", c.Path, c.Offset, err)
	}
	c.Old = b[0]
	c.New = b[0] ^ (1 << c.Bit)
	b[0] = c.New
	if _, err := f.WriteAt(b[:], c.Offset); err != nil {
		return fmt.Errorf("faultfs: writing %s at %d: %w", c.Path, c.Offset, err)
	}
	return f.Close()
}

// Truncate cuts every non-empty regular file of dir matching glob to a
// length drawn uniformly from [0, its size), and returns one Change per
// file. glob is as for Corrupt.
func Truncate(dir, glob string, rnd *rand.Rand) ([]Change, error) {
	files, err := matchFiles(dir, glob)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, fi := range files {
		if fi.size == 0 {
			continue
		}
		c := Change{Path: fi.rel, Kind: "truncate", OldSize: fi.size, NewSize: rnd.Int64N(fi.size)}
		if err := os.Truncate(filepath.Join(dir, filepath.FromSlash(fi.rel)), c.NewSize); err != nil {
			return changes, fmt.Errorf("faultfs: %w", err)
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// Saved is a copy of some files of a directory, taken by Snapshot, kept
// in a temporary directory until Discard.
type Saved struct {
	dir, glob string
	tmp       string
	files     map[string]savedFile
}

type savedFile struct {
	copy string
	mode fs.FileMode
	size int64
}

// Snapshot copies the regular files of dir that match glob (as for
// Corrupt) into a temporary directory. Its disk cost is their size.
func Snapshot(dir, glob string) (*Saved, error) {
	files, err := matchFiles(dir, glob)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "lab-faultfs-snapshot-")
	if err != nil {
		return nil, err
	}
	s := &Saved{dir: dir, glob: glob, tmp: tmp, files: map[string]savedFile{}}
	for i, fi := range files {
		cp := filepath.Join(tmp, strconv.Itoa(i))
		if err := copyFile(filepath.Join(dir, filepath.FromSlash(fi.rel)), cp, 0o600); err != nil {
			s.Discard()
			return nil, err
		}
		s.files[fi.rel] = savedFile{copy: cp, mode: fi.mode, size: fi.size}
	}
	return s, nil
}

// Files lists the saved files' paths, sorted.
func (s *Saved) Files() []string {
	out := make([]string, 0, len(s.files))
	for p := range s.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Restore rolls the files matching the snapshot's glob back to the
// snapshot: saved files whose content differs (or that are gone) get the
// saved content and mode back, and matching files the snapshot did not
// have are removed. Files that did not change are left alone. It can be
// called again; the copy stays until Discard.
func (s *Saved) Restore() ([]Change, error) {
	if s.files == nil {
		return nil, errors.New("faultfs: Restore after Discard")
	}
	now, err := matchFiles(s.dir, s.glob)
	if err != nil {
		return nil, err
	}
	current := map[string]fileInfo{}
	for _, fi := range now {
		current[fi.rel] = fi
	}
	var changes []Change
	for _, rel := range s.Files() {
		sf := s.files[rel]
		p := filepath.Join(s.dir, filepath.FromSlash(rel))
		c := Change{Path: rel, Kind: "restore", OldSize: -1, NewSize: sf.size}
		if fi, ok := current[rel]; ok {
			c.OldSize = fi.size
			same, err := sameContent(p, sf.copy)
			if err != nil {
				return changes, err
			}
			if same && fi.mode == sf.mode {
				continue
			}
		} else if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changes, err
		}
		if err := copyFile(sf.copy, p, sf.mode); err != nil {
			return changes, err
		}
		if err := os.Chmod(p, sf.mode); err != nil {
			return changes, err
		}
		changes = append(changes, c)
	}
	for _, fi := range now {
		if _, ok := s.files[fi.rel]; ok {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, filepath.FromSlash(fi.rel))); err != nil {
			return changes, err
		}
		changes = append(changes, Change{Path: fi.rel, Kind: "remove", OldSize: fi.size, NewSize: -1})
	}
	return changes, nil
}

// Discard removes the saved copy.
func (s *Saved) Discard() error {
	s.files = nil
	return os.RemoveAll(s.tmp)
}

// copyFile copies src over dst (made with mode if new, truncated if not).
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			done := func(e error) bool { return e == io.EOF || e == io.ErrUnexpectedEOF }
			if done(ea) && done(eb) {
				return true, nil
			}
			if !done(ea) && ea != nil {
				return false, ea
			}
			if !done(eb) && eb != nil {
				return false, eb
			}
		}
	}
}

type fileInfo struct {
	rel  string
	size int64
	mode fs.FileMode
}

// matchFiles lists the regular files of dir matching glob, sorted by path.
func matchFiles(dir, glob string) ([]fileInfo, error) {
	pat, err := splitGlob(glob)
	if err != nil {
		return nil, err
	}
	var out []fileInfo
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == trashName {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !matchGlob(pat, strings.Split(rel, "/")) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fileInfo{rel: rel, size: info.Size(), mode: info.Mode().Perm()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

func splitGlob(glob string) ([]string, error) {
	glob = strings.Trim(glob, "/")
	if glob == "" {
		return []string{"**"}, nil
	}
	segs := strings.Split(glob, "/")
	for _, s := range segs {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return nil, fmt.Errorf("faultfs: bad glob %q: %w", glob, err)
		}
	}
	return segs, nil
}

// matchGlob matches path elements against pattern elements; "**" matches
// any number of elements, none included.
func matchGlob(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchGlob(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], name[0])
	return ok && matchGlob(pat[1:], name[1:])
}

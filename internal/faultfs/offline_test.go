package faultfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fillDir makes a directory of files with known, varied content.
func fillDir(t *testing.T) (dir string, content map[string][]byte) {
	t.Helper()
	dir = t.TempDir()
	rnd := rand.New(rand.NewPCG(7, 7))
	content = map[string][]byte{}
	for _, rel := range []string{"wal/0001.wal", "wal/0002.wal", "snap/db", "snap/deep/x.snap", "member.id", "empty.wal"} {
		n := 100 + rnd.IntN(3000)
		if rel == "empty.wal" {
			n = 0
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		content[rel] = b
		writeFile(t, filepath.Join(dir, rel), string(b))
	}
	// A mount's trash is never touched.
	writeFile(t, filepath.Join(dir, trashName, "1"), "in the trash")
	return dir, content
}

func TestGlob(t *testing.T) {
	cases := []struct {
		glob string
		want []string
	}{
		{"", []string{"empty.wal", "member.id", "snap/db", "snap/deep/x.snap", "wal/0001.wal", "wal/0002.wal"}},
		{"**", []string{"empty.wal", "member.id", "snap/db", "snap/deep/x.snap", "wal/0001.wal", "wal/0002.wal"}},
		{"**/*.wal", []string{"empty.wal", "wal/0001.wal", "wal/0002.wal"}},
		{"wal/*", []string{"wal/0001.wal", "wal/0002.wal"}},
		{"snap/**", []string{"snap/db", "snap/deep/x.snap"}},
		{"snap/**/*.snap", []string{"snap/deep/x.snap"}},
		{"*.id", []string{"member.id"}},
		{"nothing/*", nil},
	}
	dir, _ := fillDir(t)
	for _, c := range cases {
		fs, err := matchFiles(dir, c.glob)
		if err != nil {
			t.Fatalf("%q: %v", c.glob, err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.rel)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("glob %q matched %q, want %q", c.glob, got, c.want)
		}
	}
	if _, err := matchFiles(dir, "wal/[x"); err == nil {
		t.Error("a bad glob was accepted")
	}
}

// Corrupt changes exactly the bytes it reports, and nothing else.
func TestCorrupt(t *testing.T) {
	dir, before := fillDir(t)
	changes, err := Corrupt(dir, "wal/*", 40, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 40 {
		t.Fatalf("%d changes, want 40", len(changes))
	}
	want := map[string][]byte{}
	for rel, b := range before {
		want[rel] = bytes.Clone(b)
	}
	type bit struct {
		path string
		off  int64
		bit  int
	}
	seen := map[bit]bool{}
	for _, c := range changes {
		if c.Kind != "bitflip" || c.Old^c.New != 1<<c.Bit {
			t.Errorf("change %v does not flip one bit", c)
		}
		b := want[c.Path]
		if b[c.Offset] != c.Old {
			t.Errorf("change %v: the byte was %#02x", c, b[c.Offset])
		}
		b[c.Offset] = c.New
		id := bit{c.Path, c.Offset, c.Bit}
		if seen[id] {
			t.Errorf("bit flipped twice: %v", c)
		}
		seen[id] = true
	}
	for rel, w := range want {
		got := []byte(readFile(t, filepath.Join(dir, rel)))
		if !bytes.Equal(got, w) {
			for i := range min(len(got), len(w)) {
				if got[i] != w[i] {
					t.Errorf("%s: byte %d is %#02x, want %#02x", rel, i, got[i], w[i])
				}
			}
			if len(got) != len(w) {
				t.Errorf("%s: %d bytes, want %d", rel, len(got), len(w))
			}
		}
	}
	if readFile(t, filepath.Join(dir, trashName, "1")) != "in the trash" {
		t.Error("the trash was corrupted")
	}
	// Same seed, same flips.
	dir2, _ := fillDir(t)
	again, err := Corrupt(dir2, "wal/*", 40, rand.New(rand.NewPCG(1, 2)))
	if err != nil || !slices.Equal(again, changes) {
		t.Errorf("the same seed flipped other bits (%v)", err)
	}
	if _, err := Corrupt(dir, "nothing/*", 1, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Error("corrupting no file said nothing")
	}
}

// Truncate cuts each matching file to the length it reports.
func TestTruncate(t *testing.T) {
	dir, before := fillDir(t)
	changes, err := Truncate(dir, "**/*.wal", rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range changes {
		paths = append(paths, c.Path)
		if c.Kind != "truncate" || c.OldSize != int64(len(before[c.Path])) || c.NewSize < 0 || c.NewSize >= c.OldSize {
			t.Errorf("change %v", c)
		}
		got := []byte(readFile(t, filepath.Join(dir, c.Path)))
		if !bytes.Equal(got, before[c.Path][:c.NewSize]) {
			t.Errorf("%s: %d bytes left, want the first %d", c.Path, len(got), c.NewSize)
		}
	}
	// The empty file is left alone: nothing to cut.
	if !slices.Equal(paths, []string{"wal/0001.wal", "wal/0002.wal"}) {
		t.Errorf("truncated %q", paths)
	}
	if got := readFile(t, filepath.Join(dir, "member.id")); got != string(before["member.id"]) {
		t.Error("a file the glob did not match changed")
	}
}

// Restore puts back the old bytes of changed, cut and removed files, and
// removes files the snapshot did not have.
func TestSnapshotRestore(t *testing.T) {
	dir, before := fillDir(t)
	s, err := Snapshot(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	if len(s.Files()) != len(before) {
		t.Fatalf("saved %q", s.Files())
	}
	if _, err := Corrupt(dir, "snap/db", 8, rand.New(rand.NewPCG(5, 6))); err != nil {
		t.Fatal(err)
	}
	if _, err := Truncate(dir, "wal/0001.wal", rand.New(rand.NewPCG(5, 6))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "snap/deep/x.snap")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "snap/deep"))
	writeFile(t, filepath.Join(dir, "wal/0003.wal"), "written after the snapshot")
	if err := os.Chmod(filepath.Join(dir, "member.id"), 0o600); err != nil {
		t.Fatal(err)
	}

	changes, err := s.Restore()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Path] = c
	}
	wantKinds := map[string]string{
		"snap/db": "restore", "wal/0001.wal": "restore", "snap/deep/x.snap": "restore",
		"member.id": "restore", "wal/0003.wal": "remove",
	}
	if len(got) != len(wantKinds) {
		t.Errorf("changes %v", changes)
	}
	for p, k := range wantKinds {
		if got[p].Kind != k {
			t.Errorf("%s: change %v, want %s", p, got[p], k)
		}
	}
	if c := got["snap/deep/x.snap"]; c.OldSize != -1 || c.NewSize != int64(len(before[c.Path])) {
		t.Errorf("restored removed file: %v", c)
	}
	for rel, b := range before {
		if readFile(t, filepath.Join(dir, rel)) != string(b) {
			t.Errorf("%s does not hold its old bytes", rel)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "member.id")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("member.id mode %v, %v", st.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "wal/0003.wal")); !os.IsNotExist(err) {
		t.Errorf("the file made after the snapshot is still there: %v", err)
	}
	// Nothing changed since: nothing to do.
	if again, err := s.Restore(); err != nil || len(again) != 0 {
		t.Errorf("second Restore: %v, %v", again, err)
	}
}

package faultfs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Writes never fsynced are gone after a power loss: overwritten and
// appended bytes of an old file, a new file, a new directory.
func TestPowerLossDropsUnsyncedWrites(t *testing.T) {
	const old = "durable content, written before the mount\n"
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "a"), old)
		writeFile(t, filepath.Join(b, "sub", "b"), old)
	})

	w, err := os.OpenFile(filepath.Join(mnt, "a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("OVERWRITTEN"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte(" and appended"), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Truncate(filepath.Join(mnt, "sub", "b"), 5); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "new"), "never fsynced")
	if err := os.Mkdir(filepath.Join(mnt, "newdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "newdir", "inner"), "x")
	if got := readFile(t, filepath.Join(backing, "a")); got == old {
		t.Fatal("the write did not reach the backing file")
	}

	r := powerLoss(t, f)
	wantContent(t, backing, mnt, "a", old)
	wantContent(t, backing, mnt, "sub/b", old)
	wantGone(t, backing, mnt, "new")
	wantGone(t, backing, mnt, "newdir")

	var paths []string
	for _, l := range r.Files {
		paths = append(paths, l.Path)
		if l.Path == "a" && (l.Writes != 2 || l.Bytes != int64(len("OVERWRITTEN")+len(" and appended")) || l.SizeAfter != int64(len(old))) {
			t.Errorf("report of a: %+v", l)
		}
	}
	for _, want := range []string{"a", "sub/b", "new", "newdir/inner"} {
		if !slices.Contains(paths, want) {
			t.Errorf("report lists files %v, want %s among them", paths, want)
		}
	}
	var names []string
	for _, l := range r.Names {
		names = append(names, l.Op+" "+l.Path)
	}
	if !slices.Equal(names, []string{"create newdir/inner", "mkdir newdir", "create new"}) {
		t.Errorf("names undone: %q", names)
	}

	// Nothing left to drop.
	if r2 := powerLoss(t, f); !r2.Empty() {
		t.Errorf("a second power loss dropped %v", r2)
	}
}

// What was fsynced stays: data by the file's fsync, names by their
// directory's fsync or (by default) by the new file's own fsync.
func TestFsyncKeepsWrites(t *testing.T) {
	for _, strict := range []bool{false, true} {
		name := "default"
		if strict {
			name = "StrictDirSync"
		}
		t.Run(name, func(t *testing.T) {
			f, backing, mnt := mountT(t, Options{StrictDirSync: strict}, func(b string) {
				writeFile(t, filepath.Join(b, "old"), "v1")
				os.Mkdir(filepath.Join(b, "d"), 0o755)
			})
			writeSync(t, filepath.Join(mnt, "old"), "v2, fsynced")
			// made, fsynced, directory fsynced: all stays
			writeSync(t, filepath.Join(mnt, "d", "both"), "both fsynced")
			syncDir(t, filepath.Join(mnt, "d"))
			// made, only the directory fsynced: the name stays, the data not
			writeFile(t, filepath.Join(mnt, "d", "dironly"), "data never fsynced")
			syncDir(t, filepath.Join(mnt, "d"))
			// made and fsynced, directory not: depends on the rule
			writeSync(t, filepath.Join(mnt, "fileonly"), "file fsynced")
			// a durable file changed again after its fsync
			writeSync(t, filepath.Join(mnt, "twice"), "first")
			syncDir(t, mnt)
			writeFile(t, filepath.Join(mnt, "twice"), "second, not fsynced")

			powerLoss(t, f)
			wantContent(t, backing, mnt, "old", "v2, fsynced")
			wantContent(t, backing, mnt, "d/both", "both fsynced")
			wantContent(t, backing, mnt, "d/dironly", "")
			wantContent(t, backing, mnt, "twice", "first")
			// "fileonly" was made before "twice", whose directory fsync
			// committed every earlier change: it stays under either rule. A
			// file made after the last directory fsync shows the difference.
			wantContent(t, backing, mnt, "fileonly", "file fsynced")

			writeSync(t, filepath.Join(mnt, "late"), "fsynced, directory not")
			powerLoss(t, f)
			if strict {
				wantGone(t, backing, mnt, "late")
			} else {
				wantContent(t, backing, mnt, "late", "fsynced, directory not")
			}
		})
	}
}

// Renames, unlinks and rmdirs not made durable are undone; the replaced
// file of an atomic replace comes back.
func TestRenameDurability(t *testing.T) {
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "cfg"), "v1")
		writeFile(t, filepath.Join(b, "x"), "x survives an undurable unlink")
		writeFile(t, filepath.Join(b, "y"), "y is gone for good")
		os.MkdirAll(filepath.Join(b, "emptydir"), 0o750)
		os.MkdirAll(filepath.Join(b, "from"), 0o755)
		os.MkdirAll(filepath.Join(b, "to"), 0o755)
		writeFile(t, filepath.Join(b, "from", "moved"), "moved")
		writeFile(t, filepath.Join(b, "full", "inside"), "inside")
		os.MkdirAll(filepath.Join(b, "hollow"), 0o711)
	})

	// The atomic replace, without the directory fsync: undone, and the
	// temporary file (made durable by its own fsync) is back.
	writeSync(t, filepath.Join(mnt, "cfg.tmp"), "v2")
	if err := os.Rename(filepath.Join(mnt, "cfg.tmp"), filepath.Join(mnt, "cfg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "emptydir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "from", "moved"), filepath.Join(mnt, "to", "moved")); err != nil {
		t.Fatal(err)
	}
	// A directory renamed over an empty one (os.Rename refuses to try).
	if err := unix.Rename(filepath.Join(mnt, "full"), filepath.Join(mnt, "hollow")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, backing, mnt, "cfg", "v2")
	wantGone(t, backing, mnt, "x")
	wantContent(t, backing, mnt, "hollow/inside", "inside")

	// The trash is not visible through the mount.
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == trashName {
			t.Errorf("%s is listed through the mount", trashName)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, trashName)); !os.IsNotExist(err) {
		t.Errorf("stat of the trash through the mount: %v", err)
	}

	powerLoss(t, f)
	wantContent(t, backing, mnt, "cfg", "v1")
	wantContent(t, backing, mnt, "cfg.tmp", "v2")
	wantContent(t, backing, mnt, "x", "x survives an undurable unlink")
	wantContent(t, backing, mnt, "from/moved", "moved")
	wantGone(t, backing, mnt, "to/moved")
	for dir, mode := range map[string]os.FileMode{"emptydir": 0o750, "hollow": 0o711} {
		if st, err := os.Stat(filepath.Join(backing, dir)); err != nil || !st.IsDir() || st.Mode().Perm() != mode {
			t.Errorf("%s after the power loss: %v, %v", dir, st, err)
		}
	}
	wantContent(t, backing, mnt, "full/inside", "inside")
	wantGone(t, backing, mnt, "hollow/inside")

	// With the directory fsync, the replace and the unlink stay.
	if err := os.Rename(filepath.Join(mnt, "cfg.tmp"), filepath.Join(mnt, "cfg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "y")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	// A cross-directory rename is durable when either directory is synced.
	if err := os.Rename(filepath.Join(mnt, "from", "moved"), filepath.Join(mnt, "to", "moved")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, filepath.Join(mnt, "to"))
	powerLoss(t, f)
	wantContent(t, backing, mnt, "cfg", "v2")
	wantGone(t, backing, mnt, "cfg.tmp")
	wantGone(t, backing, mnt, "y")
	wantContent(t, backing, mnt, "to/moved", "moved")
	wantGone(t, backing, mnt, "from/moved")

	// The trash holds nothing once everything is durable.
	left, err := os.ReadDir(filepath.Join(backing, trashName))
	if err != nil || len(left) != 0 {
		t.Errorf("trash after the power loss: %v, %v", left, err)
	}
}

// Past MaxMemory, the kept bytes go to the spill file, and come back from
// it; runs of zeros (preallocated space) cost no memory.
func TestPowerLossSpillAndZeros(t *testing.T) {
	random := make([]byte, 256<<10)
	for i := range random {
		random[i] = byte(i*7 + i/251)
	}
	f, backing, mnt := mountT(t, Options{MaxMemory: 16 << 10}, func(b string) {
		writeFile(t, filepath.Join(b, "data"), string(random))
		// Preallocated: a megabyte of zeros.
		writeFile(t, filepath.Join(b, "wal"), string(make([]byte, 1<<20)))
	})
	over := make([]byte, len(random))
	for i := range over {
		over[i] = 0xAA
	}
	for _, name := range []string{"data", "wal"} {
		w, err := os.OpenFile(filepath.Join(mnt, name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		// In pieces, out of order, overlapping.
		for _, off := range []int{100 << 10, 0, 50 << 10, 200 << 10, 120 << 10} {
			if _, err := w.WriteAt(over[off:min(off+64<<10, len(over))], int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	f.data.mu.Lock()
	mem, spilled := f.data.mem, f.data.spillLive
	var states []*fileState
	for _, st := range f.data.files {
		states = append(states, st)
	}
	f.data.mu.Unlock()
	if mem > 16<<10 {
		t.Errorf("%d bytes kept in memory, over the cap", mem)
	}
	if spilled == 0 {
		t.Error("nothing spilled")
	}
	for _, st := range states {
		st.mu.Lock()
		for _, c := range st.chunks {
			if c.off >= int64(len(random)) || (st.durable == 1<<20 && !c.zero) {
				t.Errorf("chunk %+v of a file of %d bytes", c, st.durable)
			}
		}
		st.mu.Unlock()
	}

	powerLoss(t, f)
	wantContent(t, backing, mnt, "data", string(random))
	wantContent(t, backing, mnt, "wal", string(make([]byte, 1<<20)))
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	if f.data.mem != 0 || f.data.spillLive != 0 || f.data.spillEnd != 0 {
		t.Errorf("after the power loss: %d bytes in memory, %d spilled (end %d)", f.data.mem, f.data.spillLive, f.data.spillEnd)
	}
}

// Writers at work on several files at once, each fsyncing now and then:
// after the power loss every file holds what it held at its last fsync.
func TestPowerLossConcurrentWriters(t *testing.T) {
	const writers, steps = 6, 300
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		for i := range writers {
			writeFile(t, filepath.Join(b, fmt.Sprintf("f%d", i)), strings.Repeat(string(rune('a'+i)), 5000))
		}
	})
	durable := make([][]byte, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 99))
			name := fmt.Sprintf("f%d", i)
			model := []byte(strings.Repeat(string(rune('a'+i)), 5000))
			durable[i] = bytes.Clone(model)
			w, err := os.OpenFile(filepath.Join(mnt, name), os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			for range steps {
				switch rnd.IntN(8) {
				case 0:
					if err := w.Sync(); err != nil {
						t.Error(err)
						return
					}
					durable[i] = bytes.Clone(model)
				case 1:
					n := rnd.IntN(len(model) + 1)
					if err := w.Truncate(int64(n)); err != nil {
						t.Error(err)
						return
					}
					model = model[:n]
				default:
					off := rnd.IntN(len(model) + 100)
					buf := make([]byte, 1+rnd.IntN(3000))
					for j := range buf {
						buf[j] = byte(rnd.UintN(256))
					}
					if _, err := w.WriteAt(buf, int64(off)); err != nil {
						t.Error(err)
						return
					}
					if end := off + len(buf); end > len(model) {
						model = append(model, make([]byte, end-len(model))...)
					}
					copy(model[off:], buf)
				}
			}
			if got := readFile(t, filepath.Join(backing, name)); got != string(model) {
				t.Errorf("%s: the backing file is not what was written", name)
			}
		}()
	}
	wg.Wait()
	powerLoss(t, f)
	for i := range writers {
		wantContent(t, backing, mnt, fmt.Sprintf("f%d", i), string(durable[i]))
	}
}

// Several goroutines open, write, fsync, truncate and close one file at
// once: no race (under -race), no deadlock, and a power loss after them
// leaves the file as some fsync saw it (here: every region written by its
// goroutine before that goroutine's last fsync, which is the end).
func TestConcurrentHandlesOneFile(t *testing.T) {
	const goroutines, rounds, region = 4, 100, 4096
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "shared"), strings.Repeat(".", goroutines*region))
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := []byte(strings.Repeat(string(rune('A'+g)), region))
			for r := range rounds {
				w, err := os.OpenFile(filepath.Join(mnt, "shared"), os.O_RDWR, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := w.WriteAt(buf, int64(g*region)); err != nil {
					t.Error(err)
				}
				if r%10 == 0 {
					// Cutting nothing: the same size, through a truncation.
					if err := w.Truncate(goroutines * region); err != nil {
						t.Error(err)
					}
				}
				if r%3 == 0 || r == rounds-1 {
					if err := w.Sync(); err != nil {
						t.Error(err)
					}
				}
				w.Close()
			}
		}()
	}
	wg.Wait()
	var want strings.Builder
	for g := range goroutines {
		want.WriteString(strings.Repeat(string(rune('A'+g)), region))
	}
	powerLoss(t, f)
	wantContent(t, backing, mnt, "shared", want.String())
	// The kernel sends RELEASE after close returns: give it time.
	left := -1
	for deadline := time.Now().Add(10 * time.Second); left != 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.data.mu.Lock()
		left = len(f.data.files)
		f.data.mu.Unlock()
	}
	if left != 0 {
		t.Errorf("%d file states left with every handle closed and the file clean", left)
	}
}

// TestSync: a write-back makes everything so far durable, data and names
// and an unlink; a power loss after it drops only what came after.
func TestSync(t *testing.T) {
	const old = "durable content, written before the mount\n"
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "a"), old)
		writeFile(t, filepath.Join(b, "gone"), old)
	})
	w, err := os.OpenFile(filepath.Join(mnt, "a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt([]byte("BEFORE"), 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "dir", "new"), "made before the write-back")
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("AFTER"), 10); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mnt, "later"), "made after it")

	r := powerLoss(t, f)
	wantContent(t, backing, mnt, "a", "BEFORE"+old[6:])
	wantContent(t, backing, mnt, "dir/new", "made before the write-back")
	wantGone(t, backing, mnt, "gone")
	wantGone(t, backing, mnt, "later")
	if len(r.Names) != 1 || r.Names[0].Path != "later" {
		t.Errorf("names undone %v, want only the creation of later", r.Names)
	}
	if ents, _ := os.ReadDir(filepath.Join(backing, trashName)); len(ents) != 0 {
		t.Errorf("the trash keeps %d entries after a write-back made the unlink durable", len(ents))
	}
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Unmount(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Error("Sync after Unmount: no error")
	}
}

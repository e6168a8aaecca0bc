package faultfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// With no fault active, what the node does reaches the backing directory
// as it did it.
func TestPassthrough(t *testing.T) {
	_, backing, mnt := mountT(t, Options{}, nil)
	m := func(rel string) string { return filepath.Join(mnt, rel) }
	b := func(rel string) string { return filepath.Join(backing, rel) }

	if err := os.Mkdir(m("d"), 0o750); err != nil {
		t.Fatal(err)
	}
	unix.Umask(0) // the modes asked for, exactly
	defer unix.Umask(0o022)
	if err := os.Mkdir(m("d/e"), 0o705); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(b("d/e")); err != nil || st.Mode().Perm() != 0o705 {
		t.Errorf("mkdir mode: %v, %v", st.Mode(), err)
	}
	writeFile(t, m("d/f"), "hello")
	if err := os.Chmod(m("d/f"), 0o640); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(b("d/f")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("chmod: %v, %v", st.Mode(), err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(m("d/f"), 1234, 5678); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(b("d/f"), &st); err != nil || st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("chown: %d:%d, %v", st.Uid, st.Gid, err)
		}
	}
	if err := os.Symlink("f", m("d/l")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(b("d/l")); err != nil || got != "f" {
		t.Errorf("symlink: %q, %v", got, err)
	}
	if got := readFile(t, m("d/l")); got != "hello" {
		t.Errorf("through the symlink: %q", got)
	}
	if err := os.Link(m("d/f"), m("d/h")); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(b("d/f"), &st); err != nil || st.Nlink != 2 {
		t.Errorf("link: nlink %d, %v", st.Nlink, err)
	}
	if err := os.Truncate(m("d/f"), 3); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b("d/h")); got != "hel" {
		t.Errorf("truncate: %q", got)
	}
	if err := unix.Mkfifo(m("d/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(b("d/fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("mkfifo: %o, %v", st.Mode, err)
	}

	// Appends.
	w, err := os.OpenFile(m("d/log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one ", "two ", "three"} {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if got := readFile(t, b("d/log")); got != "one two three" {
		t.Errorf("appends: %q", got)
	}

	// Extended attributes.
	if err := unix.Setxattr(m("d/f"), "user.lab", []byte("v"), 0); err != nil {
		t.Errorf("setxattr: %v", err)
	} else {
		buf := make([]byte, 16)
		n, err := unix.Getxattr(b("d/f"), "user.lab", buf)
		if err != nil || string(buf[:n]) != "v" {
			t.Errorf("xattr in the backing file: %q, %v", buf[:n], err)
		}
	}

	// Rename flags.
	writeFile(t, m("a"), "A")
	writeFile(t, m("b"), "B")
	if err := unix.Renameat2(unix.AT_FDCWD, m("a"), unix.AT_FDCWD, m("b"), unix.RENAME_NOREPLACE); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("RENAME_NOREPLACE over a file: %v", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, m("a"), unix.AT_FDCWD, m("b"), unix.RENAME_EXCHANGE); err != nil {
		t.Errorf("RENAME_EXCHANGE: %v", err)
	} else if readFile(t, b("a")) != "B" || readFile(t, b("b")) != "A" {
		t.Error("RENAME_EXCHANGE did not swap")
	}
	// Renaming a directory over an empty one (os.Rename refuses to try).
	if err := os.Mkdir(m("empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Rename(m("d/e"), m("empty")); err != nil {
		t.Errorf("rename over an empty directory: %v", err)
	}

	// An unnamed file.
	fd, err := unix.Open(mnt, unix.O_TMPFILE|unix.O_RDWR, 0o600)
	if err != nil {
		t.Logf("O_TMPFILE through the mount: %v (the kernel may not offer it to FUSE)", err)
	} else {
		if _, err := unix.Write(fd, []byte("tmp")); err != nil {
			t.Errorf("write to an O_TMPFILE: %v", err)
		}
		unix.Close(fd)
	}

	// Nothing of the lab's shows.
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "a b d empty" {
		t.Errorf("the mount lists %q", got)
	}
	if err := os.Mkdir(m(trashName), 0o755); err == nil {
		t.Error("the trash's name could be made through the mount")
	}
}

// Changes other than write are dropped too: fallocate, copy_file_range,
// a shared writable mapping, and an exchange of names.
func TestPowerLossOtherChanges(t *testing.T) {
	page := strings.Repeat("D", 8192)
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "hole"), page)
		writeFile(t, filepath.Join(b, "copydst"), page)
		writeFile(t, filepath.Join(b, "mapped"), page)
		writeFile(t, filepath.Join(b, "x"), "X")
		writeFile(t, filepath.Join(b, "y"), "Y")
		writeFile(t, filepath.Join(b, "direct"), page)
	})
	m := func(rel string) string { return filepath.Join(mnt, rel) }

	h, err := os.OpenFile(m("hole"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(h.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096); err != nil {
		t.Fatalf("punch hole: %v", err)
	}
	if err := unix.Fallocate(int(h.Fd()), 0, 8192, 4096); err != nil {
		t.Fatalf("fallocate past the end: %v", err)
	}
	h.Close()
	if got := readFile(t, filepath.Join(backing, "hole")); got == page {
		t.Fatal("fallocate changed nothing")
	}

	src, err := os.Open(m("x"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(m("copydst"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	offIn, offOut := int64(0), int64(100)
	if n, err := unix.CopyFileRange(int(src.Fd()), &offIn, int(dst.Fd()), &offOut, 1, 0); err != nil || n != 1 {
		t.Fatalf("copy_file_range: %d, %v", n, err)
	}
	src.Close()
	dst.Close()
	if got := readFile(t, filepath.Join(backing, "copydst")); got[100] != 'X' {
		t.Fatal("copy_file_range changed nothing")
	}

	// The mapping is written by a child process: a process that serves a
	// FUSE mount and also faults its pages in can deadlock on its own
	// address space (a test run hung that way, stuck in the kernel).
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMmapWrite$")
	cmd.Env = append(os.Environ(), mmapEnv+"="+m("mapped"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the child writing through a mapping: %v\n%s", err, out)
	}

	if err := unix.Renameat2(unix.AT_FDCWD, m("x"), unix.AT_FDCWD, m("y"), unix.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}

	// O_DIRECT, with the aligned buffer it needs.
	if fd, err := unix.Open(m("direct"), unix.O_RDWR|unix.O_DIRECT, 0); err != nil {
		t.Logf("O_DIRECT open through the mount: %v", err)
	} else {
		raw := make([]byte, 2*4096)
		buf := raw[4096-int(uintptr(unsafe.Pointer(&raw[0]))%4096):][:4096]
		copy(buf, strings.Repeat("Z", 4096))
		if _, err := unix.Pwrite(fd, buf, 4096); err != nil {
			t.Errorf("O_DIRECT write: %v", err)
		}
		unix.Close(fd)
	}

	r := powerLoss(t, f)
	wantContent(t, backing, mnt, "direct", page)
	wantContent(t, backing, mnt, "hole", page)
	wantContent(t, backing, mnt, "copydst", page)
	wantContent(t, backing, mnt, "mapped", page)
	wantContent(t, backing, mnt, "x", "X")
	wantContent(t, backing, mnt, "y", "Y")
	found := false
	for _, l := range r.Files {
		found = found || l.Path == "mapped"
	}
	if !found {
		t.Error("the report does not name the mapped file")
	}
}

// mmapEnv names the file TestHelperMmapWrite maps and writes.
const mmapEnv = "LAB_FAULTFS_MMAP"

// TestHelperMmapWrite is TestPowerLossOtherChanges's child: it writes
// "MAPPED" at offset 10 of a file through a shared writable mapping.
func TestHelperMmapWrite(t *testing.T) {
	path := os.Getenv(mmapEnv)
	if path == "" {
		t.Skip("the child process of TestPowerLossOtherChanges")
	}
	mf, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	mem, err := unix.Mmap(int(mf.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	copy(mem[10:], "MAPPED")
	if err := unix.Munmap(mem); err != nil {
		t.Fatal(err)
	}
}

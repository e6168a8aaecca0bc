package faultfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	mountpoint, fstype, source string
}

func readMountinfo() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mountEntry{
			mountpoint: unescapeMount(fields[4]),
			fstype:     fields[sep+1],
			source:     unescapeMount(fields[sep+2]),
		})
	}
	return out, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Leftover is a mount of this package found in the mount table.
type Leftover struct {
	// Mountpoint is where it is mounted.
	Mountpoint string
	// RunID is the run id it was mounted with ("none" when there was none).
	RunID string
}

// Leftovers lists the mounts of this package (type "fuse.lab-faultfs") in
// this process's mount namespace: those of live FSs too, so a cleanup
// should skip the run ids it knows to be running. A mount whose serving
// process died answers every access with ENOTCONN until UnmountStale
// removes it.
func Leftovers() ([]Leftover, error) {
	ms, err := readMountinfo()
	if err != nil {
		return nil, fmt.Errorf("faultfs: reading the mount table: %w", err)
	}
	var out []Leftover
	for _, m := range ms {
		if m.fstype != "fuse."+FSName {
			continue
		}
		run, _ := strings.CutPrefix(m.source, FSName+":")
		out = append(out, Leftover{Mountpoint: m.mountpoint, RunID: run})
	}
	return out, nil
}

// UnmountStale removes a mount of this package left at path (by a process
// killed before its Unmount): a plain unmount, else a lazy one. It refuses
// a path where no such mount is.
func UnmountStale(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	left, err := Leftovers()
	if err != nil {
		return err
	}
	found := false
	for _, l := range left {
		if l.Mountpoint == abs {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("faultfs: no %s mount at %s", FSName, abs)
	}
	err = unix.Unmount(abs, 0)
	if errors.Is(err, unix.EPERM) {
		err = fusermountU(abs, false)
	}
	if err != nil {
		if derr := detach(abs); derr != nil {
			return fmt.Errorf("faultfs: unmounting %s: %v; lazily: %w", abs, err, derr)
		}
	}
	return nil
}

func fusermountU(path string, lazy bool) error {
	args := []string{"-u", path}
	if lazy {
		args = []string{"-u", "-z", path}
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(bin); err == nil {
			out, err := exec.Command(p, args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", bin, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("no fusermount3 or fusermount on PATH")
}

// Probe says whether this machine can serve a faultfs mount: /dev/fuse
// there and openable, root or a fusermount helper, and a real mount of a
// scratch directory that writes, syncs and unmounts. The error names what
// is missing, for lab doctor.
func Probe(ctx context.Context) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("no /dev/fuse: load the fuse kernel module (modprobe fuse), or start the container with --device /dev/fuse")
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cannot open /dev/fuse: %v (it needs root, or read-write access to the device)", err)
	}
	unix.Close(fd)
	if os.Geteuid() != 0 {
		if err := fusermountUsable(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "lab-faultfs-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	backing, mnt := filepath.Join(tmp, "backing"), filepath.Join(tmp, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	f, err := Mount(ctx, backing, mnt, Options{RunID: "probe"})
	if err != nil {
		return fmt.Errorf("cannot mount FUSE: %v", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.Unmount(uctx)
	}()
	w, err := os.Create(filepath.Join(mnt, "probe"))
	if err == nil {
		_, err = w.WriteString("probe")
		if err == nil {
			err = w.Sync()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("FUSE mounted, but writing through it failed: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(backing, "probe"))
	if err != nil || string(b) != "probe" {
		return fmt.Errorf("FUSE mounted, but the write did not reach the backing directory (%q, %v)", b, err)
	}
	uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.Unmount(uctx); err != nil {
		return fmt.Errorf("FUSE mounted, but unmounting failed: %v", err)
	}
	return nil
}

// fusermountUsable checks that a non-root process has a fusermount that
// can mount: on PATH, and setuid root.
func fusermountUsable() error {
	for _, bin := range []string{"fusermount3", "fusermount"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		if st.Mode&unix.S_ISUID == 0 || st.Uid != 0 {
			return fmt.Errorf("not root, and %s is not setuid root, so it cannot mount: run the lab as root (it then mounts by itself), or chmod u+s %s", p, p)
		}
		return nil
	}
	return errors.New("not root and no fusermount3 or fusermount: run the lab as root (it then mounts by itself), or install Debian's fuse3 package")
}

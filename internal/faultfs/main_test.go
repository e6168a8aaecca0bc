package faultfs

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain arms a watchdog: a test of this package is both a FUSE server
// and its client, and a hung test killed by go test's timeout exits with
// files open on its own mount, waiting for an answer from the server it
// was, in the kernel, for ever (seen once: a process stuck in D state that
// nothing could kill). Shortly before the timeout the watchdog aborts the
// package's FUSE connections, so that the process can end and the run
// fails instead of hanging.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > 30*time.Second {
			time.AfterFunc(d-15*time.Second, func() {
				fmt.Fprintln(os.Stderr, "faultfs tests: the timeout is near; aborting this process's FUSE connections")
				abortConnections()
				panic("faultfs tests hung")
			})
		}
	}
	os.Exit(m.Run())
}

// abortConnections aborts the FUSE connection of every lab-faultfs mount,
// mounting fusectl first where it is not.
func abortConnections() {
	const ctl = "/sys/fs/fuse/connections"
	if _, err := os.Stat(filepath.Join(ctl, ".")); err == nil {
		if ents, _ := os.ReadDir(ctl); len(ents) == 0 {
			// Mounted only for the abort, and taken away after it: the
			// host is left as it was found.
			if unix.Mount("none", ctl, "fusectl", 0, "") == nil {
				defer unix.Unmount(ctl, 0)
			}
		}
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		// The fields after " - " are the type and source; the third field
		// is the device, major:minor, and a FUSE connection is named by its
		// minor number.
		sep := strings.Index(line, " - ")
		if len(f) < 5 || sep < 0 || !strings.Contains(line[sep:], "fuse.lab-faultfs") {
			continue
		}
		_, minor, ok := strings.Cut(f[2], ":")
		if ok {
			_ = os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0)
		}
	}
}

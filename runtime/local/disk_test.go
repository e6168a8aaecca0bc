package local_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/local"
)

// diskNode starts one node that writes two files in its data directory,
// one fsynced (with `sync FILE DIR`), one not, and sleeps.
func diskNode(t *testing.T, ctx context.Context) *local.Runtime {
	t.Helper()
	labtest.Root(t)
	if err := faultfs.Probe(ctx); err != nil {
		t.Skipf("no FUSE here: %v", err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	rt, err := local.New(ctx, testRunID(t), sh, runtime.Options{Disks: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := rt.DataDir("n1")
	script := `printf kept > ` + d + `/synced && sync ` + d + `/synced ` + d + ` && printf lost > ` + d + `/unsynced && echo written && exec sleep 600`
	if err := rt.Start(ctx, []runtime.NodeSpec{{Name: "n1", Args: []string{"-c", script}}}); err != nil {
		rt.Close(context.Background())
		t.Fatal(err)
	}
	err = runtime.WaitFor(ctx, 20*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		if logs, _ := rt.Logs(ctx, "n1", 0); !strings.Contains(logs, "written") {
			return errors.New("not yet: " + logs)
		}
		return nil
	})
	if err != nil {
		rt.Close(context.Background())
		t.Fatal(err)
	}
	return rt
}

// TestLocalPowerLoss: with disks, a node's data directory is a faultfs
// mount; a kill and a power loss drop what the node did not fsync; Close
// unmounts and removes everything.
func TestLocalPowerLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := diskNode(t, ctx)
	defer rt.Close(context.Background())
	disk, ok := rt.Disk("n1")
	if !ok {
		t.Fatal("no disk for n1")
	}
	if err := rt.Kill(ctx, "n1", "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	rep, err := disk.PowerLoss()
	if err != nil {
		t.Fatal(err)
	}
	d := rt.DataDir("n1")
	if b, err := os.ReadFile(filepath.Join(d, "synced")); err != nil || string(b) != "kept" {
		t.Errorf("the fsynced file reads %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(d, "unsynced")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file never fsynced survived the power loss: %v\n%s", err, rep)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := faultfs.Leftovers()
	for _, l := range left {
		if l.RunID == rt.RunID() {
			t.Errorf("mount %s left after Close", l.Mountpoint)
		}
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(d))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory after Close: %v", err)
	}
}

// TestLocalCleanupUnmountsDisks: a cleanup of a run its lab never closed
// unmounts the run's disks before it removes the working directory.
func TestLocalCleanupUnmountsDisks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := diskNode(t, ctx)
	defer rt.Close(context.Background())
	removed, err := local.Cleanup(ctx, rt.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed.Mounts) != 1 || removed.Mounts[0] != rt.DataDir("n1") {
		t.Errorf("cleanup removed mounts %q, want %s", removed.Mounts, rt.DataDir("n1"))
	}
	if _, err := os.Stat(rt.DataDir("n1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after cleanup: %v", err)
	}
	if err := rt.Close(ctx); err != nil {
		t.Errorf("Close after a cleanup: %v", err)
	}
}

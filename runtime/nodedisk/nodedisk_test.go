package nodedisk

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

func needFUSE(t *testing.T) {
	t.Helper()
	if err := faultfs.Probe(context.Background()); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("LAB_REQUIRE_DOCKER") != "" {
			t.Fatalf("FUSE is required here: %v", err)
		}
		t.Skipf("no FUSE here: %v", err)
	}
}

// TestPlainDirectories: without disks a set makes plain directories with
// the mode asked, and gives no disk.
func TestPlainDirectories(t *testing.T) {
	s := New("r1", runtime.Options{})
	dir := filepath.Join(t.TempDir(), "n1", "data")
	if err := s.Make(context.Background(), "n1", 0, dir, filepath.Join(filepath.Dir(dir), "disk"), 0o700); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory %v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "disk")); !os.IsNotExist(err) {
		t.Errorf("a backing directory was made without disks: %v", err)
	}
	if _, ok := s.Disk("n1"); ok || s.Mounts() {
		t.Error("a set without disks gives a disk")
	}
	if err := s.Unmount(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestDisks: with disks, the data directory is a mount with the backing
// directory's mode, one per node, gone after Unmount; UnmountUnder takes
// the lab's mounts under a directory and nothing else.
func TestDisks(t *testing.T) {
	needFUSE(t)
	ctx := context.Background()
	root := t.TempDir()
	s := New("nodedisk-test", runtime.Options{Disks: true, Seed: 9})
	for i, n := range []string{"n1", "n2"} {
		if err := s.Make(ctx, n, i, filepath.Join(root, n, "data"), filepath.Join(root, n, "disk"), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Make(ctx, "n1", 0, filepath.Join(root, "n1", "data"), filepath.Join(root, "n1", "disk"), 0o700); err == nil {
		t.Error("a second disk for n1 was made")
	}
	d, ok := s.Disk("n1")
	if !ok || d.Backing() != filepath.Join(root, "n1", "disk") {
		t.Fatalf("disk of n1: %v %v", d, ok)
	}
	if st, err := os.Stat(filepath.Join(root, "n1", "data")); err != nil || st.Mode().Perm() != 0o777 {
		t.Errorf("the mount's root: %v, %v", st, err)
	}
	if err := os.WriteFile(filepath.Join(root, "n1", "data", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "n1", "disk", "f")); err != nil || string(b) != "x" {
		t.Errorf("a write through the mount reached the backing directory as %q, %v", b, err)
	}

	// n2's mount, taken by UnmountUnder as a cleanup would; n1's stays.
	got, err := UnmountUnder(filepath.Join(root, "n2"))
	if err != nil || len(got) != 1 || got[0] != filepath.Join(root, "n2", "data") {
		t.Errorf("UnmountUnder(n2) = %q, %v", got, err)
	}
	if err := s.Unmount(ctx); err != nil {
		t.Fatal(err)
	}
	left, _ := faultfs.Leftovers()
	for _, l := range left {
		if l.RunID == "nodedisk-test" {
			t.Errorf("mount %s left", l.Mountpoint)
		}
	}
	if _, ok := s.Disk("n1"); ok {
		t.Error("a disk after Unmount")
	}
}

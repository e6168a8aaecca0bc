package faultfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a process that mounts and waits to be
// killed (TestHelperMount).
const helperEnv = "LAB_FAULTFS_HELPER"

func findLeftover(t *testing.T, mnt string) (Leftover, bool) {
	t.Helper()
	left, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.Mountpoint == mnt {
			return l, true
		}
	}
	return Leftover{}, false
}

// Unmount leaves no mount, even when a file is still open in it, and a
// second call does nothing.
func TestUnmount(t *testing.T) {
	requireFUSE(t)
	tmp := t.TempDir()
	backing, mnt := filepath.Join(tmp, "backing"), filepath.Join(tmp, "mnt")
	os.Mkdir(backing, 0o755)
	os.Mkdir(mnt, 0o755)
	ctx := context.Background()

	f, err := Mount(ctx, backing, mnt, Options{RunID: "unmount-test"})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := findLeftover(t, mnt)
	if !ok || l.RunID != "unmount-test" {
		t.Fatalf("the live mount is not listed: %+v", l)
	}
	writeFile(t, filepath.Join(mnt, "f"), "x")
	if err := f.Unmount(ctx); err != nil {
		t.Fatal(err)
	}
	if mounted(mnt) {
		t.Fatal("still mounted after Unmount")
	}
	if err := f.Unmount(ctx); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(backing, trashName)); !os.IsNotExist(err) {
		t.Errorf("the trash outlived the mount: %v", err)
	}
	if _, err := f.PowerLoss(); err == nil {
		t.Error("PowerLoss after Unmount did not fail")
	}

	// Busy: a file held open. Unmount detaches the mount lazily, then waits
	// for the file to close.
	f, err = Mount(ctx, backing, mnt, Options{RunID: "unmount-test"})
	if err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Unmount(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for mounted(mnt) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if mounted(mnt) {
		t.Error("a busy mount was not detached")
	}
	held.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Unmount of a busy mount: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Unmount did not return after the last file closed")
	}
}

// A mount whose process was killed is left behind: Leftovers finds it, and
// UnmountStale removes it.
func TestLeftovers(t *testing.T) {
	requireFUSE(t)
	tmp := t.TempDir()
	backing, mnt := filepath.Join(tmp, "backing"), filepath.Join(tmp, "mnt")
	os.Mkdir(backing, 0o755)
	os.Mkdir(mnt, 0o755)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMount$")
	cmd.Env = append(os.Environ(), helperEnv+"="+backing+"\n"+mnt)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Should anything below fail, leave no mount.
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if mounted(mnt) {
			UnmountStale(mnt)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "mounted" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	l, ok := findLeftover(t, mnt)
	if !ok {
		t.Fatal("Leftovers does not list the mount of the killed process")
	}
	if l.RunID != "helper-run" {
		t.Errorf("run id %q", l.RunID)
	}
	if _, err := os.Stat(filepath.Join(mnt, "f")); !errors.Is(err, syscall.ENOTCONN) {
		t.Logf("stat in the dead mount: %v (ENOTCONN expected)", err)
	}
	if err := UnmountStale(t.TempDir()); err == nil {
		t.Error("UnmountStale accepted a directory that is no mount of ours")
	}
	if err := UnmountStale(mnt); err != nil {
		t.Fatal(err)
	}
	if _, ok := findLeftover(t, mnt); ok || mounted(mnt) {
		t.Error("the mount is still there after UnmountStale")
	}
	if got := readFile(t, filepath.Join(backing, "f")); got != "written by the helper" {
		t.Errorf("backing file: %q", got)
	}
}

// TestHelperMount is the process TestLeftovers kills: it mounts, writes a
// file, says so, and waits.
func TestHelperMount(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("only a helper of TestLeftovers")
	}
	backing, mnt, _ := strings.Cut(spec, "\n")
	f, err := Mount(context.Background(), backing, mnt, Options{RunID: "helper-run"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(f.Mountpoint(), "f"), []byte("written by the helper"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Println("mounted")
	select {}
}

func TestProbe(t *testing.T) {
	requireFUSE(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Probe(ctx); err != nil {
		t.Fatal(err)
	}
}

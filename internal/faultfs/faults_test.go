package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SetErrors with fraction 1 fails every fsync, write or read asked for;
// Clear ends it.
func TestSetErrors(t *testing.T) {
	f, backing, mnt := mountT(t, Options{Seed: 42}, func(b string) {
		writeFile(t, filepath.Join(b, "old"), "durable")
	})
	p := filepath.Join(mnt, "f")
	w, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("data"); err != nil {
		t.Fatal(err)
	}

	f.SetErrors(1, OpFsync)
	if err := w.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync with errors set: %v, want EIO", err)
	}
	d, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("directory fsync with errors set: %v, want EIO", err)
	}
	d.Close()
	if _, err := w.WriteString(" more"); err != nil {
		t.Errorf("write with only fsync errors set: %v", err)
	}

	f.SetErrors(1, OpWrite)
	if _, err := w.WriteString(" lost"); !errors.Is(err, syscall.EIO) {
		t.Errorf("write with errors set: %v, want EIO", err)
	}
	if err := w.Sync(); err != nil {
		t.Errorf("fsync with only write errors set: %v", err)
	}
	if got := readFile(t, filepath.Join(backing, "f")); got != "data more" {
		t.Errorf("backing file holds %q after a failed write", got)
	}

	f.SetErrors(1, OpRead)
	if _, err := os.ReadFile(filepath.Join(mnt, "old")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read with errors set: %v, want EIO", err)
	}

	f.Clear()
	if _, err := w.WriteString(", cleared"); err != nil {
		t.Errorf("write after Clear: %v", err)
	}
	if err := w.Sync(); err != nil {
		t.Errorf("fsync after Clear: %v", err)
	}
	if got := readFile(t, filepath.Join(mnt, "old")); got != "durable" {
		t.Errorf("read after Clear: %q", got)
	}

	// A fraction fails some, drawn from the seed.
	f.SetErrors(0.5, OpWrite)
	fails := 0
	for range 200 {
		if _, err := w.WriteString("x"); err != nil {
			fails++
		}
	}
	f.Clear()
	if fails == 0 || fails == 200 {
		t.Errorf("%d of 200 writes failed at fraction 0.5", fails)
	}
	t.Logf("%d of 200 writes failed at fraction 0.5", fails)
}

// A failed fsync makes nothing durable: a power loss drops the writes.
func TestFailedFsyncIsNotDurable(t *testing.T) {
	f, backing, mnt := mountT(t, Options{}, func(b string) {
		writeFile(t, filepath.Join(b, "log"), "v1")
	})
	w, err := os.OpenFile(filepath.Join(mnt, "log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(" v2"); err != nil {
		t.Fatal(err)
	}
	f.SetErrors(1, OpFsync)
	if err := w.Sync(); err == nil {
		t.Fatal("fsync did not fail")
	}
	f.Clear()
	w.Close()
	powerLoss(t, f)
	wantContent(t, backing, mnt, "log", "v1")
}

// SetFsyncDelay holds every fsync at least the delay.
func TestSetFsyncDelay(t *testing.T) {
	f, _, mnt := mountT(t, Options{}, nil)
	w, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const d = 150 * time.Millisecond
	f.SetFsyncDelay(d)
	start := time.Now()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("fsync took %v with a delay of %v", took, d)
	}
	f.Clear()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

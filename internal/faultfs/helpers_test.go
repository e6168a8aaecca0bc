package faultfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// required is whether a test that cannot mount must fail rather than
// skip: the rule of the lab's other tests (CI, or LAB_REQUIRE_DOCKER set).
func required() bool {
	return os.Getenv("CI") != "" || os.Getenv("LAB_REQUIRE_DOCKER") != ""
}

// requireFUSE skips a test that mounts where /dev/fuse is absent, or fails
// it where the full suite is required.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if required() {
			t.Fatalf("/dev/fuse is required here (CI or LAB_REQUIRE_DOCKER) but absent: %v", err)
		}
		t.Skipf("no /dev/fuse (%v): these tests mount a FUSE file system (set LAB_REQUIRE_DOCKER=1 to make this a failure)", err)
	}
}

// mountT mounts a fresh backing directory, filled by setup first, and
// unmounts it at the end of the test, checking that nothing is left.
func mountT(t testing.TB, opts Options, setup func(backing string)) (f *FS, backing, mnt string) {
	t.Helper()
	requireFUSE(t)
	tmp := t.TempDir()
	backing, mnt = filepath.Join(tmp, "backing"), filepath.Join(tmp, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(backing)
	}
	if opts.RunID == "" {
		opts.RunID = "test"
	}
	f, err := Mount(context.Background(), backing, mnt, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Unmount(ctx); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		if mounted(mnt) {
			t.Errorf("%s still mounted after Unmount", mnt)
		}
	})
	return f, backing, mnt
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSync writes content to p (made or truncated) and fsyncs it.
func writeSync(t testing.TB, p, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// syncDir fsyncs a directory.
func syncDir(t testing.TB, p string) {
	t.Helper()
	d, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync of directory %s: %v", p, err)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantContent checks p's content, in the backing directory and through
// the mount alike.
func wantContent(t testing.TB, backing, mnt, rel, want string) {
	t.Helper()
	for _, root := range []string{backing, mnt} {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("%s: %v", filepath.Join(root, rel), err)
			continue
		}
		if !bytes.Equal(b, []byte(want)) {
			t.Errorf("%s holds %q, want %q", filepath.Join(root, rel), b, want)
		}
	}
}

// wantGone checks that rel exists neither in the backing directory nor
// through the mount.
func wantGone(t testing.TB, backing, mnt, rel string) {
	t.Helper()
	for _, root := range []string{backing, mnt} {
		if _, err := os.Lstat(filepath.Join(root, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: want it gone, stat says %v", filepath.Join(root, rel), err)
		}
	}
}

func powerLoss(t testing.TB, f *FS) Report {
	t.Helper()
	r, err := f.PowerLoss()
	if err != nil {
		t.Fatalf("PowerLoss: %v\n%s", err, r)
	}
	t.Logf("power loss:\n%s", strings.TrimSpace(r.String()))
	return r
}

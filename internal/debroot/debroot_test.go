package debroot

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRedisRoot builds redis-server's root from Debian's packages, runs
// the server's binary inside it (chroot: nothing of the host's libraries),
// and finds it in the cache the second time.
func TestRedisRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no apt-get on this host")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cache := t.TempDir()
	spec := Spec{Packages: []string{"redis-server"}, Binaries: []string{"/usr/bin/redis-server"}}
	var progress strings.Builder
	t0 := time.Now()
	root, built, err := Build(ctx, spec, cache, &progress)
	if err != nil {
		if os.Getenv("LAB_REQUIRE_DOCKER") == "" && strings.Contains(err.Error(), "apt-get") {
			t.Skipf("apt cannot reach a mirror: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("built in %s: %.1f MB, %d packages\n%s", time.Since(t0).Round(time.Millisecond), float64(root.Size)/1e6, len(root.Versions), progress.String())
	if !built || root.Versions["redis-server"] == "" {
		t.Fatalf("built=%v versions %v", built, root.Versions)
	}
	if _, err := os.Lstat(filepath.Join(root.Dir, "usr/bin/redis-server")); err != nil {
		t.Fatal(err)
	}
	// Perl and the like, which only maintainer scripts need, are left out.
	if _, err := os.Stat(filepath.Join(root.Dir, "usr/bin/perl")); err == nil {
		t.Error("the root holds perl: the reduction kept more than the binary needs")
	}
	out, err := exec.CommandContext(ctx, "chroot", root.Dir, "/usr/bin/redis-server", "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Redis server v=") {
		t.Fatalf("redis-server --version in the root: %v: %s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	again, built, err := Build(ctx, spec, cache, nil)
	if err != nil || built || again.Dir != root.Dir || again.Content != root.Content {
		t.Fatalf("second build: built=%v dir %s (first %s) err %v", built, again.Dir, root.Dir, err)
	}
}

func TestUnknownPackageIsNamed(t *testing.T) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Skip("no apt-cache on this host")
	}
	_, _, err := Build(context.Background(), Spec{Packages: []string{"no-such-package-lab"}, Binaries: []string{"/x"}}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "no-such-package-lab") {
		t.Fatalf("got %v", err)
	}
}

// TestParseStanzas reads several packages from one apt-cache answer: the
// first version of each, the first of each set of alternatives, no
// architecture qualifiers or version constraints.
func TestParseStanzas(t *testing.T) {
	in := "Package: a\nVersion: 1.0\nDepends: libx (>= 2), b | c, d:any\nPre-Depends: e\n\nPackage: libx\nVersion: 2.1\n\nPackage: a\nVersion: 0.9\n"
	got := parseStanzas([]byte(in))
	if len(got) != 2 || got["a"].version != "1.0" || strings.Join(got["a"].deps, " ") != "libx b d e" || got["libx"].version != "2.1" {
		t.Fatalf("parsed %+v", got)
	}
}

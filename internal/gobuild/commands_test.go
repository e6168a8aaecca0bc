package gobuild

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandsBuildOnce builds two programs of one module with one go
// build, a version set by -X, into one cache directory, then finds them
// there without the go command.
func TestCommandsBuildOnce(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	main := []byte("package main\n\nvar word = \"unset\"\n\nfunc main() { println(word) }\n")
	files := map[string][]byte{
		"go.mod":          []byte("module lab.local/two\n\ngo 1.21\n"),
		"cmd/one/main.go": main,
		"cmd/two/main.go": main,
	}
	c := Commands{
		Name:     "two",
		Version:  "1.0.0",
		Files:    files,
		Packages: map[string]string{"one": "lab.local/two/cmd/one", "two": "lab.local/two/cmd/two"},
		LDFlags:  []string{"-X main.word=set"},
		Content:  ContentHash(files, "one two\n"),
	}
	dir, err := c.Dir()
	if err != nil || dir != filepath.Join(cache, "lab", "two-1.0.0-"+c.Content[:12]) {
		t.Fatalf("Dir() = %s, %v", dir, err)
	}
	if cached, err := c.Cached(); cached || err != nil {
		t.Fatalf("Cached() = %v, %v before the build", cached, err)
	}
	var progress bytes.Buffer
	paths, built, err := c.BuildOnce(context.Background(), &progress)
	if err != nil || !built {
		t.Fatalf("BuildOnce = %v, %v, %v (output %s)", paths, built, err, progress.String())
	}
	for _, name := range []string{"one", "two"} {
		if paths[name] != filepath.Join(dir, name) {
			t.Errorf("path of %s = %s", name, paths[name])
		}
		out, err := exec.Command(paths[name]).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "set" {
			t.Errorf("%s printed %q, %v; want the word set by -X", name, out, err)
		}
	}
	// Only the cache directory is left in lab/: no temporary build tree.
	if entries, _ := os.ReadDir(filepath.Join(cache, "lab")); len(entries) != 1 {
		t.Errorf("lab/ holds %d entries, want 1", len(entries))
	}
	t.Setenv("PATH", "")
	if again, built, err := c.BuildOnce(context.Background(), nil); built || err != nil || again["one"] != paths["one"] {
		t.Errorf("second BuildOnce = %v, %v, %v; want the cached binaries", again, built, err)
	}
	// One binary missing: the set is not cached, and is built again.
	os.Remove(paths["two"])
	if cached, _ := c.Cached(); cached {
		t.Error("Cached() with a binary missing")
	}
}

// TestCommandsNaming: a binary must carry its package's name, as go build
// -o dir/ names it.
func TestCommandsNaming(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	c := Commands{Name: "x", Version: "1", Files: map[string][]byte{"go.mod": []byte("module m\n")},
		Packages: map[string]string{"other": "m/cmd/one"}, Content: strings.Repeat("0", 64)}
	if _, _, err := c.BuildOnce(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "not named by") {
		t.Errorf("BuildOnce = %v, want a naming error", err)
	}
}

package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildErrorTail: a failed step's error ends with the last lines of
// the go command's output.
func TestBuildErrorTail(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"\n\na\nb\n\n", 10, "a\nb"},
		{"only", 3, "only"},
		{"", 3, ""},
	} {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestBuildInstallsAtomically: the binary is renamed into place,
// executable, over an older one, leaving no temporary file.
func TestBuildInstallsAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "prog")
	for _, data := range []string{"first", "second"} {
		if err := writeExecutableAtomically(path, []byte(data), "prog-*.tmp"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != data {
			t.Fatalf("read %q, %v; want %q", b, err, data)
		}
		if !isExecutable(path) {
			t.Errorf("%s is not executable", path)
		}
	}
	// Nothing but the binary is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 || entries[0].Name() != "prog" {
		t.Errorf("the directory holds %v, want only prog", entries)
	}
	// A directory in the way of the rename is an error, and no temporary
	// file stays.
	if err := writeExecutableAtomically(dir, []byte("x"), "prog-*.tmp"); err == nil {
		t.Errorf("writing over a directory succeeded")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "prog-*.tmp")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestContentHashLayout pins what the hash covers, since it names the
// cache directories of binaries built before.
func TestContentHashLayout(t *testing.T) {
	files := map[string][]byte{"main.go": []byte("package main\n"), "go.mod": []byte("module m\n")}
	h := sha256.New()
	h.Write([]byte("go.mod 9\nmodule m\nmain.go 13\npackage main\ngo get m@v1\n" + goVersion() + "linux/amd64"))
	if got, want := ContentHash(files, "go get m@v1\n"), hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("ContentHash = %s, want %s", got, want)
	}
	base := ContentHash(files, "r\n")
	if ContentHash(files, "r\n") != base {
		t.Error("ContentHash is not stable")
	}
	if ContentHash(files, "s\n") == base {
		t.Error("ContentHash ignores the requirement")
	}
	if ContentHash(map[string][]byte{"main.go": []byte("package main\n")}, "r\n") == base {
		t.Error("ContentHash ignores a file")
	}
}

// TestBuildOnceCachePath: the cache directory is named by the name, the
// version and the content, and a cached binary is not built again.
func TestBuildOnceCachePath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	p := Program{Name: "etcd", Version: "3.5.5", Binary: "etcd", Content: strings.Repeat("ab", 32)}
	path, err := p.Path()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "lab", "etcd-3.5.5-abababababab", "etcd"); path != want {
		t.Errorf("Path() = %s, want %s", path, want)
	}
	if cached, err := p.Cached(); cached || err != nil {
		t.Errorf("Cached() = %v, %v before anything is built", cached, err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte("x"), 0o644)
	if cached, _ := p.Cached(); cached {
		t.Error("Cached() is true of a file that is not executable")
	}
	os.Chmod(path, 0o755)
	if cached, _ := p.Cached(); !cached {
		t.Error("Cached() is false of the executable")
	}
	// A cached binary is not built again: no go command is asked.
	t.Setenv("PATH", "")
	got, built, err := p.BuildOnce(context.Background(), nil)
	if got != path || built || err != nil {
		t.Errorf("BuildOnce of a cached binary = %s, %v, %v; want %s, false, nil", got, built, err, path)
	}
	p.Version = "3.5.6"
	if _, _, err := p.BuildOnce(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "the Go toolchain is needed to build etcd 3.5.6 once") {
		t.Errorf("BuildOnce without go = %v, want it to say go is needed", err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := p.Path(); err == nil || !strings.HasPrefix(err.Error(), "etcd binary: no cache directory") {
		t.Errorf("Path() without a cache directory = %v", err)
	}
}

// TestBuildOnce builds a small program from a complete module (no `go
// get`, -mod=readonly, no proxy) into the cache, then finds it there.
func TestBuildOnce(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go on PATH")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	files := map[string][]byte{
		"go.mod":  []byte("module lab.local/hello\n\ngo 1.21\n"),
		"main.go": []byte("package main\n\nfunc main() { println(\"hello\") }\n"),
	}
	p := Program{Name: "hello", Version: "1.0.0", Binary: "hello", Files: files, Content: ContentHash(files, "")}
	var progress bytes.Buffer
	path, built, err := p.BuildOnce(context.Background(), &progress)
	if err != nil || !built {
		t.Fatalf("BuildOnce = %s, %v, %v; want built (output: %s)", path, built, err, progress.String())
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x7fELF")) || !isExecutable(path) {
		t.Fatalf("%s is not an executable ELF binary (%v)", path, err)
	}
	if again, built, err := p.BuildOnce(context.Background(), &progress); again != path || built || err != nil {
		t.Errorf("second BuildOnce = %s, %v, %v; want the cached %s", again, built, err, path)
	}

	// A failed build says which step of what failed, and how.
	broken := map[string][]byte{"go.mod": files["go.mod"], "main.go": []byte("package main\n\nfunc main() { undefinedName() }\n")}
	p = Program{Name: "hello", Version: "1.0.1", Binary: "hello", Files: broken, Content: ContentHash(broken, "")}
	progress.Reset()
	path, built, err = p.BuildOnce(context.Background(), &progress)
	if err == nil || built {
		t.Fatalf("BuildOnce of a broken program = %v, %v", built, err)
	}
	if !strings.HasPrefix(err.Error(), "go build of hello 1.0.1: exit status 1: ") || !strings.Contains(err.Error(), "undefined: undefinedName") {
		t.Errorf("error %q should name the step, the program and the compiler's complaint", err)
	}
	if !strings.Contains(progress.String(), "undefinedName") {
		t.Errorf("progress %q lacks the go command's output (error %q)", progress.String(), err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("a failed build left %s (%v)", filepath.Dir(path), err)
	}
}

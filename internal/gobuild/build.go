package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The platform every program is built for: the lab's nodes run it, in
// Docker or as local processes.
const (
	goos   = "linux"
	goarch = "amd64"
)

// Program is one version of a Go program as the lab builds it: a wrapper
// module of the lab's own, compiled with CGO_ENABLED=0 into a static
// binary.
type Program struct {
	// Name begins the name of the cache directory: "etcd", "nats".
	Name string
	// Version is the release as the scenario names it, without the "v":
	// "3.5.5". It is part of the cache directory's name and of errors.
	Version string
	// Binary is the executable's file name: "etcd", "nats-server".
	Binary string
	// Files are the wrapper module's files by name: go.mod, main.go and,
	// for a module whose dependencies are pinned, go.sum.
	Files map[string][]byte
	// Get are the arguments of the `go get` that adds the program's module
	// (module@version) and any other requirement to the wrapper module
	// before the build, with -mod=mod. With none, Files must be complete
	// (go.sum too): the build then runs with -mod=readonly and needs no
	// proxy once the module cache holds its modules.
	Get []string
	// Content is the hash of every input of the binary ([ContentHash]).
	// Its first 12 digits name the cache directory, so that a change of
	// any input is built anew.
	Content string
}

// ContentHash is the hex SHA-256 of what a binary is built from: the
// wrapper module's files in name order, each as "<name> <length>\n" and
// its bytes, then requires (what the module is made to require, written as
// the caller gives it), then the Go toolchain's version and the target
// platform, linux/amd64. A system passes the files and the requirement its
// cached binaries were hashed by, so that their directories stay valid.
func ContentHash(files map[string][]byte, requires string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	io.WriteString(h, requires)
	io.WriteString(h, goVersion())
	io.WriteString(h, goos+"/"+goarch)
	return hex.EncodeToString(h.Sum(nil))
}

var goVersionOnce = sync.OnceValue(func() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go-unknown"
	}
	return strings.TrimSpace(string(out))
})

// goVersion is the version of the go command on PATH, asked once.
func goVersion() string { return goVersionOnce() }

// Path is where the program's binary is cached:
// os.UserCacheDir()/lab/<Name>-<Version>-<Content[:12]>/<Binary>.
func (p Program) Path() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s binary: no cache directory: %w", p.Binary, err)
	}
	return filepath.Join(cache, "lab", p.Name+"-"+p.Version+"-"+p.Content[:12], p.Binary), nil
}

// Cached is true when the program's binary is in the cache.
func (p Program) Cached() (bool, error) {
	path, err := p.Path()
	if err != nil {
		return false, err
	}
	return isExecutable(path), nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// BuildOnce returns the path of the program's binary in the cache,
// building it first unless it is there; built is true when it was built.
// The build's output goes to progress, if any. The path is returned with
// a build's error too, and is empty only when there is no cache directory.
func (p Program) BuildOnce(ctx context.Context, progress io.Writer) (path string, built bool, err error) {
	path, err = p.Path()
	if err != nil {
		return "", false, err
	}
	if isExecutable(path) {
		return path, false, nil
	}
	bin, err := p.Build(ctx, progress)
	if err != nil {
		return path, false, err
	}
	if err := writeExecutableAtomically(path, bin, p.Name+"-*.tmp"); err != nil {
		return path, false, fmt.Errorf("%s binary: %w", p.Binary, err)
	}
	return path, true, nil
}

// Build compiles the program in a temporary copy of its wrapper module
// and returns the binary: `go get` of [Program.Get], if any, then
// `go build -trimpath -ldflags='-s -w'`, for linux/amd64 without cgo. A
// failed step's error ends with the last lines the go command wrote.
func (p Program) Build(ctx context.Context, progress io.Writer) ([]byte, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("the Go toolchain is needed to build %s %s once (go not found on PATH): %w", p.Binary, p.Version, err)
	}
	dir, err := os.MkdirTemp("", "lab-"+p.Name+"-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for name, b := range p.Files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	mod := "-mod=mod"
	if len(p.Get) == 0 {
		mod = "-mod=readonly"
	}
	run := goRunner(ctx, dir, mod, progress, p.Binary+" "+p.Version)
	if len(p.Get) > 0 {
		if err := run(append([]string{"get"}, p.Get...)...); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, p.Binary)
	if err := run("build", "-trimpath", "-ldflags=-s -w", "-o", out, "."); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// goRunner returns a function that runs the go command in dir, for
// linux/amd64 without cgo and with mod (-mod=mod or -mod=readonly), its
// output copied to progress, if any. A failed command's error names the
// step and what, and ends with the last lines the go command wrote.
func goRunner(ctx context.Context, dir, mod string, progress io.Writer, what string) func(args ...string) error {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS="+mod+" -buildvcs=false")
	var shared io.Writer
	if progress != nil {
		shared = &lockedWriter{w: progress}
	}
	return func(args ...string) error {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = env
		var stderr bytes.Buffer
		if shared != nil {
			cmd.Stdout = shared
			cmd.Stderr = io.MultiWriter(shared, &stderr)
		} else {
			cmd.Stderr = &stderr
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s of %s: %w: %s", args[0], what, err, lastLines(stderr.String(), 10))
		}
		return nil
	}
}

// lockedWriter writes to w one write at a time: the go command's stdout
// and stderr are copied to it by two goroutines, and w need not be safe
// for concurrent use (a bytes.Buffer, which without the lock loses one
// stream's output to the other's).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// writeExecutableAtomically writes data to a temporary file beside path,
// named by tempPattern (as [os.CreateTemp] takes it), makes it executable
// and renames it into place, so that a concurrent or an interrupted build
// never leaves a partial binary. It makes path's directory if need be.
func writeExecutableAtomically(path string, data []byte, tempPattern string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lastLines is the last n lines of s, without its leading and trailing
// space: the end of a build's output, where the go command says what
// failed.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package gobuild

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// Commands are several programs built by one `go build` from one wrapper
// module that requires the module holding them (the Kubernetes servers,
// say): main packages of the module or of its requirements, each named by its
// binary, cached together in one directory. The wrapper module is complete
// (go.mod and go.sum), so it builds with -mod=readonly, and offline once the
// module cache holds its modules.
type Commands struct {
	// Name begins the name of the cache directory: "kubernetes".
	Name string
	// Version is part of the cache directory's name and of errors:
	// "1.37.2".
	Version string
	// Files are the wrapper module's files by path: go.mod and go.sum
	// (and packages of its own, if any).
	Files map[string][]byte
	// Packages are the main packages to build, binary name to import path:
	// "kubelet": "k8s.io/kubernetes/cmd/kubelet". Each binary is named by
	// its package's last element, as `go build -o dir/` names it.
	Packages map[string]string
	// LDFlags are linker flags besides "-s -w" (-X settings of a version).
	LDFlags []string
	// Content is the hash of every input of the binaries ([ContentHash]
	// of Files and of what the caller passes for the rest). Its first 12
	// digits name the cache directory.
	Content string
}

// Dir is where the binaries are cached:
// os.UserCacheDir()/lab/<Name>-<Version>-<Content[:12]>.
func (c Commands) Dir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%s binaries: no cache directory: %w", c.Name, err)
	}
	return filepath.Join(cache, "lab", c.Name+"-"+c.Version+"-"+c.Content[:12]), nil
}

// paths are the binaries' paths in dir, by name.
func (c Commands) paths(dir string) map[string]string {
	out := make(map[string]string, len(c.Packages))
	for name := range c.Packages {
		out[name] = filepath.Join(dir, name)
	}
	return out
}

// Cached is true when every binary is in the cache.
func (c Commands) Cached() (bool, error) {
	dir, err := c.Dir()
	if err != nil {
		return false, err
	}
	for _, p := range c.paths(dir) {
		if !isExecutable(p) {
			return false, nil
		}
	}
	return true, nil
}

// BuildOnce returns the paths of the binaries in the cache, by name,
// building them first unless all are there; built is true when they were
// built. The build's output goes to progress, if any. A failed build leaves
// no binary of its own in the cache.
func (c Commands) BuildOnce(ctx context.Context, progress io.Writer) (paths map[string]string, built bool, err error) {
	dir, err := c.Dir()
	if err != nil {
		return nil, false, err
	}
	paths = c.paths(dir)
	if cached, _ := c.Cached(); cached {
		return paths, false, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return paths, false, fmt.Errorf("the Go toolchain is needed to build %s %s once (go not found on PATH): %w", c.Name, c.Version, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return paths, false, err
	}
	// The module and the output live in a temporary directory beside the
	// cache directory (one file system), and each binary is renamed into
	// place: an interrupted or concurrent build leaves no partial binary.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), c.Name+"-build-*.tmp")
	if err != nil {
		return paths, false, err
	}
	defer os.RemoveAll(tmp)
	mod := filepath.Join(tmp, "module")
	out := filepath.Join(tmp, "bin")
	for _, d := range []string{mod, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return paths, false, err
		}
	}
	for name, b := range c.Files {
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return paths, false, err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return paths, false, err
		}
	}
	ldflags := "-s -w"
	for _, f := range c.LDFlags {
		ldflags += " " + f
	}
	args := []string{"build", "-trimpath", "-ldflags=" + ldflags, "-o", out + string(filepath.Separator)}
	for _, name := range slices.Sorted(maps.Keys(c.Packages)) {
		if filepath.Base(c.Packages[name]) != name {
			return paths, false, fmt.Errorf("%s: binary %s is not named by the last element of %s", c.Name, name, c.Packages[name])
		}
		args = append(args, c.Packages[name])
	}
	if err := goRunner(ctx, mod, "-mod=readonly", progress, c.Name+" "+c.Version)(args...); err != nil {
		return paths, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return paths, false, err
	}
	for name, p := range paths {
		if err := os.Rename(filepath.Join(out, name), p); err != nil {
			return paths, false, fmt.Errorf("%s binaries: %w", c.Name, err)
		}
	}
	return paths, true, nil
}

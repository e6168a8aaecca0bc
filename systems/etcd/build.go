package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lab-chaos/lab/runtime"
)

//go:embed buildmod/main.go.in buildmod/go.mod.in buildmod/go.sum.in
var buildmod embed.FS

// serverVersion reads the pinned server version from the build module.
func serverVersion() string {
	b, err := buildmod.ReadFile("buildmod/go.mod.in")
	if err != nil {
		return "unknown"
	}
	m := regexp.MustCompile(`go\.etcd\.io/etcd/server/v3 (v\S+)`).FindSubmatch(b)
	if m == nil {
		return "unknown"
	}
	return strings.TrimPrefix(string(m[1]), "v")
}

// Artifact returns the static etcd server, built once with the build
// module into os.UserCacheDir()/lab/etcd-<content hash>/etcd and reused
// from there by every later run, in either runtime.
func (e *Etcd) Artifact(ctx context.Context) (runtime.Artifact, bool, error) {
	content := contentHash()
	art := runtime.Artifact{Name: "etcd", Version: serverVersion(), Content: content}
	cache, err := os.UserCacheDir()
	if err != nil {
		return art, false, fmt.Errorf("etcd binary: no cache directory: %w", err)
	}
	dir := filepath.Join(cache, "lab", "etcd-"+content[:16])
	art.Binary = filepath.Join(dir, "etcd")
	if st, err := os.Stat(art.Binary); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return art, false, nil
	}
	bin, err := buildServer(ctx, e.BuildOutput)
	if err != nil {
		return art, false, err
	}
	if err := writeAtomically(dir, art.Binary, bin); err != nil {
		return art, false, fmt.Errorf("etcd binary: %w", err)
	}
	return art, true, nil
}

// writeAtomically writes data beside path and renames it into place, so
// that a concurrent or an interrupted build never leaves a partial binary.
func writeAtomically(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "etcd-*.tmp")
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

// contentHash covers every input of the binary: the build module, the Go
// toolchain that compiles it and the target platform.
func contentHash() string {
	h := sha256.New()
	for _, name := range []string{"main.go.in", "go.mod.in", "go.sum.in"} {
		b, _ := buildmod.ReadFile("buildmod/" + name)
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	io.WriteString(h, goVersion())
	io.WriteString(h, "linux/amd64")
	return hex.EncodeToString(h.Sum(nil))
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "go-unknown"
	}
	return strings.TrimSpace(string(out))
}

// buildServer compiles the etcd server in a temporary copy of the build
// module and returns the binary.
func buildServer(ctx context.Context, progress io.Writer) ([]byte, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, fmt.Errorf("the Go toolchain is needed to build the etcd server image once (go not found on PATH): %w", err)
	}
	dir, err := os.MkdirTemp("", "lab-etcd-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := buildmod.ReadFile("buildmod/" + name + ".in")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "etcd")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	if progress != nil {
		cmd.Stdout = progress
		cmd.Stderr = io.MultiWriter(progress, &stderr)
	} else {
		cmd.Stderr = &stderr
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build of the etcd server: %w: %s", err, lastLines(stderr.String(), 10))
	}
	return os.ReadFile(out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

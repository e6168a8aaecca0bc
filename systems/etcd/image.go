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

	"github.com/lab-chaos/lab/cluster"
)

//go:embed buildmod/main.go.in buildmod/go.mod.in buildmod/go.sum.in
var buildmod embed.FS

const dockerfile = `FROM scratch
COPY etcd /usr/local/bin/etcd
ENTRYPOINT ["/usr/local/bin/etcd"]
`

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

// image returns the recipe; progress receives the output of go build.
func image(progress io.Writer) cluster.Image {
	return cluster.Image{
		Name:    "lab-etcd",
		Content: contentHash(),
		Context: func(ctx context.Context) (map[string]cluster.File, error) {
			bin, err := buildServer(ctx, progress)
			if err != nil {
				return nil, err
			}
			return map[string]cluster.File{
				"Dockerfile": {Data: []byte(dockerfile)},
				"etcd":       {Data: bin, Mode: 0o755},
			}, nil
		},
	}
}

// contentHash covers every input of the image: the build module, the
// Dockerfile, the Go toolchain that compiles it and the target platform.
func contentHash() string {
	h := sha256.New()
	for _, name := range []string{"main.go.in", "go.mod.in", "go.sum.in"} {
		b, _ := buildmod.ReadFile("buildmod/" + name)
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	io.WriteString(h, dockerfile)
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

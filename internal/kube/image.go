package kube

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lab-chaos/lab/internal/gobuild"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
)

// pauseMain is the pause container every pod's sandbox runs: it holds the
// pod's namespaces, sleeping until told to stop, and reaps the orphans of
// a pod that shares its process namespace.
const pauseMain = `// Command pause holds a pod's namespaces until SIGTERM or SIGINT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
`

// Program is a Go program of the standard library alone, built static into
// the cache and wrapped in a FROM scratch image: the lab's pause image, and
// images tests make.
type Program struct {
	// Name names the binary and the image (lab-<Name>:<hash>).
	Name string
	// Main is the source of its main.go.
	Main string
}

func (p Program) program() gobuild.Program {
	files := map[string][]byte{
		"go.mod":  []byte("module lab.local/" + p.Name + "\n\ngo 1.21\n"),
		"main.go": []byte(p.Main),
	}
	return gobuild.Program{Name: p.Name, Version: "0", Binary: p.Name, Files: files, Content: gobuild.ContentHash(files, "")}
}

func (p Program) image(binary string) docker.Image {
	prog := p.program()
	return docker.ArtifactImage(runtime.Artifact{Name: p.Name, Version: "0", Binary: binary, Content: prog.Content})
}

// Tag is the image's reference in Docker: lab-<name>:<16 hex digits>.
func (p Program) Tag() string { return p.image("").Tag() }

// Image builds the program (once, into the cache) and its image in Docker
// (once, by the same content hash), and returns its tag.
func (p Program) Image(ctx context.Context, progress io.Writer) (string, error) {
	path, _, err := p.program().BuildOnce(ctx, progress)
	if err != nil {
		return "", err
	}
	d, err := docker.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer d.Close()
	im := p.image(path)
	if _, err := docker.EnsureImage(ctx, d, im, io.Discard); err != nil {
		return "", err
	}
	return im.Tag(), nil
}

// pauseImage is the lab's pause image.
func pauseImage() docker.Image {
	return Program{Name: "pause", Main: pauseMain}.image("")
}

// importPause builds the pause image and imports it into the cluster's
// containerd, as the sandbox image its configuration names.
func (c *Cluster) importPause(ctx context.Context) error {
	tag, err := Program{Name: "pause", Main: pauseMain}.Image(ctx, c.log)
	if err != nil {
		return fmt.Errorf("kube: pause image: %w", err)
	}
	if "docker.io/library/"+tag != c.SandboxImage {
		return fmt.Errorf("kube: pause image %s is not the sandbox image %s", tag, c.SandboxImage)
	}
	return c.ImportImage(ctx, tag)
}

// ImportImage copies an image from Docker into the cluster's containerd
// (namespace k8s.io, where the kubelet finds it): `docker save` through
// the Docker API into `ctr images import`. A pod runs it with
// imagePullPolicy Never or IfNotPresent: the cluster reaches no registry.
func (c *Cluster) ImportImage(ctx context.Context, image string) error {
	began := time.Now()
	d, err := docker.Connect(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.ImageSave(ctx, []string{image})
	if err != nil {
		return fmt.Errorf("kube: docker save %s: %w", image, err)
	}
	defer rc.Close()
	out, err := c.ctr(ctx, rc, "images", "import", "-")
	if err != nil {
		return fmt.Errorf("kube: import %s: %w", image, err)
	}
	c.logf("imported %s in %s: %s", image, time.Since(began).Round(time.Millisecond), firstLine(out))
	return nil
}

func firstLine(b []byte) string {
	for i, ch := range b {
		if ch == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}

package docker

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// Driver is the Docker runtime before a run: one connection to the engine,
// opened by Check.
type Driver struct {
	mu sync.Mutex
	d  *client.Client
}

var _ runtime.Driver = (*Driver)(nil)

// Name is "docker".
func (*Driver) Name() string { return "docker" }

// Abilities: nodes are host processes, the runtime controls them, and
// their data directories can be faultfs disks.
func (*Driver) Abilities() runtime.Abilities {
	return runtime.Abilities{HostProcesses: true, Processes: true, Disks: true}
}

var _ runtime.DiskChecker = (*Driver)(nil)

// CheckDisks says whether this machine can serve faultfs mounts (FUSE),
// by making one.
func (*Driver) CheckDisks(ctx context.Context) error { return faultfs.Probe(ctx) }

// Check connects to the engine named by the environment.
func (dr *Driver) Check(ctx context.Context) error {
	_, err := dr.client(ctx)
	return err
}

func (dr *Driver) client(ctx context.Context) (*client.Client, error) {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if dr.d != nil {
		return dr.d, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := Connect(cctx)
	if err != nil {
		return nil, &runtime.EnvError{Err: err, Hint: "start the Docker engine (systemctl start docker) or set DOCKER_HOST; `docker info` must work; or use runtime: local"}
	}
	dr.d = d
	return d, nil
}

// Prepare builds the artifact's image unless it exists.
func (dr *Driver) Prepare(ctx context.Context, art runtime.Artifact, progress io.Writer) (string, bool, error) {
	d, err := dr.client(ctx)
	if err != nil {
		return "", false, err
	}
	im := ArtifactImage(art)
	built, err := EnsureImage(ctx, d, im, progress)
	return "image " + im.Tag(), built, err
}

// New creates the run's network; nodes start from the artifact's image.
func (dr *Driver) New(ctx context.Context, runID string, art runtime.Artifact, opts runtime.Options) (runtime.Runtime, error) {
	d, err := dr.client(ctx)
	if err != nil {
		return nil, err
	}
	return New(ctx, d, runID, ArtifactImage(art).Tag(), opts)
}

// Cleanup removes the containers and networks labelled with the run (all
// the lab's, if runID is empty).
func (dr *Driver) Cleanup(ctx context.Context, runID string) ([]string, error) {
	d, err := dr.client(ctx)
	if err != nil {
		return nil, err
	}
	removed, err := Cleanup(ctx, d, runID)
	var out []string
	for _, c := range removed.Containers {
		out = append(out, "container "+c)
	}
	for _, n := range removed.Networks {
		out = append(out, "network "+n)
	}
	for _, m := range removed.Mounts {
		out = append(out, "faultfs mount "+m)
	}
	for _, d := range removed.Dirs {
		out = append(out, "data directory "+d)
	}
	return out, err
}

// Close closes the connection to the engine.
func (dr *Driver) Close() error {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if dr.d == nil {
		return nil
	}
	err := dr.d.Close()
	dr.d = nil
	return errors.Join(err)
}

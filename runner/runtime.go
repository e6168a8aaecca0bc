package runner

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/docker/docker/client"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/systems"
)

// nodeRuntime is what a run needs of the thing that runs nodes: Docker
// containers ([cluster.Cluster]) or plain processes in namespaces.
type nodeRuntime interface {
	Network() string
	AddressOf(i int) netip.Addr
	Start(ctx context.Context, specs []cluster.NodeSpec) error
	Pid(ctx context.Context, node string) (int, error)
	Running(ctx context.Context, node string) (bool, string, error)
	Logs(ctx context.Context, node string, tail int) (string, error)
	SaveLogs(ctx context.Context, dir string) error
	Close(ctx context.Context) error
	nemesis.Processes
}

var _ nodeRuntime = (*cluster.Cluster)(nil)

// backend prepares a runtime: it checks the machine before anything is
// made, builds what the nodes run, and creates the runtime of one run.
type backend interface {
	// build makes the node image or binary if it is missing; it says what
	// it is and whether it had to be built.
	build(ctx context.Context) (what string, built bool, err error)
	create(ctx context.Context, runID string) (nodeRuntime, error)
	nodeSpecs(rt nodeRuntime, peers []systems.Peer, token string) []cluster.NodeSpec
	close()
}

// newBackend returns the backend of a scenario's runtime, after checking
// the machine can serve it (an *EnvError if not).
func newBackend(ctx context.Context, kind string, sys systems.Registers, progress io.Writer) (backend, error) {
	switch kind {
	case "", "docker":
		dctx, cancel := context.WithTimeout(ctx, 10e9)
		d, err := cluster.Connect(dctx)
		cancel()
		if err != nil {
			return nil, &EnvError{Err: err, Hint: "start the Docker engine (systemctl start docker) or set DOCKER_HOST; `docker info` must work; or use runtime: local"}
		}
		return &dockerBackend{d: d, sys: sys, im: sys.Image(), progress: progress}, nil
	case "local":
		return newLocalBackend(sys)
	}
	return nil, fmt.Errorf("unknown runtime %q", kind)
}

type dockerBackend struct {
	d        *client.Client
	sys      systems.Registers
	im       cluster.Image
	progress io.Writer
}

func (b *dockerBackend) build(ctx context.Context) (string, bool, error) {
	built, err := cluster.EnsureImage(ctx, b.d, b.im, b.progress)
	return "image " + b.im.Tag(), built, err
}

func (b *dockerBackend) create(ctx context.Context, runID string) (nodeRuntime, error) {
	return cluster.New(ctx, b.d, runID)
}

func (b *dockerBackend) nodeSpecs(_ nodeRuntime, peers []systems.Peer, token string) []cluster.NodeSpec {
	return b.sys.Nodes(b.im.Tag(), peers, token)
}

func (b *dockerBackend) close() { b.d.Close() }

package runner

import (
	"context"
	"fmt"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/local"
	"github.com/lab-chaos/lab/systems"
)

var _ nodeRuntime = (*local.Runtime)(nil)

// localBackend runs nodes as processes in network namespaces: no Docker.
type localBackend struct {
	bins  systems.Binaries
	specs systems.LocalNodes
	bin   string
}

func newLocalBackend(sys systems.Registers) (backend, error) {
	bins, ok1 := sys.(systems.Binaries)
	specs, ok2 := sys.(systems.LocalNodes)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s cannot run on the local runtime (it gives no plain binary)", sys.Name())
	}
	return &localBackend{bins: bins, specs: specs}, nil
}

func (b *localBackend) build(ctx context.Context) (string, bool, error) {
	bin, err := b.bins.Binary(ctx)
	b.bin = bin
	return "binary " + bin, false, err
}

func (b *localBackend) create(ctx context.Context, runID string) (nodeRuntime, error) {
	rt, err := local.New(ctx, runID, b.bin)
	if err != nil {
		return nil, &EnvError{Err: err, Hint: "run the lab as root, or use runtime: docker"}
	}
	return rt, nil
}

func (b *localBackend) nodeSpecs(rt nodeRuntime, peers []systems.Peer, token string) []cluster.NodeSpec {
	return b.specs.LocalNodes(peers, token, rt.(*local.Runtime).DataDir)
}

func (b *localBackend) close() {}

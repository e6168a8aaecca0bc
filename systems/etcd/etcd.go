package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/systems"
)

// Etcd is the etcd system under test.
type Etcd struct {
	// BuildOutput receives the output of the one-time server build.
	BuildOutput io.Writer
}

var _ systems.Registers = (*Etcd)(nil)

// Name is "etcd".
func (*Etcd) Name() string { return "etcd" }

// Version is the pinned server version.
func (*Etcd) Version() string { return serverVersion() }

// Image is the FROM scratch image with the static server.
func (e *Etcd) Image() cluster.Image { return image(e.BuildOutput) }

const (
	clientPort = 2379
	peerPort   = 2380
)

// Nodes bootstraps a static cluster: every node knows every peer from the
// start.
func (*Etcd) Nodes(image string, peers []systems.Peer, token string) []cluster.NodeSpec {
	var initial []string
	for _, p := range peers {
		initial = append(initial, fmt.Sprintf("%s=http://%s:%d", p.Name, p.Addr, peerPort))
	}
	specs := make([]cluster.NodeSpec, 0, len(peers))
	for _, p := range peers {
		specs = append(specs, cluster.NodeSpec{
			Name:  p.Name,
			Image: image,
			Cmd: []string{
				"--name", p.Name,
				"--data-dir", "/data",
				"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", clientPort),
				"--advertise-client-urls", fmt.Sprintf("http://%s:%d", p.Addr, clientPort),
				"--listen-peer-urls", fmt.Sprintf("http://0.0.0.0:%d", peerPort),
				"--initial-advertise-peer-urls", fmt.Sprintf("http://%s:%d", p.Addr, peerPort),
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-state", "new",
				"--initial-cluster-token", token,
				"--logger", "zap",
				"--log-outputs", "stderr",
			},
		})
	}
	return specs
}

func endpoint(addr netip.Addr) string { return fmt.Sprintf("http://%s:%d", addr, clientPort) }

func newClient(ctx context.Context, addr netip.Addr) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint(addr)},
		DialTimeout: 2 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
		// Fail fast on a dead connection instead of waiting for the
		// operation's deadline on a socket that will never answer.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		DialOptions:          []grpc.DialOption{},
	})
}

// Ready is nil once the node has a leader and answers a linearizable read.
func (*Etcd) Ready(ctx context.Context, addr netip.Addr) error {
	c, err := newClient(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx, endpoint(addr))
	if err != nil {
		return fmt.Errorf("status of %s: %w", addr, err)
	}
	if st.Leader == 0 {
		return fmt.Errorf("%s has no leader yet", addr)
	}
	if _, err := c.Get(ctx, "lab-readiness-probe"); err != nil {
		return fmt.Errorf("read through %s: %w", addr, err)
	}
	return nil
}

// RegisterClient connects to one node.
func (*Etcd) RegisterClient(ctx context.Context, node systems.Peer, reads systems.ReadMode) (systems.RegisterClient, error) {
	c, err := newClient(context.WithoutCancel(ctx), node.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	return &registerClient{c: c, serializable: reads == systems.Serializable}, nil
}

type registerClient struct {
	c            *clientv3.Client
	serializable bool
}

func (r *registerClient) Close() error { return r.c.Close() }

func (r *registerClient) Read(ctx context.Context, key string) (string, bool, error) {
	var opts []clientv3.OpOption
	if r.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := r.c.Get(ctx, key, opts...)
	if err != nil {
		// A read changes nothing, so its outcome matters little to the
		// checker; it is still recorded as unknown when it is, so that the
		// report tells timeouts from refusals.
		return "", false, classify(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), true, nil
}

func (r *registerClient) Write(ctx context.Context, key, value string) error {
	_, err := r.c.Put(ctx, key, value)
	return classify(err)
}

func (r *registerClient) CAS(ctx context.Context, key, old string, oldFound bool, new string) (bool, error) {
	cmp := clientv3.Compare(clientv3.Value(key), "=", old)
	if !oldFound {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	resp, err := r.c.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, new)).Commit()
	if err != nil {
		return false, classify(err)
	}
	return resp.Succeeded, nil
}

// classify marks the errors after which etcd certainly did not apply a
// request. Everything else (timeouts, lost connections, a leader lost
// while the proposal was in flight) stays unknown.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrGRPCCompacted), errors.Is(err, rpctypes.ErrCompacted),
		errors.Is(err, rpctypes.ErrGRPCKeyNotFound),
		errors.Is(err, rpctypes.ErrGRPCRequestTooLarge), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return systems.Definite(err)
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.InvalidArgument {
		return systems.Definite(err)
	}
	return err
}

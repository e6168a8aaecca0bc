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

	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// System is etcd as a kind of system under test.
type System struct {
	// proxy is asked whether the module proxy serves a release; nil is
	// the real one, through the go command. A test hook.
	proxy proxy
}

var _ systems.System = System{}

// Name is "etcd".
func (System) Name() string { return "etcd" }

// NodeCounts: raft wants an odd number of members; the lab runs 3 or 5.
func (System) NodeCounts() []int { return []int{3, 5} }

// Params are etcd's settings in a scenario (system: {name: etcd, ...}).
type Params struct {
	// UnsafeNoFsync runs every member with --unsafe-no-fsync: etcd then
	// never fsyncs its WAL or its backend, and acknowledges writes that a
	// power loss takes away. Off by default (etcd's own default).
	UnsafeNoFsync bool `yaml:"unsafe_no_fsync,omitempty"`
}

// Keys: unsafe_no_fsync.
func (System) Keys() []string { return []string{"unsafe_no_fsync"} }

// Decode reads unsafe_no_fsync (false by default); nil when every setting
// is etcd's default.
func (System) Decode(f *scenarios.Fields) any {
	var p Params
	if v, ok := f.Bool("unsafe_no_fsync"); ok {
		p.UnsafeNoFsync = v
	}
	if p == (Params{}) {
		return nil
	}
	return p
}

// Open checks the version asked for, before anything is built: a 3.4
// release of the lab's table (releases34), or 3.5 and newer as the Go
// module proxy serves them, or [DefaultVersion] when the scenario names
// none. Any other is refused, naming the versions the lab knows. A 3.5+
// release that is neither the default nor cached is resolved through the
// proxy here, so that a run refuses it before it starts.
func (s System) Open(cfg systems.Config) (systems.Instance, error) {
	v := strings.TrimPrefix(cfg.Version, "v")
	if v == "" {
		v = DefaultVersion
	}
	t, err := plan(v)
	if err != nil {
		return nil, err
	}
	var p Params
	switch x := cfg.Params.(type) {
	case nil:
	case Params:
		p = x
	case *Params:
		p = *x
	default:
		return nil, fmt.Errorf("etcd: parameters of type %T", cfg.Params)
	}
	if p.UnsafeNoFsync && t.Legacy() {
		return nil, fmt.Errorf("unsafe_no_fsync: etcd %s has no --unsafe-no-fsync; the lab runs it with 3.5 and newer", t.Release)
	}
	if t.needsProxy() {
		cached, err := program(t).Cached()
		if err != nil {
			return nil, err
		}
		if !cached {
			p := s.proxy
			if p == nil {
				p = goProxy{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := checkServed(ctx, p, v); err != nil {
				return nil, err
			}
		}
	}
	return &Etcd{BuildOutput: cfg.BuildOutput, target: t, params: p}, nil
}

// Etcd is etcd configured for one run.
type Etcd struct {
	// BuildOutput receives the output of the one-time server build.
	BuildOutput io.Writer
	target      target
	params      Params
}

var (
	_ systems.Registers = (*Etcd)(nil)
	_ systems.Leaders   = (*Etcd)(nil)
	_ systems.Clocks    = (*Etcd)(nil)
)

// Version is the etcd release the artifact holds.
func (e *Etcd) Version() string { return e.target.Release }

// Settings name the module the server was built from, which for 3.4 is a
// pseudo-version of the release commit, and for 3.4 that raft's pre-vote
// is off: the lab runs each release with its own defaults, and 3.4's
// differs from later ones in a way that shows under partitions (a cut-off
// member that rejoins forces an election); and fsync, when the scenario
// turned it off.
func (e *Etcd) Settings() []string {
	s := []string{"server module: " + e.target.Module + "@" + e.target.ModVersion}
	if e.target.Legacy() {
		s = append(s, "pre-vote: off (etcd 3.4's default; 3.5 and newer turn it on)")
	}
	if e.params.UnsafeNoFsync {
		s = append(s, "fsync: off (--unsafe-no-fsync): writes are acknowledged before they are durable")
	}
	return s
}

// LogPatterns are the lines etcd's zap logger writes when a member becomes
// leader, when the server starts, and when a member restarts from its WAL.
func (*Etcd) LogPatterns() logcheck.Patterns {
	return logcheck.Patterns{
		Leader:     []string{"elected leader", "became leader"},
		Start:      []string{"starting an etcd server"},
		Restarting: []string{"restarting local member"},
	}
}

const (
	clientPort = 2379
	peerPort   = 2380
)

// Node bootstraps a static cluster: every node knows every peer from the
// start.
func (e *Etcd) Node(p runtime.Placement, c systems.Cluster) runtime.NodeSpec {
	var initial []string
	for _, n := range c.Nodes {
		initial = append(initial, fmt.Sprintf("%s=http://%s:%d", n.Name, n.Addr, peerPort))
	}
	spec := runtime.NodeSpec{
		Name: p.Name,
		Args: []string{
			"--name", p.Name,
			"--data-dir", p.DataDir,
			"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", clientPort),
			"--advertise-client-urls", fmt.Sprintf("http://%s:%d", p.Addr, clientPort),
			"--listen-peer-urls", fmt.Sprintf("http://0.0.0.0:%d", peerPort),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://%s:%d", p.Addr, peerPort),
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", c.Token,
			"--logger", "zap",
			"--log-outputs", "stderr",
		},
	}
	if e.params.UnsafeNoFsync {
		spec.Args = append(spec.Args, "--unsafe-no-fsync")
	}
	return spec
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
func (*Etcd) Ready(ctx context.Context, node systems.Peer) error {
	addr := node.Addr
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

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/adapter"
	"github.com/lab-chaos/lab/systems/etcd"
)

// member is one etcd server on loopback, for the test and the benchmark.
type member struct {
	endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
	log      string
}

// startEtcd starts one etcd member, the lab's default release built by
// systems/etcd (from the cache, or through the Go module proxy the first
// time), on 127.0.0.1 at free ports with its data in a temporary
// directory; it is killed when tb ends.
func startEtcd(tb testing.TB) *member {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		tb.Fatal(err)
	}
	art, _, err := inst.(*etcd.Etcd).Artifact(ctx)
	if err != nil {
		tb.Fatalf("etcd's build: %v", err)
	}
	dir := tb.TempDir()
	client, peer := "http://127.0.0.1:"+freePort(tb), "http://127.0.0.1:"+freePort(tb)
	m := &member{endpoint: client, done: make(chan struct{}), log: filepath.Join(dir, "etcd.log")}
	logf, err := os.Create(m.log)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	m.cmd = exec.Command(art.Binary,
		"--name", "n1",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "n1="+peer,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	tb.Cleanup(m.kill)

	c := goClient(tb, m.endpoint)
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, err := c.Read(ctx, "lab-readiness-probe")
		cancel()
		if err == nil {
			return m
		}
		select {
		case <-m.done:
			tb.Fatalf("etcd exited before it served: %v\n%s", m.cmd.ProcessState, m.tail())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("etcd at %s does not serve after 30 s: %v\n%s", m.endpoint, err, m.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill kills the member and waits for it to be reaped.
func (m *member) kill() {
	m.cmd.Process.Kill()
	<-m.done
}

// tail is the end of the member's log.
func (m *member) tail() string {
	b, _ := os.ReadFile(m.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePort is a port of 127.0.0.1 that nothing listened on a moment ago.
func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// buildAdapter builds this package's adapter, static, into a temporary
// directory.
func buildAdapter(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "etcd-adapter")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("go build of the adapter: %v\n%s", err, out.String())
	}
	return bin
}

// adapterClient is the lab's side of the protocol, bound to a running
// adapter of endpoint; closed when tb ends.
func adapterClient(tb testing.TB, bin, endpoint, timeout string) *adapter.Client {
	tb.Helper()
	c := adapter.NewClient(adapter.Command{Path: bin, Args: []string{"-timeout", timeout, endpoint}}, os.Stderr)
	if err := c.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// goClient is the lab's etcd register client, mirrored: systems/etcd's
// RegisterClient dials a node's address at etcd's standard port (2379),
// and this member listens on a free port, so the same client is built
// here with the same settings (systems/etcd newClient) and the same
// requests (registerClient.Read, Write, CAS, linearizable reads).
func goClient(tb testing.TB, endpoint string) systems.RegisterClient {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{endpoint},
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &goRegister{c}
}

type goRegister struct{ c *clientv3.Client }

func (r *goRegister) Close() error { return r.c.Close() }

func (r *goRegister) Read(ctx context.Context, key string) (string, bool, error) {
	resp, err := r.c.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

func (r *goRegister) Write(ctx context.Context, key, value string) error {
	_, err := r.c.Put(ctx, key, value)
	return err
}

func (r *goRegister) CAS(ctx context.Context, key, old string, oldFound bool, new string) (bool, error) {
	cmp := clientv3.Compare(clientv3.Value(key), "=", old)
	if !oldFound {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	resp, err := r.c.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, new)).Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

package etcd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// TestOlderReleasesServe builds etcd 3.4.3 (a pseudo-version of the old
// go.etcd.io/etcd module) and 3.5.5 (go.etcd.io/etcd/server/v3), starts
// three nodes of each in Docker with the node command every release
// shares, and writes and reads a key through every node with the lab's
// 3.6 client. Each release's logs must show the lines the report places
// on the timeline (a start, a leader). A cold build takes about a minute
// per release; a second run finds both in the cache.
func TestOlderReleasesServe(t *testing.T) {
	labtest.Docker(t)
	for _, v := range []string{"3.4.3", "3.5.5"} {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			inst, err := etcd.System{}.Open(systems.Config{Version: v, BuildOutput: os.Stderr})
			if err != nil {
				t.Fatal(err)
			}
			sys := inst.(*etcd.Etcd)
			drv := &docker.Driver{}
			defer drv.Close()
			c := systest.Start(ctx, t, drv, sys, systest.RunID("test-etcd"+strings.ReplaceAll(v, ".", "")), "n1", "n2", "n3")
			if c.Art.Version != v {
				t.Errorf("artifact version %q, want %q", c.Art.Version, v)
			}
			clients := make([]systems.RegisterClient, len(c.Peers))
			for i, p := range c.Peers {
				rc, err := sys.RegisterClient(ctx, p, systems.Linearizable)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				clients[i] = rc
			}
			// Each node takes a write; every node then reads every key.
			for i, rc := range clients {
				key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("%s-%d", v, i)
				if err := op(ctx, func(ctx context.Context) error { return rc.Write(ctx, key, val) }); err != nil {
					t.Fatalf("write %s through %s: %v", key, c.Peers[i].Name, err)
				}
			}
			for i, rc := range clients {
				for j := range clients {
					key, want := fmt.Sprintf("k%d", j), fmt.Sprintf("%s-%d", v, j)
					var got string
					var found bool
					if err := op(ctx, func(ctx context.Context) (err error) { got, found, err = rc.Read(ctx, key); return err }); err != nil {
						t.Fatalf("read %s through %s: %v", key, c.Peers[i].Name, err)
					}
					if !found || got != want {
						t.Errorf("read %s through %s = %q (found %v), want %q", key, c.Peers[i].Name, got, found, want)
					}
				}
			}
			swapped, err := casOnce(ctx, clients[2], "k0", fmt.Sprintf("%s-0", v), "swapped")
			if err != nil || !swapped {
				t.Errorf("cas through n3 = %v, %v; want swapped", swapped, err)
			}
			if _, err := sys.Leader(ctx, c.Peers); err != nil {
				t.Errorf("leader: %v", err)
			}
			// Every member tells its own applied revision: 1 at the start,
			// plus three writes and a swap, once it has applied them.
			for _, p := range c.Peers {
				rd, err := sys.RevisionReader(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				var rev int64
				err = op(ctx, func(ctx context.Context) (err error) {
					if rev, err = rd.Revision(ctx); err == nil && rev < 5 {
						err = fmt.Errorf("revision %d, not yet 5", rev)
					}
					return err
				})
				rd.Close()
				if err != nil {
					t.Errorf("etcd %s: %s's revision: %v", v, p.Name, err)
				}
			}
			pats := sys.LogPatterns()
			logs, err := c.RT.Logs(ctx, "n1", 100000)
			if err != nil {
				t.Fatal(err)
			}
			for kind, ps := range map[string][]string{"start": pats.Start, "leader": pats.Leader} {
				if !containsAny(logs, ps) {
					t.Errorf("etcd %s: n1's log has no %s line (%q)", v, kind, ps)
				}
			}
			// Every node's leader lines together must name a leader.
			var all strings.Builder
			for _, p := range c.Peers {
				l, _ := c.RT.Logs(ctx, p.Name, 100000)
				all.WriteString(l)
			}
			if !strings.Contains(all.String(), "became leader") {
				t.Errorf("etcd %s: no node logged that it became leader", v)
			}
		})
	}
}

func op(ctx context.Context, f func(ctx context.Context) error) error {
	return runtime.WaitFor(ctx, 15*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return f(ctx)
	})
}

func casOnce(ctx context.Context, c systems.RegisterClient, key, old, new string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.CAS(ctx, key, old, true, new)
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

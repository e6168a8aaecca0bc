package cluster_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// oneNode starts a single etcd node for process-fault benchmarks.
func oneNode(b *testing.B) (*cluster.Cluster, string) {
	d := labtest.Docker(b)
	ctx := context.Background()
	sys := &etcd.Etcd{}
	im := sys.Image()
	if _, err := cluster.EnsureImage(ctx, d, im, os.Stderr); err != nil {
		b.Fatal(err)
	}
	cl, err := cluster.New(ctx, d, "bench-"+time.Now().UTC().Format("150405.000"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close(context.Background()) })
	peers := []systems.Peer{{Name: "n1", Addr: cl.AddressOf(0)}}
	if err := cl.Start(ctx, sys.Nodes(im.Tag(), peers, "bench")); err != nil {
		b.Fatal(err)
	}
	return cl, cl.Nodes()[0].ContainerID
}

// BenchmarkProcessFaults measures pause and resume, and kill and restart,
// of one node: through the Docker API from the lab's process, and through
// the docker command line, as tools that shell out do.
func BenchmarkProcessFaults(b *testing.B) {
	cl, id := oneNode(b)
	ctx := context.Background()
	docker := func(args ...string) {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			b.Fatalf("docker %v: %v: %s", args, err, out)
		}
	}
	b.Run("api pause+resume", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := cl.Pause(ctx, "n1"); err != nil {
				b.Fatal(err)
			}
			if err := cl.Resume(ctx, "n1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cli pause+resume", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			docker("pause", id)
			docker("unpause", id)
		}
	})
	b.Run("api kill+start", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := cl.Kill(ctx, "n1", "SIGKILL"); err != nil {
				b.Fatal(err)
			}
			// Wait for the container to be down before restarting it.
			for {
				if running, _, _ := cl.Running(ctx, "n1"); !running {
					break
				}
			}
			if err := cl.StartNode(ctx, "n1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cli kill+start", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			docker("kill", "-s", "KILL", id)
			docker("wait", id)
			docker("start", id)
		}
	})
}

package docker_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// oneNode starts a single etcd node for process-fault benchmarks.
func oneNode(b *testing.B) (runtime.Runtime, string) {
	labtest.Docker(b)
	ctx := context.Background()
	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		b.Fatal(err)
	}
	drv := &docker.Driver{}
	b.Cleanup(func() { drv.Close() })
	c := systest.Start(ctx, b, drv, inst, systest.RunID("bench"), "n1")
	return c.RT, c.RT.(*docker.Cluster).Nodes()[0].ContainerID
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

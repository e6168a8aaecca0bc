package docker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
)

// diskProbe builds testdata/diskprobe as a static binary and returns the
// artifact of it: FROM scratch as root, or, with user, from a Dockerfile
// that runs it as that user.
func diskProbe(t *testing.T, user string) runtime.Artifact {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "diskprobe")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/diskprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build diskprobe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(data, user...))
	art := runtime.Artifact{Name: "diskprobe", Version: "test", Binary: bin, Content: hex.EncodeToString(sum[:])}
	if user != "" {
		df := "FROM scratch\nCOPY diskprobe /diskprobe\nUSER " + user + "\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		art.Dockerfile, art.Binary = filepath.Join(dir, "Dockerfile"), "/diskprobe"
	}
	return art
}

// waitLog waits until the node's log has a line containing want.
func waitLog(t *testing.T, rt runtime.Runtime, node, want string) string {
	t.Helper()
	var logs string
	err := runtime.WaitFor(context.Background(), 30*time.Second, 50*time.Millisecond, func(ctx context.Context) error {
		var err error
		logs, err = rt.Logs(ctx, node, 0)
		if err != nil {
			return err
		}
		if !strings.Contains(logs, want) {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s never said %q: %v\n%s", node, want, err, logs)
	}
	return logs
}

// TestPowerLossInsideContainer: with disks, a node's /data is a faultfs
// mount the container sees and writes through (as root, and as a user of
// the image's own); a power loss drops what the node wrote and did not
// fsync, and keeps what it fsynced; Close removes the mounts and the data.
func TestPowerLossInsideContainer(t *testing.T) {
	d := labtest.Docker(t)
	labtest.Root(t)
	if err := faultfs.Probe(context.Background()); err != nil {
		t.Skipf("no FUSE here: %v", err)
	}
	for _, user := range []string{"", "1000:1000"} {
		name := "root"
		if user != "" {
			name = "user " + user
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			art := diskProbe(t, user)
			im := docker.ArtifactImage(art)
			if _, err := docker.EnsureImage(ctx, d, im, io.Discard); err != nil {
				t.Fatal(err)
			}
			runID := systest.RunID("disk")
			c, err := docker.New(ctx, d, runID, im.Tag(), runtime.Options{Disks: true, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					c.Close(context.Background())
				}
			})
			if err := c.Start(ctx, []runtime.NodeSpec{{Name: "n1"}}); err != nil {
				t.Fatal(err)
			}
			logs := waitLog(t, c, "n1", "written")
			if user != "" && !strings.Contains(logs, "uid 1000") {
				t.Errorf("the node did not run as uid 1000:\n%s", logs)
			}
			disk, ok := c.Disk("n1")
			if !ok {
				t.Fatal("no disk for n1")
			}
			backing := disk.Backing()
			if b, err := os.ReadFile(filepath.Join(backing, "unsynced")); err != nil || string(b) != "never fsynced" {
				t.Fatalf("the write inside the container did not reach the backing directory: %q, %v", b, err)
			}
			if err := c.Kill(ctx, "n1", "SIGKILL"); err != nil {
				t.Fatal(err)
			}
			if running, state, _ := c.Running(ctx, "n1"); running {
				t.Fatalf("n1 still %s after Kill returned", state)
			}
			rep, err := disk.PowerLoss()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("power loss:\n%s", rep)
			if len(rep.Files) != 1 || rep.Files[0].Path != "unsynced" {
				t.Errorf("the report does not name what was dropped:\n%s", rep)
			}
			if err := c.StartNode(ctx, "n1"); err != nil {
				t.Fatal(err)
			}
			logs = waitLog(t, c, "n1", "read")
			if !strings.Contains(logs, `synced: "fsynced before the power loss"`) || !strings.Contains(logs, "unsynced: absent") {
				t.Errorf("after the power loss the node read:\n%s\nwant the fsynced file kept and the other gone", logs)
			}

			root := docker.DataRoot(runID)
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			closed = true
			if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data root %s after Close: %v", root, err)
			}
			left, _ := faultfs.Leftovers()
			for _, l := range left {
				if l.RunID == runID {
					t.Errorf("mount %s of the run left after Close", l.Mountpoint)
				}
			}
		})
	}
}

// TestCleanupUnmountsDisks: what a lab that never closed its cluster left
// (containers, a faultfs mount, the data directories) lab cleanup removes,
// mounts first.
func TestCleanupUnmountsDisks(t *testing.T) {
	d := labtest.Docker(t)
	labtest.Root(t)
	if err := faultfs.Probe(context.Background()); err != nil {
		t.Skipf("no FUSE here: %v", err)
	}
	ctx := context.Background()
	art := diskProbe(t, "")
	im := docker.ArtifactImage(art)
	if _, err := docker.EnsureImage(ctx, d, im, io.Discard); err != nil {
		t.Fatal(err)
	}
	runID := systest.RunID("disk-cleanup")
	c, err := docker.New(ctx, d, runID, im.Tag(), runtime.Options{Disks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if err := c.Start(ctx, []runtime.NodeSpec{{Name: "n1"}, {Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "n2", "written")

	removed, err := docker.Cleanup(ctx, d, runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed.Containers) != 2 || len(removed.Mounts) != 2 || len(removed.Dirs) != 1 {
		t.Errorf("cleanup removed %+v, want 2 containers, 2 mounts, 1 data root", removed)
	}
	if _, err := os.Stat(docker.DataRoot(runID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data root after cleanup: %v", err)
	}
	left, _ := faultfs.Leftovers()
	for _, l := range left {
		if l.RunID == runID {
			t.Errorf("mount %s left after cleanup", l.Mountpoint)
		}
	}
	cs, _ := d.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+runID))})
	if len(cs) != 0 {
		t.Errorf("%d containers left", len(cs))
	}
	// A directory of the lab's name without the label is not the lab's
	// to take. (Only this run's name is cleaned up: a cleanup of every run
	// would take the clusters of tests running beside this one.)
	stray := docker.DataRoot("not-a-run-" + runID)
	if err := os.MkdirAll(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(stray)
	if _, err := docker.Cleanup(ctx, d, "not-a-run-"+runID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("cleanup removed %s, which has no label: %v", stray, err)
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/runtime/docker"
)

// startLab starts the lab as a separate process (the test binary re-executed
// as the lab, see TestMain).
func startLab(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LAB_TEST_AS_LAB=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitForHistory waits until the run's history contains want.
func waitForHistory(t *testing.T, store, want string, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(store, "latest", "history.jsonl"))
		if bytes.Contains(b, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("%q never appeared in the history\n%s", want, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKill9ThenCleanup kills the lab with SIGKILL (no defer runs, nothing is
// healed) during a partition, during a pause and during a power loss (with
// every node's data directory a faultfs mount the dead lab served); `lab
// cleanup` must then remove everything the lab made, and a fresh run must
// pass.
func TestKill9ThenCleanup(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	for _, scenario := range []string{"long-partition", "long-pause", "long-power-loss"} {
		t.Run(scenario, func(t *testing.T) {
			store := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd, out := startLab(t, ctx, "run", "testdata/"+scenario+".yaml", "--store", store)
			waitForHistory(t, store, `"fault-start"`, cmd, out)
			time.Sleep(time.Second)
			cmd.Process.Kill()
			cmd.Wait()
			// Only this run's resources: other packages' tests may have
			// clusters up at the same time (plain `lab cleanup` removes
			// every run's).
			runID := runIDOf(t, out.String())
			code, stdout, stderr := runLab(t, "cleanup", "--run", runID)
			if code != 0 {
				t.Fatalf("lab cleanup exit %d\n%s%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "removed container") || !strings.Contains(stdout, "removed network") {
				t.Errorf("cleanup removed nothing after a killed run:\n%s", stdout)
			}
			assertNothingLeft(t, runID)
			if scenario == "long-power-loss" {
				if strings.Count(stdout, "removed faultfs mount") != 3 || !strings.Contains(stdout, "removed data directory") {
					t.Errorf("cleanup did not unmount the three disks and remove the data directories:\n%s", stdout)
				}
				left, err := faultfs.Leftovers()
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range left {
					if l.RunID == runID {
						t.Errorf("faultfs mount %s left after cleanup", l.Mountpoint)
					}
				}
				if _, err := os.Stat(docker.DataRoot(runID)); !os.IsNotExist(err) {
					t.Errorf("data directories left after cleanup: %v", err)
				}
			}
			// A second cleanup finds nothing.
			if _, stdout, _ := runLab(t, "cleanup", "--run", runID); !strings.Contains(stdout, "nothing") {
				t.Errorf("second cleanup: %s", stdout)
			}
		})
	}
	t.Run("fresh run passes", func(t *testing.T) {
		code, stdout, stderr := runLab(t, "run", "testdata/short.yaml", "--store", t.TempDir())
		if code != ExitValid {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		assertNothingLeft(t, runIDOf(t, stderr))
	})
}

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
)

// TestInterruptHealsAndReports sends SIGINT to a run while its partition is
// in effect: the lab must heal at once, remove the cluster, and still write
// the report of what ran, with a verdict that is never "valid".
func TestInterruptHealsAndReports(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	store := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "../../scenarios/etcd-serializable-reads.yaml", "--store", store)
	cmd.Env = append(os.Environ(), "LAB_TEST_AS_LAB=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the partition is in effect, as the history says.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(store, "latest", "history.jsonl"))
		if bytes.Contains(b, []byte(`"fault-start"`)) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no fault started within 3 minutes\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	interrupted := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	took := time.Since(interrupted)
	t.Logf("the lab exited %s after SIGINT\n%s", took.Round(time.Millisecond), stdout.String())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != ExitInvalid && code != ExitUnknown {
		t.Fatalf("exit %d after an interrupt, want %d or %d (never valid)\nstderr:\n%s", code, ExitInvalid, ExitUnknown, stderr.String())
	}
	hist, _ := os.ReadFile(filepath.Join(store, "latest", "history.jsonl"))
	if !bytes.Contains(hist, []byte(`"fault-end"`)) {
		t.Error("the history records no heal after the interrupt")
	}
	for _, f := range []string{"report.html", "report.md", "results.json"} {
		if _, err := os.Stat(filepath.Join(store, "latest", f)); err != nil {
			t.Errorf("interrupted run has no %s: %v", f, err)
		}
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("the lab did not say it was interrupted:\n%s", stderr.String())
	}
	assertNothingLeft(t, runIDOf(t, stderr.String()))
}

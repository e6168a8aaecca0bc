package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/labtest"
)

// TestRedisSingleScenarioIsValid runs Redis from its system file: a root
// built from Debian's packages, the Python adapter as every client, two
// kills. Every write is fsynced before it is acknowledged, so the run must
// be valid, and the node must serve again after each restart.
func TestRedisSingleScenarioIsValid(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("the Redis adapter needs python3 on the lab's host (make test-deps installs it)")
	}
	store := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runLab(t, "run", "../../scenarios/redis-single.yaml", "--store", store)
	t.Logf("lab run took %s\n%s", time.Since(start).Round(time.Second), stdout)
	if code != ExitValid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitValid, stdout, stderr)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	h := loadRun(t, dir)
	if len(h.windows) != 2 {
		t.Fatalf("%d fault windows, want the 2 kills", len(h.windows))
	}
	for i, w := range h.windows {
		if c := h.count("n1", w.End, w.End+3*sec); c[history.OK] == 0 {
			t.Errorf("after kill %d, n1 served nothing in 3 s: %v", i+1, c)
		}
	}
	if c := h.count("n1", 0, 1<<62); c[history.OK] < 200 {
		t.Errorf("only %d operations succeeded: %v", c[history.OK], c)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "against redis 5:7.0.15") {
		t.Errorf("the report does not name the Debian package's version:\n%.2000s", report)
	}
}

// TestRedisSentinelPartitionLosesWrites keeps Jepsen's 2013 Redis finding
// as a test: a primary cut off with a minority goes on acknowledging adds
// that the Sentinels' failover throws away. The run must be invalid, with
// acknowledged elements named as lost, on every run.
func TestRedisSentinelPartitionLosesWrites(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	store := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runLab(t, "run", "../../scenarios/redis-sentinel-partition.yaml", "--store", store)
	t.Logf("lab run took %s\n%s", time.Since(start).Round(time.Second), stdout)
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInvalid, stdout, stderr)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Set struct {
			Acknowledged int      `json:"acknowledged"`
			Lost         []string `json:"lost"`
		} `json:"set"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Set.Lost) == 0 {
		t.Fatalf("no lost elements in results.json: %.1000s", data)
	}
	t.Logf("%d of %d acknowledged adds lost", len(res.Set.Lost), res.Set.Acknowledged)
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "were lost: "+res.Set.Lost[0]) {
		t.Errorf("the report does not name the lost elements:\n%.3000s", report)
	}
}

// TestOwnServiceExample follows docs/byo.md's walkthrough: the example
// service built as a static binary, its system file and adapter, run with
// a kill.
func TestOwnServiceExample(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	// The same service, its files got two ways: the static binary the
	// example names, and an image built locally from a Dockerfile that
	// copies that binary in.
	for _, way := range []struct{ name, from, to string }{
		{"binary", "", ""},
		{"dockerfile", "  binary: bin/server\ncommand: server", "  dockerfile: bin/Dockerfile\ncommand: /usr/local/bin/server"},
	} {
		t.Run(way.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"system.yaml", "adapter.py", "scenario.yaml"} {
				data, err := os.ReadFile(filepath.Join("../../examples/own-service", f))
				if err != nil {
					t.Fatal(err)
				}
				if f == "system.yaml" && way.from != "" {
					if !strings.Contains(string(data), way.from) {
						t.Fatalf("the example's system.yaml no longer says %q", way.from)
					}
					data = []byte(strings.Replace(string(data), way.from, way.to, 1))
				}
				if err := os.WriteFile(filepath.Join(dir, f), data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "server"), "../../examples/own-service/server")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			df := "FROM scratch\nCOPY server /usr/local/bin/server\n"
			if err := os.WriteFile(filepath.Join(dir, "bin", "Dockerfile"), []byte(df), 0o644); err != nil {
				t.Fatal(err)
			}
			store := t.TempDir()
			code, stdout, stderr := runLab(t, "run", filepath.Join(dir, "scenario.yaml"), "--store", store)
			t.Logf("%s", stdout)
			if code != ExitValid {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitValid, stdout, stderr)
			}
			if way.name == "dockerfile" && !strings.Contains(stdout+stderr, "Dockerfile") && !strings.Contains(stdout+stderr, "Step 1/") {
				t.Errorf("no sign of a Dockerfile build in the output")
			}
		})
	}
}

// TestBadSystemFileIsBadInput: mistakes in a system file are bad input,
// named by the system file's own line, and nothing starts.
func TestBadSystemFileIsBadInput(t *testing.T) {
	dir := t.TempDir()
	sys, err := os.ReadFile("../../systems/redis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scen := "name: bad\nsystem: {file: sys.yaml, nodes: 1}\nworkload: {keys: 1, rate: 5}\ntime_limit: 2s\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(scen), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"unknown field", "ready: {tcp: 6379}", "ready: {tcp: 6379}\nreplicas: 3", `sys.yaml:19:1: replicas: unknown field "replicas"`},
		{"unknown variable", "{{.DataDir}}", "{{.Datadir}}", "sys.yaml:15:10: command: the template cannot be expanded"},
		{"no command", "command: >-", "commands: >-", `required field "command" is missing`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(string(sys), tt.from, tt.to, 1)
			if err := os.WriteFile(filepath.Join(dir, "sys.yaml"), []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			store := t.TempDir()
			code, stdout, stderr := runLab(t, "run", filepath.Join(dir, "s.yaml"), "--store", store)
			if code != ExitBadInput || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", code, ExitBadInput, tt.want, stdout, stderr)
			}
			if entries, _ := os.ReadDir(store); len(entries) != 0 {
				t.Errorf("the store holds %d entries after bad input", len(entries))
			}
		})
	}
}

// TestDebianRootOnTheLocalRuntimeIsBadInput: the local runtime runs static
// binaries only; a system built from Debian packages is refused before the
// root is built or a run directory made.
func TestDebianRootOnTheLocalRuntimeIsBadInput(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs("../../systems/redis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	scen := fmt.Sprintf("name: local-redis\nruntime: local\nsystem: {file: %s, nodes: 1}\nworkload: {keys: 1, rate: 5}\ntime_limit: 5s\n", abs)
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(scen), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	code, stdout, stderr := runLab(t, "run", filepath.Join(dir, "s.yaml"), "--store", store)
	if code != ExitBadInput || !strings.Contains(stderr, "runs only static binaries") || !strings.Contains(stderr, "runtime: docker") {
		t.Fatalf("exit %d, want %d naming the runtime\nstdout:\n%s\nstderr:\n%s", code, ExitBadInput, stdout, stderr)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("the store holds %d entries after bad input", len(entries))
	}
}

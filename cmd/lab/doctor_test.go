package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/probe"
)

func TestDoctorExit(t *testing.T) {
	all := func(netem bool) []probe.Check {
		return []probe.Check{
			{Name: "docker", OK: true, Detail: "engine 20.10", Means: "runs"},
			{Name: "root", OK: true, Detail: "uid 0", Means: "network faults"},
			{Name: "nftables", OK: true, Detail: "nf_tables", Means: "partitions"},
			{Name: "netem", OK: netem, Detail: "missing: sch_netem not in this kernel", Means: "no duplicate"},
		}
	}
	noDocker := all(true)
	noDocker[0].OK = false
	tests := []struct {
		name   string
		in     []probe.Check
		code   int
		output []string
	}{
		{"all there", all(true), ExitValid, []string{"docker", "yes", "can work here"}},
		{"no netem is fine", all(false), ExitValid, []string{"netem", "no", "missing: sch_netem"}},
		{"no docker", noDocker, ExitLabFailure, []string{"docker", "no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := doctor(&out, tt.in, false)
			code := ExitValid
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d (%v), want %d", code, err, tt.code)
			}
			for _, want := range tt.output {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestDoctorOnThisMachine runs lab doctor for real: as root here, with
// Docker and nf_tables, it must pass and say what it found about netem.
func TestDoctorOnThisMachine(t *testing.T) {
	labtest.Root(t)
	labtest.Docker(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"doctor", "--json"}, &stdout, &stderr); code != ExitValid {
		t.Fatalf("lab doctor exit %d: %s", code, stderr.String())
	}
	var checks []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, stdout.String())
	}
	got := map[string]bool{}
	for _, c := range checks {
		got[c.Name] = c.OK
	}
	for _, name := range []string{"docker", "root", "nftables", "nfqueue-target", "nfnetlink-queue"} {
		if !got[name] {
			t.Errorf("%s: no, want yes on this machine", name)
		}
	}
	if _, err := os.Stat("/proc/self/ns/time"); got["timens"] != (err == nil) {
		t.Errorf("timens = %v, want %v", got["timens"], err == nil)
	}
	// As root with /dev/fuse, the lab mounts by itself: disk faults work.
	if _, err := os.Stat("/dev/fuse"); got["fuse"] != (err == nil) {
		t.Errorf("fuse = %v, want %v", got["fuse"], err == nil)
	}
}

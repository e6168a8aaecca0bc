package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const lockData = "../../checker/testdata/lock"

// TestCheckLock runs lab check on lock histories: the model inferred from
// the lease records or named, two holders with live leases invalid (exit
// 1), the lease limit valid and told, bad values as bad input.
func TestCheckLock(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.jsonl")
	os.WriteFile(garbage, []byte(`{"time":1,"process":0,"type":"invoke","f":"acquire","key":"l","value":"v3lock"}`+"\n"+
		`{"time":2,"process":0,"type":"ok","f":"acquire","key":"l","value":{"token":5}}`+"\n"+
		`{"time":3,"process":0,"type":"invoke","f":"lease","value":1}`+"\n"+
		`{"time":4,"process":0,"type":"ok","f":"lease","value":[1,9]}`+"\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantStderr string
	}{
		{"two holders", []string{"check", lockData + "/two-holders.jsonl"}, ExitInvalid,
			"two-holders: lock lab-lock/0 had two holders at once: process 1 (via n3) acquired it at 2 s with token 44 while process 0 (via n1) held it", ""},
		{"the lease limit", []string{"check", "--model", "lock", lockData + "/lease-expired.jsonl"}, ExitValid,
			"the known limit of lease-based locks, not a violation", ""},
		{"the lease limit counted", []string{"check", lockData + "/lease-expired.jsonl"}, ExitValid,
			"locks: 1, 2 holds, 2 leases recorded; two holders with live leases 0, through an expired lease 1", ""},
		{"sequential", []string{"check", lockData + "/sequential.jsonl"}, ExitValid, "verdict: VALID (model lock", ""},
		{"jepsen mutex as a lock", []string{"check", "--model", "lock", lockData + "/jepsen-mutex.edn"}, ExitInvalid, "held no lease", ""},
		{"garbage value", []string{"check", garbage}, ExitBadInput, "", `event 2: acquire ok value must be the fencing token (an integer, 0 or more) or null, got {"token":5}`},
		{"lock model on a register history", []string{"check", "--model", "lock", corpus + "/jepsen/etcd_002.log"}, ExitBadInput, "", "is not an operation of the lock model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runLab(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
		})
	}
}

// TestCheckLockOut: --out writes results.json with the lock account and a
// history.html that draws the locks.
func TestCheckLockOut(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runLab(t, "check", "--out", out, lockData+"/lease-expired.jsonl")
	if code != ExitValid {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitValid, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Model string `json:"model"`
		Lock  struct {
			Holds        int `json:"holds"`
			LeaseExpired int `json:"lease_expired"`
			LeaseLimit   []struct {
				Kind string `json:"kind"`
			} `json:"lease_limit"`
		} `json:"lock"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Model != "lock" || got.Lock.Holds != 2 || got.Lock.LeaseExpired != 1 ||
		len(got.Lock.LeaseLimit) != 1 || got.Lock.LeaseLimit[0].Kind != "lease-expired" {
		t.Errorf("results.json = %+v (%v)", got, err)
	}
	page, err := os.ReadFile(filepath.Join(out, "history.html"))
	if err != nil || !strings.Contains(string(page), "lease-expired") {
		t.Errorf("history.html lacks the lease-expired annotation (%v)", err)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpus = "../../checker/testdata/porcupine"

// labJSONL is a lab history with a stale read on key 3.
const labJSONL = `{"time":10000000000,"process":0,"type":"invoke","f":"write","key":"3","value":2}
{"time":10100000000,"process":0,"type":"ok","f":"write","key":"3","value":2}
{"time":10500000000,"process":"nemesis","type":"info","f":"fault-start","fault":{"id":1,"kind":"partition","shape":"isolate","detail":"n3 cut off"}}
{"time":11200000000,"process":1,"type":"invoke","f":"write","key":"3","value":5}
{"time":11900000000,"process":1,"type":"ok","f":"write","key":"3","value":5}
{"time":12400000000,"process":2,"type":"invoke","f":"read","key":"3","value":null}
{"time":12500000000,"process":2,"type":"ok","f":"read","key":"3","value":2}
{"time":13000000000,"process":"nemesis","type":"info","f":"fault-end","fault":{"id":1,"kind":"partition"}}
`

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.MkdirAll(run, 0o755)
	os.WriteFile(filepath.Join(run, "history.jsonl"), []byte(labJSONL), 0o644)
	bad := filepath.Join(dir, "bad.edn")
	os.WriteFile(bad, []byte("{:process 0 :type :invoke :f :read}\n{:process 0 :type :done :f :read}\n"), 0o644)
	badJSON := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(badJSON, []byte(`{"time":1,"process":0,"type":"invoke","f":"read"}`+"\n"+`{"time":2,"process":0,"type":"maybe","f":"read"}`+"\n"), 0o644)
	cycle := filepath.Join(dir, "cycle.edn")
	os.WriteFile(cycle, []byte("[{:process 0 :type :invoke :f :cas :value [1 1]}\n {:process 0 :type :ok :f :cas :value [1 1]}]\n"), 0o644)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	hello := write("hello.txt", "hello world")
	empty := write("empty.jsonl", "")
	binary := write("binary", "\x00\x01\xfe\xff")
	mixed := write("mixed.edn", "{:process 0 :type :invoke :f :read :time 5}\n{:process 0 :type :ok :f :read :value nil}\n")
	early := write("early.jsonl", `{"time":5,"process":0,"type":"invoke","f":"read"}`+"\n"+`{"time":4,"process":0,"type":"ok","f":"read","value":null}`+"\n")
	cut := write("cut.jsonl", `{"time":1,"process":0,"type":"invoke","f":"read"}`+"\n"+`{"time":2,"process":0,"type":"ok","f":"read","value":null}`+"\n"+`{"time":3,"proc`)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantStderr string
	}{
		{"valid etcd log", []string{"check", corpus + "/jepsen/etcd_002.log"}, ExitValid, "verdict: VALID (model cas-register", ""},
		{"invalid etcd log", []string{"check", "--format", "jepsen-log", corpus + "/jepsen/etcd_000.log"}, ExitInvalid, "nonlinearizable:", ""},
		{"timed out is unknown", []string{"check", "--timeout", "1ns", corpus + "/jepsen/etcd_002.log"}, ExitUnknown, "verdict: UNKNOWN", ""},
		{"cas [1 1] alone", []string{"check", cycle}, ExitInvalid, "verdict: INVALID", ""},
		{"verify", []string{"check", "--verify", corpus + "/jepsen/etcd_002.log"}, ExitValid, "verified: 1 keys agree with plain porcupine", ""},
		{"kv inferred", []string{"check", corpus + "/kv/c10-bad.txt"}, ExitInvalid, "model kv", ""},
		{"kv ok", []string{"check", "--model", "kv", corpus + "/kv/c01-ok.txt"}, ExitValid, "VALID", ""},
		{"run directory", []string{"check", run}, ExitInvalid, "stale-read: read of key 3 invoked at 12.4 s returned 2, but the write of 5 had completed at 11.9 s", ""},
		{"malformed edn", []string{"check", bad}, ExitBadInput, "", bad + ":2: :type must be one of"},
		{"malformed jsonl", []string{"check", badJSON}, ExitBadInput, "", badJSON + ":2: field type"},
		{"missing file", []string{"check", filepath.Join(dir, "nope")}, ExitBadInput, "", "Try: give a history file"},
		{"unknown model", []string{"check", "--model", "stack", run}, ExitBadInput, "", `unknown model "stack"`},
		{"model mismatch", []string{"check", "--model", "kv", run}, ExitBadInput, "", `is not an operation of the kv model`},
		{"unknown format", []string{"check", "--format", "xml", run}, ExitBadInput, "", `unknown format "xml"`},
		{"no path", []string{"check"}, ExitBadInput, "", "accepts 1 arg"},
		{"hello world", []string{"check", hello}, ExitBadInput, "", hello + ":1: not a history event"},
		{"empty file", []string{"check", empty}, ExitBadInput, "", empty + ":1: no event in the file"},
		{"binary", []string{"check", binary}, ExitBadInput, "", binary + ":1:"},
		{"times on some events only", []string{"check", mixed}, ExitBadInput, "", mixed + ":2: this event has no time"},
		{"completion before invocation", []string{"check", early}, ExitBadInput, "", early + ":2: process 0 completes at time 4, before its invocation"},
		{"cut-off last event", []string{"check", cut}, ExitValid, cut + ":3: the last line is an event cut short", ""},
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

func TestCheckOutKeepsRunSection(t *testing.T) {
	run := t.TempDir()
	os.WriteFile(filepath.Join(run, "history.jsonl"), []byte(labJSONL), 0o644)
	os.WriteFile(filepath.Join(run, "results.json"), []byte(`{"valid":true,"run":{"id":"r1"}}`), 0o644)
	code, stdout, stderr := runLab(t, "check", "--out", run, run)
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitInvalid, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(run, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Valid     any `json:"valid"`
		Run       struct{ ID string }
		Anomalies []struct{ Kind string }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Valid != false || got.Run.ID != "r1" || len(got.Anomalies) != 1 || got.Anomalies[0].Kind != "stale-read" {
		t.Errorf("results.json = %s", b)
	}
	html, err := os.ReadFile(filepath.Join(run, "history.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "n3 cut off") || len(html) > 2<<20 {
		t.Errorf("history.html: %d bytes, fault annotation present: %v", len(html), strings.Contains(string(html), "n3 cut off"))
	}
}

// TestCheckCrashIsLabFailure: a check whose process dies of a Go runtime
// fatal error (exit status 2, like a stack overflow) is a lab failure,
// exit 255, never the verdict "unknown" that exit 2 means.
func TestCheckCrashIsLabFailure(t *testing.T) {
	t.Setenv(checkCrashEnv, "1")
	code, stdout, stderr := runLab(t, "check", corpus+"/jepsen/etcd_002.log")
	if code != ExitLabFailure {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitLabFailure, stdout, stderr)
	}
	for _, want := range []string{"the check crashed (exit status 2)", "stack overflow"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%.3000s", want, stderr)
		}
	}
}

// TestCheckFailCASReading: the reading of failed cas is chosen by the
// format or by --fail-cas, printed, and written to results.json.
func TestCheckFailCASReading(t *testing.T) {
	hist := "../../checker/testdata/failsem/fail-cas.edn"
	tests := []struct {
		args    []string
		code    int
		reading string
	}{
		{nil, ExitValid, "dropped"},
		{[]string{"--fail-cas", "observed"}, ExitInvalid, "observed"},
		{[]string{"--fail-cas", "dropped"}, ExitValid, "dropped"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := t.TempDir()
			args := append(append([]string{"check", "--out", out}, tt.args...), hist)
			code, stdout, stderr := runLab(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, "failed cas: "+tt.reading) {
				t.Errorf("stdout lacks the reading %q:\n%s", tt.reading, stdout)
			}
			b, _ := os.ReadFile(filepath.Join(out, "results.json"))
			var got struct {
				FailCAS string `json:"fail_cas"`
			}
			if err := json.Unmarshal(b, &got); err != nil || got.FailCAS != tt.reading {
				t.Errorf("results.json fail_cas = %q (%v), want %q", got.FailCAS, err, tt.reading)
			}
		})
	}
	code, _, stderr := runLab(t, "check", "--fail-cas", "maybe", hist)
	if code != ExitBadInput || !strings.Contains(stderr, "--fail-cas dropped|observed") {
		t.Errorf("--fail-cas maybe: exit %d, stderr %s", code, stderr)
	}
}

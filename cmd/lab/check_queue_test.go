package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const queueData = "../../checker/testdata/queue"

// TestCheckQueue runs lab check on queue histories: exit codes 0, 1 and 2,
// the model inferred or named, --exactly-once, bad values as bad input.
func TestCheckQueue(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.jsonl")
	os.WriteFile(garbage, []byte(`{"time":1,"process":0,"type":"invoke","f":"enqueue","value":1}`+"\n"+
		`{"time":2,"process":0,"type":"ok","f":"enqueue","value":[1,1]}`+"\n"+
		`{"time":3,"process":1,"type":"invoke","f":"drain","node":"n1","value":1}`+"\n"+
		`{"time":4,"process":1,"type":"ok","f":"drain","node":"n1","value":{"seq":1}}`+"\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantStderr string
	}{
		{"valid", []string{"check", queueData + "/lab-ok.jsonl"}, ExitValid, "verdict: VALID (model queue", ""},
		{"lost", []string{"check", queueData + "/lab-lost.jsonl"}, ExitInvalid,
			"lost-middle: message 11 (process 1, via n2), acknowledged at seq 4 at 4.1 s, while partition (majority-minority) [n1 n2 | n3] was in effect", ""},
		{"drain gave up", []string{"check", "--model", "queue", queueData + "/lab-unread.jsonl"}, ExitUnknown, "unread, not lost", ""},
		{"duplicates allowed", []string{"check", queueData + "/lab-duplicated-ok.jsonl"}, ExitValid, "duplicated 1", ""},
		{"duplicates with --exactly-once", []string{"check", "--exactly-once", queueData + "/lab-duplicated-ok.jsonl"}, ExitInvalid, "duplicated: message 1 (process 0, via n1)", ""},
		{"jepsen edn", []string{"check", queueData + "/jepsen-lost.edn"}, ExitInvalid, "lost 1 (start 0, middle 1, end 0)", ""},
		{"garbage value", []string{"check", garbage}, ExitBadInput, "", "event 4: drain value must be an array"},
		{"queue model on a register history", []string{"check", "--model", "queue", corpus + "/jepsen/etcd_002.log"}, ExitBadInput, "", "is not an operation of the queue model"},
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

// TestCheckQueueOut: --out writes results.json with the queue account,
// a history.html, and a report with the queue plot.
func TestCheckQueueOut(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runLab(t, "check", "--out", out, queueData+"/lab-lost.jsonl")
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitInvalid, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Queue struct {
			Acknowledged int `json:"acknowledged"`
			LostMiddle   int `json:"lost_middle"`
			Nodes        []struct {
				Node     string `json:"node"`
				Complete bool   `json:"complete"`
			} `json:"nodes"`
		} `json:"queue"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Queue.Acknowledged != 6 || got.Queue.LostMiddle != 1 || len(got.Queue.Nodes) != 3 || !got.Queue.Nodes[0].Complete {
		t.Errorf("results.json queue = %+v (%v)", got.Queue, err)
	}
	for _, f := range []string{"history.html", "queue.png", "queue.svg", "report.md", "report.html"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"### Queue account", "| lost in the middle (a hole) | 1 |", "queue.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

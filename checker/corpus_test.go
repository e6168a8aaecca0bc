package checker

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPorcupineCorpus checks the 102 Jepsen etcd logs and the 6 kv
// histories of porcupine's test data through CheckPath, the code path of
// `lab check`, against the verdicts porcupine's own tests assert.
func TestPorcupineCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "porcupine")
	f, err := os.Open(filepath.Join(dir, "verdicts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]Verdict{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			t.Fatalf("verdicts.txt: bad line %q", line)
		}
		want[fields[0]] = map[string]Verdict{"true": Valid, "false": Invalid}[fields[1]]
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "jepsen", "*.log"))
	kvs, _ := filepath.Glob(filepath.Join(dir, "kv", "*.txt"))
	if len(logs) != 103 || len(kvs) != 6 {
		t.Fatalf("found %d jepsen logs and %d kv histories, want 103 and 6", len(logs), len(kvs))
	}
	checked := 0
	for _, path := range append(logs, kvs...) {
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			w, ok := want[rel]
			if !ok {
				if rel == "jepsen/etcd_095.log" {
					t.Skip("etcd_095.log is empty (its run failed to start the cluster) and has no expected verdict")
				}
				t.Fatalf("no verdict for %s in verdicts.txt", rel)
			}
			res, _, err := CheckPath(context.Background(), path, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != w {
				t.Errorf("CheckPath(%s) = %s, want %s (%s)", rel, res.Verdict, w, res.Reason)
			}
			if w == Invalid && len(res.Anomalies) == 0 {
				t.Errorf("CheckPath(%s) is invalid but has no anomaly", rel)
			}
			checked++
		})
	}
	if checked != 108 {
		t.Errorf("checked %d histories, want 108 (102 etcd logs + 6 kv)", checked)
	}
}

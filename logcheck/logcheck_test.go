package logcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPatterns are etcd's, as systems/etcd gives them.
var testPatterns = Patterns{
	Leader:     []string{"elected leader", "became leader"},
	Start:      []string{"starting an etcd server"},
	Restarting: []string{"restarting local member"},
}

func TestCheck(t *testing.T) {
	const ts = "2026-11-21T06:46:43.5Z "
	tests := []struct {
		name string
		in   string
		want []Kind
	}{
		{"nothing", ts + `{"level":"info","msg":"serving client traffic"}`, nil},
		{"go panic", ts + "panic: runtime error: index out of range\n" + ts + "goroutine 1 [running]:", []Kind{Panic}},
		{"zap panic", ts + `{"level":"panic","msg":"boom"}`, []Kind{Panic}},
		{"fatal error", "fatal error: concurrent map writes", []Kind{Fatal}},
		{"zap fatal", `{"level":"fatal","ts":"2026-11-21T06:46:43Z","msg":"x"}`, []Kind{Fatal}},
		{"data race", ts + "==================\n" + ts + "WARNING: DATA RACE", []Kind{Race}},
		{"leader", ts + `{"level":"info","msg":"raft.node: aa elected leader bb at term 3"}` + "\n" + ts + `{"msg":"bb became leader at term 3"}`, []Kind{LeaderChange, LeaderChange}},
		{"first start is no restart", ts + `{"msg":"starting an etcd server"}`, nil},
		{"second start is", ts + `{"msg":"starting an etcd server"}` + "\n" + ts + `{"msg":"restarting local member"}` + "\n" + ts + `{"msg":"starting an etcd server"}`, []Kind{Restart}},
		{"restarting alone", `{"msg":"restarting local member"}`, []Kind{Restart}},
		{"level word in text only", `{"level":"warn","msg":"panic: not at start"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Check(strings.NewReader(tt.in), "n1", testPatterns)
			if err != nil {
				t.Fatal(err)
			}
			var got []Kind
			for _, f := range fs {
				got = append(got, f.Kind)
				if f.Node != "n1" {
					t.Errorf("Node=%q, want n1", f.Node)
				}
			}
			if strings.Join(kinds(got), ",") != strings.Join(kinds(tt.want), ",") {
				t.Errorf("Check(%q) kinds=%v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func kinds(ks []Kind) []string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return s
}

func TestCheckFields(t *testing.T) {
	in := "2026-11-21T06:46:43.5Z {\"msg\":\"raft.node: aa elected leader bb at term 12\"}\n" +
		`{"level":"fatal","ts":"2026-11-21T06:46:44.25Z","msg":"<script>x</script>"}` + "\n"
	fs, err := Check(strings.NewReader(in), "n2", testPatterns)
	if err != nil || len(fs) != 2 {
		t.Fatalf("Check=%v, %v; want 2 findings", fs, err)
	}
	if want := time.Date(2026, 11, 21, 6, 46, 43, 5e8, time.UTC); !fs[0].Time.Equal(want) || fs[0].Line != 1 || fs[0].Term != 12 {
		t.Errorf("first=%+v, want time %v, line 1, term 12", fs[0], want)
	}
	if strings.HasPrefix(fs[0].Text, "2026") {
		t.Errorf("Text=%q keeps Docker's timestamp", fs[0].Text)
	}
	if want := time.Date(2026, 11, 21, 6, 46, 44, 25e7, time.UTC); !fs[1].Time.Equal(want) || !strings.Contains(fs[1].Text, "<script>") {
		t.Errorf("second=%+v, want time %v and the line as it was", fs[1], want)
	}
	long := strings.Repeat("é", MaxText)
	fs, _ = Check(strings.NewReader("panic: "+long), "n1", testPatterns)
	if len(fs) != 1 || len(fs[0].Text) > MaxText+len("…") || !strings.HasSuffix(fs[0].Text, "…") {
		t.Errorf("long line not clipped: %d bytes", len(fs[0].Text))
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "n1.log"), []byte("2026-11-21T06:46:45Z WARNING: DATA RACE\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "n2.log"), []byte("2026-11-21T06:46:44Z panic: x\n"), 0o644)
	fs, err := CheckDir(dir, testPatterns)
	if err != nil || len(fs) != 2 || fs[0].Node != "n2" || fs[1].Node != "n1" {
		t.Fatalf("CheckDir=%+v, %v; want n2's panic then n1's race", fs, err)
	}
	if fs, err := CheckDir(filepath.Join(dir, "missing"), testPatterns); err != nil || len(fs) != 0 {
		t.Errorf("CheckDir(missing)=%v, %v; want nothing", fs, err)
	}
}

package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/history"
)

// ednOf renders events as a Jepsen EDN history: one vector, keys in a
// shuffled order, commas, a comment, integer keys as integers.
func ednOf(events []history.Event) string {
	var b strings.Builder
	b.WriteString("; generated\n[")
	for i, e := range events {
		var v any
		if len(e.Value) > 0 {
			json.Unmarshal(e.Value, &v)
		}
		val := "nil"
		switch x := v.(type) {
		case float64:
			val = fmt.Sprint(int64(x))
		case []any:
			var parts []string
			for _, p := range x {
				parts = append(parts, fmt.Sprint(int64(p.(float64))))
			}
			val = "[" + strings.Join(parts, " ") + "]"
		case string:
			val = fmt.Sprintf("%q", x)
		case bool:
			val = fmt.Sprint(x)
		}
		proc := e.Process.String()
		if e.Process == history.Nemesis {
			proc = ":nemesis"
		}
		fields := []string{":process " + proc, ":type :" + string(e.Type), ":f :" + e.F, ":value " + val,
			fmt.Sprintf(":time %d", e.Time), ":key " + e.Key, fmt.Sprintf(":index %d", i)}
		if i%2 == 1 {
			fields[0], fields[3] = fields[3], fields[0]
			fields[1], fields[5] = fields[5], fields[1]
		}
		b.WriteString("{" + strings.Join(fields, ", ") + "}\n ")
	}
	b.WriteString("]\n")
	return b.String()
}

func jsonlOf(events []history.Event) string {
	var b strings.Builder
	for _, e := range events {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFormatsAgree writes synthetic histories as history.jsonl and as
// Jepsen EDN and checks both files through CheckPath: same verdicts, same
// counts.
func TestFormatsAgree(t *testing.T) {
	dir := t.TempDir()
	for seed := range uint64(20) {
		ev := synthHistory(synthSpec{ops: 300, keys: 3, procs: 5, unknown: 0.05, cas: true, invalid: seed%2 == 1, seed: seed})
		jp := filepath.Join(dir, fmt.Sprintf("h%d.jsonl", seed))
		ep := filepath.Join(dir, fmt.Sprintf("h%d.edn", seed))
		os.WriteFile(jp, []byte(jsonlOf(ev)), 0o644)
		os.WriteFile(ep, []byte(ednOf(ev)), 0o644)
		rj, _, err := CheckPath(context.Background(), jp, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		re, _, err := CheckPath(context.Background(), ep, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := Valid
		if seed%2 == 1 {
			want = Invalid
		}
		if rj.Verdict != want || re.Verdict != want || rj.Counts.Ops != re.Counts.Ops || rj.Counts.Info != re.Counts.Info {
			t.Errorf("seed %d: jsonl %s (%d ops, %d info), edn %s (%d ops, %d info), want %s",
				seed, rj.Verdict, rj.Counts.Ops, rj.Counts.Info, re.Verdict, re.Counts.Ops, re.Counts.Info, want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"time":1,"process":0}`, "jsonl"},
		{`{:process 0}`, "edn"},
		{"; comment\n{:process 0}", "edn"},
		{"[{:process 0}]", "edn"},
		{"(", "edn"},
		{"2015 INFO jepsen.core - hi\nINFO  jepsen.util - 0\t:invoke\t:read\tnil", "jepsen-log"},
		{"", "jsonl"},
		{"\n\n  {}\n", "jsonl"},
	}
	for _, tt := range tests {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%q)=%s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestHistories(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "histories", "*.*"))
	n := 0
	for _, p := range paths {
		if strings.HasSuffix(p, ".md") {
			continue
		}
		n++
		t.Run(filepath.Base(p), func(t *testing.T) {
			res, _, err := CheckPath(context.Background(), p, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := Invalid
			if strings.Contains(p, "-ok.") {
				want = Valid
			}
			if res.Verdict != want {
				t.Errorf("CheckPath(%s)=%s, want %s (%+v)", p, res.Verdict, want, res.Anomalies)
			}
		})
	}
	if n < 6 {
		t.Errorf("found %d histories, want 6", n)
	}
}

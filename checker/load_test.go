package checker

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoadStreamsAsParse: Load reads a file as a stream, detecting the
// format from its start; it must give what Parse gives on the same bytes,
// including where detection needs more than its window.
func TestLoadStreamsAsParse(t *testing.T) {
	ednOp := func(i int) string {
		return fmt.Sprintf("{:type :invoke, :f :write, :value [%d %d], :time %d, :process 0, :index %d} {:type :ok, :f :write, :value [%d %d], :time %d, :process 0, :index %d}", i%3, i, 2*i, 2*i, i%3, i, 2*i+1, 2*i+1)
	}
	var vector strings.Builder
	vector.WriteString("[")
	for i := range 2000 {
		vector.WriteString(ednOp(i) + " ")
	}
	vector.WriteString("]")
	logLines := strings.Repeat("INFO  jepsen.core - setting up the cluster, again and again\n", 2000)
	tests := []struct {
		name, in string
		format   string
		events   int // 0: an error
	}{
		{"edn vector on one line past the window", vector.String(), "edn", 4000},
		{"edn vector cut short past the window", vector.String()[:100_000], "edn", 0},
		{"log lines past the window, then operations", logLines + "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tnil\n", "jepsen-log", 2},
		{"nothing decides", strings.Repeat("hello\n", 20_000), "jsonl", 0},
		{"jsonl with its last line cut", `{"time":1,"process":0,"type":"invoke","f":"read"}` + "\n" + `{"time":2,"process":0,"type":"ok","f":"read","va`, "jsonl", 1},
		{"empty", "", "jsonl", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "h")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			want, used, cut, wantErr := parse([]byte(tt.in), path, "")
			if len(want) != tt.events || (wantErr == nil) != (tt.events > 0) {
				t.Fatalf("Parse: %d events, err %v; want %d events", len(want), wantErr, tt.events)
			}
			got, err := load(path, "")
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || got.format != tt.format || used != tt.format ||
				got.cutLine != cut || !reflect.DeepEqual(got.events, want) {
				t.Errorf("load: %d events, format %s, cut line %d, err %v\nwant %d events, format %s, cut line %d, err %v",
					len(got.events), got.format, got.cutLine, err, len(want), tt.format, cut, wantErr)
			}
		})
	}
}

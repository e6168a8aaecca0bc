package byo

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/scenarios"
)

const redisFile = `name: redis
nodes: [1, 3]
files:
  debian:
    packages: [redis-server]
    binaries: [/usr/bin/redis-server]
command: >-
  /usr/bin/redis-server --port 6379 --bind {{.Addr}} --dir {{.DataDir}}
  {{if .Index}}--replicaof {{(index .Peers 0).Addr}} 6379{{end}}
env: ["NODE={{.Name}}"]
ready: {tcp: 6379}
logs:
  start: ["Server initialized"]
adapter:
  command: python3 {{.Dir}}/adapter.py {{.Addr}}:6379
  workloads: [register, set]
`

func TestParseAGoodFile(t *testing.T) {
	f, err := Parse("systems/redis.yaml", []byte(redisFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "redis" || !slices.Equal(f.Nodes, []int{1, 3}) || f.Ready.TCP != 6379 || f.Files.Debian == nil {
		t.Fatalf("parsed %+v", f)
	}
	names := []string{"n1", "n2", "n3"}
	addrs := []netip.Addr{netip.MustParseAddr("10.1.0.11"), netip.MustParseAddr("10.1.0.12"), netip.MustParseAddr("10.1.0.13")}
	first, err := f.Command.Words(f.Vars(0, names, addrs, "/data", "tok"))
	if err != nil {
		t.Fatal(err)
	}
	second, _ := f.Command.Words(f.Vars(1, names, addrs, "/data", "tok"))
	if want := "/usr/bin/redis-server --port 6379 --bind 10.1.0.11 --dir /data"; strings.Join(first, " ") != want {
		t.Errorf("n1's command %q, want %q", first, want)
	}
	if want := "/usr/bin/redis-server --port 6379 --bind 10.1.0.12 --dir /data --replicaof 10.1.0.11 6379"; strings.Join(second, " ") != want {
		t.Errorf("n2's command %q, want %q", second, want)
	}
	a, err := f.Adapter.Command.Words(AdapterVars{Name: "n2", Addr: "10.1.0.12", Dir: "systems"})
	if err != nil || strings.Join(a, " ") != "python3 systems/adapter.py 10.1.0.12:6379" {
		t.Errorf("adapter command %q, %v", a, err)
	}
}

// TestBadFilesNameFileLineAndField: each mistake is reported at its line,
// with the field's path, and a hint.
func TestBadFilesNameFileLineAndField(t *testing.T) {
	for _, tt := range []struct {
		name, edit, with string
		line             int
		field, says      string
	}{
		{"unknown field", "nodes: [1, 3]", "nodes: [1, 3]\nreplicas: 2", 3, "replicas", "unknown field"},
		{"missing command", "command: >-\n  /usr/bin/redis-server --port 6379 --bind {{.Addr}} --dir {{.DataDir}}\n  {{if .Index}}--replicaof {{(index .Peers 0).Addr}} 6379{{end}}\n", "", 1, "command", "required field \"command\""},
		{"unknown variable", "--dir {{.DataDir}}", "--dir {{.Datadir}}", 7, "command", "Datadir"},
		{"unknown adapter variable", "{{.Dir}}/adapter.py", "{{.Dir}}/adapter.py {{.DataDir}}", 15, "adapter.command", "DataDir"},
		{"two ways to get files", "  debian:", "  binary: /bin/true\n  debian:", 4, "files", "exactly one"},
		{"not a port", "{tcp: 6379}", "{tcp: lots}", 11, "ready.tcp", "not a TCP port"},
		{"unknown workload", "[register, set]", "[register, bank]", 16, "adapter.workloads", "unknown workload \"bank\""},
		{"bad template", "--port 6379", "--port {{.Port", 7, "command", "not a template"},
		{"not yaml", "ready: {tcp: 6379}", "ready: {tcp: 6379", 0, "", "not YAML"},
		{"missing dockerfile", "  debian:\n    packages: [redis-server]\n    binaries: [/usr/bin/redis-server]", "  dockerfile: nowhere/Dockerfile", 4, "files.dockerfile", "is not a file"},
		{"two ways to ask the leader", "ready: {tcp: 6379}", "ready: {tcp: 6379}\nleader: {command: echo n1, http: \"http://{{.Addr}}/\"}", 12, "leader", "exactly one way"},
		{"bad leader variable", "ready: {tcp: 6379}", "ready: {tcp: 6379}\nleader: {command: [ask, \"{{.Leader}}\"]}", 12, "leader.command[1]", "Leader"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(redisFile, tt.edit, tt.with, 1)
			if src == redisFile {
				t.Fatal("the edit did not apply")
			}
			_, err := Parse("systems/redis.yaml", []byte(src))
			var errs scenarios.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want errors naming the field, got %v", err)
			}
			e := errs[0]
			t.Logf("%v", e)
			if e.File != "systems/redis.yaml" || (tt.line > 0 && e.Line != tt.line) || e.Field != tt.field || !strings.Contains(e.Msg, tt.says) || e.Hint == "" {
				t.Errorf("got %s:%d field %q: %s (hint %q); want line %d field %q saying %q", e.File, e.Line, e.Field, e.Msg, e.Hint, tt.line, tt.field, tt.says)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/none.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/none.yaml") {
		t.Fatalf("got %v", err)
	}
}

// TestCommandAsAList: a command written as a list keeps each word whole,
// so a shell script with spaces is one argument; a bad word is named by
// its index.
func TestCommandAsAList(t *testing.T) {
	src := strings.Replace(redisFile, "command: >-\n  /usr/bin/redis-server --port 6379 --bind {{.Addr}} --dir {{.DataDir}}\n  {{if .Index}}--replicaof {{(index .Peers 0).Addr}} 6379{{end}}\n",
		"command: [/bin/sh, -c, \"echo {{.Name}} > {{.DataDir}}/who; exec redis-server\"]\n", 1)
	f, err := Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Command.Words(sampleNode)
	if err != nil || !slices.Equal(w, []string{"/bin/sh", "-c", "echo n1 > /data/who; exec redis-server"}) {
		t.Fatalf("words %q, %v", w, err)
	}
	bad := strings.Replace(src, "{{.Name}} >", "{{.Nmae}} >", 1)
	_, err = Parse("s.yaml", []byte(bad))
	var errs scenarios.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Field != "command[2]" || errs[0].Line == 0 {
		t.Fatalf("error %v, want one naming command[2] at its line", err)
	}
}

package nats

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
)

func TestOpenRefusesANonVersion(t *testing.T) {
	for _, v := range []string{"latest", "2.10", "v2.x.1", "2.10.7; rm -rf /"} {
		if _, err := (System{}).Open(systems.Config{Version: v}); err == nil {
			t.Errorf("Open(%q) = nil error, want a refusal", v)
		}
	}
}

// TestOpenRefusesAnUnservedVersion asks the Go module proxy, as a run
// does before anything starts.
func TestOpenRefusesAnUnservedVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("asks the Go module proxy")
	}
	_, err := (System{}).Open(systems.Config{Version: "9.9.9"})
	if err == nil {
		t.Fatal("Open(9.9.9) = nil error")
	}
	if !strings.Contains(err.Error(), "not served") || !strings.Contains(err.Error(), "versions nearby: 2.") {
		t.Fatalf("error %q should say the version is not served and name versions nearby", err)
	}
}

func TestConfig(t *testing.T) {
	n := &NATS{version: "2.15.3", params: Params{SyncInterval: "always"}}
	nodes := []runtime.Placement{
		{Name: "n1", Addr: netip.MustParseAddr("10.0.0.2"), DataDir: "/data"},
		{Name: "n2", Addr: netip.MustParseAddr("10.0.0.3"), DataDir: "/data"},
		{Name: "n3", Addr: netip.MustParseAddr("10.0.0.4"), DataDir: "/data"},
	}
	spec := n.Node(nodes[1], systems.Cluster{Nodes: nodes, Token: "lab-run1"})
	var conf string
	for _, e := range spec.Env {
		if v, ok := strings.CutPrefix(e, "LAB_NATS_CONFIG="); ok {
			conf = v
		}
	}
	for _, want := range []string{
		`server_name: "n2"`,
		`store_dir: "/data/jetstream"`,
		"sync_interval: always",
		`routes: ["nats://10.0.0.2:6222", "nats://10.0.0.4:6222"]`,
		`name: "lab-run1"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if n.replicas != 3 {
		t.Errorf("replicas = %d, want one per node", n.replicas)
	}
	n.params.SyncInterval = ""
	if conf := n.config(nodes[0], systems.Cluster{Nodes: nodes, Token: "t"}); strings.Contains(conf, "sync_interval") {
		t.Errorf("the default sync_interval should leave the server's own:\n%s", conf)
	}
}

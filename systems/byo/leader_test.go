package byo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/systems"
)

var leaderPeers = []systems.Peer{
	{Name: "n1", Addr: netip.MustParseAddr("10.0.0.11")},
	{Name: "n2", Addr: netip.MustParseAddr("10.0.0.12")},
	{Name: "n3", Addr: netip.MustParseAddr("10.0.0.13")},
}

func instanceWithLeader(t *testing.T, leader string) *Instance {
	t.Helper()
	src := strings.Replace(redisFile, "ready: {tcp: 6379}", "ready: {tcp: 6379}\nleader: "+leader, 1)
	f, err := Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return &Instance{file: f}
}

// TestLeaderFromACommand: each node is asked in turn; the answer may name
// the node or its address with a port; a node that cannot answer is passed
// over, and nodes that disagree are an error.
func TestLeaderFromACommand(t *testing.T) {
	// The script answers by the node it is asked through.
	script := `case {{.Name}} in n1) echo 10.0.0.12:6379;; n2) echo " n2 ";; n3) exit 3;; esac`
	s := instanceWithLeader(t, fmt.Sprintf("{command: [/bin/sh, -c, %q]}", script))
	got, err := s.Leader(context.Background(), leaderPeers)
	if err != nil || got != "n2" {
		t.Fatalf("Leader = %q, %v; want n2", got, err)
	}
	s = instanceWithLeader(t, `{command: [/bin/sh, -c, "case {{.Name}} in n1) echo n1;; *) echo n3;; esac"]}`)
	if got, err := s.Leader(context.Background(), leaderPeers); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("Leader = %q, %v; want the disagreement named", got, err)
	}
	s = instanceWithLeader(t, `{command: [/bin/sh, -c, "echo 10.9.9.9"]}`)
	if got, err := s.Leader(context.Background(), leaderPeers); err == nil || !strings.Contains(err.Error(), "names no node") {
		t.Fatalf("Leader = %q, %v; want an answer that names no node refused", got, err)
	}
}

// TestLeaderFromJSON reads one field of an HTTP answer.
func TestLeaderFromJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"term": 4, "leader": "n3"}`)
	}))
	defer srv.Close()
	s := instanceWithLeader(t, fmt.Sprintf("{http: %q, json: leader}", srv.URL+"/leader?via={{.Name}}"))
	if got, err := s.Leader(context.Background(), leaderPeers); err != nil || got != "n3" {
		t.Fatalf("Leader = %q, %v; want n3", got, err)
	}
	if !s.HasLeader() {
		t.Error("HasLeader is false with a leader section")
	}
}

// TestNoLeaderSectionNoLeaderPower: without a leader section the instance
// does not offer Leaders, so target: leader is refused before a run.
func TestNoLeaderSectionNoLeaderPower(t *testing.T) {
	f, err := Parse("s.yaml", []byte(redisFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := systems.AsLeaders(serving(&Instance{file: f})); ok {
		t.Error("a file without leader: offers the leader power")
	}
	if _, ok := systems.AsLeaders(serving(instanceWithLeader(t, `{command: "echo n1"}`))); !ok {
		t.Error("a file with leader: does not offer the leader power")
	}
}

package local

import (
	"strings"
	"testing"
)

func TestLinkNamesFitIFNAMSIZ(t *testing.T) {
	for _, runID := range []string{"x", "20260121T101010-a-very-long-scenario-name-indeed", "t1-2"} {
		s := shortID(runID)
		for _, name := range []string{hostLink(s), hubUplink(s), bridgeName(s), hubPort(s, 199), nodeLink(s, 199)} {
			if len(name) > 15 || !strings.HasPrefix(name, "lab"+s) {
				t.Errorf("link name %q for run %q: want at most 15 characters and the prefix lab%s", name, runID, s)
			}
		}
	}
}

func TestHasNetnsCaps(t *testing.T) {
	tests := []struct {
		name, status string
		want         bool
	}{
		{"root", "Name:\tlab\nCapEff:\t000001ffffffffff\n", true},
		{"user", "Name:\tlab\nCapEff:\t0000000000000000\n", false},
		{"net admin only", "CapEff:\t0000000000001000\n", false},
		{"net and sys admin", "CapEff:\t0000000000201000\n", true},
		{"no line", "Name:\tlab\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasNetnsCaps(tt.status); got != tt.want {
				t.Errorf("hasNetnsCaps(%q) = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestNeedsRootSaysSoPlainly(t *testing.T) {
	msg := ErrNeedsRoot.Error()
	for _, want := range []string{"needs root", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "network namespaces"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ErrNeedsRoot = %q, want it to say %q", msg, want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]string{"SIGKILL": "SIGKILL", "term": "SIGTERM", "9": "SIGKILL", "SIGSTOP": "SIGSTOP"} {
		sig, err := parseSignal(in)
		if err != nil || sig.String() == "" {
			t.Errorf("parseSignal(%q) = %v, %v", in, sig, err)
			continue
		}
		if got, _ := parseSignal(want); got != sig {
			t.Errorf("parseSignal(%q) = %v, want %v", in, sig, got)
		}
	}
	if _, err := parseSignal("SIGNOPE"); err == nil {
		t.Error("parseSignal(SIGNOPE) succeeded")
	}
}

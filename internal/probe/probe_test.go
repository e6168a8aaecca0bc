package probe

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/lab-chaos/lab/internal/labtest"
)

// TestProbesMatchThisKernel compares the probes' answers with what the
// kernel was built with (/proc/config.gz) where it says so, and with the
// features this lab's machine is known to have.
func TestProbesMatchThisKernel(t *testing.T) {
	labtest.Root(t)
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	checks := map[string]Check{}
	for _, c := range All(context.Background()) {
		t.Log(c)
		checks[c.Name] = c
	}
	// The probes never leave this thread, or any, in another namespace.
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !before.Equal(after) {
		t.Fatal("the probes left the test in another network namespace")
	}
	// Root with every capability, as the test runs.
	for _, name := range []string{"root", "nftables", "numgen", "nfqueue-target", "nfnetlink-queue", "htb", "tbf"} {
		if !checks[name].OK {
			t.Errorf("%s: no (%s), want yes: this kernel has it", name, checks[name].Detail)
		}
	}
	if _, err := os.Stat("/dev/fuse"); checks["fuse"].OK != (err == nil) {
		t.Errorf("fuse=%v (%s), want %v: as root, /dev/fuse is all a faultfs mount needs", checks["fuse"].OK, checks["fuse"].Detail, err == nil)
	}
	_, statErr := os.Stat("/proc/self/ns/time")
	if got := checks["timens"].OK; got != (statErr == nil) {
		t.Errorf("timens=%v, want %v", got, statErr == nil)
	}
	// netem: the answer must agree with the kernel's list of qdiscs it
	// was built with, where the kernel publishes its config.
	if want, known := kernelHas("CONFIG_NET_SCH_NETEM"); known {
		if got := checks["netem"].OK; got != want {
			t.Errorf("netem=%v (%s), kernel config says %v", got, checks["netem"].Detail, want)
		}
		if !want && !strings.Contains(checks["netem"].Detail, "missing: sch_netem not in this kernel") {
			t.Errorf("netem detail %q does not say plainly what is missing", checks["netem"].Detail)
		}
	}
	if want, known := kernelHas("CONFIG_CGROUP_FREEZER"); known && checks["freezer"].OK != want {
		t.Errorf("freezer=%v, kernel config says %v", checks["freezer"].OK, want)
	}
}

// kernelHas reads /proc/config.gz; known is false where the kernel does not
// publish its configuration.
func kernelHas(option string) (has, known bool) {
	text, err := readKernelConfig()
	if err != nil {
		return false, false
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, option+"=") {
			return true, true
		}
	}
	return false, true
}

func TestNetemIsCached(t *testing.T) {
	labtest.Root(t)
	if a, b := Netem(), Netem(); a != b {
		t.Errorf("Netem() = %v then %v", a, b)
	}
}

func TestProbeCheckString(t *testing.T) {
	tests := []struct {
		in   Check
		want string
	}{
		{Check{Name: "netem", Detail: "missing", Means: "no netem"}, "netem: no (missing): no netem"},
		{Check{Name: "root", OK: true, Detail: "uid 0", Means: "all"}, "root: yes (uid 0): all"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String()=%q, want %q", got, tt.want)
		}
	}
}

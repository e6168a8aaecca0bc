package etcd

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/internal/gobuild"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
)

// fakeProxy serves the versions in serves and lists those in lists.
type fakeProxy struct {
	t       *testing.T
	serves  []string
	lists   []string
	down    bool // the proxy cannot be reached
	asked   []string
	noCalls bool // the test expects the proxy not to be asked
}

func (p *fakeProxy) Resolve(_ context.Context, module, version string) error {
	p.asked = append(p.asked, module+"@"+version)
	if p.noCalls {
		p.t.Errorf("the proxy was asked for %s@%s", module, version)
	}
	if p.down {
		return errors.New("dial tcp: connection refused")
	}
	if slices.Contains(p.serves, strings.TrimPrefix(version, "v")) {
		return nil
	}
	return errors.New("403 Forbidden: This module version is not available")
}

func (p *fakeProxy) List(_ context.Context, module string) ([]string, error) {
	if p.down {
		return nil, errors.New("dial tcp: connection refused")
	}
	return p.lists, nil
}

func TestPlan(t *testing.T) {
	tests := []struct {
		in         string
		module     string
		modVersion string
		pinned     bool
	}{
		{"3.6.16", serverModule, "v3.6.16", true},
		{"3.6.9", serverModule, "v3.6.9", false},
		{"3.5.5", serverModule, "v3.5.5", false},
		{"3.7.4", serverModule, "v3.7.4", false},
		{"3.8.0-alpha.0", serverModule, "v3.8.0-alpha.0", false},
		{"3.4.3", legacyModule, "v0.5.0-alpha.5.0.20191023171146-3cf2f69b5738", false},
		{"3.4.31", legacyModule, "v0.5.0-alpha.5.0.20240320135013-950cd5fbe6ca", false},
	}
	for _, tt := range tests {
		got, err := plan(tt.in)
		if err != nil {
			t.Errorf("plan(%q): %v", tt.in, err)
			continue
		}
		if got.Release != tt.in || got.Module != tt.module || got.ModVersion != tt.modVersion || got.Pinned != tt.pinned {
			t.Errorf("plan(%q)=%+v, want %s@%s pinned=%v", tt.in, got, tt.module, tt.modVersion, tt.pinned)
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"latest":       "not a release name",
		"3.5":          "not a release name",
		"3.5.x":        "not a release name",
		"3.5.5; rm -f": "not a release name",
		"3.4.2":        "not a 3.4 release the lab knows",
		"3.4.99":       "not a 3.4 release the lab knows",
		"3.3.27":       "runs etcd 3.4 and newer",
		"2.3.8":        "runs etcd 3.4 and newer",
		"4.0.0":        "runs etcd 3.4 and newer",
	} {
		_, err := plan(in)
		if err == nil {
			t.Errorf("plan(%q) = nil error, want a refusal", in)
			continue
		}
		// Every refusal names what the lab knows.
		for _, w := range []string{want, "3.4.3", "3.4.31", "3.5 and newer", "default is " + DefaultVersion} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("plan(%q) = %q, want it to say %q", in, err, w)
			}
		}
	}
}

// TestOpenRefusesAnUnservedVersion: a 3.5+ release the proxy does not
// serve is refused at Open, with the listed versions nearby and the 3.4
// releases of the table.
func TestOpenRefusesAnUnservedVersion(t *testing.T) {
	p := &fakeProxy{t: t, serves: []string{"3.5.5", "3.6.9"}, lists: []string{"3.5.5", "3.7.4", "3.6.16", "3.5.10", "3.8.0-alpha.0"}}
	_, err := System{proxy: p}.Open(systems.Config{Version: "3.9.99"})
	if err == nil {
		t.Fatal("Open(3.9.99) = nil error")
	}
	for _, want := range []string{
		"etcd 3.9.99 is not served by the Go module proxy",
		"versions nearby: 3.6.16, 3.7.4, 3.8.0-alpha.0",
		"the proxy lists 3.5.5 to 3.8.0-alpha.0",
		"3.4.0, 3.4.1, 3.4.3",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(3.9.99) = %q, want it to say %q", err, want)
		}
	}
	if _, err := (System{proxy: p}).Open(systems.Config{Version: "3.6.99"}); err == nil || !strings.Contains(err.Error(), "versions nearby: 3.6.16") {
		t.Errorf("Open(3.6.99) = %v, want the 3.6 releases the proxy lists", err)
	}
	p.down = true
	if _, err := (System{proxy: p}).Open(systems.Config{Version: "3.9.99"}); err == nil || !strings.Contains(err.Error(), "cannot ask the Go module proxy") {
		t.Errorf("Open with the proxy down = %v, want it to say the proxy could not be asked", err)
	}
}

// TestOpenResolvesWhatTheListOmits: the proxy's list is not all it serves
// (it left 3.6.9 out), so Open resolves the version itself.
func TestOpenResolvesWhatTheListOmits(t *testing.T) {
	p := &fakeProxy{t: t, serves: []string{"3.6.9"}, lists: []string{"3.6.8", "3.6.12"}}
	inst, err := System{proxy: p}.Open(systems.Config{Version: "v3.6.9"})
	if err != nil {
		t.Fatalf("Open(v3.6.9): %v", err)
	}
	if got := inst.Version(); got != "3.6.9" {
		t.Errorf("Version()=%q, want 3.6.9", got)
	}
}

// TestOpenAsksNoProxy: the default and the 3.4 releases of the table are
// known without the network.
func TestOpenAsksNoProxy(t *testing.T) {
	p := &fakeProxy{t: t, noCalls: true}
	for in, want := range map[string]string{"": DefaultVersion, DefaultVersion: DefaultVersion, "3.4.3": "3.4.3", "v3.4.0": "3.4.0"} {
		inst, err := System{proxy: p}.Open(systems.Config{Version: in})
		if err != nil {
			t.Errorf("Open(%q): %v", in, err)
			continue
		}
		if got := inst.Version(); got != want {
			t.Errorf("Open(%q).Version()=%q, want %q", in, got, want)
		}
	}
}

// TestOpenRefusesAnUnservedVersionForReal asks the Go module proxy, as a
// run does before anything starts.
func TestOpenRefusesAnUnservedVersionForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("asks the Go module proxy")
	}
	_, err := System{}.Open(systems.Config{Version: "3.9.99"})
	if err == nil || !strings.Contains(err.Error(), "not served") || !strings.Contains(err.Error(), "versions nearby: 3.") {
		t.Fatalf("Open(3.9.99) = %v, want it refused with versions nearby", err)
	}
}

// TestDefaultIsPinned: the pinned build module is the default release's.
func TestDefaultIsPinned(t *testing.T) {
	b, err := buildmod.ReadFile("buildmod/go.mod.in")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "require "+serverModule+" v"+DefaultVersion+"\n") {
		t.Errorf("buildmod/go.mod.in does not require %s v%s", serverModule, DefaultVersion)
	}
}

// TestReleases34 keeps the table in order and each entry the
// pseudo-version of a 3.4 release commit.
func TestReleases34(t *testing.T) {
	pseudo := regexp.MustCompile(`^v0\.5\.0-alpha\.5\.0\.\d{14}-[0-9a-f]{12}$`)
	for i, r := range releases34 {
		if !strings.HasPrefix(r.Release, "3.4.") || !versionPattern.MatchString(r.Release) || !pseudo.MatchString(r.Version) {
			t.Errorf("releases34[%d] = %+v, want a 3.4 release and a pseudo-version after v0.5.0-alpha.5", i, r)
		}
		if i > 0 && (gobuild.CompareVersions(releases34[i-1].Release, r.Release) >= 0 || releases34[i-1].Version >= r.Version) {
			t.Errorf("releases34[%d] = %+v is not after %+v", i, r, releases34[i-1])
		}
	}
}

func TestContentHashByVersion(t *testing.T) {
	seen := map[string]string{}
	for _, v := range []string{"3.4.3", "3.4.31", "3.5.5", "3.6.9", DefaultVersion} {
		tg, err := plan(v)
		if err != nil {
			t.Fatal(err)
		}
		h := contentHash(tg)
		if h != contentHash(tg) {
			t.Errorf("contentHash(%s) is not stable", v)
		}
		if other, ok := seen[h]; ok {
			t.Errorf("contentHash(%s) = contentHash(%s)", v, other)
		}
		seen[h] = v
	}
}

// TestNodeCommandLine: every release gets the same flags, each of which
// 3.4, 3.5 and 3.6 accept. 3.4 needs --logger zap (its default is
// capnslog, whose lines the log patterns do not match); --enable-v2 is
// left out (off by default in 3.4 and 3.5, gone in 3.6).
func TestNodeCommandLine(t *testing.T) {
	nodes := []runtime.Placement{
		{Name: "n1", Addr: netip.MustParseAddr("10.0.0.2"), DataDir: "/data"},
		{Name: "n2", Addr: netip.MustParseAddr("10.0.0.3"), DataDir: "/data"},
		{Name: "n3", Addr: netip.MustParseAddr("10.0.0.4"), DataDir: "/data"},
	}
	var first string
	for _, v := range []string{"3.4.3", "3.5.5", DefaultVersion} {
		tg, err := plan(v)
		if err != nil {
			t.Fatal(err)
		}
		e := &Etcd{target: tg}
		args := strings.Join(e.Node(nodes[1], systems.Cluster{Nodes: nodes, Token: "lab-x"}).Args, " ")
		for _, want := range []string{"--logger zap", "--log-outputs stderr", "--initial-cluster n1=http://10.0.0.2:2380,n2=http://10.0.0.3:2380,n3=http://10.0.0.4:2380"} {
			if !strings.Contains(args, want) {
				t.Errorf("etcd %s: node args lack %q: %s", v, want, args)
			}
		}
		if strings.Contains(args, "enable-v2") {
			t.Errorf("etcd %s: node args name --enable-v2, which 3.6 refuses: %s", v, args)
		}
		if first == "" {
			first = args
		} else if args != first {
			t.Errorf("etcd %s: node args differ from 3.4.3's:\n%s\n%s", v, args, first)
		}
		pre := slices.ContainsFunc(e.Settings(), func(s string) bool { return strings.HasPrefix(s, "pre-vote: off") })
		if pre != tg.Legacy() {
			t.Errorf("etcd %s: Settings()=%q, want pre-vote off said for 3.4 only", v, e.Settings())
		}
	}
}

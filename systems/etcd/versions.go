package etcd

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lab-chaos/lab/internal/gobuild"
)

// DefaultVersion is the etcd release the lab runs when a scenario names
// none. Its build module is pinned in buildmod/ (go.mod.in and go.sum.in),
// so it builds from the module cache alone, without asking the proxy.
const DefaultVersion = "3.6.16"

// The modules an etcd server is built from.
const (
	// serverModule holds the server of etcd 3.5 and newer; the proxy
	// serves its releases under their own names (v3.5.5).
	serverModule = "go.etcd.io/etcd/server/v3"
	// legacyModule is the whole of etcd 3.4. Its path has no /v3, so the
	// tags v3.4.N are not versions of it: the proxy serves 3.4 only as
	// pseudo-versions of the release commits (see releases34).
	legacyModule = "go.etcd.io/etcd"
)

// release34 is one etcd 3.4 release and the pseudo-version of
// go.etcd.io/etcd at the commit its tag v3.4.N points to.
type release34 struct {
	Release string
	Version string
}

// releases34 are the etcd 3.4 releases the lab knows, oldest first. Each
// pseudo-version was computed from the commit of the release's tag in
// etcd's repository (v0.5.0-alpha.5 is the newest semver tag before it;
// the time is the commit's, UTC) and resolved through the Go module proxy
// with `go list -m go.etcd.io/etcd@<pseudo-version>`. The releases left out
// (3.4.2, 3.4.5, 3.4.8, 3.4.11, 3.4.20, 3.4.22, 3.4.23, 3.4.27 to 3.4.29,
// 3.4.32 and newer) were computed the same way but the proxy refused them
// ("This module version is not available") when the table was made.
var releases34 = []release34{
	{"3.4.0", "v0.5.0-alpha.5.0.20190830150955-898bd1351fcf"},
	{"3.4.1", "v0.5.0-alpha.5.0.20190917205325-a14579fbfb1a"},
	{"3.4.3", "v0.5.0-alpha.5.0.20191023171146-3cf2f69b5738"},
	{"3.4.4", "v0.5.0-alpha.5.0.20200224211402-c65a9e2dd1fd"},
	{"3.4.6", "v0.5.0-alpha.5.0.20200329194727-bdc9bc1d816e"},
	{"3.4.7", "v0.5.0-alpha.5.0.20200401174654-e694b7bb0875"},
	{"3.4.9", "v0.5.0-alpha.5.0.20200520232829-54ba9589114f"},
	{"3.4.10", "v0.5.0-alpha.5.0.20200716221620-18dfb9cca345"},
	{"3.4.12", "v0.5.0-alpha.5.0.20200819165624-17cef6e3e9d5"},
	{"3.4.13", "v0.5.0-alpha.5.0.20200824191128-ae9734ed278b"},
	{"3.4.14", "v0.5.0-alpha.5.0.20201125193152-8a03d2e9614b"},
	{"3.4.15", "v0.5.0-alpha.5.0.20210226220824-aa7126864d82"},
	{"3.4.16", "v0.5.0-alpha.5.0.20210512015243-d19fbe541bf9"},
	{"3.4.17", "v0.5.0-alpha.5.0.20211004023027-19e2e70e4f50"},
	{"3.4.18", "v0.5.0-alpha.5.0.20211015134708-72d3e382e73c"},
	{"3.4.19", "v0.5.0-alpha.5.0.20220712081845-4636a5fab43f"},
	{"3.4.21", "v0.5.0-alpha.5.0.20220915004622-85b640cee793"},
	{"3.4.24", "v0.5.0-alpha.5.0.20230216013900-6d1bfe4f9927"},
	{"3.4.25", "v0.5.0-alpha.5.0.20230414071934-94593e63d45c"},
	{"3.4.26", "v0.5.0-alpha.5.0.20230512014047-a603c0798948"},
	{"3.4.30", "v0.5.0-alpha.5.0.20240131130919-ff2304879e1b"},
	{"3.4.31", "v0.5.0-alpha.5.0.20240320135013-950cd5fbe6ca"},
}

// versionPattern is a release or pre-release name, without the "v".
var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$`)

// target is what one etcd release is built from.
type target struct {
	// Release is the etcd release, such as "3.5.5".
	Release string
	// Module and ModVersion are what the build module requires.
	Module, ModVersion string
	// Pinned is set for the release whose build module is pinned in
	// buildmod/ (DefaultVersion): it is built from go.mod.in and go.sum.in
	// as they are, offline once the module cache holds them.
	Pinned bool
}

// Legacy is true for etcd 3.4, whose build differs (the module, the
// entry point).
func (t target) Legacy() bool { return t.Module == legacyModule }

// needsProxy is true when only the module proxy can say whether the
// release exists: 3.5 and newer, other than the pinned one.
func (t target) needsProxy() bool { return !t.Pinned && !t.Legacy() }

// plan maps a version as a scenario writes it to what it is built from,
// or refuses it when the lab cannot know it without asking the proxy (a
// non-version, a release before 3.4, a 3.4 release not in the table, a
// major version other than 3).
func plan(v string) (target, error) {
	m := versionPattern.FindStringSubmatch(v)
	if m == nil {
		return target{}, fmt.Errorf("etcd version %q is not a release name such as %s (%s)", v, DefaultVersion, known())
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	switch {
	case v == DefaultVersion:
		return target{Release: v, Module: serverModule, ModVersion: "v" + v, Pinned: true}, nil
	case major != 3 || minor < 4:
		return target{}, fmt.Errorf("etcd %s cannot be built by this lab: it runs etcd 3.4 and newer (%s)", v, known())
	case minor == 4:
		i := slices.IndexFunc(releases34, func(r release34) bool { return r.Release == v })
		if i < 0 {
			return target{}, fmt.Errorf("etcd %s is not a 3.4 release the lab knows (%s)", v, known())
		}
		return target{Release: v, Module: legacyModule, ModVersion: releases34[i].Version}, nil
	}
	return target{Release: v, Module: serverModule, ModVersion: "v" + v}, nil
}

// known says which versions the lab knows, for error messages.
func known() string {
	var rs []string
	for _, r := range releases34 {
		rs = append(rs, r.Release)
	}
	return fmt.Sprintf("the lab knows etcd %s, and 3.5 and newer as the Go module proxy serves them; the default is %s",
		strings.Join(rs, ", "), DefaultVersion)
}

// proxy is what the lab asks of the Go module proxy. [goProxy] asks it
// through the go command; tests give a fake.
type proxy interface {
	// Resolve is nil when the proxy serves module at version.
	Resolve(ctx context.Context, module, version string) error
	// List is the versions of module the proxy lists, without the "v".
	List(ctx context.Context, module string) ([]string, error)
}

// checkServed is nil when the proxy serves etcd v (3.5 or newer);
// otherwise the error names the versions nearby and the versions the lab
// knows. The proxy's list is not the whole of what it serves (it omitted
// 3.6.9, which it serves), so v is resolved first and the list is read
// only to name alternatives.
func checkServed(ctx context.Context, p proxy, v string) error {
	rerr := p.Resolve(ctx, serverModule, "v"+v)
	if rerr == nil {
		return nil
	}
	vs, err := p.List(ctx, serverModule)
	if err != nil {
		return fmt.Errorf("etcd %s: cannot ask the Go module proxy whether it serves it: %v; %v", v, firstLine(rerr.Error()), err)
	}
	slices.SortFunc(vs, gobuild.CompareVersions)
	msg := fmt.Sprintf("etcd %s is not served by the Go module proxy", v)
	if near := gobuild.NearbyVersions(v, vs); len(near) > 0 {
		msg += fmt.Sprintf(" (versions nearby: %s; the proxy lists %s to %s)", strings.Join(near, ", "), vs[0], vs[len(vs)-1])
	}
	return fmt.Errorf("%s; %s", msg, known())
}

// goProxy asks the Go module proxy through the go command, with the
// user's GOPROXY, GOFLAGS and checksum database.
type goProxy struct{}

func (goProxy) Resolve(ctx context.Context, module, version string) error {
	return gobuild.ResolveModule(ctx, module, version)
}

func (goProxy) List(ctx context.Context, module string) ([]string, error) {
	return gobuild.ModuleVersions(ctx, module)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ModuleVersions lists the versions of module the Go module proxy lists,
// without the "v", in the order the go command gives them. The list is not
// always all the proxy serves (it has left out etcd 3.6.9, which it
// serves); [ResolveModule] asks about one version.
func ModuleVersions(ctx context.Context, module string) ([]string, error) {
	out, err := goList(ctx, module, "-m", "-versions", module)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(out)
	var vs []string
	for _, f := range fields[min(1, len(fields)):] {
		vs = append(vs, strings.TrimPrefix(f, "v"))
	}
	return vs, nil
}

// ResolveModule is nil when the Go module proxy serves module at version
// (which has its "v", or is a pseudo-version).
func ResolveModule(ctx context.Context, module, version string) error {
	_, err := goList(ctx, module, "-m", module+"@"+version)
	return err
}

// goList runs `go list args` outside any module, with the user's GOPROXY,
// GOFLAGS and checksum database, for at most a minute.
func goList(ctx context.Context, module string, args ...string) (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("the Go toolchain is needed to ask the Go module proxy about %s (go not found on PATH)", module)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// NearbyVersions names versions of sorted (ordered by [CompareVersions])
// close to v, for an error that refuses v: those of v's minor release
// (the newest eight of them), or else the six around where v would sort.
func NearbyVersions(v string, sorted []string) []string {
	mm := majorMinor(v)
	var same []string
	for _, x := range sorted {
		if majorMinor(x) == mm {
			same = append(same, x)
		}
	}
	if len(same) > 0 {
		return same[max(0, len(same)-8):]
	}
	i, _ := slices.BinarySearchFunc(sorted, v, CompareVersions)
	return sorted[max(0, i-3):min(len(sorted), i+3)]
}

// majorMinor is "3.5" of "3.5.9".
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// CompareVersions orders release names without the "v" numerically
// (3.5.9 before 3.5.10, 2.9.0 before 2.10.7); a pre-release sorts before
// its release, and pre-releases of one release by their names. It is
// negative when a sorts first, as [slices.SortFunc] takes it.
func CompareVersions(a, b string) int {
	na, pa, _ := strings.Cut(a, "-")
	nb, pb, _ := strings.Cut(b, "-")
	xa, xb := strings.Split(na, "."), strings.Split(nb, ".")
	for i := 0; i < len(xa) && i < len(xb); i++ {
		ia, _ := strconv.Atoi(xa[i])
		ib, _ := strconv.Atoi(xb[i])
		if ia != ib {
			return ia - ib
		}
	}
	if len(xa) != len(xb) {
		return len(xa) - len(xb)
	}
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	return strings.Compare(pa, pb)
}

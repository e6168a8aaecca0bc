package kube

import (
	"context"
	"embed"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lab-chaos/lab/internal/gobuild"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// Version is the Kubernetes release the lab builds and runs.
const Version = "1.37.2"

//go:embed buildmod/go.mod.in buildmod/go.sum.in
var buildmod embed.FS

// servers are the binaries of the one-node cluster, by name.
var servers = map[string]string{
	"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
	"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
	"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
	"kubelet":                 "k8s.io/kubernetes/cmd/kubelet",
}

// versionFlags set the version the binaries report, as Kubernetes' own
// build does (hack/lib/version.sh): without them they call themselves
// v0.0.0-master.
func versionFlags() []string {
	major, rest, _ := strings.Cut(Version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	var out []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		out = append(out,
			"-X "+pkg+".gitVersion=v"+Version,
			"-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor,
			"-X "+pkg+".gitTreeState=clean")
	}
	return out
}

// commands is how the servers are built and where they are cached:
// os.UserCacheDir()/lab/kubernetes-<Version>-<hash>/, the hash covering the
// build module, the packages, the linker flags, the Go toolchain and the
// platform.
func commands() gobuild.Commands {
	files := map[string][]byte{}
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := buildmod.ReadFile("buildmod/" + name + ".in")
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		files[name] = b
	}
	var requires strings.Builder
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		fmt.Fprintf(&requires, "build %s\n", servers[name])
	}
	for _, f := range versionFlags() {
		fmt.Fprintf(&requires, "ldflags %s\n", f)
	}
	return gobuild.Commands{
		Name:     "kubernetes",
		Version:  Version,
		Files:    files,
		Packages: servers,
		LDFlags:  versionFlags(),
		Content:  gobuild.ContentHash(files, requires.String()),
	}
}

// Paths are the cluster's binaries on the host.
type Paths struct {
	APIServer, ControllerManager, Scheduler, Kubelet string
	// Etcd is the lab's own etcd server ([EtcdBinary]).
	Etcd string
	// Built is true when the call that returned these built any of them.
	Built bool
}

// ColdBuild is about how long the Kubernetes build takes on the lab's
// 2-core machines with an empty Go build cache: 546 s, 669 s and 834 s
// were measured, as busy as the machine was.
const ColdBuild = 11 * time.Minute

// Binaries returns the Kubernetes servers and the etcd server of the
// cluster, built once into the user's cache and found there after:
// kube-apiserver, kube-controller-manager, kube-scheduler and kubelet of
// Kubernetes [Version] from the Go module proxy in a wrapper module of the
// lab's own (buildmod/: k8s.io/kubernetes with its staging modules
// replaced by their published versions), static (CGO_ENABLED=0). A cold
// build takes about 11 minutes on 2 cores (9 to 14 measured); while it
// runs, progress gets a line a minute.
func Binaries(ctx context.Context, progress io.Writer) (Paths, error) {
	var p Paths
	if progress == nil {
		progress = io.Discard
	}
	c := commands()
	dir, err := c.Dir()
	if err != nil {
		return p, err
	}
	if cached, _ := c.Cached(); !cached {
		fmt.Fprintf(progress, "kube: building Kubernetes v%s (%s) into %s, once: about %d minutes on 2 cores with a cold Go build cache (9 to 14 measured)\n",
			Version, strings.Join(slices.Sorted(maps.Keys(servers)), ", "), dir, int(ColdBuild.Minutes()))
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(progress, "kube: still building Kubernetes v%s (%s so far)\n", Version, time.Since(start).Round(time.Second))
			}
		}
	}()
	paths, built, err := c.BuildOnce(ctx, progress)
	close(done)
	if err != nil {
		return p, err
	}
	if built {
		fmt.Fprintf(progress, "kube: built Kubernetes v%s in %s\n", Version, time.Since(start).Round(time.Second))
	}
	p = Paths{
		APIServer:         paths["kube-apiserver"],
		ControllerManager: paths["kube-controller-manager"],
		Scheduler:         paths["kube-scheduler"],
		Kubelet:           paths["kubelet"],
	}
	etcd, etcdBuilt, err := EtcdBinary(ctx, progress)
	if err != nil {
		return p, err
	}
	p.Etcd = etcd
	p.Built = built || etcdBuilt
	return p, nil
}

// EtcdBinary is the lab's own etcd server of its default release
// (systems/etcd), built once into the cache like every other.
func EtcdBinary(ctx context.Context, progress io.Writer) (path string, built bool, err error) {
	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: progress})
	if err != nil {
		return "", false, err
	}
	art, built, err := inst.(*etcd.Etcd).Artifact(ctx)
	if err != nil {
		return "", false, fmt.Errorf("etcd for the cluster: %w", err)
	}
	return art.Binary, built, nil
}

package local

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/runtime"
)

// Driver is the local runtime before a run.
type Driver struct{}

var _ runtime.Driver = Driver{}

// Name is "local".
func (Driver) Name() string { return "local" }

// Abilities: nodes are host processes, the runtime controls them, and
// their data directories can be faultfs disks.
func (Driver) Abilities() runtime.Abilities {
	return runtime.Abilities{HostProcesses: true, Processes: true, StaticOnly: true, Disks: true}
}

var _ runtime.DiskChecker = Driver{}

// CheckDisks says whether this machine can serve faultfs mounts (FUSE),
// by making one.
func (Driver) CheckDisks(ctx context.Context) error { return faultfs.Probe(ctx) }

// Check needs root: namespaces, veths and cgroups are the kernel's.
func (Driver) Check(context.Context) error {
	if err := checkPrivileges(); err != nil {
		return &runtime.EnvError{Err: err, Hint: "run the lab as root, or use runtime: docker"}
	}
	return nil
}

// Prepare has nothing to make: nodes run the artifact's binary as it is.
func (Driver) Prepare(_ context.Context, art runtime.Artifact, _ io.Writer) (string, bool, error) {
	if art.Dockerfile != "" {
		return "", false, &runtime.EnvError{Err: fmt.Errorf("%s is built from a Dockerfile (%s), and the local runtime runs only static binaries", art.Name, art.Dockerfile), Hint: "use runtime: docker"}
	}
	if art.Root != "" {
		return "", false, &runtime.EnvError{Err: fmt.Errorf("%s runs from a root file system of its own (%s), and the local runtime runs only static binaries", art.Name, art.Root), Hint: "use runtime: docker"}
	}
	if _, err := os.Stat(art.Binary); err != nil {
		return "", false, err
	}
	return "binary " + art.Binary, false, nil
}

// New makes the run's hub namespace and bridge; nodes run the artifact's
// binary.
func (Driver) New(ctx context.Context, runID string, art runtime.Artifact, opts runtime.Options) (runtime.Runtime, error) {
	rt, err := New(ctx, runID, art.Binary, opts)
	if err != nil {
		return nil, &runtime.EnvError{Err: err, Hint: "run the lab as root, or use runtime: docker"}
	}
	return rt, nil
}

// Cleanup removes what the markers under /run/lab list; it needs root, and
// without root there is nothing the lab could have made.
func (Driver) Cleanup(ctx context.Context, runID string) ([]string, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	removed, err := Cleanup(ctx, runID)
	var out []string
	for _, x := range removed.Mounts {
		out = append(out, "faultfs mount "+x)
	}
	for _, x := range removed.Processes {
		out = append(out, "process "+x)
	}
	for _, x := range removed.Namespaces {
		out = append(out, "namespace "+x)
	}
	for _, x := range removed.Links {
		out = append(out, "link "+x)
	}
	return out, err
}

// Close has nothing to release.
func (Driver) Close() error { return nil }

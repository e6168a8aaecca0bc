package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lab-chaos/lab/runtime/nodedisk"
)

// Removed lists what [Cleanup] removed.
type Removed struct {
	Namespaces, Links, Processes []string
	// Mounts are the faultfs mounts a killed lab left in working
	// directories.
	Mounts []string
}

func (r *Removed) add(o Removed) {
	r.Mounts = append(r.Mounts, o.Mounts...)
	r.Namespaces = append(r.Namespaces, o.Namespaces...)
	r.Links = append(r.Links, o.Links...)
	r.Processes = append(r.Processes, o.Processes...)
}

// Cleanup removes what local runs left behind: of runID, or of every run
// when runID is empty. It reads the markers under /run/lab and removes
// exactly what they list, whatever its state: node processes (running,
// stopped or frozen; a PID is signalled only while it still names the
// process the lab started), cgroups, namespaces, the host link with its
// route, the lab's faultfs mounts in working directories, and working
// directories. Nothing a marker does not name is touched.
func Cleanup(ctx context.Context, runID string) (Removed, error) {
	var out Removed
	if err := checkPrivileges(); err != nil {
		return out, err
	}
	if runID != "" {
		if err := checkName("run id", runID); err != nil {
			return out, err
		}
	}
	ms, err := readMarkers(runID)
	errs := []error{err}
	for _, m := range ms {
		rm, err := removeRun(ctx, m)
		out.add(rm)
		if err != nil {
			errs = append(errs, fmt.Errorf("run %s: %w", m.RunID, err))
		}
	}
	return out, errors.Join(errs...)
}

// removeRun removes what m lists, and m itself once all of it is gone.
func removeRun(ctx context.Context, m *marker) (Removed, error) {
	var out Removed
	var errs []error
	var killed []procEntry
	for _, p := range m.Processes {
		if !p.alive() {
			continue
		}
		// SIGCONT first for a stopped process; SIGKILL reaches a frozen
		// one through the v2 freezer, and the cgroup is thawed below.
		unix.Kill(p.Pid, unix.SIGCONT)
		if err := unix.Kill(p.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %s (pid %d): %w", p.Node, p.Pid, err))
			continue
		}
		killed = append(killed, p)
		out.Processes = append(out.Processes, fmt.Sprintf("%s (pid %d)", p.Node, p.Pid))
	}
	if m.Cgroup != "" {
		os.WriteFile(filepath.Join(m.Cgroup, "cgroup.freeze"), []byte("0"), 0o644)
	}
	if err := poll(ctx, 10*time.Second, func() bool {
		return !slices.ContainsFunc(killed, procEntry.alive)
	}, "killed node processes still alive"); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupTree(ctx, m.Cgroup); err != nil {
		errs = append(errs, err)
	}
	// Nodes first, the hub (the first made) last.
	for _, ns := range slices.Backward(m.Namespaces) {
		deleted, err := deleteNamedNS(ns)
		if err != nil {
			errs = append(errs, err)
		}
		if deleted {
			out.Namespaces = append(out.Namespaces, ns)
		}
	}
	if m.HostLink != "" {
		deleted, err := deleteHostLink(m.HostLink)
		if err != nil {
			errs = append(errs, err)
		}
		if deleted {
			out.Links = append(out.Links, m.HostLink)
		}
	}
	// The working directory is removed only if it has the name the lab
	// gives it: a corrupt marker cannot point this at anything else.
	if m.WorkDir != "" && filepath.Base(m.WorkDir) == "lab-"+m.RunID && filepath.IsAbs(m.WorkDir) {
		// The disks' mounts first (a dead lab's answer ENOTCONN, and a
		// removal through a live one would be the mount's to serve).
		mounts, err := nodedisk.UnmountUnder(m.WorkDir)
		out.Mounts = append(out.Mounts, mounts...)
		if err != nil {
			errs = append(errs, err)
		} else if err := os.RemoveAll(m.WorkDir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	return out, m.remove()
}

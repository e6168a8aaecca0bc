package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/plugins"
)

func newCleanupCmd() *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed runs left behind (only what the lab labelled or named)",
		Long: `cleanup removes what runs of the lab left behind, whatever state it is in
(running, stopped, frozen):

  - Docker: every container and network labelled lab.run (or lab.run=<run>
    with --run). Partitions and packet rules live in each node's own network
    namespace and go with the container.
  - the local runtime: the namespaces, links, routes, cgroups, processes and
    working directories listed in the run's marker under /run/lab.
  - disks: the lab's FUSE mounts (type fuse.lab-faultfs, source
    lab-faultfs:<run>) that a killed run left on the nodes' data directories,
    unmounted first, and the Docker runtime's data directories
    (<temp dir>/lab-docker-<run>, with the run's label file inside).

Nothing without the lab's label or marker is touched.`,
		Example: `  # Everything any run of the lab left behind
  sudo lab cleanup

  # One run (its ID is printed at the start of the run and in results.json)
  sudo lab cleanup --run 20261121t063012-a1b2c3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			w := cmd.OutOrStdout()
			n := 0
			var errs []error
			// The lab's FUSE mounts go first: a directory cannot be
			// removed while one is mounted in it.
			mounts, err := unmountLeftovers(runID)
			for _, m := range mounts {
				fmt.Fprintf(w, "removed faultfs mount %s\n", m)
			}
			n += len(mounts)
			errs = append(errs, err)
			set := plugins.Default()
			defer set.Close()
			for _, drv := range set.Runtimes {
				if err := drv.Check(ctx); err != nil {
					fmt.Fprintf(w, "%s: not checked (%v)\n", drv.Name(), err)
					continue
				}
				removed, err := drv.Cleanup(ctx, runID)
				for _, x := range removed {
					fmt.Fprintf(w, "removed %s\n", x)
				}
				n += len(removed)
				errs = append(errs, err)
			}
			if err := errors.Join(errs...); err != nil {
				return labFailure(err)
			}
			if n == 0 {
				fmt.Fprintln(w, "nothing of the lab's was left")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove only this run's resources")
	return cmd
}

// unmountLeftovers unmounts the lab's faultfs mounts (of runID, or every
// run's), and returns where they were. A mount whose lab died answers
// ENOTCONN; one of a lab still running is unmounted too, as its
// containers are removed.
func unmountLeftovers(runID string) ([]string, error) {
	left, err := faultfs.Leftovers()
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	// Last mounted first: a mount inside another goes before it.
	for i := len(left) - 1; i >= 0; i-- {
		l := left[i]
		if runID != "" && l.RunID != runID {
			continue
		}
		if err := faultfs.UnmountStale(l.Mountpoint); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, fmt.Sprintf("%s (run %s)", l.Mountpoint, l.RunID))
	}
	return out, errors.Join(errs...)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/cluster"
	"github.com/lab-chaos/lab/local"
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
			if d, err := cluster.Connect(ctx); err != nil {
				fmt.Fprintf(w, "Docker not reachable, its resources not checked: %v\n", err)
			} else {
				removed, err := cluster.Cleanup(ctx, d, runID)
				d.Close()
				for _, c := range removed.Containers {
					fmt.Fprintf(w, "removed container %s\n", c)
				}
				for _, nw := range removed.Networks {
					fmt.Fprintf(w, "removed network %s\n", nw)
				}
				n += len(removed.Containers) + len(removed.Networks)
				errs = append(errs, err)
			}
			if os.Geteuid() == 0 {
				removed, err := local.Cleanup(ctx, runID)
				for _, x := range removed.Processes {
					fmt.Fprintf(w, "removed process %s\n", x)
				}
				for _, x := range removed.Namespaces {
					fmt.Fprintf(w, "removed namespace %s\n", x)
				}
				for _, x := range removed.Links {
					fmt.Fprintf(w, "removed link %s\n", x)
				}
				n += len(removed.Processes) + len(removed.Namespaces) + len(removed.Links)
				errs = append(errs, err)
			} else {
				fmt.Fprintln(w, "not root: what the local runtime left (namespaces, links) was not checked")
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

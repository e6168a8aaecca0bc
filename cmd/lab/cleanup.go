package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/cluster"
)

func newCleanupCmd() *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed runs left behind (only what the lab labelled)",
		Long: `cleanup removes every container and network labelled lab.run, or with --run
only those of one run. Nothing without the lab's label is touched. Faults die
with the containers: partitions live in each node's own network namespace.`,
		Example: `  # Everything any run of the lab left behind
  lab cleanup

  # One run (its ID is printed at the start of the run and in results.json)
  lab cleanup --run 20261121t063012-a1b2c3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			d, err := cluster.Connect(ctx)
			if err != nil {
				return &exitError{code: ExitLabFailure, err: err, hint: "start the Docker engine; `docker info` must work"}
			}
			defer d.Close()
			removed, err := cluster.Cleanup(ctx, d, runID)
			for _, c := range removed.Containers {
				fmt.Fprintf(cmd.OutOrStdout(), "removed container %s\n", c)
			}
			for _, n := range removed.Networks {
				fmt.Fprintf(cmd.OutOrStdout(), "removed network %s\n", n)
			}
			if err != nil {
				return labFailure(err)
			}
			if len(removed.Containers)+len(removed.Networks) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing of the lab's was left")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove only this run's resources")
	return cmd
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/internal/probe"
)

// doctorRequired are the checks without which lab run cannot work.
var doctorRequired = []string{"docker", "root", "nftables"}

type doctorOptions struct {
	json bool
	// checks runs the probes; tests replace it.
	checks func(ctx context.Context) []probe.Check
}

func newDoctorCmd() *cobra.Command {
	opts := doctorOptions{checks: probe.All}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check what this machine offers the lab: Docker, root, kernel features",
		Long: `doctor checks the machine and says, for each feature, yes or no and what it
means for which faults: Docker reachable and its version, root (CAP_NET_ADMIN
and CAP_SYS_ADMIN), nftables, random numbers in nftables, the NFQUEUE target
and nfnetlink_queue, netem, tbf, htb, ptrace, the cgroup freezer, time
namespaces, FUSE (for disk faults). Kernel features are tried for real, in
a throwaway network namespace: the host's own network is never touched.
FUSE is tried with a real mount of a scratch directory, removed after.

Exit 0 when the main job can run (Docker, root and nftables), 255 otherwise.`,
		Example: `  # What works here
  sudo lab doctor

  # The same as JSON, for scripts
  sudo lab doctor --json | jq '.[] | select(.ok | not) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			return doctor(cmd.OutOrStdout(), opts.checks(ctx), opts.json)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the checks as a JSON array")
	return cmd
}

// doctor prints the checks and fails (exit 255) when a required one is no.
func doctor(w io.Writer, checks []probe.Check, asJSON bool) error {
	if asJSON {
		type out struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
			Means  string `json:"means"`
		}
		list := make([]out, len(checks))
		for i, c := range checks {
			list[i] = out{c.Name, c.OK, c.Detail, c.Means}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return labFailure(err)
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range checks {
			yes := "no"
			if c.OK {
				yes = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, yes, c.Detail)
			fmt.Fprintf(tw, "\t\t  %s\n", c.Means)
		}
		tw.Flush()
	}
	var missing []string
	byName := map[string]probe.Check{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	for _, name := range doctorRequired {
		if c, ok := byName[name]; !ok || !c.OK {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return &exitError{code: ExitLabFailure,
			err:  fmt.Errorf("lab run cannot work here: no %s", strings.Join(missing, ", no ")),
			hint: "run as root on a machine with a reachable Docker engine and nf_tables; `docker info` must work"}
	}
	if !asJSON {
		fmt.Fprintln(w, "\nlab run can work here (Docker, root, nftables); faults marked no above cannot.")
	}
	return nil
}

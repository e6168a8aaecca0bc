package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lab",
		Short: "A chaos and partition lab for distributed systems",
		Long: `lab starts a system under test as containers on a private network, drives a
client workload at it while injecting faults (partitions, pauses, kills),
checks the recorded history for linearizability and writes an incident-review
report.

Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad input, 255 lab failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRunCmd(),
		newSuiteCmd(), newServeCmd(),
		newCheckCmd(),
		newCleanupCmd(),
		newDoctorCmd(),
		newVersionCmd(),
	)
	return root
}

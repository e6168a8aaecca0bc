package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCheckCmd is being written in the checker work (issue 3).
func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "check PATH",
		Short:  "Check a history (in progress)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return labFailure(errors.New("lab check is not built yet"))
		},
	}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario",
		RunE: func(*cobra.Command, []string) error {
			return labFailure(errors.New("not yet"))
		},
	}
}

package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/runner"
)

type runOptions struct {
	seed         uint64
	store        string
	keep         bool
	checkTimeout time.Duration
	verbose      bool
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario: start the cluster, drive the workload, inject faults, check, report",
		Long: `run starts the system under test of the scenario as containers on a private
Docker network, drives the workload at it while injecting the scheduled faults,
heals every fault, checks the recorded history and writes the run directory
store/<scenario>/<timestamp>/ (store/latest points at the newest).

Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad input, 255 lab failure.`,
		Example: `  # The main scenario: linearizable reads, majority/minority partitions
  sudo bin/lab run scenarios/partition.yaml

  # Reproduce a run exactly: the seed is in its scenario.yaml and report
  sudo bin/lab run scenarios/partition.yaml --seed 7

  # Leave the cluster up afterwards to poke at it
  sudo bin/lab run scenarios/partition.yaml --keep`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := plugins.Default()
			defer set.Close()
			sc, err := set.Load(args[0])
			if err != nil {
				return badInput(err, "fix the scenario file; its fields are documented in docs/scenarios.md")
			}
			level := slog.LevelWarn
			if o.verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			opt := runner.Options{
				Scenario: sc, Store: o.store, Keep: o.keep, CheckTimeout: o.checkTimeout,
				Progress: cmd.ErrOrStderr(), Log: log, Plugins: set,
			}
			if cmd.Flags().Changed("seed") {
				opt.Seed, opt.SeedSet = o.seed, true
			}
			out, err := runner.Run(cmd.Context(), opt)
			if err != nil {
				var env *runner.EnvError
				if errors.As(err, &env) {
					return &exitError{code: ExitLabFailure, err: env.Err, hint: env.Hint}
				}
				var bad *runner.BadInput
				if errors.As(err, &bad) {
					return badInput(bad.Err, cmp.Or(bad.Hint, "fix the scenario file; its fields are documented in docs/scenarios.md"))
				}
				if out.Dir != "" {
					err = fmt.Errorf("%w (run directory: %s)", err, out.Dir)
				}
				return labFailure(err)
			}
			printOutcome(cmd, out)
			return verdictExit(verdictCode(out.Verdict))
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.seed, "seed", 0, "seed for every random choice (overrides the scenario's)")
	f.StringVar(&o.store, "store", "store", "directory of run directories")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster running at the end (remove it with lab cleanup)")
	f.DurationVar(&o.checkTimeout, "check-timeout", 5*time.Minute, "bound on the checker; past it the verdict is unknown")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log each fault as it is injected and healed")
	return cmd
}

func verdictCode(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return ExitValid
	case checker.Invalid:
		return ExitInvalid
	}
	return ExitUnknown
}

func printOutcome(cmd *cobra.Command, out runner.Outcome) {
	w := cmd.OutOrStdout()
	r := out.Result
	fmt.Fprintf(w, "verdict: %s\n", strings.ToUpper(string(out.Verdict)))
	if r.Reason != "" {
		fmt.Fprintf(w, "  %s\n", r.Reason)
	}
	fmt.Fprintf(w, "operations: %d (ok %d, fail %d, unknown %d) over %d keys\n", r.Counts.Ops, r.Counts.OK, r.Counts.Fail, r.Counts.Info, r.Counts.Keys)
	for i, a := range r.Anomalies {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more anomalies (see the report)\n", len(r.Anomalies)-5)
			break
		}
		fmt.Fprintf(w, "anomaly: %s\n", a.Summary)
	}
	fmt.Fprintf(w, "report: %s/report.html\n", out.Dir)
	fmt.Fprintf(w, "timings: image %s, cluster ready %s, first operation %s after start, workload %s, check %s, total %s\n",
		out.Timings.Image.Round(time.Millisecond), out.Timings.Start.Round(time.Millisecond), out.Timings.FirstOp.Round(time.Millisecond),
		out.Timings.Workload.Round(time.Millisecond), out.Timings.Check.Round(time.Millisecond), out.Timings.Total.Round(time.Millisecond))
}

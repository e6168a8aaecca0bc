// Command lab is a chaos and partition lab for distributed systems: it starts
// a system under test in containers, drives a workload at it while injecting
// faults, checks the recorded history and writes an incident-review report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, as Jepsen's.
const (
	ExitValid      = 0
	ExitInvalid    = 1
	ExitUnknown    = 2
	ExitBadInput   = 254
	ExitLabFailure = 255
)

// exitError carries an exit code up to main, with an optional hint printed
// after the error as "Try: ...".
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// badInput wraps err as exit 254 with a hint.
func badInput(err error, hint string) error {
	return &exitError{code: ExitBadInput, err: err, hint: hint}
}

// labFailure wraps err as exit 255.
func labFailure(err error) error {
	return &exitError{code: ExitLabFailure, err: err}
}

// verdictExit is an exit with a verdict code and no error text.
func verdictExit(code int) error {
	if code == ExitValid {
		return nil
	}
	return &exitError{code: code}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitValid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", ee.err)
		}
		if ee.hint != "" {
			fmt.Fprintf(stderr, "Try: %s\n", ee.hint)
		}
		return ee.code
	}
	// Cobra's own errors (unknown flag, wrong argument count) are bad input.
	fmt.Fprintf(stderr, "Error: %v\nTry: lab --help\n", err)
	return ExitBadInput
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/reports"
)

// checkOptions are the flags of lab check.
type checkOptions struct {
	model   string
	format  string
	timeout time.Duration
	out     string
	failCAS string
	verify  bool
	// exactlyOnce makes a queue message delivered twice an anomaly.
	exactlyOnce bool
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [--model M] [--format F] [--timeout D] [--out DIR] PATH",
		Short: "Check a history for linearizability (or a set or a queue for lost elements)",
		Long: `check judges a recorded history: the lab's history.jsonl, a run directory
holding one, a Jepsen EDN history or an old Jepsen log. The format is detected
from the content unless --format says; the model is inferred from the
operations (get/put/append: kv, acquire/release: mutex, add: set,
enqueue/dequeue/drain: queue, otherwise cas-register) unless --model says.

ok operations happened, fail operations did not, info operations may have
happened at any time after their invocation. A cas that ran and did not swap
is an ok cas with the output false. Old Jepsen logs (porcupine's corpus) are
read as porcupine reads them, a failed cas being a compare that did not match;
--fail-cas observed|dropped chooses for any format. A check that runs out of time is
unknown, never valid. A queue message delivered more than once is allowed
(at-least-once delivery) unless --exactly-once. See docs/checking.md.

The check runs in a child process, so that a crash inside it is a lab
failure (255), never read as unknown.

Exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad input, 255 lab failure.`,
		Example: `  lab check store/20260101-120000-partition
  lab check --model kv checker/testdata/porcupine/kv/c10-bad.txt
  lab check --format jepsen-log --timeout 30s etcd_001.log
  lab check --out /tmp/recheck history.edn
  lab check --model queue --exactly-once store/latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "auto", "model: auto, "+strings.Join(checker.Models, ", "))
	f.StringVar(&o.format, "format", "", "history format: "+strings.Join(checker.Formats, ", ")+" (default: detect)")
	f.DurationVar(&o.timeout, "timeout", 0, "bound on the search (0: none); past it the verdict is unknown")
	f.StringVar(&o.out, "out", "", "write results.json and history.html into this directory")
	f.StringVar(&o.failCAS, "fail-cas", "", "reading of a failed cas: dropped (it did not take place) or observed (its compare did not match) (default: by format, observed for old Jepsen logs only)")
	f.BoolVar(&o.exactlyOnce, "exactly-once", false, "queue model: a message delivered more than once is an anomaly (default: counted, allowed)")
	f.BoolVar(&o.verify, "verify", false, fmt.Sprintf("re-check every key of up to %d operations with plain porcupine and no reductions; a disagreement is a lab failure (255)", checker.VerifyMaxOps))
	return cmd
}

func runCheck(cmd *cobra.Command, o checkOptions, path string) error {
	if o.format != "" && !contains(checker.Formats, o.format) {
		return badInput(fmt.Errorf("unknown format %q", o.format), "--format "+strings.Join(checker.Formats, "|"))
	}
	if o.model != "auto" && !contains(checker.Models, o.model) {
		return badInput(fmt.Errorf("unknown model %q", o.model), "--model auto|"+strings.Join(checker.Models, "|"))
	}
	if o.failCAS != "" && !contains(checker.FailCASReadings, o.failCAS) {
		return badInput(fmt.Errorf("unknown reading of a failed cas %q", o.failCAS), "--fail-cas "+strings.Join(checker.FailCASReadings, "|"))
	}
	if os.Getenv(checkChildEnv) == "" {
		return superviseCheck(cmd, o, path)
	}
	err := checkHere(cmd, o, path)
	reportChildExit(cmd, err)
	return err
}

// checkHere is lab check itself, run in the child process.
func checkHere(cmd *cobra.Command, o checkOptions, path string) error {
	if os.Getenv(checkCrashEnv) == "1" {
		crashForTest()
	}
	res, events, err := checker.CheckPath(cmd.Context(), path, o.format, checker.Options{Model: o.model, Timeout: o.timeout, FailCAS: o.failCAS, Verify: o.verify, ExactlyOnce: o.exactlyOnce})
	if err != nil {
		var se *history.SyntaxError
		switch {
		case errors.Is(err, checker.ErrInternal):
			return labFailure(err)
		case errors.As(err, &se):
			return badInput(err, "lab check --format "+strings.Join(checker.Formats, "|")+" to force a format")
		case errors.Is(err, fs.ErrNotExist):
			return badInput(err, "give a history file or a run directory holding "+checker.HistoryFile)
		}
		return badInput(err, "lab check --model auto (inferred from the operations) or one of "+strings.Join(checker.Models, ", "))
	}
	printResult(cmd, res)
	if o.out != "" {
		if err := writeCheckOutput(o.out, events, res); err != nil {
			return labFailure(err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(o.out, "results.json"), filepath.Join(o.out, "history.html"))
		if err := writeCheckReport(o.out, path, events, res); err != nil {
			return labFailure(err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", filepath.Join(o.out, reports.HTMLFile))
	}
	return verdictExit(verdictCode(res.Verdict))
}

func printResult(cmd *cobra.Command, r checker.Result) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "verdict: %s (model %s, %s)\n", strings.ToUpper(string(r.Verdict)), r.Model, r.Duration.Round(time.Millisecond))
	if r.Reason != "" {
		fmt.Fprintf(w, "  %s\n", r.Reason)
	}
	fmt.Fprintf(w, "operations: %d (ok %d, fail %d, unknown %d) over %d keys\n", r.Counts.Ops, r.Counts.OK, r.Counts.Fail, r.Counts.Info, r.Counts.Keys)
	switch r.FailCAS {
	case checker.FailCASDropped:
		fmt.Fprintf(w, "failed cas: dropped (they did not take place); %d cas ran without swapping\n", r.Counts.CASNotSwapped)
	case checker.FailCASObserved:
		fmt.Fprintf(w, "failed cas: observed (each is a compare that did not match); %d cas did not swap\n", r.Counts.CASNotSwapped)
	}
	if q := r.Queue; q != nil {
		fmt.Fprintf(w, "queue: %d published (%d acknowledged, %d unknown), %d failed; %d read, %d recovered; lost %d (start %d, middle %d, end %d), unread %d, lost on a node %d, duplicated %d\n",
			q.Attempted, q.Acknowledged, q.Unknown, q.Failed, q.Read, q.Recovered, q.Lost, q.LostStart, q.LostMiddle, q.LostEnd, q.Unread, q.LostOnNode, q.Duplicated)
	}
	if l := r.Lock; l != nil {
		fmt.Fprintf(w, "locks: %d, %d holds, %d leases recorded; two holders with live leases %d, through an expired lease %d; tokens out of order %d\n",
			l.Locks, l.Holds, l.Leases, l.TwoHolders, l.LeaseExpired, l.TokenOrder)
	}
	red := r.Reductions
	if n := red.DroppedUnobserved + red.BoundedObserved + red.DroppedImpossibleCAS; n > 0 {
		fmt.Fprintf(w, "reductions: %d unknown writes dropped (never observed), %d bounded (observed), %d impossible failed cas dropped\n",
			red.DroppedUnobserved, red.BoundedObserved, red.DroppedImpossibleCAS)
	}
	if v := r.Verified; v != nil {
		fmt.Fprintf(w, "verified: %d keys agree with plain porcupine (%s); not verified: %d over %d operations, %d timed out\n",
			v.Keys, v.Duration.Round(time.Millisecond), v.TooLarge, checker.VerifyMaxOps, v.TimedOut)
	}
	for i, a := range r.Anomalies {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more anomalies\n", len(r.Anomalies)-5)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Summary)
	}
	for i, p := range r.Problems {
		if i == 3 {
			fmt.Fprintf(w, "  ... and %d more problems in the history\n", len(r.Problems)-3)
			break
		}
		fmt.Fprintf(w, "  history problem: %s\n", p)
	}
}

// writeCheckOutput writes results.json and history.html into dir. Fields
// of an existing results.json that the checker does not own (the run's
// own section) are kept, so re-checking a run directory in place keeps
// what the run recorded.
func writeCheckOutput(dir string, events []history.Event, res checker.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := res.MarshalIndent()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "results.json")
	if old, err := os.ReadFile(path); err == nil {
		var prev, next map[string]json.RawMessage
		if json.Unmarshal(old, &prev) == nil && json.Unmarshal(b, &next) == nil {
			for k, v := range prev {
				if _, ok := next[k]; !ok {
					next[k] = v
				}
			}
			if merged, err := json.MarshalIndent(next, "", "  "); err == nil {
				b = merged
			}
		}
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "history.html"))
	if err != nil {
		return err
	}
	if err := checker.WriteVisualization(f, events, res); err != nil {
		f.Close()
		return fmt.Errorf("history.html: %w", err)
	}
	return f.Close()
}

// failCASNote says, for the report, how failed cas were read.
func failCASNote(res checker.Result) string {
	switch res.FailCAS {
	case checker.FailCASDropped:
		return "Failed cas were read as not having taken place (dropped), Jepsen's convention; a cas that ran without swapping is an ok cas with output false."
	case checker.FailCASObserved:
		return "Failed cas were read as compares that did not match (observed), porcupine's reading of old Jepsen logs."
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeCheckReport re-renders the report of a checked history into dir.
// When path is a run directory its scenario.yaml says what was run;
// anything else is named by its file.
func writeCheckReport(dir, path string, events []history.Event, res checker.Result) error {
	run := &reports.Run{
		Scenario: filepath.Base(path), ScenarioFile: path,
		Command: "lab check " + path, Events: events,
		Verdict: string(res.Verdict), VerdictNote: res.Reason,
		Notes: []string{"Re-checked by lab check: the verdict and anomalies are this check's."},
		Files: []string{"results.json", "history.html"},
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if sc, err := plugins.Default().Load(filepath.Join(path, "scenario.yaml")); err == nil {
			run.Scenario, run.Seed, run.Nodes = sc.Name, sc.Seed, sc.NodeNames()
			run.System = fmt.Sprintf("%s, %d nodes", sc.System.Name, sc.System.Nodes)
			run.Command = fmt.Sprintf("lab run %s --seed %d  (re-checked with: lab check %s)", filepath.Join(path, "scenario.yaml"), sc.Seed, path)
		}
	}
	if note := failCASNote(res); note != "" {
		run.Notes = append(run.Notes, note)
	}
	run.Anomalies = res.Anomalies
	run.Queue = res.Queue
	run.Lock = res.Lock
	run.Lease = res.Lease
	run.Set = res.Set
	return reports.Write(dir, run)
}

// The check runs in a child process, the lab binary itself, so that a Go
// runtime crash (a fatal error such as a stack overflow or running out of
// memory, which no recover catches and which exits 2, the code of
// "unknown") can never be read as a verdict. The child reports the exit
// code it chose on a pipe (file descriptor 3) just before it exits; a
// child that exits without having reported crashed, and the parent turns
// that into a lab failure (exit 255) that quotes the end of its stderr.
const (
	checkChildEnv = "LAB_CHECK_CHILD"
	// checkCrashEnv makes the child crash the way a runtime fatal error
	// does, for the test of the supervision; nothing else sets it.
	checkCrashEnv = "LAB_CHECK_TEST_CRASH"
	// testAsLabEnv makes a test binary behave as the lab (see TestMain),
	// so the supervision also works when lab check runs inside go test;
	// the lab itself ignores it.
	testAsLabEnv = "LAB_TEST_AS_LAB"
)

// superviseCheck runs lab check with the same options in a child process
// and passes its verdict on.
func superviseCheck(cmd *cobra.Command, o checkOptions, path string) error {
	exe, err := os.Executable()
	if err != nil {
		return labFailure(fmt.Errorf("find the lab binary to run the check in: %w", err))
	}
	status, statusW, err := os.Pipe()
	if err != nil {
		return labFailure(fmt.Errorf("create the check's status pipe: %w", err))
	}
	defer status.Close()
	head := &headBuffer{max: 2 << 10}
	child := exec.CommandContext(cmd.Context(), exe, o.childArgs(path)...)
	child.Env = append(os.Environ(), checkChildEnv+"=1", testAsLabEnv+"=1")
	child.Stdin = nil
	child.Stdout = cmd.OutOrStdout()
	child.Stderr = io.MultiWriter(cmd.ErrOrStderr(), head)
	child.ExtraFiles = []*os.File{statusW}
	// Cancelled (Ctrl-C): let the child end its search and say unknown.
	child.Cancel = func() error { return child.Process.Signal(os.Interrupt) }
	child.WaitDelay = 10 * time.Second
	if err := child.Start(); err != nil {
		statusW.Close()
		return labFailure(fmt.Errorf("start the check's process: %w", err))
	}
	statusW.Close()
	reported, rerr := io.ReadAll(status)
	werr := child.Wait()
	code, ok := parseChildExit(reported)
	if rerr != nil || !ok {
		return labFailure(fmt.Errorf("the check crashed (%v) without a verdict; this is a lab bug. The start of its output:\n%s", werr, head.String()))
	}
	if code == ExitValid {
		return nil
	}
	// The child has already printed its error and hint.
	return &exitError{code: code}
}

// childArgs are the command line of the child: the same check.
func (o checkOptions) childArgs(path string) []string {
	args := []string{"check", "--model", o.model, "--timeout", o.timeout.String()}
	if o.format != "" {
		args = append(args, "--format", o.format)
	}
	if o.out != "" {
		args = append(args, "--out", o.out)
	}
	if o.failCAS != "" {
		args = append(args, "--fail-cas", o.failCAS)
	}
	if o.verify {
		args = append(args, "--verify")
	}
	if o.exactlyOnce {
		args = append(args, "--exactly-once")
	}
	return append(args, "--", path)
}

// reportChildExit writes, in the child, the exit code its error will give
// onto the status pipe; the parent trusts no other sign of a clean end.
func reportChildExit(cmd *cobra.Command, err error) {
	f := os.NewFile(3, "lab-check-status")
	if f == nil {
		return
	}
	defer f.Close()
	code := ExitValid
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if err != nil {
		code = ExitLabFailure
	}
	fmt.Fprintf(f, "exit %d\n", code)
}

func parseChildExit(b []byte) (int, bool) {
	var code int
	if _, err := fmt.Sscanf(string(b), "exit %d\n", &code); err != nil {
		return 0, false
	}
	return code, true
}

// crashForTest dies of a runtime fatal error, as a stack overflow does:
// exit status 2 and a goroutine dump, nothing recover could catch.
func crashForTest() {
	debug.SetMaxStack(1 << 16)
	var deep func(int) int
	deep = func(n int) int { return deep(n+1) + 1 }
	deep(0)
}

// headBuffer keeps the first max bytes written to it: a runtime crash
// says what it was ("fatal error: stack overflow") before its long
// goroutine dump.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

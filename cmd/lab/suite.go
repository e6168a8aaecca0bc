package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/checker"
	"github.com/lab-chaos/lab/plugins"
	"github.com/lab-chaos/lab/reports"
	"github.com/lab-chaos/lab/runner"
)

type suiteOptions struct {
	junit        string
	store        string
	parallel     int
	checkTimeout time.Duration
	verbose      bool
	// versions runs every scenario once per server version, in place of
	// the version its file names.
	versions []string
	// plugins makes each run's plugins; nil is plugins.Default. A test
	// hook, not a flag.
	plugins func() plugins.Set
}

func newSuiteCmd() *cobra.Command {
	var o suiteOptions
	cmd := &cobra.Command{
		Use:   "suite [DIR | FILES...]",
		Short: "Run several scenarios, one summary table, JUnit XML, the worst verdict as exit code",
		Long: `suite runs scenarios one after another, exactly as lab run does, prints one
summary table and, with --junit, writes a JUnit XML file with one testcase per
scenario: a scenario found invalid or unknown is a failure whose text is the
anomaly summary and the report's path; a scenario that could not run (a bad
file, a lab failure) is an error. The store's index.html is rewritten after
each run. With no argument it runs every *.yaml file of scenarios/.

Each run has its own Docker network and containers, so runs may overlap with
--parallel N; the default of 1 keeps a small machine's timings honest.

With --versions V1,V2,... every scenario runs once per version, as if its
system.version said that version: one row and one JUnit testcase per scenario
and version, named "SCENARIO [SYSTEM VERSION]", and each run stored under
SCENARIO-SYSTEM-VERSION. A version the system cannot build is that
testcase's bad input (exit 254), found before anything starts.

The exit code is the worst outcome of all scenarios, in Jepsen's order:
255 lab failure > 254 bad input > 1 invalid > 2 unknown > 0 valid.
An invalid verdict outranks an unknown one: a found anomaly is the stronger
finding.`,
		Example: `  # Every shipped scenario, JUnit for CI
  sudo bin/lab suite scenarios/*.yaml --junit out.xml

  # Every scenario of a folder, into a separate store
  sudo bin/lab suite scenarios/ --store /var/lib/lab/nightly

  # One scenario across etcd releases, one JUnit testcase each
  sudo bin/lab suite scenarios/partition.yaml --versions 3.4.3,3.5.5,3.6.16 --junit out.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.parallel < 1 {
				return badInput(fmt.Errorf("--parallel must be at least 1, got %d", o.parallel), "lab suite --parallel 1")
			}
			if len(args) == 0 {
				args = []string{"scenarios"}
			}
			files, err := scenarioFiles(args)
			if err != nil {
				return badInput(err, "name scenario files or a folder of them: lab suite scenarios/")
			}
			items, err := suiteItems(files, o.versions)
			if err != nil {
				return badInput(err, "name each version once, separated by commas: --versions 3.5.5,3.6.16")
			}
			results := runSuite(cmd.Context(), items, o, cmd.ErrOrStderr())
			printSuite(cmd.OutOrStdout(), results)
			if o.junit != "" {
				if err := writeJUnit(o.junit, results); err != nil {
					return labFailure(fmt.Errorf("junit: %w", err))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "junit: %s\n", o.junit)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "index: %s\n", filepath.Join(o.store, reports.IndexFile))
			return verdictExit(worstCode(results))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.junit, "junit", "", "write JUnit XML here")
	f.StringVar(&o.store, "store", "store", "directory of run directories")
	f.IntVar(&o.parallel, "parallel", 1, "run up to this many scenarios at once")
	f.DurationVar(&o.checkTimeout, "check-timeout", 5*time.Minute, "bound on each check; past it the verdict is unknown")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log each fault as it is injected and healed")
	f.StringSliceVar(&o.versions, "versions", nil, "run every scenario once per server version (comma-separated), overriding system.version")
	return cmd
}

// scenarioFiles expands the arguments: a folder stands for its *.yaml and
// *.yml files, sorted; a file stands for itself.
func scenarioFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pat))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml scenario in this folder", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// suiteItem is one run of a suite: a scenario file, and the server
// version it runs with when --versions gives one.
type suiteItem struct {
	File    string
	Version string
}

// suiteItems is every file once per version, file by file, or every file
// once with the version it names when versions is empty.
func suiteItems(files, versions []string) ([]suiteItem, error) {
	seen := map[string]bool{}
	for _, v := range versions {
		switch {
		case strings.TrimSpace(v) != v || v == "":
			return nil, fmt.Errorf("--versions: %q is not a version", v)
		case seen[v]:
			return nil, fmt.Errorf("--versions: %s is named twice", v)
		}
		seen[v] = true
	}
	var items []suiteItem
	for _, f := range files {
		if len(versions) == 0 {
			items = append(items, suiteItem{File: f})
		}
		for _, v := range versions {
			items = append(items, suiteItem{File: f, Version: v})
		}
	}
	return items, nil
}

// versionedName is the name of a scenario's run at one version of its
// system, a valid scenario name, so that the store keeps each version's
// runs apart: partition-etcd-3.5.5.
func versionedName(name, system, version string) string {
	n := strings.ToLower(name + "-" + system + "-" + strings.TrimPrefix(version, "v"))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, n)
}

// suiteResult is how one scenario of a suite ended.
type suiteResult struct {
	File     string
	Name     string
	Code     int // the exit code lab run would have given
	Verdict  checker.Verdict
	Err      error // the scenario could not run, or the lab failed
	Out      runner.Outcome
	Duration time.Duration
	// System and Version are set when --versions chose the version.
	System, Version string
}

// label names the result in the table and in JUnit: the scenario, and
// the version when --versions chose it ("partition [etcd 3.5.5]").
func (r suiteResult) label() string {
	if r.Version == "" {
		return r.Name
	}
	return fmt.Sprintf("%s [%s]", r.Name, strings.TrimSpace(r.System+" "+r.Version))
}

// outcome is the verdict in words, or what kept the scenario from one.
func (r suiteResult) outcome() string {
	switch r.Code {
	case ExitBadInput:
		return "BAD INPUT"
	case ExitLabFailure:
		return "LAB FAILURE"
	}
	return strings.ToUpper(string(r.Verdict))
}

func runSuite(ctx context.Context, items []suiteItem, o suiteOptions, progress io.Writer) []suiteResult {
	results := make([]suiteResult, len(items))
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex // one scenario's progress lines at a time
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	for i, item := range items {
		if ctx.Err() != nil {
			results[i] = suiteResult{File: item.File, Name: item.File, Version: item.Version, Code: ExitLabFailure, Err: fmt.Errorf("not run: %w", ctx.Err())}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w := progress
			if o.parallel > 1 {
				prefix := filepath.Base(item.File)
				if item.Version != "" {
					prefix += " " + item.Version
				}
				w = &prefixWriter{w: progress, mu: &mu, prefix: prefix + ": "}
			}
			results[i] = runOne(ctx, item, o, w, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
			if err := reports.WriteIndex(o.store); err != nil && !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(w, "lab: store index: %v\n", err)
			}
		}()
	}
	wg.Wait()
	return results
}

func runOne(ctx context.Context, item suiteItem, o suiteOptions, progress io.Writer, log *slog.Logger) (r suiteResult) {
	file := item.File
	r = suiteResult{File: file, Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)), Version: item.Version}
	began := time.Now()
	defer func() { r.Duration = time.Since(began) }()
	newSet := o.plugins
	if newSet == nil {
		newSet = plugins.Default
	}
	set := newSet()
	defer set.Close()
	sc, err := set.Load(file)
	if err != nil {
		r.Code, r.Err = ExitBadInput, err
		fmt.Fprintf(progress, "lab: %s: %v\n", file, err)
		return r
	}
	r.Name, r.System = sc.Name, sc.System.Name
	if item.Version != "" {
		sc.System.Version = item.Version
		sc.Name = versionedName(sc.Name, sc.System.Name, item.Version)
		fmt.Fprintf(progress, "lab: suite: %s with %s %s\n", file, sc.System.Name, item.Version)
	} else {
		fmt.Fprintf(progress, "lab: suite: %s\n", file)
	}
	out, err := runner.Run(ctx, runner.Options{
		Scenario: sc, Store: o.store, CheckTimeout: o.checkTimeout, Progress: progress, Log: log, Plugins: set,
	})
	r.Out, r.Verdict = out, out.Verdict
	if err != nil {
		if out.Dir != "" {
			err = fmt.Errorf("%w (run directory: %s)", err, out.Dir)
		}
		r.Code, r.Err = ExitLabFailure, err
		if errors.As(err, new(*runner.BadInput)) {
			r.Code = ExitBadInput
		}
		fmt.Fprintf(progress, "lab: %s: %v\n", file, err)
		return r
	}
	r.Code = verdictCode(out.Verdict)
	return r
}

// severity orders exit codes as Jepsen does: a lab failure is worst, then
// bad input, then invalid, then unknown, then valid.
func severity(code int) int {
	switch code {
	case ExitLabFailure:
		return 4
	case ExitBadInput:
		return 3
	case ExitInvalid:
		return 2
	case ExitUnknown:
		return 1
	case ExitValid:
		return 0
	}
	return 4
}

// worstCode is the exit code of a suite: the most severe of its scenarios'.
func worstCode(results []suiteResult) int {
	worst := ExitValid
	for _, r := range results {
		if severity(r.Code) > severity(worst) {
			worst = r.Code
		}
	}
	return worst
}

func printSuite(w io.Writer, results []suiteResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFILE\tOUTCOME\tOPS\tANOMALIES\tTIME\tREPORT")
	for _, r := range results {
		report := "-"
		if r.Out.Dir != "" && r.Err == nil {
			report = filepath.Join(r.Out.Dir, reports.HTMLFile)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.label(), r.File, r.outcome(), r.Out.Result.Counts.Ops,
			len(r.Out.Result.Anomalies), r.Duration.Round(100*time.Millisecond), report)
	}
	tw.Flush()
	fmt.Fprintf(w, "suite: %d scenarios, exit %d\n", len(results), worstCode(results))
}

// prefixWriter prefixes each line of one scenario's progress when several
// run at once.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.SplitAfter(string(b), "\n")
	var sb strings.Builder
	for _, l := range lines {
		if l != "" {
			sb.WriteString(p.prefix + l)
		}
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// JUnit XML, the subset CI systems read (Jenkins, GitLab, GitHub
// reporters): testsuites > testsuite > testcase with failure or error.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      float64     `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// junitFor builds the JUnit document of a suite. Text from the system under
// test (anomaly summaries) goes through encoding/xml, which escapes it;
// characters XML cannot hold at all are replaced.
func junitFor(results []suiteResult, started time.Time) junitSuites {
	s := junitSuite{Name: "lab suite", Timestamp: started.UTC().Format("2006-01-02T15:04:05")}
	for _, r := range results {
		c := junitCase{Name: r.label(), Classname: "lab." + r.Name, File: r.File, Time: r.Duration.Seconds()}
		report := ""
		if r.Out.Dir != "" {
			report = filepath.Join(r.Out.Dir, reports.HTMLFile)
			c.SystemOut = xmlSafe("run directory: " + r.Out.Dir + "\nreport: " + report)
		}
		switch {
		case r.Err != nil:
			c.Error = &junitProblem{Message: xmlSafe(r.outcome() + ": " + firstLine(r.Err.Error())), Type: strings.ToLower(strings.ReplaceAll(r.outcome(), " ", "-")), Text: xmlSafe(r.Err.Error())}
			s.Errors++
		case r.Verdict != checker.Valid:
			c.Failure = failureOf(r, report)
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
		s.Time += r.Duration.Seconds()
	}
	return junitSuites{Name: "lab", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
}

func failureOf(r suiteResult, report string) *junitProblem {
	res := r.Out.Result
	var b strings.Builder
	msg := r.outcome()
	switch n := len(res.Anomalies); {
	case n > 0:
		msg = fmt.Sprintf("%s: %d %s; first: %s", msg, n, map[bool]string{true: "anomaly", false: "anomalies"}[n == 1], res.Anomalies[0].Summary)
		for _, a := range res.Anomalies {
			fmt.Fprintf(&b, "anomaly: %s\n", a.Summary)
		}
	case res.Reason != "":
		msg += ": " + res.Reason
	}
	if res.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", res.Reason)
	}
	if report != "" {
		fmt.Fprintf(&b, "report: %s\n", report)
	}
	return &junitProblem{Message: xmlSafe(msg), Type: string(r.Verdict), Text: xmlSafe(b.String())}
}

func writeJUnit(path string, results []suiteResult) error {
	started := time.Now()
	for _, r := range results {
		started = started.Add(-r.Duration)
	}
	b, err := xml.MarshalIndent(junitFor(results, started), "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

// xmlSafe drops the characters XML 1.0 cannot hold (control characters but
// tab and newlines, invalid UTF-8), which encoding/xml would write as they
// are and a parser would then reject.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r == '\uFFFD':
			return '\uFFFD'
		case r >= 0xD800 && r <= 0xDFFF:
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

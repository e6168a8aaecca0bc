package logcheck

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is what a finding is.
type Kind string

// The kinds of findings.
const (
	Panic        Kind = "panic"
	Fatal        Kind = "fatal error"
	Race         Kind = "data race"
	LeaderChange Kind = "leader change"
	Restart      Kind = "restart"
	// Storage is a line in which a node says its stored data needed
	// repair or could not be read as it was: evidence to put beside a
	// loss, not a verdict.
	Storage Kind = "storage warning"
)

// Problem reports whether k is a sign of a bug in the system under test
// (a panic, a fatal error or a data race) rather than an event of its
// normal life.
func (k Kind) Problem() bool {
	return k == Panic || k == Fatal || k == Race
}

// MaxText bounds [Finding.Text], in bytes.
const MaxText = 400

// Finding is one notable log line.
type Finding struct {
	// Node is the node whose log it is.
	Node string `json:"node"`
	// Line is the 1-based line number in that log.
	Line int `json:"line"`
	// Time is the wall-clock time of the line; zero when the line has none.
	Time time.Time `json:"time,omitzero"`
	// Kind is what the line shows.
	Kind Kind `json:"kind"`
	// Term is the raft term of a [LeaderChange], when the line says it.
	Term int64 `json:"term,omitempty"`
	// Text is the line without Docker's timestamp, clipped to [MaxText].
	Text string `json:"text"`
}

// Patterns are what a system's log lines say about its own life: the
// system under test gives them (systems.Instance.LogPatterns); panics, fatal
// errors and data races are found in every system's log without them.
type Patterns struct {
	// Leader are substrings of a line that says a node became leader.
	Leader []string
	// Start are substrings of the line a node logs when its process starts:
	// every start after the first is a restart.
	Start []string
	// Restarting are substrings of a line that says a node restarts from
	// its data directory (a restart even if it is the log's first start).
	Restarting []string
	// Storage are substrings of a line that says the node found its stored
	// data damaged, outdated or needing a rebuild.
	Storage []string
}

func containsAny(t string, subs []string) bool {
	for _, s := range subs {
		if s != "" && strings.Contains(t, s) {
			return true
		}
	}
	return false
}

// maxLine bounds the length of a line read; longer lines are cut.
const maxLine = 1 << 20

var termRE = regexp.MustCompile(`\bterm (\d+)`)

// Check scans one node's log.
func Check(r io.Reader, node string, p Patterns) ([]Finding, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	var out []Finding
	starts := 0
	for n := 1; sc.Scan(); n++ {
		ts, text := splitTime(sc.Text())
		kind, ok := classify(text, p)
		if kind == "start" {
			starts++
			if starts == 1 {
				continue
			}
			kind, ok = Restart, true
		}
		if kind == "restarting" {
			if starts > 0 {
				continue
			}
			starts++
			kind = Restart
		}
		if !ok {
			continue
		}
		f := Finding{Node: node, Line: n, Time: ts, Kind: kind, Text: clip(text)}
		if kind == LeaderChange {
			if m := termRE.FindStringSubmatch(text); m != nil {
				f.Term, _ = strconv.ParseInt(m[1], 10, 64)
			}
		}
		out = append(out, f)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("log of %s: %w", node, err)
	}
	return out, nil
}

// CheckFile scans the log at path as node's.
func CheckFile(path, node string, p Patterns) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Check(f, node, p)
}

// CheckDir scans every *.log file of dir, the node being the file's name
// without ".log", and returns the findings ordered by time (lines without
// a time keep their place after the timed ones of their node). A missing
// dir is no finding and no error.
func CheckDir(dir string, p Patterns) ([]Finding, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	var out []Finding
	var errs []error
	for _, path := range paths {
		fs, err := CheckFile(path, strings.TrimSuffix(filepath.Base(path), ".log"), p)
		out = append(out, fs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Time, out[j].Time
		if a.IsZero() || b.IsZero() {
			return false
		}
		return a.Before(b)
	})
	return out, errors.Join(errs...)
}

// classify says what a line (without Docker's timestamp) shows; the pseudo
// kinds "start" and "restarting" are resolved by [Check].
func classify(text string, p Patterns) (Kind, bool) {
	t := strings.TrimSpace(text)
	switch {
	case strings.Contains(t, "WARNING: DATA RACE"):
		return Race, true
	case strings.HasPrefix(t, "panic: "), strings.HasPrefix(t, "panic(") && strings.Contains(t, "goroutine"):
		return Panic, true
	case strings.HasPrefix(t, "fatal error: "):
		return Fatal, true
	}
	if lvl := zapLevel(t); lvl != "" {
		switch lvl {
		case "panic", "dpanic":
			return Panic, true
		case "fatal":
			return Fatal, true
		}
	}
	switch {
	case containsAny(t, p.Leader):
		return LeaderChange, true
	case containsAny(t, p.Start):
		return "start", false
	case containsAny(t, p.Restarting):
		return "restarting", true
	case containsAny(t, p.Storage):
		return Storage, true
	}
	return "", false
}

// zapLevel is the "level" field of a JSON log line, lower case; empty for
// other lines.
func zapLevel(t string) string {
	if !strings.HasPrefix(t, "{") || !strings.Contains(t, `"level"`) {
		return ""
	}
	var l struct {
		Level string `json:"level"`
	}
	if json.Unmarshal([]byte(t), &l) != nil {
		return ""
	}
	return strings.ToLower(l.Level)
}

// splitTime takes Docker's RFC 3339 prefix off a line; without one, it
// looks for a JSON "ts" field (zap's, as etcd and others write it).
func splitTime(line string) (time.Time, string) {
	if i := strings.IndexByte(line, ' '); i > 0 && i <= 40 && line[0] >= '0' && line[0] <= '9' {
		if ts, err := time.Parse(time.RFC3339Nano, line[:i]); err == nil {
			return ts, line[i+1:]
		}
	}
	if strings.HasPrefix(line, "{") && strings.Contains(line, `"ts"`) {
		var l struct {
			TS string `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			if ts, err := time.Parse(time.RFC3339Nano, l.TS); err == nil {
				return ts, line
			}
		}
	}
	return time.Time{}, line
}

func clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

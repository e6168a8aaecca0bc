package checker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// Formats lists the history formats [Load] reads.
var Formats = []string{"jsonl", "edn", "jepsen-log"}

// HistoryFile is the name of the history in a run directory.
const HistoryFile = "history.jsonl"

// Load reads the history at path: a history file, or a run directory
// holding history.jsonl. format is "jsonl", "edn", "jepsen-log", or empty
// to detect it from the content. It returns the events, the file actually
// read, and the format used. A malformed file, or one with no event, is a
// *history.SyntaxError naming the file and line.
func Load(path, format string) (events []history.Event, file, used string, err error) {
	l, err := load(path, format)
	return l.events, l.file, l.format, err
}

// loaded is a history as read from a file.
type loaded struct {
	events []history.Event
	file   string
	format string
	// cutLine is the line of a last event cut short (a killed run's
	// history.jsonl), which was dropped; 0 if there was none.
	cutLine int
}

func load(path, format string) (loaded, error) {
	l := loaded{file: path}
	if st, err := os.Stat(path); err != nil {
		return l, err
	} else if st.IsDir() {
		l.file = filepath.Join(path, HistoryFile)
	}
	data, err := os.ReadFile(l.file)
	if err != nil {
		return l, err
	}
	l.events, l.format, l.cutLine, err = parse(data, l.file, format)
	return l, err
}

// Parse reads a history held in memory; name is used in errors, format as
// for [Load].
func Parse(data []byte, name, format string) ([]history.Event, string, error) {
	events, used, _, err := parse(data, name, format)
	return events, used, err
}

func parse(data []byte, name, format string) (events []history.Event, used string, cutLine int, err error) {
	if format == "" {
		format = DetectFormat(data)
	}
	switch format {
	case "jsonl":
		var cut bool
		events, cut, err = history.Read(bytes.NewReader(data), name)
		if cut {
			cutLine = bytes.Count(data, []byte{'\n'}) + 1
		}
	case "edn":
		events, err = history.ReadEDN(bytes.NewReader(data), name)
	case "jepsen-log":
		events, err = history.ReadJepsenLog(bytes.NewReader(data), name)
	default:
		return nil, format, 0, fmt.Errorf("unknown format %q; expected one of %s", format, strings.Join(Formats, ", "))
	}
	if err == nil && len(events) == 0 {
		err = &history.SyntaxError{File: name, Line: max(cutLine, 1), Msg: fmt.Sprintf("no event in the file; expected a %s history", format)}
	}
	return events, format, cutLine, err
}

// FailCASFor is the reading of a failed cas each format was written with:
// Jepsen's convention (the operation did not take place) for EDN and for
// the lab's own history, porcupine's (the compare did not match) for the
// old Jepsen etcd logs of its corpus, whose verdicts assert that reading.
func FailCASFor(format string) string {
	if format == "jepsen-log" {
		return FailCASObserved
	}
	return FailCASDropped
}

// DetectFormat guesses a history's format from its first meaningful
// line: a JSON object is jsonl, a line holding "jepsen.util - " is an old
// Jepsen log, and anything starting with `{`, `[`, `(` or `;` is EDN. An
// empty input is jsonl.
func DetectFormat(data []byte) string {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if bytes.Contains(line, []byte(history.JepsenLogMarker)) {
			return "jepsen-log"
		}
		t := bytes.TrimLeft(line, " \t\r,")
		if len(t) == 0 {
			continue
		}
		switch t[0] {
		case ';', '[', '(':
			return "edn"
		case '{':
			rest := bytes.TrimLeft(t[1:], " \t\r,")
			if len(rest) == 0 || rest[0] == '"' || rest[0] == '}' {
				return "jsonl"
			}
			return "edn"
		}
		// Old Jepsen logs carry other log lines before the first operation.
		continue
	}
	return "jsonl"
}

// CheckPath is what `lab check` does: [Load] the history at path in the
// given format (empty: detect), pick the model (opts.Model "auto" or empty:
// [InferModel]) and the reading of failed cas (opts.FailCAS empty:
// [FailCASFor] the format), and [Check] it. The error is bad input (a file
// that cannot be read or parsed, an unknown model, an operation the model
// does not understand) or wraps [ErrInternal].
func CheckPath(ctx context.Context, path, format string, opts Options) (Result, []history.Event, error) {
	l, err := load(path, format)
	if err != nil {
		return Result{}, nil, err
	}
	events, file := l.events, l.file
	if opts.Model == "" || opts.Model == "auto" {
		opts.Model = InferModel(events)
	}
	if opts.FailCAS == "" {
		opts.FailCAS = FailCASFor(l.format)
	}
	res, err := Check(ctx, events, opts)
	if err != nil {
		return res, events, fmt.Errorf("%s: %w", file, err)
	}
	if l.cutLine > 0 {
		res.Truncated = true
		res.Problems = append([]string{fmt.Sprintf("%s:%d: the last line is an event cut short, as a killed run leaves it; it was dropped", file, l.cutLine)}, res.Problems...)
	}
	return res, events, nil
}

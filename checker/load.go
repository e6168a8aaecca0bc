package checker

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	f, err := os.Open(l.file)
	if err != nil {
		return l, err
	}
	defer f.Close()
	l.events, l.format, l.cutLine, err = parseStream(f, l.file, format)
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
	return decode(bytes.NewReader(data), name, format)
}

// detectWindow is how much of a file format detection reads before it
// gives up on a decision from the start alone.
const detectWindow = 1 << 16

// parseStream reads a history file as a stream: format detection reads its
// start (see detectHead), then the parser reads the file from the
// beginning, so it is never held whole.
func parseStream(f *os.File, name, format string) (events []history.Event, used string, cutLine int, err error) {
	var r io.Reader = f
	if format == "" {
		head := make([]byte, detectWindow)
		n, err := io.ReadFull(f, head)
		whole := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !whole {
			return nil, "", 0, err
		}
		head = head[:n]
		var ok bool
		if format, ok = detectHead(head, whole); !ok {
			// No line decides within the window: detect on the whole file.
			rest, err := io.ReadAll(f)
			if err != nil {
				return nil, "", 0, err
			}
			return parse(append(head, rest...), name, "")
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			r = io.MultiReader(bytes.NewReader(head), f) // a pipe
		}
	}
	return decode(r, name, format)
}

// decode reads a history from r in the given format.
func decode(r io.Reader, name, format string) (events []history.Event, used string, cutLine int, err error) {
	switch format {
	case "jsonl":
		var cut bool
		lines := &lineCounter{r: r}
		events, cut, err = history.Read(lines, name)
		if cut {
			cutLine = lines.n + 1
		}
	case "edn":
		events, err = history.ReadEDN(r, name)
	case "jepsen-log":
		events, err = history.ReadJepsenLog(r, name)
	default:
		return nil, format, 0, fmt.Errorf("unknown format %q; expected one of %s", format, strings.Join(Formats, ", "))
	}
	if err == nil && len(events) == 0 {
		err = &history.SyntaxError{File: name, Line: max(cutLine, 1), Msg: fmt.Sprintf("no event in the file; expected a %s history", format)}
	}
	return events, format, cutLine, err
}

// lineCounter counts the newlines read through it.
type lineCounter struct {
	r io.Reader
	n int
}

func (c *lineCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += bytes.Count(b[:n], []byte{'\n'})
	return n, err
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
	format, _ := detectHead(data, true)
	return format
}

// detectHead is DetectFormat on head, the start of the input, or all of it
// if whole. Where head is only the start, its last line may be cut: it
// decides only by what it begins with (or by "jepsen.util - " within head,
// so a longer line that starts like EDN or jsonl and names the marker
// further on is taken by its start), and if no line decides, ok is false.
func detectHead(head []byte, whole bool) (format string, ok bool) {
	for len(head) > 0 {
		line, cut := head, !whole
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head, cut = head[:i], head[i+1:], false
		} else {
			head = nil
		}
		if format, ok := detectLine(line, cut); ok {
			return format, true
		}
	}
	return "jsonl", whole
}

// detectLine judges one line, which may continue beyond line if cut.
func detectLine(line []byte, cut bool) (string, bool) {
	if bytes.Contains(line, []byte(history.JepsenLogMarker)) {
		return "jepsen-log", true
	}
	t := bytes.TrimLeft(line, " \t\r,")
	if len(t) == 0 {
		return "", false
	}
	switch t[0] {
	case ';', '[', '(':
		return "edn", true
	case '{':
		rest := bytes.TrimLeft(t[1:], " \t\r,")
		if len(rest) == 0 && cut {
			return "", false
		}
		if len(rest) == 0 || rest[0] == '"' || rest[0] == '}' {
			return "jsonl", true
		}
		return "edn", true
	}
	// Old Jepsen logs carry other log lines before the first operation.
	return "", false
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

package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// SyntaxError is a malformed line of a history file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ReadFile loads a JSON-lines history. A final line cut short (a run killed
// mid-write) is dropped and reported through truncated; any other bad line is
// a *SyntaxError naming the file and line.
func ReadFile(path string) (events []Event, truncated bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	return Read(f, path)
}

// Read loads a JSON-lines history from r; name is used in errors.
func Read(r io.Reader, name string) (events []Event, truncated bool, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	lineNo := 0
	times := newTimeCheck(name)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			complete := line[len(line)-1] == '\n'
			line = bytes.TrimSpace(line)
			if len(line) > 0 {
				e, hasTime, perr := parseLine(line)
				if perr != nil {
					if !complete && rerr == io.EOF && cutOff(line) {
						// The writer never leaves a partial line unless the
						// process died inside write(2): keep the prefix.
						return events, true, nil
					}
					return events, false, &SyntaxError{File: name, Line: lineNo, Msg: perr.Error()}
				}
				if err := times.add(e, hasTime, lineNo); err != nil {
					return events, false, err
				}
				events = append(events, e)
			}
		}
		if rerr == io.EOF {
			return events, false, nil
		}
		if rerr != nil {
			return events, false, fmt.Errorf("%s:%d: %w", name, lineNo, rerr)
		}
	}
}

// cutOff reports whether a last line that is not an event is plainly an
// event cut short: the start of a JSON object that ends too early. Any
// other last line (text, binary bytes) is not a history.
func cutOff(line []byte) bool {
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	var v any
	err := json.Unmarshal(line, &v)
	var se *json.SyntaxError
	return errors.As(err, &se) && se.Offset >= int64(len(line)) && strings.Contains(se.Error(), "unexpected end")
}

// eventLine is an event as it is read from a line: the time is a pointer,
// so that a missing time is told apart from time 0.
type eventLine struct {
	Event
	Time *int64 `json:"time"`
}

// parseLine reads one event, and whether it had a time.
func parseLine(line []byte) (Event, bool, error) {
	var el eventLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&el); err != nil {
		return Event{}, false, fmt.Errorf("not a history event (%v); expected one JSON object per line with time, process, type, f", err)
	}
	if dec.More() {
		return Event{}, false, fmt.Errorf("text after the event; expected one JSON object per line")
	}
	e := el.Event
	if el.Time != nil {
		e.Time = *el.Time
	}
	if !e.Type.Valid() {
		return e, false, fmt.Errorf("field type: %q is not one of invoke, ok, fail, info", e.Type)
	}
	if e.F == "" {
		return e, false, fmt.Errorf("field f: missing")
	}
	if e.Time < 0 {
		return e, false, fmt.Errorf("field time: %d is negative", e.Time)
	}
	return e, el.Time != nil, nil
}

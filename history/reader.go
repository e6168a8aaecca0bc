package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			complete := line[len(line)-1] == '\n'
			line = bytes.TrimSpace(line)
			if len(line) > 0 {
				e, perr := parseLine(line)
				if perr != nil {
					if !complete && rerr == io.EOF {
						// The writer never leaves a partial line unless the
						// process died inside write(2): keep the prefix.
						return events, true, nil
					}
					return events, false, &SyntaxError{File: name, Line: lineNo, Msg: perr.Error()}
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

func parseLine(line []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a history event (%v); expected one JSON object per line with time, process, type, f", err)
	}
	if !e.Type.Valid() {
		return e, fmt.Errorf("field type: %q is not one of invoke, ok, fail, info", e.Type)
	}
	if e.F == "" {
		return e, fmt.Errorf("field f: missing")
	}
	if e.Time < 0 {
		return e, fmt.Errorf("field time: %d is negative", e.Time)
	}
	return e, nil
}

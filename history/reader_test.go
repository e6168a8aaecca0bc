package history

import (
	"errors"
	"strings"
	"testing"
)

const (
	inv1 = `{"time":1,"process":0,"type":"invoke","f":"read","value":null}`
	ok1  = `{"time":2,"process":0,"type":"ok","f":"read","value":1}`
)

// TestReadBadLastLine: a last line without a newline is dropped as a
// cut-off event only when it plainly is one, the start of a JSON object;
// any other text there is bad input with its line.
func TestReadBadLastLine(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		events    int
		truncated bool
		errLine   int
	}{
		{"cut off", inv1 + "\n" + `{"time":2,"process":0,"ty`, 1, true, 0},
		{"cut off in a number", inv1 + "\n" + `{"time":2`, 1, true, 0},
		{"complete without newline", inv1 + "\n" + ok1, 2, false, 0},
		{"hello world alone", "hello world", 0, false, 1},
		{"binary", inv1 + "\n\x00\x01\xff", 1, false, 2},
		{"an object with garbage after it", inv1 + "\n" + ok1 + "x", 1, false, 2},
		{"a bad object", inv1 + "\n" + `{"time":2}`, 1, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, truncated, err := Read(strings.NewReader(tt.in), "h.jsonl")
			var se *SyntaxError
			switch {
			case tt.errLine > 0 && (!errors.As(err, &se) || se.Line != tt.errLine):
				t.Fatalf("err = %v, want a syntax error at line %d", err, tt.errLine)
			case tt.errLine == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tt.errLine == 0 && (len(ev) != tt.events || truncated != tt.truncated):
				t.Errorf("%d events, truncated %v; want %d, %v", len(ev), truncated, tt.events, tt.truncated)
			}
		})
	}
}

// TestReadTimes: times are all there or all absent, and a completion never
// comes before its invocation.
func TestReadTimes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		errLine int
		want    string
	}{
		{"all timed", inv1 + "\n" + ok1 + "\n", 0, ""},
		{"none timed", `{"process":0,"type":"invoke","f":"read"}` + "\n" + `{"process":0,"type":"ok","f":"read","value":1}` + "\n", 0, ""},
		{"one without", inv1 + "\n" + `{"process":0,"type":"ok","f":"read","value":1}` + "\n", 2, "has no time, but the event at line 1 has one"},
		{"time zero is a time", `{"time":0,"process":0,"type":"invoke","f":"read"}` + "\n" + ok1 + "\n", 0, ""},
		{"completion first", `{"time":5,"process":0,"type":"invoke","f":"read"}` + "\n" + ok1 + "\n", 2, "before its invocation at line 1 (time 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Read(strings.NewReader(tt.in), "h.jsonl")
			var se *SyntaxError
			if tt.errLine == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Line != tt.errLine || !strings.Contains(se.Msg, tt.want) {
				t.Fatalf("err = %v, want h.jsonl:%d: ...%s...", err, tt.errLine, tt.want)
			}
		})
	}
}

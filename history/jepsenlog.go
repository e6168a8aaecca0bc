package history

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JepsenLogMarker is the text that marks an operation line in an old Jepsen
// log, as in porcupine's test_data/jepsen:
//
//	INFO  jepsen.util - 3	:invoke	:cas	[1 4]
const JepsenLogMarker = "jepsen.util - "

// ReadJepsenLog loads an old Jepsen log: every line holding
// [JepsenLogMarker] is an operation, `<process> <type> <f> <value>`
// separated by tabs or spaces, the value written in EDN; other lines (the
// rest of Jepsen's logging) are skipped. The log has no times: events get
// time zero and the checker orders them by position. A malformed operation
// line is a *SyntaxError naming its line.
func ReadJepsenLog(r io.Reader, name string) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	var events []Event
	conv := newNemesisFaults()
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		i := strings.Index(line, JepsenLogMarker)
		if i < 0 {
			continue
		}
		e, err := jepsenLogEvent(line[i+len(JepsenLogMarker):], name, lineNo)
		if err != nil {
			return nil, err
		}
		events = append(events, conv.event(e))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	return events, nil
}

func jepsenLogEvent(rest, name string, lineNo int) (Event, error) {
	bad := func(format string, args ...any) (Event, error) {
		return Event{}, &SyntaxError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, args...) +
			"; expected `<process>\\t:<type>\\t:<f>\\t<value>` such as `3\\t:invoke\\t:cas\\t[1 4]`"}
	}
	fields := make([]string, 0, 4)
	s := strings.TrimSpace(rest)
	for len(fields) < 3 {
		j := strings.IndexAny(s, " \t")
		if j < 0 {
			fields = append(fields, s)
			s = ""
			break
		}
		fields = append(fields, s[:j])
		s = strings.TrimLeft(s[j:], " \t")
	}
	if len(fields) < 3 || fields[2] == "" {
		return bad("too few fields")
	}
	var e Event
	switch p := fields[0]; p {
	case ":nemesis", "nemesis":
		e.Process = Nemesis
	default:
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return bad("process %q is not a non-negative integer or :nemesis", p)
		}
		e.Process = Process(n)
	}
	e.Type = Type(strings.TrimPrefix(fields[1], ":"))
	if !strings.HasPrefix(fields[1], ":") || !e.Type.Valid() {
		return bad("type %q is not one of :invoke, :ok, :fail, :info", fields[1])
	}
	e.F = strings.TrimPrefix(fields[2], ":")
	if e.F == "" {
		return bad("empty f")
	}
	if s == "" {
		e.Value = Nil
		return e, nil
	}
	p := &ednParser{src: []byte(s), line: lineNo, name: name}
	v, err := p.value(0)
	if err == nil {
		err = p.skip()
		if err == nil && p.pos < len(p.src) {
			err = p.errorf("unexpected text after the value: %q", clip(string(p.src[p.pos:])))
		}
	}
	if err != nil {
		return Event{}, err
	}
	if v.Kind == ednKeyword && (e.Type == Info || e.Type == Fail) {
		// :timed-out and friends are the reason, not an output.
		e.Error = v.Str
		e.Value = Nil
		return e, nil
	}
	var b bytes.Buffer
	v.json(&b)
	e.Value = Value(b.Bytes())
	return e, nil
}

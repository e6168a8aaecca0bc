package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// This file reads Jepsen's EDN histories: either one vector (or list) of
// operation maps, or one map per line, or any mix of the two, as a stream:
// each operation map is parsed (ednparse.go) and turned into an [Event]
// before the next is read, so reading holds the events and one map, not
// the file.

// ReadEDN loads a Jepsen EDN history from r; name is used in errors. Each
// operation map needs :process (an integer or :nemesis), :type (:invoke,
// :ok, :fail or :info) and :f; :value, :time, :index, :key and :error are
// optional and other keys are ignored. Times are left at zero when the
// history has none. A malformed input is a *SyntaxError with its line.
//
// r is read as a stream, through a bufio.Reader (r itself if it is one of
// at least 64 KiB): what is held while reading is the events so far and
// the operation map being read, whatever the layout. If r tells how much
// it holds (a file, or a reader with a Len method such as *bytes.Reader),
// the events go into one slice sized from the first sixteenth read.
func ReadEDN(r io.Reader, name string) ([]Event, error) {
	rd := &ednReading{p: newEDNReader(r, name), size: sizeHint(r), conv: newNemesisFaults(), times: newTimeCheck(name)}
	err := rd.all()
	if rd.p.err != nil {
		return nil, fmt.Errorf("%s: %w", name, rd.p.err)
	}
	if err != nil {
		return nil, err
	}
	events := rd.collect()
	splitIndependent(events)
	return events, nil
}

// ednReading is what ReadEDN keeps besides the parser.
type ednReading struct {
	p      *ednParser
	full   [][]Event // the events read, in chunks (see add)
	events []Event   // the chunk being filled
	size   int64     // the input's size, if known, else 0
	sized  bool      // presize has run
	conv   *nemesisFaults
	times  *timeCheck
	json   bytes.Buffer // scratch: the JSON of a value
	values []byte       // the block the events' values are cut from
}

// all reads the top-level values: operation maps, and vectors or lists of
// them.
func (rd *ednReading) all() error {
	p := rd.p
	for {
		p.arena = p.arena[:0]
		if err := p.skip(); err != nil {
			return err
		}
		if !p.avail() {
			return nil
		}
		var bad, err error
		switch p.src[p.pos] {
		case '[':
			p.pos++
			err = rd.ops(']')
		case '(':
			p.pos++
			err = rd.ops(')')
		case '{':
			bad, err = rd.op(0)
		default:
			var v ednValue
			if v, err = p.value(0); err == nil {
				err = &SyntaxError{File: p.name, Line: v.Line, Msg: fmt.Sprintf("expected an operation map or a vector of them, got %s", clip(v.String()))}
			}
		}
		if err == nil {
			err = bad
		}
		if err != nil {
			return err
		}
	}
}

// ops reads the elements of a top-level vector or list up to end, its
// opening read, converting each before reading the next. The errors are
// those of parsing the whole sequence first: a syntax error anywhere in
// it, else the first element that is not a good operation map.
func (rd *ednReading) ops(end byte) error {
	p := rd.p
	var bad error
	for {
		p.arena = p.arena[:0]
		if err := p.skip(); err != nil {
			return err
		}
		if !p.avail() {
			return p.errorf("unexpected end of file, expected %q", end)
		}
		if p.src[p.pos] == end {
			p.pos++
			return bad
		}
		if bad == nil && p.src[p.pos] == '{' {
			var err error
			if bad, err = rd.op(1); err != nil {
				return err
			}
			continue
		}
		// Not a map, or only the syntax of the rest matters now.
		it, err := p.value(1)
		if err != nil {
			return err
		}
		if bad == nil {
			bad = &SyntaxError{File: p.name, Line: it.Line, Msg: fmt.Sprintf("expected an operation map like {:process 0 :type :invoke :f :read}, got %s", clip(it.String()))}
		}
	}
}

// op reads an operation map at depth, its '{' next, and adds its event.
// Each entry is converted as soon as it is read, but the errors are those
// of reading the map whole first: err is a syntax error; bad, found once
// the map is read, is its first bad entry, else a missing key, else a time
// that contradicts the events before.
func (rd *ednReading) op(depth int) (bad, err error) {
	p := rd.p
	m := ednOp{line: p.line}
	p.pos++
	var key ednValue
	n := 0
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if !p.avail() {
			return nil, p.errorf("unexpected end of file, expected %q", '}')
		}
		if p.src[p.pos] == '}' {
			p.pos++
			break
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if n%2 == 0 {
			key = v
		} else if bad == nil {
			bad = rd.entry(&m, key, v)
		}
		n++
	}
	if n%2 != 0 {
		return nil, &SyntaxError{File: p.name, Line: m.line, Msg: "map has a key without a value"}
	}
	if bad == nil {
		bad = rd.add(&m)
	}
	return bad, nil
}

// add checks a map read whole and adds its event.
func (rd *ednReading) add(m *ednOp) error {
	switch {
	case !m.seen.process:
		return m.errorf(rd.p.name, "operation has no :process")
	case !m.seen.typ:
		return m.errorf(rd.p.name, "operation has no :type")
	case !m.seen.f:
		return m.errorf(rd.p.name, "operation has no :f")
	}
	if err := rd.times.add(m.e, m.seen.time, m.line); err != nil {
		return err
	}
	if len(rd.events) == cap(rd.events) {
		// Chunks rather than one growing slice: a large history's events
		// are copied once, into collect's slice, instead of at every
		// growth, each copy leaving the last behind for the collector.
		if rd.events != nil {
			rd.full = append(rd.full, rd.events)
		}
		rd.events = make([]Event, 0, min(max(2*cap(rd.events), 64), maxEventChunk))
	}
	rd.events = append(rd.events, rd.conv.event(m.e))
	if !rd.sized && rd.size >= 2*minSizeSample && rd.p.offset() >= max(rd.size/16, minSizeSample) {
		rd.presize()
	}
	return nil
}

// maxEventChunk is the largest chunk of events add fills (2 MiB).
const maxEventChunk = 1 << 14

// minSizeSample is the least of an input of known size read before its
// events are counted (a sixteenth of it).
const minSizeSample = 1 << 20

// presize moves the events into one slice sized for the whole input, from
// the events per byte read so far and a sixteenth more (in a Jepsen
// history the events get longer as :index and :time grow, so the sample
// overestimates), where collect would copy them at the end and need twice
// their memory. Should the input hold more, add goes on in chunks.
func (rd *ednReading) presize() {
	rd.sized = true
	n := len(rd.events)
	for _, c := range rd.full {
		n += len(c)
	}
	want := int64(n) * rd.size / rd.p.offset()
	want += want/16 + 64
	if want > rd.size {
		return
	}
	all := make([]Event, 0, want)
	for i, c := range rd.full {
		all = append(all, c...)
		rd.full[i] = nil
	}
	rd.full = rd.full[:0]
	rd.events = append(all, rd.events...)
}

// sizeHint is what r has left to read, if it tells: a regular file's size
// past its offset, or Len, else 0.
func sizeHint(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0
		}
		at, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return st.Size() - at
	}
	return 0
}

// collect returns the events read, in one slice.
func (rd *ednReading) collect() []Event {
	if len(rd.full) == 0 {
		return rd.events
	}
	n := len(rd.events)
	for _, c := range rd.full {
		n += len(c)
	}
	events := make([]Event, 0, n)
	for i, c := range rd.full {
		events = append(events, c...)
		rd.full[i] = nil
	}
	return append(events, rd.events...)
}

// valueBlock is the size of the blocks event values are cut from.
const valueBlock = 1 << 16

// value is v as JSON. A history's values are a few bytes each: they share
// blocks rather than each taking an allocation.
func (rd *ednReading) value(v ednValue) Value {
	rd.json.Reset()
	v.json(&rd.json)
	b := rd.json.Bytes()
	if len(b) > valueBlock/16 {
		return Value(bytes.Clone(b))
	}
	if len(rd.values)+len(b) > cap(rd.values) {
		rd.values = make([]byte, 0, valueBlock)
	}
	n := len(rd.values)
	rd.values = append(rd.values, b...)
	return Value(rd.values[n:len(rd.values):len(rd.values)])
}

// splitIndependent reads the values of a jepsen.independent history, [k
// v] for key k and value v, as keyed events, so that each key is checked on
// its own. A history is taken as independent when no event has a :key,
// every client event's value is a pair (a failed or unknown completion may
// have none), and the pairs cannot be a single key's values: some read's
// value is a pair (a read's value is otherwise nil or what it returned
// as a scalar), or some pair's second element is itself a collection (a
// cas [old new]). A plain cas-register history, where only cas values are
// pairs, is left as it is.
func splitIndependent(events []Event) {
	telling := false
	for _, e := range events {
		if e.Process == Nemesis {
			continue
		}
		if e.Key != "" {
			return
		}
		_, v, ok := jsonPair(e.Value)
		if !ok {
			if e.Value.IsNil() && (e.Type == Fail || e.Type == Info) {
				continue
			}
			return
		}
		if e.F == "read" || e.F == "get" || len(v) > 0 && (v[0] == '[' || v[0] == '{') {
			telling = true
		}
	}
	if !telling {
		return
	}
	keys := map[string]string{}
	for i, e := range events {
		if e.Process == Nemesis {
			continue
		}
		k, v, ok := jsonPair(e.Value)
		if !ok {
			continue
		}
		name, seen := keys[string(k)]
		if !seen {
			name = keyName(k)
			keys[string(k)] = name
		}
		events[i].Key = name
		events[i].Value = Value(v)
	}
}

// jsonPair splits a JSON array of exactly two elements, as unmarshalling
// it into []json.RawMessage would, without copying. v is JSON as
// ednValue.json writes it: valid, with no space.
func jsonPair(v []byte) (first, second []byte, ok bool) {
	if len(v) < 2 || v[0] != '[' {
		return nil, nil, false
	}
	comma, depth, inString := 0, 0, false
	for i := 1; i < len(v); i++ {
		c := v[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
				continue
			}
			if comma == 0 || i != len(v)-1 {
				return nil, nil, false
			}
			return v[1:comma:comma], v[comma+1 : i : i], true
		case ',':
			if depth == 0 {
				if comma > 0 {
					return nil, nil, false
				}
				comma = i
			}
		}
	}
	return nil, nil, false
}

// keyName renders an independent key: a string's text, or the JSON of
// anything else (an integer as its digits).
func keyName(k json.RawMessage) string {
	var s string
	if json.Unmarshal(k, &s) == nil {
		return s
	}
	return string(k)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// ednName is the name of a keyword, symbol or string, or its rendering.
func ednName(v ednValue) string {
	switch v.Kind {
	case ednKeyword, ednSymbol, ednString:
		return v.Str
	case ednInt:
		return strconv.FormatInt(v.Int, 10)
	}
	return v.String()
}

// ednOp is an operation map being read.
type ednOp struct {
	e    Event
	line int
	seen struct{ process, typ, f, time bool }
}

func (m *ednOp) errorf(name, format string, args ...any) error {
	return &SyntaxError{File: name, Line: m.line, Msg: fmt.Sprintf(format, args...)}
}

// entry converts the entry k v of an operation map.
func (rd *ednReading) entry(m *ednOp, k, v ednValue) error {
	if k.Kind != ednKeyword {
		return nil
	}
	switch k.Str {
	case "process":
		m.seen.process = true
		switch {
		case v.Kind == ednInt && v.Int >= 0:
			m.e.Process = Process(v.Int)
		case v.Kind == ednKeyword && v.Str == "nemesis":
			m.e.Process = Nemesis
		default:
			return m.errorf(rd.p.name, ":process must be a non-negative integer or :nemesis, got %s", clip(v.String()))
		}
	case "type":
		m.seen.typ = true
		m.e.Type = Type(ednName(v))
		if v.Kind != ednKeyword || !m.e.Type.Valid() {
			return m.errorf(rd.p.name, ":type must be one of :invoke, :ok, :fail, :info, got %s", clip(v.String()))
		}
	case "f":
		m.seen.f = true
		if v.Kind != ednKeyword && v.Kind != ednString && v.Kind != ednSymbol {
			return m.errorf(rd.p.name, ":f must be a keyword such as :read, got %s", clip(v.String()))
		}
		m.e.F = v.Str
		if m.e.F == "" {
			return m.errorf(rd.p.name, ":f must not be empty")
		}
	case "value":
		m.e.Value = rd.value(v)
	case "key":
		if v.Kind != ednNil {
			m.e.Key = ednName(v)
		}
	case "time":
		if v.Kind != ednInt || v.Int < 0 {
			return m.errorf(rd.p.name, ":time must be a non-negative integer (nanoseconds), got %s", clip(v.String()))
		}
		m.e.Time = v.Int
		m.seen.time = true
	case "error":
		if v.Kind != ednNil {
			m.e.Error = ednName(v)
		}
	case "node":
		m.e.Node = ednName(v)
	}
	return nil
}

// nemesisFaults turns Jepsen nemesis completions named start... and
// stop... into the lab's fault-start and fault-end events, so fault windows
// show in reports; other nemesis events are kept as they are.
type nemesisFaults struct {
	next  int
	open  []int
	kinds map[int]string
}

func (n *nemesisFaults) isOpen(kind string) bool {
	for _, id := range n.open {
		if n.kinds[id] == kind {
			return true
		}
	}
	return false
}

func newNemesisFaults() *nemesisFaults { return &nemesisFaults{next: 1, kinds: map[int]string{}} }

func (n *nemesisFaults) event(e Event) Event {
	if e.Process != Nemesis || e.Type == Invoke {
		return e
	}
	switch {
	case strings.HasPrefix(e.F, "start") && n.isOpen(e.F):
		// Jepsen logs a nemesis operation's invocation and completion
		// both as :info: the second is the same fault.
		return e
	case strings.HasPrefix(e.F, "start"):
		f := &Fault{ID: n.next, Kind: e.F, Detail: e.Value.String()}
		n.open = append(n.open, n.next)
		n.kinds[n.next] = e.F
		n.next++
		e.F, e.Fault = FaultStart, f
	case strings.HasPrefix(e.F, "stop") && len(n.open) > 0:
		id := n.open[len(n.open)-1]
		n.open = n.open[:len(n.open)-1]
		e.Fault = &Fault{ID: id, Kind: e.F, Detail: e.Value.String()}
		e.F = FaultEnd
	}
	return e
}

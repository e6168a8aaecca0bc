package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file reads Jepsen's EDN histories: either one vector (or list) of
// operation maps, or one map per line, or any mix of the two. Only the part
// of EDN that Jepsen histories use is understood: nil, true, false,
// integers, floats, strings, keywords, symbols, vectors, lists, sets and
// maps; `;` comments and `#_` discards; commas are whitespace.

// ednKind is the type of an EDN value.
type ednKind int

const (
	ednNil ednKind = iota
	ednBool
	ednInt
	ednFloat
	ednString
	ednKeyword
	ednSymbol
	ednVector
	ednList
	ednSet
	ednMap
)

// ednValue is one parsed EDN value. Map entries are kept as alternating
// keys and values in Items.
type ednValue struct {
	Kind  ednKind
	Line  int
	Int   int64
	Float float64
	Str   string // string contents, keyword or symbol name (no colon)
	Bool  bool
	Items []ednValue
}

// ednParser is a recursive-descent reader over a whole file held in memory.
type ednParser struct {
	src  []byte
	pos  int
	line int
	name string
}

func (p *ednParser) errorf(format string, args ...any) error {
	return &SyntaxError{File: p.name, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// skip passes over whitespace, commas, comments and #_ discards.
func (p *ednParser) skip() error {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f':
			p.pos++
		case c == ';':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '#' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '_':
			p.pos += 2
			if _, err := p.value(0); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '\f', '(', ')', '[', ']', '{', '}', '"', ';':
		return true
	}
	return false
}

const maxEDNDepth = 200

// value reads one value; the caller has skipped leading space.
func (p *ednParser) value(depth int) (ednValue, error) {
	if depth > maxEDNDepth {
		return ednValue{}, p.errorf("values nested deeper than %d levels", maxEDNDepth)
	}
	if err := p.skip(); err != nil {
		return ednValue{}, err
	}
	if p.pos >= len(p.src) {
		return ednValue{}, p.errorf("unexpected end of file, expected a value")
	}
	line := p.line
	c := p.src[p.pos]
	switch c {
	case '[':
		p.pos++
		items, err := p.seq(']', depth)
		return ednValue{Kind: ednVector, Line: line, Items: items}, err
	case '(':
		p.pos++
		items, err := p.seq(')', depth)
		return ednValue{Kind: ednList, Line: line, Items: items}, err
	case '{':
		p.pos++
		items, err := p.seq('}', depth)
		if err == nil && len(items)%2 != 0 {
			err = &SyntaxError{File: p.name, Line: line, Msg: "map has a key without a value"}
		}
		return ednValue{Kind: ednMap, Line: line, Items: items}, err
	case '#':
		if p.pos+1 < len(p.src) && p.src[p.pos+1] == '{' {
			p.pos += 2
			items, err := p.seq('}', depth)
			return ednValue{Kind: ednSet, Line: line, Items: items}, err
		}
		return ednValue{}, p.errorf("unsupported tagged value, expected nil, a number, a string, a keyword, a vector, a list, a set or a map")
	case '"':
		return p.str()
	case ')', ']', '}':
		return ednValue{}, p.errorf("unexpected %q, expected a value", c)
	}
	start := p.pos
	for p.pos < len(p.src) && !isDelimiter(p.src[p.pos]) {
		p.pos++
	}
	tok := string(p.src[start:p.pos])
	return p.atom(tok, line)
}

func (p *ednParser) seq(end byte, depth int) ([]ednValue, error) {
	var items []ednValue
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			return nil, p.errorf("unexpected end of file, expected %q", end)
		}
		if p.src[p.pos] == end {
			p.pos++
			return items, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
}

func (p *ednParser) str() (ednValue, error) {
	line := p.line
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			return ednValue{Kind: ednString, Line: line, Str: b.String()}, nil
		case '\n':
			p.line++
			b.WriteByte(c)
			p.pos++
		case '\\':
			if p.pos+1 >= len(p.src) {
				return ednValue{}, p.errorf("unterminated string")
			}
			e := p.src[p.pos+1]
			p.pos += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\':
				b.WriteByte(e)
			default:
				return ednValue{}, p.errorf("unsupported escape \\%c in string", e)
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return ednValue{}, &SyntaxError{File: p.name, Line: line, Msg: "unterminated string"}
}

func (p *ednParser) atom(tok string, line int) (ednValue, error) {
	switch tok {
	case "nil":
		return ednValue{Kind: ednNil, Line: line}, nil
	case "true", "false":
		return ednValue{Kind: ednBool, Line: line, Bool: tok == "true"}, nil
	case "":
		return ednValue{}, p.errorf("unexpected character %q", p.src[p.pos])
	}
	if tok[0] == ':' {
		if len(tok) == 1 {
			return ednValue{}, p.errorf("empty keyword")
		}
		return ednValue{Kind: ednKeyword, Line: line, Str: tok[1:]}, nil
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		t := strings.TrimSuffix(tok, "N")
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return ednValue{Kind: ednInt, Line: line, Int: n}, nil
		}
		t = strings.TrimSuffix(tok, "M")
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return ednValue{Kind: ednFloat, Line: line, Float: f}, nil
		}
		return ednValue{}, p.errorf("bad number %q", tok)
	}
	return ednValue{Kind: ednSymbol, Line: line, Str: tok}, nil
}

// String renders v back as EDN, for error texts.
func (v ednValue) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v ednValue) write(b *strings.Builder) {
	seq := func(open, close string) {
		b.WriteString(open)
		for i, it := range v.Items {
			if i > 0 {
				b.WriteByte(' ')
			}
			it.write(b)
		}
		b.WriteString(close)
	}
	switch v.Kind {
	case ednNil:
		b.WriteString("nil")
	case ednBool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case ednInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case ednFloat:
		b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case ednString:
		b.WriteString(strconv.Quote(v.Str))
	case ednKeyword:
		b.WriteString(":" + v.Str)
	case ednSymbol:
		b.WriteString(v.Str)
	case ednVector:
		seq("[", "]")
	case ednList:
		seq("(", ")")
	case ednSet:
		seq("#{", "}")
	case ednMap:
		seq("{", "}")
	}
}

// json encodes v as the JSON an [Event] Value holds: nil as null, numbers
// as numbers, strings, keywords and symbols as strings, sequences as arrays,
// maps as objects keyed by the rendered key.
func (v ednValue) json(b *bytes.Buffer) {
	switch v.Kind {
	case ednNil:
		b.WriteString("null")
	case ednBool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case ednInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case ednFloat:
		b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case ednString, ednKeyword, ednSymbol:
		s, _ := json.Marshal(v.Str)
		b.Write(s)
	case ednVector, ednList, ednSet:
		b.WriteByte('[')
		for i, it := range v.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.json(b)
		}
		b.WriteByte(']')
	case ednMap:
		b.WriteByte('{')
		for i := 0; i+1 < len(v.Items); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k := v.Items[i]
			name := k.Str
			if k.Kind != ednString && k.Kind != ednKeyword && k.Kind != ednSymbol {
				name = k.String()
			}
			s, _ := json.Marshal(name)
			b.Write(s)
			b.WriteByte(':')
			v.Items[i+1].json(b)
		}
		b.WriteByte('}')
	}
}

// ReadEDN loads a Jepsen EDN history from r; name is used in errors. Each
// operation map needs :process (an integer or :nemesis), :type (:invoke,
// :ok, :fail or :info) and :f; :value, :time, :index, :key and :error are
// optional and other keys are ignored. Times are left at zero when the
// history has none. A malformed input is a *SyntaxError with its line.
func ReadEDN(r io.Reader, name string) ([]Event, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &ednParser{src: src, line: 1, name: name}
	var events []Event
	conv := newNemesisFaults()
	times := newTimeCheck(name)
	add := func(m ednValue) error {
		e, hasTime, err := ednEvent(m, name)
		if err == nil {
			err = times.add(e, hasTime, m.Line)
		}
		if err != nil {
			return err
		}
		events = append(events, conv.event(e))
		return nil
	}
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			splitIndependent(events)
			return events, nil
		}
		v, err := p.value(0)
		if err != nil {
			return nil, err
		}
		switch v.Kind {
		case ednMap:
			if err := add(v); err != nil {
				return nil, err
			}
		case ednVector, ednList:
			for _, it := range v.Items {
				if it.Kind != ednMap {
					return nil, &SyntaxError{File: name, Line: it.Line, Msg: fmt.Sprintf("expected an operation map like {:process 0 :type :invoke :f :read}, got %s", clip(it.String()))}
				}
				if err := add(it); err != nil {
					return nil, err
				}
			}
		default:
			return nil, &SyntaxError{File: name, Line: v.Line, Msg: fmt.Sprintf("expected an operation map or a vector of them, got %s", clip(v.String()))}
		}
	}
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
	type pair struct{ k, v json.RawMessage }
	pairs := make([]*pair, len(events))
	telling := false
	for i, e := range events {
		if e.Process == Nemesis {
			continue
		}
		if e.Key != "" {
			return
		}
		var kv []json.RawMessage
		if json.Unmarshal(e.Value, &kv) != nil || len(kv) != 2 {
			if e.Value.IsNil() && (e.Type == Fail || e.Type == Info) {
				continue
			}
			return
		}
		pairs[i] = &pair{kv[0], kv[1]}
		if e.F == "read" || e.F == "get" || len(kv[1]) > 0 && (kv[1][0] == '[' || kv[1][0] == '{') {
			telling = true
		}
	}
	if !telling {
		return
	}
	for i, p := range pairs {
		if p == nil {
			continue
		}
		events[i].Key = keyName(p.k)
		events[i].Value = Value(p.v)
	}
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

// ednEvent reads one operation map, and whether it had a :time.
func ednEvent(m ednValue, name string) (Event, bool, error) {
	var e Event
	bad := func(format string, args ...any) (Event, bool, error) {
		return Event{}, false, &SyntaxError{File: name, Line: m.Line, Msg: fmt.Sprintf(format, args...)}
	}
	var seen struct{ process, typ, f, time bool }
	for i := 0; i+1 < len(m.Items); i += 2 {
		k, v := m.Items[i], m.Items[i+1]
		if k.Kind != ednKeyword {
			continue
		}
		switch k.Str {
		case "process":
			seen.process = true
			switch {
			case v.Kind == ednInt && v.Int >= 0:
				e.Process = Process(v.Int)
			case v.Kind == ednKeyword && v.Str == "nemesis":
				e.Process = Nemesis
			default:
				return bad(":process must be a non-negative integer or :nemesis, got %s", clip(v.String()))
			}
		case "type":
			seen.typ = true
			e.Type = Type(ednName(v))
			if v.Kind != ednKeyword || !e.Type.Valid() {
				return bad(":type must be one of :invoke, :ok, :fail, :info, got %s", clip(v.String()))
			}
		case "f":
			seen.f = true
			if v.Kind != ednKeyword && v.Kind != ednString && v.Kind != ednSymbol {
				return bad(":f must be a keyword such as :read, got %s", clip(v.String()))
			}
			e.F = v.Str
			if e.F == "" {
				return bad(":f must not be empty")
			}
		case "value":
			var b bytes.Buffer
			v.json(&b)
			e.Value = Value(b.Bytes())
		case "key":
			if v.Kind != ednNil {
				e.Key = ednName(v)
			}
		case "time":
			if v.Kind != ednInt || v.Int < 0 {
				return bad(":time must be a non-negative integer (nanoseconds), got %s", clip(v.String()))
			}
			e.Time = v.Int
			seen.time = true
		case "error":
			if v.Kind != ednNil {
				e.Error = ednName(v)
			}
		case "node":
			e.Node = ednName(v)
		}
	}
	switch {
	case !seen.process:
		return bad("operation has no :process")
	case !seen.typ:
		return bad("operation has no :type")
	case !seen.f:
		return bad("operation has no :f")
	}
	return e, seen.time, nil
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

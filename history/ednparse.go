package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file is the EDN reader under ReadEDN (edn.go), and the rendering of
// what it reads as EDN (for errors) and as JSON (for values). Only the part
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

// ednParser is a recursive-descent reader of EDN values, one at a time.
// It reads either bytes held in memory (src, with br nil) or a stream
// through br: src is then the window of br's buffer not yet discarded and
// pos the next byte to read in it, so that only the value being read is
// held, never the whole input.
type ednParser struct {
	src  []byte
	pos  int
	line int
	name string

	br  *bufio.Reader // nil when src is the whole input
	off int64         // bytes read before src
	eof bool          // br has nothing beyond src
	err error         // the read error, other than io.EOF, that ended the input

	tok []byte // a token or string that runs past the window

	// The sequences being read collect their values in open[depth] (depth
	// counting sequences being read, discards included); a finished
	// sequence's values move to arena, which the caller may reset between
	// top-level values once it is done with them.
	open  [][]ednValue
	depth int
	arena []ednValue

	// names holds keyword, symbol and short string texts seen, so that a
	// history's thousands of :invoke or :read share one string; nil
	// disables it.
	names map[string]string
}

// ednBufSize is the read buffer of a streamed parser.
const ednBufSize = 1 << 16

// maxEDNNames bounds ednParser.names.
const maxEDNNames = 1 << 12

func newEDNReader(r io.Reader, name string) *ednParser {
	return &ednParser{br: bufio.NewReaderSize(r, ednBufSize), line: 1, name: name, names: map[string]string{}}
}

func (p *ednParser) errorf(format string, args ...any) error {
	return &SyntaxError{File: p.name, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// more makes at least k bytes from pos visible in src (k at most
// ednBufSize), reading through br; false if the input ends first.
func (p *ednParser) more(k int) bool {
	if len(p.src)-p.pos >= k {
		return true
	}
	if p.br == nil || p.eof {
		return false
	}
	p.br.Discard(p.pos)
	p.off += int64(p.pos)
	p.pos = 0
	_, err := p.br.Peek(k)
	p.src, _ = p.br.Peek(p.br.Buffered())
	if err != nil {
		p.eof = true
		if err != io.EOF {
			p.err = err
		}
	}
	return len(p.src) >= k
}

// offset is the number of bytes read.
func (p *ednParser) offset() int64 { return p.off + int64(p.pos) }

// avail reports whether a byte is left to read.
func (p *ednParser) avail() bool { return p.pos < len(p.src) || p.more(1) }

// skip passes over whitespace, commas, comments and #_ discards.
func (p *ednParser) skip() error {
	for p.avail() {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f':
			p.pos++
		case c == ';':
			for p.avail() {
				if i := bytes.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
					p.pos += i
					break
				}
				p.pos = len(p.src)
			}
		case c == '#' && p.more(2) && p.src[p.pos+1] == '_':
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

// ednDelimiters marks the bytes that end a token.
var ednDelimiters = func() (d [256]bool) {
	for _, c := range []byte(" \t\n\r,\f()[]{}\";") {
		d[c] = true
	}
	return d
}()

const maxEDNDepth = 200

// value reads one value.
func (p *ednParser) value(depth int) (ednValue, error) {
	if depth > maxEDNDepth {
		return ednValue{}, p.errorf("values nested deeper than %d levels", maxEDNDepth)
	}
	if err := p.skip(); err != nil {
		return ednValue{}, err
	}
	if !p.avail() {
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
		if p.more(2) && p.src[p.pos+1] == '{' {
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
	return p.atom(p.token(), line)
}

// token reads up to the next delimiter. The bytes returned are valid until
// the parser reads on.
func (p *ednParser) token() []byte {
	start := p.pos
	for p.pos < len(p.src) && !ednDelimiters[p.src[p.pos]] {
		p.pos++
	}
	if p.pos < len(p.src) || p.br == nil || p.eof {
		return p.src[start:p.pos]
	}
	// The token runs past the window.
	p.tok = append(p.tok[:0], p.src[start:]...)
	p.pos = len(p.src)
	for p.more(1) {
		start = p.pos
		for p.pos < len(p.src) && !ednDelimiters[p.src[p.pos]] {
			p.pos++
		}
		p.tok = append(p.tok, p.src[start:p.pos]...)
		if p.pos < len(p.src) {
			break
		}
	}
	return p.tok
}

// seq reads the values of a sequence up to end, its opening already read.
func (p *ednParser) seq(end byte, depth int) ([]ednValue, error) {
	if p.depth == len(p.open) {
		p.open = append(p.open, nil)
	}
	items := p.open[p.depth][:0]
	p.depth++
	defer func() { p.depth-- }()
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if !p.avail() {
			return nil, p.errorf("unexpected end of file, expected %q", end)
		}
		if p.src[p.pos] == end {
			p.pos++
			break
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	p.open[p.depth-1] = items[:0]
	if len(items) == 0 {
		return nil, nil
	}
	start := len(p.arena)
	p.arena = append(p.arena, items...)
	return p.arena[start:len(p.arena):len(p.arena)], nil
}

func (p *ednParser) str() (ednValue, error) {
	line := p.line
	p.pos++ // opening quote
	b := p.tok[:0]
	defer func() { p.tok = b[:0] }()
	for p.avail() {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			s := string(b)
			if len(b) <= 32 {
				s = p.intern(b)
			}
			return ednValue{Kind: ednString, Line: line, Str: s}, nil
		case '\n':
			p.line++
			b = append(b, c)
			p.pos++
		case '\\':
			if !p.more(2) {
				return ednValue{}, p.errorf("unterminated string")
			}
			e := p.src[p.pos+1]
			p.pos += 2
			switch e {
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case 'r':
				b = append(b, '\r')
			case '"', '\\':
				b = append(b, e)
			default:
				return ednValue{}, p.errorf("unsupported escape \\%c in string", e)
			}
		default:
			b = append(b, c)
			p.pos++
		}
	}
	return ednValue{}, &SyntaxError{File: p.name, Line: line, Msg: "unterminated string"}
}

func (p *ednParser) atom(tok []byte, line int) (ednValue, error) {
	switch {
	case string(tok) == "nil":
		return ednValue{Kind: ednNil, Line: line}, nil
	case string(tok) == "true" || string(tok) == "false":
		return ednValue{Kind: ednBool, Line: line, Bool: string(tok) == "true"}, nil
	case len(tok) == 0:
		return ednValue{}, p.errorf("unexpected character %q", p.src[p.pos])
	}
	if tok[0] == ':' {
		if len(tok) == 1 {
			return ednValue{}, p.errorf("empty keyword")
		}
		return ednValue{Kind: ednKeyword, Line: line, Str: p.intern(tok[1:])}, nil
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		if n, ok := smallInt(tok); ok {
			return ednValue{Kind: ednInt, Line: line, Int: n}, nil
		}
		t := strings.TrimSuffix(string(tok), "N")
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return ednValue{Kind: ednInt, Line: line, Int: n}, nil
		}
		t = strings.TrimSuffix(string(tok), "M")
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return ednValue{Kind: ednFloat, Line: line, Float: f}, nil
		}
		return ednValue{}, p.errorf("bad number %q", string(tok))
	}
	return ednValue{Kind: ednSymbol, Line: line, Str: p.intern(tok)}, nil
}

// smallInt reads an optionally signed decimal of up to 18 digits, which
// strconv.ParseInt would read the same and cannot overflow.
func smallInt(tok []byte) (int64, bool) {
	neg := false
	if tok[0] == '-' || tok[0] == '+' {
		neg, tok = tok[0] == '-', tok[1:]
	}
	if len(tok) == 0 || len(tok) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// intern returns b as a string, shared with earlier equal ones.
func (p *ednParser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if p.names != nil && len(p.names) < maxEDNNames {
		p.names[s] = s
	}
	return s
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

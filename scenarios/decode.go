package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// durationHint is the hint given for every malformed duration.
const durationHint = "durations look like 500ms, 10s, 1m30s"

// decoder walks a scenario's YAML node tree, converting values and collecting
// every problem it finds rather than stopping at the first.
type decoder struct {
	file string
	errs Errors
	// bad holds the field paths whose values were rejected or are missing,
	// so that checks across fields skip them instead of piling up errors.
	bad map[string]bool
	// vocab names the kinds of system, workload and fault.
	vocab Vocabulary
}

// add records a problem with the value at node n (nil when there is no node)
// for the field at path.
func (d *decoder) add(n *yaml.Node, path, hint, format string, args ...any) {
	e := &Error{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
	d.bad[path] = true
}

// valid reports whether neither the field at path nor any field containing it
// was rejected.
func (d *decoder) valid(path string) bool {
	for path != "" {
		if d.bad[path] {
			return false
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return true
}

// parse turns data into a Scenario, or records why it cannot.
func (d *decoder) parse(data []byte) *Scenario {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(nil, "", "start from a copy of scenarios/partition.yaml", "the file holds no scenario")
			return nil
		}
		d.syntax(err, data)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		at := &extra
		if len(extra.Content) > 0 {
			at = extra.Content[0]
		}
		d.add(at, "", `one scenario per file: remove the "---" line and what follows, or move it to a file of its own`, "a second YAML document")
	case !errors.Is(err, io.EOF):
		d.syntax(err, data)
	}
	if len(doc.Content) == 0 {
		d.add(nil, "", "start from a copy of scenarios/partition.yaml", "the file holds no scenario")
		return nil
	}
	return d.scenario(doc.Content[0])
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax records a YAML syntax error from the parser.
func (d *decoder) syntax(err error, data []byte) {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	hint := "check the indentation and the colon after each field name near this line"
	lines := bytes.Split(data, []byte("\n"))
	for i := max(0, line-2); i < min(len(lines), line+1); i++ {
		if bytes.Contains(lines[i], []byte("\t")) {
			hint = "indent with spaces: YAML does not allow tabs"
			break
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: "invalid YAML: " + msg, Hint: hint})
}

// plain rejects anchors and aliases, which a scenario has no use for and
// which would make error positions point at the wrong place.
func (d *decoder) plain(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.add(n, path, "write the value out in full", "aliases (*%s) are not supported", n.Value)
		return false
	}
	if n.Anchor != "" {
		d.add(n, path, "write the value out in full", "anchors (&%s) are not supported", n.Anchor)
		return false
	}
	return true
}

// typeExamples completes the hint for a value of the wrong type.
var typeExamples = map[string]string{
	"a string":       `, such as "n1"`,
	"a whole number": ", such as 3",
	"a number":       ", such as 50 or 2.5",
	"true or false":  "",
}

// describe names what node n holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "no value"
		}
		return fmt.Sprintf("%s %q", n.Tag, n.Value)
	}
	return "an unexpected node"
}

// nullHint is the hint when a field is present with no value.
func nullHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return "give a value, or remove the line to use the default"
	}
	return ""
}

// field is one known key of a mapping.
type field struct {
	key      string
	required bool
	// example is a line to add when a required field is missing.
	example string
	decode  func(n *yaml.Node, path string)
}

// mapping decodes mapping n field by field, reporting keys that are unknown,
// duplicated or missing. It returns the value nodes by key, nil when n is not
// a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) map[string]*yaml.Node {
	if !d.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		hint := nullHint(n)
		if hint == "" && n.Kind == yaml.ScalarNode {
			hint = "write the fields on the lines below, indented"
		}
		if path == "" {
			d.add(n, path, "a scenario is fields like name: and system: at the top level", "want a mapping of fields, got %s", describe(n))
		} else {
			d.add(n, path, hint, "want a mapping of fields, got %s", describe(n))
		}
		return nil
	}
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.key
	}
	keys := map[string]*yaml.Node{}
	vals := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.plain(k, path) {
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			d.add(k, path, "expected one of "+strings.Join(known, ", "), "a field name must be a plain word, got %s", describe(k))
			continue
		}
		if first, dup := keys[k.Value]; dup {
			d.add(k, p, fmt.Sprintf("first set at line %d; remove one of them", first.Line), "duplicate field %q", k.Value)
			continue
		}
		keys[k.Value] = k
		i := indexOf(fields, k.Value)
		if i < 0 {
			d.add(k, p, suggest(k.Value, known), "unknown field %q", k.Value)
			continue
		}
		vals[k.Value] = v
		fields[i].decode(v, p)
	}
	for _, f := range fields {
		if f.required && keys[f.key] == nil {
			p := f.key
			if path != "" {
				p = path + "." + f.key
			}
			d.add(n, p, fmt.Sprintf("add %q", f.example), "required field %q is missing", f.key)
		}
	}
	return vals
}

func indexOf(fields []field, key string) int {
	for i, f := range fields {
		if f.key == key {
			return i
		}
	}
	return -1
}

// scalar checks that n is a scalar with one of the tags and reports a wrong
// type otherwise; want names the expected type.
func (d *decoder) scalar(n *yaml.Node, path, want string, tags ...string) bool {
	if !d.plain(n, path) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if n.ShortTag() == t {
				return true
			}
		}
	}
	hint := nullHint(n)
	if hint == "" && n.Kind == yaml.ScalarNode {
		switch want {
		case "a string":
			hint = fmt.Sprintf("quote it to make it a string: %q", n.Value)
		case "true or false":
			hint = "write true or false"
		default:
			if n.ShortTag() == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				hint = "remove the quotes"
			}
		}
	}
	if hint == "" {
		hint = "write " + want + typeExamples[want]
	}
	d.add(n, path, hint, "want %s, got %s", want, describe(n))
	return false
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a string", "!!str") {
		return "", false
	}
	return n.Value, true
}

// enum decodes a string that must be one of allowed.
func (d *decoder) enum(n *yaml.Node, path string, allowed []string) (string, bool) {
	v, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if v == a {
			return v, true
		}
	}
	d.add(n, path, suggest(v, allowed), "unknown %s %q", leaf(path), v)
	return "", false
}

// leaf is the last name in a field path: "shape" for "faults[1].shape".
func leaf(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// integer decodes a whole number in lo..hi.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if !d.scalar(n, path, "a whole number", "!!int") {
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		d.outOfRange(n, path, fmt.Sprintf("%d to %d", lo, hi))
		return 0, false
	}
	return v, true
}

// number decodes a number, whole or not.
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	if !d.scalar(n, path, "a number", "!!int", "!!float") {
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil {
		d.add(n, path, "", "%s is not a number", n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if !d.scalar(n, path, "true or false", "!!bool") {
		return false, false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		d.add(n, path, "write true or false", "%s is not true or false", n.Value)
		return false, false
	}
	return v, true
}

// seed decodes a seed: a whole number from 0 to 2^64-1.
func (d *decoder) seed(n *yaml.Node, path string) (uint64, bool) {
	if !d.scalar(n, path, "a whole number", "!!int") {
		return 0, false
	}
	var v uint64
	if strings.HasPrefix(n.Value, "-") || n.Decode(&v) != nil {
		d.outOfRange(n, path, "0 to 18446744073709551615; 0 lets the lab pick one")
		return 0, false
	}
	return v, true
}

// duration decodes a Go duration string.
func (d *decoder) duration(n *yaml.Node, path string) (Duration, bool) {
	if !d.plain(n, path) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			d.add(n, path, fmt.Sprintf("add a unit, such as %ss; %s", n.Value, durationHint), "%s is a bare number, not a duration", n.Value)
			return 0, false
		case "!!str":
			v, err := time.ParseDuration(n.Value)
			if err != nil {
				d.add(n, path, durationHint, "%q is not a duration", n.Value)
				return 0, false
			}
			return Duration(v), true
		}
	}
	hint := nullHint(n)
	if hint == "" {
		hint = durationHint
	}
	d.add(n, path, hint, "want a duration, got %s", describe(n))
	return 0, false
}

// durationIn decodes a duration in lo..hi.
func (d *decoder) durationIn(n *yaml.Node, path string, lo, hi time.Duration) (Duration, bool) {
	v, ok := d.duration(n, path)
	if !ok {
		return 0, false
	}
	if time.Duration(v) < lo || time.Duration(v) > hi {
		d.outOfRange(n, path, fmt.Sprintf("%s to %s", Duration(lo), Duration(hi)))
		return 0, false
	}
	return v, true
}

// outOfRange reports that the value at n is outside want.
func (d *decoder) outOfRange(n *yaml.Node, path, want string) {
	d.add(n, path, fmt.Sprintf("%s must be %s", leaf(path), want), "%s is out of range", n.Value)
}

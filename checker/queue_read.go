package checker

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// Reading a queue history's values. A message is a scalar, an integer or a
// string (5 and "5" are the same message); a read element is a message or
// a pair [msg, seq] with seq a positive integer. Anything else is bad
// input, an error naming the event.

// read collects the publishes, the reads and the drains of ops.
func (q *queueCheck) read(ops []history.Op) error {
	q.byProc = map[history.Process][]*qMsg{}
	q.unexpected = map[string][]qRead{}
	q.bySeq = map[int64][]seqEntry{}
	keys := map[string]bool{}
	for i := range ops {
		if op := &ops[i]; op.F == "enqueue" {
			if err := q.publish(op); err != nil {
				return err
			}
		}
	}
	for i := range ops {
		op := &ops[i]
		keys[op.Key] = true
		switch op.F {
		case "dequeue":
			if op.Type != history.OK {
				continue // fail: nothing taken; info: nothing known to be read
			}
			els, err := q.elements(op, true)
			if err != nil {
				return err
			}
			for _, el := range els {
				q.saw(qRead{op: op, seq: el.seq, node: op.Node}, el.msg)
			}
		case "drain":
			n := q.node(op.Node)
			n.drains = append(n.drains, op)
			if op.Type != history.OK {
				continue
			}
			els, err := q.elements(op, false)
			if err != nil {
				return err
			}
			for _, el := range els {
				n.read[el.msg] = true
				n.maxRead = max(n.maxRead, el.seq)
				q.saw(qRead{op: op, seq: el.seq, node: op.Node, drain: true}, el.msg)
			}
		case "drained":
			n := q.node(op.Node)
			n.drained = op
			if op.Type != history.OK || op.Output.IsNil() {
				continue
			}
			last, ok := op.Output.Int()
			if !ok || last < 0 {
				return fmt.Errorf("event %d: drained value must be the last seq the node holds (an integer, 0 or more) or null, got %s", q.event(op), clip(op.Output.String()))
			}
			n.last = last
		}
	}
	if len(keys) > 1 {
		q.res.Problems = append(q.res.Problems, "the history has keys; the queue model checks one queue and ignored them")
	}
	return nil
}

// publish records one enqueue.
func (q *queueCheck) publish(op *history.Op) error {
	name, ok := message(op.Input)
	if !ok {
		return fmt.Errorf("event %d: enqueue value must be a message (an integer or a string), got %s", op.Index+1, clip(op.Input.String()))
	}
	m := &qMsg{name: name, enq: op, failed: op.Type == history.Fail, held: map[string]bool{}, seqs: map[int64]bool{}}
	if op.Type == history.OK && !op.Output.IsNil() {
		out, seq, err := element(op.Output)
		switch {
		case err != nil:
			return fmt.Errorf("event %d: enqueue ok value must be [msg, seq] or the message, got %s: %v", q.event(op), clip(op.Output.String()), err)
		case out != name:
			q.res.Problems = append(q.res.Problems, fmt.Sprintf("event %d: the publish of %s was acknowledged as message %s; the invoked message is kept", q.event(op), name, out))
		}
		m.seq = seq
	}
	if old, dup := q.msgs[name]; dup {
		q.res.Problems = append(q.res.Problems, fmt.Sprintf("event %d: message %s was published again (first at event %d): messages must be unique; the first publish that did not fail is kept", op.Index+1, name, old.enq.Index+1))
		if !old.failed || m.failed {
			return nil
		}
		q.replace(old, m)
		return nil
	}
	q.msgs[name] = m
	q.byProc[op.Process] = append(q.byProc[op.Process], m)
	q.order = append(q.order, m)
	q.ackedAt(m)
	return nil
}

// replace puts m, a publish that did not fail, in the place of old, an
// earlier failed publish of the same message.
func (q *queueCheck) replace(old, m *qMsg) {
	q.msgs[m.name] = m
	for i, x := range q.order {
		if x == old {
			q.order[i] = m
		}
	}
	procMsgs := q.byProc[old.enq.Process]
	for i, x := range procMsgs {
		if x == old {
			q.byProc[old.enq.Process] = append(procMsgs[:i:i], procMsgs[i+1:]...)
		}
	}
	q.byProc[m.enq.Process] = append(q.byProc[m.enq.Process], m)
	q.ackedAt(m)
}

func (q *queueCheck) ackedAt(m *qMsg) {
	if m.seq > 0 && m.enq.Type == history.OK {
		q.atSeq(m.seq, seqEntry{msg: m.name, m: m})
	}
}

func (q *queueCheck) atSeq(seq int64, e seqEntry) {
	if _, ok := q.bySeq[seq]; !ok {
		q.seqOrder = append(q.seqOrder, seq)
	}
	q.bySeq[seq] = append(q.bySeq[seq], e)
}

// saw records that r read message name.
func (q *queueCheck) saw(r qRead, name string) {
	if r.seq > 0 {
		rr := r
		q.atSeq(r.seq, seqEntry{msg: name, m: q.msgs[name], read: &rr})
	}
	m := q.msgs[name]
	if m == nil || m.failed {
		if _, ok := q.unexpected[name]; !ok {
			q.unexpOrder = append(q.unexpOrder, name)
		}
		q.unexpected[name] = append(q.unexpected[name], r)
		return
	}
	m.reads = append(m.reads, r)
	if r.seq > 0 {
		m.seqs[r.seq] = true
	}
	switch {
	case r.drain && r.node != "":
		m.held[r.node] = true
	default:
		m.deliveries++
	}
}

func (q *queueCheck) node(name string) *qNode {
	n := q.nodes[name]
	if n == nil {
		n = &qNode{name: name, last: -1, read: map[string]bool{}}
		q.nodes[name] = n
	}
	return n
}

// event is the 1-based number of op's completion event.
func (q *queueCheck) event(op *history.Op) int {
	if i, ok := q.done[op.Index]; ok {
		return i + 1
	}
	return op.Index + 1
}

type qElem struct {
	msg string
	seq int64
}

// elements reads the value of an ok dequeue or drain: an array of
// messages or of [msg, seq] pairs, null or [] for nothing, and for a
// dequeue (Jepsen's) also one message.
func (q *queueCheck) elements(op *history.Op, scalarOK bool) ([]qElem, error) {
	v := op.Output
	if v.IsNil() {
		return nil, nil
	}
	raw, ok := elems(v)
	if !ok {
		if name, isMsg := message(v); isMsg && scalarOK {
			return []qElem{{msg: name}}, nil
		}
		want := "an array of [msg, seq] pairs or of messages"
		if scalarOK {
			want += ", or one message"
		}
		return nil, fmt.Errorf("event %d: %s value must be %s, got %s", q.event(op), op.F, want, clip(v.String()))
	}
	out := make([]qElem, 0, len(raw))
	for i, r := range raw {
		msg, seq, err := element(r)
		if err != nil {
			return nil, fmt.Errorf("event %d: %s value, element %d: %v", q.event(op), op.F, i+1, err)
		}
		out = append(out, qElem{msg, seq})
	}
	return out, nil
}

// element reads a message or a pair [msg, seq].
func element(v history.Value) (msg string, seq int64, err error) {
	if name, ok := message(v); ok {
		return name, 0, nil
	}
	parts, ok := elems(v)
	if !ok || len(parts) != 2 {
		return "", 0, fmt.Errorf("expected a message or a pair [msg, seq], got %s", clip(v.String()))
	}
	name, ok := message(parts[0])
	if !ok {
		return "", 0, fmt.Errorf("expected a message (an integer or a string) in [msg, seq], got %s", clip(parts[0].String()))
	}
	seq, ok = parts[1].Int()
	if !ok || seq < 1 {
		return "", 0, fmt.Errorf("expected a seq (an integer from 1) in [msg, seq], got %s", clip(parts[1].String()))
	}
	return name, seq, nil
}

// message reads a scalar message: an integer (any JSON number, as
// written) or a string (its text).
func message(v history.Value) (string, bool) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		return "", false
	}
	switch c := s[0]; {
	case c == '"':
		var str string
		if json.Unmarshal([]byte(s), &str) != nil {
			return "", false
		}
		return str, true
	case c == '-' || c >= '0' && c <= '9':
		var n json.Number
		if json.Unmarshal([]byte(s), &n) != nil {
			return "", false
		}
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		return n.String(), true
	}
	return "", false
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

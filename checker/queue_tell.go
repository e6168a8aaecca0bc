package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The stories of the queue anomalies: each names the message, its
// publisher and node, when it was acknowledged and the fault in effect
// then. A message's anomaly is timed at its acknowledgement (its
// invocation if it has none); a read's at the read's invocation.

// queueOpsMax is the largest drain batch given whole as evidence in an
// anomaly's Ops; bigger batches are named in the story instead.
const queueOpsMax = 50

// who names a message's publisher: "message 42 (process 3, via n2)".
func (m *qMsg) who() string {
	s := fmt.Sprintf("message %s (process %s", m.name, m.enq.Process)
	if m.enq.Node != "" {
		s += ", via " + m.enq.Node
	}
	return s + ")"
}

// when is a message's anomaly time: its acknowledgement, or its invocation.
func (m *qMsg) when() int64 {
	if m.enq.Type == history.OK {
		return m.enq.Return
	}
	return m.enq.Call
}

// acked says when and where the system acknowledged m, and the fault in
// effect then: "acknowledged at seq 17 at 12.3 s, while partition ... was
// in effect".
func (q *queueCheck) acked(m *qMsg) string {
	if m.enq.Type != history.OK {
		return fmt.Sprintf("published at %s with an unknown outcome", q.tf.at(m.enq.Call))
	}
	s := "acknowledged"
	if m.seq > 0 {
		s += fmt.Sprintf(" at seq %d", m.seq)
	}
	return s + " at " + q.tf.at(m.enq.Return) + ", " + q.faultAt(m.enq.Return)
}

// faultAt names the faults in effect at t: "while partition
// (majority-minority) [n1 n2 | n3] was in effect", or "with no fault in
// effect".
func (q *queueCheck) faultAt(t int64) string {
	var in []string
	for _, w := range q.windows {
		if t >= w.Start && (w.End < 0 || t < w.End) {
			in = append(in, faultText(w.Fault))
		}
	}
	switch len(in) {
	case 0:
		return "with no fault in effect"
	case 1:
		return "while " + in[0] + " was in effect"
	}
	return "while " + strings.Join(in, " and ") + " were in effect"
}

// faultText names a fault: its kind, shape and sides.
func faultText(f history.Fault) string {
	s := f.Kind
	if s == "" {
		s = "a fault"
	}
	if f.Shape != "" {
		s += " (" + f.Shape + ")"
	}
	if len(f.Groups) > 0 {
		sides := make([]string, len(f.Groups))
		for i, g := range f.Groups {
			sides[i] = strings.Join(g, " ")
		}
		s += " [" + strings.Join(sides, " | ") + "]"
	}
	if f.Shape == "" && len(f.Groups) == 0 && f.Detail != "" && f.Detail != "nil" {
		s += " (" + clip(f.Detail) + ")"
	}
	return s
}

func (q *queueCheck) nodeName(name string) string {
	if name == "" {
		return "the reader"
	}
	return name
}

// drained says which readers completed their drain, for the lost story.
func (q *queueCheck) drainedText() string {
	var done []string
	for _, n := range q.sortedNodes() {
		if n.report.Complete {
			if n.name == "" {
				done = append(done, "the drain completed")
			} else {
				done = append(done, fmt.Sprintf("%s's drain completed at seq %d", n.name, n.end()))
			}
		}
	}
	return strings.Join(done, ", ")
}

// lostStory tells of m, the i-th of its publisher's messages msgs, of which
// the first and last read are at first and last (-1: none).
func (q *queueCheck) lostStory(m *qMsg, i int, msgs []*qMsg, first, last int) Anomaly {
	var where string
	switch {
	case first < 0:
		where = fmt.Sprintf("none of process %s's %d messages was read", m.enq.Process, len(msgs))
	case i < first:
		where = fmt.Sprintf("nor any earlier message of process %s (its first message read is %s)", m.enq.Process, msgs[first].name)
	case i > last:
		where = fmt.Sprintf("nor any later message of process %s (its last message read is %s)", m.enq.Process, msgs[last].name)
	default:
		next := msgs[last]
		for _, x := range msgs[i+1:] {
			if len(x.reads) > 0 {
				next = x
				break
			}
		}
		where = fmt.Sprintf("though process %s's later message %s was read: a hole", m.enq.Process, next.name)
	}
	return Anomaly{Time: m.when(), Ops: []history.Op{*m.enq},
		Summary: fmt.Sprintf("%s, %s, was never read by any consumer or drain (%s); %s",
			m.who(), q.acked(m), q.drainedText(), where)}
}

func (q *queueCheck) lostOnNodeStory(m *qMsg, n *qNode) Anomaly {
	seq := m.seq
	if seq == 0 {
		for _, r := range m.reads {
			if r.seq > 0 {
				seq = r.seq
				break
			}
		}
	}
	var why string
	switch {
	case seq > 0 && n.end() < seq:
		why = fmt.Sprintf("node %s holds only up to seq %d", n.name, n.end())
	case seq > 0:
		why = fmt.Sprintf("%s's drain completed at seq %d, past the message's seq %d", n.name, n.end(), seq)
	default:
		why = fmt.Sprintf("%s's drain completed", n.name)
	}
	r := m.reads[0]
	a := Anomaly{Time: m.when(), Ops: []history.Op{*m.enq},
		Summary: fmt.Sprintf("%s, %s, was read %s but is missing from %s's drain: %s",
			m.who(), q.acked(m), q.readWhere(r), n.name, why)}
	a.Ops = q.withRead(a.Ops, r)
	return a
}

// readWhere says how r read: "through n1's drain at seq 17" or "by the
// dequeue of process 5 invoked at 13.2 s".
func (q *queueCheck) readWhere(r qRead) string {
	var s string
	if r.drain {
		s = "through " + q.nodeName(r.node) + "'s drain"
		if r.node == "" {
			s = "by the drain"
		}
	} else {
		s = fmt.Sprintf("by the dequeue of process %s", r.op.Process)
		if r.node != "" {
			s += " via " + r.node
		}
		s += " invoked at " + q.tf.at(r.op.Call)
	}
	if r.seq > 0 {
		s += fmt.Sprintf(" at seq %d", r.seq)
	}
	return s
}

// withRead appends r's operation as evidence, unless it is a drain batch
// too large to show.
func (q *queueCheck) withRead(ops []history.Op, r qRead) []history.Op {
	if raw, ok := elems(r.op.Output); r.drain && ok && len(raw) > queueOpsMax {
		return ops
	}
	for _, op := range ops {
		if op.Index == r.op.Index {
			return ops
		}
	}
	return append(ops, *r.op)
}

func (q *queueCheck) divergentStory(seq int64, entries []seqEntry) Anomaly {
	var parts []string
	var ops []history.Op
	seen := map[string]bool{}
	t := int64(-1)
	for _, e := range entries {
		var what string
		if e.read == nil {
			what = fmt.Sprintf("%s acknowledged at seq %d at %s", e.m.who(), seq, q.tf.at(e.m.enq.Return))
			ops = append(ops, *e.m.enq)
		} else {
			what = fmt.Sprintf("%s read %s", e.msg, q.readWhere(*e.read))
			if e.m != nil && !e.m.failed {
				what = fmt.Sprintf("%s read %s", e.m.who(), q.readWhere(*e.read))
			}
			ops = q.withRead(ops, *e.read)
			if t < 0 || e.read.op.Call < t {
				t = e.read.op.Call
			}
		}
		if key := e.msg + "|" + what; !seen[key] {
			seen[key] = true
			parts = append(parts, what)
		}
	}
	if t < 0 {
		t = entries[0].m.when()
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("%d more", len(parts)-6))
	}
	return Anomaly{Time: t, Ops: clipOps(ops),
		Summary: fmt.Sprintf("seq %d holds different messages (%s): %s", seq, q.faultAt(t), strings.Join(parts, "; "))}
}

func (q *queueCheck) unexpectedStory(name string, reads []qRead) Anomaly {
	r := reads[0]
	what := "was never published"
	var ops []history.Op
	if m := q.msgs[name]; m != nil {
		what = fmt.Sprintf("was published by process %s at %s, but that publish failed definitely", m.enq.Process, q.tf.at(m.enq.Call))
		if m.enq.Error != "" {
			what += " (" + m.enq.Error + ")"
		}
		ops = append(ops, *m.enq)
	}
	more := ""
	if len(reads) > 1 {
		more = fmt.Sprintf(" (read %d times in all)", len(reads))
	}
	return Anomaly{Time: r.op.Call, Ops: q.withRead(ops, r),
		Summary: fmt.Sprintf("message %s was read %s%s, %s, but it %s", name, q.readWhere(r), more, q.faultAt(r.op.Call), what)}
}

func (q *queueCheck) publishOrderStory(m, earlier *qMsg) Anomaly {
	return Anomaly{Time: m.when(), Ops: []history.Op{*m.enq, *earlier.enq},
		Summary: fmt.Sprintf("%s, invoked at %s and %s, does not come after the same process's message %s, acknowledged at seq %d at %s, before it was invoked: a later publish of the same process must get a larger seq",
			m.who(), q.tf.at(m.enq.Call), q.acked(m), earlier.name, earlier.seq, q.tf.at(earlier.enq.Return))}
}

func (q *queueCheck) readOrderStory(m *qMsg, r *qRead) Anomaly {
	return Anomaly{Time: m.when(), Ops: q.withRead([]history.Op{*m.enq}, *r),
		Summary: fmt.Sprintf("%s was %s, but read %s", m.who(), q.acked(m), q.readWhere(*r))}
}

func (q *queueCheck) duplicateStory(m *qMsg) Anomaly {
	var parts []string
	if m.deliveries > 1 {
		parts = append(parts, fmt.Sprintf("delivered %d times by consumers", m.deliveries))
	}
	if len(m.seqs) > 1 {
		var seqs []int64
		for s := range m.seqs {
			seqs = append(seqs, s)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		parts = append(parts, fmt.Sprintf("read at seqs %s", strings.Trim(fmt.Sprint(seqs), "[]")))
	}
	ops := []history.Op{*m.enq}
	for _, r := range m.reads {
		if !r.drain || r.node == "" {
			ops = q.withRead(ops, r)
		}
	}
	return Anomaly{Time: m.when(), Ops: clipOps(ops),
		Summary: fmt.Sprintf("%s, %s, was %s", m.who(), q.acked(m), strings.Join(parts, " and "))}
}

package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The queue model is, like the set model, an account rather than a
// search: every message published, what became of it, and what each node
// held at the end. See docs/checking.md, Queues.

// QueueReport is the account of a queue history: publishes by outcome,
// messages by fate, and the drain of each node.
type QueueReport struct {
	// Attempted counts publishes (enqueues) that did not fail: Acknowledged
	// (ok) plus Unknown (info, or never completed). Failed ones did not
	// happen.
	Attempted    int `json:"attempted"`
	Acknowledged int `json:"acknowledged"`
	Unknown      int `json:"unknown"`
	Failed       int `json:"failed"`
	// Read counts the distinct published messages (enqueues that did not
	// fail) that some dequeue or drain returned at least once.
	Read int `json:"read"`
	// Recovered counts unknown publishes whose message was read: they did
	// happen.
	Recovered int `json:"recovered"`
	// Lost counts acknowledged messages read nowhere although at least one
	// reader completed its drain: LostStart + LostMiddle + LostEnd, split by
	// where the message stands among its publisher's messages that were
	// read (before the first, between two, after the last).
	Lost       int `json:"lost"`
	LostStart  int `json:"lost_start"`
	LostMiddle int `json:"lost_middle"`
	LostEnd    int `json:"lost_end"`
	// Unread counts acknowledged messages read nowhere when no reader
	// completed its drain: not loss, the verdict is then unknown.
	Unread int `json:"unread"`
	// LostOnNode counts (message, node) pairs: an acknowledged message read
	// somewhere but missing from the completed drain of that node.
	LostOnNode int `json:"lost_on_node"`
	// Divergent counts positions (seqs) at which two different messages
	// were read or acknowledged.
	Divergent int `json:"divergent"`
	// Unexpected counts messages read that were never published (or whose
	// publish failed).
	Unexpected int `json:"unexpected"`
	// Duplicated counts messages delivered more than once by consumers, or
	// read at two different seqs. Invalid only with [Options.ExactlyOnce].
	Duplicated int `json:"duplicated"`
	// Order counts messages acknowledged at a seq not above the seq of an
	// earlier acknowledged message of the same publisher, or read at a seq
	// other than the one they were acknowledged with.
	Order int `json:"order"`
	// Drained is set when at least one reader completed its drain (read
	// to the end of what its node holds): only then can a message be lost.
	Drained bool `json:"drained"`
	// ExactlyOnce is set when duplicates counted against validity
	// ([Options.ExactlyOnce]).
	ExactlyOnce bool `json:"exactly_once,omitempty"`
	// Nodes describes the drain through each node, in name order; a
	// Jepsen history's single drain has the empty name.
	Nodes []QueueNode `json:"nodes,omitempty"`
	// Messages is every message published (failed ones included), in
	// invocation order, with its fate: for the report's plot. Not written
	// to results.json (a run can publish hundreds of thousands).
	Messages []QueueMessage `json:"-"`
}

// QueueNode is what the final drain read through one node.
type QueueNode struct {
	Node string `json:"node"`
	// Complete is set when the reader reached the node's end: a drained ok
	// event, or (without one) every drain batch through the node was ok.
	Complete bool `json:"complete"`
	// LastSeq is the last seq the node said it holds (drained's value), or
	// the highest seq read through it when it said none.
	LastSeq int64 `json:"last_seq"`
	// Read counts the distinct messages read through the node.
	Read int `json:"read"`
	// Missing counts the acknowledged messages read elsewhere that this
	// node's completed drain lacks (lost-on-node).
	Missing int `json:"missing"`
	// Error says why a drain that did not complete gave up.
	Error string `json:"error,omitempty"`
}

// QueueMessage is one published message and its fate.
type QueueMessage struct {
	Msg     string
	Process history.Process
	// Node is the node the publisher was bound to.
	Node string
	// Seq is the position the publish was acknowledged at, 0 if none.
	Seq int64
	// Invoked is the publish's invocation time; Acked its ok completion,
	// -1 if it was not acknowledged.
	Invoked, Acked int64
	// Fate is one of the Fate* constants.
	Fate string
	// HeldBy are the named nodes whose drain returned the message.
	HeldBy []string
}

// Fates of a published message, [QueueMessage.Fate].
const (
	FateRead       = "read"        // acknowledged and read
	FateRecovered  = "recovered"   // unknown outcome, read
	FateUnknown    = "unknown"     // unknown outcome, read nowhere
	FateLostStart  = "lost-start"  // acknowledged, read nowhere, before the publisher's first message read
	FateLostMiddle = "lost-middle" // ... between two of its messages that were read
	FateLostEnd    = "lost-end"    // ... after its last message read
	FateUnread     = "unread"      // acknowledged, read nowhere, no drain completed
	FateFailed     = "failed"      // the publish failed: not published
)

// queueMaxPerKind bounds the anomalies listed per kind; the report counts
// them all.
const queueMaxPerKind = 20

// queueFs are the functions of a queue history.
var queueFs = []string{"enqueue", "dequeue", "drain", "drained"}

// qMsg is one published message as the checker follows it.
type qMsg struct {
	name   string
	enq    *history.Op
	seq    int64 // acknowledged seq, 0 if none
	failed bool
	reads  []qRead
	held   map[string]bool // named nodes whose drain returned it
	seqs   map[int64]bool  // seqs it was read at
	// deliveries counts the times a consumer took it: dequeues, and
	// drains through no named node (Jepsen's drain consumes).
	deliveries int
	fate       string
}

// qRead is one message read by a dequeue or a drain.
type qRead struct {
	op    *history.Op
	seq   int64 // 0 if the read gave none
	node  string
	drain bool
}

// qNode is one node's drain.
type qNode struct {
	name    string
	drains  []*history.Op
	drained *history.Op
	last    int64 // reported last seq, -1 if none
	maxRead int64
	read    map[string]bool
	report  QueueNode
}

func (n *qNode) end() int64 { return max(n.last, n.maxRead) }

// checkQueue fills res with the queue account of ops. events are the
// history's events (for the event numbers of completions in errors) and
// windows its fault windows. A value the model cannot read is an error
// naming its event.
func checkQueue(events []history.Event, ops []history.Op, windows []history.Window, exactlyOnce bool, res *Result, tf timeFormat) error {
	q := &queueCheck{tf: tf, windows: windows, msgs: map[string]*qMsg{}, nodes: map[string]*qNode{},
		done: completions(events), res: res, exactlyOnce: exactlyOnce}
	if err := q.read(ops); err != nil {
		return err
	}
	q.judge()
	return nil
}

type queueCheck struct {
	tf          timeFormat
	windows     []history.Window
	done        map[int]int // invocation index -> completion index
	res         *Result
	exactlyOnce bool

	msgs       map[string]*qMsg
	order      []*qMsg // publishes in invocation order
	byProc     map[history.Process][]*qMsg
	nodes      map[string]*qNode
	unexpected map[string][]qRead
	unexpOrder []string
	bySeq      map[int64][]seqEntry // what was read or acknowledged at each seq
	seqOrder   []int64
	anoms      map[string][]Anomaly
	counts     map[string]int
	notes      []string
}

// seqEntry is one message seen at a seq: acknowledged there (read nil) or
// read there.
type seqEntry struct {
	msg  string
	m    *qMsg
	read *qRead
}

// completions maps each invocation's event index to its completion's.
func completions(events []history.Event) map[int]int {
	open := map[history.Process]int{}
	out := map[int]int{}
	for i, e := range events {
		if e.Process == history.Nemesis {
			continue
		}
		if e.Type == history.Invoke {
			open[e.Process] = i
			continue
		}
		if j, ok := open[e.Process]; ok {
			out[j] = i
			delete(open, e.Process)
		}
	}
	return out
}

// judge settles every message's fate, finds the anomalies and sets the
// verdict.
func (q *queueCheck) judge() {
	rep := &QueueReport{ExactlyOnce: q.exactlyOnce}
	q.res.Queue = rep
	q.anoms = map[string][]Anomaly{}
	q.counts = map[string]int{}

	var names []string
	for name := range q.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	var gaveUp []string
	for _, name := range names {
		n := q.nodes[name]
		n.report = QueueNode{Node: name, Complete: n.complete(), LastSeq: n.end(), Read: len(n.read)}
		if !n.report.Complete {
			n.report.Error = n.giveUpReason()
			gaveUp = append(gaveUp, fmt.Sprintf("%s's drain gave up after seq %d (%s)", q.nodeName(name), n.maxRead, n.report.Error))
		} else {
			rep.Drained = true
		}
	}

	for _, m := range q.order {
		switch {
		case m.failed:
			rep.Failed++
			m.fate = FateFailed
			continue
		case m.enq.Type == history.OK:
			rep.Acknowledged++
		default:
			rep.Unknown++
		}
		if len(m.reads) > 0 {
			rep.Read++
		}
	}
	rep.Attempted = rep.Acknowledged + rep.Unknown

	q.fates(rep)
	q.lostOnNode(rep)
	q.divergent(rep)
	q.unexpectedReads(rep)
	q.orderOf(rep)
	q.duplicates(rep)

	for _, name := range names {
		rep.Nodes = append(rep.Nodes, q.nodes[name].report)
	}
	for _, m := range q.order {
		qm := QueueMessage{Msg: m.name, Process: m.enq.Process, Node: m.enq.Node, Seq: m.seq,
			Invoked: m.enq.Call, Acked: -1, Fate: m.fate}
		if m.enq.Type == history.OK {
			qm.Acked = m.enq.Return
		}
		for node := range m.held {
			qm.HeldBy = append(qm.HeldBy, node)
		}
		sort.Strings(qm.HeldBy)
		rep.Messages = append(rep.Messages, qm)
	}

	for _, kind := range []string{"lost-middle", "lost-start", "lost-end", "lost-on-node", "divergent", "unexpected", "order", "duplicated"} {
		list := q.anoms[kind]
		sort.SliceStable(list, func(i, j int) bool { return list[i].Time < list[j].Time })
		if len(list) > queueMaxPerKind {
			q.notes = append(q.notes, fmt.Sprintf("%s: %d, the first %d listed", kind, len(list), queueMaxPerKind))
			list = list[:queueMaxPerKind]
		}
		q.res.Anomalies = append(q.res.Anomalies, list...)
	}
	invalid := rep.Lost+rep.LostOnNode+rep.Divergent+rep.Unexpected+rep.Order > 0 || q.exactlyOnce && rep.Duplicated > 0
	var reasons []string
	switch {
	case rep.Unread > 0 && len(gaveUp) > 0:
		reasons = append(reasons, fmt.Sprintf("%d acknowledged message(s) were read nowhere, and no reader completed its drain (%s): they are unread, not lost", rep.Unread, strings.Join(gaveUp, "; ")))
	case rep.Unread > 0:
		reasons = append(reasons, fmt.Sprintf("%d acknowledged message(s) were read nowhere, and the history has no final drain: they are unread, not lost", rep.Unread))
	case len(gaveUp) > 0:
		reasons = append(reasons, strings.Join(gaveUp, "; ")+": not judged")
	}
	if rep.Duplicated > 0 && !q.exactlyOnce {
		reasons = append(reasons, fmt.Sprintf("%d message(s) were delivered more than once or read at two seqs: allowed by at-least-once delivery, not with --exactly-once", rep.Duplicated))
	}
	reasons = append(reasons, q.notes...)
	q.res.Reason = strings.Join(reasons, "; ")
	switch {
	case invalid:
		q.res.Verdict = Invalid
	case rep.Unread > 0:
		q.res.Verdict = Unknown
	default:
		q.res.Verdict = Valid
	}
}

func (n *qNode) complete() bool {
	if n.drained != nil {
		return n.drained.Type == history.OK
	}
	if len(n.drains) == 0 {
		return false
	}
	for _, op := range n.drains {
		if op.Type != history.OK {
			return false
		}
	}
	return true
}

func (n *qNode) giveUpReason() string {
	if n.drained != nil {
		if n.drained.Error != "" {
			return n.drained.Error
		}
		return "drained " + string(n.drained.Type)
	}
	for _, op := range n.drains {
		if op.Type != history.OK {
			if op.Error != "" {
				return op.Error
			}
			return "a drain batch ended " + string(op.Type)
		}
	}
	return "no drain"
}

// fates settles each published message: read, recovered, unknown, lost
// (by place among its publisher's messages) or unread.
func (q *queueCheck) fates(rep *QueueReport) {
	for _, msgs := range q.byProc {
		first, last := -1, -1
		for i, m := range msgs {
			if len(m.reads) > 0 {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		for i, m := range msgs {
			acked := m.enq.Type == history.OK
			switch {
			case m.failed:
				continue
			case len(m.reads) > 0 && acked:
				m.fate = FateRead
			case len(m.reads) > 0:
				m.fate = FateRecovered
				rep.Recovered++
			case !acked:
				m.fate = FateUnknown
			case !rep.Drained:
				m.fate = FateUnread
				rep.Unread++
			case first < 0 || i < first:
				m.fate = FateLostStart
				rep.LostStart++
				q.add(FateLostStart, q.lostStory(m, i, msgs, first, last))
			case i > last:
				m.fate = FateLostEnd
				rep.LostEnd++
				q.add(FateLostEnd, q.lostStory(m, i, msgs, first, last))
			default:
				m.fate = FateLostMiddle
				rep.LostMiddle++
				q.add(FateLostMiddle, q.lostStory(m, i, msgs, first, last))
			}
		}
	}
	rep.Lost = rep.LostStart + rep.LostMiddle + rep.LostEnd
}

func (q *queueCheck) add(kind string, a Anomaly) {
	a.Kind = kind
	q.anoms[kind] = append(q.anoms[kind], a)
}

// lostOnNode finds acknowledged messages read somewhere but missing from
// a named node's completed drain.
func (q *queueCheck) lostOnNode(rep *QueueReport) {
	nodes := q.sortedNodes()
	for _, m := range q.order {
		if m.failed || m.enq.Type != history.OK || len(m.reads) == 0 {
			continue
		}
		for _, n := range nodes {
			if n.name == "" || !n.report.Complete || n.read[m.name] {
				continue
			}
			n.report.Missing++
			rep.LostOnNode++
			q.add("lost-on-node", q.lostOnNodeStory(m, n))
		}
	}
}

func (q *queueCheck) sortedNodes() []*qNode {
	out := make([]*qNode, 0, len(q.nodes))
	for _, n := range q.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// divergent finds seqs at which two different messages were read or
// acknowledged.
func (q *queueCheck) divergent(rep *QueueReport) {
	for _, seq := range q.seqOrder {
		entries := q.bySeq[seq]
		distinct := map[string]bool{}
		for _, e := range entries {
			distinct[e.msg] = true
		}
		if len(distinct) < 2 {
			continue
		}
		rep.Divergent++
		q.add("divergent", q.divergentStory(seq, entries))
	}
}

func (q *queueCheck) unexpectedReads(rep *QueueReport) {
	for _, name := range q.unexpOrder {
		rep.Unexpected++
		q.add("unexpected", q.unexpectedStory(name, q.unexpected[name]))
	}
}

// orderOf finds publishes acknowledged at a seq not above an earlier
// acknowledged publish of the same publisher, and messages read at a seq
// other than their acknowledged one.
func (q *queueCheck) orderOf(rep *QueueReport) {
	bad := map[*qMsg]bool{}
	for _, msgs := range q.byProc {
		var acked []*qMsg
		for _, m := range msgs {
			if !m.failed && m.enq.Type == history.OK && m.seq > 0 {
				acked = append(acked, m)
			}
		}
		byReturn := append([]*qMsg(nil), acked...)
		sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].enq.Return < byReturn[j].enq.Return })
		var top *qMsg // the acknowledged message with the highest seq so far
		k := 0
		for _, m := range acked { // in invocation order
			for k < len(byReturn) && byReturn[k].enq.Return < m.enq.Call {
				if top == nil || byReturn[k].seq > top.seq {
					top = byReturn[k]
				}
				k++
			}
			if top != nil && m.seq <= top.seq {
				bad[m] = true
				rep.Order++
				q.add("order", q.publishOrderStory(m, top))
			}
		}
	}
	for _, m := range q.order {
		if m.failed || m.enq.Type != history.OK || m.seq == 0 || bad[m] {
			continue
		}
		for i := range m.reads {
			if r := &m.reads[i]; r.seq > 0 && r.seq != m.seq {
				rep.Order++
				q.add("order", q.readOrderStory(m, r))
				break
			}
		}
	}
}

// duplicates finds messages delivered more than once by consumers, or
// read at two different seqs.
func (q *queueCheck) duplicates(rep *QueueReport) {
	for _, m := range q.order {
		if m.failed || (m.deliveries < 2 && len(m.seqs) < 2) {
			continue
		}
		rep.Duplicated++
		if q.exactlyOnce {
			q.add("duplicated", q.duplicateStory(m))
		}
	}
}

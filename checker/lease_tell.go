package checker

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/lab-chaos/lab/history"
)

// The stories of the lease anomalies: each names the key, the lease, the
// nodes, when, and the fault in effect then. An anomaly is timed at the
// invocation of the read or keepalive that shows it.

// nodeOr names a node, or "the client's node" when the history has none.
func leaseNode(n string) string {
	if n == "" {
		return "the client's node"
	}
	return n
}

// faultAt names the faults in effect at t: "while pause (leader) [n1] was
// in effect", or "with no fault in effect".
func (l *leaseCheck) faultAt(t int64) string {
	var in []string
	for _, w := range l.windows {
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

func leaseDur(ns int64) string { return time.Duration(ns).String() }

// lease names k's lease: "lease 694d8c3f2a1b0c05 (key lease-2-3, granted
// through n2 at 12.3 s with a TTL of 4s)".
func (l *leaseCheck) lease(k *leaseKey) string {
	return fmt.Sprintf("lease %x (key %s, granted through %s at %s with a TTL of %s)", uint64(k.id), k.key, leaseNode(k.grant.Node), l.tf.at(k.grant.Return), leaseDur(k.ttl))
}

// grantText says which lease a key had: "lease 694d8c3f2a1b0c05, granted
// through n2 at 12.3 s with a TTL of 4s".
func (l *leaseCheck) grantText(k *leaseKey) string {
	return fmt.Sprintf("lease %x, granted through %s at %s with a TTL of %s", uint64(k.id), leaseNode(k.grant.Node), l.tf.at(k.grant.Return), leaseDur(k.ttl))
}

// alive says why the lease was alive until k.aliveUntil.
func (l *leaseCheck) alive(k *leaseKey) string {
	s := "the lease was certainly alive until " + l.tf.at(k.aliveUntil) + ": "
	if k.aliveBy == k.grant {
		return s + fmt.Sprintf("it was granted, invoked at %s, with a TTL of %s", l.tf.at(k.grant.Call), leaseDur(k.ttl))
	}
	t, _ := k.aliveBy.Output.Int()
	return s + fmt.Sprintf("the keepalive through %s invoked at %s returned a TTL of %ds, so the leader renewed it after %s",
		leaseNode(k.aliveBy.Node), l.tf.at(k.aliveBy.Call), t, l.tf.at(k.aliveBy.Call))
}

// presentText says since when the key was known present.
func (l *leaseCheck) presentText(k *leaseKey) string {
	if k.presentBy == k.put {
		return fmt.Sprintf("its put of %s completed at %s", k.val, l.tf.at(k.present))
	}
	return fmt.Sprintf("a read through %s returned %s at %s", leaseNode(k.presentBy.Node), k.val, l.tf.at(k.present))
}

func (l *leaseCheck) evidence(ops ...*history.Op) []history.Op {
	var out []history.Op
	seen := map[int]bool{}
	for _, op := range ops {
		if op != nil && !seen[op.Index] {
			seen[op.Index] = true
			out = append(out, *op)
		}
	}
	return out
}

func (l *leaseCheck) vanishedStory(k *leaseKey, r *leaseRead, n int) *Anomaly {
	more := ""
	if n > 1 {
		more = fmt.Sprintf(" (%d reads in all found it gone while the lease was alive)", n)
	}
	return &Anomaly{Key: k.key, Time: r.op.Call, Ops: l.evidence(r.op, k.presentBy, k.aliveBy),
		Summary: fmt.Sprintf("key %s vanished: a read through %s invoked at %s and completed at %s found no value%s, %s; but %s, and %s. A key whose lease is kept alive must not vanish (%s).",
			k.key, leaseNode(r.op.Node), l.tf.at(r.op.Call), l.tf.at(r.op.Return), more, l.faultAt(r.op.Call), l.presentText(k), l.alive(k), l.grantText(k))}
}

func (l *leaseCheck) lostStory(k *leaseKey, op *history.Op) *Anomaly {
	why := ""
	if op.Error != "" {
		why = " (" + op.Error + ")"
	}
	return &Anomaly{Key: k.key, Time: op.Call, Ops: l.evidence(op, k.aliveBy),
		Summary: fmt.Sprintf("%s was lost: a keepalive through %s invoked at %s was told the lease does not exist%s, completing at %s, %s; but %s.",
			l.lease(k), leaseNode(op.Node), l.tf.at(op.Call), why, l.tf.at(op.Return), l.faultAt(op.Call), l.alive(k))}
}

func (l *leaseCheck) notExpiredStory(k *leaseKey, r *leaseRead) *Anomaly {
	let := "no keepalive was sent after it"
	if k.rel != nil {
		let = "it was let go at " + l.tf.at(k.rel.Call)
	}
	var last string
	switch {
	case k.renewBy == k.grant:
		last = fmt.Sprintf("its grant completed at %s", l.tf.at(k.lastRenew))
	case k.renewBy.Type == history.Info:
		last = fmt.Sprintf("a keepalive through %s with an unknown outcome ended at %s", leaseNode(k.renewBy.Node), l.tf.at(k.lastRenew))
	default:
		last = fmt.Sprintf("its last keepalive, through %s, completed at %s", leaseNode(k.renewBy.Node), l.tf.at(k.lastRenew))
	}
	bound := fmt.Sprintf("%s, plus the TTL of %s and a margin of %s", last, leaseDur(k.ttl), LeaseMargin)
	if w := k.extendedBy; w != nil {
		bound += fmt.Sprintf(", pushed to the end of %s at %s (a new leader extends every lease) plus the TTL and the margin", faultText(w.Fault), l.tf.at(w.End))
	}
	return &Anomaly{Key: k.key, Time: r.op.Call, Ops: l.evidence(r.op, k.renewBy, k.rel),
		Summary: fmt.Sprintf("%s did not expire: a read through %s invoked at %s still returned its value %s, %s; but %s, and it must have expired by %s: %s.",
			l.lease(k), leaseNode(r.op.Node), l.tf.at(r.op.Call), k.val, l.faultAt(r.op.Call), let, l.tf.at(k.expireBy), bound)}
}

func (l *leaseCheck) returnedStory(k *leaseKey, gone, r *leaseRead) *Anomaly {
	return &Anomaly{Key: k.key, Time: r.op.Call, Ops: l.evidence(r.op, gone.op, k.presentBy),
		Summary: fmt.Sprintf("key %s came back: a read through %s invoked at %s returned %s, %s; but a read through %s found it gone at %s (invoked at %s, after %s). A key deleted with its lease cannot return (%s).",
			k.key, leaseNode(r.op.Node), l.tf.at(r.op.Call), k.val, l.faultAt(r.op.Call), leaseNode(gone.op.Node), l.tf.at(gone.op.Return), l.tf.at(gone.op.Call), l.presentText(k), l.grantText(k))}
}

// writeLeasePage is history.html for a lease history: porcupine draws
// searches, and the lease model is an account, so the page gives the
// account, every lease's fate and the anomalies.
func writeLeasePage(w io.Writer, res Result) error {
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>lease history</title><h1>Leases: %s</h1>\n", html.EscapeString(string(res.Verdict)))
	if r := res.Lease; r != nil {
		fmt.Fprintf(w, "<p>%d leases granted (%d unknown, %d failed grants); %d with a key, %d kept alive within every TTL window, %d lapsed; %d let go; %d seen to expire, %d not seen; %d vanished, %d lost, %d did not expire, %d came back; %d unexpected reads of %d (%d found no key). Margin %s.</p>\n",
			r.Granted, r.GrantsUnknown, r.GrantsFailed, r.Attached, r.Kept, r.Lapsed, r.Released, r.Expired, r.Unknown,
			r.Vanished, r.Lost, r.NotExpired, r.Returned, r.Unexpected, r.Reads, r.ReadsAbsent, r.Margin)
		fmt.Fprintln(w, "<table><tr><th>key<th>lease<th>node<th>ttl<th>granted<th>let go<th>alive until<th>expire by<th>kept<th>fate")
		at := func(t int64) string {
			if t < 0 {
				return "-"
			}
			return timeFormat(false).at(t)
		}
		for _, e := range r.Leases {
			fmt.Fprintf(w, "<tr><td>%s<td>%s<td>%s<td>%ds<td>%s<td>%s<td>%s<td>%s<td>%v<td>%s\n", html.EscapeString(e.Key), e.Lease, html.EscapeString(e.Node), e.TTL,
				at(e.Granted), at(e.Released), at(e.AliveUntil), at(e.ExpireBy), e.Kept, e.Fate)
		}
		fmt.Fprintln(w, "</table>")
	}
	if res.Reason != "" {
		fmt.Fprintf(w, "<p>%s</p>\n", html.EscapeString(res.Reason))
	}
	fmt.Fprintln(w, "<ul>")
	for _, a := range res.Anomalies {
		fmt.Fprintf(w, "<li><b>%s</b>: %s</li>\n", html.EscapeString(a.Kind), html.EscapeString(a.Summary))
	}
	_, err := fmt.Fprintln(w, "</ul>")
	return err
}

package checker

import (
	"fmt"
	"strings"

	"github.com/lab-chaos/lab/history"
)

// The stories of the lock model: who held which lock, from when, with
// which token, and what was known of their leases. Each is timed at the
// moment the second holder's acquire returned.

// who names a holder: "process 4 (via n2)".
func (h *lockHold) who() string {
	s := "process " + h.proc.String()
	if h.node != "" {
		s += " (via " + h.node + ")"
	}
	return s
}

func tokenText(tok int64) string {
	if tok <= 0 {
		return ""
	}
	return fmt.Sprintf(" with token %d", tok)
}

// ended says how the earlier holder's hold ended: "began its release at
// 14 s", "never released it".
func (c *lockCheck) ended(a *lockHold) string {
	switch {
	case a.rel == nil && a.end == 1<<63-1:
		return "never released it"
	case a.rel == nil:
		return "took it again at " + c.tf.at(a.end)
	}
	return "began its release at " + c.tf.at(a.end)
}

// validText says until when a holder's lease was known alive.
func (c *lockCheck) validText(h *lockHold) string {
	switch {
	case h.valid == validForever:
		return h.who() + " held no lease"
	case !h.recorded:
		return fmt.Sprintf("%s's lease was not recorded (known alive only when it last acquired a lock, at %s)", h.who(), c.tf.at(h.valid))
	}
	return h.who() + "'s lease was known alive until " + c.tf.at(h.valid)
}

func (c *lockCheck) twoHoldersStory(a, h *lockHold) Anomaly {
	end := min(a.end, h.end)
	until := "until " + c.tf.at(end)
	if end == 1<<63-1 {
		until = "to the end of the history"
	}
	s := fmt.Sprintf("lock %s had two holders at once: %s acquired it at %s%s while %s held it (acquired at %s%s; it %s). Both leases were known alive then (%s, %s), so no lease expiry explains it: the lock had two holders from %s %s, %s.",
		a.lock, h.who(), c.tf.at(h.start), tokenText(h.token), a.who(), c.tf.at(a.start), tokenText(a.token), c.ended(a),
		c.validText(a), c.validText(h), c.tf.at(h.start), until, c.faultAt(h.start))
	if a.token > 0 && h.token > a.token {
		s += fmt.Sprintf(" The key of token %d still existed, yet the lock went to the later key of token %d.", a.token, h.token)
	}
	ops := []history.Op{*h.acq, *a.acq}
	if a.rel != nil {
		ops = append(ops, *a.rel)
	}
	return Anomaly{Key: a.lock, Time: h.start, Summary: s, Ops: ops}
}

func (c *lockCheck) leaseExpiredStory(a, h *lockHold) Anomaly {
	var why string
	switch {
	case a.valid <= h.start && !a.recorded:
		why = fmt.Sprintf("and %s, so it may have expired before then", c.validText(a))
	case a.valid <= h.start:
		why = fmt.Sprintf("but %s, before then: it may have expired, and a lease's expiry frees its lock for the next holder", c.validText(a))
	default:
		why = fmt.Sprintf("but %s's acquire was invoked at %s, before %s's returned, and %s, no later than that: %s may have been granted the lock first and lost it when its lease expired, before its own acquire returned",
			h.who(), c.tf.at(h.acq.Call), a.who(), c.validText(h), h.who())
	}
	s := fmt.Sprintf("lock %s: %s acquired it at %s%s while %s still believed it held it (acquired at %s%s; it %s), %s; %s. Two holders through an expired lease is the known limit of lease-based locks, not a bug of the lock service: a holder must stop acting on the lock once its lease may have expired, or fence its writes with the token.",
		a.lock, h.who(), c.tf.at(h.start), tokenText(h.token), a.who(), c.tf.at(a.start), tokenText(a.token), c.ended(a),
		c.faultAt(h.start), why)
	ops := []history.Op{*h.acq, *a.acq}
	if a.rel != nil {
		ops = append(ops, *a.rel)
	}
	return Anomaly{Kind: "lease-expired", Key: a.lock, Time: h.start, Summary: s, Ops: ops}
}

func (c *lockCheck) tokenStory(lock string, a *history.Op, ta int64, b *history.Op, tb int64) Anomaly {
	s := fmt.Sprintf("lock %s: process %s's acquire, invoked at %s after process %s's acquire had returned at %s with token %d, got token %d: a lock key created later has a larger revision, so each later holder's fencing token must be larger.",
		lock, b.Process, c.tf.at(b.Call), a.Process, c.tf.at(a.Return), ta, tb)
	return Anomaly{Key: lock, Time: b.Call, Summary: s, Ops: []history.Op{*b, *a}}
}

func (c *lockCheck) searchStory(lock string, ops []history.Op) Anomaly {
	var at int64
	if len(ops) > 0 {
		at = ops[0].Call
	}
	s := fmt.Sprintf("lock %s: no order of its acquires and releases keeps one holder at a time, even letting each lease expire once it was no longer known alive (porcupine's search); no two certain holds overlap, so operations whose outcome is unknown are involved.", lock)
	return Anomaly{Key: lock, Time: at, Summary: s}
}

// faultAt names the faults in effect at t.
func (c *lockCheck) faultAt(t int64) string {
	var in []string
	for _, w := range c.windows {
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

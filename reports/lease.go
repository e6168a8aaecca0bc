package reports

import (
	"fmt"
	"strconv"

	"github.com/lab-chaos/lab/checker"
)

// The lease workload's part of the report, when the run's result has a
// lease account ([Run.Lease]): a table of what became of the leases
// granted, and a note. It is there because in a run with faults many keys
// go while their owner still tries to keep them: a reviewer who sees keys
// gone needs to see how many leases were kept alive throughout and how
// many lapsed, and that only a key gone while its lease was certainly
// alive (or the other anomalies) makes the run invalid.

// LeaseAccount is the account table: one row per count.
func (v *view) LeaseAccount() [][2]string {
	l := v.run.Lease
	if l == nil {
		return nil
	}
	n := strconv.Itoa
	return [][2]string{
		{"granted", n(l.Granted)},
		{"grants with an unknown outcome", n(l.GrantsUnknown)},
		{"grants that failed (no lease)", n(l.GrantsFailed)},
		{"with a key attached (its put known written)", n(l.Attached)},
		{"kept alive throughout", n(l.Kept)},
		{"lapsed (not kept alive: the key may go)", n(l.Lapsed)},
		{"released by their owner", n(l.Released)},
		{"gone as expected (key seen gone after the last renewal)", n(l.Expired)},
		{"not seen gone (no later read found the key gone: not judged)", n(l.Unknown)},
		{"vanished while the lease was certainly alive (anomaly)", n(l.Vanished)},
		{"lost (a keepalive told the lease was not found while it was certainly alive; anomaly)", n(l.Lost)},
		{"not expired (key still read after the lease must have expired; anomaly)", n(l.NotExpired)},
		{"returned (key read again after it was seen gone; anomaly)", n(l.Returned)},
		{"unexpected reads (a value never put, or whose put failed; anomaly)", n(l.Unexpected)},
		{"reads", n(l.Reads)},
		{"reads that found no key", n(l.ReadsAbsent)},
	}
}

// LeaseNote explains the lease account, in both formats: what kept alive
// means, and why a lapsed lease's key may go.
func (v *view) LeaseNote() string {
	l := v.run.Lease
	if l == nil {
		return ""
	}
	margin := l.Margin
	if margin <= 0 {
		margin = checker.LeaseMargin
	}
	return fmt.Sprintf("Kept alive throughout: from its grant to its release, each TTL window of the lease was renewed by a keepalive the system answered before the window ran out, and no keepalive was told the lease was not found. A lease whose owner could not do so (a keepalive failed, or none was answered in time, as when the owner's node was cut off, frozen or killed) lapsed: it may have expired legitimately, so a lapsed lease whose key went is counted as lapsed and gone as expected, not as an anomaly. Vanished is judged only while the lease was certainly alive: before the TTL of its last answered keepalive, counted from that keepalive's sending, ran out. Not expired is judged after the last possible renewal plus the TTL plus a margin of %s, pushed past every fault that overlaps that span.", margin)
}

// leaseMarkdown is the lease account in the Markdown report.
func leaseMarkdown(v *view) string {
	rows := v.LeaseAccount()
	if rows == nil {
		return ""
	}
	return newAccount("Lease account", "count", rows).markdown() + "\n" + mdEscape(v.LeaseNote()) + "\n\n"
}

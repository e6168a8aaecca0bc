package reports

import (
	"fmt"
	"strconv"
)

// The lock workload's part of the report, when the run's result has a lock
// account ([Run.Lock]): a table of the account, one row per lock, and a
// note. It is there because a verdict alone does not tell a reviewer the
// two ways a lock can have two holders apart: with both leases alive (a
// bug of the lock service, invalid), or with a lease that may have expired
// (the known limit of every lease-based lock, counted but not invalid);
// the account counts both, and tells the first of the second kind, which
// no anomaly lists.

// lockNote explains the lock account, in both formats.
const lockNote = "Two holders with both leases alive: a process acquired the lock while another held it, and the leases of both were known to be alive then, so no lease expiry accounts for it: the lock service gave one lock to two holders, and the run is invalid. A holder whose lease may have expired: a process acquired the lock while another still believed it held it, but one of the two leases may have expired by then, and an expired lease frees its lock. Every lease-based lock allows this, so it is counted and not invalid: a holder must stop acting on the lock once its lease may have expired, or fence its writes with the token. Fencing tokens out of order: an acquire begun after another had returned got a token no larger than that one, though its key was created later (invalid)."

// lockMaxLimit bounds the lease-limit stories the report tells; the
// account counts them all.
const lockMaxLimit = 3

// LockAccount is the account table: one row per count.
func (v *view) LockAccount() [][2]string {
	l := v.run.Lock
	if l == nil {
		return nil
	}
	n := strconv.Itoa
	leases := [2]string{"client leases recorded", n(l.Leases)}
	if !l.LeasesRecorded {
		leases = [2]string{"client leases recorded (none: each hold is taken to last until its release)", "0"}
	}
	return [][2]string{
		{"locks", n(l.Locks)},
		{"holds acquired", n(l.Holds)},
		leases,
		{"two holders with both leases alive (a bug)", n(l.TwoHolders)},
		{"a holder whose lease may have expired (the known limit of lease locks)", n(l.LeaseExpired)},
		{"fencing tokens out of order (a bug)", n(l.TokenOrder)},
	}
}

// lockRow is one lock in the report.
type lockRow struct{ Name, Holds, MaxToken, TwoHolders, LeaseExpired, TokenOrder string }

// LockByLock are the rows of the per-lock table.
func (v *view) LockByLock() []lockRow {
	l := v.run.Lock
	if l == nil {
		return nil
	}
	n := strconv.Itoa
	var rows []lockRow
	for _, s := range l.ByLock {
		tok := "–"
		if s.MaxToken > 0 {
			tok = strconv.FormatInt(s.MaxToken, 10)
		}
		rows = append(rows, lockRow{Name: s.Name, Holds: n(s.Holds), MaxToken: tok,
			TwoHolders: n(s.TwoHolders), LeaseExpired: n(s.LeaseExpired), TokenOrder: n(s.TokenOrder)})
	}
	return rows
}

// lockLimitView is the first lease-limit stories: Head introduces them,
// More says how many are not told here.
type lockLimitView struct {
	Head    string
	Stories []string
	More    string
}

// LockLimit tells the first [lockMaxLimit] holds a lease that may have
// expired explains; nil when there are none.
func (v *view) LockLimit() *lockLimitView {
	l := v.run.Lock
	if l == nil || len(l.LeaseLimit) == 0 {
		return nil
	}
	lv := &lockLimitView{}
	for _, a := range l.LeaseLimit[:min(len(l.LeaseLimit), lockMaxLimit)] {
		lv.Stories = append(lv.Stories, a.Summary)
	}
	total := max(l.LeaseExpired, len(l.LeaseLimit))
	lv.Head = fmt.Sprintf("Holds where a lease may have expired, the first %d of %d:", len(lv.Stories), total)
	switch left := total - len(lv.Stories); {
	case left == 1:
		lv.More = fmt.Sprintf("1 more is counted above; results.json tells the first %d.", len(l.LeaseLimit))
	case left > 1:
		lv.More = fmt.Sprintf("%d more are counted above; results.json tells the first %d.", left, len(l.LeaseLimit))
	}
	return lv
}

// lockMarkdown is the lock account in the Markdown report.
func lockMarkdown(v *view) string {
	rows := v.LockAccount()
	if rows == nil {
		return ""
	}
	e := mdEscape
	s := newAccount("Lock account", "count", rows).markdown()
	if locks := v.LockByLock(); len(locks) > 0 {
		s += "\n| Lock | Holds | Highest token | Two holders, leases alive | Lease may have expired | Tokens out of order |\n|---|---:|---:|---:|---:|---:|\n"
		for _, r := range locks {
			s += fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", e(r.Name), r.Holds, r.MaxToken, r.TwoHolders, r.LeaseExpired, r.TokenOrder)
		}
	}
	s += "\n" + lockNote + "\n\n"
	if lim := v.LockLimit(); lim != nil {
		s += lim.Head + "\n\n"
		for _, st := range lim.Stories {
			s += "- " + e(st) + "\n"
		}
		s += "\n"
		if lim.More != "" {
			s += lim.More + "\n\n"
		}
	}
	return s
}

package reports

import (
	"fmt"
	"strconv"
	"strings"
)

// account is one workload's account table: what became of everything it
// did, one row per count. The queue, lock, lease and set accounts are all
// this table, in both formats, with their own rows.
type account struct {
	Title, Unit string
	Rows        [][2]string
}

func newAccount(title, unit string, rows [][2]string) account {
	return account{Title: title, Unit: unit, Rows: rows}
}

// markdown is the table as the Markdown report writes it.
func (a account) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n| | %s |\n|---|---:|\n", a.Title, a.Unit)
	for _, r := range a.Rows {
		fmt.Fprintf(&b, "| %s | %s |\n", mdEscape(r[0]), r[1])
	}
	return b.String()
}

// setNote explains the set account.
const setNote = "Every element was added once. Acknowledged: its add completed ok. Lost: known present (acknowledged, or read), then missing from the last read of its key, which ends the run after the faults healed. Stale: missing from some read after it was known, present in the last: allowed by Jepsen's set-full defaults, not by a linearizable set. Never read: known, but no read began after. Unexpected: read but never added (or its add failed)."

// maxSetNames bounds the lost elements the report names; results.json
// holds them all.
const maxSetNames = 50

// SetAccount is the set account table, for set runs.
func (v *view) SetAccount() [][2]string {
	s := v.run.Set
	if s == nil {
		return nil
	}
	n := strconv.Itoa
	return [][2]string{
		{"attempted (adds that did not fail)", n(s.Attempted)},
		{"acknowledged", n(s.Acknowledged)},
		{"stable (in every read after it was known)", n(s.Stable)},
		{"lost", n(len(s.Lost))},
		{"stale (missing, then present again)", n(len(s.Stale))},
		{"never read after it was known", n(len(s.NeverRead))},
		{"duplicated in one read", n(len(s.Duplicated))},
		{"unexpected (read, never added)", n(len(s.Unexpected))},
	}
}

// SetNote is [setNote], for the HTML template.
func (v *view) SetNote() string { return setNote }

// SetLost names the lost elements, the first maxSetNames of them.
func (v *view) SetLost() string {
	s := v.run.Set
	if s == nil || len(s.Lost) == 0 {
		return ""
	}
	names := s.Lost
	more := ""
	if len(names) > maxSetNames {
		more = fmt.Sprintf(", and %d more (all in results.json)", len(names)-maxSetNames)
		names = names[:maxSetNames]
	}
	return fmt.Sprintf("Lost (%d): %s%s.", len(s.Lost), strings.Join(names, ", "), more)
}

func setMarkdown(v *view) string {
	rows := v.SetAccount()
	if rows == nil {
		return ""
	}
	s := newAccount("Set account", "elements", rows).markdown() + "\n" + setNote + "\n\n"
	if lost := v.SetLost(); lost != "" {
		s += mdEscape(lost) + "\n\n"
	}
	return s
}

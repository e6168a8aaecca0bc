package history

import "fmt"

// timeCheck checks, as a reader goes, what the times of a history must
// satisfy: either every event has a time or none has (a missing time would
// otherwise silently become 0, or the history would be half ordered by
// position), and no completion comes before its own invocation. Violations
// are *SyntaxError values naming the line.
type timeCheck struct {
	name      string
	n         int
	firstHas  bool
	firstLine int
	open      map[Process]openCall
}

type openCall struct {
	t    int64
	line int
}

func newTimeCheck(name string) *timeCheck {
	return &timeCheck{name: name, open: map[Process]openCall{}}
}

// add checks the next event, read at line, which has a time or not.
func (c *timeCheck) add(e Event, hasTime bool, line int) error {
	if c.n == 0 {
		c.firstHas, c.firstLine = hasTime, line
	}
	c.n++
	if hasTime != c.firstHas {
		which := "has no time, but the event at line %d has one"
		if hasTime {
			which = "has a time, but the event at line %d has none"
		}
		return &SyntaxError{File: c.name, Line: line, Msg: fmt.Sprintf("this event "+which+": give every event a time, or none", c.firstLine)}
	}
	if !hasTime || e.Process == Nemesis {
		return nil
	}
	if e.Type == Invoke {
		c.open[e.Process] = openCall{t: e.Time, line: line}
		return nil
	}
	call, ok := c.open[e.Process]
	if !ok {
		return nil // pairing problems are the checker's to report
	}
	delete(c.open, e.Process)
	if e.Time < call.t {
		return &SyntaxError{File: c.name, Line: line, Msg: fmt.Sprintf("process %s completes at time %d, before its invocation at line %d (time %d)", e.Process, e.Time, call.line, call.t)}
	}
	return nil
}

package checker

import (
	"fmt"
	"html"
	"io"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// writeLockPage is history.html for a lock history: porcupine's drawing of
// the locks found invalid (of every lock, if the history is valid and
// small), with each lease's expiry as an operation, the fault windows and
// every overlap the check told of as annotations; the account alone when
// there is nothing to draw.
func writeLockPage(w io.Writer, events []history.Event, res Result) error {
	events, timeless := withPositions(events)
	tf := timeFormat(timeless)
	ops, _, _ := history.Pair(events)
	c := newLockCheck(events, nil, &Result{}, tf)
	lockOps, err := c.leases(ops)
	if err != nil {
		return writeLockAccount(w, res)
	}
	keys, groups := byKey(lockOps)
	want := map[string]bool{}
	for _, pr := range res.Partitions {
		if pr.Verdict == Invalid {
			want[pr.Key] = true
		}
	}
	if len(want) == 0 && len(lockOps) <= vizAllLimit {
		for _, k := range keys {
			want[k] = true
		}
	}
	anomalyAt := map[string]int64{}
	for _, a := range res.Anomalies {
		if _, ok := anomalyAt[a.Key]; !ok {
			anomalyAt[a.Key] = a.Time
		}
	}
	var (
		vizOps []porcupine.Operation
		models []porcupine.Model
		notes  []string
		lastT  int64
	)
	for _, k := range keys {
		if !want[k] {
			continue
		}
		if len(models) == VizMaxPartitions {
			notes = append(notes, fmt.Sprintf("only the first %d locks are drawn", VizMaxPartitions))
			break
		}
		sops, _ := c.lockSearchOps(groups[k])
		win, cut := window(sops, anomalyAt, k)
		init := lockFree
		if cut {
			init = lockWild
			notes = append(notes, fmt.Sprintf("lock %s: %d of its %d operations drawn, from an unknown state", k, len(win), len(sops)))
		}
		part := len(models)
		models = append(models, lockModel(init))
		for _, op := range win {
			md := fmt.Sprintf("lock %s, process %d's lease may expire from %s on", k, op.ClientId, tf.at(op.Call))
			if i := op.Metadata.(int); i >= 0 {
				src := groups[k][i]
				md = fmt.Sprintf("lock %s, process %s, %s %s, invoked at %s", k, src.Process, src.F, src.Type, tf.at(src.Call))
			}
			op.Input = vizIn{part: part, in: op.Input}
			op.Metadata = md
			vizOps = append(vizOps, op)
			if op.Return != 1<<63-1 {
				lastT = max(lastT, op.Return)
			}
			lastT = max(lastT, op.Call)
		}
	}
	if len(vizOps) == 0 {
		return writeLockAccount(w, res)
	}
	model := vizModel(models)
	_, info := porcupine.CheckOperationsVerbose(model, vizOps, vizTimeout)
	var ann []porcupine.Annotation
	for _, fw := range history.FaultWindows(events) {
		end := fw.End
		if end < 0 {
			end = lastT
		}
		ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: fw.Start, End: end,
			Description: faultText(fw.Fault), Details: fw.Fault.Detail, BackgroundColor: "#f6d5d5"})
	}
	var told []Anomaly
	told = append(told, res.Anomalies...)
	if res.Lock != nil {
		told = append(told, res.Lock.LeaseLimit...)
	}
	for _, a := range told {
		ann = append(ann, porcupine.Annotation{Tag: a.Kind, Start: a.Time, End: a.Time, Description: a.Kind + " " + a.Key, Details: a.Summary})
	}
	for _, n := range notes {
		ann = append(ann, porcupine.Annotation{Tag: "note", Description: n})
	}
	info.AddAnnotations(ann)
	return porcupine.Visualize(model, info, w)
}

// writeLockAccount is the page without a drawing: the account and the
// stories.
func writeLockAccount(w io.Writer, res Result) error {
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>lock history</title><h1>Locks: %s</h1>\n", html.EscapeString(string(res.Verdict)))
	if l := res.Lock; l != nil {
		fmt.Fprintf(w, "<p>%d locks, %d holds, %d leases recorded; %d times two holders with valid leases, %d overlaps through a lease that may have expired, %d tokens out of order.</p>\n",
			l.Locks, l.Holds, l.Leases, l.TwoHolders, l.LeaseExpired, l.TokenOrder)
	}
	if res.Reason != "" {
		fmt.Fprintf(w, "<p>%s</p>\n", html.EscapeString(res.Reason))
	}
	fmt.Fprintln(w, "<ul>")
	for _, a := range res.Anomalies {
		fmt.Fprintf(w, "<li><b>%s</b>: %s</li>\n", html.EscapeString(a.Kind), html.EscapeString(a.Summary))
	}
	if res.Lock != nil {
		for _, a := range res.Lock.LeaseLimit {
			fmt.Fprintf(w, "<li><b>%s</b>: %s</li>\n", html.EscapeString(a.Kind), html.EscapeString(a.Summary))
		}
	}
	_, err := fmt.Fprintln(w, "</ul>")
	return err
}

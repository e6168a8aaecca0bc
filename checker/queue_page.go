package checker

import (
	"fmt"
	"html"
	"io"
)

// writeQueuePage is history.html for a queue history: porcupine draws
// searches, and a queue is an account, so the page gives the account, the
// drain of each node and the anomalies.
func writeQueuePage(w io.Writer, res Result) error {
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>queue history</title><h1>Queue: %s</h1>\n", html.EscapeString(string(res.Verdict)))
	if q := res.Queue; q != nil {
		fmt.Fprintf(w, "<p>%d published (%d acknowledged, %d unknown), %d failed; %d read, %d recovered; lost %d (start %d, middle %d, end %d); %d unread; %d lost on a node; %d divergent seqs; %d unexpected; %d duplicated; %d out of order.</p>\n",
			q.Attempted, q.Acknowledged, q.Unknown, q.Failed, q.Read, q.Recovered, q.Lost, q.LostStart, q.LostMiddle, q.LostEnd,
			q.Unread, q.LostOnNode, q.Divergent, q.Unexpected, q.Duplicated, q.Order)
		fmt.Fprintln(w, "<ul>")
		for _, n := range q.Nodes {
			name := n.Node
			if name == "" {
				name = "the drain"
			}
			state := fmt.Sprintf("completed at seq %d", n.LastSeq)
			if !n.Complete {
				state = fmt.Sprintf("gave up after seq %d (%s)", n.LastSeq, n.Error)
			}
			fmt.Fprintf(w, "<li>%s: %s; %d messages read, %d missing</li>\n", html.EscapeString(name), html.EscapeString(state), n.Read, n.Missing)
		}
		fmt.Fprintln(w, "</ul>")
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

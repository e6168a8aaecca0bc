package checker

import (
	"fmt"
	"html"
	"io"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Bounds on the visualization: porcupine's page grows with the square of
// the operations drawn (its issue #20: 1.5 GB of HTML from 3,000), so only
// a window of each failing key is drawn, and only a few keys.
const (
	// VizMaxPartitions is the most keys drawn.
	VizMaxPartitions = 4
	// VizMaxOps is the most operations drawn per key.
	VizMaxOps = 200
	// vizAllLimit: a valid history this small is drawn whole.
	vizAllLimit = 400
	vizTimeout  = 5 * time.Second
)

// WriteVisualization writes porcupine's HTML visualization of the keys
// res found invalid (or of every key, if the history is valid and small),
// with the fault windows of [history.FaultWindows] as annotations. Each
// key is cut to a window of at most [VizMaxOps] operations ending just
// after the anomaly; a window that does not start at the beginning starts
// from a wildcard state ("?") that accepts the first value it meets. At
// most [VizMaxPartitions] keys are drawn.
func WriteVisualization(w io.Writer, events []history.Event, res Result) error {
	// The keys are rebuilt with the reading of failed cas the check used.
	m, err := lookupModelTuned(res.Model, tuning{failObserved: res.FailCAS == FailCASObserved})
	if err != nil {
		return err
	}
	switch m.name {
	case "set":
		return writeSetPage(w, res)
	case "queue":
		return writeQueuePage(w, res)
	case "lease":
		return writeLeasePage(w, res)
	case "lock":
		return writeLockPage(w, events, res)
	}
	events, timeless := withPositions(events)
	tf := timeFormat(timeless)
	ops, _, _ := history.Pair(events)
	keys, groups := byKey(ops)
	want := map[string]bool{}
	for _, pr := range res.Partitions {
		if pr.Verdict == Invalid {
			want[pr.Key] = true
		}
	}
	if len(want) == 0 && len(ops) <= vizAllLimit {
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
		vizOps  []porcupine.Operation
		models  []porcupine.Model
		notes   []string
		lastT   int64
		clients int
	)
	drawn := 0
	for _, k := range keys {
		if !want[k] {
			continue
		}
		if drawn == VizMaxPartitions {
			notes = append(notes, fmt.Sprintf("only the first %d failing keys are drawn", VizMaxPartitions))
			break
		}
		p, err := m.build(k, groups[k], tf)
		if err != nil {
			return err
		}
		win, cut := window(p.search, anomalyAt, k)
		pm := p.pm
		if cut {
			pm = *p.vizModel
			notes = append(notes, fmt.Sprintf("key %s: %d of its %d operations drawn, from a wildcard state", k, len(win), len(p.search)))
		}
		part := len(models)
		models = append(models, pm)
		dense := map[int]int{}
		for _, op := range win {
			id, ok := dense[op.ClientId]
			if !ok {
				id = len(dense)
				dense[op.ClientId] = id
			}
			clients = max(clients, id+1)
			src := p.ops[op.Metadata.(int)]
			op.ClientId = id
			op.Input = vizIn{part: part, in: op.Input}
			op.Metadata = fmt.Sprintf("key %s, process %s, %s, invoked at %s", k, src.Process, src.Type, tf.at(src.Call))
			vizOps = append(vizOps, op)
			if op.Return != 1<<63-1 {
				lastT = max(lastT, op.Return)
			}
			lastT = max(lastT, op.Call)
		}
		drawn++
	}
	if len(vizOps) == 0 {
		return writeNothingPage(w, res)
	}
	model := vizModel(models)
	_, info := porcupine.CheckOperationsVerbose(model, vizOps, vizTimeout)
	var ann []porcupine.Annotation
	for _, fw := range history.FaultWindows(events) {
		end := fw.End
		if end < 0 {
			end = lastT
		}
		desc := fw.Fault.Kind
		if fw.Fault.Shape != "" {
			desc += " " + fw.Fault.Shape
		}
		ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: fw.Start, End: end,
			Description: desc, Details: fw.Fault.Detail, BackgroundColor: "#f6d5d5"})
	}
	for _, n := range notes {
		ann = append(ann, porcupine.Annotation{Tag: "note", Start: 0, End: 0, Description: n})
	}
	info.AddAnnotations(ann)
	return porcupine.Visualize(model, info, w)
}

// window cuts a key's operations to at most VizMaxOps, ending a few
// operations after the anomaly (or at the end).
func window(ops []porcupine.Operation, anomalyAt map[string]int64, key string) ([]porcupine.Operation, bool) {
	if len(ops) <= VizMaxOps {
		return ops, false
	}
	sorted := append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	end := len(sorted)
	if t, ok := anomalyAt[key]; ok {
		k := sort.Search(len(sorted), func(i int) bool { return sorted[i].Call > t })
		end = min(len(sorted), k+VizMaxOps/10)
	}
	start := max(0, end-VizMaxOps)
	return sorted[start:end], start > 0
}

// vizIn tags an operation with its key's model, so one porcupine run can
// draw several keys with their own models (and value names).
type vizIn struct {
	part int
	in   any
}

type vizState struct {
	part int // -1 before the first step
	st   any
}

func vizModel(models []porcupine.Model) porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			out := make([][]porcupine.Operation, len(models))
			for _, op := range ops {
				p := op.Input.(vizIn).part
				out[p] = append(out[p], op)
			}
			return out
		},
		Init: func() any { return vizState{part: -1} },
		Step: func(st, in, out any) (bool, any) {
			s, i := st.(vizState), in.(vizIn)
			if s.part < 0 {
				s = vizState{part: i.part, st: models[i.part].Init()}
			}
			ok, next := models[i.part].Step(s.st, i.in, out)
			return ok, vizState{part: i.part, st: next}
		},
		Hash: func(st any) uint64 {
			s := st.(vizState)
			if s.part < 0 || models[s.part].Hash == nil {
				return 0
			}
			return models[s.part].Hash(s.st)
		},
		DescribeOperation: func(in, out any) string {
			i := in.(vizIn)
			return models[i.part].DescribeOperation(i.in, out)
		},
		DescribeState: func(st any) string {
			s := st.(vizState)
			if s.part < 0 {
				return "initial"
			}
			return models[s.part].DescribeState(s.st)
		},
		DescribeOperationMetadata: func(md any) string {
			if s, ok := md.(string); ok {
				return s
			}
			return ""
		},
	}
}

func writeNothingPage(w io.Writer, res Result) error {
	_, err := fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>history</title><p>Verdict: %s. No key to draw: the history is valid and has more than %d operations, or is empty.</p>\n",
		html.EscapeString(string(res.Verdict)), vizAllLimit)
	return err
}

func writeSetPage(w io.Writer, res Result) error {
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>set history</title><h1>Set: %s</h1>\n", html.EscapeString(string(res.Verdict)))
	if s := res.Set; s != nil {
		fmt.Fprintf(w, "<p>%d attempted, %d acknowledged, %d stable, %d lost, %d stale, %d never read, %d duplicated, %d unexpected.</p>\n",
			s.Attempted, s.Acknowledged, s.Stable, len(s.Lost), len(s.Stale), len(s.NeverRead), len(s.Duplicated), len(s.Unexpected))
	}
	fmt.Fprintln(w, "<ul>")
	for _, a := range res.Anomalies {
		fmt.Fprintf(w, "<li><b>%s</b>: %s</li>\n", html.EscapeString(a.Kind), html.EscapeString(a.Summary))
	}
	_, err := fmt.Fprintln(w, "</ul>")
	return err
}

package checker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Explanations. A key refuted directly already carries its story (see
// refuteRegister). For a key the search found invalid, the story comes
// from porcupine's longest linearizable prefix: the operations it could
// order, the state they leave, and the first operation that had to come
// next (it had completed) but cannot.

const (
	// explainLimit bounds the partitions the verbose search re-runs on.
	explainLimit = 5000
	// explainTimeout bounds that re-run.
	explainTimeout = 3 * time.Second
)

func explain(ctx context.Context, p *partition, tf timeFormat) *Anomaly {
	if p.refuted != nil {
		return p.refuted
	}
	generic := &Anomaly{Kind: "nonlinearizable", Key: p.key,
		Summary: fmt.Sprintf("no order of the %d operations%s is consistent with the model", len(p.search), p.ofKey())}
	if len(p.search) > 0 {
		generic.Time = p.search[0].Call
	}
	if len(p.search) > explainLimit || ctx.Err() != nil {
		return generic
	}
	res, info := porcupine.CheckOperationsVerbose(p.pm, p.search, explainTimeout)
	if res != porcupine.Illegal {
		return generic
	}
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	placed := make([]bool, len(p.search))
	for _, i := range longest {
		placed[i] = true
	}
	// The op that cannot be placed: the unplaced one that completed first.
	stuck := -1
	for i, op := range p.search {
		if !placed[i] && op.Return != math.MaxInt64 && (stuck < 0 || op.Return < p.search[stuck].Return) {
			stuck = i
		}
	}
	if stuck < 0 {
		return generic
	}
	state := p.pm.Init()
	for _, i := range longest {
		_, state = p.pm.Step(state, p.search[i].Input, p.search[i].Output)
	}
	op := p.search[stuck]
	src := p.ops[op.Metadata.(int)]
	a := &Anomaly{Kind: "nonlinearizable", Key: p.key, Time: op.Call}
	a.Ops = append(a.Ops, src)
	lastDesc := "nothing"
	if len(longest) > 0 {
		// The operations placed last, most recent first, as context.
		tail := append([]int(nil), longest[max(0, len(longest)-4):]...)
		sort.Slice(tail, func(x, y int) bool { return tail[x] > tail[y] })
		for _, i := range tail {
			a.Ops = append(a.Ops, p.ops[p.search[i].Metadata.(int)])
		}
		last := p.search[longest[len(longest)-1]]
		lastDesc = fmt.Sprintf("the %s invoked at %s", describeOp(p.ops[last.Metadata.(int)]), tf.at(last.Call))
	}
	where := ""
	if p.key != "" {
		where = "on key " + p.key + ", "
	}
	a.Summary = fmt.Sprintf("%sthe %s, invoked at %s and completed at %s, cannot be placed: at most %d of the %d operations can be put in an order the model accepts (the last being %s), leaving the state %s, and this operation had to come next but does not fit it",
		where, describeOp(src), tf.at(op.Call), tf.at(op.Return),
		len(longest), len(p.search), lastDesc, p.pm.DescribeState(state))
	if src.Type == history.Info {
		a.Summary += " (its outcome was unknown; it was bounded by a later observation of its value)"
	}
	return a
}

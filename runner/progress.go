package runner

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
)

// progress prints one line every few seconds while the workload runs: time,
// operations by outcome, and the faults in effect.
type progress struct {
	w                   io.Writer
	mu                  sync.Mutex
	ok, fail, info, inv int
	faults              map[int]string
}

func newProgress(w io.Writer, hw *history.Writer) *progress {
	p := &progress{w: w, faults: map[int]string{}}
	hw.OnAppend(p.observe)
	return p
}

func (p *progress) observe(e history.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Process == history.Nemesis {
		// Only a fault's start and end change what is in effect: the
		// observations recorded meanwhile (who leads, a node's clock)
		// carry the fault's ID too, and once ended the line said "none"
		// inside a partition.
		if e.Fault != nil {
			switch {
			case e.F == history.FaultStart && e.Fault.Error == "":
				p.faults[e.Fault.ID] = e.Fault.Kind + " " + e.Fault.Detail
			case e.F == history.FaultEnd:
				delete(p.faults, e.Fault.ID)
			}
		}
		return
	}
	switch e.Type {
	case history.Invoke:
		p.inv++
	case history.OK:
		p.ok++
	case history.Fail:
		p.fail++
	case history.Info:
		p.info++
	}
}

func (p *progress) line(elapsed, total time.Duration) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fs []string
	for _, id := range slices.Sorted(maps.Keys(p.faults)) {
		fs = append(fs, fmt.Sprintf("%d: %s", id, p.faults[id]))
	}
	fault := "none"
	if len(fs) > 0 {
		fault = strings.Join(fs, "; ")
	}
	return fmt.Sprintf("lab: %3.0fs/%.0fs  ops %d: ok %d, fail %d, unknown %d  faults in effect: %s",
		elapsed.Seconds(), total.Seconds(), p.inv, p.ok, p.fail, p.info, fault)
}

// start prints progress every 5 s until ctx ends or stop is called.
func (p *progress) start(ctx context.Context, t0 time.Time, total time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(p.w, p.line(time.Since(t0), total))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
		fmt.Fprintln(p.w, p.line(time.Since(t0), total))
	}
}

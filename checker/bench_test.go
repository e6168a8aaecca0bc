package checker

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// Benchmarks, side by side on the same data in the same run:
//
//	lab       Check, the full checker
//	reduce-search  Check without refutations and zones: reductions, then search
//	search    Check with none of them: our per-key porcupine pool
//	porcupine porcupine alone (plainPorcupine), same typed models
//
// Run them with (see docs/performance.md):
//
//	go test ./checker -run '^$' -bench . -benchtime 1x -timeout 60m
//
// Each search is bounded by benchTimeout; a run that hits it reports
// unknown=1. peak-MB is the largest heap in use seen while it ran.
const benchTimeout = 10 * time.Second

type benchVariant struct {
	name string
	run  func(ev []history.Event, model string) Verdict
}

var benchVariants = []benchVariant{
	{"lab", func(ev []history.Event, model string) Verdict {
		return benchCheck(ev, model, tuning{})
	}},
	{"reduce-search", func(ev []history.Event, model string) Verdict {
		return benchCheck(ev, model, tuning{noRefute: true})
	}},
	{"search", func(ev []history.Event, model string) Verdict {
		return benchCheck(ev, model, tuning{noReduce: true, noRefute: true})
	}},
	{"porcupine", func(ev []history.Event, model string) Verdict {
		switch plainPorcupineModel(ev, model, benchTimeout.Seconds()) {
		case porcupine.Ok:
			return Valid
		case porcupine.Illegal:
			return Invalid
		}
		return Unknown
	}},
}

func benchCheck(ev []history.Event, model string, t tuning) Verdict {
	res, err := check(context.Background(), ev, Options{Model: model, Timeout: benchTimeout}, t)
	if err != nil {
		panic(err)
	}
	return res.Verdict
}

// peakHeap samples the heap in use every 5 ms until stop is called.
func peakHeap() (stop func() float64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak) / (1 << 20)
	}
}

func runVariants(b *testing.B, histories [][]history.Event, model string, want []Verdict) {
	// Warm up (heap growth, page faults) so the first variant does not pay
	// for the others.
	for _, ev := range histories {
		benchVariants[0].run(ev, model)
	}
	runtime.GC()
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			stop := peakHeap()
			unknown, wrong := 0, 0
			for b.Loop() {
				for i, ev := range histories {
					got := v.run(ev, model)
					switch {
					case got == Unknown:
						unknown++
					case got != want[i]:
						wrong++
					}
				}
			}
			b.ReportMetric(stop(), "peak-MB")
			b.ReportMetric(float64(unknown), "unknown")
			if wrong > 0 {
				b.Errorf("%d wrong verdicts", wrong)
			}
		})
	}
}

// BenchmarkCorpus checks porcupine's 102 etcd logs and 6 kv histories
// (parsed beforehand) per iteration.
func BenchmarkCorpus(b *testing.B) {
	load := func(glob, model string) ([][]history.Event, []Verdict) {
		paths, _ := filepath.Glob(filepath.Join("testdata", "porcupine", glob))
		var hs [][]history.Event
		var want []Verdict
		for _, p := range paths {
			ev, _, _, err := Load(p, "")
			if err != nil {
				b.Fatal(err)
			}
			if len(ev) == 0 {
				continue // etcd_095: empty, no verdict
			}
			res, err := Check(context.Background(), ev, Options{Model: model})
			if err != nil {
				b.Fatal(err)
			}
			hs, want = append(hs, ev), append(want, res.Verdict)
		}
		return hs, want
	}
	b.Run("etcd", func(b *testing.B) {
		hs, want := load("jepsen/*.log", "cas-register")
		runVariants(b, hs, "cas-register", want)
	})
	b.Run("kv", func(b *testing.B) {
		hs, want := load("kv/*.txt", "kv")
		runVariants(b, hs, "kv", want)
	})
}

// BenchmarkSynthetic: large cas-register histories with 2% unknown
// outcomes, valid and with one stale read.
func BenchmarkSynthetic(b *testing.B) {
	cases := []struct {
		name string
		spec synthSpec
	}{
		{"100k-ops-1k-keys", synthSpec{ops: 100_000, keys: 1000, procs: 10, unknown: 0.02, cas: true, seed: 11}},
		{"20k-ops-1-key", synthSpec{ops: 20_000, keys: 1, procs: 10, unknown: 0.02, cas: true, seed: 12}},
		{"20k-ops-1-key-rw", synthSpec{ops: 20_000, keys: 1, procs: 10, unknown: 0.02, cas: false, seed: 13}},
		{"20k-ops-8-keys-20pct-unknown", synthSpec{ops: 20_000, keys: 8, procs: 10, unknown: 0.20, cas: true, seed: 15}},
	}
	for _, c := range cases {
		for _, invalid := range []bool{false, true} {
			name, want := c.name+"-valid", Valid
			if invalid {
				name, want = c.name+"-invalid", Invalid
			}
			b.Run(name, func(b *testing.B) {
				s := c.spec
				s.invalid = invalid
				ev := synthHistory(s)
				runVariants(b, [][]history.Event{ev}, "cas-register", []Verdict{want})
			})
		}
	}
}

// BenchmarkMillion: memory and time of the full checker on 1M operations
// over 1k keys; input-MB is the heap holding the events before the check,
// peak-MB includes it.
func BenchmarkMillion(b *testing.B) {
	ev := synthHistory(synthSpec{ops: 1_000_000, keys: 1000, procs: 10, unknown: 0.02, cas: true, seed: 14})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	input := float64(ms.HeapAlloc) / (1 << 20)
	stop := peakHeap()
	for b.Loop() {
		if v := benchCheck(ev, "cas-register", tuning{}); v != Valid {
			b.Errorf("verdict %s, want valid", v)
		}
	}
	b.ReportMetric(stop(), "peak-MB")
	b.ReportMetric(input, "input-MB")
}

package workloads_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/internal/seed"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/fake"
	"github.com/lab-chaos/lab/workloads"
)

// BenchmarkHarness measures the harness alone: the register workload
// driving the in-process fake system, whose operations cost next to
// nothing, with the history written to disk as in a run. Its ops/s is the
// most the lab can record on this machine, and cpu-ms/1k-ops what the
// lab's side of each operation costs (dispatch, clients, history).
//
// Each iteration runs the workload for two seconds at 100000 ops/s, far
// above what a scenario may ask (10000), so that the harness, not the
// rate, is the limit.
func BenchmarkHarness(b *testing.B) {
	for _, tt := range []struct {
		name    string
		clients int
		disk    bool
	}{
		{"clients=16", 16, true},
		{"clients=64", 64, true},
		// Without the history file: what the workload and the fake
		// system cost alone, to tell them from the writer's share.
		{"clients=16/no-history", 16, false},
	} {
		b.Run(tt.name, func(b *testing.B) { benchHarness(b, tt.clients, tt.disk) })
	}
}

// counter is a recorder that only counts completions.
type counter struct{ done atomic.Int64 }

func (c *counter) Append(e history.Event) error {
	if e.Type != history.Invoke {
		c.done.Add(1)
	}
	return nil
}

const (
	benchRate = 100000
	benchRun  = 2 * time.Second
)

func benchHarness(b *testing.B, clients int, disk bool) {
	var (
		completed int64
		cpu       time.Duration
		wall      time.Duration
		stats     workloads.Stats
	)
	for i := 0; i < b.N; i++ {
		inst, err := fake.System{}.Open(systems.Config{Params: fake.Params{Mode: fake.Linearizable}})
		if err != nil {
			b.Fatal(err)
		}
		var rec workloads.Recorder
		var hw *history.Writer
		count := &counter{}
		if disk {
			hw, err = history.Create(filepath.Join(b.TempDir(), "history.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			hw.OnAppend(func(e history.Event) { count.Append(e) })
			rec = hw
		} else {
			rec = count
		}
		env := workloads.Env{
			System: inst,
			Nodes: []systems.Peer{
				{Name: "n1", Addr: netip.MustParseAddr("127.0.10.1")},
				{Name: "n2", Addr: netip.MustParseAddr("127.0.10.2")},
				{Name: "n3", Addr: netip.MustParseAddr("127.0.10.3")},
			},
			Rate:        benchRate,
			Concurrency: clients,
			Timeout:     time.Second,
			Params:      workloads.Register{Keys: 8, Reads: systems.Linearizable, Mix: workloads.Mix{Read: 2, Write: 1, CAS: 1}},
			Rec:         rec,
			Clock:       history.NewClock(),
			Rand:        seed.Workload.Rand(1),
		}
		ctx, cancel := context.WithTimeout(context.Background(), benchRun)
		cpu0, start := cpuTime(b), time.Now()
		s, err := workloads.RegisterWorkload{}.Run(ctx, env)
		wall += time.Since(start)
		cpu += cpuTime(b) - cpu0
		cancel()
		if hw != nil {
			if cerr := hw.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		completed += count.done.Load()
		stats.Offered += s.Offered
		stats.Started += s.Started
		stats.Late += s.Late
		stats.Skipped += s.Skipped
	}
	if completed == 0 {
		b.Fatal("no operation completed")
	}
	b.ReportMetric(float64(completed)/wall.Seconds(), "ops/s")
	b.ReportMetric(cpu.Seconds()*1000/(float64(completed)/1000), "cpu-ms/1k-ops")
	// How far the harness fell short of the rate asked: operations
	// dropped because the backlog passed a second, and those invoked late.
	b.ReportMetric(float64(stats.Skipped)/float64(stats.Skipped+stats.Offered), "skipped-frac")
	b.ReportMetric(float64(stats.Late)/float64(max(stats.Started, 1)), "late-frac")
}

// cpuTime is the CPU time, user and system, this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

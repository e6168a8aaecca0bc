package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lab-chaos/lab/systems"
)

// The benchmarks measure operations per second against one etcd member
// on loopback, through the lab's etcd client (BenchmarkEtcdGoClient) and
// through this adapter (BenchmarkEtcdAdapter), each with the same
// requests: write is a Put, read a linearizable Get, cas a Txn that
// swaps (each CAS expects the value the previous one wrote).
//
// write, read and cas run one client, one operation at a time, so the
// figure is a latency; the x8 variants run 8 clients at once (8
// connections, or 8 adapter processes each with its own connection, as
// the lab gives each client its own), each on its own key, and report the
// operations of all 8 per second. The adapter's ping is the floor: the
// protocol alone, the pipe and the JSON, with no request to etcd.
//
//	go test -run '^$' -bench . -benchtime 2000x ./examples/etcd-adapter/

func BenchmarkEtcdGoClient(b *testing.B) {
	m := startEtcd(b)
	benchRegisters(b, func(b *testing.B) systems.RegisterClient {
		c := goClient(b, m.endpoint)
		b.Cleanup(func() { c.Close() })
		return c
	})
}

func BenchmarkEtcdAdapter(b *testing.B) {
	m := startEtcd(b)
	bin := buildAdapter(b)
	// ping is the protocol alone: a request through the pipe and a reply,
	// each in JSON, with no request to etcd.
	b.Run("ping", func(b *testing.B) {
		c := adapterClient(b, bin, m.endpoint, "5s")
		b.ResetTimer()
		for range b.N {
			if _, err := c.Do(context.Background(), "ping", "", nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	benchRegisters(b, func(b *testing.B) systems.RegisterClient {
		return adapterClient(b, bin, m.endpoint, "5s")
	})
}

// op is one operation of client c, the i-th on its key.
type op func(ctx context.Context, c systems.RegisterClient, key string, i int) error

var ops = []struct {
	name string
	run  op
}{
	{"write", func(ctx context.Context, c systems.RegisterClient, key string, i int) error {
		return c.Write(ctx, key, strconv.Itoa(i))
	}},
	{"read", func(ctx context.Context, c systems.RegisterClient, key string, i int) error {
		_, _, err := c.Read(ctx, key)
		return err
	}},
	{"cas", func(ctx context.Context, c systems.RegisterClient, key string, i int) error {
		swapped, err := c.CAS(ctx, key, strconv.Itoa(i), true, strconv.Itoa(i+1))
		if err == nil && !swapped {
			return errNotSwapped
		}
		return err
	}},
}

var errNotSwapped = errors.New("cas did not swap: the key does not hold the value the previous one wrote")

func benchRegisters(b *testing.B, open func(*testing.B) systems.RegisterClient) {
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) { run(b, open, 1, o.run) })
	}
	for _, o := range ops {
		b.Run("x8/"+o.name, func(b *testing.B) { run(b, open, 8, o.run) })
	}
}

// run opens n clients, each with its own key holding "0", then runs b.N
// operations spread over the n clients, and reports them per second.
func run(b *testing.B, open func(*testing.B) systems.RegisterClient, n int, o op) {
	clients := make([]systems.RegisterClient, n)
	for j := range clients {
		clients[j] = open(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := clients[j].Write(ctx, key(b, j), "0")
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for j, c := range clients {
		wg.Go(func() {
			k := key(b, j)
			for i := 0; ; i++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := o(ctx, c, k, i)
				cancel()
				if err != nil {
					b.Errorf("client %d, operation %d: %v", j, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// key is client j's key in benchmark b.
func key(b *testing.B, j int) string { return b.Name() + "/" + strconv.Itoa(j) }

package checker

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lab-chaos/lab/history"
)

// BenchmarkJepsenEDN reads a Jepsen-sized EDN history from disk: the
// 1M-operation cas-register history of BenchmarkMillion (1k keys, 2%
// unknown outcomes) written as Jepsen writes history.edn, one operation map
// per line with jepsen.independent values [k v], all inside one vector.
// See docs/performance.md, "Jepsen-sized EDN histories".
//
//	lab                Load then Check, as lab check does: file-MB, read-s
//	                   and read-peak-MB (the heap while loading), peak-MB and
//	                   check-s (loading and checking), ratios to the file size
//	porcupine-regexp   porcupine's start-up: the same file parsed into
//	                   []porcupine.Operation with one regular expression per
//	                   line, as porcupine's own tests read Jepsen logs
//	porcupine-scan     the same with a hand-written line scanner
//
// peak-MB values are the heap in use, sampled every 5 ms (peakHeap),
// including what the benchmark holds itself (base-MB, measured after a GC
// before each variant).
func BenchmarkJepsenEDN(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.edn")
	if err := writeJepsenEDN(path, synthHistory(synthSpec{ops: 1_000_000, keys: 1000, procs: 10, unknown: 0.02, cas: true, seed: 14})); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	fileMB := float64(st.Size()) / (1 << 20)

	b.Run("lab", func(b *testing.B) {
		var base, readPeak, peak float64
		var read, check time.Duration
		for b.Loop() {
			base = heapMB()
			stop := peakHeap()
			t0 := time.Now()
			events, _, format, err := Load(path, "")
			read = time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			readPeak = stop()
			stop = peakHeap()
			t1 := time.Now()
			res, err := Check(context.Background(), events, Options{Model: InferModel(events), FailCAS: FailCASFor(format), Timeout: benchTimeout})
			check = time.Since(t1)
			peak = max(readPeak, stop())
			if err != nil {
				b.Fatal(err)
			}
			if res.Verdict != Valid || format != "edn" || len(events) != 2_000_000 {
				b.Errorf("%s, %d events: %s, want edn, 2000000 events: valid", format, len(events), res.Verdict)
			}
			events = nil
		}
		b.ReportMetric(fileMB, "file-MB")
		b.ReportMetric(base, "base-MB")
		b.ReportMetric(read.Seconds(), "read-s")
		b.ReportMetric(readPeak, "read-peak-MB")
		b.ReportMetric(readPeak/fileMB, "read-peak/file")
		b.ReportMetric(peak, "peak-MB")
		b.ReportMetric(peak/fileMB, "peak/file")
		b.ReportMetric(check.Seconds(), "check-s")
	})
	for _, v := range []struct {
		name  string
		parse func([]byte) (jepsenOp, bool)
	}{{"porcupine-regexp", regexpEDNLine}, {"porcupine-scan", scanEDNLine}} {
		b.Run(v.name, func(b *testing.B) {
			var base, peak float64
			var startup time.Duration
			for b.Loop() {
				base = heapMB()
				stop := peakHeap()
				t0 := time.Now()
				ops, err := porcupineOps(path, v.parse)
				startup = time.Since(t0)
				peak = stop()
				if err != nil {
					b.Fatal(err)
				}
				if len(ops) < 900_000 {
					b.Errorf("%d operations, want about 1M", len(ops))
				}
			}
			b.ReportMetric(base, "base-MB")
			b.ReportMetric(startup.Seconds(), "startup-s")
			b.ReportMetric(peak, "peak-MB")
		})
	}
}

// heapMB is the heap in use after a collection.
func heapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// writeJepsenEDN writes events as Jepsen writes history.edn, inside one
// vector: keys as jepsen.independent pairs, an unknown outcome as :info
// with the invocation's value and an :error, a cas that did not swap as a
// :fail (under Jepsen's reading of a failed cas, FailCASDropped, it did not
// take place, which keeps the history valid).
func writeJepsenEDN(path string, events []history.Event) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	invoked := map[history.Process][]byte{}
	var line []byte
	for i, e := range events {
		typ, val := e.Type, ednPairOf(e.Key, e.Value)
		switch {
		case e.Type == history.Invoke:
			invoked[e.Process] = val
		case e.Type == history.Info:
			val = invoked[e.Process]
		case e.F == "cas" && history.IsNotSwapped(e.Type, e.Value, e.Error):
			typ, val = history.Fail, invoked[e.Process]
		}
		line = append(line[:0], " {:type :"...)
		if i == 0 {
			line[0] = '['
		}
		line = append(line, typ...)
		line = append(line, ", :f :"...)
		line = append(line, e.F...)
		line = append(line, ", :value "...)
		line = append(line, val...)
		line = append(line, ", :time "...)
		line = strconv.AppendInt(line, e.Time, 10)
		line = append(line, ", :process "...)
		line = strconv.AppendInt(line, int64(e.Process), 10)
		line = append(line, ", :index "...)
		line = strconv.AppendInt(line, int64(i), 10)
		if e.Type == history.Info {
			line = append(line, ", :error :timeout"...)
		}
		line = append(line, '}')
		if i == len(events)-1 {
			line = append(line, ']')
		}
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ednPairOf renders key k and a JSON value (null, an integer, [a,b] or
// false) as the EDN pair [k v].
func ednPairOf(k string, v history.Value) []byte {
	out := append([]byte{'['}, k...)
	out = append(out, ' ')
	if v.IsNil() {
		out = append(out, "nil"...)
	} else {
		out = append(out, bytes.ReplaceAll(v, []byte{','}, []byte{' '})...)
	}
	return append(out, ']')
}

// jepsenOp is one line of the file as a porcupine user reads it.
type jepsenOp struct {
	typ, f  string
	proc    int
	time    int64
	in      casInput
	outNil  bool
	outWant int
}

type casInput struct{ key, op, a, b int } // op: 0 read, 1 write, 2 cas

type casOutput struct {
	exists bool
	value  int
}

// porcupineOps reads the file the way a porcupine user would: line by
// line, each invocation opening an operation of its process, each
// completion closing it; unknown outcomes return at infinity, failed
// operations are dropped.
func porcupineOps(path string, parse func([]byte) (jepsenOp, bool)) ([]porcupine.Operation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var ops []porcupine.Operation
	var failed []int
	open := map[int]int{}
	for sc.Scan() {
		op, ok := parse(sc.Bytes())
		if !ok {
			continue
		}
		switch op.typ {
		case "invoke":
			open[op.proc] = len(ops)
			ops = append(ops, porcupine.Operation{ClientId: op.proc, Input: op.in, Call: op.time})
			continue
		}
		i, ok := open[op.proc]
		if !ok {
			continue
		}
		delete(open, op.proc)
		switch op.typ {
		case "ok":
			ops[i].Output, ops[i].Return = casOutput{exists: !op.outNil, value: op.outWant}, op.time
		case "info":
			ops[i].Return = math.MaxInt64
		case "fail":
			failed = append(failed, i)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	kept := ops[:0]
	for i, op := range ops {
		if len(failed) > 0 && failed[0] == i {
			failed = failed[1:]
			continue
		}
		kept = append(kept, op)
	}
	return kept, nil
}

var (
	ednLineRE  = regexp.MustCompile(`^\s*\[?\{:type :(\w+), :f :(\w+), :value (.*), :time (\d+), :process (\d+), :index \d+(?:, :error :[\w-]+)?\}\]?$`)
	ednValueRE = regexp.MustCompile(`^\[(\d+) (?:(nil)|(\d+)|\[(\d+) (\d+)\])\]$`)
)

func regexpEDNLine(line []byte) (jepsenOp, bool) {
	m := ednLineRE.FindSubmatch(line)
	if m == nil {
		return jepsenOp{}, false
	}
	v := ednValueRE.FindSubmatch(m[3])
	if v == nil {
		return jepsenOp{}, false
	}
	op := jepsenOp{typ: string(m[1]), f: string(m[2])}
	op.time, _ = strconv.ParseInt(string(m[4]), 10, 64)
	op.proc, _ = strconv.Atoi(string(m[5]))
	op.in.key, _ = strconv.Atoi(string(v[1]))
	op.outNil = v[2] != nil
	switch {
	case v[3] != nil:
		op.in.a, _ = strconv.Atoi(string(v[3]))
	case v[4] != nil:
		op.in.a, _ = strconv.Atoi(string(v[4]))
		op.in.b, _ = strconv.Atoi(string(v[5]))
	}
	op.in.op, op.outWant = opCode(op.f), op.in.a
	return op, true
}

func opCode(f string) int {
	switch f {
	case "write":
		return 1
	case "cas":
		return 2
	}
	return 0
}

// scanEDNLine reads the same lines by hand: the fields come in a fixed
// order, so each is found by its key.
func scanEDNLine(line []byte) (jepsenOp, bool) {
	field := func(key string) []byte {
		i := bytes.Index(line, []byte(key))
		if i < 0 {
			return nil
		}
		rest := line[i+len(key):]
		if j := bytes.IndexAny(rest, ",}"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	typ, f := field(":type :"), field(":f :")
	if typ == nil || f == nil {
		return jepsenOp{}, false
	}
	op := jepsenOp{typ: string(typ), f: string(f)}
	op.time = int64(atoi(field(":time ")))
	op.proc = atoi(field(":process "))
	i, j := bytes.Index(line, []byte(":value [")), bytes.Index(line, []byte(", :time"))
	if i < 0 || j < i {
		return jepsenOp{}, false
	}
	parts := bytes.Fields(bytes.Trim(line[i+len(":value "):j], "[]"))
	if len(parts) < 2 {
		return jepsenOp{}, false
	}
	op.in.key = atoi(parts[0])
	op.outNil = string(parts[1]) == "nil"
	op.in.a = atoi(bytes.TrimPrefix(parts[1], []byte{'['}))
	if len(parts) > 2 {
		op.in.b = atoi(parts[2])
	}
	op.in.op, op.outWant = opCode(op.f), op.in.a
	return op, true
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Values a scenario may use for the enumerated fields of its own; the
// kinds of system, workload and fault come from the [Vocabulary].
var (
	// KnownScheduleModes lists the schedule modes, by schedule.mode.
	KnownScheduleModes = []string{"fixed", "random"}
	// KnownDisks lists what system.disk may name.
	KnownDisks = []string{DiskFaultFS}
)

// Scenario is one scenario file: a system under test, a workload run against
// it, faults injected on a schedule, and what happens after. [Load] returns
// it with every default filled in.
type Scenario struct {
	// Name names the scenario and its directory in the store; required,
	// matching [a-z0-9][a-z0-9._-]*.
	Name string `yaml:"name"`
	// Seed seeds every random choice of a run. Zero or absent in the file
	// leaves SeedSet false, and the runner picks one and calls [Scenario.Resolve].
	Seed uint64 `yaml:"seed"`
	// SeedSet reports whether Seed was given, in the file or by Resolve.
	SeedSet bool `yaml:"-"`
	// System is the system under test.
	System System `yaml:"system"`
	// Workload is the client load run against the system.
	Workload Workload `yaml:"workload"`
	// TimeLimit is the length of the workload and fault phase; required,
	// 5s..24h.
	TimeLimit Duration `yaml:"time_limit"`
	// Faults are injected on their schedules during the time limit; may be
	// empty. Their occurrences overlap only with Schedule.Overlap.
	Faults []Fault `yaml:"faults"`
	// Recovery is how long the workload goes on after the final heal before
	// the final reads; default 10s, 0..1h.
	Recovery Duration `yaml:"recovery"`
	// FinalReads, after recovery, reads every key once through every node,
	// linearizably; default true.
	FinalReads bool `yaml:"final_reads"`
	// Schedule says how faults are timed; default fixed.
	Schedule Schedule `yaml:"schedule"`
	// Runtime runs the nodes: one of the vocabulary's runtimes, such as
	// "docker" (default; containers on a private network) or "local"
	// (processes in network namespaces the lab makes; no Docker needed,
	// root is).
	Runtime string `yaml:"runtime"`
	// Path is the file the scenario came from.
	Path string `yaml:"-"`
}

// System is the system under test.
type System struct {
	// Name is the name of one of the vocabulary's systems; required.
	Name string `yaml:"name"`
	// Nodes is how many nodes to start, named n1..nN; one of the system's
	// node counts, default 3.
	Nodes int `yaml:"nodes"`
	// Version is the server version to run; empty for the system's
	// default. The system refuses a version it cannot build.
	Version string `yaml:"version,omitempty"`
	// Disk is what the nodes' data directories are: empty (the default)
	// for plain directories, or the lab's FUSE layer when a disk fault
	// asks for it; [DiskFaultFS] for that layer in any case (to measure
	// what it costs a run without disk faults).
	Disk string `yaml:"disk,omitempty"`
	// Params are the system's own settings, as it decoded them.
	Params any `yaml:"-"`
}

// DiskFaultFS is system.disk's value that puts every node's data directory
// on the lab's FUSE layer (internal/faultfs).
const DiskFaultFS = "faultfs"

// Workload is the client load: Concurrency client processes, spread over the
// nodes round robin, issuing Rate operations per second in total.
type Workload struct {
	// Name is the name of one of the vocabulary's workloads; default
	// "register".
	Name string `yaml:"name"`
	// Rate is operations per second in total; default 50, >0 and <= 10000.
	Rate float64 `yaml:"rate"`
	// Concurrency is client processes in total; default 6, 1..1000.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds each operation; default 1s, 10ms..1m. An operation
	// that times out has an unknown outcome.
	Timeout Duration `yaml:"timeout"`
	// Params are the workload's own settings (keys, read consistency, the
	// mix of operations ...), as it decoded them.
	Params any `yaml:"-"`
}

// Fault is one fault on a schedule: first at At, for Duration, then again
// every Every, Times times in all. See [Fault.Occurrences].
type Fault struct {
	// Kind is the name of one of the vocabulary's fault kinds; required.
	Kind string `yaml:"kind"`
	// At is the first start, from the start of the workload; required,
	// >= 0 and < time limit.
	At Duration `yaml:"at"`
	// Duration is how long each occurrence lasts; required, > 0.
	Duration Duration `yaml:"duration"`
	// Every is the repeat period, start to start; optional, > Duration.
	Every Duration `yaml:"every,omitempty"`
	// Times is how many occurrences; default 1 without Every, and with Every
	// as many as end by the time limit. Load always fills it in.
	Times int `yaml:"times"`
	// Params are what the kind decoded of its own fields (shape, target,
	// offset, ...).
	Params any `yaml:"-"`
	// Line is where the fault starts in its file, for later errors about
	// it (0 when unknown).
	Line int `yaml:"-"`
}

// Schedule says how faults are timed: "fixed" (default) runs each fault at
// its own at/every/times; "random" treats the faults as a mix and draws
// occurrences from the seed, with gaps of MeanInterval on average.
type Schedule struct {
	Mode         string   `yaml:"mode"`
	MeanInterval Duration `yaml:"mean_interval,omitempty"`
	// Overlap lets occurrences of different faults overlap: a fault may
	// start while others are in effect. Faults that cannot act together
	// (see [Overlapper]) are still refused. Default false: the lab heals
	// one fault before the next starts.
	Overlap bool `yaml:"overlap,omitempty"`
}

// Window is one occurrence of a fault: its start and end as offsets from the
// start of the workload.
type Window struct{ Start, End time.Duration }

// Load reads the scenario file at path, parses it strictly, fills in defaults
// and validates it. On failure the error is an [Errors] listing every problem
// found.
func Load(path string, v Vocabulary) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			msg = pe.Err.Error()
		}
		return nil, Errors{{File: path, Msg: "cannot read scenario: " + msg, Hint: "give the path of a scenario file, such as scenarios/partition.yaml"}}
	}
	return Parse(data, path, v)
}

// Parse is [Load] on data already read; name is the file name used in errors
// and stored in Path.
func Parse(data []byte, name string, v Vocabulary) (*Scenario, error) {
	d := &decoder{file: name, bad: map[string]bool{}, vocab: v}
	s := d.parse(data)
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	s.Path = name
	return s, nil
}

// Resolve sets the seed to seed unless the scenario already has one.
func (s *Scenario) Resolve(seed uint64) {
	if s.SeedSet {
		return
	}
	s.Seed, s.SeedSet = seed, true
}

// NodeNames returns the names of the system's nodes, n1..nN.
func (s *Scenario) NodeNames() []string {
	return nodeNames(s.System.Nodes)
}

func nodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// Resolved returns the scenario as YAML with every default and the seed
// written out. [Load] reads it back to the same Scenario (but for Path).
func (s *Scenario) Resolved() ([]byte, error) {
	out := *s
	out.Faults = slices.Clone(s.Faults)
	if out.Faults == nil {
		out.Faults = []Fault{}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Scenario %q as run: every default filled in, with the seed.\n", s.Name)
	if s.Path != "" {
		fmt.Fprintf(&b, "# From %s.\n", s.Path)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	return b.Bytes(), nil
}

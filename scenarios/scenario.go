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

// KnownSystems lists the systems under test the lab can start, by the name a
// scenario gives in system.name. Adding a system is one line here.
var KnownSystems = []string{"etcd"}

// Shapes of a partition fault, by the name a scenario gives in faults[].shape.
const (
	// ShapeIsolate cuts one node off from all the others.
	ShapeIsolate = "isolate"
	// ShapeMajorityMinority splits the nodes into a majority and a minority.
	ShapeMajorityMinority = "majority-minority"
	// ShapeRandomHalves splits the nodes into two random halves.
	ShapeRandomHalves = "random-halves"
	// ShapeMajoritiesRing lets each node see a majority, but no two nodes
	// the same majority.
	ShapeMajoritiesRing = "majorities-ring"
)

// Values a scenario may use for the enumerated fields.
var (
	// KnownWorkloads lists the workloads, by workload.name.
	KnownWorkloads = []string{"register"}
	// KnownReads lists the read consistencies, by workload.reads.
	KnownReads = []string{"linearizable", "serializable"}
	// KnownFaults lists the fault kinds, by faults[].kind.
	KnownFaults = []string{"partition", "kill", "stop", "pause", "packet", "clock"}
	// KnownShapes lists the partition shapes, by faults[].shape.
	KnownShapes = []string{ShapeIsolate, ShapeLeader, ShapeMajorityMinority, ShapeRandomHalves, ShapeMajoritiesRing, ShapeBridge, ShapeGroups, ShapeOneWay}
	// KnownModes lists how a partition fails, by faults[].mode.
	KnownModes = []string{"silent", "fast-fail"}
	// KnownTargets lists whom a process, packet or clock fault hits, by
	// faults[].target.
	KnownTargets = []string{"one", "minority", "majority", "all", "leader", "nodes"}
	// KnownRuntimes lists what can run the nodes, by runtime.
	KnownRuntimes = []string{"docker", "local"}
	// KnownScheduleModes lists the schedule modes, by schedule.mode.
	KnownScheduleModes = []string{"fixed", "random"}
)

// More partition shapes.
const (
	// ShapeLeader isolates the node that leads when the fault starts.
	ShapeLeader = "leader"
	// ShapeBridge cuts two halves apart but for one node that sees both.
	ShapeBridge = "bridge"
	// ShapeGroups cuts between the groups the scenario names.
	ShapeGroups = "groups"
	// ShapeOneWay drops what the from nodes send to the to nodes, while
	// the other direction flows: a grudge.
	ShapeOneWay = "one-way"
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
	// empty. Their occurrences never overlap.
	Faults []Fault `yaml:"faults"`
	// Recovery is how long the workload goes on after the final heal before
	// the final reads; default 10s, 0..1h.
	Recovery Duration `yaml:"recovery"`
	// FinalReads, after recovery, reads every key once through every node,
	// linearizably; default true.
	FinalReads bool `yaml:"final_reads"`
	// Schedule says how faults are timed; default fixed.
	Schedule Schedule `yaml:"schedule"`
	// Runtime runs the nodes: "docker" (default; containers on a private
	// network) or "local" (processes in network namespaces the lab makes;
	// no Docker needed, root is).
	Runtime string `yaml:"runtime"`
	// Path is the file the scenario came from.
	Path string `yaml:"-"`
}

// System is the system under test.
type System struct {
	// Name is one of [KnownSystems]; required.
	Name string `yaml:"name"`
	// Nodes is how many nodes to start, named n1..nN; 3 or 5 for etcd,
	// default 3.
	Nodes int `yaml:"nodes"`
	// Version is informational only; default "".
	Version string `yaml:"version,omitempty"`
}

// Workload is the client load: Concurrency client processes, spread over the
// nodes round robin, issuing Rate operations per second in total on Keys
// registers.
type Workload struct {
	// Name is one of [KnownWorkloads]; default "register".
	Name string `yaml:"name"`
	// Keys is how many registers; default 8, 1..10000.
	Keys int `yaml:"keys"`
	// Rate is operations per second in total; default 50, >0 and <= 10000.
	Rate float64 `yaml:"rate"`
	// Concurrency is client processes in total; default 6, 1..1000.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds each operation; default 1s, 10ms..1m. An operation
	// that times out has an unknown outcome.
	Timeout Duration `yaml:"timeout"`
	// Reads is the read consistency, one of [KnownReads]; default
	// "linearizable".
	Reads string `yaml:"reads"`
	// Mix weighs the operations against each other.
	Mix Mix `yaml:"mix"`
}

// Mix holds relative weights of reads, writes and compare-and-sets; default
// 2, 1, 1. All are >= 0 and their sum is > 0.
type Mix struct {
	Read  float64 `yaml:"read"`
	Write float64 `yaml:"write"`
	CAS   float64 `yaml:"cas"`
}

// Fault is one fault on a schedule: first at At, for Duration, then again
// every Every, Times times in all. See [Fault.Occurrences].
type Fault struct {
	// Kind is one of [KnownFaults]; required.
	Kind string `yaml:"kind"`
	// Shape is one of [KnownShapes]; required.
	Shape string `yaml:"shape"`
	// Node is the node to isolate, for shape isolate only; empty means one
	// chosen from the seed at run time.
	Node string `yaml:"node,omitempty"`
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
	// Mode is how a partition fails: "silent" (default; packets dropped,
	// peers time out) or "fast-fail" (rejected, peers see errors at once).
	Mode string `yaml:"mode,omitempty"`
	// Groups are the sides of shape groups: no node talks to a node of
	// another group; nodes in no group talk to all.
	Groups [][]string `yaml:"groups,omitempty"`
	// From and To are the nodes of shape one-way: the To nodes drop what
	// the From nodes send them.
	From []string `yaml:"from,omitempty"`
	To   []string `yaml:"to,omitempty"`
	// Clients are nodes that a partition also cuts off from the lab's own
	// clients. By default the clients are never cut: each side's clients
	// keep talking to their node.
	Clients []string `yaml:"clients,omitempty"`
	// Target is whom a kill, stop, pause, packet or clock fault hits, one
	// of [KnownTargets]; default "one" (chosen from the seed).
	Target string `yaml:"target,omitempty"`
	// Nodes are the nodes of target "nodes".
	Nodes []string `yaml:"nodes,omitempty"`
	// Packet is what a packet fault does to the target's traffic.
	Packet *Packet `yaml:"packet,omitempty"`
	// Offset is how far a clock fault moves the target's wall clock
	// (negative: back); Period, if set, strobes: the offset is applied and
	// removed every period.
	Offset Duration `yaml:"offset,omitempty"`
	Period Duration `yaml:"period,omitempty"`
}

// Packet is a packet fault: each field set adds its effect to the traffic
// the target exchanges with its peers.
type Packet struct {
	Delay     Duration `yaml:"delay,omitempty"`
	Jitter    Duration `yaml:"jitter,omitempty"`
	Loss      float64  `yaml:"loss,omitempty"`
	Duplicate float64  `yaml:"duplicate,omitempty"`
	Reorder   float64  `yaml:"reorder,omitempty"`
	Corrupt   float64  `yaml:"corrupt,omitempty"`
	Rate      string   `yaml:"rate,omitempty"`
}

// Schedule says how faults are timed: "fixed" (default) runs each fault at
// its own at/every/times; "random" treats the faults as a mix and draws
// occurrences from the seed, with gaps of MeanInterval on average.
type Schedule struct {
	Mode         string   `yaml:"mode"`
	MeanInterval Duration `yaml:"mean_interval,omitempty"`
}

// Window is one occurrence of a fault: its start and end as offsets from the
// start of the workload.
type Window struct{ Start, End time.Duration }

// Load reads the scenario file at path, parses it strictly, fills in defaults
// and validates it. On failure the error is an [Errors] listing every problem
// found.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			msg = pe.Err.Error()
		}
		return nil, Errors{{File: path, Msg: "cannot read scenario: " + msg, Hint: "give the path of a scenario file, such as scenarios/partition.yaml"}}
	}
	return Parse(data, path)
}

// Parse is [Load] on data already read; name is the file name used in errors
// and stored in Path.
func Parse(data []byte, name string) (*Scenario, error) {
	d := &decoder{file: name, bad: map[string]bool{}}
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

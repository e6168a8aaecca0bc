// Package plugins holds the lab's explicit lists of what it can run: the
// systems under test, the workloads, the fault kinds and the runtimes. It
// is the one place that names every concrete system and runtime; the
// runner and the commands take a [Set], so a test can hand them fakes.
//
// Adding a system is a folder under systems/ and one line in [Default].
package plugins

import (
	"slices"

	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/runtime/local"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/byo"
	"github.com/lab-chaos/lab/systems/etcd"
	"github.com/lab-chaos/lab/systems/nats"
	"github.com/lab-chaos/lab/workloads"
)

// Set is the plugins a run may use.
type Set struct {
	Systems   []systems.System
	Workloads []workloads.Workload
	Faults    []nemesis.Kind
	Runtimes  []runtime.Driver
}

// Default is the lab's own plugins. Each call makes new runtime drivers
// (they hold connections); close them with [Set.Close].
func Default() Set {
	return Set{
		Systems:   []systems.System{etcd.System{}, nats.System{}, byo.System{}},
		Workloads: workloads.All,
		Faults:    nemesis.All,
		Runtimes:  []runtime.Driver{&docker.Driver{}, local.Driver{}},
	}
}

// Vocabulary is what scenarios may name.
func (s Set) Vocabulary() scenarios.Vocabulary {
	v := scenarios.Vocabulary{}
	for _, x := range s.Systems {
		v.Systems = append(v.Systems, x)
	}
	for _, x := range s.Workloads {
		v.Workloads = append(v.Workloads, x)
	}
	for _, x := range s.Faults {
		v.Faults = append(v.Faults, x)
	}
	for _, x := range s.Runtimes {
		v.Runtimes = append(v.Runtimes, x.Name())
	}
	return v
}

// Load loads the scenario at path with the set's vocabulary.
func (s Set) Load(path string) (*scenarios.Scenario, error) {
	return scenarios.Load(path, s.Vocabulary())
}

// System returns the system named name.
func (s Set) System(name string) (systems.System, bool) {
	i := slices.IndexFunc(s.Systems, func(x systems.System) bool { return x.Name() == name })
	if i < 0 {
		return nil, false
	}
	return s.Systems[i], true
}

// Runtime returns the runtime driver named name.
func (s Set) Runtime(name string) (runtime.Driver, bool) {
	i := slices.IndexFunc(s.Runtimes, func(x runtime.Driver) bool { return x.Name() == name })
	if i < 0 {
		return nil, false
	}
	return s.Runtimes[i], true
}

// Close releases the runtime drivers' connections.
func (s Set) Close() error {
	var first error
	for _, d := range s.Runtimes {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

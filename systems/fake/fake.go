package fake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// The modes of the fake system.
const (
	Linearizable = "linearizable"
	StaleReads   = "stale-reads"
	LostWrites   = "lost-writes"
)

// Modes lists the modes, the default first.
var Modes = []string{Linearizable, StaleReads, LostWrites}

// The periods of the anomalies: short enough that a few hundred operations
// over a few keys show each one many times over.
const (
	// staleEvery is how many applied writes the followers' copy lags at
	// most in stale-reads mode.
	staleEvery = 10
	// lostEvery: every lostEvery-th write is lost in lost-writes mode.
	lostEvery = 5
)

// Params are the fake system's settings in a scenario (system: mode:).
type Params struct {
	Mode string `yaml:"mode"`
}

// System is the fake system as a plugin. Its fields are test hooks, never
// read from a scenario; the zero System is the plain fake.
type System struct {
	// PanicAfter, when above 0, makes the client operation that follows
	// that many operations (all clients together) panic, once. Note that
	// the register workload calls its clients from goroutines of its own
	// that do not recover, so such a panic ends the process; see
	// LeaderPanics for one the runner recovers from.
	PanicAfter int
	// LeaderPanics makes every Leader call panic. The nemesis asks for the
	// leader while a fault that disrupts leaders is in effect, from a
	// goroutine the runner guards: a panic with a fault to heal.
	LeaderPanics bool
	// OnOpen, when set, is called with every instance Open returns, so
	// that a test can reach the instance the runner opened (to wire
	// [Instance.NodeState] to a runtime, or to look at its state).
	OnOpen func(*Instance)
}

var _ systems.System = System{}

// Name is "fake".
func (System) Name() string { return "fake" }

// NodeCounts: any cluster of 1 to 9 nodes (n1..n9, so names sort as
// numbers do).
func (System) NodeCounts() []int { return []int{1, 2, 3, 4, 5, 6, 7, 8, 9} }

// Keys: the mode.
func (System) Keys() []string { return []string{"mode"} }

// Decode reads the mode, linearizable by default.
func (System) Decode(f *scenarios.Fields) any {
	p := Params{Mode: Linearizable}
	if v, ok := f.Enum("mode", Modes); ok {
		p.Mode = v
	}
	return p
}

// Version is the only version of the fake server.
const Version = "1"

// Open makes a fresh instance: an empty store, every node running.
func (s System) Open(cfg systems.Config) (systems.Instance, error) {
	if cfg.Version != "" && cfg.Version != Version {
		return nil, fmt.Errorf("the fake system has version %s only, not %q", Version, cfg.Version)
	}
	p := Params{Mode: Linearizable}
	switch v := cfg.Params.(type) {
	case nil:
	case Params:
		p = v
	case *Params:
		p = *v
	default:
		return nil, fmt.Errorf("fake system: parameters of type %T", cfg.Params)
	}
	if p.Mode == "" {
		p.Mode = Linearizable
	}
	if !slices.Contains(Modes, p.Mode) {
		return nil, fmt.Errorf("fake system: unknown mode %q (known: %v)", p.Mode, Modes)
	}
	inst := &Instance{
		mode:         p.Mode,
		panicAfter:   s.PanicAfter,
		leaderPanics: s.LeaderPanics,
		changed:      make(chan struct{}),
		nodes:        map[string]string{},
		store:        map[string]string{},
		stale:        map[string]string{},
		sets:         map[string]*set{},
	}
	if s.OnOpen != nil {
		s.OnOpen(inst)
	}
	return inst, nil
}

// Instance is the fake system of one run: one store, shared by every node,
// under one lock. It is safe for concurrent use.
type Instance struct {
	mode         string
	panicAfter   int
	leaderPanics bool

	mu sync.Mutex
	// changed is closed, and replaced, at every node state change: what
	// operations through a paused node wait on.
	changed chan struct{}
	// nodes are the known nodes and their states; a node is known once
	// named to Node, NodeState or RegisterClient.
	nodes map[string]string
	store map[string]string
	// stale is the followers' copy of store in stale-reads mode.
	stale map[string]string
	// sets are the sets by key, beside the registers.
	sets   map[string]*set
	writes int // applied writes, swaps and adds
	puts   int // Write calls served
	adds   int // Add calls served
	ops    int // operations served
}

var (
	_ systems.Registers = (*Instance)(nil)
	_ systems.Sets      = (*Instance)(nil)
	_ systems.Leaders   = (*Instance)(nil)
)

// Node states, as runtime/fake names them.
const (
	running = "running"
	killed  = "killed"
	stopped = "stopped"
	paused  = "paused"
)

// Version is [Version].
func (*Instance) Version() string { return Version }

// Mode is the instance's mode.
func (i *Instance) Mode() string { return i.mode }

// Settings: the mode, which decides the verdict.
func (i *Instance) Settings() []string { return []string{"mode: " + i.mode} }

// Artifact builds nothing: the server is this package.
func (*Instance) Artifact(context.Context) (runtime.Artifact, bool, error) {
	return runtime.Artifact{Name: "fake", Version: Version, Binary: "fake", Content: "fake-" + Version}, false, nil
}

// Node passes the mode on the command line, for the record: the node runs
// in this process, whatever the runtime does with its spec.
func (i *Instance) Node(p runtime.Placement, c systems.Cluster) runtime.NodeSpec {
	i.mu.Lock()
	for _, n := range c.Nodes {
		i.know(n.Name)
	}
	i.know(p.Name)
	i.mu.Unlock()
	return runtime.NodeSpec{Name: p.Name, Args: []string{"--mode", i.mode}}
}

// LogPatterns match the lines runtime/fake writes into each node's log
// ("start n2" at every start), so a kill and restart shows as a restart in
// the report. The fake has no leader elections to log.
func (*Instance) LogPatterns() logcheck.Patterns {
	return logcheck.Patterns{Start: []string{"start n"}}
}

// NodeState records that node is now in state ("running", "killed",
// "stopped", "paused"; anything else counts as running). Its signature
// is that of runtime/fake's Driver.OnChange.
func (i *Instance) NodeState(node, state string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.nodes[node] = state
	close(i.changed)
	i.changed = make(chan struct{})
}

// State is what the instance takes node's state to be.
func (i *Instance) State(node string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state(node)
}

// Ready is nil unless the node is down or paused.
func (i *Instance) Ready(ctx context.Context, node systems.Peer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.know(node.Name)
	switch st := i.state(node.Name); st {
	case killed, stopped:
		return fmt.Errorf("%s (%s): %w", node.Name, st, syscall.ECONNREFUSED)
	case paused:
		return fmt.Errorf("%s is paused", node.Name)
	}
	return nil
}

// Leader is the lowest-named of peers that is running: the only nodes
// that would answer.
func (i *Instance) Leader(ctx context.Context, peers []systems.Peer) (string, error) {
	if i.leaderPanics {
		panic("fake system: Leader panics, as the test asked")
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	names, _ := systems.Split(peers)
	slices.Sort(names)
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, n := range names {
		if i.state(n) == running {
			return n, nil
		}
	}
	return "", errors.New("no node answers")
}

// RegisterClient binds a client to node. Like a real client it connects
// lazily: it never fails because the node is down.
func (i *Instance) RegisterClient(ctx context.Context, node systems.Peer, _ systems.ReadMode) (systems.RegisterClient, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.know(node.Name)
	i.mu.Unlock()
	return &client{i: i, node: node.Name}, nil
}

// know adds node to the known nodes, running unless told otherwise; i.mu
// is held.
func (i *Instance) know(node string) {
	if _, ok := i.nodes[node]; !ok {
		i.nodes[node] = running
	}
}

// state is node's state, i.mu held: running unless told otherwise.
func (i *Instance) state(node string) string {
	switch st := i.nodes[node]; st {
	case killed, stopped, paused:
		return st
	}
	return running
}

// leader is the lowest-named running node, i.mu held.
func (i *Instance) leader() string {
	names := slices.Sorted(maps.Keys(i.nodes))
	for _, n := range names {
		if i.state(n) == running {
			return n
		}
	}
	return ""
}

// serve runs op through node, i.mu held while op runs, once the node is
// up: at once when it is, after it resumes when it is paused. op runs
// under the instance's one lock, which is what makes the store
// linearizable.
func (i *Instance) serve(ctx context.Context, node string, op func()) error {
	i.mu.Lock()
	for {
		if err := ctx.Err(); err != nil {
			i.mu.Unlock()
			return err
		}
		switch st := i.state(node); st {
		case killed, stopped:
			i.mu.Unlock()
			return systems.Definite(fmt.Errorf("%s: %w", node, syscall.ECONNREFUSED))
		case paused:
			// A frozen process neither answers nor refuses: wait, with
			// the request in flight, until it thaws or the caller gives
			// up (and then the request was never served).
			ch := i.changed
			i.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-ch:
			}
			i.mu.Lock()
			continue
		}
		break
	}
	i.ops++
	if i.panicAfter > 0 && i.ops == i.panicAfter+1 {
		i.mu.Unlock()
		panic(fmt.Sprintf("fake system: operation %d panics, as the test asked", i.ops))
	}
	op()
	i.mu.Unlock()
	return nil
}

// applied counts a write, swap or add that changed the store, and refreshes
// the followers' copy every staleEvery of them; i.mu is held.
func (i *Instance) applied() {
	i.writes++
	if i.writes%staleEvery == 0 {
		i.stale = maps.Clone(i.store)
	}
}

type client struct {
	i    *Instance
	node string
	done atomic.Bool
}

var _ systems.RegisterClient = (*client)(nil)

var errClosed = systems.Definite(errors.New("client closed"))

func (c *client) closed() bool { return c.done.Load() }

func (c *client) Read(ctx context.Context, key string) (string, bool, error) {
	if c.closed() {
		return "", false, errClosed
	}
	var v string
	var found bool
	err := c.i.serve(ctx, c.node, func() {
		store := c.i.store
		if c.i.mode == StaleReads && c.node != c.i.leader() {
			store = c.i.stale
		}
		v, found = store[key]
	})
	return v, found, err
}

func (c *client) Write(ctx context.Context, key, value string) error {
	if c.closed() {
		return errClosed
	}
	return c.i.serve(ctx, c.node, func() {
		c.i.puts++
		if c.i.mode == LostWrites && c.i.puts%lostEvery == 0 {
			return
		}
		c.i.store[key] = value
		c.i.applied()
	})
}

func (c *client) CAS(ctx context.Context, key, old string, oldFound bool, new string) (bool, error) {
	if c.closed() {
		return false, errClosed
	}
	var swapped bool
	err := c.i.serve(ctx, c.node, func() {
		cur, found := c.i.store[key]
		if found != oldFound || (found && cur != old) {
			return
		}
		c.i.store[key] = new
		c.i.applied()
		swapped = true
	})
	return swapped, err
}

func (c *client) Close() error {
	c.done.Store(true)
	return nil
}

// set is one key's set: its elements in the order they were added, and
// which it holds.
type set struct {
	order []string
	has   map[string]bool
}

// SetClient binds a set client to node. Sets live under the same lock as
// the registers and follow the same node states; in lost-writes mode every
// lostEvery-th add (all nodes together) is acknowledged but never applied.
// Stale reads are the registers' anomaly only: a set is read from the one
// store through every node.
func (i *Instance) SetClient(ctx context.Context, node systems.Peer) (systems.SetClient, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.know(node.Name)
	i.mu.Unlock()
	return &setClient{i: i, node: node.Name}, nil
}

type setClient struct {
	i    *Instance
	node string
	done atomic.Bool
}

var _ systems.SetClient = (*setClient)(nil)

func (c *setClient) Add(ctx context.Context, key, element string) error {
	if c.done.Load() {
		return errClosed
	}
	return c.i.serve(ctx, c.node, func() {
		c.i.adds++
		if c.i.mode == LostWrites && c.i.adds%lostEvery == 0 {
			return
		}
		s := c.i.sets[key]
		if s == nil {
			s = &set{has: map[string]bool{}}
			c.i.sets[key] = s
		}
		if s.has[element] {
			return
		}
		s.has[element] = true
		s.order = append(s.order, element)
		c.i.applied()
	})
}

func (c *setClient) ReadSet(ctx context.Context, key string) ([]string, error) {
	if c.done.Load() {
		return nil, errClosed
	}
	var out []string
	err := c.i.serve(ctx, c.node, func() {
		if s := c.i.sets[key]; s != nil {
			out = slices.Clone(s.order)
		}
	})
	return out, err
}

func (c *setClient) Close() error {
	c.done.Store(true)
	return nil
}

var _ systems.Revisions = (*Instance)(nil)

// RevisionReader tells, through node, how many writes, swaps and adds the
// store has applied: the fake's revision, which never goes backwards. A node
// that is down refuses, as a killed process would.
func (i *Instance) RevisionReader(ctx context.Context, node systems.Peer) (systems.RevisionReader, error) {
	return &revisions{i: i, node: node.Name}, nil
}

type revisions struct {
	i    *Instance
	node string
}

func (r *revisions) Revision(ctx context.Context) (int64, error) {
	i := r.i
	i.mu.Lock()
	switch i.state(r.node) {
	case killed, stopped:
		i.mu.Unlock()
		return 0, systems.Definite(fmt.Errorf("%s: %w", r.node, syscall.ECONNREFUSED))
	case paused:
		// A frozen process does not answer. Not through serve: asks are
		// not the clients' operations that PanicAfter counts.
		i.mu.Unlock()
		<-ctx.Done()
		return 0, ctx.Err()
	}
	defer i.mu.Unlock()
	return int64(i.writes), nil
}

func (*revisions) Close() error { return nil }

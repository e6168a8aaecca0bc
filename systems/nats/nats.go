package nats

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// DefaultVersion is the server the lab runs when a scenario names none:
// the newest release the module proxy served when it was chosen.
const DefaultVersion = "2.15.3"

// The ports every node listens on.
const (
	clientPort  = 4222
	clusterPort = 6222
	httpPort    = 8222
)

// The stream and the consumer every queue workload shares. The stream
// has one replica per node, file storage, and keeps every message (no
// limits), so the final drain can read all that was ever acknowledged.
const (
	streamName   = "LAB"
	subject      = "lab.queue"
	consumerName = "lab"
	// ackWait is how long a fetched message stays with its consumer
	// before JetStream delivers it again: redeliveries are duplicates,
	// which the queue checker counts.
	ackWait = 10 * time.Second
)

// System is NATS JetStream as a kind of system under test.
type System struct{}

var _ systems.System = System{}

// Name is "nats".
func (System) Name() string { return "nats" }

// NodeCounts: JetStream's meta group and an R3 or R5 stream are raft
// groups, which want an odd number of peers.
func (System) NodeCounts() []int { return []int{3, 5} }

// Keys are the server options a scenario may set under system:.
func (System) Keys() []string { return []string{"sync_interval"} }

// Params are the server options of one run.
type Params struct {
	// SyncInterval is JetStream's sync_interval: "always" (fsync every
	// write before acknowledging it), a duration (fsync at that
	// interval), or empty for the server's default (2 minutes).
	SyncInterval string `yaml:"sync_interval,omitempty"`
}

// Decode reads sync_interval.
func (System) Decode(f *scenarios.Fields) any {
	p := Params{}
	if v, ok := f.String("sync_interval"); ok {
		switch {
		case v == "always", v == "default":
			p.SyncInterval = v
		default:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				f.Report("sync_interval", `write "always", "default" or a duration such as "1s"`,
					"sync_interval must be always, default or a positive duration, got %q", v)
			} else {
				p.SyncInterval = d.String()
			}
		}
	}
	if p.SyncInterval == "default" {
		p.SyncInterval = ""
	}
	return p
}

// Open checks the version asked for: any release the Go module proxy
// serves, built on first use. A version the proxy does not serve is bad
// input, found before anything starts.
func (System) Open(cfg systems.Config) (systems.Instance, error) {
	v := strings.TrimPrefix(cfg.Version, "v")
	if v == "" {
		v = DefaultVersion
	}
	if !versionPattern.MatchString(v) {
		return nil, fmt.Errorf("nats version %q is not a release name such as %s", cfg.Version, DefaultVersion)
	}
	p, _ := cfg.Params.(Params)
	n := &NATS{version: v, params: p, buildOutput: cfg.BuildOutput}
	cached, err := program(v).Cached()
	if err != nil {
		return nil, err
	}
	if !cached {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := checkServed(ctx, v); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// NATS is NATS JetStream configured for one run.
type NATS struct {
	version     string
	params      Params
	buildOutput io.Writer
	// replicas is the stream's replica count: one per node, learnt when
	// the runner asks for the nodes' specs.
	replicas int
}

var (
	_ systems.Queues  = (*NATS)(nil)
	_ systems.Leaders = (*NATS)(nil)
	_ systems.Clocks  = (*NATS)(nil)
)

// Version is the server's release.
func (n *NATS) Version() string { return n.version }

// Settings are the options that decide what an acknowledgement promises.
func (n *NATS) Settings() []string {
	sync := "default (the server's: fsync every 2 minutes; an acknowledged message may be only in the page cache)"
	switch {
	case n.params.SyncInterval == "always":
		sync = "always (fsync before every acknowledgement)"
	case n.params.SyncInterval != "":
		sync = n.params.SyncInterval
	}
	return []string{
		"sync_interval: " + sync,
		fmt.Sprintf("stream: %s on subject %s, one replica per node, file storage, no limits", streamName, subject),
		fmt.Sprintf("consumer: %s, durable pull, explicit ack, ack wait %s", consumerName, ackWait),
	}
}

// Artifact builds the server of the asked version unless it is cached.
func (n *NATS) Artifact(ctx context.Context) (runtime.Artifact, bool, error) {
	return artifact(ctx, n.version, n.buildOutput)
}

// LogPatterns: the lines NATS writes when a node becomes the stream's or
// the meta group's leader (the new leader's own line; followers write
// "new metadata leader: <name>", which is left out), when the server
// starts, when JetStream restores the stream from disk, and when its file
// store finds what it stored damaged or out of date.
func (*NATS) LogPatterns() logcheck.Patterns {
	return logcheck.Patterns{
		Leader:     []string{"Self is new JetStream cluster metadata leader", "JetStream cluster new stream leader for"},
		Start:      []string{"Starting nats-server"},
		Restarting: []string{"Starting restore for stream"},
		Storage: []string{
			"Stream state outdated", "Recovering stream state from index errored",
			"[WRN] Filestore", "[ERR] Filestore", "corrupt", "Error rebuilding", "lost data",
		},
	}
}

// Node writes the node's configuration into its environment; the
// wrapper of the build module turns it into a file in the data directory.
func (n *NATS) Node(p runtime.Placement, c systems.Cluster) runtime.NodeSpec {
	n.replicas = len(c.Nodes)
	return runtime.NodeSpec{
		Name: p.Name,
		Env: []string{
			"LAB_NATS_CONFIG=" + n.config(p, c),
			"LAB_NATS_CONFIG_PATH=" + p.DataDir + "/nats.conf",
		},
	}
}

func (n *NATS) config(p runtime.Placement, c systems.Cluster) string {
	var routes []string
	for _, x := range c.Nodes {
		if x.Name != p.Name {
			routes = append(routes, fmt.Sprintf("nats://%s:%d", x.Addr, clusterPort))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\n", p.Name)
	fmt.Fprintf(&b, "listen: \"0.0.0.0:%d\"\n", clientPort)
	fmt.Fprintf(&b, "http: \"0.0.0.0:%d\"\n", httpPort)
	b.WriteString("logtime: true\n")
	b.WriteString("jetstream {\n")
	fmt.Fprintf(&b, "  store_dir: %q\n", p.DataDir+"/jetstream")
	if n.params.SyncInterval != "" {
		fmt.Fprintf(&b, "  sync_interval: %s\n", n.params.SyncInterval)
	}
	b.WriteString("}\n")
	b.WriteString("cluster {\n")
	fmt.Fprintf(&b, "  name: %q\n", c.Token)
	fmt.Fprintf(&b, "  listen: \"0.0.0.0:%d\"\n", clusterPort)
	fmt.Fprintf(&b, "  routes: [%s]\n", strings.Join(quoteAll(routes), ", "))
	b.WriteString("}\n")
	return b.String()
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

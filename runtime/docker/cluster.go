package docker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/lab-chaos/lab/runtime"
)

// Node is a started node.
type Node struct {
	Name        string
	IP          netip.Addr
	ContainerID string
}

// Cluster is one run's network and containers. It is not safe to start and
// close from different goroutines at once; the other methods are.
type Cluster struct {
	d       Docker
	runID   string
	netID   string
	netName string
	prefix  netip.Prefix
	image   string
	mu      sync.Mutex
	nodes   []*Node
}

// subnetCandidates is how many /24s New tries before giving up. The lab takes
// its subnets from 10.213.0.0/16; the starting point is derived from the run
// ID so that parallel runs seldom collide.
const subnetCandidates = 64

// New creates the run's bridge network with a free /24 subnet. The network
// is labelled with the run ID.
func New(ctx context.Context, d Docker, runID, image string) (*Cluster, error) {
	h := fnv.New32a()
	h.Write([]byte(runID))
	start := int(h.Sum32() % 256)
	name := "lab-" + runID
	var lastErr error
	for i := 0; i < subnetCandidates; i++ {
		third := (start + i) % 256
		prefix := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", third))
		gw := prefix.Addr().Next()
		resp, err := d.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet:  prefix.String(),
				Gateway: gw.String(),
			}}},
			Labels: map[string]string{LabelRun: runID},
		})
		if err == nil {
			return &Cluster{d: d, runID: runID, netID: resp.ID, netName: name, prefix: prefix, image: image}, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") && !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	return nil, fmt.Errorf("create network %s: %w", name, lastErr)
}

// RunID is the run the cluster belongs to.
func (c *Cluster) RunID() string { return c.runID }

// Network is the Docker network's name.
func (c *Cluster) Network() string { return c.netName }

// Gateway is the host's address on the cluster network: the address the
// lab's own clients come from.
func (c *Cluster) Gateway() netip.Addr { return c.prefix.Addr().Next() }

// AddressOf gives the fixed address of the i-th node (0-based): .11, .12, ...
func (c *Cluster) AddressOf(i int) netip.Addr {
	a := c.prefix.Addr().As4()
	a[3] = byte(11 + i)
	return netip.AddrFrom4(a)
}

// dataDir is where every node keeps its data inside its container.
const dataDir = "/data"

// Place puts the i-th node at AddressOf(i), with its data in /data of its
// own container.
func (c *Cluster) Place(names []string) []runtime.Placement {
	out := make([]runtime.Placement, len(names))
	for i, n := range names {
		out[i] = runtime.Placement{Name: n, Addr: c.AddressOf(i), DataDir: dataDir}
	}
	return out
}

// Nodes returns the started nodes in order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Node returns the node with the given name.
func (c *Cluster) Node(name string) (*Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nil, false
}

// Start creates and starts one container per spec, in order, at fixed
// addresses (the i-th spec gets AddressOf(i), as [Cluster.Place] said),
// all from the cluster's image.
func (c *Cluster) Start(ctx context.Context, specs []runtime.NodeSpec) error {
	for i, s := range specs {
		ip := c.AddressOf(i)
		labels := map[string]string{LabelRun: c.runID, LabelNode: s.Name}
		resp, err := c.d.ContainerCreate(ctx,
			&container.Config{
				Image:    c.image,
				Cmd:      s.Args,
				Env:      s.Env,
				Hostname: s.Name,
				Labels:   labels,
			},
			&container.HostConfig{
				NetworkMode: container.NetworkMode(c.netName),
				// The lab removes its containers itself, after saving logs.
				AutoRemove: false,
				Init:       nil,
			},
			&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				c.netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip.String()}},
			}},
			nil, fmt.Sprintf("lab-%s-%s", c.runID, s.Name))
		if err != nil {
			return fmt.Errorf("create node %s: %w", s.Name, err)
		}
		n := &Node{Name: s.Name, IP: ip, ContainerID: resp.ID}
		c.mu.Lock()
		c.nodes = append(c.nodes, n)
		c.mu.Unlock()
	}
	for _, n := range c.Nodes() {
		if err := c.d.ContainerStart(ctx, n.ContainerID, container.StartOptions{}); err != nil {
			return fmt.Errorf("start node %s: %w", n.Name, err)
		}
	}
	return nil
}

// Pid returns the host PID of the node's main process, read afresh (a
// restart changes it). The network namespace of that PID is the node's.
func (c *Cluster) Pid(ctx context.Context, node string) (int, error) {
	n, ok := c.Node(node)
	if !ok {
		return 0, fmt.Errorf("no node %q", node)
	}
	insp, err := c.d.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return 0, fmt.Errorf("inspect %s: %w", node, err)
	}
	if insp.State == nil || !insp.State.Running || insp.State.Pid == 0 {
		return 0, fmt.Errorf("node %s is not running", node)
	}
	return insp.State.Pid, nil
}

// Running reports whether the node's container is running, and if not, how
// it exited.
func (c *Cluster) Running(ctx context.Context, node string) (bool, string, error) {
	n, ok := c.Node(node)
	if !ok {
		return false, "", fmt.Errorf("no node %q", node)
	}
	insp, err := c.d.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return false, "", err
	}
	if insp.State == nil {
		return false, "no state", nil
	}
	return insp.State.Running, fmt.Sprintf("%s, exit code %d", insp.State.Status, insp.State.ExitCode), nil
}

// Logs returns the last lines of a node's output (for error messages).
func (c *Cluster) Logs(ctx context.Context, node string, tail int) (string, error) {
	n, ok := c.Node(node)
	if !ok {
		return "", fmt.Errorf("no node %q", node)
	}
	var sb strings.Builder
	err := c.copyLogs(ctx, n, &sb, fmt.Sprint(tail))
	return sb.String(), err
}

func (c *Cluster) copyLogs(ctx context.Context, n *Node, w io.Writer, tail string) error {
	rc, err := c.d.ContainerLogs(ctx, n.ContainerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: tail})
	if err != nil {
		return fmt.Errorf("logs of %s: %w", n.Name, err)
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil {
		return fmt.Errorf("logs of %s: %w", n.Name, err)
	}
	return nil
}

// SaveLogs writes each node's output to dir/<node>.log.
func (c *Cluster) SaveLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, n := range c.Nodes() {
		f, err := os.Create(filepath.Join(dir, n.Name+".log"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.copyLogs(ctx, n, f, "all"); err != nil {
			errs = append(errs, err)
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close removes the containers (forcefully: they are the lab's own) and the
// network. It is safe to call more than once.
func (c *Cluster) Close(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes() {
		// A frozen container may refuse removal: thaw it first.
		c.d.ContainerUnpause(ctx, n.ContainerID)
		err := c.d.ContainerRemove(ctx, n.ContainerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove node %s: %w", n.Name, err))
		}
	}
	c.mu.Lock()
	c.nodes = nil
	c.mu.Unlock()
	if c.netID != "" {
		if err := c.d.NetworkRemove(ctx, c.netID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", c.netName, err))
		} else {
			c.netID = ""
		}
	}
	return errors.Join(errs...)
}

// Removed lists what Cleanup removed.
type Removed struct {
	Containers []string
	Networks   []string
}

// Cleanup removes every container and network labelled lab.run (or, when
// runID is not empty, labelled with that run), whatever state it is in.
// Nothing without the label is touched.
func Cleanup(ctx context.Context, d Docker, runID string) (Removed, error) {
	var out Removed
	f := filters.NewArgs()
	if runID == "" {
		f.Add("label", LabelRun)
	} else {
		f.Add("label", LabelRun+"="+runID)
	}
	cs, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return out, fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	for _, ct := range cs {
		if ct.State == "paused" {
			d.ContainerUnpause(ctx, ct.ID)
		}
		if err := d.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		name := ct.ID[:12]
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		out.Containers = append(out.Containers, name)
	}
	nets, err := d.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return out, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range nets {
		if err := d.NetworkRemove(ctx, n.ID); err != nil && !isNotFound(err) {
			errs = append(errs, err)
			continue
		}
		out.Networks = append(out.Networks, n.Name)
	}
	return out, errors.Join(errs...)
}

func isNotFound(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "not found"))
}

var _ runtime.Runtime = (*Cluster)(nil)

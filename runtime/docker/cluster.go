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
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/nodedisk"
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
	// dataRoot holds every node's data directory on the host (made by
	// Start, removed by Close); disks are the mounts in it, if any.
	dataRoot string
	disks    *nodedisk.Set
	mu       sync.Mutex
	nodes    []*Node
}

// subnetCandidates is how many /24s New tries before giving up. The lab takes
// its subnets from 10.213.0.0/16; the starting point is derived from the run
// ID so that parallel runs seldom collide.
const subnetCandidates = 64

// New creates the run's bridge network with a free /24 subnet. The network
// is labelled with the run ID. With opts.Disks, Start puts every node's
// data directory on a faultfs mount.
func New(ctx context.Context, d Docker, runID, image string, opts runtime.Options) (*Cluster, error) {
	if runID == "" || strings.ContainsAny(runID, "/\x00") || runID == "." || runID == ".." {
		return nil, fmt.Errorf("run id %q cannot name a directory", runID)
	}
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
			return &Cluster{d: d, runID: runID, netID: resp.ID, netName: name, prefix: prefix, image: image,
				dataRoot: DataRoot(runID), disks: nodedisk.New(runID, opts)}, nil
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

// dataDir is where every node keeps its data inside its container: a
// directory of the host (see [DataRoot]), bind-mounted.
const dataDir = "/data"

// dataRootPrefix begins the name of every run's data root; the rest is
// the run ID. labelFile, inside, holds the run ID too: [Cleanup] removes
// only directories that carry both.
const (
	dataRootPrefix = "lab-docker-"
	labelFile      = ".lab-run"
)

// DataRoot is the host directory that holds the data directories of run
// runID's nodes: <temp dir>/lab-docker-<run id>/<node>/data (and, with
// disks, <node>/disk, the backing directory of the mount at data).
func DataRoot(runID string) string {
	return filepath.Join(os.TempDir(), dataRootPrefix+runID)
}

// Place puts the i-th node at AddressOf(i), with its data in /data of its
// container, which is a directory of the host bind-mounted there.
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
//
// Each node's /data is a directory of the host, under [DataRoot], bind
// mounted; with disks it is a faultfs mount, made here before the
// container is created, so the container sees the mount (the mount stays
// for the life of the run, so no propagation is needed). The directory's
// mode is 0700, or 0777 when the image runs as another user than root,
// so that the node can write it either way.
func (c *Cluster) Start(ctx context.Context, specs []runtime.NodeSpec) error {
	if err := c.makeDataRoot(); err != nil {
		return err
	}
	mode := c.dataMode(ctx)
	c.mu.Lock()
	base := len(c.nodes)
	c.mu.Unlock()
	for i, s := range specs {
		if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") || s.Name == "." || s.Name == ".." {
			return fmt.Errorf("node name %q cannot name a directory", s.Name)
		}
		dir := filepath.Join(c.dataRoot, s.Name)
		data := filepath.Join(dir, "data")
		if err := c.disks.Make(ctx, s.Name, base+i, data, filepath.Join(dir, "disk"), mode); err != nil {
			return err
		}
		ip := c.AddressOf(base + i)
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
				Mounts:     []mount.Mount{{Type: mount.TypeBind, Source: data, Target: dataDir}},
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

// makeDataRoot makes the run's data root with its label, once.
func (c *Cluster) makeDataRoot() error {
	if err := os.MkdirAll(c.dataRoot, 0o700); err != nil {
		return fmt.Errorf("data directories: %w", err)
	}
	label := filepath.Join(c.dataRoot, labelFile)
	if _, err := os.Stat(label); err == nil {
		return nil
	}
	if err := os.WriteFile(label, []byte(c.runID+"\n"), 0o600); err != nil {
		return fmt.Errorf("data directories: %w", err)
	}
	return nil
}

// dataMode is the mode of the nodes' data directories: 0700 for an image
// that runs as root (etcd wants its data private), 0777 for one with a
// USER of its own, which could not write a directory of root's.
func (c *Cluster) dataMode(ctx context.Context) os.FileMode {
	insp, err := c.d.ImageInspect(ctx, c.image)
	if err != nil || insp.Config == nil {
		return 0o700
	}
	switch u, _, _ := strings.Cut(insp.Config.User, ":"); u {
	case "", "root", "0":
		return 0o700
	}
	return 0o777
}

// Disk returns the node's disk, when the run asked for disks.
func (c *Cluster) Disk(node string) (runtime.Disk, bool) { return c.disks.Disk(node) }

// DataDir is the host directory that is the node's /data.
func (c *Cluster) DataDir(node string) string { return filepath.Join(c.dataRoot, node, "data") }

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
	t := "all" // the contract: 0 or less is all of it, where Docker's 0 is none
	if tail > 0 {
		t = fmt.Sprint(tail)
	}
	err := c.copyLogs(ctx, n, &sb, t)
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

// Close removes the containers (forcefully: they are the lab's own), the
// disks' mounts, the data directories and the network. It is safe to call
// more than once.
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
	// The mounts go once no container holds them, and the data with them.
	if err := c.disks.Unmount(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if _, err := removeDataRoot(c.dataRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if c.netID != "" {
		if err := c.d.NetworkRemove(ctx, c.netID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", c.netName, err))
		} else {
			c.netID = ""
		}
	}
	return errors.Join(errs...)
}

// removeDataRoot removes a run's data root after unmounting what a killed
// lab left mounted in it, and returns those mount points.
func removeDataRoot(root string) ([]string, error) {
	mounts, err := nodedisk.UnmountUnder(root)
	if err != nil {
		return mounts, fmt.Errorf("data directories: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return mounts, fmt.Errorf("data directories: %w", err)
	}
	return mounts, nil
}

// dataRoots lists the data roots of runID (of every run if empty): the
// directories named lab-docker-<run id> in the temp directory whose label
// file names the same run.
func dataRoots(runID string) ([]string, error) {
	pattern := DataRoot("*")
	if runID != "" {
		pattern = DataRoot(runID)
	}
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(p, labelFile))
		if err != nil {
			continue
		}
		if id := strings.TrimSpace(string(b)); id != "" && dataRootPrefix+id == filepath.Base(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Removed lists what Cleanup removed.
type Removed struct {
	Containers []string
	Networks   []string
	// Mounts are faultfs mounts a killed lab left; Dirs the data roots.
	Mounts []string
	Dirs   []string
}

// Cleanup removes every container and network labelled lab.run (or, when
// runID is not empty, labelled with that run), whatever state it is in,
// then the runs' data directories (see [DataRoot]) after unmounting the
// lab's faultfs mounts left in them. Nothing without the label is touched.
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
	roots, err := dataRoots(runID)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range roots {
		mounts, err := removeDataRoot(r)
		out.Mounts = append(out.Mounts, mounts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Dirs = append(out.Dirs, r)
	}
	return out, errors.Join(errs...)
}

func isNotFound(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "not found"))
}

var (
	_ runtime.Runtime = (*Cluster)(nil)
	_ runtime.Disks   = (*Cluster)(nil)
)

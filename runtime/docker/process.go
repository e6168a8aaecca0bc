package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/lab-chaos/lab/runtime"
)

// Kill sends signal (such as "SIGKILL") to the node's main process. The
// container stays, with its file system: Start brings the node back with
// whatever reached its disk. For SIGKILL, Kill returns once the container
// has stopped (as the local runtime's does), so that what comes next (a
// power loss of its disk) finds no process of the node.
func (c *Cluster) Kill(ctx context.Context, node, signal string) error {
	n, ok := c.Node(node)
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	if err := c.d.ContainerKill(ctx, n.ContainerID, signal); err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	switch strings.TrimPrefix(strings.ToUpper(signal), "SIG") {
	case "KILL", "9":
		err := runtime.WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
			running, state, err := c.Running(ctx, node)
			if err != nil {
				return err
			}
			if running {
				return fmt.Errorf("still %s", state)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("kill %s: %w", node, err)
		}
	}
	return nil
}

// Stop stops the node gracefully: SIGTERM, then SIGKILL after timeoutSec.
func (c *Cluster) Stop(ctx context.Context, node string, timeoutSec int) error {
	n, ok := c.Node(node)
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	if err := c.d.ContainerStop(ctx, n.ContainerID, container.StopOptions{Timeout: &timeoutSec}); err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	return nil
}

// StartNode starts a node that was killed or stopped. Starting a running
// node does nothing.
func (c *Cluster) StartNode(ctx context.Context, node string) error {
	n, ok := c.Node(node)
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	if running, _, err := c.Running(ctx, node); err == nil && running {
		return nil
	}
	if err := c.d.ContainerStart(ctx, n.ContainerID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	return nil
}

// Pause freezes every process of the node (the cgroup freezer): to its
// peers and clients it looks dead, and then it comes back with the beliefs
// it had, like a process after a long stop-the-world pause.
func (c *Cluster) Pause(ctx context.Context, node string) error {
	n, ok := c.Node(node)
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	if err := c.d.ContainerPause(ctx, n.ContainerID); err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	return nil
}

// Resume thaws a paused node. Resuming a node that is not paused does
// nothing.
func (c *Cluster) Resume(ctx context.Context, node string) error {
	n, ok := c.Node(node)
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	insp, err := c.d.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return fmt.Errorf("resume %s: %w", node, err)
	}
	if insp.State == nil || !insp.State.Paused {
		return nil
	}
	if err := c.d.ContainerUnpause(ctx, n.ContainerID); err != nil {
		return fmt.Errorf("resume %s: %w", node, err)
	}
	return nil
}

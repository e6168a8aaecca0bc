package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/lab-chaos/lab/rundir"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/systems"
)

// clusterRun is the run's nodes.
type clusterRun struct {
	rt     runtime.Runtime
	places []runtime.Placement
	peers  []systems.Peer
}

// start makes the runtime of the run, starts one node per name and waits
// until every node is ready. From the moment the runtime exists, its
// removal (after the logs are saved) is on the cleanup stack.
func (r *run) start(ctx context.Context) error {
	t := time.Now()
	rt, err := r.drv.New(ctx, r.out.RunID, r.sys.art, runtime.Options{Disks: r.disks, Seed: r.streams.disk})
	if err != nil {
		return err
	}
	r.cluster.rt = rt
	r.cleanups.push("remove the cluster", func(ctx context.Context) error {
		if !r.logsSaved {
			r.saveLogs(ctx)
		}
		if r.opt.Keep {
			r.say("cluster kept running: remove it with `lab cleanup --run %s`", r.out.RunID)
			if r.disks {
				r.say("the nodes' data directories are FUSE mounts served by this process: once it exits they answer every access with an error, until `lab cleanup` removes them")
			}
			return nil
		}
		return rt.Close(ctx)
	})
	names := r.sc.NodeNames()
	places := rt.Place(names)
	c := systems.Cluster{Nodes: places, Token: "lab-" + r.out.RunID}
	specs := make([]runtime.NodeSpec, len(places))
	for i, p := range places {
		specs[i] = r.sys.inst.Node(p, c)
	}
	if err := rt.Start(ctx, specs); err != nil {
		return err
	}
	r.cluster.places, r.cluster.peers = places, systems.Peers(places)
	r.say("started %d %s nodes on %s; waiting until ready", len(places), systems.NameOf(r.sys.kind, r.sys.inst), rt.Network())
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	r.out.Timings.Start = time.Since(t)
	r.say("cluster ready in %s", r.out.Timings.Start.Round(100*time.Millisecond))
	return nil
}

// waitReady waits for each node in turn; a node that exits ends the wait
// at once, with the end of its log.
func (r *run) waitReady(ctx context.Context) error {
	rt := r.cluster.rt
	for _, p := range r.cluster.peers {
		err := runtime.WaitFor(ctx, r.opt.ReadyTimeout, 250*time.Millisecond, func(ctx context.Context) error {
			if running, state, err := rt.Running(ctx, p.Name); err == nil && !running {
				return runtime.Final(fmt.Errorf("node %s exited (%s)", p.Name, state))
			}
			return r.sys.inst.Ready(ctx, p)
		})
		if err != nil {
			logs, _ := rt.Logs(context.WithoutCancel(ctx), p.Name, 15)
			return fmt.Errorf("node %s not ready: %w\nlast lines of its log:\n%s", p.Name, err, logs)
		}
	}
	return nil
}

// saveLogs writes every node's log into the run directory, once.
func (r *run) saveLogs(ctx context.Context) {
	r.logsSaved = true
	if err := r.cluster.rt.SaveLogs(ctx, r.dir.Path(rundir.Logs)); err != nil {
		r.opt.Log.Warn("saving node logs", "err", err)
	}
}

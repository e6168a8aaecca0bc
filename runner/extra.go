package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lab-chaos/lab/history"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/systems"
)

// subID numbers the per-node parts of one fault: packet and clock faults
// act on one node per ID, and a fault may hit several nodes.
func subID(id, i int) int { return id*1000 + i }

// wireExtraFaults adds the injectors of packet and clock faults to env and
// returns the teardown that heals whatever of theirs is still in effect.
func wireExtraFaults(env *nemesis.Env, sys systems.System, peers []systems.Peer, seed uint64, log *slog.Logger) func(context.Context) error {
	packets := nemesis.NewPackets(env.Nodes, log)
	packets.Seed = seed
	clocks := nemesis.NewClocks(env.Nodes, log)
	peer := func(name string) systems.Peer {
		for _, p := range peers {
			if p.Name == name {
				return p
			}
		}
		return systems.Peer{Name: name}
	}
	nodeClock, _ := sys.(systems.Clocks)

	env.Extra[nemesis.KindPacket] = func(ctx context.Context, sp nemesis.Spec, victims []string) (*history.Fault, func(context.Context) error, error) {
		f := &history.Fault{ID: sp.ID, Kind: nemesis.KindPacket, Shape: sp.Target, Groups: [][]string{victims}}
		var mechs []string
		var done []int
		heal := func(ctx context.Context) error {
			var errs []error
			for _, id := range done {
				errs = append(errs, packets.Heal(ctx, id))
			}
			return errors.Join(errs...)
		}
		for i, v := range victims {
			m, err := packets.Inject(ctx, subID(sp.ID, i), v, sp.Packet)
			if err != nil {
				return f, nil, errors.Join(err, heal(context.WithoutCancel(ctx)))
			}
			done = append(done, subID(sp.ID, i))
			mechs = append(mechs, v+" by "+m)
		}
		f.Detail = fmt.Sprintf("%s on what %s send to their peers (%s)", sp.Packet, strings.Join(victims, " "), strings.Join(mechs, "; "))
		return f, heal, nil
	}

	env.Extra[nemesis.KindClock] = func(ctx context.Context, sp nemesis.Spec, victims []string) (*history.Fault, func(context.Context) error, error) {
		f := &history.Fault{ID: sp.ID, Kind: nemesis.KindClock, Shape: sp.Target, Groups: [][]string{victims}, Offset: int64(sp.Offset)}
		// observe reads the node's own clock: the proof that the skew is
		// in effect, recorded beside what was asked for.
		observe := func(ctx context.Context, node string, want time.Duration) {
			obs := &history.Fault{ID: sp.ID, Kind: "clock", Groups: [][]string{{node}}, Offset: int64(want)}
			if nodeClock == nil {
				obs.Detail = fmt.Sprintf("%s: clock set to %+v; this system does not report its own clock", node, want)
			} else if t, err := nodeClock.NodeTime(ctx, peer(node)); err != nil {
				obs.Detail = fmt.Sprintf("%s: could not read its clock: %v", node, err)
			} else {
				seen := time.Until(t).Round(time.Second)
				obs.Offset = int64(seen)
				obs.Detail = fmt.Sprintf("%s's own clock reads %+v from the lab's (asked for %+v; the node reports whole seconds)", node, seen, want)
			}
			env.Rec.Append(history.Event{Time: env.Clock.Now(), Process: history.Nemesis, Type: history.Info, F: history.Observe, Fault: obs})
		}
		if sp.Period == 0 {
			var done []int
			heal := func(ctx context.Context) error {
				var errs []error
				for _, id := range done {
					errs = append(errs, clocks.Reset(ctx, id))
				}
				for _, v := range victims {
					observe(ctx, v, 0)
				}
				return errors.Join(errs...)
			}
			for i, v := range victims {
				if err := clocks.Bump(ctx, subID(sp.ID, i), v, sp.Offset); err != nil {
					return f, nil, errors.Join(err, heal(context.WithoutCancel(ctx)))
				}
				done = append(done, subID(sp.ID, i))
			}
			f.Detail = fmt.Sprintf("wall clock of %s moved %+v", strings.Join(victims, " "), sp.Offset)
			for _, v := range victims {
				observe(ctx, v, sp.Offset)
			}
			return f, heal, nil
		}
		// A strobe runs until healed: each flip is recorded.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		errc := make(chan error, len(victims))
		for i, v := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := clocks.Strobe(sctx, subID(sp.ID, i), v, sp.Offset, sp.Period, sp.End-sp.Start, func(off time.Duration) {
					env.Rec.Append(history.Event{Time: env.Clock.Now(), Process: history.Nemesis, Type: history.Info, F: history.Observe,
						Fault: &history.Fault{ID: sp.ID, Kind: "clock", Groups: [][]string{{v}}, Offset: int64(off), Detail: fmt.Sprintf("%s clock offset now %+v", v, off)}})
				})
				if err != nil {
					errc <- err
				}
			}()
		}
		f.Detail = fmt.Sprintf("wall clock of %s strobed between +0 and %+v every %s", strings.Join(victims, " "), sp.Offset, sp.Period)
		heal := func(ctx context.Context) error {
			cancel()
			wg.Wait()
			close(errc)
			var errs []error
			for err := range errc {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}
		return f, heal, nil
	}

	return func(ctx context.Context) error {
		return errors.Join(packets.HealAll(ctx), clocks.HealAll(ctx))
	}
}

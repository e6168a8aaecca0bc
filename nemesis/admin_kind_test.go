package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func adminEnv(fn func(ctx context.Context, op, node string, arg int64) (string, error)) *Env {
	names := []string{"n1", "n2", "n3"}
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4")}
	return &Env{Nodes: NewNodeSet(names, addrs, nil), Rand: rand.New(rand.NewPCG(1, 2)), Admin: fn}
}

func TestAdminAvailable(t *testing.T) {
	if err := (AdminKind{Op: KindDefrag}).Available(Powers{Admin: []string{"compact"}}, AdminParams{Target: Target{Target: TargetAll}}); err == nil || !strings.Contains(err.Error(), "offers only compact") {
		t.Errorf("defrag on a system that only compacts: %v", err)
	}
	if err := (AdminKind{Op: KindSnapshot}).Available(Powers{}, AdminParams{}); err == nil {
		t.Error("snapshot on a system with no maintenance: available")
	}
	if err := (AdminKind{Op: KindCompact}).Available(Powers{Admin: []string{"compact", "defrag"}}, AdminParams{Behind: 5}); err != nil {
		t.Errorf("compact on etcd-like powers: %v", err)
	}
}

// TestAdminInject: a defrag of every member runs on each, a compaction
// through the first member that answers, and a failure is an error with
// nothing claimed done.
func TestAdminInject(t *testing.T) {
	ctx := context.Background()
	var calls []string
	env := adminEnv(func(ctx context.Context, op, node string, arg int64) (string, error) {
		calls = append(calls, op+" "+node)
		if op == KindCompact && node == "n1" {
			return "", errors.New("n1 is down")
		}
		return op + " done on " + node, nil
	})
	f, heal, err := (AdminKind{Op: KindDefrag}).Start(env).Inject(ctx, Occurrence{ID: 1, Kind: KindDefrag, Params: AdminParams{Target: Target{Target: TargetAll}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []string{"defrag n1", "defrag n2", "defrag n3"}) {
		t.Errorf("defrag all called %v", calls)
	}
	if !strings.Contains(f.Detail, "defrag done on n3") || heal(ctx) != nil {
		t.Errorf("defrag fault %+v", f)
	}

	calls = nil
	f, _, err = (AdminKind{Op: KindCompact}).Start(env).Inject(ctx, Occurrence{ID: 2, Kind: KindCompact, Params: AdminParams{Behind: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []string{"compact n1", "compact n2"}) || f.Groups[0][0] != "n2" {
		t.Errorf("compact called %v, groups %v: want n1 refused, then n2", calls, f.Groups)
	}

	failing := adminEnv(func(ctx context.Context, op, node string, arg int64) (string, error) {
		return "", errors.New("refused")
	})
	if _, _, err := (AdminKind{Op: KindSnapshot}).Start(failing).Inject(ctx, Occurrence{ID: 3, Kind: KindSnapshot, Params: AdminParams{Target: Target{Target: TargetOne}}}); err == nil {
		t.Error("a refused snapshot was not an error")
	}
	if _, _, err := (AdminKind{Op: KindCompact}).Start(failing).Inject(ctx, Occurrence{ID: 4, Kind: KindCompact, Params: AdminParams{}}); err == nil || !strings.Contains(err.Error(), "no member could") {
		t.Errorf("a compaction no member could run: %v", err)
	}
}

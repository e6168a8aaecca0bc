package nemesis

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkPartition measures one cut and its heal between two namespaces:
// through netlink from the lab's own process (what the lab does), and
// through the nft command run inside the node's namespace with nsenter, as
// tools that shell out do (the node images are FROM scratch, so there is no
// iptables inside to `docker exec`; nsenter runs the host's nft in the
// node's namespace, which is the same work minus Docker's exec round trip).
func BenchmarkPartition(b *testing.B) {
	h := newTestHosts(b)
	ctx := context.Background()
	cut := CutBetween([][]string{{"a"}, {"b"}})
	b.Run("netlink cut", func(b *testing.B) {
		p := NewPartitioner(h)
		for i := 0; i < b.N; i++ {
			if err := p.Cut(ctx, 1, cut); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := p.Heal(ctx, 1); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("netlink heal", func(b *testing.B) {
		p := NewPartitioner(h)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := p.Cut(ctx, 1, cut); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := p.Heal(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("no nft command to compare with")
	}
	nft := func(node, script string) {
		for _, n := range []string{node} {
			cmd := exec.Command("nsenter", "-t", fmt.Sprint(h.pids[n]), "-n", "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("nft: %v: %s", err, out)
			}
		}
	}
	cutScript := func(peer string) string {
		return fmt.Sprintf(`table ip lab-bench {
  chain input { type filter hook input priority 0; policy accept; ip saddr %s drop; }
  chain output { type filter hook output priority 0; policy accept; ip daddr %s drop; }
}
`, peer, peer)
	}
	const healScript = "delete table ip lab-bench\n"
	b.Run("nft via nsenter cut", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			nft("a", cutScript(h.addrs["b"].String()))
			nft("b", cutScript(h.addrs["a"].String()))
			b.StopTimer()
			nft("a", healScript)
			nft("b", healScript)
			b.StartTimer()
		}
	})
	b.Run("nft via nsenter heal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			nft("a", cutScript(h.addrs["b"].String()))
			nft("b", cutScript(h.addrs["a"].String()))
			b.StartTimer()
			nft("a", healScript)
			nft("b", healScript)
		}
	})
}

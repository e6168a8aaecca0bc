package nemesis

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPacketFault times a packet fault from the call to "in effect"
// and from the heal to "healed", through the lab (netlink from the lab's
// process) and through the command lines most tools run in the node
// (ip netns exec <ns> nft ..., iptables ...), side by side, in the test's
// own namespaces. For loss, "in effect" is observed: the first datagram to
// the peer that the sender's write refuses (EPERM from the output chain),
// and "healed" the first it accepts again, watched from a goroutine while
// the heal runs (polling every 0.1ms), since the effect can end before the
// call returns: µs-heal-call/op is the call itself. For delay, "in effect" is the
// call returning with the queue bound and the rule read back (the lab) or
// the command exiting (the command line; it cannot read the queue, so it
// binds nothing), and "healed" the heal returning.
//
//	go test ./nemesis/ -run '^$' -bench PacketFault -benchtime 50x
func BenchmarkPacketFault(b *testing.B) {
	h := newTestHosts(b)
	u := newUDPPair(b, h, 7501)
	ctx := context.Background()
	peer := h.addrs["b"].String()
	nsExec := func(args ...string) func() error {
		full := append([]string{"ip", "netns", "exec", h.nsName["a"]}, args...)
		return func() error {
			out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %v: %s", full, err, out)
			}
			return nil
		}
	}
	nftScript := func(script string) func() error {
		return func() error {
			cmd := exec.Command("ip", "netns", "exec", h.nsName["a"], "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(script)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("nft -f: %v: %s", err, out)
			}
			return nil
		}
	}
	// dropped waits until a datagram to the peer is refused (want true)
	// or accepted (want false).
	dropped := func(want bool) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := u.send.Write([]byte("x"))
			if got := errors.Is(err, syscall.EPERM); got == want {
				return
			}
			if time.Now().After(deadline) {
				b.Errorf("loss never became %v", want)
				return
			}
			time.Sleep(100 * time.Microsecond) // lean: others share the CPUs
		}
	}
	p := NewPackets(h, nil)
	p.haveNetem = func() bool { return false }
	id := 100
	cases := []struct {
		name         string
		inject, heal func() error
		observe      bool
	}{
		{"loss/lab-netlink",
			func() error { id++; _, err := p.Inject(ctx, id, "a", PacketFault{Loss: 1}); return err },
			func() error { return p.Heal(ctx, id) }, true},
		{"loss/ip-netns-exec-nft",
			nftScript("table ip lab-bench {\n chain output {\n  type filter hook output priority filter; policy accept;\n" +
				"  ip daddr " + peer + " numgen random mod 10000 <= 9999 counter drop\n }\n}\n"),
			nsExec("nft", "delete", "table", "ip", "lab-bench"), true},
		{"delay/lab-netlink",
			func() error {
				id++
				_, err := p.Inject(ctx, id, "a", PacketFault{Delay: 50 * time.Millisecond})
				return err
			},
			func() error { return p.Heal(ctx, id) }, false},
		{"delay/ip-netns-exec-iptables",
			nsExec("iptables", "-A", "OUTPUT", "-d", peer, "-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"),
			nsExec("iptables", "-D", "OUTPUT", "-d", peer, "-j", "NFQUEUE", "--queue-num", "7", "--queue-bypass"), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var inject, heal, call time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := c.inject(); err != nil {
					b.Fatal(err)
				}
				if c.observe {
					dropped(true)
				}
				mid := time.Now()
				// Watch for the first accepted datagram while the heal runs:
				// the effect can end before the call returns.
				flowing := make(chan time.Time, 1)
				if c.observe {
					go func() {
						dropped(false)
						flowing <- time.Now()
					}()
				}
				if err := c.heal(); err != nil {
					b.Fatal(err)
				}
				returned := time.Now()
				if c.observe {
					returned = <-flowing
				}
				inject += mid.Sub(start)
				heal += returned.Sub(mid)
				call += time.Since(mid)
			}
			b.ReportMetric(float64(inject.Microseconds())/float64(b.N), "µs-to-effect/op")
			b.ReportMetric(float64(heal.Microseconds())/float64(b.N), "µs-to-healed/op")
			b.ReportMetric(float64(call.Microseconds())/float64(b.N), "µs-heal-call/op")
		})
	}
}

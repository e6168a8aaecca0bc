package nemesis_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lab-chaos/lab/internal/labtest"
	"github.com/lab-chaos/lab/internal/systest"
	"github.com/lab-chaos/lab/internal/vdso"
	"github.com/lab-chaos/lab/nemesis"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/runtime/docker"
	"github.com/lab-chaos/lab/systems"
	"github.com/lab-chaos/lab/systems/etcd"
)

// TestClockHelperChild is the process the clock tests skew: for each line on
// stdin it prints its wall clock (Unix nanoseconds) and its monotonic time
// since it started. LAB_CLOCK_SPIN goroutines read the clock all along.
func TestClockHelperChild(t *testing.T) {
	if os.Getenv("LAB_CLOCK_CHILD") == "" {
		t.Skip("the child of the clock tests")
	}
	start := time.Now()
	n, _ := strconv.Atoi(os.Getenv("LAB_CLOCK_SPIN"))
	for range n {
		go func() {
			var sink int64
			for {
				sink += time.Now().UnixNano() + time.Since(start).Nanoseconds()
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("%d %d\n", time.Now().UnixNano(), time.Since(start).Nanoseconds())
	}
	os.Exit(0)
}

// clockChild is a running TestClockHelperChild, and the one node of a
// runtime whose process it is.
type clockChild struct {
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Scanner
}

func (c *clockChild) Names() []string                          { return []string{"n1"} }
func (c *clockChild) Addr(string) (netip.Addr, bool)           { return netip.Addr{}, false }
func (c *clockChild) Pid(context.Context, string) (int, error) { return c.cmd.Process.Pid, nil }

func startClockChild(tb testing.TB, spinners int) *clockChild {
	tb.Helper()
	if err := vdso.Check(); err != nil {
		tb.Skipf("clock skew is not possible here: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClockHelperChild$")
	cmd.Env = append(os.Environ(), "LAB_CLOCK_CHILD=1", fmt.Sprintf("LAB_CLOCK_SPIN=%d", spinners))
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &clockChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	c.clock(tb)
	return c
}

// clock asks the child for its wall clock and its monotonic time.
func (c *clockChild) clock(tb testing.TB) (time.Time, time.Duration) {
	tb.Helper()
	if _, err := io.WriteString(c.in, "\n"); err != nil {
		tb.Fatalf("child: %v", err)
	}
	if !c.out.Scan() {
		tb.Fatalf("child did not answer (crashed?): %v", c.out.Err())
	}
	var w, m int64
	if _, err := fmt.Sscanf(c.out.Text(), "%d %d", &w, &m); err != nil {
		tb.Fatalf("child said %q: %v", c.out.Text(), err)
	}
	return time.Unix(0, w), time.Duration(m)
}

// skew is the child's wall clock minus ours, to the millisecond.
func (c *clockChild) skew(tb testing.TB) time.Duration {
	tb.Helper()
	before := time.Now()
	wall, _ := c.clock(tb)
	mid := before.Add(time.Since(before) / 2)
	return wall.Sub(mid).Round(time.Millisecond)
}

func near(got, want, tol time.Duration) bool { return got >= want-tol && got <= want+tol }

// TestClockBumpStrobeReset skews a child process through the nemesis and
// reads the child's own clock each time.
func TestClockBumpStrobeReset(t *testing.T) {
	labtest.Root(t)
	ctx := context.Background()
	c := startClockChild(t, 2)
	cl := nemesis.NewClocks(c, nil)
	t.Cleanup(func() { cl.HealAll(context.Background()) })
	_, mono0 := c.clock(t)
	host0 := time.Now()

	if err := cl.Bump(ctx, 1, "n1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := c.skew(t); !near(d, time.Hour, 5*time.Second) {
		t.Fatalf("after Bump(+1h) the child's clock is %v off", d)
	} else {
		t.Logf("after Bump(+1h) the child's own clock reads %v ahead of ours", d)
	}
	if got := cl.Offset("n1"); got != time.Hour {
		t.Errorf("Offset(n1) = %v, want 1h", got)
	}
	if err := cl.Bump(ctx, 2, "n1", time.Minute); err == nil {
		t.Error("a second Bump of a skewed node has no error")
	}
	if err := cl.Bump(ctx, 3, "n9", time.Minute); err == nil {
		t.Error("Bump of an unknown node has no error")
	}
	// The child keeps answering, and its monotonic clock is not skewed.
	_, prev := c.clock(t)
	for i := range 1000 {
		_, m := c.clock(t)
		if m < prev {
			t.Fatalf("question %d: the child's monotonic clock went back from %v to %v", i, prev, m)
		}
		prev = m
	}
	if got, want := prev-mono0, time.Since(host0); !near(got, want, time.Second) {
		t.Errorf("the child's monotonic clock advanced %v while ours advanced %v", got, want)
	}
	if err := cl.Reset(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if d := c.skew(t); !near(d, 0, 5*time.Second) {
		t.Fatalf("after Reset the child's clock is %v off", d)
	}
	if got := cl.Offset("n1"); got != 0 {
		t.Errorf("Offset(n1) after Reset = %v, want 0", got)
	}

	// Strobe between +10m and 0 every 100ms for 1s, sampling the child's
	// clock meanwhile: both values show, and each change was reported.
	var mu sync.Mutex
	var changes []time.Duration
	done := make(chan error, 1)
	go func() {
		done <- cl.Strobe(ctx, 4, "n1", 10*time.Minute, 100*time.Millisecond, time.Second, func(off time.Duration) {
			mu.Lock()
			changes = append(changes, off)
			mu.Unlock()
		})
	}()
	seen := map[time.Duration]int{}
	deadline := time.Now().Add(900 * time.Millisecond)
	for time.Now().Before(deadline) {
		d := c.skew(t)
		switch {
		case near(d, 10*time.Minute, 5*time.Second):
			seen[10*time.Minute]++
		case near(d, 0, 5*time.Second):
			seen[0]++
		default:
			t.Errorf("during the strobe the child's clock is %v off", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("strobe: child's clock read +10m %d times and +0 %d times; changes %v", seen[10*time.Minute], seen[0], changes)
	if seen[10*time.Minute] == 0 || seen[0] == 0 {
		t.Errorf("strobe: saw +10m %d times and 0 %d times, want both", seen[10*time.Minute], seen[0])
	}
	if n := len(changes); n < 5 || changes[0] != 10*time.Minute || changes[n-1] != 0 {
		t.Errorf("strobe changes = %v, want about 10 alternating, first +10m, last 0", changes)
	}
	if d := c.skew(t); !near(d, 0, 5*time.Second) {
		t.Fatalf("after the strobe the child's clock is %v off", d)
	}
	if ids := cl.Active(); len(ids) != 0 {
		t.Errorf("after the strobe, active = %v", ids)
	}

	// HealAll ends a strobe early.
	go func() { done <- cl.Strobe(ctx, 5, "n1", time.Hour, time.Hour, time.Hour, nil) }()
	for cl.Offset("n1") != time.Hour {
		time.Sleep(time.Millisecond)
	}
	if err := cl.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := c.skew(t); !near(d, 0, 5*time.Second) {
		t.Fatalf("after HealAll the child's clock is %v off", d)
	}
}

// BenchmarkClockBumpReset times a Bump from the call until the child's own
// clock shows the offset, and a Reset until it shows real time again: on an
// idle Go process (as a server between requests mostly is), and on one
// whose two goroutines read the clock without pause, the worst case, where
// a thread is nearly always inside the vDSO when stopped.
func BenchmarkClockBumpReset(b *testing.B) {
	labtest.Root(b)
	for _, spin := range []int{0, 2} {
		b.Run(fmt.Sprintf("spinners=%d", spin), func(b *testing.B) {
			ctx := context.Background()
			c := startClockChild(b, spin)
			cl := nemesis.NewClocks(c, nil)
			b.Cleanup(func() { cl.HealAll(context.Background()) })
			var bump, reset time.Duration
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				if err := cl.Bump(ctx, i, "n1", time.Hour); err != nil {
					b.Fatal(err)
				}
				for !near(c.skew(b), time.Hour, 5*time.Second) {
				}
				bump += time.Since(t0)
				t0 = time.Now()
				if err := cl.Reset(ctx, i); err != nil {
					b.Fatal(err)
				}
				for !near(c.skew(b), 0, 5*time.Second) {
				}
				reset += time.Since(t0)
			}
			b.ReportMetric(float64(bump.Microseconds())/float64(b.N), "bump-µs/op")
			b.ReportMetric(float64(reset.Microseconds())/float64(b.N), "reset-µs/op")
		})
	}
}

// etcdNode is one etcd node in Docker, as the nemesis sees it.
type etcdNode struct {
	cl   runtime.Runtime
	peer systems.Peer
}

func (n etcdNode) Names() []string                { return []string{n.peer.Name} }
func (n etcdNode) Addr(string) (netip.Addr, bool) { return n.peer.Addr, true }
func (n etcdNode) Pid(ctx context.Context, name string) (int, error) {
	return n.cl.Pid(ctx, name)
}

// etcdClock reads etcd's own wall clock: the Date header its HTTP server
// stamps on a response with time.Now(), to the second.
func etcdClock(ctx context.Context, addr netip.Addr) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+netip.AddrPortFrom(addr, 2379).String()+"/version", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	resp.Body.Close()
	return http.ParseTime(resp.Header.Get("Date"))
}

// etcdSkew is etcd's clock minus ours; Date has whole seconds, so it is
// within a second or two of the true skew.
func etcdSkew(t *testing.T, ctx context.Context, addr netip.Addr) time.Duration {
	t.Helper()
	before := time.Now()
	d, err := etcdClock(ctx, addr)
	if err != nil {
		t.Fatalf("etcd's clock: %v", err)
	}
	return d.Sub(before).Round(time.Second)
}

// TestClockSkewsEtcdInDocker skews a real etcd server in a container and
// reads its own clock from its HTTP Date header; etcd serves a write and a
// read while skewed.
func TestClockSkewsEtcdInDocker(t *testing.T) {
	labtest.Docker(t)
	labtest.Root(t)
	if err := vdso.Check(); err != nil {
		t.Skipf("clock skew is not possible here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst, err := etcd.System{}.Open(systems.Config{BuildOutput: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	sys := inst.(*etcd.Etcd)
	drv := &docker.Driver{}
	defer drv.Close()
	c := systest.Start(ctx, t, drv, sys, systest.RunID("test-clock"), "n1")
	cl, peer := c.RT, c.Peers[0]
	client, err := sys.RegisterClient(ctx, peer, systems.Linearizable)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	if s := etcdSkew(t, ctx, peer.Addr); !near(s, 0, 5*time.Second) {
		t.Fatalf("etcd's clock before the skew is %v off", s)
	}
	clocks := nemesis.NewClocks(etcdNode{cl, peer}, nil)
	t.Cleanup(func() { clocks.HealAll(context.Background()) })
	t0 := time.Now()
	if err := clocks.Bump(ctx, 1, "n1", time.Hour); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	s := etcdSkew(t, ctx, peer.Addr)
	t.Logf("Bump(+1h) took %v; etcd's own Date header then read %v ahead of ours", took, s)
	if !near(s, time.Hour, 5*time.Second) {
		t.Fatalf("after Bump(+1h) etcd's clock is %v off", s)
	}
	op, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if err := client.Write(op, "clock", "skewed"); err != nil {
		t.Fatalf("write while skewed: %v", err)
	}
	if v, _, err := client.Read(op, "clock"); err != nil || v != "skewed" {
		t.Fatalf("read while skewed = %q, %v; want %q", v, err, "skewed")
	}
	t0 = time.Now()
	if err := clocks.Reset(ctx, 1); err != nil {
		t.Fatal(err)
	}
	took = time.Since(t0)
	s = etcdSkew(t, ctx, peer.Addr)
	t.Logf("Reset took %v; etcd's Date header then read %v off ours", took, s)
	if !near(s, 0, 5*time.Second) {
		t.Fatalf("after Reset etcd's clock is %v off", s)
	}
}

package vdso

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVDSOLayout checks the patch as data against this machine's vDSO:
// every routine fits, the offset can be read back from a patched image, and
// a patched image is told apart from the kernel's and from a foreign one.
func TestVDSOLayout(t *testing.T) {
	ref, l, err := reference()
	if err != nil {
		t.Skipf("no patchable vDSO here: %v", err)
	}
	t.Logf("clock_gettime at %#x (%d bytes), trampoline at %#x (displacing %d bytes)", l.clockGettime.off, l.clockGettime.size, l.slack, l.displaced)
	for _, off := range []time.Duration{0, time.Hour, -time.Hour, 1500 * time.Millisecond, -1500 * time.Millisecond, -time.Nanosecond, maxOffset} {
		img, err := l.patched(ref, off)
		if err != nil {
			t.Fatalf("patched(%v): %v", off, err)
		}
		patched, got, err := l.state(ref, img)
		if err != nil || !patched || got != off {
			t.Errorf("state(patched(%v)) = %v, %v, %v; want true, %v, nil", off, patched, got, err, off)
		}
	}
	if patched, _, err := l.state(ref, ref); patched || err != nil {
		t.Errorf("state(kernel's image) = %v, %v; want false, nil", patched, err)
	}
	foreign, _ := l.patched(ref, time.Hour)
	foreign[l.clockGettime.off+l.clockGettime.size-1] ^= 0xff
	if _, _, err := l.state(ref, foreign); err == nil {
		t.Error("state(a foreign image) has no error")
	}
	if _, err := l.patched(ref, maxOffset+time.Second); err == nil {
		t.Error("patched(beyond maxOffset) has no error")
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in         time.Duration
		secs, nsec int64
	}{
		{time.Hour, 3600, 0},
		{1500 * time.Millisecond, 1, 5e8},
		{-1500 * time.Millisecond, -2, 5e8},
		{-time.Nanosecond, -1, 999999999},
	} {
		if s, n := split(tc.in); s != tc.secs || n != tc.nsec {
			t.Errorf("split(%v) = %d, %d; want %d, %d", tc.in, s, n, tc.secs, tc.nsec)
		}
	}
}

// The child: a Go program whose clock the test skews. For each line on
// stdin it prints its wall clock (Unix nanoseconds) and its monotonic time
// since it started. Extra goroutines read the clock in a loop all along, so
// that patches land while threads are busy in the vDSO.
func TestVDSOHelperChild(t *testing.T) {
	if os.Getenv("LAB_VDSO_CHILD") == "" {
		t.Skip("the child of the clock tests")
	}
	start := time.Now()
	n, _ := strconv.Atoi(os.Getenv("LAB_VDSO_SPIN"))
	for range n {
		go func() {
			var sink int64
			for {
				sink += time.Now().UnixNano() + time.Since(start).Nanoseconds()
				var tv unix.Timeval
				unix.Gettimeofday(&tv)
				sink += tv.Sec
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("%d %d\n", time.Now().UnixNano(), time.Since(start).Nanoseconds())
	}
	os.Exit(0)
}

// child is a running helper process.
type child struct {
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Scanner
}

func startChild(t testing.TB, spinners int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestVDSOHelperChild$")
	cmd.Env = append(os.Environ(), "LAB_VDSO_CHILD=1", fmt.Sprintf("LAB_VDSO_SPIN=%d", spinners))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	c.clock(t) // wait until it answers
	return c
}

// clock asks the child for its wall clock and its monotonic time since it
// started.
func (c *child) clock(t testing.TB) (wall time.Time, mono time.Duration) {
	t.Helper()
	if _, err := io.WriteString(c.in, "\n"); err != nil {
		t.Fatalf("child: %v", err)
	}
	if !c.out.Scan() {
		t.Fatalf("child did not answer (crashed?): %v, state %v", c.out.Err(), c.cmd.ProcessState)
	}
	var w, m int64
	if _, err := fmt.Sscanf(c.out.Text(), "%d %d", &w, &m); err != nil {
		t.Fatalf("child said %q: %v", c.out.Text(), err)
	}
	return time.Unix(0, w), time.Duration(m)
}

// skewOf is the child's wall clock minus ours, read between two of ours.
func (c *child) skewOf(t testing.TB) time.Duration {
	t.Helper()
	before := time.Now()
	wall, _ := c.clock(t)
	after := time.Now()
	mid := before.Add(after.Sub(before) / 2)
	return wall.Sub(mid).Round(time.Millisecond)
}

func skipIfNoPtrace(t *testing.T, err error) {
	if errors.Is(err, unix.EPERM) || (err != nil && strings.Contains(err.Error(), "CAP_SYS_PTRACE")) {
		t.Skipf("no ptrace here: %v", err)
	}
}

func near(got, want, tol time.Duration) bool { return got >= want-tol && got <= want+tol }

// TestVDSOSkewsAChild skews a child Go process and reads its own clock: +1h,
// then -90s, then back to zero by reset; its monotonic clock runs on
// meanwhile, and it survives a thousand questions and a hundred re-patches
// while two goroutines read the clock without pause.
func TestVDSOSkewsAChild(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("no patchable vDSO: %v", err)
	}
	ctx := context.Background()
	c := startChild(t, 2)
	pid := c.cmd.Process.Pid
	if d := c.skewOf(t); !near(d, 0, 5*time.Second) {
		t.Fatalf("child's clock before any skew is %v off", d)
	}
	_, mono0 := c.clock(t)
	host0 := time.Now()

	err := Set(ctx, pid, time.Hour)
	skipIfNoPtrace(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Reset(context.Background(), pid) })
	if d := c.skewOf(t); !near(d, time.Hour, 5*time.Second) {
		t.Fatalf("after Set(+1h) the child's clock is %v off, want +1h", d)
	} else {
		t.Logf("after Set(+1h): child's clock reads %v ahead", d)
	}
	if off, patched, err := Offset(pid); err != nil || !patched || off != time.Hour {
		t.Errorf("Offset = %v, %v, %v; want 1h, true, nil", off, patched, err)
	}
	if err := Set(ctx, pid, -90*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := c.skewOf(t); !near(d, -90*time.Second, 5*time.Second) {
		t.Fatalf("after Set(-90s) the child's clock is %v off", d)
	} else {
		t.Logf("after Set(-90s): child's clock reads %v", d)
	}
	// Strobe: flip a hundred times while the spinners run.
	for i := range 100 {
		off := time.Duration(i%2) * 10 * time.Minute
		if err := Set(ctx, pid, off); err != nil {
			t.Fatalf("flip %d: %v", i, err)
		}
		if i%10 == 0 {
			if d := c.skewOf(t); !near(d, off, 5*time.Second) {
				t.Fatalf("flip %d to %v: child's clock is %v off", i, off, d)
			}
		}
	}
	if err := Set(ctx, pid, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Monotonic time is not skewed: it advanced as ours did.
	_, mono1 := c.clock(t)
	if got, want := mono1-mono0, time.Since(host0); !near(got, want, time.Second) {
		t.Errorf("child's monotonic clock advanced %v while ours advanced %v", got, want)
	}
	for i := range 1000 {
		_, m := c.clock(t)
		if m < mono1 {
			t.Fatalf("question %d: monotonic went back from %v to %v", i, mono1, m)
		}
		mono1 = m
	}
	if err := Reset(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if d := c.skewOf(t); !near(d, 0, 5*time.Second) {
		t.Fatalf("after Reset the child's clock is %v off", d)
	}
	img, err := image(pid)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := reference()
	if string(img) != string(ref) {
		t.Fatal("after Reset the child's vDSO differs from the kernel's")
	}
	if _, patched, _ := Offset(pid); patched {
		t.Error("Offset says patched after Reset")
	}
}

// TestVDSOGoneProcess: a process that is gone is an error for Set, and
// Reset of a process never patched writes nothing.
func TestVDSOGoneProcess(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("no patchable vDSO: %v", err)
	}
	c := startChild(t, 0)
	if err := Reset(context.Background(), c.cmd.Process.Pid); err != nil {
		t.Errorf("Reset of an unpatched process: %v", err)
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
	if err := Set(context.Background(), c.cmd.Process.Pid, time.Hour); err == nil {
		t.Error("Set on a dead process has no error")
	}
}

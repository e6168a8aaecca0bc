//go:build linux && amd64

package vdso

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mapping is the [vdso] line of /proc/<pid>/maps.
func mapping(pid int) (start, end uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-")
		if !ok {
			break
		}
		if start, err = strconv.ParseUint(lo, 16, 64); err == nil {
			end, err = strconv.ParseUint(hi, 16, 64)
		}
		return start, end, err
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("pid %d has no [vdso] mapping", pid)
}

// readImage reads pid's vDSO through /proc/<pid>/mem.
func readImage(pid int, start, end uint64) ([]byte, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img := make([]byte, end-start)
	if _, err := f.ReadAt(img, int64(start)); err != nil {
		return nil, fmt.Errorf("read vdso of pid %d: %w", pid, err)
	}
	return img, nil
}

// tracee is one stopped thread, and the signals it stopped to receive,
// which every resume while the lab holds it suppresses: they are sent
// again after the detach.
type tracee struct {
	tid  int
	sigs uint64 // bit n: signal n
}

// world is every thread of a process, stopped by this tracer thread.
type world struct {
	pid     int
	threads []*tracee
	seen    map[int]bool
}

// stopTimeout bounds the wait for one thread to stop (a frozen cgroup keeps
// its threads from ever reaching a ptrace stop).
const stopTimeout = 2 * time.Second

// stopWorld seizes and interrupts every thread of pid, listing the threads
// again until no new one appeared: once all listed are stopped, none can
// clone. The caller's OS thread is the tracer, and must stay locked.
func stopWorld(pid int) (*world, error) {
	w := &world{pid: pid, seen: map[int]bool{}}
	for {
		n, err := w.stopNew()
		if err != nil {
			w.detach()
			return nil, err
		}
		if n == 0 {
			return w, nil
		}
	}
}

// stopNew seizes, interrupts and waits for the threads of the process not
// seen yet, and returns how many there were.
func (w *world) stopNew() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", w.pid))
	if err != nil {
		return 0, err
	}
	var fresh []*tracee
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || w.seen[tid] {
			continue
		}
		w.seen[tid] = true
		if err := unix.PtraceSeize(tid); err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue // exited meanwhile
			}
			if errors.Is(err, unix.EPERM) {
				return 0, fmt.Errorf("ptrace thread %d of pid %d: %w (traced by someone else, or no CAP_SYS_PTRACE)", tid, w.pid, err)
			}
			return 0, fmt.Errorf("ptrace thread %d of pid %d: %w", tid, w.pid, err)
		}
		t := &tracee{tid: tid}
		w.threads = append(w.threads, t)
		if err := unix.PtraceInterrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			return 0, fmt.Errorf("interrupt thread %d: %w", tid, err)
		}
		fresh = append(fresh, t)
	}
	for _, t := range fresh {
		if err := waitStop(t); err != nil {
			return 0, err
		}
	}
	w.prune()
	return len(fresh), nil
}

// waitStop waits for t's stop, polling so that a thread that never stops
// cannot hang the lab. It does not end with a context: a thread seized and
// interrupted must be waited for, or it could not be detached.
func waitStop(t *tracee) error { return waitFor(t, unix.WNOHANG) }

// waitStep waits for a single step to end, which it does at once.
func waitStep(t *tracee) error { return waitFor(t, 0) }

func waitFor(t *tracee, nohang int) error {
	deadline := time.Now().Add(stopTimeout)
	nap := 10 * time.Microsecond
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(t.tid, &ws, unix.WALL|nohang, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for thread %d: %w", t.tid, err)
		}
		if got == t.tid {
			switch {
			case ws.Exited() || ws.Signaled():
				t.tid = -1 // gone
				return nil
			case ws.Stopped():
				// A signal-delivery stop (no ptrace event in the status's
				// high bits, a signal other than a step's SIGTRAP): note the
				// signal, to send it again after the detach.
				if sig := ws.StopSignal(); uint32(ws)>>16 == 0 && sig != unix.SIGTRAP && sig > 0 && sig < 64 {
					t.sigs |= 1 << uint(sig)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d did not stop within %v (frozen?)", t.tid, stopTimeout)
		}
		time.Sleep(nap)
		nap = min(2*nap, time.Millisecond)
	}
}

func (w *world) prune() {
	live := w.threads[:0]
	for _, t := range w.threads {
		if t.tid > 0 {
			live = append(live, t)
		}
	}
	w.threads = live
}

// stepOut gets every thread whose instruction pointer lies in [lo, hi)
// out of that range, the others staying stopped. It first single-steps a
// few instructions: a thread caught at the return from a system call made
// inside the vDSO (where a thread that spends its time in a system-call
// routine is nearly always caught) leaves within a dozen. A thread in the
// kernel's own code may sit in a seqlock loop that a step is too slow to
// ever finish, as the clock moves on between steps: that one runs on for a
// moment and is interrupted again, until it is caught outside. It returns
// the id of a thread that would not leave.
func (w *world) stepOut(mem *os.File, lo, hi uint64) (int, error) {
	for _, t := range w.threads {
		for round := 0; t.tid > 0; round++ {
			pc, stack, err := t.within(mem, lo, hi)
			if err != nil {
				return t.tid, err
			}
			if !pc && !stack {
				break
			}
			if round == maxRounds {
				return t.tid, fmt.Errorf("thread %d still in the vDSO after %d rounds", t.tid, maxRounds)
			}
			// Steps help only a thread that has just made a system call.
			steps := 0
			if pc && afterSyscall(mem, t) {
				steps = maxSteps
			}
			for step := 0; pc && step < steps; step++ {
				if err := unix.PtraceSingleStep(t.tid); err != nil {
					return t.tid, fmt.Errorf("step thread %d: %w", t.tid, err)
				}
				if err := waitStep(t); err != nil {
					return t.tid, err
				}
				if pc, stack, err = t.within(mem, lo, hi); err != nil {
					return t.tid, err
				}
			}
			if (!pc && !stack) || t.tid < 0 {
				break
			}
			// Run on a moment and stop again. Signals it stopped for stay
			// held back (delivered, one would run a handler with the vDSO
			// in its interrupted context).
			if err := unix.PtraceCont(t.tid, 0); err != nil {
				return t.tid, fmt.Errorf("continue thread %d: %w", t.tid, err)
			}
			if round > 0 {
				time.Sleep(time.Duration(round) * time.Microsecond)
			}
			if err := unix.PtraceInterrupt(t.tid); err != nil && !errors.Is(err, unix.ESRCH) {
				return t.tid, fmt.Errorf("interrupt thread %d: %w", t.tid, err)
			}
			if err := waitStop(t); err != nil {
				return t.tid, err
			}
		}
	}
	w.prune()
	return 0, nil
}

// Bounds on getting one thread out of the vDSO: steps per round, rounds.
const (
	maxSteps  = 16
	maxRounds = 500
)

// within reports whether t's instruction pointer lies in [lo, hi), and
// whether the top of its stack holds a signal frame whose saved
// instruction pointer does: a signal interrupted the thread in the vDSO and
// its handler is running now, to return there, so the bytes must not
// change under it either. A frame is recognised by its sigcontext: the
// saved rip, then rflags (bit 1 always set), then cs, which is the user
// code segment 0x33. (Return addresses into the vDSO matter only while the
// thread runs vDSO code, which the instruction pointer shows.)
func (t *tracee) within(mem *os.File, lo, hi uint64) (pc, stack bool, err error) {
	if t.tid < 0 {
		return false, false, nil
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(t.tid, &regs); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return false, false, nil
		}
		return false, false, fmt.Errorf("registers of thread %d: %w", t.tid, err)
	}
	if regs.Rip >= lo && regs.Rip < hi {
		return true, false, nil
	}
	buf := make([]byte, stackScan)
	n, _ := mem.ReadAt(buf, int64(regs.Rsp&^7)) // short at the stack's top
	for i := 0; i+18 <= n; i += 8 {
		rip := binary.LittleEndian.Uint64(buf[i:])
		flags := binary.LittleEndian.Uint64(buf[i+8:])
		cs := binary.LittleEndian.Uint16(buf[i+16:])
		if rip >= lo && rip < hi && flags&2 != 0 && flags < 1<<22 && cs == userCS {
			return false, true, nil
		}
	}
	return false, false, nil
}

// userCS is the x86-64 user code segment selector a sigcontext saves.
const userCS = 0x33

// stackScan is how much of a stopped thread's stack, from its stack
// pointer up, is searched for a signal frame.
const stackScan = 16 << 10

// afterSyscall reports whether the instruction before t's instruction
// pointer is a syscall (0f 05).
func afterSyscall(mem *os.File, t *tracee) bool {
	var regs unix.PtraceRegs
	if unix.PtraceGetRegs(t.tid, &regs) != nil {
		return false
	}
	b := make([]byte, 2)
	if _, err := mem.ReadAt(b, int64(regs.Rip-2)); err != nil {
		return false
	}
	return b[0] == 0x0f && b[1] == 0x05
}

// detach lets every thread go, and sends again the signals they stopped
// for. A thread not yet stopped cannot be detached: it is waited for first.
func (w *world) detach() {
	for _, t := range w.threads {
		for try := 0; t.tid > 0 && try < 2; try++ {
			err := unix.PtraceDetach(t.tid)
			if err != unix.ESRCH || waitStop(t) != nil {
				break
			}
		}
		for sig := 1; sig < 64 && t.tid > 0; sig++ {
			if t.sigs&(1<<uint(sig)) != 0 {
				unix.Tgkill(w.pid, t.tid, unix.Signal(sig))
			}
		}
	}
	w.threads = nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// onTracerThread runs f on a fresh OS thread that is never handed back to
// the Go scheduler: ptrace ties a tracee to the thread that attached, and
// when f returns the thread exits, which detaches anything f left attached
// (even after a panic in f).
func onTracerThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with the goroutine.
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("vdso: panic: %v", p)
			}
			done <- err
		}()
		err = f()
	}()
	return <-done
}

// maxTries bounds the attempts to stop every thread outside the vDSO.
const maxTries = 20

// rewrite makes pid's vDSO read want(current image) with every thread
// stopped and none of them executing vDSO code, then checks the bytes by
// reading them back. want returns nil to write nothing.
func rewrite(ctx context.Context, pid int, want func(img []byte) ([]byte, error)) error {
	start, end, err := mapping(pid)
	if err != nil {
		return err
	}
	// A look without stopping anything first: nothing to do, nothing stopped.
	img, err := readImage(pid, start, end)
	if err != nil {
		return err
	}
	next, err := want(img)
	if err != nil || next == nil {
		return err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return err
	}
	defer mem.Close()
	return onTracerThread(func() error {
		for try := 0; ; try++ {
			w, err := stopWorld(pid)
			if errors.Is(err, unix.EPERM) && try < maxTries {
				// Perhaps still traced by the thread of the last rewrite,
				// which the kernel detaches as it exits: try again.
				if err := sleep(ctx, time.Millisecond); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			tid, err := w.stepOut(mem, start, end)
			if err != nil {
				w.detach()
				if try >= maxTries || ctx.Err() != nil {
					return fmt.Errorf("pid %d: thread %d: %w", pid, tid, err)
				}
				if err := sleep(ctx, time.Duration(100+try*100)*time.Microsecond); err != nil {
					return err
				}
				continue
			}
			// A thread let run by stepOut may have cloned: stop the new ones
			// and get them out too, or start over.
			if n, err := w.stopNew(); err != nil || n > 0 {
				w.detach()
				if err != nil {
					return err
				}
				if try >= maxTries {
					return fmt.Errorf("pid %d: new threads at each of %d tries", pid, maxTries)
				}
				continue
			}
			err = writeStopped(pid, start, end, want)
			w.detach()
			return err
		}
	})
}

// writeStopped reads the image again (it may have changed before the
// stop), writes the bytes that differ, and reads them back.
func writeStopped(pid int, start, end uint64, want func([]byte) ([]byte, error)) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	img := make([]byte, end-start)
	if _, err := f.ReadAt(img, int64(start)); err != nil {
		return fmt.Errorf("read vdso: %w", err)
	}
	next, err := want(img)
	if err != nil || next == nil {
		return err
	}
	for i := 0; i < len(img); {
		if img[i] == next[i] {
			i++
			continue
		}
		j := i
		for j < len(img) && img[j] != next[j] {
			j++
		}
		// Writes to /proc/<pid>/mem go to the process's private copy of
		// the page (copy on write), as ptrace's POKETEXT does.
		if _, err := f.WriteAt(next[i:j], int64(start)+int64(i)); err != nil {
			return fmt.Errorf("write vdso at +%#x: %w", i, err)
		}
		i = j
	}
	back := make([]byte, len(img))
	if _, err := f.ReadAt(back, int64(start)); err != nil {
		return fmt.Errorf("read back vdso: %w", err)
	}
	for i := range back {
		if back[i] != next[i] {
			return fmt.Errorf("vdso byte +%#x reads %#x after writing %#x", i, back[i], next[i])
		}
	}
	return nil
}

// Package vdso skews the wall clock of one running process, and only that
// process, by rewriting the time functions of its vDSO. The host's clock,
// and every other process's, is untouched.
//
// # Why the vDSO
//
// Go programs such as etcd read the time without libc: the runtime calls
// the kernel's vDSO (a small shared object the kernel maps into every
// process) directly, so libfaketime cannot reach them; clock_settime moves
// the host's clock, containers share it, and time namespaces offset only
// the monotonic and boot clocks, never CLOCK_REALTIME. What every reader of
// the time does call is the vDSO's __vdso_clock_gettime. Patch that, in one
// process's private copy, and that process alone sees another time.
//
// # The patch
//
// [Set] finds the [vdso] mapping in /proc/<pid>/maps, reads it through
// /proc/<pid>/mem and parses it as ELF for the functions' addresses. The
// image is the same in every 64-bit process on the host, so this process's
// own vDSO is the reference: what the target held before the lab touched it,
// what [Reset] writes back, and what tells a patch of the lab's (which
// [Offset] reads back) from anything else, which the lab refuses to touch.
//
//   - clock_gettime gets a trampoline in the zeros after the ELF image's
//     last byte, inside the same mapping: for CLOCK_REALTIME,
//     CLOCK_REALTIME_COARSE and CLOCK_TAI it calls the original function
//     and adds the offset to the timespec (seconds and nanoseconds as two
//     64-bit immediates, normalised); every other clock jumps straight to
//     the original code. The function's entry becomes a jump to the
//     trampoline; the instructions it covered (a prologue of pushes and
//     mov rbp,rsp, decoded by a table of position-independent encodings)
//     run in the trampoline before it jumps back. The fast path stays fast,
//     for the wall clock and the monotonic clock alike.
//   - Where the prologue is not one the lab knows, or there is no room,
//     clock_gettime is replaced in place by a routine that makes the system
//     call and adds the offset: correct for every clock, but each read of
//     the time becomes a system call.
//   - gettimeofday and time are replaced in place by the same kind of
//     routine (time adds whole seconds).
//
// The monotonic clocks (CLOCK_MONOTONIC, _RAW, _COARSE, CLOCK_BOOTTIME) are
// left alone: Go's timers, sleeps, timeouts and etcd's leases and elections
// run on them, so they keep working at the real rate. What the target sees is
// a wall clock that is wrong by the offset, as after a bad NTP step, not one
// that runs fast or slow. Changing the offset rewrites only the immediates.
//
// # Safety
//
// No thread may execute the bytes being written. The lab's thread seizes
// every thread of the target with PTRACE_SEIZE and stops it with
// PTRACE_INTERRUPT, listing /proc/<pid>/task again until no new thread
// appears (a stopped thread cannot clone). A thread whose instruction
// pointer lies anywhere in the vDSO, or whose stack holds a vDSO address
// near its top (the frame of a signal handler that interrupted vDSO code
// and will return into it), is moved out: single-stepped a few
// instructions when it has just made a system call from the vDSO, else
// let run on alone for a moment and interrupted again (a single-stepped
// thread inside the kernel's seqlock loop never finishes it). Signals a
// thread stopped for are held back while the lab holds it, so no handler
// starts over vDSO code, and sent again after the detach. Threads started
// meanwhile are stopped too.
// Only then are the differing bytes written through /proc/<pid>/mem, which,
// like ptrace's POKETEXT, writes the process's private copy-on-write page;
// they are read back and compared, and every thread is detached. A
// stopped thread has entered the
// kernel, so it resumes with none of the old bytes in flight. The ptrace
// calls run
// on an OS thread of their own that is never handed back to the Go
// scheduler: when it exits, the kernel detaches whatever was still attached,
// even after a panic.
//
// # Limits
//
//   - linux/amd64 only, 64-bit targets only; the lab refuses other images.
//   - A signal handler that interrupted vDSO code is found by a vDSO
//     address within 8 KiB above its stack pointer; a handler deeper than
//     that would be missed. Stale words that look like vDSO addresses cost
//     retries. A thread that spends nearly all its time in the vDSO (a
//     loop reading the clock) takes many retries: tenths of a second.
//   - A jump from inside clock_gettime back into its first instructions
//     would break the trampoline; the kernel's code has none (the prologue
//     is never a jump target), and the lab checks only the prologue's form.
//   - The patch lives in the process's memory: a restarted process gets a
//     fresh vDSO and the real time, and so does a program after exec. A
//     program that cached the time (a timestamp taken before the skew)
//     keeps its old value; a program that measures intervals with the wall
//     clock sees a jump of the offset at each change.
//   - Another tracer (a debugger) on the target makes the lab fail with
//     EPERM; a target frozen by the cgroup freezer cannot be stopped and the
//     lab gives up after two seconds per thread.
package vdso

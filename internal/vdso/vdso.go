package vdso

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// reference is the kernel's vDSO as this process has it, never patched:
// the kernel maps the same image into every 64-bit process, so it is what
// any target's vDSO held before the lab touched it.
var loadReference = sync.OnceValues(func() (kernelImage, error) {
	ref, err := selfImage()
	if err != nil {
		return kernelImage{}, err
	}
	l, err := parse(ref)
	return kernelImage{ref, l}, err
})

type kernelImage struct {
	ref    []byte
	layout layout
}

func reference() ([]byte, layout, error) {
	k, err := loadReference()
	return k.ref, k.layout, err
}

// Check reports whether the lab can skew clocks on this machine: the
// architecture is supported and the kernel's vDSO has the functions.
func Check() error {
	_, _, err := reference()
	return err
}

// Trampoline reports whether clock_gettime keeps its fast path when
// patched (the trampoline fits), rather than becoming a system call.
func Trampoline() bool {
	_, l, err := reference()
	return err == nil && l.slack >= 0
}

// Set makes the wall clocks of process pid (CLOCK_REALTIME,
// CLOCK_REALTIME_COARSE, CLOCK_TAI, gettimeofday and time) read real time
// plus offset from now on. The monotonic clocks are left alone. Setting
// again changes the offset; [Reset] undoes it.
func Set(ctx context.Context, pid int, offset time.Duration) error {
	ref, l, err := reference()
	if err != nil {
		return err
	}
	want, err := l.patched(ref, offset)
	if err != nil {
		return err
	}
	err = rewrite(ctx, pid, func(img []byte) ([]byte, error) {
		patched, cur, err := l.state(ref, img)
		if err != nil {
			return nil, err
		}
		if patched && cur == offset {
			return nil, nil
		}
		return want, nil
	})
	if err != nil {
		return fmt.Errorf("skew pid %d by %v: %w", pid, offset, err)
	}
	return nil
}

// Reset writes the kernel's original bytes back into pid's vDSO. Resetting
// a process the lab never patched stops nothing and writes nothing.
func Reset(ctx context.Context, pid int) error {
	ref, l, err := reference()
	if err != nil {
		return err
	}
	err = rewrite(ctx, pid, func(img []byte) ([]byte, error) {
		patched, _, err := l.state(ref, img)
		if err != nil || !patched {
			return nil, err
		}
		return ref, nil
	})
	if err != nil {
		return fmt.Errorf("reset clock of pid %d: %w", pid, err)
	}
	return nil
}

// Offset reads the offset in effect in pid's vDSO; patched is false when
// the vDSO is the kernel's own.
func Offset(pid int) (offset time.Duration, patched bool, err error) {
	ref, l, err := reference()
	if err != nil {
		return 0, false, err
	}
	img, err := image(pid)
	if err != nil {
		return 0, false, err
	}
	patched, offset, err = l.state(ref, img)
	return offset, patched, err
}

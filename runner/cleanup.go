package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// cleanups is the run's one cleanup stack: each phase pushes the undo of
// what it made as soon as it made it, and Run pops them all, last first,
// on every way out. Each step gets a context of its own that the run's
// cancellation cannot end (Ctrl-C must not stop the heal), bounded by
// timeout so a stuck step cannot hold the others hostage.
type cleanups struct {
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	steps []cleanupStep
}

type cleanupStep struct {
	name string
	fn   func(context.Context) error
}

// push adds a step; it runs before every step pushed earlier.
func (c *cleanups) push(name string, fn func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps = append(c.steps, cleanupStep{name, fn})
}

// run runs every step, last pushed first, going on past errors and
// panics, and empties the stack.
func (c *cleanups) run(ctx context.Context) error {
	c.mu.Lock()
	steps := c.steps
	c.steps = nil
	c.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if err := c.step(ctx, s); err != nil {
			c.log.Warn("cleanup", "step", s.name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *cleanups) step(ctx context.Context, s cleanupStep) (err error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return s.fn(sctx)
}

// guarded runs fn and turns a panic into an error, so that a panic in a
// goroutine of the run (a client, the nemesis) ends the run through the
// cleanup stack instead of killing the process with faults in effect.
func guarded(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s panicked: %v\n%s", what, p, debug.Stack())
		}
	}()
	return fn()
}

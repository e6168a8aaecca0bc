package history

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Clock gives times in nanoseconds since a fixed base, read from Go's
// monotonic clock, so stepping the wall clock never reorders a history.
type Clock struct{ base time.Time }

// NewClock starts a clock at zero now.
func NewClock() *Clock { return &Clock{base: time.Now()} }

// Now is the time since the clock started, in nanoseconds.
func (c *Clock) Now() int64 { return int64(time.Since(c.base)) }

// Base is the wall-clock instant the clock started at (for reports only).
func (c *Clock) Base() time.Time { return c.base }

// Writer appends events to a JSON-lines file as they happen. Each event is
// one write(2) of a whole line, so a killed process leaves only whole lines
// behind, and the file is synced once a second so that even a machine crash
// loses little. A Writer is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	n      int
	err    error
	dirty  bool
	stop   chan struct{}
	done   chan struct{}
	onSave func(Event)
}

// Create opens path for writing (truncating it) and starts the background
// sync. Close must be called.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	w := &Writer{f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go w.syncLoop()
	return w, nil
}

// OnAppend registers a function called (under the writer's lock, so in
// history order) with every event appended; used for live progress.
func (w *Writer) OnAppend(fn func(Event)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onSave = fn
}

func (w *Writer) syncLoop() {
	defer close(w.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if w.dirty && w.err == nil {
				w.dirty = false
				if err := w.f.Sync(); err != nil {
					w.err = err
				}
			}
			w.mu.Unlock()
		}
	}
}

// Append writes one event. The first write error is kept and returned by
// this and every later call, and by Close.
func (w *Writer) Append(e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, err := w.f.Write(line); err != nil {
		w.err = fmt.Errorf("write history: %w", err)
		return w.err
	}
	w.n++
	w.dirty = true
	if w.onSave != nil {
		w.onSave(e)
	}
	return nil
}

// Count is the number of events written so far.
func (w *Writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	if serr := w.f.Sync(); err == nil && serr != nil {
		err = serr
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	w.err = fmt.Errorf("history writer closed")
	return err
}

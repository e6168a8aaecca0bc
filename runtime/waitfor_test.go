package runtime

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitForStopsAtAFinalError(t *testing.T) {
	exited := errors.New("node n1 exited")
	calls := 0
	err := WaitFor(context.Background(), time.Minute, time.Millisecond, func(context.Context) error {
		calls++
		return Final(exited)
	})
	if !errors.Is(err, exited) || calls != 1 {
		t.Errorf("WaitFor = %v after %d calls, want %v after 1", err, calls, exited)
	}
}

func TestWaitForRetriesOtherErrors(t *testing.T) {
	notYet := errors.New("no leader yet")
	calls := 0
	err := WaitFor(context.Background(), 50*time.Millisecond, time.Millisecond, func(context.Context) error {
		calls++
		return notYet
	})
	if !errors.Is(err, notYet) || calls < 2 {
		t.Errorf("WaitFor = %v after %d calls, want %v after several", err, calls, notYet)
	}
	calls = 0
	err = WaitFor(context.Background(), time.Minute, time.Millisecond, func(context.Context) error {
		if calls++; calls < 3 {
			return notYet
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("WaitFor = %v after %d calls, want nil after 3", err, calls)
	}
}

package probe

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// InThrowawayNS makes a fresh network namespace, runs f with a handle to it,
// and lets the namespace go: when f returns and the handle is closed, no
// process and no file holds it, and the kernel removes it with every link and
// rule f made there. The calling thread never stays in the new namespace:
// the namespace is made on a locked thread that switches back to the
// original at once, and a thread that cannot switch back is left locked, so
// it dies with its goroutine instead of serving others in the wrong
// namespace.
func InThrowawayNS(f func(ns netns.NsHandle) error) error {
	type made struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- made{err: fmt.Errorf("current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		ns, newErr := netns.New()
		if err := netns.Set(orig); err != nil {
			if newErr == nil {
				ns.Close()
			}
			ch <- made{err: fmt.Errorf("back to the original network namespace: %w", err)}
			return // the thread stays locked and exits with this goroutine
		}
		runtime.UnlockOSThread()
		if newErr != nil {
			ch <- made{err: fmt.Errorf("new network namespace: %w", newErr)}
			return
		}
		ch <- made{ns: ns}
	}()
	m := <-ch
	if m.err != nil {
		return m.err
	}
	defer m.ns.Close()
	return f(m.ns)
}

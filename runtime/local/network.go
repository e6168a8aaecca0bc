package local

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces are bind-mounted, as by `ip netns add`.
const netnsDir = "/var/run/netns"

// subnetCandidates is how many /24s of 10.214.0.0/16 New tries.
const subnetCandidates = 64

// shortID is six hex digits of a hash of the run id: link names must fit
// in IFNAMSIZ (15 characters), and run ids do not.
func shortID(runID string) string {
	h := fnv.New32a()
	h.Write([]byte(runID))
	return fmt.Sprintf("%06x", h.Sum32()&0xffffff)
}

// Link and namespace names. The host sees only hostLink.
func hostLink(s string) string         { return "lab" + s + "gw" }
func hubUplink(s string) string        { return "lab" + s + "up" }
func bridgeName(s string) string       { return "lab" + s + "br" }
func hubPort(s string, i int) string   { return fmt.Sprintf("lab%sn%d", s, i) }
func nodeLink(s string, i int) string  { return fmt.Sprintf("lab%sp%d", s, i) }
func hubNS(runID string) string        { return "lab-" + runID + "-hub" }
func nodeNS(runID, node string) string { return "lab-" + runID + "-" + node }

// makeNamedNS creates a network namespace bind-mounted at netnsDir/name.
// Creating one moves the calling thread into it, so it is done on a locked
// thread that moves back before it is unlocked. If it cannot move back,
// the thread stays locked and goes with its goroutine: no other goroutine
// ever runs in the new namespace by accident.
func makeNamedNS(name string) error {
	if err := sharedNetnsDir(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	return nil
}

// sharedNetnsDir makes netnsDir a shared mount point, as `ip netns add`
// does: the mount namespaces that `ip netns exec` makes for the nodes are
// its slaves, so removing a namespace's bind mount here removes their
// copies too, and the namespace does not outlive its last process.
func sharedNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: make it one, on itself.
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on itself: %w", netnsDir, err)
		}
		err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// deleteNamedNS removes a named namespace; one that is not there is no
// error. The namespace itself goes once no process is left in it.
func deleteNamedNS(name string) (bool, error) {
	p := filepath.Join(netnsDir, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("remove %s: %w", p, err)
	}
	return true, nil
}

// namedNSExists reports whether netnsDir/name is there.
func namedNSExists(name string) bool {
	_, err := os.Lstat(filepath.Join(netnsDir, name))
	return err == nil
}

// inNS runs f with a netlink handle in the named namespace ("" for the
// lab's own).
func inNS(name string, f func(h *netlink.Handle, ns netns.NsHandle) error) error {
	var ns netns.NsHandle
	var err error
	if name == "" {
		// The namespace of this thread, which is the lab's: every thread
		// that is not locked is in it (not /proc/self, the main thread's,
		// which a locked goroutine may have taken elsewhere).
		runtime.LockOSThread()
		ns, err = netns.Get()
		runtime.UnlockOSThread()
	} else {
		ns, err = netns.GetFromName(name)
	}
	if err != nil {
		return fmt.Errorf("open network namespace %q: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %q: %w", name, err)
	}
	defer h.Close()
	return f(h, ns)
}

// freeSubnet returns the first 10.214.X.0/24, starting from an X derived
// from the run id, that overlaps no route of the host and is not in taken.
func freeSubnet(runID string, taken map[netip.Prefix]bool) (netip.Prefix, error) {
	var routes []netlink.Route
	err := inNS("", func(h *netlink.Handle, _ netns.NsHandle) error {
		var err error
		routes, err = h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list host routes: %w", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue // a default route overlaps everything, and takes nothing
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	h := fnv.New32a()
	h.Write([]byte(runID))
	start := int(h.Sum32() % 256)
next:
	for i := 0; i < subnetCandidates; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, byte((start + i) % 256), 0}), 24)
		if taken[p] {
			continue
		}
		for _, u := range used {
			if u.Overlaps(p) {
				continue next
			}
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in 10.214.0.0/16 after %d tries: the host's routes or other local runs take them", subnetCandidates)
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// makeHub creates the hub namespace with its bridge, and the host link
// into it with the gateway address.
func makeHub(runID, s string, prefix netip.Prefix) error {
	if err := makeNamedNS(hubNS(runID)); err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName(s)}}
	err := inNS(hubNS(runID), func(h *netlink.Handle, hub netns.NsHandle) error {
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s: %w", br.Name, err)
		}
		if err := h.LinkSetUp(br); err != nil {
			return fmt.Errorf("bridge %s up: %w", br.Name, err)
		}
		// The host end of the uplink is made in the host, its peer
		// directly in the hub.
		return inNS("", func(hh *netlink.Handle, _ netns.NsHandle) error {
			gw := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostLink(s)}, PeerName: hubUplink(s), PeerNamespace: netlink.NsFd(hub)}
			if err := hh.LinkAdd(gw); err != nil {
				return fmt.Errorf("add host link %s: %w", gw.Name, err)
			}
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: prefix.Addr().Next().AsSlice(), Mask: net.CIDRMask(24, 32)}}
			if err := hh.AddrAdd(gw, addr); err != nil {
				return fmt.Errorf("address %s on %s: %w", addr.IPNet, gw.Name, err)
			}
			if err := hh.LinkSetUp(gw); err != nil {
				return fmt.Errorf("host link %s up: %w", gw.Name, err)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return inNS(hubNS(runID), func(h *netlink.Handle, _ netns.NsHandle) error {
		return attach(h, hubUplink(s), br.Name)
	})
}

// attach puts a hub link on the bridge and brings it up.
func attach(h *netlink.Handle, link, bridge string) error {
	l, err := h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("find %s: %w", link, err)
	}
	br, err := h.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", bridge, err)
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("%s on bridge %s: %w", link, bridge, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", link, err)
	}
	return nil
}

// makeNodeNS creates node i's namespace and its veth to the hub bridge,
// with the node's address on the node's end and loopback up.
func makeNodeNS(runID, s string, i int, node string, addr netip.Addr) error {
	name := nodeNS(runID, node)
	if err := makeNamedNS(name); err != nil {
		return err
	}
	return inNS(name, func(nh *netlink.Handle, nodeNs netns.NsHandle) error {
		err := inNS(hubNS(runID), func(h *netlink.Handle, _ netns.NsHandle) error {
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hubPort(s, i)}, PeerName: nodeLink(s, i), PeerNamespace: netlink.NsFd(nodeNs)}
			if err := h.LinkAdd(v); err != nil {
				return fmt.Errorf("add link %s: %w", v.Name, err)
			}
			return attach(h, v.Name, bridgeName(s))
		})
		if err != nil {
			return err
		}
		lo, err := nh.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := nh.LinkSetUp(lo); err != nil {
			return fmt.Errorf("lo up in %s: %w", name, err)
		}
		l, err := nh.LinkByName(nodeLink(s, i))
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", nodeLink(s, i), name, err)
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}
		if err := nh.AddrAdd(l, a); err != nil {
			return fmt.Errorf("address %s in %s: %w", a.IPNet, name, err)
		}
		if err := nh.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s up in %s: %w", l.Attrs().Name, name, err)
		}
		return nil
	})
}

// deleteHostLink removes the host link (its peer in the hub goes with it,
// and the /24's route with its address). A missing link is no error.
func deleteHostLink(name string) (bool, error) {
	var deleted bool
	err := inNS("", func(h *netlink.Handle, _ netns.NsHandle) error {
		l, err := h.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return err
		}
		if _, ok := l.(*netlink.Veth); !ok {
			return fmt.Errorf("link %s is a %s, not the lab's veth: left alone", name, l.Type())
		}
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("delete link %s: %w", name, err)
		}
		deleted = true
		return nil
	})
	return deleted, err
}

package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lab-chaos/lab/internal/faultfs"
	"github.com/lab-chaos/lab/internal/vdso"
)

// Check is the answer to one question about the machine.
type Check struct {
	// Name is short and stable: "docker", "netem", "nftables", ...
	Name string
	// OK is whether the feature is there and works.
	OK bool
	// Detail is a version, or what was missing or failed.
	Detail string
	// Means says in one line what the answer means for the lab's faults.
	Means string
}

func (c Check) String() string {
	yes := "no"
	if c.OK {
		yes = "yes"
	}
	return fmt.Sprintf("%s: %s (%s): %s", c.Name, yes, c.Detail, c.Means)
}

// answer builds a Check from err: nil is yes.
func answer(name string, err error, okDetail, yesMeans, noMeans string) Check {
	if err != nil {
		return Check{Name: name, Detail: err.Error(), Means: noMeans}
	}
	return Check{Name: name, OK: true, Detail: okDetail, Means: yesMeans}
}

// All runs every check, in the order lab doctor prints them.
func All(ctx context.Context) []Check {
	return []Check{
		Docker(ctx), Root(), NFTables(), Numgen(), NFQueueTarget(), NFQueue(),
		Netem(), TBF(), HTB(), Ptrace(), VDSO(), Freezer(), TimeNS(), FUSE(ctx),
	}
}

// FUSE mounts the lab's FUSE layer over a scratch directory, writes,
// syncs and unmounts (faultfs.Probe): what disk faults need.
func FUSE(ctx context.Context) Check {
	return answer("fuse", faultfs.Probe(ctx), "a faultfs mount wrote, synced and unmounted",
		"disk faults work: power-loss, corrupt, truncate, snapshot-rollback, disk-errors, disk-slow (nodes' data directories on the lab's FUSE layer)",
		"no disk faults: a scenario with one is refused before it starts")
}

// Docker asks the engine for its version over its API socket (DOCKER_HOST,
// or /var/run/docker.sock): a real round trip, not a configured string.
func Docker(ctx context.Context) Check {
	v, err := dockerVersion(ctx)
	return answer("docker", err, "engine "+v,
		"the Docker runtime works: runs, kills, pauses (docker pause) and restarts",
		"no Docker runtime: lab run needs it (the local runtime does not)")
}

func dockerVersion(ctx context.Context) (string, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	var dial func(ctx context.Context) (net.Conn, error)
	var d net.Dialer
	switch {
	case strings.HasPrefix(host, "unix://"):
		path := strings.TrimPrefix(host, "unix://")
		dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }
	case strings.HasPrefix(host, "tcp://"):
		addr := strings.TrimPrefix(host, "tcp://")
		dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	default:
		return "", fmt.Errorf("DOCKER_HOST %q: only unix:// and tcp:// are probed", host)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/version", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("engine at %s: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("engine at %s: GET /version: %s", host, resp.Status)
	}
	var v struct{ Version, APIVersion string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", fmt.Errorf("engine at %s: version: %w", host, err)
	}
	return v.Version + " (API " + v.APIVersion + ")", nil
}

// Capability numbers, from linux/capability.h.
const (
	capNetAdmin  = 12
	capSysPtrace = 19
	capSysAdmin  = 21
)

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

func hasCap(caps uint64, c uint) bool { return caps&(1<<c) != 0 }

// Root says whether the lab may enter node namespaces and change their
// network (CAP_SYS_ADMIN for setns, CAP_NET_ADMIN for rules and qdiscs).
func Root() Check {
	err := func() error {
		caps, err := effectiveCaps()
		if err != nil {
			return err
		}
		var missing []string
		if !hasCap(caps, capNetAdmin) {
			missing = append(missing, "CAP_NET_ADMIN")
		}
		if !hasCap(caps, capSysAdmin) {
			missing = append(missing, "CAP_SYS_ADMIN")
		}
		if len(missing) > 0 {
			return fmt.Errorf("uid %d, missing %s", os.Geteuid(), strings.Join(missing, " and "))
		}
		return nil
	}()
	return answer("root", err, fmt.Sprintf("uid %d, CAP_NET_ADMIN and CAP_SYS_ADMIN", os.Geteuid()),
		"the lab can enter node namespaces and change their network: every network fault",
		"no network faults at all (partitions, loss, delay): run as root")
}

// notInKernel turns the kernel's "unknown kind" answers into a plain
// sentence naming what is missing.
func notInKernel(err error, what string) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("missing: %s not in this kernel (%v)", what, err)
	}
	return err
}

var netemOnce = sync.OnceValue(func() Check {
	err := tryQdisc("netem")
	return answer("netem", notInKernel(err, "sch_netem"), "sch_netem",
		"packet faults through netem: delay, jitter, loss, duplicate, reorder, corrupt, rate",
		"no netem: loss through nftables, delay/jitter/reorder through NFQUEUE, rate through htb; no duplicate or corrupt")
})

// Netem tries a netem qdisc on a veth in a throwaway namespace. The answer
// is cached for the life of the process.
func Netem() Check { return netemOnce() }

// TBF tries a token bucket filter qdisc in a throwaway namespace.
func TBF() Check {
	return answer("tbf", notInKernel(tryQdisc("tbf"), "sch_tbf"), "sch_tbf",
		"token bucket rate limits can be set on a node's interface",
		"no token bucket rate limits")
}

// HTB tries a hierarchy token bucket qdisc in a throwaway namespace: the
// lab's rate limits per peer are htb classes.
func HTB() Check {
	return answer("htb", notInKernel(tryQdisc("htb"), "sch_htb"), "sch_htb",
		"rate limits per peer (htb class and u32 filters), and netem per peer",
		"no rate limits per peer; netem, where present, would apply to all traffic")
}

// Ptrace says whether the lab may attach to node processes (clock skew
// patches a process's vDSO through ptrace).
func Ptrace() Check {
	err, detail := func() (error, string) {
		caps, err := effectiveCaps()
		if err != nil {
			return err, ""
		}
		detail := "no Yama LSM: classic rules"
		b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
		if err == nil {
			scope := strings.TrimSpace(string(b))
			if scope == "3" {
				return errors.New("kernel.yama.ptrace_scope=3: no process may ptrace"), ""
			}
			detail = "kernel.yama.ptrace_scope=" + scope
		}
		if !hasCap(caps, capSysPtrace) {
			return errors.New("missing CAP_SYS_PTRACE"), ""
		}
		return nil, detail + ", CAP_SYS_PTRACE"
	}()
	return answer("ptrace", err, detail,
		"clock skew of a running process (vDSO patching through ptrace) can run",
		"no clock skew through ptrace")
}

// VDSO says whether the clock skew can patch processes here: the
// architecture is supported and this kernel's vDSO has the functions it
// patches (the ptrace check says whether the lab may attach at all).
func VDSO() Check {
	return answer("vdso", vdso.Check(), "clock_gettime found in this kernel's vDSO, patchable",
		"clock faults can skew one node's wall clock (with ptrace allowed)",
		"no clock skew: the vDSO cannot be patched here")
}

// Freezer looks for the cgroup freezer: cgroup.freeze in cgroup v2, or the
// v1 freezer hierarchy.
func Freezer() Check {
	detail, err := freezer()
	return answer("freezer", err, detail,
		"pause and resume freeze the whole node atomically (docker pause, cgroup freezer)",
		"pause falls back to SIGSTOP/SIGCONT, which a process can observe")
}

func freezer() (string, error) {
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		switch f[2] {
		case "cgroup":
			for _, o := range strings.Split(f[3], ",") {
				if o == "freezer" {
					return "cgroup v1 freezer at " + f[1], nil
				}
			}
		case "cgroup2":
			// cgroup.freeze lives in every non-root cgroup (Linux 5.2+).
			entries, _ := os.ReadDir(f[1])
			for _, e := range entries {
				if _, err := os.Stat(f[1] + "/" + e.Name() + "/cgroup.freeze"); err == nil {
					return "cgroup v2 cgroup.freeze under " + f[1], nil
				}
			}
		}
	}
	return "", errors.New("no v1 freezer hierarchy and no cgroup v2 cgroup.freeze")
}

// TimeNS says whether the kernel has time namespaces (/proc/self/ns/time).
func TimeNS() Check {
	_, err := os.Stat("/proc/self/ns/time")
	return answer("timens", err, "/proc/self/ns/time",
		"processes started by the lab can get their own CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets",
		"no time namespaces: clock faults only through ptrace")
}

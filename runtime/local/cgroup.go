package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted (also on
// hybrid machines, where it sits beside the v1 controllers), or "".
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source super
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		after := strings.Fields(line[i+3:])
		before := strings.Fields(line[:i])
		if len(after) > 0 && after[0] == "cgroup2" && len(before) >= 5 {
			return before[4]
		}
	}
	return ""
}

// runCgroupDir returns where the run's cgroup goes, lab/<run id> under the
// cgroup2 mount, or "" when there is no cgroup v2 hierarchy.
func runCgroupDir(runID string) string {
	mnt := cgroup2Mount()
	if mnt == "" {
		return ""
	}
	return filepath.Join(mnt, "lab", runID)
}

// makeRunCgroup makes the run's cgroup and checks that it has the freezer.
// False means there is no usable cgroup v2 freezer: pauses then use SIGSTOP.
func makeRunCgroup(dir string) bool {
	if dir == "" {
		return false
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		os.Remove(dir)
		return false
	}
	return true
}

// makeNodeCgroup makes the node's cgroup under the run's.
func makeNodeCgroup(runDir, node string) (string, error) {
	dir := filepath.Join(runDir, node)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("cgroup %s: %w", dir, err)
	}
	return dir, nil
}

// freeze freezes (or thaws) every process in the cgroup and, when
// freezing, waits until the kernel reports it frozen.
func freeze(ctx context.Context, dir string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(v), 0o644); err != nil {
		return fmt.Errorf("cgroup freezer: %w", err)
	}
	if !on {
		return nil
	}
	return poll(ctx, 5*time.Second, func() bool { return cgroupEvent(dir, "frozen") == "1" },
		fmt.Sprintf("cgroup %s not frozen", dir))
}

// cgroupEvent reads one key of cgroup.events ("populated", "frozen").
func cgroupEvent(dir, key string) string {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v
		}
	}
	return ""
}

// removeCgroupTree kills whatever is still in the run's cgroup (frozen or
// not: cgroup.kill reaches frozen processes too), then removes the node
// cgroups and the run's. A missing directory is no error.
func removeCgroupTree(ctx context.Context, dir string) error {
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// Thaw first, so that the kill is not left pending on a kernel
	// without cgroup.kill.
	os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0o644)
	os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, rmdirWhenEmpty(ctx, filepath.Join(dir, e.Name())))
		}
	}
	errs = append(errs, rmdirWhenEmpty(ctx, dir))
	return errors.Join(errs...)
}

// rmdirWhenEmpty removes a cgroup once its killed processes are gone.
func rmdirWhenEmpty(ctx context.Context, dir string) error {
	var last error
	err := poll(ctx, 5*time.Second, func() bool {
		last = os.Remove(dir)
		return last == nil || errors.Is(last, os.ErrNotExist)
	}, "")
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, last)
	}
	return nil
}

// poll checks cond every 20ms until it holds, the timeout passes or ctx
// ends.
func poll(ctx context.Context, timeout time.Duration, cond func() bool, what string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			if what == "" {
				return ctx.Err()
			}
			return fmt.Errorf("%s within %s", what, timeout)
		case <-t.C:
		}
	}
	return nil
}

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// markerRoot holds one directory per run with what the runtime made. A
// variable so that tests could move it; the lab itself never does.
var markerRoot = "/run/lab"

const markerFile = "local.json"

// marker is the record of everything one run made (or was about to make:
// each entry is written before the thing is made, so a lab killed in
// between leaves nothing that no marker names).
type marker struct {
	RunID      string   `json:"run_id"`
	Subnet     string   `json:"subnet"`
	HostLink   string   `json:"host_link"`
	Namespaces []string `json:"namespaces"`
	WorkDir    string   `json:"work_dir"`
	// Cgroup is the run's cgroup directory; empty when pauses use SIGSTOP.
	Cgroup    string      `json:"cgroup,omitempty"`
	Processes []procEntry `json:"processes"`
}

// procEntry is one process a node ran. Start is its start time in clock
// ticks since boot (field 22 of /proc/<pid>/stat): a PID is only signalled
// while it still names the same process.
type procEntry struct {
	Node  string `json:"node"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

func markerDir(runID string) string { return filepath.Join(markerRoot, runID) }

// write saves the marker atomically.
func (m *marker) write() error {
	dir := markerDir(m.RunID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, markerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	return nil
}

func (m *marker) addNamespace(name string) {
	if !slices.Contains(m.Namespaces, name) {
		m.Namespaces = append(m.Namespaces, name)
	}
}

// remove deletes the marker and, if nothing else is in it, its directory.
func (m *marker) remove() error {
	dir := markerDir(m.RunID)
	if err := os.Remove(filepath.Join(dir, markerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(dir) // fails harmlessly if another part of the lab keeps files there
	return nil
}

// readMarkers returns the markers of runID, or of every run when runID is
// empty.
func readMarkers(runID string) ([]*marker, error) {
	var paths []string
	if runID != "" {
		paths = []string{filepath.Join(markerDir(runID), markerFile)}
	} else {
		var err error
		paths, err = filepath.Glob(filepath.Join(markerRoot, "*", markerFile))
		if err != nil {
			return nil, err
		}
	}
	var out []*marker
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := &marker{}
		if err := json.Unmarshal(b, m); err != nil {
			errs = append(errs, fmt.Errorf("marker %s: %w", p, err))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// procStat returns the fields of /proc/<pid>/stat after the command name
// (which is in parentheses and may hold spaces): [0] is field 3, the state.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	return strings.Fields(s[i+1:]), nil
}

// procStart returns the start time of pid in clock ticks since boot
// (field 22).
func procStart(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether e still names a living process: the same start
// time (not a reused PID), and not a zombie.
func (e procEntry) alive() bool {
	f, err := procStat(e.Pid)
	if err != nil || len(f) < 20 || f[19] != strconv.FormatUint(e.Start, 10) {
		return false
	}
	return f[0] != "Z"
}

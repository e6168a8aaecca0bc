package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// record is what a cluster made outside the plain files of its directory,
// written to dir/cluster.json before each thing is made, so that
// [Cleanup] finds all of it after a crash of the process that started the
// cluster.
type record struct {
	Dir     string `json:"dir"`
	Node    string `json:"node"`
	Network string `json:"network"`
	Bridge  string `json:"bridge"`
	Subnet  string `json:"subnet"`
	// CgroupRoot is the kubelet's cgroup root, a directory of that name
	// at the top of every cgroup hierarchy.
	CgroupRoot string `json:"cgroup_root"`
	// Sysctls are the kernel settings the kubelet (and the bridge plugin)
	// may change, as they were before the cluster started, by path under
	// /proc/sys.
	Sysctls map[string]string `json:"sysctls"`
	// MadeDirs are host directories outside dir that did not exist before
	// the cluster started and that its servers make (/var/log/containers,
	// /var/lib/cni): removed again if empty.
	MadeDirs  []string    `json:"made_dirs,omitempty"`
	Processes []procEntry `json:"processes"`
}

// procEntry is one server process the cluster started. Start is its start
// time in clock ticks since boot (field 22 of /proc/<pid>/stat): a PID is
// signalled only while it still names the same process.
type procEntry struct {
	Name  string `json:"name"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// write saves the record atomically.
func (r *record) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return os.Rename(tmp, path)
}

func readRecord(path string) (*record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &record{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("record %s: %w", path, err)
	}
	return r, nil
}

func (r *record) addMadeDir(d string) {
	if !slices.Contains(r.MadeDirs, d) {
		r.MadeDirs = append(r.MadeDirs, d)
	}
}

// procStat returns the fields of /proc/<pid>/stat after the command name:
// [0] is field 3, the state; [19] is field 22, the start time.
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
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

func procStart(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether e still names a living process: the same start
// time (not a reused PID), and not a zombie.
func (e procEntry) alive() bool {
	f, err := procStat(e.Pid)
	if err != nil {
		return false
	}
	return f[19] == strconv.FormatUint(e.Start, 10) && f[0] != "Z"
}

// sysctlPaths are the settings the kubelet sets when they differ from what
// it wants (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1,
// ...; it has no option to leave them alone but to fail), and the IPv4
// forwarding the bridge plugin turns on for a gateway.
var sysctlPaths = []string{
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/panic",
	"kernel/panic_on_oops",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
}

func readSysctls() (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, p := range sysctlPaths {
		b, err := os.ReadFile("/proc/sys/" + p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[p] = strings.TrimSpace(string(b))
	}
	return out, errors.Join(errs...)
}

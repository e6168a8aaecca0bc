package kube

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// TestCertificates: every certificate chains to the CA, for its use; the
// API server's names the addresses its clients use.
func TestCertificates(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	node := netip.MustParseAddr("192.0.2.2")
	if _, err := p.issue("apiserver", "kube-apiserver", nil, []netip.Addr{netip.MustParseAddr("127.0.0.1"), node}, []string{"kubernetes"}, false, true); err != nil {
		t.Fatal(err)
	}
	kubelet, err := p.issue("kubelet", "system:node:n1", []string{"system:nodes"}, nil, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM())
	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srv := read("apiserver")
	for _, host := range []string{"127.0.0.1", "192.0.2.2", "kubernetes"} {
		if _, err := srv.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	cl := read("kubelet")
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if cl.Subject.CommonName != "system:node:n1" || len(cl.Subject.Organization) != 1 || cl.Subject.Organization[0] != "system:nodes" {
		t.Errorf("kubelet's subject %v", cl.Subject)
	}
	for _, f := range []string{"ca.key", "sa.key", "sa.pub", "kubelet.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "ca.key")); st != nil && st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v", st.Mode())
	}

	// The kubeconfig loads with client-go, with the user's credentials.
	kc := filepath.Join(dir, "k.kubeconfig")
	os.WriteFile(kc, kubeconfig("https://127.0.0.1:6443", p.caPEM(), "system:node:n1", kubelet), 0o600)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || string(cfg.CertData) != string(kubelet.CertPEM) || string(cfg.CAData) != string(p.caPEM()) {
		t.Errorf("kubeconfig loads as %s with other credentials", cfg.Host)
	}
}

// TestConfigs: the settings the cluster depends on are in its files.
func TestConfigs(t *testing.T) {
	l := layout{dir: "/x/c"}
	cd := containerdConfig(l, "docker.io/library/lab-pause:0123")
	for _, want := range []string{
		`root = "/x/c/containerd/root"`, `state = "/x/c/containerd/state"`,
		`address = "/x/c/containerd/containerd.sock"`, `sandbox_image = "docker.io/library/lab-pause:0123"`,
		"restrict_oom_score_adj = true", "netns_mounts_under_state_dir = true", "SystemdCgroup = false",
		`bin_dir = "/usr/lib/cni"`, `conf_dir = "/x/c/cni/net.d"`,
	} {
		if !strings.Contains(cd, want) {
			t.Errorf("containerd config lacks %s", want)
		}
	}
	kl := kubeletConfig(l, netip.MustParseAddr("192.0.2.2"), "lab-kube-abc", kubeletPorts{Server: 1, Healthz: 2})
	for _, want := range []string{
		"failCgroupV1: false", "cgroupDriver: cgroupfs", "cgroupRoot: /lab-kube-abc",
		"containerRuntimeEndpoint: unix:///x/c/containerd/containerd.sock", "makeIPTablesUtilChains: false",
		"podLogsDir: /x/c/pod-logs", "nodefs.available: 1%\n", "address: 192.0.2.2\nport: 1\n",
	} {
		if !strings.Contains(kl, want) {
			t.Errorf("kubelet config lacks %q", want)
		}
	}
	b, err := cniConfig(l, "lab-kube-abc", "labkabc", netip.MustParsePrefix("10.218.7.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	pl := conf.Plugins[0]
	if conf.Name != "lab-kube-abc" || pl.Type != "bridge" || pl.Bridge != "labkabc" || pl.IPMasq ||
		pl.IPAM.Type != "host-local" || pl.IPAM.Ranges[0][0]["subnet"] != "10.218.7.0/24" || pl.IPAM.DataDir != "/x/c/cni/ipam" {
		t.Errorf("CNI config %s", b)
	}
}

// TestBuildModule: the wrapper module requires Kubernetes at Version and
// replaces each staging module with its published release, and the cache
// directory is named by version and content.
func TestBuildModule(t *testing.T) {
	c := commands()
	mod := string(c.Files["go.mod"])
	if !regexp.MustCompile(`(?m)^\s*(require )?k8s\.io/kubernetes v` + regexp.QuoteMeta(Version) + `( |$)`).MatchString(mod) {
		t.Errorf("go.mod.in does not require k8s.io/kubernetes v%s", Version)
	}
	staging := "v0." + strings.SplitN(Version, ".", 2)[1]
	re := regexp.MustCompile(`(?m)^\t(k8s\.io/[a-z-]+) => (k8s\.io/[a-z-]+) (v\S+)$`)
	reps := re.FindAllStringSubmatch(mod, -1)
	if len(reps) != 31 {
		t.Errorf("go.mod.in replaces %d staging modules, want the 31 Kubernetes requires at v0.0.0", len(reps))
	}
	for _, r := range reps {
		if r[1] != r[2] || r[3] != staging {
			t.Errorf("replace %s => %s %s, want %s", r[1], r[2], r[3], staging)
		}
	}
	for name, pkg := range servers {
		if !strings.Contains(mod, "tool "+pkg+"\n") {
			t.Errorf("go.mod.in lacks the tool line of %s", name)
		}
	}
	if len(c.Files["go.sum"]) == 0 {
		t.Error("no go.sum: the build would need the proxy to resolve")
	}
	t.Setenv("XDG_CACHE_HOME", "/cache")
	dir, err := c.Dir()
	if err != nil || !strings.HasPrefix(dir, "/cache/lab/kubernetes-"+Version+"-") || dir != "/cache/lab/kubernetes-"+Version+"-"+c.Content[:12] {
		t.Errorf("cache dir %s, %v", dir, err)
	}
	if commands().Content != c.Content {
		t.Error("the content hash is not stable")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a/b`: "/a/b", `/a\040b`: "/a b", `/x\134y`: `/x\y`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCleanupRecord: Cleanup of a directory without a cluster does
// nothing; a record of another directory is refused.
func TestCleanupRecord(t *testing.T) {
	dir := t.TempDir()
	if err := Cleanup(context.Background(), dir, nil); err != nil {
		t.Errorf("Cleanup of an empty directory: %v", err)
	}
	r := &record{Dir: "/elsewhere", CgroupRoot: "lab-kube-000000"}
	if err := r.write(filepath.Join(dir, "cluster.json")); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(context.Background(), dir, nil); err == nil || !strings.Contains(err.Error(), "not of this directory") {
		t.Errorf("Cleanup of a moved record = %v", err)
	}
	if _, err := cgroupDirs("../x"); err == nil {
		t.Error("a cgroup root with a slash was accepted")
	}
}

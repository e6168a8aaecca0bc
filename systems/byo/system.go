package byo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lab-chaos/lab/logcheck"
	"github.com/lab-chaos/lab/runtime"
	"github.com/lab-chaos/lab/scenarios"
	"github.com/lab-chaos/lab/systems"
)

// System is the plugin that runs a system described by a system file:
// system: {file: my-service.yaml, nodes: 3} in a scenario.
type System struct{}

// Name is the name a scenario may give; naming only the file is the same.
func (System) Name() string { return scenarios.ByFile }

// NodeCounts accepts every size a file may allow; Decode checks the
// file's own list.
func (System) NodeCounts() []int { return []int{1, 2, 3, 4, 5, 6, 7, 8, 9} }

// Keys are the system's own fields in a scenario.
func (System) Keys() []string { return []string{"file"} }

// Params are what a scenario says of a system file: its path, made
// absolute so that the run's copy of the scenario names the same file.
type Params struct {
	File string `yaml:"file"`
}

// Decode reads the system file the scenario names and reports its
// problems with their own file and line.
func (System) Decode(f *scenarios.Fields) any {
	if !f.Require("file", "file: my-service.yaml", "a system described by a system file") {
		return Params{}
	}
	path, ok := f.Path("file")
	if !ok {
		return Params{}
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	sf, err := Load(path)
	var errs scenarios.Errors
	if errors.As(err, &errs) {
		f.Include("file", errs)
		return Params{File: path}
	}
	if n := len(f.Nodes()); n > 0 && !slices.Contains(sf.Nodes, n) {
		f.Report("file", fmt.Sprintf("set system.nodes to one of %v, or add %d to nodes: in %s", sf.Nodes, n, path),
			"%s runs with %v nodes, not %d", sf.Name, sf.Nodes, n)
	}
	return Params{File: path}
}

// Open reads the file again (it was checked when the scenario loaded).
func (System) Open(cfg systems.Config) (systems.Instance, error) {
	p, _ := cfg.Params.(Params)
	if p.File == "" {
		return nil, errors.New("no system file named: system.file is required")
	}
	sf, err := Load(p.File)
	if err != nil {
		return nil, err
	}
	if cfg.Version != "" && sf.Version != "" && cfg.Version != sf.Version {
		return nil, fmt.Errorf("system.version %q: %s describes version %s; a system file names one build (drop system.version, or point at another file)", cfg.Version, p.File, sf.Version)
	}
	out := cfg.BuildOutput
	if out == nil {
		out = io.Discard
	}
	return serving(&Instance{file: sf, buildOutput: out}), nil
}

// Instance is a system file configured for one run.
type Instance struct {
	file        *File
	buildOutput io.Writer

	cluster cluster

	mu       sync.Mutex
	versions map[string]string
	// nodeErr is a template that failed for a real node although it
	// expanded on the sample: Ready reports it.
	nodeErr map[string]error
	// nodeVars are each node's template variables, kept from Node for
	// its readiness check.
	nodeVars map[string]NodeVars
}

// Version is the file's version, or the versions of the packages the
// root was built from.
func (s *Instance) Version() string {
	if s.file.Version != "" {
		return s.file.Version
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.file.Files.Debian; d != nil && s.versions != nil {
		if v, ok := s.versions[d.Packages[0]]; ok {
			return v
		}
	}
	return "as built"
}

// Settings name the file and what it was built from.
func (s *Instance) Settings() []string {
	out := []string{"system file: " + s.file.Path}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.file.Files.Debian; d != nil {
		for _, p := range d.Packages {
			v := s.versions[p]
			if v == "" {
				v = "candidate"
			}
			out = append(out, fmt.Sprintf("Debian package: %s %s", p, v))
		}
	} else if s.file.Files.Dockerfile != "" {
		out = append(out, "Dockerfile: "+s.file.Files.Dockerfile)
	} else {
		out = append(out, "binary: "+s.file.Files.Binary)
	}
	return out
}

// entry is the executable the command names: its first word.
func (s *Instance) entry() string {
	w, _ := s.file.Command.Words(sampleNode)
	return w[0]
}

// Artifact is the static binary as it is on disk (hashed by content), or
// the root built from the Debian packages.
func (s *Instance) Artifact(ctx context.Context) (runtime.Artifact, bool, error) {
	if df := s.file.Files.Dockerfile; df != "" {
		sum, err := hashDir(filepath.Dir(df))
		if err != nil {
			return runtime.Artifact{}, false, fmt.Errorf("%s: files.dockerfile: %w", s.file.Path, err)
		}
		return runtime.Artifact{Name: s.file.Name, Version: s.Version(), Binary: s.entry(), Dockerfile: df, Content: sum}, false, nil
	}
	if s.file.Files.Binary != "" {
		data, err := os.ReadFile(s.file.Files.Binary)
		if err != nil {
			return runtime.Artifact{}, false, fmt.Errorf("%s: %w", s.file.Path, err)
		}
		sum := sha256.Sum256(data)
		return runtime.Artifact{Name: s.file.Name, Version: s.Version(), Binary: s.file.Files.Binary, Content: hex.EncodeToString(sum[:])}, false, nil
	}
	return s.rootArtifact(ctx)
}

// Node expands the command and environment for the node placed at p.
func (s *Instance) Node(p runtime.Placement, c systems.Cluster) runtime.NodeSpec {
	s.cluster.set(c.Nodes)
	names := make([]string, len(c.Nodes))
	i := 0
	for j, x := range c.Nodes {
		names[j] = x.Name
		if x.Name == p.Name {
			i = j
		}
	}
	addrs := make([]string, len(c.Nodes))
	for j, x := range c.Nodes {
		addrs[j] = x.Addr.String()
	}
	vars := s.vars(i, names, addrs, p.DataDir, c.Token)
	s.mu.Lock()
	if s.nodeVars == nil {
		s.nodeVars = map[string]NodeVars{}
	}
	s.nodeVars[p.Name] = vars
	s.mu.Unlock()
	spec := runtime.NodeSpec{Name: p.Name}
	words, err := s.file.Command.Words(vars)
	if err == nil && len(words) > 0 {
		spec.Args = words[1:]
	}
	for _, t := range s.file.Env {
		if err != nil {
			break
		}
		var e string
		e, err = t.Expand(vars)
		spec.Env = append(spec.Env, e)
	}
	if err != nil {
		s.mu.Lock()
		if s.nodeErr == nil {
			s.nodeErr = map[string]error{}
		}
		s.nodeErr[p.Name] = fmt.Errorf("%s: %w", s.file.Path, err)
		s.mu.Unlock()
	}
	return spec
}

func (s *Instance) vars(i int, names, addrs []string, dataDir, token string) NodeVars {
	peers := make([]Peer, len(names))
	for j := range names {
		peers[j] = Peer{Name: names[j], Addr: addrs[j]}
	}
	return NodeVars{Name: names[i], Addr: addrs[i], DataDir: dataDir, Index: i, Peers: peers, Token: token, Dir: s.file.Dir}
}

// varsOf are node's template variables, as Node made them; for a node the
// runner never asked a command for, what can be known of it.
func (s *Instance) varsOf(node systems.Peer) (NodeVars, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.nodeErr[node.Name]; err != nil {
		return NodeVars{}, err
	}
	if v, ok := s.nodeVars[node.Name]; ok {
		return v, nil
	}
	return NodeVars{Name: node.Name, Addr: node.Addr.String(), Dir: s.file.Dir}, nil
}

// Ready runs the file's readiness check against node.
func (s *Instance) Ready(ctx context.Context, node systems.Peer) error {
	vars, err := s.varsOf(node)
	if err != nil {
		return runtime.Final(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r := s.file.Ready
	if r.TCP > 0 {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(node.Addr.String(), strconv.Itoa(r.TCP)))
		if err != nil {
			return err
		}
		return c.Close()
	}
	_, err = s.ask(ctx, "ready", r.Command, r.HTTP, vars)
	return err
}

// ask runs command, or gets url, for one node: the command's standard
// output or the body of a 2xx answer. A template that cannot be expanded
// is final: asking again will not help.
func (s *Instance) ask(ctx context.Context, field string, command, url *Template, vars NodeVars) ([]byte, error) {
	if url != nil {
		u, err := url.Expand(vars)
		if err != nil {
			return nil, runtime.Final(fmt.Errorf("%s.http: %w", field, err))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, runtime.Final(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("%s answered %s", u, resp.Status)
		}
		return body, err
	}
	words, err := command.Words(vars)
	if err != nil || len(words) == 0 {
		return nil, runtime.Final(fmt.Errorf("%s.command: %v", field, err))
	}
	cmd := exec.CommandContext(ctx, words[0], words[1:]...)
	cmd.Dir = s.file.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s.command: %v: %s", field, err, clip(stderr.Bytes()))
	}
	return out, nil
}

func clip(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// LogPatterns are the file's.
func (s *Instance) LogPatterns() logcheck.Patterns {
	l := s.file.Logs
	return logcheck.Patterns{Leader: l.Leader, Start: l.Start, Restarting: l.Restart, Storage: l.Storage}
}

// Name is the system file's name for the system, for reports.
func (s *Instance) Name() string { return s.file.Name }

// hashDir hashes every path, mode, link target and file content under dir,
// in a fixed order: the content a Dockerfile's image is tagged by, so an
// unchanged context is never built again.
func hashDir(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%o\x00", filepath.ToSlash(rel), info.Mode())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00", t)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var _ systems.Packaged = (*Instance)(nil)

// NeedsImage is true for files.debian and files.dockerfile: the local
// runtime, which runs static binaries only, refuses them before anything
// is built.
func (s *Instance) NeedsImage() bool {
	return s.file.Files.Debian != nil || s.file.Files.Dockerfile != ""
}

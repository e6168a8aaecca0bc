package byo

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/lab-chaos/lab/scenarios"
)

// File is one system file, checked.
type File struct {
	// Path is where the file was read; Dir its directory, against which
	// the file's own relative paths are resolved.
	Path, Dir string
	// Name names the system in reports and images.
	Name string
	// Version is what the team calls this build, for the report; empty
	// when the files say it (a Debian package's version).
	Version string
	// Nodes are the cluster sizes the system runs with.
	Nodes []int
	// Files is how the lab gets the node's files.
	Files Files
	// Command is the node's command line, a template (see [NodeVars]):
	// one string, split into words at white space after expansion, or a
	// list of words.
	Command *Template
	// Env are the node's environment variables, NAME=value templates.
	Env []*Template
	// Ready says when a node serves.
	Ready Ready
	// Leader, when given, says how to ask which node leads.
	Leader *Leader
	// Logs are the substrings that mark events in the node's log.
	Logs Logs
	// Adapter is the client adapter.
	Adapter Adapter
}

// Files is exactly one way to get the node's files.
type Files struct {
	// Binary is a static executable on disk (absolute, or relative to the
	// system file).
	Binary string
	// Debian lists packages to download and unpack, and the binaries in
	// them that must run; the root is reduced to what they need.
	Debian *Debian
	// Dockerfile is a Dockerfile the lab builds locally, with its
	// directory as the context (Docker runtime only). Its FROM lines must
	// name images the engine already has, or scratch: there is no
	// registry to pull from.
	Dockerfile string
}

// Debian is a node root built from Debian packages.
type Debian struct {
	Packages []string
	// Binaries are absolute paths inside the packages; the first is the
	// node's entry point unless the command names another.
	Binaries []string
	// Keep are further paths to keep (configuration files, a shell).
	Keep []string
}

// Ready is one readiness check: a TCP port that accepts, an HTTP URL that
// answers 2xx, or a command (run on the lab's host) that exits 0.
type Ready struct {
	TCP     int
	HTTP    *Template
	Command *Template
}

// Leader asks one node which node leads: a command (run on the lab's host)
// whose standard output is the answer, or an HTTP URL whose body is. The
// answer names the leader by node name or address (host:port is fine);
// with JSON, it is that top-level field of a JSON object.
type Leader struct {
	Command *Template
	HTTP    *Template
	JSON    string
}

// Logs are substrings of node log lines (see logcheck.Patterns).
type Logs struct {
	Leader, Start, Restart, Storage []string
}

// Adapter is the client adapter: the command the lab starts for each
// client process, bound to one node, and the workloads it serves.
type Adapter struct {
	Command   *Template
	Workloads []string
}

// Template is a text/template from the file, kept with its source and line
// for errors found when it is expanded. A command written as a YAML list
// is a template whose words are templates of their own, so that one word
// may hold spaces (a shell's -c script).
type Template struct {
	Source string
	Line   int
	t      *template.Template
	words  []*Template
}

// Expand runs the template on vars; a list's words are joined by spaces.
func (t *Template) Expand(vars any) (string, error) {
	if t.words != nil {
		words, err := t.Words(vars)
		return strings.Join(words, " "), err
	}
	var b bytes.Buffer
	if err := t.t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("line %d: %w", t.Line, err)
	}
	return b.String(), nil
}

// Words expands the template and splits it at white space; a list's words
// are expanded one by one and never split.
func (t *Template) Words(vars any) ([]string, error) {
	if t.words != nil {
		out := make([]string, len(t.words))
		for i, w := range t.words {
			s, err := w.Expand(vars)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	s, err := t.Expand(vars)
	if err != nil {
		return nil, err
	}
	return strings.Fields(s), nil
}

// Peer is one node as templates see it.
type Peer struct {
	Name string
	Addr string
}

// NodeVars are what a node's command, environment and readiness may name:
// {{.Name}}, {{.Addr}}, {{.DataDir}}, {{.Index}} (0 for the first node),
// {{.Peers}} (every node, in order, each with .Name and .Addr), {{.Token}}
// (unique to the run) and {{.Dir}} (the system file's directory).
type NodeVars struct {
	Name    string
	Addr    string
	DataDir string
	Index   int
	Peers   []Peer
	Token   string
	Dir     string
}

// AdapterVars are what the adapter's command may name: the node it is
// bound to ({{.Name}}, {{.Addr}}), every node ({{.Peers}}) and the system
// file's directory ({{.Dir}}).
type AdapterVars struct {
	Name  string
	Addr  string
	Peers []Peer
	Dir   string
}

// Workloads an adapter may serve.
var adapterWorkloads = []string{"register", "set", "queue"}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Load reads and checks the system file at path. Every problem is
// reported, as [scenarios.Errors] naming the file, line and field.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, scenarios.Errors{{File: path, Msg: fmt.Sprintf("cannot read the system file: %v", err), Hint: "system.file is relative to the scenario's directory"}}
	}
	return Parse(path, data)
}

// Parse checks data as the system file at path.
func Parse(path string, data []byte) (*File, error) {
	p := &parser{file: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return nil, scenarios.Errors{{File: path, Line: line, Msg: "not YAML: " + err.Error(), Hint: "a system file is a YAML mapping of fields such as name: and command:"}}
	}
	f := &File{Path: path, Dir: filepath.Dir(path)}
	if len(doc.Content) == 0 {
		p.add(nil, "", "a system file names name:, files:, command:, ready: and adapter:; see docs/byo.md", "the system file is empty")
		return nil, p.errs
	}
	p.decode(doc.Content[0], f)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return f, nil
}

type parser struct {
	file string
	errs scenarios.Errors
}

func (p *parser) add(n *yaml.Node, field, hint, format string, args ...any) {
	e := &scenarios.Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// fields checks that n is a mapping of only the allowed keys and returns
// its values by key.
func (p *parser) fields(n *yaml.Node, path string, allowed []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "write it as fields, such as key: value", "want a mapping")
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := join(path, k.Value)
		if !slices.Contains(allowed, k.Value) {
			p.add(k, at, "the fields here are "+strings.Join(allowed, ", "), "unknown field %q", k.Value)
			continue
		}
		if out[k.Value] != nil {
			p.add(k, at, "remove one of them", "field %q is given twice", k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!int" {
		p.add(n, path, "write a string", "want a string")
		return "", false
	}
	return n.Value, true
}

func (p *parser) strs(n *yaml.Node, path string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := p.str(n, path)
		return []string{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "write a list such as [a, b]", "want a list of strings")
		return nil, false
	}
	var out []string
	ok := true
	for i, c := range n.Content {
		s, good := p.str(c, fmt.Sprintf("%s[%d]", path, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

func (p *parser) require(m map[string]*yaml.Node, parent *yaml.Node, path, key, example string) *yaml.Node {
	if m[key] == nil {
		p.add(parent, join(path, key), fmt.Sprintf("add %q", example), "required field %q is missing", key)
	}
	return m[key]
}

// sample values on which every template is tried when the file loads, so a
// template naming an unknown variable is found before anything starts.
var (
	samplePeers = []Peer{{"n1", "10.0.0.11"}, {"n2", "10.0.0.12"}, {"n3", "10.0.0.13"}}
	sampleNode  = NodeVars{Name: "n1", Addr: "10.0.0.11", DataDir: "/data", Peers: samplePeers, Token: "lab-run", Dir: "."}
	sampleAdapt = AdapterVars{Name: "n1", Addr: "10.0.0.11", Peers: samplePeers, Dir: "."}
)

// command is a template written either as one string, split into words at
// white space, or as a list of words (the exec form), each a template.
func (p *parser) command(n *yaml.Node, path string, sample any) *Template {
	if n.Kind != yaml.SequenceNode {
		return p.template(n, path, sample)
	}
	t := &Template{Line: n.Line, words: []*Template{}}
	var src []string
	for i, c := range n.Content {
		w := p.template(c, fmt.Sprintf("%s[%d]", path, i), sample)
		if w == nil {
			return nil
		}
		t.words = append(t.words, w)
		src = append(src, w.Source)
	}
	t.Source = strings.Join(src, " ")
	return t
}

func (p *parser) template(n *yaml.Node, path string, sample any) *Template {
	s, ok := p.str(n, path)
	if !ok {
		return nil
	}
	t, err := template.New(path).Option("missingkey=error").Parse(s)
	if err != nil {
		p.add(n, path, "templates name variables such as {{.Addr}}; see docs/byo.md", "not a template: %v", trimTemplateErr(err))
		return nil
	}
	tt := &Template{Source: s, Line: n.Line, t: t}
	if _, err := tt.Expand(sample); err != nil {
		p.add(n, path, fmt.Sprintf("the variables here are %s", varsOf(sample)), "the template cannot be expanded: %v", trimTemplateErr(err))
		return nil
	}
	return tt
}

// trimTemplateErr drops text/template's own prefix, which repeats the
// template's name and position: the error already names the field and line.
func trimTemplateErr(err error) string {
	s := templatePrefix.ReplaceAllString(err.Error(), "")
	return strings.Replace(s, `executing "`, "", 1)
}

var templatePrefix = regexp.MustCompile(`^(line \d+: )?template: [^:]*:\d+(:\d+)?: (executing "[^"]*" )?`)

func varsOf(sample any) string {
	switch sample.(type) {
	case NodeVars:
		return "{{.Name}}, {{.Addr}}, {{.DataDir}}, {{.Index}}, {{.Peers}}, {{.Token}}, {{.Dir}}"
	default:
		return "{{.Name}}, {{.Addr}}, {{.Peers}}, {{.Dir}}"
	}
}

func (p *parser) decode(n *yaml.Node, f *File) {
	top := p.fields(n, "", []string{"name", "version", "nodes", "files", "command", "env", "ready", "leader", "logs", "adapter"})
	if top == nil {
		return
	}
	if v := p.require(top, n, "", "name", "name: my-service"); v != nil {
		if s, ok := p.str(v, "name"); ok {
			if !namePattern.MatchString(s) {
				p.add(v, "name", "lower-case letters, digits and dashes, starting with a letter", "name %q cannot name an image", s)
			}
			f.Name = s
		}
	}
	if v := top["version"]; v != nil {
		f.Version, _ = p.str(v, "version")
	}
	f.Nodes = []int{1, 3, 5}
	if v := top["nodes"]; v != nil {
		if list, ok := p.strs(v, "nodes"); ok {
			f.Nodes = nil
			for _, s := range list {
				c, err := strconv.Atoi(s)
				if err != nil || c < 1 || c > 9 {
					p.add(v, "nodes", "cluster sizes from 1 to 9, such as [1, 3, 5]", "%q is not a cluster size", s)
					continue
				}
				f.Nodes = append(f.Nodes, c)
			}
		}
	}
	if v := p.require(top, n, "", "files", "files: {binary: ./bin/my-service}"); v != nil {
		p.files(v, f)
	}
	if v := p.require(top, n, "", "command", "command: /usr/bin/my-service --listen {{.Addr}}:7000 --data {{.DataDir}}"); v != nil {
		f.Command = p.command(v, "command", sampleNode)
		if f.Command != nil {
			if w, _ := f.Command.Words(sampleNode); len(w) == 0 {
				p.add(v, "command", "name the executable first", "the command is empty")
			}
		}
	}
	if v := top["env"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.add(v, "env", `write a list such as ["NAME=value"]`, "want a list of NAME=value")
		} else {
			for i, c := range v.Content {
				at := fmt.Sprintf("env[%d]", i)
				t := p.template(c, at, sampleNode)
				if t != nil && !strings.Contains(t.Source, "=") {
					p.add(c, at, `write NAME=value`, "%q sets no variable", t.Source)
				}
				f.Env = append(f.Env, t)
			}
		}
	}
	if v := p.require(top, n, "", "ready", "ready: {tcp: 7000}"); v != nil {
		p.ready(v, f)
	}
	if v := top["leader"]; v != nil {
		p.leader(v, f)
	}
	if v := top["logs"]; v != nil {
		m := p.fields(v, "logs", []string{"leader", "start", "restart", "storage"})
		for key, dst := range map[string]*[]string{"leader": &f.Logs.Leader, "start": &f.Logs.Start, "restart": &f.Logs.Restart, "storage": &f.Logs.Storage} {
			if m[key] != nil {
				*dst, _ = p.strs(m[key], "logs."+key)
			}
		}
	}
	if v := p.require(top, n, "", "adapter", "adapter: {command: python3 {{.Dir}}/adapter.py {{.Addr}}, workloads: [register]}"); v != nil {
		m := p.fields(v, "adapter", []string{"command", "workloads"})
		if m != nil {
			if c := p.require(m, v, "adapter", "command", "command: python3 {{.Dir}}/adapter.py {{.Addr}}"); c != nil {
				f.Adapter.Command = p.command(c, "adapter.command", sampleAdapt)
			}
			if w := p.require(m, v, "adapter", "workloads", "workloads: [register]"); w != nil {
				if list, ok := p.strs(w, "adapter.workloads"); ok {
					for _, s := range list {
						if !slices.Contains(adapterWorkloads, s) {
							p.add(w, "adapter.workloads", "an adapter serves "+strings.Join(adapterWorkloads, ", "), "unknown workload %q", s)
						}
					}
					f.Adapter.Workloads = list
				}
			}
		}
	}
}

func (p *parser) files(n *yaml.Node, f *File) {
	m := p.fields(n, "files", []string{"binary", "debian", "dockerfile"})
	if m == nil {
		return
	}
	given := 0
	for _, k := range []string{"binary", "debian", "dockerfile"} {
		if m[k] != nil {
			given++
		}
	}
	if given != 1 {
		p.add(n, "files", "give files.binary (a static executable), files.debian (packages) or files.dockerfile (built locally)", "give exactly one way to get the node's files")
		return
	}
	if v := m["dockerfile"]; v != nil {
		s, ok := p.str(v, "files.dockerfile")
		if !ok {
			return
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(f.Dir, s)
		}
		if st, err := os.Stat(s); err != nil || !st.Mode().IsRegular() {
			p.add(v, "files.dockerfile", "a path relative to the system file; its directory is the build context", "%s is not a file", s)
		}
		f.Files.Dockerfile = s
		return
	}
	if v := m["binary"]; v != nil {
		s, ok := p.str(v, "files.binary")
		if !ok {
			return
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(f.Dir, s)
		}
		if st, err := os.Stat(s); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			p.add(v, "files.binary", "build the executable first, or correct the path (relative to the system file)", "%s is not an executable file", s)
		}
		f.Files.Binary = s
		return
	}
	v := m["debian"]
	d := p.fields(v, "files.debian", []string{"packages", "binaries", "keep"})
	if d == nil {
		return
	}
	deb := &Debian{}
	if x := p.require(d, v, "files.debian", "packages", "packages: [redis-server]"); x != nil {
		deb.Packages, _ = p.strs(x, "files.debian.packages")
		for _, s := range deb.Packages {
			if !regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`).MatchString(s) {
				p.add(x, "files.debian.packages", "Debian package names are lower-case letters, digits and + - .", "%q is not a package name", s)
			}
		}
	}
	if x := p.require(d, v, "files.debian", "binaries", "binaries: [/usr/bin/redis-server]"); x != nil {
		deb.Binaries, _ = p.strs(x, "files.debian.binaries")
		for _, s := range deb.Binaries {
			if !filepath.IsAbs(s) {
				p.add(x, "files.debian.binaries", "write the path the package installs, such as /usr/bin/redis-server", "%q is not an absolute path", s)
			}
		}
	}
	if x := d["keep"]; x != nil {
		deb.Keep, _ = p.strs(x, "files.debian.keep")
	}
	f.Files.Debian = deb
}

func (p *parser) ready(n *yaml.Node, f *File) {
	m := p.fields(n, "ready", []string{"tcp", "http", "command"})
	if m == nil {
		return
	}
	given := 0
	for _, k := range []string{"tcp", "http", "command"} {
		if m[k] != nil {
			given++
		}
	}
	if given != 1 {
		p.add(n, "ready", "give one of ready.tcp (a port), ready.http (a URL) or ready.command", "give exactly one readiness check")
		return
	}
	switch {
	case m["tcp"] != nil:
		s, ok := p.str(m["tcp"], "ready.tcp")
		port, err := strconv.Atoi(s)
		if ok && (err != nil || port < 1 || port > 65535) {
			p.add(m["tcp"], "ready.tcp", "a port such as 6379", "%q is not a TCP port", s)
		}
		f.Ready.TCP = port
	case m["http"] != nil:
		f.Ready.HTTP = p.template(m["http"], "ready.http", sampleNode)
		if f.Ready.HTTP != nil {
			if u, _ := f.Ready.HTTP.Expand(sampleNode); !strings.HasPrefix(u, "http://") {
				p.add(m["http"], "ready.http", "such as http://{{.Addr}}:8222/healthz", "%q is not an http:// URL", u)
			}
		}
	default:
		f.Ready.Command = p.command(m["command"], "ready.command", sampleNode)
	}
}

func (p *parser) leader(n *yaml.Node, f *File) {
	m := p.fields(n, "leader", []string{"command", "http", "json"})
	if m == nil {
		return
	}
	if (m["command"] == nil) == (m["http"] == nil) {
		p.add(n, "leader", "give leader.command (prints the leader) or leader.http (a URL whose body names it)", "give exactly one way to ask for the leader")
		return
	}
	l := &Leader{}
	if v := m["command"]; v != nil {
		l.Command = p.command(v, "leader.command", sampleNode)
	} else {
		l.HTTP = p.template(m["http"], "leader.http", sampleNode)
		if l.HTTP != nil {
			if u, _ := l.HTTP.Expand(sampleNode); !strings.HasPrefix(u, "http://") {
				p.add(m["http"], "leader.http", "such as http://{{.Addr}}:8222/leader", "%q is not an http:// URL", u)
			}
		}
	}
	if v := m["json"]; v != nil {
		l.JSON, _ = p.str(v, "leader.json")
	}
	f.Leader = l
}

// Vars are the template variables of node i of a cluster, placed at
// addrs with data directory dataDir.
func (f *File) Vars(i int, names []string, addrs []netip.Addr, dataDir, token string) NodeVars {
	peers := make([]Peer, len(names))
	for j := range names {
		peers[j] = Peer{Name: names[j], Addr: addrs[j].String()}
	}
	return NodeVars{Name: names[i], Addr: addrs[i].String(), DataDir: dataDir, Index: i, Peers: peers, Token: token, Dir: f.Dir}
}

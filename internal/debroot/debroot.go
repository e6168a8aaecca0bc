package debroot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Spec is what a root holds.
type Spec struct {
	// Packages are the Debian packages to get.
	Packages []string
	// Binaries are absolute paths inside the packages that must run.
	Binaries []string
	// Files are further paths to keep (files or directories).
	Files []string
}

// Root is a built root file system.
type Root struct {
	// Dir is the root's directory.
	Dir string
	// Content is the hash of everything that went into it.
	Content string
	// Versions are the versions of every package downloaded, by name.
	Versions map[string]string
	// Size is the bytes of the regular files kept.
	Size int64
}

// format changes when the reduction changes, so an older root is rebuilt.
const format = "debroot-v1"

// libDirs are where the ELF interpreter of Debian's amd64 looks.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// aptMu serialises the use of apt: its lists and cache are one per host.
var aptMu sync.Mutex

// Build returns the root for spec from cacheDir, building it when it is
// not there; built says whether it had to.
func Build(ctx context.Context, spec Spec, cacheDir string, progress io.Writer) (Root, bool, error) {
	if progress == nil {
		progress = io.Discard
	}
	if len(spec.Packages) == 0 || len(spec.Binaries) == 0 {
		return Root{}, false, errors.New("a Debian root needs at least one package and one binary")
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	pkgs, err := closure(ctx, spec.Packages)
	if err != nil {
		return Root{}, false, err
	}
	root := Root{Versions: map[string]string{}}
	var names []string
	for _, p := range pkgs {
		root.Versions[p.name] = p.version
		names = append(names, p.name+"="+p.version)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\npackages %s\nbinaries %s\nfiles %s\n", format, strings.Join(names, " "), strings.Join(spec.Binaries, " "), strings.Join(spec.Files, " "))
	root.Content = hex.EncodeToString(h.Sum(nil))
	root.Dir = filepath.Join(cacheDir, root.Content[:16])
	if _, err := os.Stat(filepath.Join(root.Dir, ".lab-complete")); err == nil {
		root.Size, _ = dirSize(filepath.Join(root.Dir, "root"))
		root.Dir = filepath.Join(root.Dir, "root")
		return root, false, nil
	}
	fmt.Fprintf(progress, "debroot: downloading %d packages: %s\n", len(names), strings.Join(names, " "))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Root{}, false, err
	}
	tmp, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return Root{}, false, err
	}
	defer os.RemoveAll(tmp)
	debs := filepath.Join(tmp, "debs")
	stage := filepath.Join(tmp, "stage")
	out := filepath.Join(tmp, "out", "root")
	for _, d := range []string{debs, stage, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Root{}, false, err
		}
	}
	args := append([]string{"download"}, names...)
	if b, err := run(ctx, debs, "apt-get", args...); err != nil {
		return Root{}, false, fmt.Errorf("apt-get download: %v: %s", err, tail(b))
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, f := range files {
		if b, err := run(ctx, "", "dpkg-deb", "-x", f, stage); err != nil {
			return Root{}, false, fmt.Errorf("dpkg-deb -x %s: %v: %s", filepath.Base(f), err, tail(b))
		}
	}
	if err := reduce(stage, out, spec); err != nil {
		return Root{}, false, err
	}
	for _, d := range []string{"tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o1777); err != nil {
			return Root{}, false, err
		}
	}
	os.Chmod(filepath.Join(out, "tmp"), 0o1777)
	if err := os.WriteFile(filepath.Join(tmp, "out", ".lab-complete"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return Root{}, false, err
	}
	os.RemoveAll(root.Dir)
	if err := os.Rename(filepath.Join(tmp, "out"), root.Dir); err != nil {
		return Root{}, false, err
	}
	root.Dir = filepath.Join(root.Dir, "root")
	root.Size, _ = dirSize(root.Dir)
	fmt.Fprintf(progress, "debroot: root of %.1f MB in %s\n", float64(root.Size)/1e6, root.Dir)
	return root, true, nil
}

type pkg struct{ name, version string }

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	updatedOnce bool
)

// closure resolves the named packages, everything they depend on
// directly, and the libraries (packages named lib*) those depend on, to
// their candidate versions. Programs and scripts a package depends on
// beyond the first level (perl for adduser, say) are left out: the root
// keeps only what the binaries load.
func closure(ctx context.Context, named []string) ([]pkg, error) {
	for _, n := range named {
		if !nameRE.MatchString(n) {
			return nil, fmt.Errorf("package %q: not a Debian package name", n)
		}
	}
	seen := map[string]bool{}
	var out []pkg
	// Level by level, one apt-cache call a level: each call costs half a
	// second here whatever it asks, and a root has three levels or so.
	level := slices.Clone(named)
	for depth := 0; len(level) > 0; depth++ {
		var ask []string
		for _, n := range level {
			if !seen[n] {
				seen[n] = true
				ask = append(ask, n)
			}
		}
		if len(ask) == 0 {
			break
		}
		found, err := showAll(ctx, ask)
		if err != nil {
			return nil, err
		}
		level = nil
		for _, n := range ask {
			st, ok := found[n]
			if !ok {
				if depth == 0 {
					return nil, fmt.Errorf("package %s: not known to apt (apt-cache show)", n)
				}
				// A virtual package or one of another architecture among
				// the dependencies: the ELF check finds any library missing.
				continue
			}
			out = append(out, pkg{n, st.version})
			for _, d := range st.deps {
				if depth == 0 || strings.HasPrefix(d, "lib") {
					level = append(level, d)
				}
			}
		}
	}
	return out, nil
}

type stanza struct {
	version string
	deps    []string
}

// showAll is apt-cache's candidate version of each of names and the names
// of its Depends and Pre-Depends (the first of each set of alternatives).
// Names apt does not know are absent from the map; apt's lists are
// updated once if none of the names is known.
func showAll(ctx context.Context, names []string) (map[string]stanza, error) {
	args := append([]string{"show", "--no-all-versions"}, names...)
	b, err := run(ctx, "", "apt-cache", args...)
	found := parseStanzas(b)
	if len(found) == 0 && !updatedOnce {
		updatedOnce = true
		if ub, uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
			return nil, fmt.Errorf("apt-get update: %v: %s", uerr, tail(ub))
		}
		b, err = run(ctx, "", "apt-cache", args...)
		found = parseStanzas(b)
	}
	if len(found) == 0 && err != nil {
		return nil, fmt.Errorf("apt-cache show %s: %v: %s", strings.Join(names, " "), err, tail(b))
	}
	return found, nil
}

func parseStanzas(b []byte) map[string]stanza {
	out := map[string]stanza{}
	var name string
	var cur stanza
	flush := func() {
		if name != "" && cur.version != "" {
			if _, dup := out[name]; !dup {
				out[name] = cur
			}
		}
		name, cur = "", stanza{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch key {
		case "Package":
			name = val
		case "Version":
			cur.version = val
		case "Depends", "Pre-Depends":
			for _, alt := range strings.Split(val, ",") {
				first, _, _ := strings.Cut(alt, "|")
				first = strings.TrimSpace(first)
				if i := strings.IndexAny(first, " ("); i >= 0 {
					first = first[:i]
				}
				first, _, _ = strings.Cut(first, ":")
				if first != "" {
					cur.deps = append(cur.deps, first)
				}
			}
		}
	}
	flush()
	return out
}

// reduce copies from stage to out the binaries (and the targets of their
// symlinks), their interpreter, the libraries they need, and spec.Files.
func reduce(stage, out string, spec Spec) error {
	keep := map[string]bool{}
	var elfs []string
	for _, b := range spec.Binaries {
		paths, err := chain(stage, b)
		if err != nil {
			return fmt.Errorf("binary %s: %w (is it in one of the packages %s?)", b, err, strings.Join(spec.Packages, ", "))
		}
		for _, p := range paths {
			keep[p] = true
		}
		elfs = append(elfs, paths[len(paths)-1])
	}
	done := map[string]bool{}
	for len(elfs) > 0 {
		p := elfs[0]
		elfs = elfs[1:]
		if done[p] {
			continue
		}
		done[p] = true
		f, err := elf.Open(filepath.Join(stage, p))
		if err != nil {
			return fmt.Errorf("%s: not an ELF file: %w", p, err)
		}
		needed, _ := f.ImportedLibraries()
		var interp string
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b, _ := io.ReadAll(prog.Open())
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
		f.Close()
		if interp != "" {
			paths, err := chain(stage, interp)
			if err != nil {
				return fmt.Errorf("%s: its interpreter %s: %w", p, interp, err)
			}
			for _, q := range paths {
				keep[q] = true
			}
		}
		for _, lib := range needed {
			found := false
			for _, d := range libDirs {
				paths, err := chain(stage, filepath.Join(d, lib))
				if err != nil {
					continue
				}
				for _, q := range paths {
					keep[q] = true
				}
				elfs = append(elfs, paths[len(paths)-1])
				found = true
				break
			}
			if !found {
				return fmt.Errorf("%s needs %s, which none of the packages downloaded holds", p, lib)
			}
		}
	}
	for _, f := range spec.Files {
		full := filepath.Join(stage, f)
		err := filepath.WalkDir(full, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(stage, path)
			keep["/"+rel] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("keep %s: %w", f, err)
		}
	}
	paths := make([]string, 0, len(keep))
	for p := range keep {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := copyOne(stage, out, p); err != nil {
			return err
		}
	}
	return nil
}

// chain follows p through symlinks inside the root (Debian's /lib is a
// link to /usr/lib): every path on the way, the last a regular file.
func chain(root, p string) ([]string, error) {
	var out []string
	for i := 0; i < 40; i++ {
		p = resolveDirs(root, p)
		st, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			return nil, fmt.Errorf("not found")
		}
		out = append(out, p)
		if st.Mode()&fs.ModeSymlink == 0 {
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("not a file")
			}
			return out, nil
		}
		t, _ := os.Readlink(filepath.Join(root, p))
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	return nil, errors.New("too many symlinks")
}

// resolveDirs rewrites p so that no directory on its way is a symlink,
// as the merged /usr of Debian 12 has it (/lib -> usr/lib).
func resolveDirs(root, p string) string {
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		if i < len(parts)-1 {
			if st, err := os.Lstat(filepath.Join(root, next)); err == nil && st.Mode()&fs.ModeSymlink != 0 {
				t, _ := os.Readlink(filepath.Join(root, next))
				if !filepath.IsAbs(t) {
					t = filepath.Join(cur, t)
				}
				next = resolveDirs(root, t)
			}
		}
		cur = next
	}
	return cur
}

// copyOne copies the file or symlink at p from stage to out, with its
// parent directories; a directory is created.
func copyOne(stage, out, p string) error {
	src, dst := filepath.Join(stage, p), filepath.Join(out, p)
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	switch {
	case st.IsDir():
		return os.MkdirAll(dst, st.Mode().Perm())
	case st.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.Remove(dst)
		return os.Symlink(t, dst)
	default:
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, st.Mode().Perm())
	}
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}

func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	return cmd.CombinedOutput()
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

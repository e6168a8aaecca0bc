package etcd

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/lab-chaos/lab/internal/gobuild"
	"github.com/lab-chaos/lab/runtime"
)

//go:embed buildmod/main.go.in buildmod/main34.go.in buildmod/go.mod.in buildmod/go.sum.in
var buildmod embed.FS

// generatedGoMod is the go.mod every generated build module starts from;
// `go get` then adds the server and its dependencies.
const generatedGoMod = "module lab.local/etcdbuild\n\ngo 1.21\n"

// bumps are required by every generated build module besides the server:
// floors under old dependencies of etcd 3.4 and early 3.5 that are known
// to break on current Go. A floor never lowers what a release requires.
// reflect2 v1.0.1 (pinned by 3.4 through json-iterator) is known to crash
// on Go 1.18 and newer; v1.0.2 is its fix.
var bumps = []string{"github.com/modern-go/reflect2@v1.0.2"}

// buildFiles is the build module of t, file name to content, and the
// arguments of its `go get` (none for the pinned module).
func buildFiles(t target) (map[string][]byte, []string) {
	read := func(name string) []byte {
		b, _ := buildmod.ReadFile("buildmod/" + name)
		return b
	}
	if t.Pinned {
		return map[string][]byte{"main.go": read("main.go.in"), "go.mod": read("go.mod.in"), "go.sum": read("go.sum.in")}, nil
	}
	main := read("main.go.in")
	if t.Legacy() {
		main = read("main34.go.in")
	}
	get := append([]string{t.Module + "@" + t.ModVersion}, bumps...)
	return map[string][]byte{"main.go": main, "go.mod": []byte(generatedGoMod)}, get
}

// contentHash covers every input of t's binary: the build module, what
// `go get` adds to it, the Go toolchain that compiles it and the target
// platform.
func contentHash(t target) string { return program(t).Content }

// program is how the server of t is built, and where it is cached:
// os.UserCacheDir()/lab/etcd-<release>-<hash of its inputs>/etcd. The
// pinned module builds as it is (-mod=readonly: its go.sum is complete);
// a generated one first gets the server's module and the bumps from the
// proxy.
func program(t target) gobuild.Program {
	files, get := buildFiles(t)
	return gobuild.Program{
		Name:    "etcd",
		Version: t.Release,
		Binary:  "etcd",
		Files:   files,
		Get:     get,
		Content: gobuild.ContentHash(files, fmt.Sprintf("go get %s\n", strings.Join(get, " "))),
	}
}

// Artifact returns the static etcd server of the instance's release,
// built once into the cache and reused from there by every later run, in
// either runtime.
func (e *Etcd) Artifact(ctx context.Context) (runtime.Artifact, bool, error) {
	prog := program(e.target)
	path, built, err := prog.BuildOnce(ctx, e.BuildOutput)
	return runtime.Artifact{Name: "etcd", Version: e.target.Release, Binary: path, Content: prog.Content}, built, err
}

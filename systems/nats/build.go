package nats

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/lab-chaos/lab/internal/gobuild"
	"github.com/lab-chaos/lab/runtime"
)

//go:embed buildmod/main.go.in
var wrapper []byte

// module is the server's module path on the Go module proxy.
const module = "github.com/nats-io/nats-server/v2"

// goMod is the go.mod of the build module; `go get` adds the server.
const goMod = "module lab.local/natsbuild\n\ngo 1.21\n"

// versionPattern is a release or pre-release name, without the "v".
var versionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// program is how nats-server v is built with the wrapper, and where it is
// cached: os.UserCacheDir()/lab/nats-<v>-<hash>/nats-server. The hash
// covers the wrapper, the server's module and version, the Go toolchain
// and the platform; go.mod, a constant, is left out of it as it always
// was, so that the binaries already cached keep their directories.
func program(v string) gobuild.Program {
	return gobuild.Program{
		Name:    "nats",
		Version: v,
		Binary:  "nats-server",
		Files:   map[string][]byte{"go.mod": []byte(goMod), "main.go": wrapper},
		Get:     []string{module + "@v" + v},
		Content: gobuild.ContentHash(map[string][]byte{"main.go": wrapper}, fmt.Sprintf("%s@v%s\n", module, v)),
	}
}

// checkServed is nil when the module proxy serves version v; otherwise
// the error names the versions nearby.
func checkServed(ctx context.Context, v string) error {
	vs, err := gobuild.ModuleVersions(ctx, module)
	if err != nil {
		return fmt.Errorf("asking the Go module proxy which nats-server versions it serves: %w", err)
	}
	if slices.Contains(vs, v) {
		return nil
	}
	return fmt.Errorf("nats-server %s is not served by the Go module proxy (versions nearby: %s; the proxy serves %s to %s)",
		v, strings.Join(gobuild.NearbyVersions(v, vs), ", "), vs[0], vs[len(vs)-1])
}

// artifact returns the server of version v, building it unless cached.
func artifact(ctx context.Context, v string, progress io.Writer) (runtime.Artifact, bool, error) {
	prog := program(v)
	path, built, err := prog.BuildOnce(ctx, progress)
	return runtime.Artifact{Name: "nats", Version: v, Binary: path, Content: prog.Content}, built, err
}

package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lab-chaos/lab/runtime"
)

// TestDockerfileImageContext: a team's Dockerfile is built with its own
// directory as the context, and the lab adds only the entry point.
func TestDockerfileImageContext(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY server /srv/server"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("server", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	img := ArtifactImage(runtime.Artifact{Name: "svc", Binary: "/srv/server", Dockerfile: filepath.Join(dir, "Dockerfile"), Content: "abc"})
	if img.Name != "lab-svc" || img.Content != "abc" {
		t.Fatalf("image %q content %q", img.Name, img.Content)
	}
	files, err := img.Context(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(files["Dockerfile"].Data), "FROM scratch\nCOPY server /srv/server\nENTRYPOINT [\"/srv/server\"]\n"; got != want {
		t.Errorf("Dockerfile %q, want %q", got, want)
	}
	if f := files["server"]; string(f.Data) != "\x7fELF" || f.Mode != 0o755 {
		t.Errorf("server %+v", f)
	}
	if !files["conf"].Dir || files["link"].Link != "server" {
		t.Errorf("conf %+v, link %+v", files["conf"], files["link"])
	}
	for name := range files {
		if strings.HasPrefix(name, "root/") {
			t.Errorf("%s: a Dockerfile's context has no root/ prefix", name)
		}
	}
}

package labtest

import (
	"os/exec"
	"testing"
)

// Chromium returns the path of a headless-capable Chromium (Debian's
// chromium package; `make test-deps` installs it), or skips the test with
// the reason, or fails it when the environment requires the full suite (CI
// or LAB_REQUIRE_DOCKER set): a green CI must mean the browser really ran.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if DockerRequired() {
		t.Fatal("chromium is required here (CI or LAB_REQUIRE_DOCKER) but not on PATH; install it with `make test-deps` (as root)")
	}
	t.Skip("no chromium on PATH: install it with `make test-deps` (as root), or apt-get install chromium")
	return ""
}

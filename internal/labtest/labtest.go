// Package labtest holds helpers shared by the lab's tests: a Docker engine
// that is really there, and root.
//
// When the environment says Docker is required (CI, or LAB_REQUIRE_DOCKER
// set), a test that cannot reach the engine fails instead of skipping, so a
// green CI means the containers really ran.
package labtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/lab-chaos/lab/runtime/docker"
)

// DockerRequired reports whether Docker tests must run.
func DockerRequired() bool {
	return os.Getenv("LAB_REQUIRE_DOCKER") != "" || os.Getenv("CI") != ""
}

// Docker returns a client of a reachable engine (checked with a real Ping),
// or skips the test, or fails it when Docker is required. Tests that start
// containers also need root for the network namespaces: the same rule
// applies.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := docker.Connect(ctx)
	if err != nil {
		if DockerRequired() {
			t.Fatalf("Docker is required here (CI or LAB_REQUIRE_DOCKER) but not reachable: %v", err)
		}
		t.Skipf("no Docker engine: %v (set LAB_REQUIRE_DOCKER=1 to make this a failure)", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Root skips (or, where Docker is required, fails) a test that needs root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if DockerRequired() {
		t.Fatal("this test needs root (network namespaces and nftables), and CI requires it")
	}
	t.Skip("needs root (network namespaces and nftables)")
}

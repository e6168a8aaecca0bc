# The lab's build. `make run` builds what it needs (the lab, then the etcd
# image on first use) and runs the main scenario; `make test` runs every test,
# the Docker ones included.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
SCENARIO ?= scenarios/partition.yaml

.PHONY: build run test lint bench clean cleanup

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/lab ./cmd/lab

run: build
	bin/lab run $(SCENARIO)

# The Docker tests start real clusters: they need a Docker engine and root.
# With CI or LAB_REQUIRE_DOCKER set, an unreachable engine fails them.
test: test-deps
	$(GO) test -count=1 -p 1 -timeout 40m ./...

# The report's browser test needs Debian's chromium, and the Redis and example
# adapters python3; as root, install them.
.PHONY: test-deps
test-deps:
	@{ command -v chromium >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; } || { [ "$$(id -u)" = 0 ] && apt-get update && apt-get install -y chromium python3; } || echo "chromium missing: the browser test will skip (as root, make test-deps installs it)"

# The real one-node Kubernetes cluster (internal/kube, docs/kubernetes.md): root,
# Docker, containerd, runc and Debian's containernetworking-plugins (installed
# here, as root); the first run builds Kubernetes, 9 to 14 minutes on 2 cores.
.PHONY: test-kube
test-kube:
	@[ -x /usr/lib/cni/bridge ] || { [ "$$(id -u)" = 0 ] && apt-get update && apt-get install -y containernetworking-plugins; }
	LAB_KUBE=1 $(GO) test -count=1 -v -run 'TestOneNodeCluster|TestCleanupAfterCrash' -timeout 40m ./internal/kube/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks: the harness on the fake system (recorded operations per
# second), etcd through the example adapter against the Go client (one
# member on loopback), the checker against porcupine alone (long), then the
# time each fault takes to apply and to heal (root and Docker needed).
bench:
	$(GO) test -run '^$$' -bench Harness -benchtime 3x -timeout 10m ./workloads/
	$(GO) test -run '^$$' -bench . -benchtime 2000x -count 3 -timeout 10m ./examples/etcd-adapter/
	$(GO) test -run '^$$' -bench . -benchtime 1x -benchmem -timeout 60m ./checker/
	$(GO) test -run '^$$' -bench . -benchtime 20x -timeout 20m ./nemesis/ ./runtime/docker/

cleanup: build
	bin/lab cleanup

clean:
	rm -rf bin

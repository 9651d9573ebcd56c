# GoHands build, run and test targets. `make run` and `make test` are all a fresh machine needs.
GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
GOFLAGS_AGENT = CGO_ENABLED=0 GOOS=linux
SANDBOX_IMAGE ?= gohands/sandbox:bookworm
BROWSER_IMAGE ?= gohands/browser:bookworm
AGENT_IMAGE   ?= gohands/runtime-agent:local
SANDBOX_AGENT_IMAGE ?= gohands/sandbox-agent:local

.PHONY: all build agent server run test test-short bench bench-live fuzz vet fmt lint sandbox-image browser-image agent-image sandbox-agent-image clean kube-build kube-up kube-down

all: build

build: agent server

# The runtime-agent must be static: it is copied into arbitrary images.
agent:
	$(GOFLAGS_AGENT) $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/runtime-agent ./cmd/runtime-agent

# Static too, so that the Dockerfile can run it on any base.
server:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/gohands ./cmd/server

run: build sandbox-image browser-image
	$(BIN)/gohands

vet:
	$(GO) vet $(PKGS)

# staticcheck at a fixed version, built once from the Go module proxy into $(BIN)/tools.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK = $(BIN)/tools/staticcheck-$(STATICCHECK_VERSION)
$(STATICCHECK):
	mkdir -p $(BIN)/tools
	GOBIN=$(abspath $(BIN))/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/tools/staticcheck $@

lint: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# gofmt, vet and staticcheck; every test, the Docker and Kubernetes ones included, with the race
# detector; then a short run of every fuzz target.
# vet runs with -race too, so that it reuses the packages the race build compiles (on a cold build
# cache a plain vet would compile every dependency once more, about three minutes on two cores).
# -trimpath keeps the checkout's folder out of the build cache's keys: a new clone of a tree built
# before compiles only what changed (without it, every package of the module again).
# The Kubernetes backend's tests run against the single-node cluster kube-up brings up (its build,
# long on a fresh machine, happens here rather than under the tests' timeout).
test: fmt build sandbox-image browser-image kube-up
	$(GO) vet -race -trimpath $(PKGS)
	$(MAKE) lint
	$(GO) test -race -trimpath -count=1 -timeout 20m $(PKGS)
	$(MAKE) fuzz

test-short:
	$(GO) test -short -count=1 $(PKGS)

FUZZTIME ?= 10s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# Every Go benchmark (each measures its own baseline in the same run), one table of their
# figures and ratios, then the server benchmarks (socket fan-out, GET rate, and the scale run:
# 10,000 conversations and 1,000,000 events, about 4 minutes and 600 MB of temporary disk).
bench: build sandbox-image browser-image
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS) | tee $(BIN)/bench.txt
	$(GO) run ./bench -summary $(BIN)/bench.txt
	$(GO) run ./bench

# The live-load benchmarks, apart from bench since they run Docker sandboxes by the hundred (about
# an hour on two cores under load): 1,000 conversations each sent one command and left idle, containers on
# the engine against the live cap after the idle timeout; 100 scripted conversations of 20 terminal
# steps at once against one alone.
bench-live: build sandbox-image
	$(GO) run ./bench -run idle,agents

sandbox-image:
	@bash scripts/sandbox-image.sh $(SANDBOX_IMAGE)

# The runtime-agent alone on scratch: what a Kubernetes sandbox's init container copies the agent from.
agent-image: agent
	@bash scripts/agent-image.sh $(BIN)/runtime-agent $(AGENT_IMAGE)

# The sandbox image with the runtime-agent in it: a Kubernetes sandbox of an image that carries the
# agent (SANDBOX_IMAGES_WITH_AGENT) is one container, without the agent-install one.
sandbox-agent-image: agent sandbox-image
	@bash scripts/sandbox-agent-image.sh $(BIN)/runtime-agent $(SANDBOX_IMAGE) $(SANDBOX_AGENT_IMAGE)

# Debian's Chromium on the sandbox image, for the agent's browser (one container per conversation).
browser-image: sandbox-image
	@bash scripts/browser-image.sh $(BROWSER_IMAGE) $(SANDBOX_IMAGE)

# A single-node Kubernetes cluster for the Kubernetes backend's tests: binaries built once from the
# Go module proxy into a versioned cache outside the clone (40 to 60 minutes on two busy cores with
# a cold Go build cache, nothing when present), then the daemons started with their state outside
# the clone. `kube-up` reuses a running cluster; `scripts/kube/cluster.sh env` prints KUBECONFIG=.
kube-build:
	@bash scripts/kube/build.sh >/dev/null

kube-up: sandbox-image
	@bash scripts/kube/cluster.sh up

kube-down:
	@bash scripts/kube/cluster.sh down

clean:
	rm -rf $(BIN)

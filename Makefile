# intercept-proxy: `make run` starts it, `make test` tests it. Both install missing Debian packages first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := /opt/swift/usr/bin:$(PATH)

SWIFT ?= swift
RELEASE_BIN := .build/release/intercept-proxy

# What the build needs: <check>:<package>. A check is a command on PATH, dpkg/<package> for libraries,
# or pymod/<module> for a module python3 must import.
BUILD_PACKAGES := dpkg/libssl-dev:libssl-dev dpkg/libnghttp2-dev:libnghttp2-dev pkg-config:pkg-config
# The real peers the tests drive.
TEST_PACKAGES := openssl:openssl curl:curl wget:wget python3:python3 pip3:python3-pip node:nodejs npm:npm git:git \
                 keytool:openjdk-17-jre-headless javac:openjdk-17-jdk-headless unshare:util-linux ip:iproute2 iptables:iptables debootstrap:debootstrap \
                 pymod/requests:python3-requests pymod/ensurepip:python3-venv go:golang-go ruby:ruby faketime:faketime chromium:chromium chromedriver:chromium-driver
# Clients the world tests drive that Debian does not package (uv) or packages too old (httpx), from PyPI.
TOOLS_VENV := .build/tools-venv
TOOLS_PINS := uv==0.13.9 httpx==0.29.0
GRPC_VERSION := 1.68.1
SELENIUM_VERSION := 4.27.1
export INTERCEPT_PROXY_TOOLS_VENV := $(abspath $(TOOLS_VENV))

# What `make bench` (and its smoke run in `make test`) needs: nginx as the HTTPS origin, curl as the
# load, and a Python that can make a virtual environment for mitmproxy from PyPI.
BENCH_PACKAGES := nginx:nginx-light curl:curl python3:python3 pymod/ensurepip:python3-venv
BENCH_VENV := .build/bench-venv
MITMPROXY_VERSION := 11.0.2
# The interceptors written in C and Go that the full `make bench` also measures (issue #16); the smoke
# run in `make test` only checks the ones present, so `make test` does not install them.
BENCH_PEER_PACKAGES := dpkg/squid-openssl:squid-openssl sslsplit:sslsplit go:golang-go \
                       dpkg/golang-github-elazarl-goproxy-dev:golang-github-elazarl-goproxy-dev
export INTERCEPT_PROXY_BENCH_VENV := $(abspath $(BENCH_VENV))

# A minimal Debian root filesystem in which the Debian snippet is run verbatim (built once per machine).
ROOTFS ?= /var/cache/intercept-proxy/rootfs-bookworm
export INTERCEPT_PROXY_TEST_ROOTFS := $(ROOTFS)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# Installs whichever of the given packages are missing, with sudo when not root, and says so.
define ensure_packages
missing=""; \
for pair in $(1); do \
  check=$${pair%%:*}; package=$${pair##*:}; \
  case "$$check" in \
    pymod/*) python3 -c "import $${check#pymod/}" >/dev/null 2>&1 || missing="$$missing $$package" ;; \
    dpkg/*) dpkg-query -W -f='$${Status}' "$${check#dpkg/}" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package" ;; \
    *) command -v "$$check" >/dev/null 2>&1 || missing="$$missing $$package" ;; \
  esac; \
done; \
if [ -n "$$missing" ]; then \
  echo "make: installing missing Debian packages:$$missing"; \
  sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
  $$sudo apt-get update -qq; \
  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
else \
  echo "make: required Debian packages are present ($(2))"; \
fi
endef

.PHONY: leak-check container-deps container-prerequisites all deps test-deps bench-deps bench-peer-deps build run test bench bench-smoke bench-forge soak clean sanitize sanitize-ci fuzz fuzz-smoke fuzz-build

all: build

deps:
	@$(call ensure_packages,$(BUILD_PACKAGES),build)

test-deps: deps bench-deps
	@$(call ensure_packages,$(TEST_PACKAGES),tests)

bench-deps: deps
	@$(call ensure_packages,$(BENCH_PACKAGES),benchmark)

bench-peer-deps: bench-deps
	@$(call ensure_packages,$(BENCH_PEER_PACKAGES),benchmark peers)

$(TOOLS_VENV)/bin/uv:
	@echo "make: installing $(TOOLS_PINS) from PyPI into $(TOOLS_VENV) (clients the world tests drive)"
	rm -rf $(TOOLS_VENV)
	python3 -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check $(TOOLS_PINS)

# gRPC's Python client for the ALPN policy test (a gateway that selects no ALPN breaks it).
$(TOOLS_VENV)/.grpcio-$(GRPC_VERSION): $(TOOLS_VENV)/bin/uv
	@echo "make: installing grpcio $(GRPC_VERSION) from PyPI into $(TOOLS_VENV) (the gRPC client the ALPN test drives)"
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check grpcio==$(GRPC_VERSION)
	touch $@

# Selenium drives Debian's headless Chromium (chromium-driver) for the flow view's browser test.
$(TOOLS_VENV)/.selenium-$(SELENIUM_VERSION): $(TOOLS_VENV)/bin/uv
	@echo "make: installing selenium $(SELENIUM_VERSION) from PyPI into $(TOOLS_VENV) (drives headless Chromium for the /ui test)"
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check selenium==$(SELENIUM_VERSION)
	touch $@

$(BENCH_VENV)/bin/mitmdump:
	@echo "make: installing mitmproxy $(MITMPROXY_VERSION) from PyPI into $(BENCH_VENV) (the benchmark's baseline)"
	rm -rf $(BENCH_VENV)
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check mitmproxy==$(MITMPROXY_VERSION)

build: deps
	$(SWIFT) build -c release --product intercept-proxy

# Starts the proxy on 127.0.0.1:8080 (creating the CA in certs/ on first use) with the control API
# and its flow view on 127.0.0.1:8081 (ADMIN= turns it off); extra flags via ARGS.
ADMIN ?= 127.0.0.1:8081
run: build
	$(RELEASE_BIN) run $(if $(ADMIN),--admin $(ADMIN)) $(ARGS)

$(ROOTFS)/usr/bin/curl:
	@echo "make: building a minimal Debian bookworm rootfs in $(ROOTFS) for the snippet test (once per machine, about 30 s)"
	$(SUDO) rm -rf $(ROOTFS).partial
	$(SUDO) mkdir -p $(dir $(ROOTFS))
	$(SUDO) debootstrap --variant=minbase --include=ca-certificates,curl bookworm $(ROOTFS).partial
	$(SUDO) mv $(ROOTFS).partial $(ROOTFS)

# Container builds behind the proxy (Tests/CLITests/ContainerBuildTests.swift): buildah builds the
# Dockerfiles (podman imports the base image, skopeo pulls from docker-registry), as root with chroot
# isolation. Their base image comes from a second rootfs: the one above plus pip and venv, npm, Go and
# a Java runtime (doctor audits each), installed with apt inside it (debootstrap cannot resolve npm's
# dependencies itself). The marker is Java's: a rootfs made before Java joined is made again.
CONTAINER_PACKAGES := buildah:buildah podman:podman skopeo:skopeo docker-registry:docker-registry dpkg-deb:dpkg patch:patch
APPS_ROOTFS ?= /var/cache/intercept-proxy/rootfs-bookworm-apps
export INTERCEPT_PROXY_TEST_APPS_ROOTFS := $(APPS_ROOTFS)

container-deps:
	@$(call ensure_packages,$(CONTAINER_PACKAGES),container tests)

$(APPS_ROOTFS)/usr/bin/java: | $(ROOTFS)/usr/bin/curl
	@echo "make: building $(APPS_ROOTFS) (the rootfs above plus python3-pip, python3-venv, npm, golang-go and openjdk-17-jre-headless) for the container tests (once per machine, about 4 min)"
	$(SUDO) rm -rf $(APPS_ROOTFS).partial
	$(SUDO) cp -a $(ROOTFS) $(APPS_ROOTFS).partial
	$(SUDO) cp /etc/resolv.conf $(APPS_ROOTFS).partial/etc/resolv.conf
	# Java's post-install step needs /proc; it is unmounted whatever apt does.
	$(SUDO) mount -t proc proc $(APPS_ROOTFS).partial/proc; \
	status=0; $(SUDO) chroot $(APPS_ROOTFS).partial /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip python3-venv npm golang-go openjdk-17-jre-headless && apt-get clean && rm -rf /var/lib/apt/lists/*' \
		|| status=$$?; \
	$(SUDO) umount $(APPS_ROOTFS).partial/proc; exit $$status
	$(SUDO) rm -rf $(APPS_ROOTFS)
	$(SUDO) mv $(APPS_ROOTFS).partial $(APPS_ROOTFS)

container-prerequisites: container-deps $(APPS_ROOTFS)/usr/bin/java

# Runs every test, then prints one closing line: "tests: N passed, N failed".
test: test-deps $(ROOTFS)/usr/bin/curl container-prerequisites $(BENCH_VENV)/bin/mitmdump $(TOOLS_VENV)/bin/uv $(TOOLS_VENV)/.grpcio-$(GRPC_VERSION) $(TOOLS_VENV)/.selenium-$(SELENIUM_VERSION) fuzz-smoke sanitize-ci leak-check image
	@echo "make: building every product in release, as a Swift user's swift build -c release does"
	$(SWIFT) build -c release
	$(SWIFT) build --build-tests
	@mkdir -p .build
	@status=0; $(SWIFT) test 2>&1 | tee .build/test.log || status=$$?; \
	total=$$(grep -oE 'Test run with [0-9]+ tests?' .build/test.log | grep -oE '[0-9]+' | tail -1); \
	failed=$$(grep -cE ' Test [A-Za-z0-9_]+\([^)]*\).* failed after' .build/test.log || true); \
	if [ -z "$$total" ]; then echo "make: no test result line found"; exit 1; fi; \
	echo "tests: $$((total - failed)) passed, $$failed failed"; \
	exit $$status

# intercept-proxy beside mitmproxy, squid ssl-bump, sslsplit, goproxy and a direct connection (see
# Benchmarks/README.md); writes Benchmarks/results/latest.{md,json} and the performance table in docs/benchmarks.md.
# ARGS: e.g. --only keep-alive, --peers sslsplit, --baseline-binary /path/to/an/older/intercept-proxy.
bench: bench-peer-deps $(BENCH_VENV)/bin/mitmdump
	$(SWIFT) build -c release --product intercept-proxy
	$(SWIFT) build -c release --product forge-bench
	python3 Benchmarks/bench.py --proxy-binary $(RELEASE_BIN) --forge-bench .build/release/forge-bench \
		--venv $(BENCH_VENV) --readme docs/benchmarks.md $(ARGS)

# The few-second run of the same harness that `make test` also does (results in .build/bench-smoke).
bench-smoke: bench-deps $(BENCH_VENV)/bin/mitmdump
	$(SWIFT) build -c release --product intercept-proxy
	$(SWIFT) build -c release --product forge-bench
	python3 Benchmarks/bench.py --smoke --proxy-binary $(RELEASE_BIN) --forge-bench .build/release/forge-bench \
		--venv $(BENCH_VENV) --out .build/bench-smoke

# Forge latency (new host, cache hit) beside `openssl speed` for the same algorithms.
bench-forge: test-deps
	$(SWIFT) build -c release --product forge-bench
	.build/release/forge-bench

# A million requests (keep-alive, h2 streams, new tunnels) through a release build against nginx, with
# the proxy's RSS and open descriptors sampled every ~10 s; writes Benchmarks/results/soak.{md,json}.
# Bounded in count and time (--max-seconds); under nice, the machine being shared. ARGS: e.g. --requests 20000.
soak: bench-deps
	$(SWIFT) build -c release --product intercept-proxy
	nice python3 Benchmarks/soak.py --proxy-binary $(RELEASE_BIN) $(ARGS)

# The test suites under ThreadSanitizer and AddressSanitizer (Tests/Sanitizers/run.sh), built in .build-tsan
# and .build-asan beside the normal .build. Suppressions, only for code that is not ours: Tests/Sanitizers/*.supp.
# Memory budgets hold for the normal build, where `make test` measures them; shadow memory, redzones and
# quarantine break them, so sanitized runs leave these tests out, by name:
SANITIZE_MEMORY_BUDGET_TESTS := fiveThousandIdleConnectionsCostLittleAndAreReleased repeatedHostileInputLeavesNoDescriptorsOrMemoryBehind \
                                oneByteChunksOfAMebibyteComplete thousandPipelinedRequestsAreAnsweredInOrder
SANITIZE_SKIPS := $(foreach test,$(SANITIZE_MEMORY_BUDGET_TESTS),--skip '$(test)')
# What CI runs under ThreadSanitizer on every `make test`: the forwarding and HTTP/2 suites.
SANITIZE_CI_FILTER := --filter 'InterceptProxyTests\.(ForwardingTests|HTTP2Tests|HTTP2UpstreamTests|HTTP2HostileTests)'

sanitize: test-deps $(ROOTFS)/usr/bin/curl container-prerequisites $(BENCH_VENV)/bin/mitmdump
	@echo "make: sanitized runs leave out the memory-budget tests: $(SANITIZE_MEMORY_BUDGET_TESTS)"
	Tests/Sanitizers/run.sh thread $(SANITIZE_SKIPS)
	Tests/Sanitizers/run.sh address $(SANITIZE_SKIPS)

# The leak check every `make test` runs: LEAK_CHECK_COUNT connections of each kind (plain request,
# HTTP/1.1 and h2 tunnels, rejected handshake, client gone mid-response) through an AddressSanitizer
# build of the proxy, a stop at once with downloads in flight, and 0 leaked bytes at exit
# (Tests/Sanitizers/churn.py; the nginx origin and curl are the benchmarks').
LEAK_CHECK_COUNT ?= 1000
leak-check: bench-deps
	$(SWIFT) build --product intercept-proxy --scratch-path .build-asan --sanitize=address
	python3 Tests/Sanitizers/churn.py --proxy-binary .build-asan/debug/intercept-proxy --count $(LEAK_CHECK_COUNT)

sanitize-ci: test-deps $(BENCH_VENV)/bin/mitmdump
	Tests/Sanitizers/run.sh thread $(SANITIZE_CI_FILTER)

# libFuzzer targets for every parser (Fuzz/README.md), built apart from the normal build with
# ASan; seeds in Fuzz/corpus, new inputs in .build-fuzz/corpus, reproducers in .build-fuzz/crashes.
FUZZ_SCRATCH := .build-fuzz
FUZZ_TARGETS := http1-request http1-response connect-authority tls-client-hello h2-server pem-ca explain dockerfile
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_BUILD := $(SWIFT) build --product intercept-proxy-fuzz --scratch-path $(FUZZ_SCRATCH) \
	--sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING
# Not from --show-bin-path: asking it with other flags than the build's makes the next build start over.
FUZZ_BIN := $(FUZZ_SCRATCH)/$(shell uname -m)-unknown-linux-gnu/debug/intercept-proxy-fuzz

fuzz-build: deps
	$(FUZZ_BUILD) 2>&1 | grep -v "Cannot export local symbol '__asan"

# Each target for FUZZ_SECONDS (e.g. make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=h2-server); fails on a crash.
fuzz: fuzz-build
	Fuzz/run.sh $(FUZZ_BIN) $(FUZZ_SCRATCH) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The few seconds of each fuzzer that `make test` runs.
fuzz-smoke: fuzz-build
	Fuzz/run.sh $(FUZZ_BIN) $(FUZZ_SCRATCH) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf .build .build-tsan .build-asan .build-fuzz .build-image

# --- The proxy as a CI fixture (issue #15): harness recipes in examples/ and the container image. ---
# pytest runs examples/pytest, PyYAML reads the CI recipes a test compares with the image; go test
# runs examples/go (golang-go is in TEST_PACKAGES already).
TEST_PACKAGES += pymod/pytest:python3-pytest pymod/yaml:python3-yaml

# The CI fixture image (image/Containerfile): the release binary with the Swift standard library
# linked statically (built apart, in .build-image), staged with only the libraries it loads, built
# offline with buildah (as root, chroot isolation: see docs/containers.md), saved as an OCI
# archive (and a docker-archive, whose config keeps the HEALTHCHECK) under .build/. `make test`
# builds it once, for ContainerImageTests and the recipes' checks.
IMAGE_NAME ?= localhost/intercept-proxy:dev
IMAGE_SCRATCH := .build-image
IMAGE_CONTEXT := .build/image-context
IMAGE_OCI := .build/intercept-proxy-image.oci.tar
IMAGE_DOCKER := .build/intercept-proxy-image.docker.tar
IMAGE_PACKAGES := buildah:buildah skopeo:skopeo strip:binutils
export INTERCEPT_PROXY_IMAGE_ARCHIVE := $(abspath $(IMAGE_DOCKER))

.PHONY: image
image: deps
	@$(call ensure_packages,$(IMAGE_PACKAGES),image)
	$(SWIFT) build -c release --product intercept-proxy --static-swift-stdlib --scratch-path $(IMAGE_SCRATCH)
	$(SUDO) image/stage.sh $(IMAGE_SCRATCH)/release/intercept-proxy $(IMAGE_CONTEXT)
	$(SUDO) buildah bud --isolation chroot --network host --format docker --quiet -t $(IMAGE_NAME) -f image/Containerfile $(IMAGE_CONTEXT)
	rm -f $(IMAGE_OCI) $(IMAGE_DOCKER)
	$(SUDO) buildah push --quiet $(IMAGE_NAME) oci-archive:$(IMAGE_OCI):$(IMAGE_NAME)
	$(SUDO) buildah push --quiet $(IMAGE_NAME) docker-archive:$(IMAGE_DOCKER):$(IMAGE_NAME)
	@echo "make: image $(IMAGE_NAME): $$(du -sm $(IMAGE_CONTEXT) | cut -f1) MB unpacked, OCI archive $(IMAGE_OCI) $$(du -m $(IMAGE_OCI) | cut -f1) MB"

# vswitch: the two commands a user needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
FUZZTIME ?= 60s
# Debian packages the tests and the harness use.
# (busybox-static, not busybox: the two conflict, and guests need the static
# one. prometheus is for promtool; policy-rc.d below keeps its server off.
# kea-admin is for perfdhcp; openvswitch-switch for the VXLAN interop test.)
DEPS     := iproute2 iputils-ping iperf3 tcpdump ethtool procps busybox-static udhcpc \
            isc-dhcp-client dhcpcd-base python3 curl tshark prometheus iputils-tracepath \
            qemu-system-x86 cpio kmod bind9-dnsutils dnsmasq-base strace frr kea-admin \
            openvswitch-switch nftables

# Packages whose tests need root and the whole machine (namespaces, iperf3,
# QEMU): run one at a time, after the rest.
ROOT_PKGS := ./e2e/ ./bench/
UNIT_PKGS  = $(shell $(GO) list $(PKGS) | grep -v -e '/e2e$$' -e '/bench$$')
# Packages whose mutation efficacy `make mutation` holds at MUTATION_MIN %.
MUTATION_PKGS ?= internal/pkt nat dhcp gateway switch
MUTATION_MIN  ?= 85

.PHONY: all build run test vet fmt-check fuzz bench bench-deps need-bench-deps deps need-deps clean mutation

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vswitch ./cmd/vswitch

# Run vswitch in the foreground on its embedded default config (needs root
# for the TAP devices vsw0 and vsw1).
run: build
	./bin/vswitch run $(ARGS)

# All tests with the race detector: unit tests and fuzz seed corpora (in
# parallel), then the end-to-end tests in network namespaces and the bench
# smoke test one package at a time (as root; VSWITCH_E2E=1 makes a skipped
# end-to-end test a failure). Last, the unit tests again without the race
# detector, which is where the zero-allocation tests (//go:build !race; the
# race detector changes sync.Pool) run.
test: need-deps vet fmt-check
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)
	$(GO) test -race -count=1 -timeout 25m -p 1 $(ROOT_PKGS)
	$(GO) test -count=1 -timeout 10m $(UNIT_PKGS)

# Mutation testing with gremlins (scripts/mutation says why switch/ is
# measured in a scratch copy): fails when test efficacy or mutant coverage
# of a package in MUTATION_PKGS is under MUTATION_MIN percent.
mutation:
	MUTATION_MIN=$(MUTATION_MIN) scripts/mutation $(MUTATION_PKGS)

# The peers the harness measures vswitch against (as root).
BENCH_DEPS := openvswitch-switch vde2 iperf3 iproute2 nftables kea-dhcp4-server slirp4netns passt

bench: need-bench-deps
	$(GO) run ./bench $(ARGS)

# As need-deps for the tests: install the peers only when one is missing
# (and we are root), so a run measures every peer it can.
need-bench-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(BENCH_DEPS) >/dev/null 2>&1; then $(MAKE) bench-deps; fi

bench-deps:
	apt-get update -qq
	@if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_DEPS)

# Install the Debian packages the tests and the benchmark harness need.
# A policy-rc.d keeps package scripts from starting daemons (dhcpcd, and
# later ovs or prometheus) on the machine while they install.
deps:
	apt-get update -qq
	@if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS)

# Install the packages only when one is missing (and we are root), so
# `make test` works on a fresh machine and costs nothing on a prepared one.
need-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(DEPS) >/dev/null 2>&1; then $(MAKE) deps; fi

clean:
	rm -rf bin

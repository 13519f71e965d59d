# knlb — kernel-assisted L4 NAT load balancer.  `make help` lists targets.

SHELL     := /bin/bash

PKGS      := libnftnl libmnl inih libnetfilter_conntrack libcurl libmicrohttpd
DEB_BUILD := build-essential pkg-config libnftnl-dev libmnl-dev libinih-dev \
             libnetfilter-conntrack-dev libcurl4-openssl-dev libcriterion-dev \
             libmicrohttpd-dev
DEB_TEST  := nftables conntrack iproute2 curl valgrind jq procps
# test-docs (man --warnings, col: bsdextrautils) and test-install (systemd-analyze verify)
DEB_PKG   := man-db groff-base bsdextrautils systemd
# The peers the bench runs (wrk, gnuplot: no service), and the lab peers with
# services (DEB_SERVICES): netns-lab/deps.sh disables every unit of those it
# installs, test/install/test-host-clean.sh checks it.
DEB_SERVICES := haproxy nftlb iperf3 keepalived conntrackd bird2 frr
DEB_BENCH := haproxy nftlb wrk iperf3 gnuplot-nox
# make deb, make test-deb, make test-fresh
DEB_PKGBUILD := dpkg-dev debhelper lintian fakeroot debootstrap git

CC        ?= gcc
SAN       ?= 0
ifeq ($(SAN),1)
BUILD     ?= build-san
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD     ?= build
SANFLAGS  :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# CPPFLAGS, CFLAGS and LDFLAGS are the builder's (dpkg-buildflags puts
# fortify in CPPFLAGS): what knlb needs is in KNLB_CFLAGS, so `make CFLAGS=-O1`
# still builds.  -Werror in development and CI; WERROR=0 for distributions.
CFLAGS    ?= -O2 -g
WERROR    ?= 1
KNLB_CFLAGS := -std=gnu11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow \
             -Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE -Iinclude $(SANFLAGS)
override LDFLAGS += $(SANFLAGS)

# One folder per layer (docs/architecture.md); the two programs' mains apart.
LIB_SRC   := $(filter-out src/daemon/main.c src/knlbctl/%,$(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard test/unit/*.c)
# The check helpers of the unit tests serve the kernel tests' checkers too.
KERN_SRC  := $(wildcard test/kernel/*.c) test/unit/check_test.c
LAB_SRC   := $(wildcard netns-lab/tools/*.c)
LAB_BIN   := $(LAB_SRC:netns-lab/tools/%.c=$(BUILD)/lab/%)

.PHONY: all deps check-layers test test-unit test-kernel test-lab test-san demo bench-sched bench-checks bench-failover \
        golden clean help install uninstall test-install test-docs bench bench-smoke bench-deps

all: $(BUILD)/knlbd $(BUILD)/knlbctl $(LAB_BIN)

help:
	@echo "make            build knlbd and the lab tools into $(BUILD)/"
	@echo "make deps       install the Debian packages needed to build and test (root)"
	@echo "make demo       lab in network namespaces: knlbd balancing 3 backends"
	@echo "make test       every tier: unit, kernel (netns), sanitizers, lab scenarios"
	@echo "make fuzz       libFuzzer harnesses, FUZZ_SECONDS=$(FUZZ_SECONDS) each (docs/fuzzing.md)"
	@echo "make bench      knlb vs plain routing, HAProxy, nftlb: data and control plane (root, ~10 min)"
	@echo "make bench-smoke  the same machinery, one short round (root, ~1 min; part of make test)"
	@echo "make bench-sched  Maglev build time for M=65537, N=10/100/1000"
	@echo "make bench-checks  knlbd vs HAProxy at rest: 10,000 backends checked every 2 s (root, ~7 min)"
	@echo "make bench-ct   conntrack events/s absorbed without loss, CPU per event, dump times (root)"
	@echo "make bench-ct-daemon  the same for knlbd itself in a lab netns, against conntrack -E (root)"
	@echo "make bench-failover  a backend down: decision -> kernel ack, M=16381/65537, N=4/10/100/1000 (root)"
	@echo "make bench-reload  SIGHUP -> reload acked, 10/1000 backends, deltas vs a table replace (root)"
	@echo "make golden     regenerate rules/*.nft from conf/*.conf (review the diff!)"
	@echo "make install    knlbd, knlbctl, man pages, unit, config (if absent); PREFIX=$(PREFIX) DESTDIR="
	@echo "make uninstall  remove what install put there, except the configuration"
	@echo "make check      the tiers that need no root: unit, docs, install"
	@echo "make deb        the Debian package: ../knlb_VERSION_ARCH.deb (dpkg-buildpackage -us -uc -b)"
	@echo "make test-deb   build the .deb, install it in a fresh root, knlbd -t there (root)"
	@echo "make test-fresh the README's commands on a fresh debootstrap Debian 12 root (root, ~20 min)"

# Installs only what is missing, so it is cheap to call from every entry point;
# every failure says why (netns-lab/deps.sh).
DEPS = KNLB_SERVICE_PKGS="$(DEB_SERVICES)" netns-lab/deps.sh
deps:
	@KNLB_DEPS_NAME=deps $(DEPS) $(DEB_BUILD) $(DEB_TEST) $(DEB_PKG) $(DEB_FUZZ)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KNLB_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libknlb.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/knlbd: $(BUILD)/src/daemon/main.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/knlbctl: $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/knlbctl/*.c)) $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/test-unit: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion -lm

$(BUILD)/test-kernel: $(KERN_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion

$(BUILD)/bench-sched: $(BUILD)/test/bench/bench_sched.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Lab tools are standalone programs with no library dependency (lab_addr.h
# is header-only).
$(BUILD)/lab/%: netns-lab/tools/%.c $(wildcard netns-lab/tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KNLB_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# knlb-ctgen builds ctnetlink messages with libnetfilter_conntrack.
$(BUILD)/lab/knlb-ctgen: netns-lab/tools/knlb-ctgen.c
	@mkdir -p $(dir $@)
	$(CC) $(KNLB_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(shell pkg-config --cflags libmnl libnetfilter_conntrack) -o $@ $< \
		$(shell pkg-config --libs libmnl libnetfilter_conntrack)

# test_knlbctl.c runs the client binary named by KNLBCTL.
test-unit: $(BUILD)/test-unit $(BUILD)/knlbctl
	KNLB_SRCDIR=$(CURDIR) KNLBCTL=$(CURDIR)/$(BUILD)/knlbctl $(BUILD)/test-unit --jobs 2

# Each kernel test unshares its own network namespace: needs root.
test-kernel: $(BUILD)/test-kernel $(BUILD)/knlbd
	KNLB_SRCDIR=$(CURDIR) KNLBD=$(CURDIR)/$(BUILD)/knlbd $(BUILD)/test-kernel --jobs 1

# Criterion counts a test whose child LeakSanitizer flagged as passed: the
# sanitizer's own report is what fails this tier.
test-san:
	@mkdir -p build-san
	set -o pipefail; LSAN_OPTIONS=suppressions=$(CURDIR)/test/san/lsan.supp \
		$(MAKE) SAN=1 test-unit test-kernel 2>&1 | tee build-san/test-san.log
	@if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' build-san/test-san.log; then \
		echo "test-san: sanitizer reports above (build-san/test-san.log)" >&2; exit 1; fi

# Every man page renders without a groff/man warning; knlbctl.8 matches
# knlbctl --help and the completion drives.
test-docs: $(BUILD)/knlbctl $(BUILD)/knlbd
	KNLBD=$(BUILD)/knlbd test/install/test-docs.sh $(MAN_PAGES)
	test/docs/check-docs.sh $(BUILD)/knlbctl

# A folder includes only folders below it (docs/architecture.md, Layout).
check-layers:
	test/layout/check-layers.sh

test-lab: all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/run-scenarios.sh

test: deps
	$(MAKE) all $(BUILD)/test-unit $(BUILD)/test-kernel
	$(MAKE) check-layers
	$(MAKE) test-unit
	$(MAKE) fuzz FUZZ_SECONDS=20
	$(MAKE) test-docs
	$(MAKE) test-install
	$(MAKE) test-kernel
	$(MAKE) test-san
	$(MAKE) test-lab
	$(MAKE) bench-smoke
	$(MAKE) test-host-clean

demo: deps all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/demo.sh

# haproxy, nftlb and iperf3 ship services: deps.sh keeps them from starting
# on the host, now and at boot (DEB_SERVICES).
bench-deps:
	@KNLB_DEPS_NAME=bench-deps $(DEPS) $(DEB_BUILD) $(DEB_TEST) $(DEB_BENCH)

# Results in bench-results/<date>/ (results.md, ratios.svg, raw/, logs/).
bench: deps bench-deps all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench.sh

# Exit 77 (not root, a tool that cannot be had) is a skip, said, not a failure.
bench-smoke: bench-deps all
	@rc=0; KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench.sh --smoke || rc=$$?; \
	if [ $$rc = 77 ]; then echo "bench-smoke: skipped (see above)"; exit 0; fi; exit $$rc

bench-sched: $(BUILD)/bench-sched
	$(BUILD)/bench-sched

# Only the at-rest row: knlbd and HAProxy checking 10,000 backends (tcp,
# http), interleaved; REST_SECS, REST_ROUNDS, REST_CHECKS, REST_PROFILE.
.PHONY: bench-checks
bench-checks: bench-deps all
	CP_STEPS=rest KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench.sh --skip-data

# Conntrack intake and dump times, in a private netns (root).
.PHONY: bench-ct
$(BUILD)/bench-ct: $(BUILD)/test/bench/bench_ct.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

bench-ct: $(BUILD)/bench-ct
	$(BUILD)/bench-ct

# knlbd's own intake, events from knlb-ctgen, in a lab netns (root).
.PHONY: bench-ct-daemon
bench-ct-daemon: all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench-ct-daemon.sh

# Results in bench-results/failover-<date>/ (results.md, failover.tsv, logs).
bench-failover: $(BUILD)/knlbd $(BUILD)/lab/knlb-testsrv
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench-failover.sh

# Reload latency in a private netns (root); not part of make test.
.PHONY: bench-reload
bench-reload: $(BUILD)/knlbd
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench-reload.sh

golden: $(BUILD)/knlbd
	@for c in conf/*.conf; do n=$$(basename $$c .conf); \
		$(BUILD)/knlbd --render -c $$c > rules/$$n.nft || exit 1; echo "rules/$$n.nft"; done

clean:
	rm -rf build build-san

-include $(shell find build build-san -name '*.d' 2>/dev/null)

# ---- installation -----------------------------------------------------------
# DESTDIR is for staging (packages); the installed files name PREFIX and
# SYSCONFDIR paths, never DESTDIR.
PREFIX      ?= /usr/local
SYSCONFDIR  ?= /etc
SBINDIR     := $(PREFIX)/sbin
MANDIR      := $(PREFIX)/share/man
UNITDIR     := $(PREFIX)/lib/systemd/system
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
MAN_PAGES   := $(wildcard docs/*.5 docs/*.8)

install: $(BUILD)/knlbd $(BUILD)/knlbctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/knlb
	install -m 0755 $(BUILD)/knlbd $(DESTDIR)$(SBINDIR)/knlbd
	install -m 0755 $(BUILD)/knlbctl $(DESTDIR)$(SBINDIR)/knlbctl
	@for m in $(MAN_PAGES); do \
		echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/"; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/ || exit 1; \
	done
	sed -e 's|/usr/sbin/knlbd|$(SBINDIR)/knlbd|g' -e 's|/usr/sbin/knlbctl|$(SBINDIR)/knlbctl|g' -e 's|/etc/knlb/|$(SYSCONFDIR)/knlb/|g' \
		conf/knlbd.service > $(BUILD)/knlbd.service
	install -m 0644 $(BUILD)/knlbd.service $(DESTDIR)$(UNITDIR)/knlbd.service
	@# Never overwrite the operator's configuration.  What is installed has no
	@# service: it programs nothing until the operator writes one.
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/knlb/knlb.conf ]; then \
		echo "make install: $(DESTDIR)$(SYSCONFDIR)/knlb/knlb.conf exists: kept"; \
	else echo "install -m 0644 conf/installed.conf.dist $(DESTDIR)$(SYSCONFDIR)/knlb/knlb.conf"; \
		install -m 0644 conf/installed.conf.dist $(DESTDIR)$(SYSCONFDIR)/knlb/knlb.conf; fi
	@if [ -f conf/knlbctl.bash-completion ]; then \
		echo "install -m 0644 conf/knlbctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/knlbctl"; \
		install -d $(DESTDIR)$(BASHCOMPDIR) && \
		install -m 0644 conf/knlbctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/knlbctl; fi

# Leaves $(SYSCONFDIR)/knlb/knlb.conf: it is the operator's.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/knlbd $(DESTDIR)$(SBINDIR)/knlbctl \
		$(DESTDIR)$(UNITDIR)/knlbd.service $(DESTDIR)$(BASHCOMPDIR)/knlbctl
	@for m in $(MAN_PAGES); do \
		echo "rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}"; \
		rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
	done

# Install into a DESTDIR under /tmp, run what was installed, uninstall.
test-install: $(BUILD)/knlbd $(BUILD)/knlbctl
	KNLB_BUILD=$(BUILD) test/install/test-install.sh

# Nothing the tests or the bench installed is enabled or running on the host.
.PHONY: test-host-clean
test-host-clean:
	test/install/test-host-clean.sh $(DEB_SERVICES)

# The tier that needs no root and no network namespace.
.PHONY: check
check: test-unit test-docs test-install

# ---- Debian package -----------------------------------------------------------
# dpkg-buildpackage -us -uc -b in a clean copy of the tracked files (the
# working tree's build/ is not touched): $(BUILD)/deb/knlb_VERSION_ARCH.deb,
# then lintian on it (errors fail).
# version.h is in include/knlb/ or, after the layer move, include/knlb/lib/.
VERSION_H := $(firstword $(wildcard include/knlb/version.h include/knlb/*/version.h))
VERSION := $(shell sed -n 's/^\#define KNLB_VERSION "\(.*\)"/\1/p' $(VERSION_H) 2>/dev/null)
.PHONY: deb test-deb test-fresh
deb:
	@KNLB_DEPS_NAME=deb $(DEPS) $(DEB_BUILD) $(DEB_PKGBUILD)
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "make deb: debian/changelog says $$v, $(VERSION_H) $(VERSION)" >&2; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/knlb-$(VERSION)
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(BUILD)/deb/knlb-$(VERSION)
	cd $(BUILD)/deb/knlb-$(VERSION) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(BUILD)/deb/knlb_$(VERSION)_*.deb
	@ls -l $(BUILD)/deb/*.deb

# The .deb installed with apt into a fresh debootstrap root: knlbd -t of the
# shipped config, the unit neither enabled nor started (root).
test-deb: deb
	KNLB_DEB="$(wildcard $(CURDIR)/$(BUILD)/deb/knlb_$(VERSION)_*.deb)" test/fresh/run.sh \
		'test/install/test-deb.sh knlb.deb'

# The README's two commands on a fresh debootstrap root (root, ~20 min).
test-fresh:
	test/fresh/run.sh

# ---- fuzzing (docs/fuzzing.md) ----------------------------------------------
# libFuzzer harnesses in test/fuzz/, one per parser of untrusted bytes, each
# with its seeds in test/fuzz/corpus/NAME/ and the inputs that once crashed
# it in test/fuzz/regressions/NAME/.  clang builds the library again into
# build-fuzz/ with coverage, ASan and UBSan: the gcc builds are untouched.
# `make fuzz` runs each harness FUZZ_SECONDS (FUZZ_JOBS at once) and fails
# on any crash, leak or sanitizer report; FUZZ=NAME runs one.
DEB_FUZZ     := clang libclang-rt-14-dev
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 1
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow \
                -Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE -Iinclude \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_NAMES   := $(notdir $(basename $(wildcard test/fuzz/*.c)))
FUZZ         ?= $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build fuzz-seeds clean-fuzz

fuzz: deps fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
		test/fuzz/run.sh $(FUZZ)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz-%)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

# Harnesses may read a layer's private header (ct-int.h).
$(FUZZ_BUILD)/test/fuzz/%.o: test/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -Isrc/ct -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libknlb.a: $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: $(FUZZ_BUILD)/test/fuzz/%.o $(FUZZ_BUILD)/libknlb.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lm

# The netlink seeds are built by the libraries that build real messages;
# regenerate after a format change and commit the result.
fuzz-seeds: $(BUILD)/fuzz-gen-seeds
	$(BUILD)/fuzz-gen-seeds test/fuzz/corpus

$(BUILD)/fuzz-gen-seeds: test/fuzz/gen/gen_seeds.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libmnl libnftnl libnetfilter_conntrack) -o $@ $< \
		$(shell pkg-config --libs libmnl libnftnl libnetfilter_conntrack)

clean: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_BUILD)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# knlb — kernel-assisted L4 NAT load balancer.  `make help` lists targets.

SHELL     := /bin/bash

PKGS      := libnftnl libmnl inih libnetfilter_conntrack libcurl
DEB_BUILD := build-essential pkg-config libnftnl-dev libmnl-dev libinih-dev \
             libnetfilter-conntrack-dev libcurl4-openssl-dev libcriterion-dev
DEB_TEST  := nftables conntrack iproute2 curl valgrind
DEB_BENCH := haproxy nftlb wrk iperf3 gnuplot-nox

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

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -D_GNU_SOURCE -Iinclude $(SANFLAGS)
LDFLAGS   += $(SANFLAGS)

LIB_SRC   := $(filter-out src/main.c,$(wildcard src/*.c src/sched/*.c src/nft/*.c \
             src/health/*.c src/ct/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard test/unit/*.c)
KERN_SRC  := $(wildcard test/kernel/*.c)
LAB_SRC   := $(wildcard netns-lab/tools/*.c)
LAB_BIN   := $(LAB_SRC:netns-lab/tools/%.c=$(BUILD)/lab/%)

.PHONY: all deps test test-unit test-kernel test-lab test-san demo bench-sched bench-failover \
        bench bench-smoke bench-deps golden clean help

all: $(BUILD)/knlbd $(LAB_BIN)

help:
	@echo "make            build knlbd and the lab tools into $(BUILD)/"
	@echo "make deps       install the Debian packages needed to build and test (root)"
	@echo "make demo       lab in network namespaces: knlbd balancing 3 backends"
	@echo "make test       every tier: unit, kernel (netns), sanitizers, lab scenarios"
	@echo "make bench      knlb vs plain routing, HAProxy, nftlb: data and control plane (root, ~10 min)"
	@echo "make bench-smoke  the same machinery, one short round (root, ~1 min; part of make test)"
	@echo "make bench-sched  Maglev build time for M=65537, N=10/100/1000"
	@echo "make bench-ct   conntrack events/s absorbed without loss, CPU per event, dump times (root)"
	@echo "make bench-failover  health transition -> kernel map updated, M=16381/65537 (root)"
	@echo "make golden     regenerate rules/*.nft from conf/*.conf (review the diff!)"

# Installs only what is missing, so it is cheap to call from every entry point.
deps:
	@missing=""; for p in $(DEB_BUILD) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libknlb.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/knlbd: $(BUILD)/src/main.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/test-unit: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion -lm

$(BUILD)/test-kernel: $(KERN_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcriterion

$(BUILD)/bench-sched: $(BUILD)/test/bench/bench_sched.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Lab tools are standalone programs with no library dependency.
$(BUILD)/lab/%: netns-lab/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

test-unit: $(BUILD)/test-unit
	$(BUILD)/test-unit --jobs 2

# Each kernel test unshares its own network namespace: needs root.
test-kernel: $(BUILD)/test-kernel $(BUILD)/knlbd
	KNLB_SRCDIR=$(CURDIR) KNLBD=$(CURDIR)/$(BUILD)/knlbd $(BUILD)/test-kernel --jobs 1

# Criterion counts a test whose child LeakSanitizer flagged as passed: the
# sanitizer's own report is what fails this tier.
test-san:
	@mkdir -p build-san
	set -o pipefail; $(MAKE) SAN=1 test-unit test-kernel 2>&1 | tee build-san/test-san.log
	@if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' build-san/test-san.log; then \
		echo "test-san: sanitizer reports above (build-san/test-san.log)" >&2; exit 1; fi

test-lab: all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/run-scenarios.sh

test: deps
	$(MAKE) all $(BUILD)/test-unit $(BUILD)/test-kernel
	$(MAKE) test-unit
	$(MAKE) test-kernel
	$(MAKE) test-san
	$(MAKE) test-lab
	$(MAKE) bench-smoke

demo: deps all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/demo.sh

# haproxy, nftlb and iperf3 ship services: bench/deps.sh keeps them from
# starting on the host while they install.
bench-deps:
	@netns-lab/bench/deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_BENCH)

# Results in bench-results/<date>/ (results.md, ratios.svg, raw/, logs/).
bench: deps bench-deps all
	KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench.sh

# Exit 77 (not root, a tool that cannot be had) is a skip, said, not a failure.
bench-smoke: bench-deps all
	@rc=0; KNLB_BUILD=$(CURDIR)/$(BUILD) netns-lab/bench.sh --smoke || rc=$$?; \
	if [ $$rc = 77 ]; then echo "bench-smoke: skipped (see above)"; exit 0; fi; exit $$rc

bench-sched: $(BUILD)/bench-sched
	$(BUILD)/bench-sched

# Conntrack intake and dump times, in a private netns (root).
.PHONY: bench-ct
$(BUILD)/bench-ct: $(BUILD)/test/bench/bench_ct.o $(BUILD)/libknlb.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

bench-ct: $(BUILD)/bench-ct
	$(BUILD)/bench-ct

bench-failover: $(BUILD)/test-kernel
	KNLB_SRCDIR=$(CURDIR) $(BUILD)/test-kernel --filter 'failover/map_update_latency' --verbose 2>&1 | grep -E 'map update|Synthesis'

golden: $(BUILD)/knlbd
	@for c in conf/*.conf; do n=$$(basename $$c .conf); \
		$(BUILD)/knlbd --render -c $$c > rules/$$n.nft || exit 1; echo "rules/$$n.nft"; done

clean:
	rm -rf build build-san

-include $(shell find build build-san -name '*.d' 2>/dev/null)

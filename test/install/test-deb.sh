#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-deb.sh DEB — installs the knlb .deb with apt into THIS root and checks
# what an operator gets: the files, /etc/knlb/knlb.conf a conffile with no
# service that knlbd -t reads, knlbd.service neither enabled nor started.
# Meant for a throwaway root: refuses to run unless KNLB_FRESH_ROOT=1 (set
# by test/fresh/run.sh).  `make test-deb` builds the .deb and runs this in a
# fresh debootstrap root; test/fresh/run.sh runs it after make test.
set -euo pipefail
trap 'echo "test-deb: FAIL: line $LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
pass() { echo "test-deb: ok: $*"; }

[ $# = 1 ] && [ -f "$1" ] || fail "usage: $0 knlb_VERSION_ARCH.deb"
[ "${KNLB_FRESH_ROOT:-0}" = 1 ] ||
	fail "installs a package into this root: run it in a throwaway root (make test-deb)"
deb=$(realpath "$1")

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -q && apt-get install -y -q "$deb"; } >"$log" 2>&1; then
	tail -20 "$log" >&2
	fail "apt-get install $deb"
fi
rm -f "$log"
pass "apt-get install $(basename "$deb"): $(dpkg-query -W -f='${Package} ${Version} ${Status}' knlb)"

for f in /usr/sbin/knlbd /usr/sbin/knlbctl /lib/systemd/system/knlbd.service \
	 /usr/share/man/man8/knlbd.8.gz /usr/share/man/man8/knlbctl.8.gz /usr/share/man/man5/knlb.conf.5.gz \
	 /usr/share/bash-completion/completions/knlbctl /usr/share/doc/knlb/copyright \
	 /usr/share/doc/knlb/README.md.gz /usr/share/doc/knlb/operations.md.gz /etc/knlb/knlb.conf; do
	[ -e "$f" ] || fail "$f not installed"
done
pass "binaries, unit, man pages (compressed), completion, docs, config installed"

grep -qx /etc/knlb/knlb.conf /var/lib/dpkg/info/knlb.conffiles || fail "/etc/knlb/knlb.conf is not a conffile"
! grep -q '^\[service' /etc/knlb/knlb.conf || fail "the shipped knlb.conf has a service"
v=$(knlbd --version) && v2=$(knlbctl --version) || fail "knlbd/knlbctl --version"
pass "$v, $v2; /etc/knlb/knlb.conf is a conffile with no service"

t=$(knlbd -t -c /etc/knlb/knlb.conf 2>&1) || fail "knlbd -t -c /etc/knlb/knlb.conf: $t"
grep -q 'no services (knlbd will run idle)' <<<"$t" || fail "knlbd -t does not say it runs idle: $t"
pass "knlbd -t -c /etc/knlb/knlb.conf: $t"

# Neither enabled nor started: no link in any .wants/, systemctl (where
# installed) says disabled, no knlbd process (no systemd runs in the root).
links=$(find /etc/systemd/system -name knlbd.service 2>/dev/null || true)
[ -z "$links" ] || fail "knlbd.service is enabled: $links"
if command -v systemctl >/dev/null; then
	e=$(systemctl is-enabled knlbd.service 2>/dev/null || true)
	[ "$e" = disabled ] || fail "systemctl is-enabled knlbd.service: $e"
fi
for c in /proc/[0-9]*/comm; do
	[ "$(cat "$c" 2>/dev/null)" != knlbd ] || fail "a knlbd runs after the install: ${c%/comm}"
done
pass "knlbd.service not enabled ($(systemctl is-enabled knlbd.service 2>/dev/null || echo no systemctl)), not started"

apt-get remove -y -q knlb >/dev/null 2>&1 || fail "apt-get remove knlb"
[ ! -e /usr/sbin/knlbd ] && [ -e /etc/knlb/knlb.conf ] || fail "remove: knlbd left or knlb.conf gone"
apt-get purge -y -q knlb >/dev/null 2>&1 || fail "apt-get purge knlb"
[ ! -e /etc/knlb/knlb.conf ] || fail "purge left /etc/knlb/knlb.conf"
pass "remove keeps /etc/knlb/knlb.conf, purge deletes it"

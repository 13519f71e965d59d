#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# deps.sh PKG... — installs the Debian packages that are missing, for
# `make deps` (build and test tools) and `make bench-deps` (the peers the
# bench and the labs run: haproxy, nftlb, iperf3, later keepalived,
# conntrackd, bird2, frr).  Those peers ship services that would listen on
# the host or manage its ruleset; the tests run them only inside the lab's
# network namespaces.  So:
#
# - while apt runs, a policy-rc.d that exits 101 ("action forbidden") stops
#   any service from starting (unless one is already there: then it is left
#   as it is); ours is removed after;
# - iperf3's debconf question "start a daemon?" is preseeded to false;
# - afterwards, every systemd unit and init script shipped by a package that
#   THIS run installed and that is named in KNLB_SERVICE_PKGS (the Makefile's
#   DEB_SERVICES) is disabled (deb-systemd-helper disable: removes the
#   .wants/ links and records "disabled" so an upgrade keeps it so; works
#   without a running systemd) and recorded in $RECORD, which
#   test/install/test-host-clean.sh reads.  Packages the operator installed
#   before are left exactly as they are;
# - any process of those packages found running in this script's network
#   namespace is reported and the script fails.
#
# Installs only what is missing; needs root for that.  Every failure says why.
set -euo pipefail
export LC_ALL=C
trap 'echo "deps: FAIL: ${BASH_SOURCE[0]}:$LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR

SERVICE_PKGS=${KNLB_SERVICE_PKGS:-haproxy nftlb iperf3 keepalived conntrackd bird2 frr}
RECORD=${KNLB_DEPS_RECORD:-/var/lib/knlb-dev/disabled-units}
me=${KNLB_DEPS_NAME:-deps}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

missing=()
for p in "$@"; do
	installed "$p" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
	echo "$me: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "$me: installing ${missing[*]}"

# What is installed before, to know afterwards what this run installed
# (the packages asked for and everything they pulled in).
before=$(dpkg-query -W -f='${Package}\t${Status}\n' | awk -F'\t' '$2 ~ /ok installed/ { print $1 }' | sort)

POLICY=/usr/sbin/policy-rc.d
ours=0
LOG=$(mktemp /tmp/knlb-deps-XXXXXX.log)
cleanup() {
	if [ "$ours" = 1 ]; then rm -f "$POLICY"; fi
	rm -f "$LOG"
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# knlb deps.sh: no service starts during the install\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	ours=1
fi

export DEBIAN_FRONTEND=noninteractive
if command -v debconf-set-selections >/dev/null; then
	echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
fi
apt_get() {
	apt-get -o DPkg::Lock::Timeout=600 -y -q "$@" >>"$LOG" 2>&1
}
if ! apt_get install "${missing[@]}"; then
	echo "$me: apt-get install failed (package lists missing or stale?): apt-get update, then once more" >&2
	if ! apt_get update; then
		echo "$me: apt-get update failed: is the Debian archive reachable? apt said:" >&2
		grep -E '^(E|W|Err):' "$LOG" | tail -20 >&2 || tail -20 "$LOG" >&2
		exit 1
	fi
	if ! apt_get install "${missing[@]}"; then
		echo "$me: apt-get install failed again; apt said:" >&2
		grep -E '^(E|W|Err):' "$LOG" | tail -20 >&2 || tail -20 "$LOG" >&2
	fi
fi
# What counts is what got installed, whatever apt-get's status said.
still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -gt 0 ]; then
	echo "$me: not installed: ${still[*]}" >&2
	exit 1
fi

# --- nothing we installed may start on this host, now or at boot ----------
after=$(dpkg-query -W -f='${Package}\t${Status}\n' | awk -F'\t' '$2 ~ /ok installed/ { print $1 }' | sort)
new=$(comm -13 <(echo "$before") <(echo "$after"))
systemd_runs=0
[ -d /run/systemd/system ] && systemd_runs=1

# units PKG: the systemd units PKG ships (service, socket, timer, path).
units() {
	dpkg -L "$1" 2>/dev/null |
		grep -E '^(/usr)?/lib/systemd/system/[^/]+\.(service|socket|timer|path)$' |
		sed 's|.*/||' | sort -u || true
}
initscripts() {
	dpkg -L "$1" 2>/dev/null | grep -E '^/etc/init\.d/[^/]+$' | sed 's|.*/||' || true
}

mkdir -p "$(dirname "$RECORD")"
for p in $new; do
	case " $SERVICE_PKGS " in *" $p "*) ;; *) continue ;; esac
	echo "$p" >>"$RECORD.pkgs"
	for u in $(units "$p"); do
		# Template units (foo@.service) are never enabled by a postinst.
		case $u in *@.*) continue ;; esac
		# deb-systemd-helper acts only for the package whose maintainer
		# script calls it: we speak for $p, as its postinst did.
		if ! out=$(DPKG_MAINTSCRIPT_PACKAGE=$p deb-systemd-helper disable "$u" 2>&1); then
			echo "$me: deb-systemd-helper disable $u failed: $out" >&2
			exit 1
		fi
		if [ "$systemd_runs" = 1 ]; then
			systemctl disable --now --quiet "$u" 2>/dev/null || true
		fi
		echo "$p $u" >>"$RECORD"
		echo "$me: $p: $u disabled (not enabled at boot, not started)"
	done
	for s in $(initscripts "$p"); do
		update-rc.d "$s" disable >/dev/null 2>&1 || true
		echo "$p /etc/init.d/$s" >>"$RECORD"
	done
done
[ ! -f "$RECORD" ] || sort -u -o "$RECORD" "$RECORD"
[ ! -f "$RECORD.pkgs" ] || sort -u -o "$RECORD.pkgs" "$RECORD.pkgs"
[ "$systemd_runs" = 0 ] || systemctl daemon-reload || true

# Other packages this run installed with a unit enabled: say so (they are
# build or test tools, not peers; disabling them is the operator's call).
for p in $new; do
	case " $SERVICE_PKGS " in *" $p "*) continue ;; esac
	for u in $(units "$p"); do
		if ls /etc/systemd/system/*.wants/"$u" >/dev/null 2>&1; then
			echo "$me: note: $p enables $u (not a lab peer: left as Debian ships it)"
		fi
	done
done

# Whatever ran anyway: a process of these packages in this network namespace
# is a leak of the install, not ours to kill by name; say so.
here=$(readlink /proc/self/ns/net) || { echo "$me: cannot read /proc/self/ns/net" >&2; exit 1; }
progs=" "
# Only what we installed (this run or an earlier one): the operator's own
# haproxy on the host is none of our business.
for p in $(cat "$RECORD.pkgs" 2>/dev/null); do
	installed "$p" || continue
	for f in $(dpkg -L "$p" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$' || true); do
		progs+="${f##*/} "
	done
done
leaked=()
for exe in /proc/[0-9]*/exe; do
	pid=${exe#/proc/}; pid=${pid%/exe}
	name=$(readlink "$exe" 2>/dev/null) || continue
	name=${name##*/}; name=${name% (deleted)}
	case $progs in *" $name "*) ;; *) continue ;; esac
	[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$here" ] && leaked+=("$pid:$name")
done
if [ "${#leaked[@]}" -gt 0 ]; then
	echo "$me: running in the host's network namespace after the install (stop them: systemctl stop, or kill PID): ${leaked[*]}" >&2
	exit 1
fi
exit 0

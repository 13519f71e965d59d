#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# deps.sh PKG... — installs the Debian packages the bench needs (haproxy,
# nftlb, wrk, iperf3, gnuplot-nox) without letting their packaging start
# anything on the host: haproxy and iperf3 ship services that would listen
# on the host, and nftlb's would manage the host's ruleset.
#
# - a policy-rc.d that exits 101 ("action forbidden") while apt runs, unless
#   one is already there (then it is left as it is); ours is removed after;
# - iperf3's debconf question "start a daemon?" preseeded to false;
# - afterwards, any haproxy/nftlb/iperf3 process running on the host's
#   network namespace is reported and the script fails: nothing of the bench
#   may run outside the lab's namespaces.
# Installs only what is missing; needs root for that.
set -euo pipefail

missing=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
if [ "$(id -u)" != 0 ]; then
	echo "bench-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "bench-deps: installing ${missing[*]}"

POLICY=/usr/sbin/policy-rc.d
ours=0
cleanup() {
	if [ "$ours" = 1 ]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# knlb bench-deps: no service starts during the install\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	ours=1
fi

echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt_get() {
	apt-get -o DPkg::Lock::Timeout=600 -y -qq "$@"
}
if ! apt_get install "${missing[@]}" >/dev/null; then
	echo "bench-deps: apt-get install failed; apt-get update, then once more" >&2
	apt_get update >/dev/null || echo "bench-deps: apt-get update failed" >&2
	apt_get install "${missing[@]}" >/dev/null || echo "bench-deps: apt-get install failed again" >&2
fi
# What counts is what got installed, whatever apt-get's status said.
still=()
for p in "${missing[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || still+=("$p")
done
if [ "${#still[@]}" -gt 0 ]; then
	echo "bench-deps: not installed: ${still[*]}" >&2
	exit 1
fi

# Whatever ran anyway: a process of these programs in the host's network
# namespace is a leak of the install, not ours to kill by name; say so.
host_ns=$(readlink /proc/1/ns/net)
leaked=()
for exe in /proc/[0-9]*/exe; do
	pid=${exe#/proc/}; pid=${pid%/exe}
	name=$(basename "$(readlink "$exe" 2>/dev/null)" 2>/dev/null) || continue
	case $name in
	haproxy|nftlb|iperf3)
		[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$host_ns" ] && leaked+=("$pid:$name") ;;
	esac
done
if [ "${#leaked[@]}" -gt 0 ]; then
	echo "bench-deps: started on the host by the install (stop them: systemctl stop, or kill PID): ${leaked[*]}" >&2
	exit 1
fi

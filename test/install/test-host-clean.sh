#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-host-clean.sh [PKG...] — nothing the tests or the bench installed may
# run on this host, now or after a reboot.  For every lab peer package
# (PKG..., default the Makefile's DEB_SERVICES) that netns-lab/deps.sh
# installed (its record, /var/lib/knlb-dev/disabled-units.pkgs):
#
# - none of its systemd units is enabled: no link to it under
#   /etc/systemd/system/ (any .wants/ or .requires/), and, where systemd
#   runs, `systemctl is-enabled` is not enabled and `is-active` not active;
# - none of its init scripts has a start link in /etc/rc[2-5].d/;
# - no process of its programs runs in this script's network namespace.
#
# Packages the operator installed before are not ours to judge: listed, not
# checked.  No root needed to read; exit 0 when nothing was ours.
set -euo pipefail
trap 'echo "test-host-clean: FAIL: line $LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR

RECORD=${KNLB_DEPS_RECORD:-/var/lib/knlb-dev/disabled-units}
[ $# -gt 0 ] || set -- haproxy nftlb iperf3 keepalived conntrackd bird2 frr

status=0
fail() { echo "test-host-clean: FAIL: $*" >&2; status=1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

systemd_runs=0
[ -d /run/systemd/system ] && systemd_runs=1
here=$(readlink /proc/self/ns/net)

ours=() theirs=()
for p in "$@"; do
	installed "$p" || continue
	if grep -qx "$p" "$RECORD.pkgs" 2>/dev/null; then ours+=("$p"); else theirs+=("$p"); fi
done
[ "${#theirs[@]}" = 0 ] ||
	echo "test-host-clean: installed before knlb's deps.sh ran (the operator's, not checked): ${theirs[*]}"
if [ "${#ours[@]}" = 0 ]; then
	echo "test-host-clean: ok: no lab peer package was installed by knlb here"
	exit 0
fi

checked=0
for p in "${ours[@]}"; do
	files=$(dpkg -L "$p" 2>/dev/null || true)
	for u in $(grep -E '^(/usr)?/lib/systemd/system/[^/]+\.(service|socket|timer|path)$' <<<"$files" |
			sed 's|.*/||' | sort -u); do
		checked=$((checked + 1))
		links=$(find /etc/systemd/system -name "$u" \( -path '*.wants/*' -o -path '*.requires/*' \) 2>/dev/null || true)
		[ -z "$links" ] || fail "$p: $u is enabled: $(tr '\n' ' ' <<<"$links")"
		if [ "$systemd_runs" = 1 ]; then
			e=$(systemctl is-enabled "$u" 2>/dev/null || true)
			case $e in enabled|enabled-runtime|linked|linked-runtime|alias)
				fail "$p: systemctl is-enabled $u: $e" ;; esac
			if systemctl is-active --quiet "$u"; then fail "$p: $u is active"; fi
		fi
	done
	for s in $(grep -E '^/etc/init\.d/[^/]+$' <<<"$files" | sed 's|.*/||'); do
		checked=$((checked + 1))
		l=$(ls /etc/rc[2-5].d/S??"$s" 2>/dev/null || true)
		[ -z "$l" ] || fail "$p: init script $s starts at boot: $(tr '\n' ' ' <<<"$l")"
	done
done

progs=" "
for p in "${ours[@]}"; do
	for f in $(dpkg -L "$p" 2>/dev/null | grep -E '^(/usr)?/s?bin/[^/]+$' || true); do
		progs+="${f##*/} "
	done
done
for exe in /proc/[0-9]*/exe; do
	pid=${exe#/proc/}; pid=${pid%/exe}
	name=$(readlink "$exe" 2>/dev/null) || continue
	name=${name##*/}; name=${name% (deleted)}
	case $progs in *" $name "*) ;; *) continue ;; esac
	[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$here" ] ||
		fail "$name (pid $pid) runs in the host's network namespace"
done

[ "$status" = 0 ] || exit 1
echo "test-host-clean: ok: ${ours[*]}: $checked units/init scripts not enabled$([ "$systemd_runs" = 1 ] && echo " or active"), no process in this network namespace"

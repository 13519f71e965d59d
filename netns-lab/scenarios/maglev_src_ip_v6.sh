#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# maglev_src_ip_v6.sh — maglev_src_ip.sh for IPv6 clients: an IPv6 VIP,
# scheduler = maglev, hash_key = src-ip; 32 IPv6 client addresses open 8
# connections each (each from another source port).  Every connection of
# one address reaches the same backend, every backend gets some addresses.
# The same run repeated gives every address the same backend again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
CLIENTS=32
PER_CLIENT=8
lab_up --backends 3 --clients "$CLIENTS"

{
	conf_global
	cat <<-EOF
	[service web6]
	vip = $LAB_VIP6
	port = 80
	proto = tcp
	scheduler = maglev
	hash_key = src-ip
	table_size = 16381
	snat = none
	EOF
	conf_backends6 "$LAB_BACKEND_TCP_PORT"
} >"$WORK/maglev6.conf"
knlb_start "$WORK/maglev6.conf"

conns=$((CLIENTS * PER_CLIENT))
for run in maglev6 again6; do
	lg "$run" --tcp --target "[$LAB_VIP6]:80" --count "$conns" --concurrency 64 \
		--source-range "$LAB_CLIENT_SOURCE_RANGE6"
	failed=$(lg_get "$run" failed)
	split=$(lg_get "$run" sources_split)
	say "$run: $conns connections from $CLIENTS IPv6 addresses: ok $(lg_get "$run" ok), failed $failed, addresses split over >1 backend: $split"
	[ "$failed" -eq 0 ] || fail "$run: $failed connections failed"
	if [ "$split" -ne 0 ]; then
		awk '$1 == "source"' "$WORK/$run.out" | sort -k2,2 >&2
		fail "$run: $split client addresses reached more than one backend"
	fi
done

# One "source ADDR BACKEND COUNT" line per (address, backend) pair seen.
addrs=$(awk '$1 == "source" { print $2 }' "$WORK/maglev6.out" | sort -u | wc -l)
[ "$addrs" -eq "$CLIENTS" ] || fail "answers seen from $addrs addresses, expected $CLIENTS"
case $(awk '$1 == "source" { print $2; exit }' "$WORK/maglev6.out") in
*:*) ;;
*) fail "the sources are not IPv6 addresses" ;;
esac
bad=0
printf '[%s]   %-8s %10s %12s\n' "$T_NAME" backend addresses connections
for b in "${BACKEND_NAMES[@]}"; do
	na=$(awk -v b="$b" '$1 == "source" && $3 == b' "$WORK/maglev6.out" | wc -l)
	printf '[%s]   %-8s %10s %12s\n' "$T_NAME" "$b" "$na" "$(lg_backend maglev6 "$b")"
	[ "$na" -gt 0 ] || { say "$b got no client address"; bad=1; }
done
[ "$bad" -eq 0 ] || fail "a backend got no traffic"
moved=$(awk '$1 == "source" { k = $2 " " $3; if (FILENAME ~ /again6/) b[k]++; else a[k]++ }
	END { for (k in a) if (!(k in b)) n++; print n + 0 }' "$WORK/maglev6.out" "$WORK/again6.out")
measure "IPv6 maglev src-ip: $CLIENTS addresses x $PER_CLIENT connections, 0 split, $moved addresses on another backend in the second run"
[ "$moved" -eq 0 ] || fail "$moved addresses reached another backend in the second run"
pass "every IPv6 address pinned to one backend, the same in two runs; all backends used"

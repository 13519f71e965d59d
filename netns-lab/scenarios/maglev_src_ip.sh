#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# maglev_src_ip.sh — scheduler = maglev, hash_key = src-ip: 32 client
# addresses open 8 connections each (each from a different source port).
# Every connection of one address reaches the same backend, and every
# backend gets some addresses.  (With a per-port hash nearly every address
# would be split over several backends: this test can fail.)
# KNLB_LAB_FAMILY=6 (maglev_src_ip_v6.sh): IPv6 client addresses.
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
	[service web]
	vip = $VIP
	port = 80
	proto = tcp
	scheduler = maglev
	hash_key = src-ip
	table_size = 16381
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/maglev.conf"
knlb_start "$WORK/maglev.conf"

conns=$((CLIENTS * PER_CLIENT))
lg maglev --tcp --target "$VIP_HOST:80" --count "$conns" --concurrency 64 \
	--source-range "$SRC_RANGE"
failed=$(lg_get maglev failed)
split=$(lg_get maglev sources_split)
say "$conns connections from $CLIENTS addresses: ok $(lg_get maglev ok), failed $failed, addresses split over >1 backend: $split"
[ "$failed" -eq 0 ] || fail "$failed connections failed"

# One "source ADDR BACKEND COUNT" line per (address, backend) pair seen.
addrs=$(awk '$1 == "source" { print $2 }' "$WORK/maglev.out" | sort -u | wc -l)
[ "$addrs" -eq "$CLIENTS" ] || fail "answers seen from $addrs addresses, expected $CLIENTS"
bad=0
printf '[%s]   %-8s %10s %12s\n' "$T_NAME" backend addresses connections
for b in "${BACKEND_NAMES[@]}"; do
	na=$(awk -v b="$b" '$1 == "source" && $3 == b' "$WORK/maglev.out" | wc -l)
	printf '[%s]   %-8s %10s %12s\n' "$T_NAME" "$b" "$na" "$(lg_backend maglev "$b")"
	[ "$na" -gt 0 ] || { say "$b got no client address"; bad=1; }
done
if [ "$split" -ne 0 ]; then
	awk '$1 == "source"' "$WORK/maglev.out" | sort -k2,2 >&2
	fail "$split client addresses reached more than one backend"
fi
[ "$bad" -eq 0 ] || fail "a backend got no traffic"
pass "every IPv$LAB_FAMILY address pinned to one backend; all backends used"

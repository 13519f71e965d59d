#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# wrr_weights_v6.sh — wrr_weights.sh over IPv6: an IPv6 VIP, backends
# [ADDR]:PORT with weights 1:2:3, 3000 new TCP connections from the
# client's IPv6 address: each backend's share within 3 percentage points of
# 1/6, 2/6, 3/6, no connection fails, and conntrack shows the flows as IPv6
# flows DNATed to the backends' IPv6 addresses.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

WEIGHTS=(1 2 3)
CONNS=3000
{
	conf_global
	cat <<-EOF
	[service web6]
	vip = $LAB_VIP6
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	EOF
	conf_backends6 "$LAB_BACKEND_TCP_PORT" "${WEIGHTS[@]}"
} >"$WORK/wrr6.conf"
knlb_start "$WORK/wrr6.conf"

lg wrr6 --tcp --target "[$LAB_VIP6]:80" --count "$CONNS" --concurrency 64
ok=$(lg_get wrr6 ok)
failed=$(lg_get wrr6 failed)
say "$CONNS connections to [$LAB_VIP6]:80: ok $ok, failed $failed, $(lg_get wrr6 rate_per_s) conn/s"
[ "$failed" -eq 0 ] || fail "$failed of $CONNS connections failed"

total_w=0
for w in "${WEIGHTS[@]}"; do total_w=$((total_w + w)); done
bad=0
sum=0
printf '[%s]   %-8s %6s %9s %9s %7s\n' "$T_NAME" backend weight expected observed count
for i in "${!BACKEND_NAMES[@]}"; do
	b=${BACKEND_NAMES[i]}
	n=$(lg_backend wrr6 "$b")
	sum=$((sum + n))
	exp=$(pct "${WEIGHTS[i]}" "$total_w")
	obs=$(pct "$n" "$ok")
	printf '[%s]   %-8s %6s %8s%% %8s%% %7s\n' "$T_NAME" "$b" "${WEIGHTS[i]}" "$exp" "$obs" "$n"
	measure "IPv6 wrr $b weight ${WEIGHTS[i]}: $obs% (expected $exp%)"
	within "$obs" "$exp" 3 || { say "$b: share $obs% is more than 3 points from $exp%"; bad=1; }
done
[ "$sum" -eq "$ok" ] || fail "answers from unknown backends: $((ok - sum))"
[ "$bad" -eq 0 ] || fail "shares off"

# The kernel saw IPv6 flows to the IPv6 VIP, each DNATed to a backend's
# IPv6 address (conntrack's reply source).
for i in "${!BACKEND_NAMES[@]}"; do
	n=$(gw_exec conntrack -L -f ipv6 -p tcp --orig-dst "$LAB_VIP6" \
		--reply-src "${BACKEND_ADDRS6[i]}" 2>/dev/null | wc -l)
	say "conntrack: $n IPv6 flows to ${BACKEND_ADDRS6[i]}"
	[ "$n" -gt 0 ] || fail "conntrack has no IPv6 flow DNATed to ${BACKEND_ADDRS6[i]}"
done
pass "IPv6 shares within 3 points of 1:2:3"

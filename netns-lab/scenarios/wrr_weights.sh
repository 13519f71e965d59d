#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# wrr_weights.sh — scheduler = wrr with weights 1:2:3: over 3000 new TCP
# connections each backend's share is within 3 percentage points of its
# weighted share (1/6, 2/6, 3/6), no connection fails, and conntrack has
# flows DNATed to each backend.  KNLB_LAB_FAMILY=6: wrr_weights_v6.sh.
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
	[service web]
	vip = $VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT" "${WEIGHTS[@]}"
} >"$WORK/wrr.conf"
knlb_start "$WORK/wrr.conf"

lg wrr --tcp --target "$VIP_HOST:80" --count "$CONNS" --concurrency 64
ok=$(lg_get wrr ok)
failed=$(lg_get wrr failed)
say "$CONNS connections: ok $ok, failed $failed, $(lg_get wrr rate_per_s) conn/s"
[ "$failed" -eq 0 ] || fail "$failed of $CONNS connections failed"

total_w=0
for w in "${WEIGHTS[@]}"; do total_w=$((total_w + w)); done
bad=0
sum=0
printf '[%s]   %-8s %6s %9s %9s %7s\n' "$T_NAME" backend weight expected observed count
for i in "${!BACKEND_NAMES[@]}"; do
	b=${BACKEND_NAMES[i]}
	n=$(lg_backend wrr "$b")
	sum=$((sum + n))
	exp=$(pct "${WEIGHTS[i]}" "$total_w")
	obs=$(pct "$n" "$ok")
	printf '[%s]   %-8s %6s %8s%% %8s%% %7s\n' "$T_NAME" "$b" "${WEIGHTS[i]}" "$exp" "$obs" "$n"
	within "$obs" "$exp" 3 || { say "$b: share $obs% is more than 3 points from $exp%"; bad=1; }
done
[ "$sum" -eq "$ok" ] || fail "answers from unknown backends: $((ok - sum))"
[ "$bad" -eq 0 ] || fail "shares off"

# The kernel saw flows of the family to the VIP, DNATed to each backend's
# address of that family (conntrack's reply source).
for i in "${!BACKEND_NAMES[@]}"; do
	n=$(gw_exec conntrack -L -f "$CT_FAMILY" -p tcp --orig-dst "$VIP" \
		--reply-src "${FAM_BACKEND_ADDRS[i]}" 2>/dev/null | wc -l)
	say "conntrack: $n $CT_FAMILY flows to ${FAM_BACKEND_ADDRS[i]}"
	[ "$n" -gt 0 ] || fail "conntrack has no $CT_FAMILY flow DNATed to ${FAM_BACKEND_ADDRS[i]}"
done
pass "IPv$LAB_FAMILY shares within 3 points of 1:2:3"

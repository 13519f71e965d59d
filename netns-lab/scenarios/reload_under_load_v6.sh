#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# reload_under_load_v6.sh — hitless reload of a dual-stack service.  One
# [service web] with a VIP per family (maglev, check = tcp every 200 ms)
# over be1..be3 in both families (ids beI and beI-6); new TCP connections
# at 150/s from IPv4 and 150/s from IPv6 clients.  30 `knlbctl reload`s,
# cycling: weights changed; be4 added in both families; be4 removed.
# Asserted: 0 failed connections in either family; 30 "reloaded" lines,
# each with "kernel: 1 transaction, slot deltas" (no table replace); be4
# got connections from both families (the adds reached both slot maps); no
# UP/DOWN line for be1..be3 of either family.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RELOADS=30
RATE=150		# per family
INTERVAL_MS=200

DUAL_STACK=1
t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "reload needs knlbd (KNLB_LAB_RULES=$KNLB_LAB_RULES)"
command -v jq >/dev/null || t_skip "jq not installed (make deps)"
lab_up --backends 4
KNLBCTL=$KNLB_BUILD/knlbctl
[ -x "$KNLBCTL" ] || t_skip "$KNLBCTL not built"
CONF=$WORK/reload6.conf
ID6_SUFFIX=-6
ctl() { "$KNLBCTL" -s "$WORK/knlb.sock" "$@"; }

# conf_write W1 W2 W3 WITH_BE4: web over be1..be3 of both families with
# those weights, plus be4 (both families) when WITH_BE4 is 1.  Written
# beside and renamed, so a reload never reads half a file.
conf_write() {
	local w=("$1" "$2" "$3") with4=$4 i
	{
		conf_global
		cat <<-EOF
		[service web]
		vip = $LAB_VIP
		vip = $LAB_VIP6
		port = 80
		proto = tcp
		scheduler = maglev
		table_size = 16381
		snat = none
		check = tcp
		interval = ${INTERVAL_MS}ms
		timeout = 100ms
		rise = 2
		fall = 2
		EOF
		for i in 0 1 2; do
			echo "backend = ${BACKEND_ADDRS[i]}:$LAB_BACKEND_TCP_PORT weight=${w[i]} id=${BACKEND_NAMES[i]}"
			conf_backend6 "$i" "$LAB_BACKEND_TCP_PORT" "weight=${w[i]}"
		done
		if [ "$with4" = 1 ]; then
			echo "backend = ${BACKEND_ADDRS[3]}:$LAB_BACKEND_TCP_PORT id=${BACKEND_NAMES[3]}"
			conf_backend6 3 "$LAB_BACKEND_TCP_PORT"
		fi
	} >"$CONF.new"
	mv "$CONF.new" "$CONF"
}

CUR_W=(1 1 1)
conf_write "${CUR_W[@]}" 0
knlb_start "$CONF"
# Every backend probed up (both families) before the load starts.
for ((i = 0; i < 50; i++)); do
	ups=$(ctl --json status 2>/dev/null | jq '[.services[].backends[] | select(.health == "up")] | length' 2>/dev/null || echo 0)
	[ "$ups" -eq 6 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || fail "not every backend of both families is up 5 s after start ($ups of 6)"

lg_bg_start load4 --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 30000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
lg_bg_start load6 --tcp --target "[$LAB_VIP6]:80" --rate "$RATE" --duration-ms 30000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE6"
sleep 1
mark=$(log_mark)

for ((k = 0; k < RELOADS; k++)); do
	case $((k % 3)) in
	0)	# weights: 3 1 2 and 1 1 1 in turn
		if [ $((k / 3 % 2)) -eq 0 ]; then CUR_W=(3 1 2); else CUR_W=(1 1 1); fi
		conf_write "${CUR_W[@]}" 0 ;;
	1) conf_write "${CUR_W[@]}" 1 ;;	# be4 added
	2) conf_write "${CUR_W[@]}" 0 ;;	# be4 removed
	esac
	reload_ok "reload-$k" "$CONF"
	sleep 0.15
done
sleep 0.5

n_reloaded=$(log_count "$mark" "knlbd: info: reloaded $CONF:")
n_kernel=$(log_count "$mark" "kernel: (1 transaction, slot deltas, [0-9]+ elements|nothing to change)")
n_replaced=$(log_count "$mark" "table replaced")
say "$RELOADS reloads: $n_reloaded 'reloaded' lines, $n_kernel 'kernel: 1 transaction, slot deltas' lines, $n_replaced table replacements"
[ "$n_reloaded" -eq "$RELOADS" ] || fail "$n_reloaded 'reloaded' lines for $RELOADS reloads"
[ "$n_kernel" -eq "$RELOADS" ] || fail "$n_kernel of $RELOADS reloads logged one slot-delta transaction"
[ "$n_replaced" -eq 0 ] || fail "a reload with the same services and rules replaced the table"
flaps=$(log_count "$mark" "/(be[123]|be[123]-6) (UP|DOWN):")
[ "$flaps" -eq 0 ] || fail "health transitions logged for unchanged backends during the reloads: $flaps"

lg_bg_stop load4
lg_bg_stop load6
for l in load4 load6; do
	say "$l: total $(lg_get $l total), ok $(lg_get $l ok), failed $(lg_get $l failed); $(awk '$1 == "backend" { printf "%s %s  ", $2, $3 }' "$WORK/$l.out")"
	measure "dual-stack $l: $(lg_get $l total) connections through $RELOADS reloads, $(lg_get $l failed) failed"
	[ "$(lg_get $l total)" -gt 1000 ] || fail "$l: only $(lg_get $l total) connections"
	[ "$(lg_get $l failed)" -eq 0 ] || fail "$l: $(lg_get $l failed) connections failed across reloads"
	[ "$(lg_backend $l "${BACKEND_NAMES[3]}")" -gt 0 ] ||
		fail "$l: ${BACKEND_NAMES[3]} never got a connection: the adds did not reach this family's slot map"
done
pass "$RELOADS reloads of a dual-stack service under load, 0 failed in either family"

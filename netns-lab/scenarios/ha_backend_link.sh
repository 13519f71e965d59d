#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ha_backend_link: the master (gw1) loses only its backend-side link.
# keepalived's track_interface and vrrp_sync_group (conf/ha/) must move
# BOTH floating addresses to gw2 — the client-side next hop too, although
# gw1's client link is fine — or clients would send to a gateway that
# cannot reach the backends (a half failover).  200 held TCP connections
# (wrr service) continue through gw2 thanks to conntrackd; the link comes
# back and gw1 takes both addresses back, the connections still answer.
# KNLB_HA_CONTROL=1: the control run, keepalived without the sync group and
# track_interface: the addresses must then stay split (the check can fail).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ha.sh
. "$(dirname "$0")/../lib/ha.sh"
t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "two gateways need knlbd (KNLB_LAB_RULES=hand has no HA variant)"
ha_deps
HA_PREEMPT_DELAY=${HA_PREEMPT_DELAY:-3}

CONTROL=${KNLB_HA_CONTROL:-0}
[ "$CONTROL" = 1 ] && HA_NO_SYNC_GROUP=1
ha_pair_up

ha_hold held
lg_bg_start wrrload --tcp --target "$HA_VIP:80" --rate 20 --duration-ms 60000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
sleep 2

ip -n "${HA_NS_GW[1]}" link set backend0 down
t0=$(now_ms)
# Watch the addresses for 4 s (a look takes ~100 ms): how long split?
split_ms=0 longest=0 prev=$t0 state='' now=$t0
while lt "$(ms_diff "$t0" "$now")" 4000; do
	state=$(ha_master)
	now=$(now_ms)
	if [ "$state" = split ]; then
		split_ms=$(awk -v s="$split_ms" -v a="$prev" -v b="$now" 'BEGIN { printf "%.0f", s + b - a }')
		ge "$split_ms" "$longest" && longest=$split_ms
	else
		split_ms=0
	fi
	[ "$state" = 2 ] && [ -z "${moved:-}" ] && moved=$(ms_diff "$t0" "$now")
	prev=$now
	sleep 0.05
done
measure "backend link of gw1 down: both addresses on gw2 after ${moved:--} ms; longest split seen ${longest} ms; final holder $state"
if [ "$CONTROL" = 1 ]; then
	ge "$longest" 3000 || fail "control: without the sync group the addresses were split only $longest ms"
	ha_hold_end held
	measure "control (no sync group): held wrr connections: $(lg_get held held_ok) ok, $(lg_get held held_failed) broke (of 200)"
	pass "control: split as expected without the sync group"
fi
[ "$state" = 2 ] || fail "after gw1 lost its backend link the addresses are held by: $state (want 2: both on gw2)"
lt "$longest" 1000 || fail "the addresses stayed split for $longest ms (half failover)"

ha_hold_end held
ok=$(lg_get held held_ok); broke=$(lg_get held held_failed); moved_be=$(lg_get held held_moved)
measure "held wrr connections across the backend-link failover: $ok ok, $broke broke, $moved_be moved backend (of 200)"
if [ "$ok" != 200 ] || [ "$moved_be" != 0 ]; then fail "held connections lost"; fi

ha_hold held2
ip -n "${HA_NS_GW[1]}" link set backend0 up
ha_wait_master 1 $((HA_PREEMPT_DELAY + 10)) || fail "gw1 did not take both addresses back (holds: $(ha_master))"
sleep 1
ha_hold_end held2
ok=$(lg_get held2 held_ok); broke=$(lg_get held2 held_failed); moved_be=$(lg_get held2 held_moved)
measure "held wrr connections across the failback: $ok ok, $broke broke, $moved_be moved backend (of 200)"
if [ "$ok" != 200 ] || [ "$moved_be" != 0 ]; then fail "held connections lost at failback"; fi
lg_bg_stop wrrload
measure "wrr load: $(lg_get wrrload ok) ok, $(lg_get wrrload failed) failed"
pass

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ha_failover: two gateways, keepalived (VRRP, vrrp_sync_group) and
# conntrackd (FTFW) from conf/ha/, knlbd with one config on both
# (docs/high-availability.md).  Under load — a steady rate of new TCP
# connections (maglev service), UDP flows, and 200 held TCP connections to
# a wrr service — the master dies (KNLB_HA_FAIL=links: its links go down,
# the default; kill9: its processes get SIGKILL).  Asserts and measures:
#   - the digests of every service are equal on both gateways;
#   - takeover: failure -> first successful new connection (measure);
#   - the 200 held connections answer again, from the same backend, 0
#     reset (with conntrackd); KNLB_HA_SYNC=0 runs without conntrackd and
#     only reports how many broke;
#   - a sample of client ports gets the same backend through the new
#     master as through the old one;
#   - failing back (the old master returns, preempts after preempt_delay)
#     loses none of 200 connections held on the new master.
# KNLB_HA_ADVERT sets advert_int (default 0.2).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ha.sh
. "$(dirname "$0")/../lib/ha.sh"
t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "two gateways need knlbd (KNLB_LAB_RULES=hand has no HA variant)"
ha_deps
FAIL_MODE=${KNLB_HA_FAIL:-links}
SYNC=${KNLB_HA_SYNC:-1}
sync_arg=
[ "$SYNC" = 1 ] || sync_arg=--no-sync
HA_PREEMPT_DELAY=${HA_PREEMPT_DELAY:-3}

ha_pair_up $sync_arg

d1=$(ha_digests 1); d2=$(ha_digests 2)
[ -n "$d1" ] || fail "no digest from knlbctl status in gw1"
[ "$d1" = "$d2" ] || fail "digests differ: gw1 [$d1] gw2 [$d2]"
measure "digests equal on both gateways: ${d1//$'\n'/ }"

# The sample of keys before the failure, through gw1.
lg sample1 --tcp --target "$HA_VIP:81" --count 40 --source 198.51.100.120 --sport-base 41000 --per-conn
[ "$(lg_get sample1 ok)" = 40 ] || fail "sample through gw1: $(lg_get sample1 ok) of 40"

ha_hold held
lg_bg_start rate --tcp --target "$HA_VIP:81" --rate 50 --duration-ms 60000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
# New connections to the wrr service too, so that its numgen counter on
# gw2 (which saw none of them) is not in step with gw1's: without that,
# the held connections' first packets after the takeover would reach gw2
# in the order gw1 first scheduled them and get the same backends by luck.
lg_bg_start wrrload --tcp --target "$HA_VIP:80" --rate 20 --duration-ms 60000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
lg_bg_start udp --udp --target "$HA_VIP:53" --rate 50 --duration-ms 60000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
sleep 2
if [ "$SYNC" = 1 ]; then
	ip netns exec "${HA_NS_GW[2]}" conntrackd -C "$WORK/gw2/conntrackd.conf" -s >"$WORK/ct-ext.txt" 2>&1 || true
	ext=$(awk '/^cache external/ { e = 1 } e && /current active/ { print $NF; exit }' "$WORK/ct-ext.txt")
	measure "gw2's conntrackd external cache before the failure: ${ext:-?} entries"
fi

read -r new0 resync0 <<<"$(ha_ct_events 2)"
case $FAIL_MODE in
links) ha_links 1 down ;;
kill9) ha_kill9 1 ;;
*) fail "KNLB_HA_FAIL: links or kill9" ;;
esac
# After the failure is complete: a flow started later cannot use gw1.
t0=$(now_ms)
ha_wait_master 2 10 holds || fail "gw2 did not take both addresses (holds: $(ha_master))"
t_addr=$(now_ms)
t0r=$(tl_rel rate "$t0")
tl_wait rate "$t0r" 'be[0-9]+' 1 10 || fail "no new connection succeeded within 10 s of the failure"
first=$(awk -v from="$t0r" '$1 == "flow" && $3 >= from && $4 ~ /^be/ { t = $3 + $6; if (m == "" || t < m) m = t } END { print m }' "$WORK/rate.out")
takeover=$(awk -v a="$first" -v b="$t0r" 'BEGIN { printf "%.0f", a - b }')
[ "$FAIL_MODE" = kill9 ] && say "after kill -9 gw1 still holds its addresses: $(ha_holds 1 && echo yes || echo no) (its kernel keeps them; clients follow gw2's gratuitous ARPs)"
measure "takeover ($FAIL_MODE, advert_int $HA_ADVERT, sync $SYNC): addresses on gw2 after $(ms_diff "$t0" "$t_addr") ms; first new connection answered $takeover ms after the failure"
sleep 1

# knlbd on gw2 counts the flows conntrackd committed: the conntrack NEW
# events of `conntrackd -c` (not the periodic resync: too early for that).
counted=$(ip netns exec "${HA_NS_GW[2]}" "$KNLB_BUILD/knlbctl" -s "$WORK/gw2/knlb.sock" status held 2>/dev/null |
	awk '$1 == "service" { for (f = 1; f < NF; f++) if ($f == "active" && $(f + 1) == "flows") print $(f + 2) }')
read -r new1 resync1 <<<"$(ha_ct_events 2)"
measure "gw2's knlbd counts ${counted:-?} active flows of the held service 1 s after takeover (sync $SYNC; 200 held); its conntrack NEW events +$((new1 - new0)), resyncs +$((resync1 - resync0))"

# Held connections: one more request each, through gw2.
ha_hold_end held
held_ok=$(lg_get held held_ok); held_failed=$(lg_get held held_failed); held_moved=$(lg_get held held_moved)
measure "held wrr connections across the failover (sync $SYNC): $held_ok ok, $held_failed broke, $held_moved moved backend (of 200)"

# Same keys, same backends, through gw2.
lg sample2 --tcp --target "$HA_VIP:81" --count 40 --source 198.51.100.120 --sport-base 41000 --per-conn
diffs=$(diff <(grep '^conn' "$WORK/sample1.out" | sort) <(grep '^conn' "$WORK/sample2.out" | sort) | grep -c '^>' || true)
measure "sample of 40 client ports: $diffs got another backend through gw2"

rc_fail=0
if [ "$SYNC" = 1 ]; then
	if [ "$held_ok" != 200 ] || [ "$held_moved" != 0 ]; then
		say "held connections lost with conntrackd"; rc_fail=1
	fi
	[ "${counted:-0}" -ge 200 ] || { say "gw2's knlbd counted ${counted:-?} of the 200 committed flows"; rc_fail=1; }
	# From the commit's events, not from a dump.
	if [ "$((new1 - new0))" -lt 200 ] || [ "$resync1" != "$resync0" ]; then
		say "gw2's knlbd: NEW events +$((new1 - new0)), resyncs +$((resync1 - resync0)): want >= 200 and 0"; rc_fail=1
	fi
fi
[ "$diffs" = 0 ] || { say "same key, other backend after takeover"; rc_fail=1; }
[ "$rc_fail" = 0 ] || fail "see above"

# Fail back: 200 connections held through gw2, gw1 returns and preempts.
ha_hold held2
sleep 1
case $FAIL_MODE in
links) ha_links 1 up ;;
kill9) ha_gw_start 1 $sync_arg ;;
esac
ha_wait_master 1 $((HA_PREEMPT_DELAY + 10)) || fail "gw1 did not take the addresses back (holds: $(ha_master))"
sleep 1
ha_hold_end held2
ok2=$(lg_get held2 held_ok); failed2=$(lg_get held2 held_failed); moved2=$(lg_get held2 held_moved)
measure "held wrr connections across the failback (sync $SYNC): $ok2 ok, $failed2 broke, $moved2 moved backend (of 200)"
if [ "$SYNC" = 1 ]; then
	if [ "$ok2" != 200 ] || [ "$moved2" != 0 ]; then fail "failback lost held connections"; fi
fi

lg_bg_stop rate
lg_bg_stop udp
lg_bg_stop wrrload
measure "rate load: $(lg_get rate ok) ok, $(lg_get rate failed) failed; udp: $(lg_get udp ok) ok, $(lg_get udp failed) failed"
pass

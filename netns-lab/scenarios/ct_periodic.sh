#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ct_periodic.sh — track = periodic (issue 15): the service's flows make no
# conntrack event (its rule says `ct event set 0x0`), knlbd counts them from
# a kernel-filtered dump every track_interval.  150 connections held over 3
# backends (wrr): within two intervals, per backend, knlbctl's active count
# equals the gateway's `conntrack -L -m MARK --reply-src BACKEND`, while
# knlbd read no NEW event at all; status says the counts are periodic.
# `knlbctl drain web be2 --wait` returns once the held connections are
# released and knlbd logs "web/be2 drained" (the dump sees the closed
# connections' entries in TIME_WAIT: not active).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ct.sh
. "$(dirname "$0")/../lib/ct.sh"

ct_init
lab_up --backends 3

HELD=150
VICTIM=be2
INTERVAL_MS=500
{
	conf_global
	echo "track_interval = ${INTERVAL_MS}ms"
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	track = periodic
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/periodic.conf"
knlb_start_ctl "$WORK/periodic.conf"
st_snap
MARK=$(st_svc web ct_mark)
[ "$(st_svc web counts)" = periodic ] || fail "status: counts $(st_svc web counts), not periodic"
[ "$(st_svc web counts_interval_ms)" -eq "$INTERVAL_MS" ] || fail "status: counts_interval_ms $(st_svc web counts_interval_ms), want $INTERVAL_MS"
gw_exec nft list table inet knlb >"$WORK/table.nft"
grep -q 'ct event set 0x0' "$WORK/table.nft" && ! grep -q 'ct event set new' "$WORK/table.nft" ||
	fail "the service rule asks for events: $(grep 'ct mark set' "$WORK/table.nft")"
ctl status >"$WORK/status.txt"
grep -q "active flows .* (counts periodic 0.5s)" "$WORK/status.txt" || fail "knlbctl status does not say the counts are periodic: $(grep '^service' "$WORK/status.txt")"

lg_bg_start hold --tcp --target "$LAB_VIP:80" --count "$HELD" --hold-ms 60000 \
	--timeout-ms 2000 --source-range "$LAB_CLIENT_SOURCE_RANGE"
# knlb's count == the kernel's, per backend, within two intervals.
for b in 0 1 2; do
	name=${BACKEND_NAMES[$b]} addr=${BACKEND_ADDRS[$b]}
	ok=no
	for ((i = 0; i < 2 * INTERVAL_MS / 100 + 10; i++)); do
		want=$(kct_count "$MARK" -p tcp --reply-src "$addr" --state ESTABLISHED)
		st_snap
		[ "$want" -gt 0 ] && [ "$(st_be web "$name" active_flows)" -eq "$want" ] && { ok=yes; break; }
		sleep 0.1
	done
	measure "$name: knlb active $(st_be web "$name" active_flows), conntrack -L $want"
	[ "$ok" = yes ] || fail "$name: knlb counts $(st_be web "$name" active_flows) active, the kernel holds $want"
done
st_snap
[ "$(st_ct events_new)" -eq 0 ] || fail "knlbd read $(st_ct events_new) NEW events for a periodic service"
[ "$(st_ct periodic_passes)" -gt 0 ] || fail "no periodic pass counted"
victim_held=$(st_be web "$VICTIM" active_flows)
[ "$victim_held" -gt 0 ] || fail "$VICTIM holds no connection: nothing to drain"

# Drain, release, --wait returns and the log says drained.
mark=$(log_mark)
t0=$(now_ms)
"$KNLBCTL" -s "$WORK/knlb.sock" -t 30 drain --wait web "$VICTIM" >"$WORK/drain.out" 2>&1 &
drain_pid=$!
LG_BG_PIDS[drain]=$drain_pid
sleep 1
kill -0 "$drain_pid" 2>/dev/null || fail "drain --wait returned while $VICTIM held $victim_held connections: $(cat "$WORK/drain.out")"
t_release=$(now_ms)
lg_bg_stop hold
rc=0
wait "$drain_pid" || rc=$?
unset "LG_BG_PIDS[drain]"
t_done=$(now_ms)
[ "$rc" -eq 0 ] || fail "knlbctl drain --wait: exit $rc: $(cat "$WORK/drain.out")"
log_wait "$mark" "web/$VICTIM drained: no active flows left" 5 || fail "no 'drained' line for $VICTIM"
measure "release of $victim_held held connections -> drain --wait returned $(ms_diff "$t_release" "$t_done") ms (interval $INTERVAL_MS ms; drain issued $(ms_diff "$t0" "$t_release") ms before)"
st_snap
[ "$(st_be web "$VICTIM" active_flows)" -eq 0 ] || fail "$VICTIM: $(st_be web "$VICTIM" active_flows) active after drained"
[ "$(st_ct events_new)" -eq 0 ] || fail "knlbd read $(st_ct events_new) NEW events"
pass "periodic counts equal the kernel's without one event read; drain --wait and 'drained' within an interval of the last close"

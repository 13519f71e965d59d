#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# health_tcp_failover.sh — check = tcp over 3 backends, new connections at
# 200/s throughout.  Crash be2's server (SIGKILL): knlbd logs be2 DOWN, and
# from kill + fall*interval + timeout + interval on no new connection
# reaches be2 and none fails.  Start the server again: knlbd logs be2 UP,
# be2 gets new connections again, not before rise probes could have
# passed, and no connection fails meanwhile.  KNLB_LAB_FAMILY=6
# (health_tcp_failover_v6.sh): IPv6 VIP, backends, probes and clients.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

INTERVAL_MS=200
TIMEOUT_MS=100
RISE=2
FALL=2
BOUND_MS=$((FALL * INTERVAL_MS + TIMEOUT_MS + INTERVAL_MS))	# 700
RATE=200
VICTIM=be2
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	check = tcp
	interval = ${INTERVAL_MS}ms
	timeout = ${TIMEOUT_MS}ms
	rise = $RISE
	fall = $FALL
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/failover.conf"
knlb_start "$WORK/failover.conf"

# New connections at RATE/s for up to 25 s; stopped once done.
lg_bg_start load --tcp --target "$VIP_HOST:80" --rate "$RATE" --duration-ms 25000 --timeout-ms 1000
for b in "${BACKEND_NAMES[@]}"; do
	tl_wait load 0 "$b" 5 5 || fail "$b got no traffic within 5 s of the start"
done
steady=$(tl_rel load "$(now_ms)")
# One second of steady traffic before the crash: the baseline.
tl_wait load "$steady" '.*' "$RATE" 5 || fail "the loadgen stalls"
say "baseline: $(tl_results load "$steady" inf)"
[ "$(tl_count load "$steady" inf 'fail:.*')" -eq 0 ] || fail "connections fail before anything happened"

# ---- crash be2
mark=$(log_mark)
t_kill=$(now_ms)
srv_stop "$VICTIM" KILL
kill_rel=$(tl_rel load "$t_kill")
log_wait "$mark" "$VICTIM\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for $VICTIM within 5 s"
say "knlbd: $LOG_LINE"
down_ms=$(ms_diff "$t_kill" "$LOG_SEEN_MS")
bound_rel=$(awk -v k="$kill_rel" -v b="$BOUND_MS" 'BEGIN { print k + b }')
# Traffic for a full second past the bound, then judge it.
tl_wait load "$((${bound_rel%.*} + 1000))" '.*' 1 10 || fail "the loadgen stalls"

last_victim=$(tl_last load inf "$VICTIM")
last_fail=$(tl_last load inf 'fail:.*')
fails=$(tl_count load "$kill_rel" inf 'fail:.*')
say "after the crash, until the bound: $(tl_results load "$kill_rel" "$bound_rel")"
say "after the bound:                  $(tl_results load "$bound_rel" inf)"
measure "kill -> DOWN logged $down_ms ms (bound fall*interval+timeout+interval = $BOUND_MS ms; log polled every 20 ms)"
# (A connection that failed does not say which backend it was sent to:
# the last failed one is the data plane's detection time.)
measure "kill -> last failed new connection $(ms_diff "$kill_rel" "$last_fail") ms ($fails failed, at $RATE conn/s); last answer from $VICTIM $(ms_diff "$kill_rel" "$last_victim") ms"
[ "$(tl_count load "$bound_rel" inf "$VICTIM")" -eq 0 ] ||
	fail "$VICTIM still got new connections more than $BOUND_MS ms after it died"
[ "$(tl_count load "$bound_rel" inf 'fail:.*')" -eq 0 ] ||
	fail "connections failed more than $BOUND_MS ms after $VICTIM died"
[ "$down_ms" -le $((BOUND_MS + 1000)) ] || fail "DOWN logged $down_ms ms after the crash"

# ---- bring be2 back
mark=$(log_mark)
t_start=$(now_ms)
srv_start "$VICTIM"
start_rel=$(tl_rel load "$t_start")
log_wait "$mark" "$VICTIM\b.*\bUP\b" 5 || fail "knlbd logged no UP for $VICTIM within 5 s of its restart"
say "knlbd: $LOG_LINE"
up_ms=$(ms_diff "$t_start" "$LOG_SEEN_MS")
tl_wait load "$start_rel" "$VICTIM" 10 5 || fail "$VICTIM got no new connections within 5 s of its restart"
first_back=$(tl_first load "$start_rel" "$VICTIM")
back_ms=$(ms_diff "$start_rel" "$first_back")
# A second of traffic after the return, then stop.
tl_wait load "$(awk -v f="$first_back" 'BEGIN { printf "%d", f + 1000 }')" '.*' 1 10 || fail "the loadgen stalls"
lg_bg_stop load
say "after the restart: $(tl_results load "$start_rel" inf)"
measure "restart -> UP logged $up_ms ms; restart -> first new connection to $VICTIM $back_ms ms (rise $RISE x interval $INTERVAL_MS ms)"
[ "$(tl_count load "$start_rel" inf 'fail:.*')" -eq 0 ] || fail "connections failed after $VICTIM came back"
# The first probe may come at once, each further one an interval later.
[ "$back_ms" -ge $(((RISE - 1) * INTERVAL_MS)) ] ||
	fail "$VICTIM got traffic $back_ms ms after its restart: before $RISE probes could pass"
[ "$back_ms" -le $((RISE * INTERVAL_MS + TIMEOUT_MS + INTERVAL_MS)) ] ||
	fail "$VICTIM got traffic only $back_ms ms after its restart"
say "load: $(lg_get load total) connections, $(lg_get load failed) failed, late starts $(lg_get load late_starts)"
pass "$VICTIM out within $BOUND_MS ms of its crash, back after $RISE probes, no failure outside the detection window"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# health_backup.sh — two primaries (be1, be2) and a backup (be3), check =
# tcp, new connections at 200/s throughout.  While a primary is up the
# backup gets nothing.  Crash both primaries: knlbd logs them DOWN and says
# the backup takes over; from kill + fall*interval + timeout + interval on
# every new connection reaches be3 and none fails.  Start be1 again: once
# it takes connections the backup gets none (100 ms allowed for the
# switch), and nothing fails.
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
SWITCH_MS=100
RATE=200
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	check = tcp
	interval = ${INTERVAL_MS}ms
	timeout = ${TIMEOUT_MS}ms
	rise = $RISE
	fall = $FALL
	backend = ${BACKEND_ADDRS[0]}:$LAB_BACKEND_TCP_PORT id=be1
	backend = ${BACKEND_ADDRS[1]}:$LAB_BACKEND_TCP_PORT id=be2
	backend = ${BACKEND_ADDRS[2]}:$LAB_BACKEND_TCP_PORT id=be3 backup
	EOF
} >"$WORK/backup.conf"
knlb_start "$WORK/backup.conf"

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 25000 --timeout-ms 1000
for b in be1 be2; do
	tl_wait load 0 "$b" 5 5 || fail "primary $b got no traffic within 5 s of the start"
done
steady=$(tl_rel load "$(now_ms)")
tl_wait load "$steady" '.*' "$RATE" 5 || fail "the loadgen stalls"
say "primaries up: $(tl_results load 0 inf)"
[ "$(tl_count load 0 inf be3)" -eq 0 ] || fail "the backup got traffic while both primaries were up"
[ "$(tl_count load "$steady" inf 'fail:.*')" -eq 0 ] || fail "connections fail before anything happened"

# ---- crash both primaries
mark=$(log_mark)
t_kill=$(now_ms)
srv_stop be1 KILL
srv_stop be2 KILL
kill_rel=$(tl_rel load "$t_kill")
for b in be1 be2; do
	log_wait "$mark" "$b\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for $b within 5 s"
	say "knlbd: $LOG_LINE"
done
down_ms=$(ms_diff "$t_kill" "$LOG_SEEN_MS")
log_wait "$mark" "backup" 2 || fail "knlbd did not log that the backup takes over"
say "knlbd: $LOG_LINE"
bound_rel=$(awk -v k="$kill_rel" -v b="$BOUND_MS" 'BEGIN { print k + b }')
tl_wait load "$((${bound_rel%.*} + 1000))" '.*' 1 10 || fail "the loadgen stalls"
say "after the crash, until the bound: $(tl_results load "$kill_rel" "$bound_rel")"
say "after the bound:                  $(tl_results load "$bound_rel" inf)"
measure "kill both primaries -> both DOWN logged $down_ms ms (bound $BOUND_MS ms); -> first new connection to the backup $(ms_diff "$kill_rel" "$(tl_first load "$kill_rel" be3)") ms; last failed $(ms_diff "$kill_rel" "$(tl_last load inf 'fail:.*')") ms ($(tl_count load "$kill_rel" inf 'fail:.*') failed)"
[ "$(tl_count load "$bound_rel" inf 'fail:.*')" -eq 0 ] ||
	fail "connections failed more than $BOUND_MS ms after the primaries died"
[ "$(tl_count load "$bound_rel" inf 'be[12]')" -eq 0 ] ||
	fail "dead primaries got new connections more than $BOUND_MS ms after they died"
[ "$(tl_count load "$bound_rel" inf be3)" -gt 0 ] || fail "the backup serves nothing"

# ---- be1 comes back
mark=$(log_mark)
t_start=$(now_ms)
srv_start be1
start_rel=$(tl_rel load "$t_start")
log_wait "$mark" "be1\b.*\bUP\b" 5 || fail "knlbd logged no UP for be1 within 5 s of its restart"
say "knlbd: $LOG_LINE"
up_ms=$(ms_diff "$t_start" "$LOG_SEEN_MS")
tl_wait load "$start_rel" be1 10 5 || fail "be1 got no new connections within 5 s of its restart"
first_be1=$(tl_first load "$start_rel" be1)
switch_rel=$(awk -v f="$first_be1" -v s="$SWITCH_MS" 'BEGIN { print f + s }')
tl_wait load "$((${switch_rel%.*} + 1000))" '.*' 1 10 || fail "the loadgen stalls"
lg_bg_stop load
last_be3=$(tl_last load inf be3)
say "after the restart: $(tl_results load "$start_rel" inf)"
say "from $SWITCH_MS ms after be1's first connection: $(tl_results load "$switch_rel" inf)"
measure "restart be1 -> UP logged $up_ms ms; -> first new connection to be1 $(ms_diff "$start_rel" "$first_be1") ms; last to the backup $(ms_diff "$first_be1" "$last_be3") ms after be1's first"
[ "$(tl_count load "$start_rel" inf 'fail:.*')" -eq 0 ] || fail "connections failed after be1 came back"
[ "$(tl_count load "$switch_rel" inf be3)" -eq 0 ] ||
	fail "the backup still got new connections more than $SWITCH_MS ms after be1 took traffic again"
pass "backup idle while a primary is up, serves alone when both are down, idle again once be1 is back"

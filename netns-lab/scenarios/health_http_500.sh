#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# health_http_500.sh — check = http on /healthz over 3 backends, new
# connections at 200/s throughout.  be1's /healthz starts answering 500
# (its server's --fail-file appears) while TCP and ordinary requests to it
# keep working: knlbd logs be1 DOWN with a reason naming 500, be1 gets no
# new connection from fall*interval + timeout + interval on, no connection
# fails at all, and a TCP connect + GET / straight to be1 still succeeds.
# The file goes: be1 is UP again and gets new connections after rise probes.
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
SICK=be1
FAIL_FILE=$WORK/$SICK.fail
SICK_ADDR=${BACKEND_ADDRS[$(backend_index "$SICK")]}

# be1 again, with a health path that fails while FAIL_FILE exists.  The
# others answer 200 (their name) on every path, /healthz included.
srv_stop "$SICK"
srv_start "$SICK" --health-path /healthz --fail-file "$FAIL_FILE" --log-health
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	check = http
	check_path = /healthz
	interval = ${INTERVAL_MS}ms
	timeout = ${TIMEOUT_MS}ms
	rise = $RISE
	fall = $FALL
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/http500.conf"
knlb_start "$WORK/http500.conf"

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 25000 --timeout-ms 1000
for b in "${BACKEND_NAMES[@]}"; do
	tl_wait load 0 "$b" 5 5 || fail "$b got no traffic within 5 s of the start"
done
steady=$(tl_rel load "$(now_ms)")
tl_wait load "$steady" '.*' "$RATE" 5 || fail "the loadgen stalls"
say "baseline: $(tl_results load "$steady" inf)"

# ---- /healthz on be1 answers 500
mark=$(log_mark)
t_sick=$(now_ms)
touch "$FAIL_FILE"
sick_rel=$(tl_rel load "$t_sick")
log_wait "$mark" "$SICK\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for $SICK within 5 s of its /healthz failing"
say "knlbd: $LOG_LINE"
grep -q 500 <<<"$LOG_LINE" || fail "the DOWN line for $SICK does not name status 500"
down_ms=$(ms_diff "$t_sick" "$LOG_SEEN_MS")
LOG_SEEN_MS_DOWN=$LOG_SEEN_MS
bound_rel=$(awk -v k="$sick_rel" -v b="$BOUND_MS" 'BEGIN { print k + b }')
tl_wait load "$((${bound_rel%.*} + 1000))" '.*' 1 10 || fail "the loadgen stalls"

# probe_at SINCE STATUS N: when be1 answered the checker's Nth STATUS on
# /healthz after SINCE (its server logs them: --log-health).  Run before
# our own requests to /healthz below, which it would count too.
probe_at() {
	awk -v t="$1" -v st="$2" -v n="$3" '$1 == "health" && $2 >= t && $3 == st && ++k == n { print $2; exit }' \
		"$LAB_DIR/$SICK.log"
}
nth_500=$(probe_at "$t_sick" 500 "$FALL")
[ -n "$nth_500" ] || fail "$SICK's log shows no $FALL answers 500 to the checker"

# What a client and the checker see, straight from the gateway.
gw_exec "$LOADGEN" --tcp --target "$SICK_ADDR:$LAB_BACKEND_TCP_PORT" --count 5 \
	--timeout-ms 1000 --timeline >"$WORK/direct-root.out" 2>&1 || true
gw_exec "$LOADGEN" --tcp --target "$SICK_ADDR:$LAB_BACKEND_TCP_PORT" --count 5 \
	--timeout-ms 1000 --timeline --path /healthz >"$WORK/direct-healthz.out" 2>&1 || true
# (these 5 requests count in be1's failed_requests: subtracted below)
DIRECT_HEALTHZ=5
say "straight to $SICK: GET / ok $(lg_get direct-root ok) of 5; GET /healthz answered non-200 $(lg_fail direct-healthz http_status) of $DIRECT_HEALTHZ"
[ "$(lg_get direct-root ok)" -eq 5 ] || fail "$SICK no longer answers TCP + GET /: the test needs it to"
[ "$(lg_fail direct-healthz http_status)" -eq "$DIRECT_HEALTHZ" ] || fail "$SICK's /healthz does not answer 500"

say "after /healthz failed, until the bound: $(tl_results load "$sick_rel" "$bound_rel")"
say "after the bound:                        $(tl_results load "$bound_rel" inf)"
measure "/healthz 500 -> DOWN logged $down_ms ms (bound $BOUND_MS ms; log polled every 20 ms); 500 #$FALL served to the checker -> DOWN logged $(ms_diff "$nth_500" "$LOG_SEEN_MS_DOWN") ms"
measure "/healthz 500 -> last new connection to $SICK $(ms_diff "$sick_rel" "$(tl_last load inf "$SICK")") ms"
[ "$(tl_count load "$bound_rel" inf "$SICK")" -eq 0 ] ||
	fail "$SICK still got new connections more than $BOUND_MS ms after its /healthz failed"
[ "$(tl_count load "$steady" inf 'fail:.*')" -eq 0 ] ||
	fail "connections failed: $SICK still serves, none should"

# ---- /healthz is fine again
mark=$(log_mark)
t_ok=$(now_ms)
rm -f "$FAIL_FILE"
ok_rel=$(tl_rel load "$t_ok")
log_wait "$mark" "$SICK\b.*\bUP\b" 5 || fail "knlbd logged no UP for $SICK within 5 s"
say "knlbd: $LOG_LINE"
up_ms=$(ms_diff "$t_ok" "$LOG_SEEN_MS")
LOG_SEEN_MS_UP=$LOG_SEEN_MS
tl_wait load "$ok_rel" "$SICK" 10 5 || fail "$SICK got no new connections within 5 s of /healthz recovering"
back_ms=$(ms_diff "$ok_rel" "$(tl_first load "$ok_rel" "$SICK")")
lg_bg_stop load
nth_200=$(probe_at "$t_ok" 200 "$RISE")
measure "/healthz 200 again -> UP logged $up_ms ms; -> first new connection to $SICK $back_ms ms (rise $RISE x interval $INTERVAL_MS ms); 200 #$RISE served to the checker -> UP logged $(ms_diff "$nth_200" "$LOG_SEEN_MS_UP") ms"
[ "$(tl_count load "$steady" inf 'fail:.*')" -eq 0 ] || fail "connections failed"
[ "$back_ms" -ge $(((RISE - 1) * INTERVAL_MS)) ] ||
	fail "$SICK got traffic $back_ms ms after /healthz recovered: before $RISE probes could pass"
[ "$back_ms" -le $((RISE * INTERVAL_MS + TIMEOUT_MS + INTERVAL_MS)) ] ||
	fail "$SICK got traffic only $back_ms ms after /healthz recovered"

# The checker did ask be1 for /healthz, and got 500s (ours excluded).
srv_counts
checker_500=$(($(srv_count "$SICK" failed_requests) - DIRECT_HEALTHZ))
say "$SICK's server: /healthz requests $(srv_count "$SICK" health_requests), 500s to the checker $checker_500"
[ "$checker_500" -ge "$FALL" ] || fail "$SICK answered the checker fewer than $FALL 500s"
pass "$SICK out on HTTP 500 while TCP worked, back after $RISE good probes, no connection failed"

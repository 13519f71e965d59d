#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# health_slowstart.sh — scheduler = wrr, equal weights, check = tcp,
# slowstart = 3s, new connections at 300/s.  Crash be2 and start it again:
# once it is UP its share of new connections grows over 3 s (a linear ramp
# would give about 8 %, 21 %, 29 % in seconds 1, 2, 3) and is 1/3 after.
# Asserted: share in the first second below 20 % and below the third
# second's; within 5 points of 33.3 % in the second after the ramp; no
# connection fails once be2 is DOWN.
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
SLOWSTART_MS=3000
RATE=300
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
	slowstart = ${SLOWSTART_MS}ms
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/slowstart.conf"
knlb_start "$WORK/slowstart.conf"

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 25000 --timeout-ms 1000
for b in "${BACKEND_NAMES[@]}"; do
	tl_wait load 0 "$b" 5 5 || fail "$b got no traffic within 5 s of the start"
done

mark=$(log_mark)
t_kill=$(now_ms)
srv_stop be2 KILL
kill_rel=$(tl_rel load "$t_kill")
log_wait "$mark" "be2\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for be2 within 5 s"
bound_rel=$(awk -v k="$kill_rel" -v b="$BOUND_MS" 'BEGIN { print k + b }')
tl_wait load "$bound_rel" '.*' 1 10 || fail "the loadgen stalls"

mark=$(log_mark)
t_start=$(now_ms)
srv_start be2
start_rel=$(tl_rel load "$t_start")
log_wait "$mark" "be2\b.*\bUP\b" 5 || fail "knlbd logged no UP for be2 within 5 s of its restart"
say "knlbd: $LOG_LINE"
tl_wait load "$start_rel" be2 1 5 || fail "be2 got no new connection within 5 s of its restart"
t0=$(tl_first load "$start_rel" be2)
end_rel=$(awk -v t="$t0" -v s="$SLOWSTART_MS" 'BEGIN { printf "%d", t + s + 1000 }')
tl_wait load "$end_rel" '.*' 1 10 || fail "the loadgen stalls"
lg_bg_stop load

# share FROM TO: be2's share (%) of the flows started in [FROM, TO).
share() {
	pct "$(tl_count load "$1" "$2" be2)" "$(tl_count load "$1" "$2" '.*')"
}
shares=()
for s in 0 1 2 3; do
	from=$(awk -v t="$t0" -v s="$s" 'BEGIN { print t + 1000 * s }')
	to=$(awk -v t="$t0" -v s="$s" 'BEGIN { print t + 1000 * (s + 1) }')
	shares+=("$(share "$from" "$to")")
	say "second $((s + 1)) after be2's first connection: $(tl_results load "$from" "$to")"
done
measure "slowstart ${SLOWSTART_MS} ms: be2's share of new connections per second after its return: ${shares[0]} % ${shares[1]} % ${shares[2]} %, then ${shares[3]} % (1/3 = 33.3 %)"
[ "$(tl_count load "$bound_rel" inf 'fail:.*')" -eq 0 ] || fail "connections failed once be2 was out"
lt "${shares[0]}" 20 || fail "be2 got ${shares[0]} % in its first second back: no slow start"
lt "${shares[0]}" "${shares[2]}" || fail "be2's share does not grow: ${shares[0]} % then ${shares[2]} %"
within "${shares[3]}" 33.3 5 || fail "be2's share after the ramp is ${shares[3]} %, not 1/3"
pass "be2's share ramps ${shares[0]} -> ${shares[1]} -> ${shares[2]} -> ${shares[3]} %"

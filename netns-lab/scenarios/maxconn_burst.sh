#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# maxconn_burst.sh — wrr over 3 backends, be1 with maxconn=20.  Held
# connections opened ~20 ms apart: be1 holds 20, the others take the
# rest, none fails.  Released, be1 takes new flows again (logged).  Then a
# burst of 150 held connections opened at once: be1's overshoot (flows that
# arrive before knlbd reacts to the 20th) is measured, none fails, and
# once full be1 takes no new flow while its connections are held.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3
MAX=20
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
	conf_backends "$LAB_BACKEND_TCP_PORT" | sed "1s/\$/ maxconn=$MAX/"
} >"$WORK/maxconn.conf"
knlb_start "$WORK/maxconn.conf"

# ---- paced: 60 held connections, one loadgen each, ~20 ms apart
PIDS=()
for i in $(seq 60); do
	rm -f "$WORK/p$i.ready"
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --tcp --target "$VIP_HOST:80" --count 1 \
		--timeout-ms 2000 --hold-ms 60000 --deadline-ms 90000 \
		--ready-file "$WORK/p$i.ready" </dev/null >"$WORK/p$i.out" 2>"$WORK/p$i.err" &
	PIDS+=($!)
	for ((t = 0; t < 100; t++)); do
		[ -s "$WORK/p$i.ready" ] && break
		sleep 0.02
	done
done
mark=$(log_mark)
kill -USR1 "${PIDS[@]}" 2>/dev/null || true
wait "${PIDS[@]}" 2>/dev/null || true
paced_be1=$(cat "$WORK"/p*.out | awk '$1 == "backend" && $2 == "be1" { n += $3 } END { print n + 0 }')
failed=$(cat "$WORK"/p*.out | awk '$1 == "failed" { n += $2 } END { print n + 0 }')
say "paced: be1 held $paced_be1 of 60, failed $failed"
[ "$failed" -eq 0 ] || fail "paced: $failed connections failed"
measure "60 held connections ~20 ms apart, maxconn=$MAX: be1 held $paced_be1"
[ "$paced_be1" -le $((MAX + 1)) ] || fail "paced: be1 held $paced_be1 with maxconn=$MAX"
[ "$paced_be1" -ge "$MAX" ] || fail "paced: be1 held only $paced_be1"
log_wait "$mark" "be1 takes new flows again" 10 || fail "be1 never took new flows again after the release"
say "knlbd: $LOG_LINE"

# ---- burst: 150 held connections opened at once
lg_hold_start burst --tcp --target "$VIP_HOST:80" --count 150 --concurrency 150
sleep 0.5
lg late --tcp --target "$VIP_HOST:80" --count 30 --concurrency 1
late_be1=$(lg_backend late be1)
lg_hold_release burst
burst_be1=$(lg_backend burst be1)
failed=$(( $(lg_get burst failed) + $(lg_get late failed) ))
say "burst: be1 $burst_be1, be2 $(lg_backend burst be2), be3 $(lg_backend burst be3); then 30 more: be1 $late_be1; failed $failed"
measure "150 held connections opened at once, maxconn=$MAX: be1 held $burst_be1 (overshoot $((burst_be1 > MAX ? burst_be1 - MAX : 0))); 30 more while held: be1 took $late_be1"
[ "$failed" -eq 0 ] || fail "burst: $failed connections failed"
[ "$late_be1" -eq 0 ] || fail "be1 took $late_be1 new flows while full"
pass "maxconn held: exact when paced, overshoot $((burst_be1 > MAX ? burst_be1 - MAX : 0)) under a burst, no flow refused"

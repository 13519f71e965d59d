#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lrt_latency.sh — latency_weights = yes (least response time): wrr over 3
# backends, check = http every 200 ms, new connections at 200/s.  be2
# becomes 20 ms slower: `tc netem delay 20ms` on its interface, inside its
# namespace; where the kernel has no sch_netem, its server's health answer
# waits 20 ms instead (knlb-testsrv --delay-file: the whole server stalls,
# as a slow host would), and the measure lines say which.  be2's share of
# new connections falls by at least 30 % of what it was (the weight is
# 1 / (1 ms + smoothed latency)), and comes back when the latency goes.  KNLB_LAB_NETEM=require skips (77) without netem.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

RATE=200
SLOW=be2
DELAY_MS=20
DELAY_FILE=$WORK/$SLOW.delay
read -r -a nss <<<"$LAB_NS_BACKENDS"
slow_ns=${nss[$(backend_index "$SLOW")]}

if ip netns exec "$slow_ns" tc qdisc add dev eth0 root netem delay 1ms 2>/dev/null; then
	ip netns exec "$slow_ns" tc qdisc del dev eth0 root
	HOW="tc netem delay ${DELAY_MS}ms on $SLOW's eth0"
	slow_on() { ip netns exec "$slow_ns" tc qdisc add dev eth0 root netem delay "${DELAY_MS}ms"; }
	slow_off() { ip netns exec "$slow_ns" tc qdisc del dev eth0 root; }
else
	[ "${KNLB_LAB_NETEM:-}" = require ] &&
		t_skip "tc netem is not available here (no sch_netem in this kernel: modprobe sch_netem)"
	HOW="no sch_netem in this kernel: $SLOW's health answer waits ${DELAY_MS}ms (knlb-testsrv --delay-file)"
	slow_on() { echo "$DELAY_MS" >"$DELAY_FILE"; }
	slow_off() { rm -f "$DELAY_FILE"; }
fi
srv_stop "$SLOW"
srv_start "$SLOW" --health-path /healthz --delay-file "$DELAY_FILE"
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
	interval = 200ms
	timeout = 150ms
	latency_weights = yes
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/lrt.conf"
knlb_start "$WORK/lrt.conf"

# share FROM TO: SLOW's percentage of the new connections started in [FROM, TO)
share() {
	local all mine
	all=$(tl_count load "$1" "$2" '.*')
	mine=$(tl_count load "$1" "$2" "$SLOW")
	awk -v m="$mine" -v a="$all" 'BEGIN { printf "%.1f", a ? 100 * m / a : 0 }'
}
# window SECS: [now, now + SECS) on the load's scale, once it is over
window() {
	local from to
	from=$(tl_rel load "$(now_ms)")
	sleep "$1"
	to=$(tl_rel load "$(now_ms)")
	WIN_FROM=$from WIN_TO=$to
}

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 40000 --timeout-ms 1000
sleep 2				# latencies learned
window 3
before=$(share "$WIN_FROM" "$WIN_TO")
say "before: $(tl_results load "$WIN_FROM" "$WIN_TO")"

slow_on
sleep 3				# a few probes, the average, one re-weighting
window 3
during=$(share "$WIN_FROM" "$WIN_TO")
say "slow:   $(tl_results load "$WIN_FROM" "$WIN_TO")"
"$KNLB_BUILD/knlbctl" -s "$WORK/knlb.sock" status web | sed 's/^/    /'

slow_off
sleep 6				# the average decays, one re-weighting
window 3
after=$(share "$WIN_FROM" "$WIN_TO")
say "after:  $(tl_results load "$WIN_FROM" "$WIN_TO")"
lg_bg_stop load

measure "$SLOW share of new connections: $before % before, $during % while ${DELAY_MS} ms slower, $after % after ($HOW)"
ge "$before" 25 || fail "$SLOW had $before % before the delay, not about a third"
# The weight is 1 / (1 ms + latency): with HTTP checks answering in about
# 10 ms here, 20 ms more is about a third of the weight, not a twentieth.
lt "$during" "$(awk -v b="$before" 'BEGIN { print 0.7 * b }')" ||
	fail "$SLOW kept $during % while ${DELAY_MS} ms slower (before: $before %)"
ge "$after" 25 || fail "$SLOW got only $after % back after the delay went"
[ "$(lg_get load failed)" -eq 0 ] || fail "$(lg_get load failed) connections failed"
pass "$SLOW: $before % -> $during % while slower -> $after %"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# observe_syn_drop.sh — passive health.  check = tcp every 5 s (fall 3:
# the probes alone would take 10-15 s to see anything) and observe = yes,
# wrr over 3 backends, new connections at 200/s.  be2 starts dropping the
# clients' SYNs in its namespace (nft), while the gateway's probes still
# pass.  knlbd logs "be2 DOWN: N of M new flows unanswered in 1s
# (observed)" within observe_timeout + 1 s, far before a probe could, and
# new connections stop failing; the active probes bring be2 back up (rise)
# once the drop is gone.  flush = yes: the unanswered flows' conntrack
# entries (SYN_SENT for 120 s) go with the DOWN, so a SYN sent again on
# the same tuple (a retransmission, or a source port reused) is balanced
# anew instead of following its entry to be2.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

INTERVAL_MS=5000
DOWNINTER_MS=3000
FALL=3
RISE=2
OBS_TIMEOUT_MS=1000
PROBE_BOUND_MS=$(((FALL - 1) * INTERVAL_MS))	# the earliest the probes could see it
OBS_BOUND_MS=$((OBS_TIMEOUT_MS + 1000 + 400))	# timeout + window + 2 ticks
RATE=200
VICTIM=be2
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
	downinter = ${DOWNINTER_MS}ms
	timeout = 300ms
	rise = $RISE
	fall = $FALL
	observe = yes
	observe_timeout = ${OBS_TIMEOUT_MS}ms
	flush = yes
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/observe.conf"
knlb_start "$WORK/observe.conf"

read -r -a nss <<<"$LAB_NS_BACKENDS"
victim_ns=${nss[$(backend_index "$VICTIM")]}
# drop_on VERDICT: drop, or "reject with tcp reset" (refused at once)
drop_on() {
	ip netns exec "$victim_ns" nft -f - <<-EOF
	table inet observe_drop {
		chain input {
			type filter hook input priority 0; policy accept;
			ip saddr $CLIENT_NET.0/24 tcp dport $LAB_BACKEND_TCP_PORT tcp flags syn $1
		}
	}
	EOF
}
drop_off() { ip netns exec "$victim_ns" nft delete table inet observe_drop 2>/dev/null || true; }
CLIENT_NET=${LAB_CLIENT_ADDR%.*}

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 40000 --timeout-ms 1000
for b in "${BACKEND_NAMES[@]}"; do
	tl_wait load 0 "$b" 5 5 || fail "$b got no traffic within 5 s of the start"
done
steady=$(tl_rel load "$(now_ms)")
tl_wait load "$steady" '.*' "$RATE" 5 || fail "the loadgen stalls"
[ "$(tl_count load "$steady" inf 'fail:.*')" -eq 0 ] || fail "connections fail before anything happened"

# ---- be2 drops (or resets) its clients' SYNs; its probes still pass
phase() {
	local verdict=$1 mark t_drop drop_rel down_ms bound_rel fails_after t_off up_ms off_rel up_rel
	mark=$(log_mark)
	t_drop=$(now_ms)
	drop_on "$verdict"
	drop_rel=$(tl_rel load "$t_drop")
	log_wait "$mark" "$VICTIM\b.*\bDOWN\b" 10 || fail "knlbd logged no DOWN for $VICTIM within 10 s"
	say "knlbd: $LOG_LINE"
	down_ms=$(ms_diff "$t_drop" "$LOG_SEEN_MS")
	DOWN_MS+=("$down_ms")
	grep -Eq "$VICTIM DOWN: [0-9]+ of [0-9]+ new flows unanswered in 1s \(observed\)" <<<"$LOG_LINE" ||
		fail "the DOWN line does not name the evidence: $LOG_LINE"
	bound_rel=$(awk -v k="$drop_rel" -v b="$OBS_BOUND_MS" 'BEGIN { print k + b }')
	tl_wait load "$((${bound_rel%.*} + 1000))" '.*' 1 10 || fail "the loadgen stalls"
	fails_after=$(tl_count load "$bound_rel" "$((${bound_rel%.*} + 1000))" 'fail:.*')
	say "after the $verdict, until the bound: $(tl_results load "$drop_rel" "$bound_rel")"
	measure "SYN $verdict -> observed DOWN logged $down_ms ms (observe_timeout $OBS_TIMEOUT_MS ms; the probes every $INTERVAL_MS ms x fall $FALL could not before $PROBE_BOUND_MS ms)"
	measure "failed new connections: $(tl_count load "$drop_rel" "$bound_rel" 'fail:.*') until the bound, $fails_after in the second after it (at $RATE conn/s)"
	[ "$down_ms" -lt "$PROBE_BOUND_MS" ] || fail "DOWN after $down_ms ms: no faster than the probes"
	[ "$down_ms" -le $((OBS_BOUND_MS + 500)) ] || fail "DOWN after $down_ms ms, bound $OBS_BOUND_MS ms"
	[ "$fails_after" -eq 0 ] || fail "$fails_after connections failed after the bound"

	# ---- the drop goes: the probes (which passed all along) bring be2 back
	drop_off
	mark=$(log_mark)
	t_off=$(now_ms)
	log_wait "$mark" "$VICTIM\b.*\bUP\b" 10 || fail "knlbd logged no UP for $VICTIM within 10 s"
	say "knlbd: $LOG_LINE"
	up_ms=$(ms_diff "$t_off" "$LOG_SEEN_MS")
	off_rel=$(tl_rel load "$t_off")
	tl_wait load "$off_rel" "$VICTIM" 10 5 || fail "$VICTIM got no new connections after it came back"
	measure "drop removed -> UP logged $up_ms ms (rise $RISE x downinter $DOWNINTER_MS ms)"
	up_rel=$(tl_rel load "$LOG_SEEN_MS")
	[ "$(tl_count load "$up_rel" inf 'fail:.*')" -eq 0 ] || fail "connections failed after $VICTIM came back"
}
DOWN_MS=()
[ "$(log_count 0 'DOWN')" -eq 0 ] || fail "a backend went down on healthy traffic"
phase drop
phase "reject with tcp reset"
lg_bg_stop load
say "load: $(lg_get load total) connections, $(lg_get load failed) failed"
pass "$VICTIM observed down in ${DOWN_MS[0]} ms (SYNs dropped) and ${DOWN_MS[1]} ms (reset) (probes: >= $PROBE_BOUND_MS ms), back up by its probes"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ct_drain.sh — draining a backend: 200 long-lived connections held in two
# groups over 3 backends (wrr), new connections at 100/s throughout.
# `knlbctl drain web be2`: from then on no new connection reaches be2 (the
# client's timeline and be2's own counter), while the connections it holds
# still answer from be2 when released.  be2's active count (knlbctl status)
# falls as they close, first to the second group's share, then to 0, and
# knlbd logs "web/be2 drained: no active flows left"; measured: the time
# from the last close to that line.  `knlbctl enable` brings be2 back.
#
# knlbd stops counting a TCP flow when its conntrack entry reaches
# TIME_WAIT or CLOSE (an UPDATE event), not at its DESTROY: with the
# default nf_conntrack_tcp_timeout_time_wait (120 s) the closed connections'
# entries are still in the gateway's table when "drained" is logged, and
# the scenario checks that they are.  The measured close -> "drained" time
# is the event's way through knlbd alone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ct.sh
. "$(dirname "$0")/../lib/ct.sh"

ct_init
lab_up --backends 3

HELD=100	# per group; two groups
RATE=100
VICTIM=be2
CLOSE_BOUND_S=2	# last close -> "drained": an event, with a margin for a loaded box
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/drain.conf"
knlb_start_ctl "$WORK/drain.conf"

# victim_active: be2's active count now.
victim_active() {
	st_snap
	st_be web "$VICTIM" active_flows
}

# wait_victim_active N SECS: until be2's active count is N; 1 on timeout.
wait_victim_active() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(victim_active)" -eq "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_drained SECS: log_wait for "be2 drained" (LOG_LINE, LOG_SEEN_MS);
# 1 on timeout.
wait_drained() {
	local i
	for ((i = 0; i < $1 * 50; i++)); do	# every 20 ms, as log_wait
		LOG_LINE=$(tail -n "+$((mark + 1))" "$KNLBD_LOG" |
			grep -E -m1 -- "web/$VICTIM drained: no active flows left" || true)
		if [ -n "$LOG_LINE" ]; then
			LOG_SEEN_MS=$(now_ms)
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# Two groups of held connections, each from its own client ports (ports
# assigned by the kernel, so a group's connections are its own).
lg_bg_start holdA --tcp --target "$LAB_VIP:80" --count "$HELD" --hold-ms 60000 \
	--timeout-ms 2000 --source-range "$LAB_CLIENT_SOURCE_RANGE"
a2=$(victim_active)
lg_bg_start holdB --tcp --target "$LAB_VIP:80" --count "$HELD" --hold-ms 60000 \
	--timeout-ms 2000 --source-range "$LAB_CLIENT_SOURCE_RANGE"
ab2=$(victim_active)
b2=$((ab2 - a2))
say "held on $VICTIM: group A $a2, group B $b2 (of $HELD each)"
if [ "$a2" -eq 0 ] || [ "$b2" -eq 0 ]; then
	fail "$VICTIM holds no connection of a group: nothing to drain"
fi

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 28000 --timeout-ms 1000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
for b in "${BACKEND_NAMES[@]}"; do
	tl_wait load 0 "$b" 5 5 || fail "$b got no new connection within 5 s of the start"
done

# ---- drain be2
mark=$(log_mark)
ctl drain web "$VICTIM" >"$WORK/ctl-drain.out" 2>&1
[ "$CTL_RC" -eq 0 ] || fail "knlbctl drain web $VICTIM: exit $CTL_RC: $(cat "$WORK/ctl-drain.out")"
# The reply may leave a hair before the loop iteration's commit: 20 ms.
drain_rel=$(awk -v t="$(tl_rel load "$(now_ms)")" 'BEGIN { print t + 20 }')
log_wait "$mark" "web/$VICTIM admin state drain" 5 || fail "knlbd logged no 'admin state drain' for $VICTIM"
say "knlbd: $LOG_LINE"
sleep 0.3
srv_counts
victim_conns0=$(srv_count "$VICTIM" tcp_connections)
st_snap
[ "$(st_be web "$VICTIM" admin)" = drain ] || fail "knlbctl status shows $VICTIM admin $(st_be web "$VICTIM" admin), not drain"
[ "$(st_be web "$VICTIM" slots)" -eq 0 ] || fail "$VICTIM still has $(st_be web "$VICTIM" slots) slots while draining"

# ---- group A closes: be2's count falls to B's share, no "drained" yet
lg_bg_stop holdA
say "group A released: held_ok $(lg_get holdA held_ok) failed $(lg_get holdA held_failed) moved $(lg_get holdA held_moved); first answers from $VICTIM $(lg_backend holdA "$VICTIM")"
[ "$(lg_get holdA held_ok)" -eq "$HELD" ] || fail "group A: $(lg_get holdA held_ok) of $HELD held connections answered after the drain"
[ "$(lg_get holdA held_moved)" -eq 0 ] || fail "group A: $(lg_get holdA held_moved) held connections answered from another backend"
[ "$(lg_backend holdA "$VICTIM")" -eq "$a2" ] || fail "group A: the client held $(lg_backend holdA "$VICTIM") on $VICTIM, knlb counted $a2"
wait_victim_active "$b2" "$CLOSE_BOUND_S" ||
	fail "$VICTIM's active count is $(victim_active), not group B's $b2, $CLOSE_BOUND_S s after group A closed"
measure "$VICTIM active: $ab2 held -> $b2 after group A closed"
[ "$(log_count "$mark" "$VICTIM drained")" -eq 0 ] || fail "knlbd says $VICTIM drained while it holds $b2 connections"

# ---- group B closes: 0, and the log line
t_release=$(now_ms)
lg_bg_stop holdB
t_closed=$(now_ms)
say "group B released: held_ok $(lg_get holdB held_ok) failed $(lg_get holdB held_failed) moved $(lg_get holdB held_moved); first answers from $VICTIM $(lg_backend holdB "$VICTIM")"
[ "$(lg_get holdB held_ok)" -eq "$HELD" ] || fail "group B: $(lg_get holdB held_ok) of $HELD held connections answered after the drain"
[ "$(lg_get holdB held_moved)" -eq 0 ] || fail "group B: $(lg_get holdB held_moved) held connections answered from another backend"
[ "$(lg_backend holdB "$VICTIM")" -eq "$b2" ] || fail "group B: the client held $(lg_backend holdB "$VICTIM") on $VICTIM, knlb counted $b2"
wait_drained "$CLOSE_BOUND_S" ||
	fail "no 'drained' line for $VICTIM $CLOSE_BOUND_S s after its last connection closed (active $(victim_active))"
say "knlbd: $LOG_LINE"
# The closed connections' entries are still in the kernel's table.
victim_addr=${BACKEND_ADDRS[1]}
[ "${BACKEND_NAMES[1]}" = "$VICTIM" ] || fail "expected $VICTIM second in the lab's backends"
lingering=$(gw_exec conntrack -L -p tcp --reply-src "$victim_addr" --reply-port-src "$LAB_BACKEND_TCP_PORT" 2>/dev/null |
	grep -cE ' (TIME_WAIT|CLOSE) ' || true)
measure "last held connection closed -> '$VICTIM drained' logged $(ms_diff "$t_closed" "$LOG_SEEN_MS") ms (release -> log $(ms_diff "$t_release" "$LOG_SEEN_MS") ms; log polled every 20 ms); $lingering of $VICTIM's entries still in conntrack in TIME_WAIT/CLOSE"
[ "$lingering" -ge "$b2" ] || fail "only $lingering of $VICTIM's entries in TIME_WAIT/CLOSE when drained was logged; group B alone closed $b2"
[ "$(victim_active)" -eq 0 ] || fail "drained logged, yet knlbctl status shows $VICTIM with $(victim_active) active flows"

# ---- nothing new reached be2 since the drain
tl_wait load "$(awk -v t="$(tl_rel load "$(now_ms)")" 'BEGIN { print t + 300 }')" '.*' 1 5 || fail "the loadgen stalls"
srv_counts
victim_new=$(($(srv_count "$VICTIM" tcp_connections) - victim_conns0))
after=$(tl_count load "$drain_rel" inf "$VICTIM")
say "since the drain: $(tl_results load "$drain_rel" inf)"
measure "new connections to $VICTIM after the drain: client $after, $VICTIM's server $victim_new; before it $(tl_count load 0 "$drain_rel" "$VICTIM")"
[ "$after" -eq 0 ] || fail "$after new connections reached $VICTIM after the drain"
[ "$victim_new" -eq 0 ] || fail "$VICTIM's server accepted $victim_new connections after the drain"
[ "$(tl_count load "$drain_rel" inf 'fail:.*')" -eq 0 ] || fail "new connections failed during the drain"

# ---- enable: be2 takes new connections again
mark=$(log_mark)
ctl enable web "$VICTIM" >"$WORK/ctl-enable.out" 2>&1
[ "$CTL_RC" -eq 0 ] || fail "knlbctl enable web $VICTIM: exit $CTL_RC"
enable_rel=$(tl_rel load "$(now_ms)")
log_wait "$mark" "web/$VICTIM admin state enabled" 5 || fail "knlbd logged no 'admin state enabled' for $VICTIM"
tl_wait load "$enable_rel" "$VICTIM" 10 5 || fail "$VICTIM got no new connection within 5 s of knlbctl enable"
measure "enable -> first new connection to $VICTIM $(ms_diff "$enable_rel" "$(tl_first load "$enable_rel" "$VICTIM")") ms"
lg_bg_stop load
[ "$(lg_get load failed)" -eq 0 ] || fail "$(lg_get load failed) new connections failed"
say "load: $(lg_get load total) connections, $(lg_get load failed) failed, late starts $(lg_get load late_starts)"
pass "drained $VICTIM took no new connection, kept its held ones, reached 0 active and was logged drained"

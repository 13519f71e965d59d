#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# restart_kill9_v6.sh — restart_kill9.sh on a dual-stack service: one
# [service web] with a VIP per family, check = tcp over be1..be3 in both
# families (ids beI and beI-6); be3's server is down, so knlbd has taken
# be3 and be3-6 out of both slot maps.  New connections at 100/s from IPv4
# and 100/s from IPv6 clients throughout: knlbd is killed with SIGKILL,
# the kernel keeps forwarding for a second with nobody watching, then
# knlbd starts again with the same file.  It adopts the running table
# (both families' slot maps read back): the table lists the same before
# and after, no connection of either family fails from the crash on, none
# reaches be3, and no backend flaps.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

DUAL_STACK=1
t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "a restart needs knlbd (KNLB_LAB_RULES=$KNLB_LAB_RULES)"
lab_up --backends 3

RATE=100		# per family
DEAD=be3
ID6_SUFFIX=-6
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	vip = $LAB_VIP6
	port = 80
	proto = tcp
	scheduler = maglev
	hash_key = src-ip-port
	table_size = 16381
	snat = none
	check = tcp
	interval = 200ms
	timeout = 100ms
	rise = 2
	fall = 2
	EOF
	conf_backends4 "$LAB_BACKEND_TCP_PORT"
	conf_backends6 "$LAB_BACKEND_TCP_PORT"
} >"$WORK/kill9-dual.conf"
knlb_start "$WORK/kill9-dual.conf"

# ---- be3 dies while knlbd runs: out of both maps
mark=$(log_mark)
srv_stop "$DEAD" KILL
log_wait "$mark" "$DEAD\b.*\bDOWN\b" 5 2 || fail "knlbd did not log DOWN for $DEAD in both families within 5 s"
say "knlbd: $LOG_LINE"
sleep 0.3	# the slot delta is committed before the loop sleeps
knlb_table_snapshot >"$WORK/table-before.nft"
{ knlb_forwards_to "${BACKEND_ADDRS[2]}" || knlb_forwards_to "${BACKEND_ADDRS6[2]}"; } &&
	fail "$DEAD is still mapped after its DOWN"
knlb_forwards_to "${BACKEND_ADDRS6[0]}" || fail "${BACKEND_NAMES[0]} is not mapped over IPv6"

lg_bg_start load4 --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 20000 --timeout-ms 1000
lg_bg_start load6 --tcp --target "[$LAB_VIP6]:80" --rate "$RATE" --duration-ms 20000 --timeout-ms 1000
for l in load4 load6; do
	steady=$(tl_rel "$l" "$(now_ms)")
	tl_wait "$l" "$steady" '.*' "$RATE" 5 || fail "$l stalls"
	say "$l baseline: $(tl_results "$l" "$steady" inf)"
done

# ---- crash: nobody runs the control plane for a second
t_kill=$(now_ms)
knlb_kill9
sleep 1
knlb_table_present || fail "the table went with knlbd"

# ---- start again, same file
mark=$(log_mark)
t_start=$(now_ms)
knlb_start "$WORK/kill9-dual.conf"
say "knlbd restarted $(ms_diff "$t_kill" "$(now_ms)") ms after the kill"
log_wait "$mark" "service web: adopted from the running table" 5 ||
	fail "knlbd did not say what it adopted"
say "knlbd: $LOG_LINE"
case $LOG_LINE in
*"4 of 6 backends mapped; $DEAD, $DEAD-6 start down"*) ;;
*) fail "adopted the wrong backends: $LOG_LINE" ;;
esac
# The fallback maps of the serving backends go in right after the table.
knlb_wait_ctl || fail "knlbd's control socket does not answer 5 s after the start"
knlb_table_snapshot >"$WORK/table-after.nft"
if ! cmp -s "$WORK/table-before.nft" "$WORK/table-after.nft"; then
	diff "$WORK/table-before.nft" "$WORK/table-after.nft" | head -n 20 >&2 || true
	fail "the restarted knlbd programmed a different table"
fi

# Two seconds of probes and traffic after the start, then judge.
bad=0
for l in load4 load6; do
	start_rel=$(tl_rel "$l" "$t_start")
	tl_wait "$l" "$((${start_rel%.*} + 2000))" '.*' 1 10 || fail "$l stalls"
done
for l in load4 load6; do
	lg_bg_stop "$l"
	kill_rel=$(tl_rel "$l" "$t_kill")
	start_rel=$(tl_rel "$l" "$t_start")
	say "$l from the kill to the restart: $(tl_results "$l" "$kill_rel" "$start_rel")"
	say "$l after the restart:            $(tl_results "$l" "$start_rel" inf)"
	fails=$(tl_count "$l" "$kill_rel" inf 'fail:.*')
	measure "dual-stack kill -9 and restart, $l at $RATE conn/s: $(tl_count "$l" "$kill_rel" inf '.*') connections from the kill on, $fails failed, $(tl_count "$l" "$kill_rel" inf "$DEAD") to $DEAD"
	[ "$fails" -eq 0 ] || { say "$l: $fails connections failed across the crash and restart"; bad=1; }
	[ "$(tl_count "$l" "$kill_rel" inf "$DEAD")" -eq 0 ] || { say "$l: connections reached the dead $DEAD"; bad=1; }
	for b in be1 be2; do
		[ "$(tl_count "$l" "$start_rel" inf "$b")" -gt 0 ] || { say "$l: $b got nothing after the restart"; bad=1; }
	done
done
flaps=$(log_count "$mark" "\b(be1|be2)(-6)?\b.*\bDOWN\b|\b$DEAD(-6)?\b.*\bUP\b")
[ "$flaps" -eq 0 ] || fail "$flaps health transitions after the restart"
[ "$bad" -eq 0 ] || fail "the dual-stack service did not survive kill -9 and restart cleanly"
pass "dual-stack table adopted: $DEAD kept out of both families, no flap, 0 failed connections across kill -9 and restart"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# restart_kill9.sh — knlbd crashes (SIGKILL) under load and starts again
# (docs/restart.md: adopt, don't guess).  check = tcp over 3 backends; be3's
# server is down, so knlbd has taken it out of the map.  New connections
# at 200/s throughout: knlbd is killed with SIGKILL, the kernel keeps
# forwarding for a second with nobody watching, then knlbd starts again
# with the same file.  It adopts the running table: be3 starts down (no
# connection reaches it), be1 and be2 do not flap, the table lists the
# same before and after, and no connection fails from the crash on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

RATE=200
DEAD=be3
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
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
	conf_backends "$LAB_BACKEND_TCP_PORT"
} >"$WORK/kill9.conf"
knlb_start "$WORK/kill9.conf"

# ---- be3 dies while knlbd runs: out of the map
mark=$(log_mark)
srv_stop "$DEAD" KILL
log_wait "$mark" "$DEAD\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for $DEAD within 5 s"
say "knlbd: $LOG_LINE"
sleep 0.3	# the slot delta is committed before the loop sleeps
knlb_table_snapshot >"$WORK/table-before.nft"
knlb_forwards_to "${BACKEND_ADDRS[2]}" &&
	fail "$DEAD is still mapped after its DOWN"
knlb_forwards_to "${BACKEND_ADDRS[0]}" || fail "${BACKEND_NAMES[0]} is not mapped"

lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 20000 --timeout-ms 1000
steady=$(tl_rel load "$(now_ms)")
tl_wait load "$steady" '.*' "$RATE" 5 || fail "the loadgen stalls"
say "baseline: $(tl_results load "$steady" inf)"

# ---- crash: nobody runs the control plane for a second
t_kill=$(now_ms)
kill_rel=$(tl_rel load "$t_kill")
knlb_kill9
sleep 1
knlb_table_present || fail "the table went with knlbd"

# ---- start again, same file
mark=$(log_mark)
t_start=$(now_ms)
knlb_start "$WORK/kill9.conf"
start_rel=$(tl_rel load "$t_start")
say "knlbd restarted $(ms_diff "$t_kill" "$(now_ms)") ms after the kill"
log_wait "$mark" "service web: adopted from the running table" 5 ||
	fail "knlbd did not say what it adopted"
say "knlbd: $LOG_LINE"
case $LOG_LINE in
*"2 of 3 backends mapped; $DEAD starts down until its probes pass"*) ;;
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
tl_wait load "$((${start_rel%.*} + 2000))" '.*' 1 10 || fail "the loadgen stalls"
lg_bg_stop load
say "from the kill to the restart: $(tl_results load "$kill_rel" "$start_rel")"
say "after the restart:            $(tl_results load "$start_rel" inf)"
fails=$(tl_count load "$kill_rel" inf 'fail:.*')
measure "kill -9 and restart under $RATE conn/s: $(tl_count load "$kill_rel" inf '.*') connections from the kill on, $fails failed, $(tl_count load "$kill_rel" inf "$DEAD") to $DEAD"
[ "$fails" -eq 0 ] || fail "$fails connections failed across the crash and restart"
[ "$(tl_count load "$kill_rel" inf "$DEAD")" -eq 0 ] || fail "connections reached the dead $DEAD"
for b in be1 be2; do
	[ "$(tl_count load "$start_rel" inf "$b")" -gt 0 ] || fail "$b got nothing after the restart"
done
flaps=$(log_count "$mark" "\b(be1|be2)\b.*\bDOWN\b|\b$DEAD\b.*\bUP\b")
[ "$flaps" -eq 0 ] || fail "$flaps health transitions after the restart"
pass "table adopted: $DEAD kept out, no flap, 0 failed connections across kill -9 and restart"

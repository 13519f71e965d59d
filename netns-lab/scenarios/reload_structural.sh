#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# reload_structural.sh — a reload that adds or removes a service replaces
# the table in one transaction, without a gap for the services it keeps.
# New TCP connections at 200/s to service web (maglev, port 80) throughout.
# Reload adding service web81 (wrr, port 81): the reply says "table
# replaced", 100 connections to port 81 made right after the reply all
# answer.  Reload removing it again: the table lists exactly as before the
# add, and port 81 is no VIP any more: the gateway has no route for it, so
# a connection gets "network unreachable" (ICMP, rate-limited) or times out
# — none is answered.  web: 0 failed over the whole run.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RATE=200

t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "reload needs knlbd (KNLB_LAB_RULES=$KNLB_LAB_RULES)"
lab_up --backends 3
KNLBCTL=$KNLB_BUILD/knlbctl
[ -x "$KNLBCTL" ] || t_skip "$KNLBCTL not built"
CONF=$WORK/structural.conf
ctl() { "$KNLBCTL" -s "$WORK/knlb.sock" "$@"; }

# conf_write WITH_WEB81: service web, plus web81 when 1.
conf_write() {
	{
		conf_global
		cat <<-EOF
		[service web]
		vip = $LAB_VIP
		port = 80
		proto = tcp
		scheduler = maglev
		table_size = 16381
		snat = none
		EOF
		conf_backends "$LAB_BACKEND_TCP_PORT"
		if [ "$1" = 1 ]; then
			cat <<-EOF

			[service web81]
			vip = $LAB_VIP
			port = 81
			proto = tcp
			scheduler = wrr
			table_size = 1021
			snat = none
			EOF
			conf_backends "$LAB_BACKEND_TCP_PORT"
		fi
	} >"$CONF.new"
	mv "$CONF.new" "$CONF"
}

# reload WHAT: knlbctl reload must say OK and "table replaced".
reload() {
	local rc=0
	ctl reload >"$WORK/$1.reply" 2>&1 || rc=$?
	say "$1: $(tr '\n' ' ' <"$WORK/$1.reply")"
	[ "$rc" -eq 0 ] || fail "$1: knlbctl reload exited $rc"
	grep -q "kernel: 1 transaction, table replaced" "$WORK/$1.reply" ||
		fail "$1: the reply does not say 'kernel: 1 transaction, table replaced'"
}

conf_write 0
knlb_start "$CONF"
knlb_table_snapshot >"$WORK/table-one.nft"
lg_bg_start load --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 30000
sleep 0.5

conf_write 1
reload "add web81"
# Straight after the reply: the new service answers.
lg new81 --tcp --target "$LAB_VIP:81" --count 100 --concurrency 16 --timeout-ms 1000
say "web81 right after the reply: ok $(lg_get new81 ok), failed $(lg_get new81 failed)"
[ "$(lg_get new81 ok)" -eq 100 ] || fail "web81: $(lg_get new81 failed) of 100 connections failed right after the reload"
for b in "${BACKEND_NAMES[@]}"; do
	[ "$(lg_backend new81 "$b")" -gt 0 ] || fail "web81: $b got no connection"
done
sleep 0.5

conf_write 0
reload "remove web81"
knlb_table_snapshot >"$WORK/table-removed.nft"
if ! cmp -s "$WORK/table-one.nft" "$WORK/table-removed.nft"; then
	diff "$WORK/table-one.nft" "$WORK/table-removed.nft" | head -n 20 >&2 || true
	fail "after removing web81 the table differs from the one before it was added"
fi
lg gone81 --tcp --target "$LAB_VIP:81" --count 20 --concurrency 20 --timeout-ms 500
say "port 81 after the removal: ok $(lg_get gone81 ok), failed $(lg_get gone81 failed) ($(awk '$1 == "fail" { printf "%s %s  ", $2, $3 }' "$WORK/gone81.out"))"
[ "$(lg_get gone81 ok)" -eq 0 ] || fail "port 81 still answered $(lg_get gone81 ok) connections after web81 was removed"
[ "$(lg_get gone81 failed)" -eq 20 ] || fail "port 81: expected 20 failed connections"
sleep 0.5

lg_bg_stop load
say "web: $(lg_get load total) connections, $(lg_get load failed) failed"
measure "web: $(lg_get load total) connections at $RATE/s across adding and removing a service, $(lg_get load failed) failed"
[ "$(lg_get load total)" -gt 0 ] || fail "web: no connection made"
[ "$(lg_get load failed)" -eq 0 ] || fail "web: $(lg_get load failed) connections failed across table replacements"
for l in "add web81" "remove web81"; do
	measure "$l: $(grep -o '[0-9.]* ms in all' "$WORK/$l.reply") (table replaced, $(grep -o '[0-9]* elements' "$WORK/$l.reply"))"
done
pass "service added and removed by reload under load: 0 failed on web"

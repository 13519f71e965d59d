#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# reload_under_load.sh — hitless reload.  New TCP connections at 2 x 150/s
# through a maglev service (port 80) and a wrr one (port 81), both with
# check = tcp every 200 ms.  50 `knlbctl reload`s, cycling: weights
# changed; be4 added; be4 removed.  Asserted: 0 failed connections over the
# whole run; every reply OK; 50 "reloaded" lines, each followed by
# "kernel: 1 transaction, slot deltas" (same services and rules); be4 got
# connections (the adds reached the data plane); no UP/DOWN line for
# be1..be3 and their probe counters were not reset (health kept, no
# re-probing).  Then the same file made invalid: `knlbctl reload` exits 1
# with FILE:LINE: on stderr, the table lists identically, `knlbctl --json
# status` is the same but for counters that move by themselves (and
# reload_failures + 1).  Then a valid file again by SIGHUP: applied.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RELOADS=50
RATE=150		# per service: 300 new connections/s in all
INTERVAL_MS=200

t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "reload needs knlbd (KNLB_LAB_RULES=$KNLB_LAB_RULES)"
command -v jq >/dev/null || t_skip "jq not installed (make deps)"
lab_up --backends 4
KNLBCTL=$KNLB_BUILD/knlbctl
[ -x "$KNLBCTL" ] || t_skip "$KNLBCTL not built"
CONF=$WORK/reload.conf
ctl() { "$KNLBCTL" -s "$WORK/knlb.sock" "$@"; }

# conf_write W1 W2 W3 WITH_BE4 [EXTRA_LINE]: both services over be1..be3
# with those weights, plus be4 when WITH_BE4 is 1.  EXTRA_LINE goes under
# [service web] (to break the file).  Written beside and renamed, so a
# reload never reads half a file.
conf_write() {
	local w=("$1" "$2" "$3") with4=$4 extra=${5:-} svc name port sched i
	{
		conf_global
		for svc in web:80:maglev web81:81:wrr; do
			IFS=: read -r name port sched <<<"$svc"
			cat <<-EOF
			[service $name]
			vip = $LAB_VIP
			port = $port
			proto = tcp
			scheduler = $sched
			table_size = 16381
			snat = none
			check = tcp
			interval = ${INTERVAL_MS}ms
			timeout = 100ms
			rise = 2
			fall = 2
			EOF
			for i in 0 1 2; do
				echo "backend = ${BACKEND_ADDRS[i]}:$LAB_BACKEND_TCP_PORT weight=${w[i]} id=${BACKEND_NAMES[i]}"
			done
			[ "$with4" = 1 ] &&
				echo "backend = ${BACKEND_ADDRS[3]}:$LAB_BACKEND_TCP_PORT weight=1 id=${BACKEND_NAMES[3]}"
			[ "$name" = web ] && [ -n "$extra" ] && echo "$extra"
			echo
		done
	} >"$CONF.new"
	mv "$CONF.new" "$CONF"
}

# The status a user sees, without what moves by itself under load
# (flow counts, probe counts and latencies, conntrack event counts and the
# conntrack table's fill).
status_stable() {
	local rc=0
	ctl --json status >"$WORK/$1.json" 2>"$WORK/$1.json.err" || rc=$?
	# 4: done, with a warning (a backend down)
	[ "$rc" -eq 0 ] || [ "$rc" -eq 4 ] || fail "knlbctl --json status exited $rc: $(cat "$WORK/$1.json.err")"
	jq -S 'del(.conntrack, .conntrack_table, .reload_failures)
		| .services[] |= (del(.active_flows, .flows_opened, .flows_closed)
		| .backends[] |= (del(.active_flows, .flows_opened, .flows_closed)
			| .check |= del(.probes, .last_latency_ms)))' \
		"$WORK/$1.json" >"$WORK/$1.stable" || fail "knlbctl --json status: not JSON"
}

# probes B: the health probe count of backend B of service web.
probes() {
	jq --arg b "$2" '.services[] | select(.name == "web") | .backends[]
		| select(.id == $b) | .check.probes' "$WORK/$1.json"
}

CUR_W=(1 1 1)
conf_write "${CUR_W[@]}" 0
knlb_start "$CONF"
# Every backend probed up before the load starts.
for ((i = 0; i < 50; i++)); do
	status_stable st0
	[ "$(jq '[.services[].backends[] | select(.health == "up")] | length' "$WORK/st0.json")" -eq 6 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || fail "not every backend is up 5 s after start"

lg_bg_start load80 --tcp --target "$LAB_VIP:80" --rate "$RATE" --duration-ms 35000
lg_bg_start load81 --tcp --target "$LAB_VIP:81" --rate "$RATE" --duration-ms 35000
sleep 1		# some probes first: a reset probe count must show
mark=$(log_mark)
status_stable st-before

for ((k = 0; k < RELOADS; k++)); do
	case $((k % 3)) in
	0)	# weights: 3 1 2 and 1 1 1 in turn
		if [ $((k / 3 % 2)) -eq 0 ]; then CUR_W=(3 1 2); else CUR_W=(1 1 1); fi
		conf_write "${CUR_W[@]}" 0 ;;
	1) conf_write "${CUR_W[@]}" 1 ;;	# be4 added
	2) conf_write "${CUR_W[@]}" 0 ;;	# be4 removed
	esac
	reload_ok "reload-$k" "$CONF"
	sleep 0.1
done
status_stable st-after

n_reloaded=$(log_count "$mark" "knlbd: info: reloaded $CONF:")
n_kernel=$(log_count "$mark" "kernel: (1 transaction, slot deltas, [0-9]+ elements|nothing to change)")
n_replaced=$(log_count "$mark" "table replaced")
say "$RELOADS reloads: $n_reloaded 'reloaded' lines, $n_kernel 'kernel: 1 transaction, slot deltas' lines, $n_replaced table replacements"
[ "$n_reloaded" -eq "$RELOADS" ] || fail "$n_reloaded 'reloaded' lines for $RELOADS reloads"
[ "$n_kernel" -eq "$RELOADS" ] || fail "$n_kernel of $RELOADS reloads logged one slot-delta transaction"
[ "$n_replaced" -eq 0 ] || fail "a reload with the same services and rules replaced the table"
tail -n "+$((mark + 1))" "$KNLBD_LOG" | awk '/kernel: 1 transaction/ {
	for (i = 1; i <= NF; i++) if ($i == "in" && $(i + 1) == "all") print $(i - 2) }' | sort -n >"$WORK/all-ms"
measure "reload (ms in all, daemon's figure, 2 services x M=16381, under load) median $(awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }' "$WORK/all-ms") max $(tail -n1 "$WORK/all-ms")"

flaps=$(log_count "$mark" "/(${BACKEND_NAMES[0]}|${BACKEND_NAMES[1]}|${BACKEND_NAMES[2]}) (UP|DOWN):")
[ "$flaps" -eq 0 ] || fail "health transitions logged for unchanged backends during the reloads: $flaps"
for b in "${BACKEND_NAMES[@]:0:3}"; do
	before=$(probes st-before "$b") after=$(probes st-after "$b")
	say "$b: $before probes before the reloads, $after after"
	[ "$after" -gt "$before" ] || fail "$b: probe count went from $before to $after: health state was not kept"
done
jq -e '[.services[].backends[] | select(.check.transitions != 0)] | length == 0' "$WORK/st-after.json" >/dev/null ||
	fail "a kept backend counts health transitions after the reloads"

# --- A broken file: nothing changes.
knlb_table_snapshot >"$WORK/table-before.nft"
status_stable st-good
conf_write "${CUR_W[@]}" 0 "backend = 10.0.0.99:$LAB_BACKEND_TCP_PORT weight=heavy id=bad"
bad_line=$(grep -n 'weight=heavy' "$CONF" | cut -d: -f1)
bmark=$(log_mark)
rc=0
ctl reload >"$WORK/broken.out" 2>"$WORK/broken.err" || rc=$?
say "broken file: knlbctl reload exited $rc: $(head -n1 "$WORK/broken.err")"
[ "$rc" -eq 1 ] || fail "knlbctl reload of a broken file exited $rc, expected 1"
grep -q "^$CONF:$bad_line: " "$WORK/broken.err" || fail "knlbctl reload did not print $CONF:$bad_line: on stderr"
grep -q "configuration not valid, nothing changed" "$WORK/broken.err" || fail "no 'nothing changed' in the reply"
log_wait "$bmark" "knlbd: error: $CONF:$bad_line: " 2 >/dev/null || fail "the broken file's error is not in the log"
[ "$(log_count "$bmark" "knlbd: info: reloaded")" -eq 0 ] || fail "the broken file was applied"
sleep 0.5	# traffic and probes go on meanwhile
knlb_table_snapshot >"$WORK/table-after.nft"
if ! cmp -s "$WORK/table-before.nft" "$WORK/table-after.nft"; then
	diff "$WORK/table-before.nft" "$WORK/table-after.nft" | head -n 20 >&2 || true
	fail "a broken file changed table inet knlb"
fi
status_stable st-broken
if ! cmp -s "$WORK/st-good.stable" "$WORK/st-broken.stable"; then
	diff "$WORK/st-good.stable" "$WORK/st-broken.stable" | head -n 20 >&2 || true
	fail "knlbctl status changed after a broken file"
fi
fails_before=$(jq .reload_failures "$WORK/st-good.json") fails_after=$(jq .reload_failures "$WORK/st-broken.json")
[ "$fails_after" -eq $((fails_before + 1)) ] || fail "reload_failures went from $fails_before to $fails_after"

# --- A valid file again, by SIGHUP.
conf_write 2 2 1 0
hmark=$(log_mark)
kill -HUP "$KNLBD_PID"
log_wait "$hmark" "kernel: 1 transaction, slot deltas" 5 || fail "SIGHUP: no 'kernel: 1 transaction' line within 5 s"
say "SIGHUP: $LOG_LINE"
status_stable st-hup
[ "$(jq '.services[] | select(.name == "web") | .backends[0].weight' "$WORK/st-hup.json")" -eq 2 ] ||
	fail "SIGHUP: be1's weight is not 2 after the reload"
sleep 0.3

lg_bg_stop load80
lg_bg_stop load81
for l in load80 load81; do
	say "$l: total $(lg_get $l total), ok $(lg_get $l ok), failed $(lg_get $l failed); $(awk '$1 == "backend" { printf "%s %s  ", $2, $3 }' "$WORK/$l.out")"
	measure "$l: $(lg_get $l total) connections through $RELOADS reloads + a broken one + SIGHUP, $(lg_get $l failed) failed"
	[ "$(lg_get $l total)" -gt 1000 ] || fail "$l: only $(lg_get $l total) connections"
	[ "$(lg_get $l failed)" -eq 0 ] || fail "$l: $(lg_get $l failed) connections failed across reloads"
	[ "$(lg_backend $l "${BACKEND_NAMES[3]}")" -gt 0 ] || fail "$l: ${BACKEND_NAMES[3]} never got a connection: the adds did not reach the data plane"
done
pass "$RELOADS reloads + broken file + SIGHUP under load, 0 failed"

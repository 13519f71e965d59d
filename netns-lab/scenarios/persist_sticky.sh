#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# persist_sticky.sh — persistence = 10m under scheduler = wrr (which picks
# per flow: without persistence nearly every address is split over the
# backends, so this test can fail).  32 client addresses open 8
# connections each: every address stays on one backend.  Then a weight
# change (knlbctl weight) and a reload adding be3: every address still
# reaches the backend it had.  Then be2's server is killed: knlbd logs it
# DOWN and purges its persistence entries in the same transaction; the
# next round has 0 failed connections, no address reaches be2, and the
# addresses of be1 keep be1.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
CLIENTS=32
PER_CLIENT=8
lab_up --backends 3 --clients "$CLIENTS"

service() {
	conf_global
	cat <<-EOF
	[service web]
	vip = $VIP
	port = 80
	proto = tcp
	scheduler = wrr
	table_size = 101
	persistence = 10m
	snat = none
	check = tcp
	interval = 200ms
	timeout = 100ms
	fall = 2
	EOF
}
{ service; conf_backends "$LAB_BACKEND_TCP_PORT" | head -n 2; } >"$WORK/persist.conf"
knlb_start "$WORK/persist.conf"

# round NAME: CLIENTS x PER_CLIENT connections; "ADDR BACKEND" per address
# in $WORK/NAME.map; fails on a failed connection or a split address.
round() {
	local conns=$((CLIENTS * PER_CLIENT)) failed split
	lg "$1" --tcp --target "$VIP_HOST:80" --count "$conns" --concurrency 16 \
		--source-range "$SRC_RANGE"
	failed=$(lg_get "$1" failed)
	split=$(lg_get "$1" sources_split)
	say "$1: $conns connections from $CLIENTS addresses: ok $(lg_get "$1" ok), failed $failed, addresses split: $split"
	[ "$failed" -eq 0 ] || fail "$1: $failed connections failed"
	[ "$split" -eq 0 ] || fail "$1: $split addresses reached more than one backend"
	awk '$1 == "source" { print $2, $3 }' "$WORK/$1.out" | sort >"$WORK/$1.map"
}
# moved A B: addresses whose backend differs between rounds A and B.
moved() {
	join "$WORK/$1.map" "$WORK/$2.map" | awk '$2 != $3' | wc -l
}

round first
used=$(awk '{ print $2 }' "$WORK/first.map" | sort -u | wc -l)
[ "$used" -eq 2 ] || fail "first round used $used backends, expected be1 and be2"

"$KNLB_BUILD/knlbctl" -s "$WORK/knlb.sock" weight web be1 5 >/dev/null
round weighted
n=$(moved first weighted)
measure "weight change be1 1 -> 5: $n of $CLIENTS addresses changed backend"
[ "$n" -eq 0 ] || fail "$n addresses moved after a weight change"

{ service; conf_backends "$LAB_BACKEND_TCP_PORT"; } >"$WORK/persist.conf"
reload_ok added "$WORK/persist.conf"
round added
n=$(moved first added)
measure "reload adding be3: $n of $CLIENTS addresses changed backend"
[ "$n" -eq 0 ] || fail "$n addresses moved after be3 was added"

on_be2=$(awk '$2 == "be2"' "$WORK/first.map" | wc -l)
mark=$(log_mark)
t_kill=$(now_ms)
srv_stop be2 KILL
log_wait "$mark" "be2\b.*\bDOWN\b" 5 || fail "knlbd logged no DOWN for be2 within 5 s"
log_wait "$mark" "persistence entries purged" 2 ||
	fail "knlbd purged no persistence entry with be2's slot change"
say "knlbd: $LOG_LINE"
measure "be2 killed -> DOWN and its entries purged: $(ms_diff "$t_kill" "$LOG_SEEN_MS") ms"
round after_death
[ "$(awk '$2 == "be2"' "$WORK/after_death.map" | wc -l)" -eq 0 ] || fail "an address still reached the dead be2"
kept=$(join "$WORK/first.map" "$WORK/after_death.map" | awk '$2 == "be1" && $3 != "be1"' | wc -l)
[ "$kept" -eq 0 ] || fail "$kept addresses of be1 moved when be2 died"
measure "after be2's death: 0 failed connections, its $on_be2 addresses rebalanced, be1's kept"
pass "persistence held across a weight change and a backend addition; purged with its dead backend, 0 failures after"

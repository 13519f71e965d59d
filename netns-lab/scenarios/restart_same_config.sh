#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# restart_same_config.sh — restarting knlbd with the same configuration
# moves no flow (docs/architecture.md, kernel contract: deterministic Maglev from backend identity
# and seed).  Two maglev services: port 80 hashes src-ip, port 81
# src-ip-port.  Before the restart, 256 connections per service from 32
# client addresses at fixed source ports record which backend each
# (address, port) reaches, and 32 connections are held open.  After
# SIGTERM + start with the same file: the table lists identically, the held
# connections still answer from their backend, and the same (address, port)
# choices reach the same backends: 0 moved.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
CLIENTS=32
PER_CLIENT=8
lab_up --backends 3 --clients "$CLIENTS"

{
	conf_global
	for svc in web:80:src-ip webport:81:src-ip-port; do
		IFS=: read -r name port key <<<"$svc"
		cat <<-EOF
		[service $name]
		vip = $LAB_VIP
		port = $port
		proto = tcp
		scheduler = maglev
		hash_key = $key
		table_size = 16381
		snat = none
		EOF
		conf_backends "$LAB_BACKEND_TCP_PORT"
		echo
	done
} >"$WORK/restart.conf"
knlb_start "$WORK/restart.conf"

conns=$((CLIENTS * PER_CLIENT))
# run NAME PORT SPORT_BASE: connection i from address i % 32, port base + i / 32.
run() {
	lg "$1" --tcp --target "$LAB_VIP:$2" --count "$conns" --concurrency 64 \
		--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base "$3" --per-conn
	[ "$(lg_get "$1" failed)" -eq 0 ] || fail "$1: $(lg_get "$1" failed) connections failed"
	awk '$1 == "conn" { print $2, $3 }' "$WORK/$1.out" | sort >"$WORK/$1.map"
	[ "$(wc -l <"$WORK/$1.map")" -eq "$conns" ] || fail "$1: expected $conns conn lines"
}

run before80 80 20000
run before81 81 21000
for b in "${BACKEND_NAMES[@]}"; do
	[ "$(lg_backend before80 "$b")" -gt 0 ] || fail "port 80: $b got no connection"
	[ "$(lg_backend before81 "$b")" -gt 0 ] || fail "port 81: $b got no connection"
done
lg_hold_start held --tcp --target "$LAB_VIP:81" --count "$CLIENTS" \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
knlb_table_snapshot >"$WORK/table-before.nft"

knlb_stop
knlb_start "$WORK/restart.conf"
say "knlbd restarted (first run exited with status $KNLBD_RC)"
knlb_table_snapshot >"$WORK/table-after.nft"
if ! cmp -s "$WORK/table-before.nft" "$WORK/table-after.nft"; then
	diff "$WORK/table-before.nft" "$WORK/table-after.nft" | head -n 20 >&2 || true
	fail "the restarted knlbd programmed a different table from the same config"
fi

lg_hold_release held
say "held connections: ok $(lg_get held held_ok), failed $(lg_get held held_failed), moved $(lg_get held held_moved) of $CLIENTS"
[ "$(lg_get held held_ok)" -eq "$CLIENTS" ] || fail "held connections broke across the restart"
[ "$(lg_get held held_moved)" -eq 0 ] || fail "held connections moved"

# The same (address, port) choices again; the old flows are closed, so
# conntrack runs each new SYN through the restarted knlbd's rules.
run after80 80 20000
run after81 81 21000
bad=0
for port in 80 81; do
	moved=$(join "$WORK/before$port.map" "$WORK/after$port.map" | awk '$2 != $3' | wc -l)
	paired=$(join "$WORK/before$port.map" "$WORK/after$port.map" | wc -l)
	say "port $port: $paired (address, port) pairs compared, $moved moved"
	[ "$paired" -eq "$conns" ] || { say "port $port: only $paired pairs matched"; bad=1; }
	if [ "$moved" -ne 0 ]; then
		join "$WORK/before$port.map" "$WORK/after$port.map" | awk '$2 != $3' | head >&2 || true
		bad=1
	fi
done
[ "$bad" -eq 0 ] || fail "flows moved across a restart with the same config"
pass "0 moved, held connections intact"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-failover.sh — what `make bench-failover` runs: a backend goes down,
# how long from knlbd's decision to the kernel's ack of the one transaction
# that takes it out of the slot map, for M = 16381 and 65537 slots and
# N = 4, 10, 100 and 1000 backends (measurement only).
#
# As the bench's "a backend goes down" row (bench/control.sh): knlbd with
# check = tcp, fall 1 / rise 1, and its own log line per transition
# ("service s: X of M slots moved, E elements in 1 transaction, A ms to the
# kernel's ack, D ms after the decision").  Here everything is in one
# throwaway namespace: the backends are addresses of 10.1.0.0/16 made local
# (AnyIP) and answered by one knlb-testsrv; a backend goes down when an nft
# rule resets connections to it, and comes back when the rule goes.  Each
# size: $ROUNDS downs and ups, backends taken in turn; medians and maxima.
#
# Usage: bench-failover.sh [--rounds N] [--sizes "M..."] [--counts "N..."] [--out DIR]
# Exit 77 when not root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
KNLB_BUILD=${KNLB_BUILD:-$ROOT/build}
KNLBD=${KNLBD:-$KNLB_BUILD/knlbd}
TESTSRV=$KNLB_BUILD/lab/knlb-testsrv

ROUNDS=7 SIZES="16381 65537" COUNTS="4 10 100 1000" OUT=""
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--sizes) SIZES=${2:?}; shift 2 ;;
	--counts) COUNTS=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	*) sed -n '18p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "bench-failover: SKIP: needs root (network namespaces)" >&2; exit 77; }
[ -x "$KNLBD" ] && [ -x "$TESTSRV" ] || { echo "bench-failover: $KNLBD or $TESTSRV not built (make all)" >&2; exit 1; }

[ -n "$OUT" ] || OUT=$ROOT/bench-results/failover-$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
NS=knlb-bf-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
SRV_PID= KNLBD_PID=

log() { echo "[bench-failover $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }
in_ns() { ip netns exec "$NS" "$@"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

stop_pid() {
	local pid=$1 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 250; i++)); do alive "$pid" || break; sleep 0.02; done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT
	stop_pid "$KNLBD_PID"
	stop_pid "$SRV_PID"
	[ -e "/run/netns/$NS" ] && ip netns del "$NS" 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS"
in_ns ip link set lo up
in_ns ip route add local 10.1.0.0/16 dev lo
in_ns sysctl -qw net.ipv4.tcp_max_syn_backlog=65536
# ip netns exec execs the program: $! is its pid (a function would fork).
ip netns exec "$NS" "$TESTSRV" --name be --tcp 0.0.0.0:8080 --pid-file "$OUT/srv.pid" >"$OUT/srv.log" 2>&1 &
SRV_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$OUT/srv.pid" ] && break; sleep 0.05; done
[ -s "$OUT/srv.pid" ] || die "knlb-testsrv did not start ($OUT/srv.log)"
# The switch that takes a backend down: a reset for its connections.
in_ns nft -f - <<-'NFT'
table inet bench_block {
	chain out {
		type filter hook output priority 0; policy accept;
	}
}
NFT

addr() { echo "10.1.$(($1 / 250)).$(($1 % 250 + 1))"; }

conf() {
	local m=$1 n=$2 b
	cat <<-CONF
	[global]
	control_socket = $OUT/knlb.sock
	[service s]
	vip = 192.0.2.10
	port = 80
	scheduler = maglev
	table_size = $m
	check = tcp
	interval = 300ms
	timeout = 200ms
	rise = 1
	fall = 1
	CONF
	for ((b = 0; b < n; b++)); do echo "backend = $(addr "$b"):8080"; done
}

# The number of transition lines in the log so far.
moves() { grep -c "service s: .* slots moved" "$1" || true; }

# wait_moves LOG COUNT: until the log has COUNT transition lines (10 s).
wait_moves() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(moves "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else print "-" }'; }
maximum() { sort -n | tail -1; }

printf 'm\tn\tround\tdirection\tdecision_to_ack_ms\tack_ms\telements\n' >"$OUT/failover.tsv"
log "results in $OUT; namespace $NS; $ROUNDS rounds per size"
for m in $SIZES; do
	for n in $COUNTS; do
		c=$OUT/knlb-$m-$n.conf l=$OUT/knlbd-$m-$n.log
		conf "$m" "$n" >"$c"
		ip netns exec "$NS" "$KNLBD" -c "$c" --flush-on-exit </dev/null >"$l" 2>&1 &
		KNLBD_PID=$!
		for ((i = 0; i < 300; i++)); do
			grep -q "programmed table" "$l" && break
			alive "$KNLBD_PID" || break
			sleep 0.1
		done
		grep -q "programmed table" "$l" || die "knlbd did not program M=$m N=$n ($l)"
		sleep 1		# the first probes (spread over one interval) pass
		seen=$(moves "$l")
		for ((r = 0; r < ROUNDS; r++)); do
			a=$(addr $((r % n)))
			in_ns nft add rule inet bench_block out ip daddr "$a" tcp dport 8080 reject with tcp reset
			wait_moves "$l" $((seen + 1)) || die "no down transition for $a (M=$m N=$n, $l)"
			in_ns nft flush chain inet bench_block out
			wait_moves "$l" $((seen + 2)) || die "no up transition for $a (M=$m N=$n, $l)"
			seen=$((seen + 2))
		done
		stop_pid "$KNLBD_PID"
		KNLBD_PID=
		# Odd lines went down, even lines came up.
		grep "service s: .* slots moved" "$l" | awk -v m="$m" -v n="$n" '{
			match($0, /moved, [0-9]+ elements/); e = substr($0, RSTART + 7, RLENGTH - 16)
			match($0, /, [0-9.]+ ms to the kernel/); a = substr($0, RSTART + 2, RLENGTH - 20)
			match($0, /, [0-9.]+ ms after the decision/); d = substr($0, RSTART + 2, RLENGTH - 24)
			printf "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", m, n, int((NR - 1) / 2), (NR % 2) ? "down" : "up", d, a, e
		}' >>"$OUT/failover.tsv"
		dn=$(awk -F'\t' -v m="$m" -v n="$n" '$1 == m && $2 == n && $4 == "down" { print $5 }' "$OUT/failover.tsv")
		log "  M=$m N=$n: down, decision -> ack median $(echo "$dn" | median) ms (max $(echo "$dn" | maximum))"
	done
done

{
	echo "### A backend goes down: knlbd's decision -> the kernel's ack"
	echo
	echo "One namespace, knlbd with check = tcp (300 ms, fall 1, rise 1), maglev, one service; a"
	echo "backend's connections reset by an nft rule, then let through again; $ROUNDS rounds each,"
	echo "backends taken in turn. From knlbd's log: ms from the decision to the kernel's ack of the"
	echo "one transaction (median, max), the transaction alone, and the elements it carried."
	echo
	echo "| M | N | down: decision -> ack ms (median) | max | transaction ms (median) | elements (median) | up: decision -> ack ms (median) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for m in $SIZES; do
		for n in $COUNTS; do
			col() { awk -F'\t' -v m="$m" -v n="$n" -v d="$1" -v c="$2" '$1 == m && $2 == n && $4 == d { print $c }' "$OUT/failover.tsv"; }
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$m" "$n" \
				"$(col down 5 | median)" "$(col down 5 | maximum)" "$(col down 6 | median)" \
				"$(col down 7 | median)" "$(col up 5 | median)"
		done
	done
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)."
} >"$OUT/results.md"
cat "$OUT/results.md"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-reload.sh — how long a reload takes, SIGHUP to the kernel's ack.
#
# In a network namespace of its own (random name, removed on exit), knlbd
# runs one maglev service with check = none over backends in 10.200.0.0/16
# that nobody uses (no packet is sent to them), for two sizes: 10 backends
# with M = 16381 and 1000 backends with M = 65537.  For each, N reloads
# (default 30) by SIGHUP of each kind, always from the base file and back:
#   weight   one backend's weight 1 <-> 2              (slot deltas)
#   backend  one backend added, then removed again     (slot deltas)
#   replace  hash_key src-ip <-> src-ip-port: the peer,  (whole table in
#            what a delta saves                          one transaction)
# Per reload, three figures: from outside, the wall time from just before
# `kill -HUP` to the moment the `kernel:` log line is read (tail -F, inotify:
# includes signal delivery, the loop waking up, the log write); knlbd's own
# "ms in all" (reload request to ack, parsing included) and "ms to the
# kernel's ack" (the transaction alone).  Printed as a Markdown table of
# median and max, with the element counts, and the ratio of the delta
# kinds' outside median to the replace median of the same run.
#
# Needs root.  Exit 77 when not root or knlbd is not built.
#   netns-lab/bench-reload.sh [-n N]          (make bench-reload)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KNLB_BUILD=${KNLB_BUILD:-$(dirname "$HERE")/build}
KNLBD=${KNLBD:-$KNLB_BUILD/knlbd}
N=30

while getopts "n:h" opt; do
	case $opt in
	n) N=$OPTARG ;;
	h) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -lt 2 ] || [ "$N" -gt 1000 ]; then
	echo "bench-reload: -n 2..1000" >&2
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench-reload: SKIP: needs root (network namespace)"; exit 77; }
[ -x "$KNLBD" ] || { echo "bench-reload: SKIP: $KNLBD not built (make)"; exit 77; }

WORK=$(mktemp -d /tmp/knlb-bench-reload.XXXXXX)
NS=knlb-br-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
KNLBD_PID=
TAIL_PID=

cleanup() {
	local rc=$?
	trap - EXIT
	set +e
	[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
	if [ -n "$KNLBD_PID" ]; then
		kill -TERM "$KNLBD_PID" 2>/dev/null
		wait "$KNLBD_PID" 2>/dev/null
	fi
	if [ "$rc" -ne 0 ] && [ -s "$WORK/knlbd.log" ]; then
		echo "---- knlbd log (last 30 lines)" >&2
		tail -n 30 "$WORK/knlbd.log" >&2
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
cp "$KNLBD" "$WORK/knlbd"
CONF=$WORK/bench.conf

# conf NBACK M VARIANT: the service's file; VARIANT base, weight (b1 has
# weight 2), backend (one backend more), replace (another hash_key).
conf() {
	local nback=$1 m=$2 variant=$3 i key=src-ip n=$1
	[ "$variant" = replace ] && key=src-ip-port
	[ "$variant" = backend ] && n=$((nback + 1))
	cat <<-EOF
	[global]
	table = knlb
	log_level = info
	hash_seed = 0x5eed
	control_socket = $WORK/knlb.sock

	[service bench]
	vip = 192.0.2.10
	port = 80
	proto = tcp
	scheduler = maglev
	hash_key = $key
	table_size = $m
	snat = none
	check = none
	EOF
	for ((i = 1; i <= n; i++)); do
		local w=1
		[ "$variant" = weight ] && [ "$i" -eq 1 ] && w=2
		echo "backend = 10.200.$((i / 250)).$((i % 250 + 1)):8080 weight=$w id=b$i"
	done
}

# put FILE: the config knlbd reads, replaced by a rename (never half written).
put() {
	cp "$1" "$CONF.new"
	mv "$CONF.new" "$CONF"
}

# next_kernel_line: the next "kernel:" line of the log, from tail -F.
next_kernel_line() {
	local line
	while IFS= read -r -t 30 line <&"${TAIL[0]}"; do
		case $line in
		*"kernel: "*) KLINE=$line; return 0 ;;
		*"error"*) echo "bench-reload: knlbd: $line" >&2; return 1 ;;
		esac
	done
	echo "bench-reload: no kernel: line within 30 s" >&2
	return 1
}

# one_reload FILE: put FILE, SIGHUP, wait for the kernel line; appends
# "outside_ms all_ms ack_ms elements" to $SAMPLES.
one_reload() {
	local t0 t1
	put "$1"
	t0=${EPOCHREALTIME/[.,]/}
	kill -HUP "$KNLBD_PID"
	next_kernel_line
	t1=${EPOCHREALTIME/[.,]/}
	awk -v us=$((t1 - t0)) '{
		all = ack = el = "-"
		for (i = 1; i <= NF; i++) {
			if ($i == "all") all = $(i - 3)
			if ($i == "ack,") ack = $(i - 5)
			if ($i == "elements,") el = $(i - 1)
		}
		if (all == "-") { print "no figures in: " $0 > "/dev/stderr"; exit 1 }
		printf "%.3f %s %s %s\n", us / 1000, all, ack, el }' <<<"$KLINE" >>"$SAMPLES"
}

# stats FILE COL: "median max" of column COL.
stats() {
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ a[NR] = $1 }
		END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		      printf "%.2f %.2f\n", m, a[NR] }'
}

printf '| backends | M | change | elements | SIGHUP -> ack seen, median / max (ms) | knlbd "ms in all", median / max | knlbd "to the ack", median / max | vs replace (outside median) |\n'
printf '|---:|---:|---|---:|---:|---:|---:|---:|\n'
notes=()
for size in 10:16381 1000:65537; do
	IFS=: read -r nback m <<<"$size"
	for v in base weight backend replace; do
		conf "$nback" "$m" "$v" >"$WORK/$v.conf"
	done
	put "$WORK/base.conf"
	"$WORK/knlbd" -t -c "$CONF" >/dev/null
	: >"$WORK/knlbd.log"
	coproc TAIL { exec tail -n +1 -F "$WORK/knlbd.log" 2>/dev/null; }
	ip netns exec "$NS" "$WORK/knlbd" -c "$CONF" </dev/null >>"$WORK/knlbd.log" 2>&1 &
	KNLBD_PID=$!
	while IFS= read -r -t 30 line <&"${TAIL[0]}"; do
		case $line in *programmed*) break ;; esac
	done
	case ${line:-} in *programmed*) ;; *) echo "bench-reload: knlbd did not program its table" >&2; exit 1 ;; esac
	prog_ms=$(awk '{ print $(NF - 1) }' <<<"$line")
	declare -A med=()
	for kind in replace weight backend; do
		SAMPLES=$WORK/$nback-$kind.samples
		: >"$SAMPLES"
		for ((k = 0; k < N; k++)); do
			# Each sample goes base -> variant; every other one back to
			# base is measured too (it is the same kind of change).
			if [ $((k % 2)) -eq 0 ]; then one_reload "$WORK/$kind.conf"; else one_reload "$WORK/base.conf"; fi
		done
		read -r o_med o_max <<<"$(stats "$SAMPLES" 1)"
		read -r a_med a_max <<<"$(stats "$SAMPLES" 2)"
		read -r k_med k_max <<<"$(stats "$SAMPLES" 3)"
		read -r e_med _ <<<"$(stats "$SAMPLES" 4)"
		med[$kind]=$o_med
		case $kind in
		weight) what="one weight 1 <-> 2" ;;
		backend) what="a backend added / removed" ;;
		replace) what="peer: whole table replaced" ;;
		esac
		ratio=$(awk -v a="$o_med" -v b="${med[replace]}" 'BEGIN { printf "%.2f", a / b }')
		printf '| %d | %d | %s | %.0f | %s / %s | %s / %s | %s / %s | %s |\n' "$nback" "$m" "$what" "$e_med" \
			"$o_med" "$o_max" "$a_med" "$a_max" "$k_med" "$k_max" "$ratio"
	done
	kill -TERM "$KNLBD_PID"
	wait "$KNLBD_PID" || { echo "bench-reload: knlbd exited $?" >&2; exit 1; }
	KNLBD_PID=
	kill "$TAIL_PID" 2>/dev/null || true
	wait "$TAIL_PID" 2>/dev/null || true
	TAIL_PID=
	ip netns exec "$NS" nft delete table inet knlb 2>/dev/null || true
	notes+=("$nback backends, M = $m: knlbd programmed the first table in $prog_ms ms")
done
echo
echo "N = $N reloads per row, by SIGHUP, alternating base file <-> changed file; ${notes[*]/%/;} $(nproc) CPUs, $(uptime | sed 's/.*load average: /load average /')."

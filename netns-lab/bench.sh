#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench.sh — what `make bench` runs: knlb against plain routing, HAProxy and
# nftlb on one netns lab, data plane and control plane, in one run.
#
#   bench.sh [--smoke] [--rounds N] [--secs S] [--out DIR] [--skip-control] [--skip-data]
#
# Data plane: for each workload (bench/workloads.sh) every contender
# (bench/contenders.sh) takes its turn on the same client, gateway and
# backends, in an order rotated each round (A B C, B C A, ...): the
# measurements of one workload lie within a minute of each other, so the
# load of a shared machine falls on all of them alike.  Each measurement
# starts its contender on an empty conntrack table, runs the workload
# unmeasured for a warm-up (BENCH_WARMUP seconds, default 2; the UDP
# workload: one unmeasured run of it, BENCH_UDP_COUNT requests per loadgen,
# default 30000: about 3 s), then measures, and stops it after:
# its process and rules are removed and checked gone.  The warm-up is the
# same for every contender; it measures each in its steady state (knlbd
# needs a second of new flows to see that they come faster than
# track_events_limit), not its first seconds.  DATA_PROFILE=perf: each
# measurement also under a system-wide `perf record` (no call graphs), to
# logs/r<round>.<contender>.<workload>.perf, to compare where the kernel's
# time goes under two contenders (bench/perf-share.sh DIR sums them).
# Control plane (bench/control.sh): programming time, down transition, flows
# moved, knlbd at rest.  The report (bench/report.sh) writes results.md and
# ratios.svg to the output directory (default bench-results/<UTC date-time>/)
# and prints results.md.
#
# --smoke: one short round, small loads, the smallest control-plane sizes;
# fails unless every contender served every workload it supports and the
# report and chart exist.  Exit 77 when not root or a tool is missing and
# cannot be had (make bench-deps installs them).
set -euo pipefail

BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(dirname "$BENCH_HERE")
KNLB_BUILD=${KNLB_BUILD:-$LAB_ROOT/build}
export KNLB_BUILD
KNLBD=${KNLBD:-$KNLB_BUILD/knlbd}
LOADGEN=$KNLB_BUILD/lab/knlb-loadgen

SMOKE=0 ROUNDS=5 WL_SECS=3 OUT="" DO_CONTROL=1 DO_DATA=1
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1; shift ;;
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--secs) WL_SECS=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--skip-control) DO_CONTROL=0; shift ;;
	--skip-data) DO_DATA=0; shift ;;
	*) sed -n '7p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	esac
done

# shellcheck source-path=SCRIPTDIR source=bench/lib.sh
. "$BENCH_HERE/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=bench/contenders.sh
. "$BENCH_HERE/bench/contenders.sh"
# shellcheck source-path=SCRIPTDIR source=bench/workloads.sh
. "$BENCH_HERE/bench/workloads.sh"
# shellcheck source-path=SCRIPTDIR source=bench/control.sh
. "$BENCH_HERE/bench/control.sh"

skip() {
	echo "bench: SKIP: $*" >&2
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for tool in ip nft conntrack curl haproxy nftlb wrk iperf3 gnuplot awk; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (make bench-deps)"
done
[ -x "$KNLBD" ] && [ -x "$LOADGEN" ] || skip "$KNLBD or $LOADGEN not built (make all)"

if [ "$SMOKE" = 1 ]; then
	ROUNDS=1 WL_SECS=1 WARMUP=0 WRK_PROCS=2 WRK_THREADS=4 WRK_CONNS=8 UDP_COUNT=1000 UDP_CONC=8 IPERF_STREAMS=1
	CP_SIZES="1x10" CP_TIMEOUT=20 REST_BACKENDS=200 REST_SECS=3 REST_ROUNDS=1 MOVED_CLIENTS=60
else
	WARMUP=${BENCH_WARMUP:-2}
	WRK_PROCS=2 WRK_THREADS=4 WRK_CONNS=16 UDP_COUNT=${BENCH_UDP_COUNT:-30000} UDP_CONC=16 IPERF_STREAMS=2
	CP_SIZES="1x10 1x100 1x1000 10x10 10x100 10x1000 100x10 100x100 100x1000"
	CP_TIMEOUT=60 REST_BACKENDS=${REST_BACKENDS:-10000} REST_SECS=${REST_SECS:-30} REST_ROUNDS=${REST_ROUNDS:-3} MOVED_CLIENTS=150
fi
REST_CHECKS=${REST_CHECKS:-tcp http}
# The control-plane parts to run (CP_STEPS="rest": only the at-rest row).
CP_STEPS=${CP_STEPS:-program down moved rest}
BACKENDS=4
if [ -z "$OUT" ]; then
	OUT=$LAB_ROOT/bench-results/$(date -u +%Y-%m-%dT%H%M%SZ)
	[ "$SMOKE" = 0 ] || OUT=$OUT-smoke
fi
mkdir -p "$OUT/raw" "$OUT/logs" "$OUT/work"
OUT=$(cd "$OUT" && pwd)
export KNLB_LAB_STATE=$OUT/work/lab.env
T_START=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT
	if [ "$rc" != 0 ] && [ -n "${LAB_NS_GW:-}" ] && [ -e "/run/netns/$LAB_NS_GW" ]; then
		echo "--- gateway ruleset (abridged) ---" >&2
		gw_ruleset | cut -c1-200 | head -60 >&2 || true
		echo "--- gateway conntrack (first 20) ---" >&2
		in_gw conntrack -L 2>/dev/null | head -20 >&2 || true
		echo "--- logs: $OUT/logs ---" >&2
	fi
	b_stop_all
	cp_cleanup
	if [ -f "$KNLB_LAB_STATE" ]; then
		LAB_QUIET=1 "$BENCH_HERE/lab.sh" down "$KNLB_LAB_STATE" || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Machine facts, for the report.
{
	echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc $(nproc)"
	echo "kernel $(uname -r)"
	echo "cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "nft $(nft --version | awk '{ print $2 }')"
	echo "haproxy $(haproxy -v | awk 'NR == 1 { print $3 }')"
	echo "nftlb $(dpkg-query -W -f='${Version}' nftlb 2>/dev/null)"
	echo "wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
	echo "iperf3 $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null)"
	echo "rounds $ROUNDS"
	echo "secs $WL_SECS"
	echo "warmup $WARMUP"
	echo "wrk_procs $WRK_PROCS"
	echo "wrk_threads $WRK_THREADS"
	echo "wrk_conns $WRK_CONNS"
	echo "backends $BACKENDS"
	echo "udp_count $UDP_COUNT"
	echo "udp_conc $UDP_CONC"
	echo "iperf_streams $IPERF_STREAMS"
	echo "smoke $SMOKE"
} >"$OUT/raw/machine.txt"

b_log "results in $OUT"
b_log "lab: $BACKENDS backends, $MOVED_CLIENTS client addresses"
"$BENCH_HERE/lab.sh" up --backends "$BACKENDS" --clients "$MOVED_CLIENTS" >"$OUT/logs/lab-up.log" 2>&1 ||
	{ cat "$OUT/logs/lab-up.log" >&2; b_die "lab.sh up failed"; }
# shellcheck disable=SC1090
source "$KNLB_LAB_STATE"
BE1_ADDR=${LAB_BACKEND_ADDRS%% *}
[ -z "$(gw_ruleset)" ] || b_die "the new gateway namespace has rules already"
# No TIME_WAIT on the backends: they close first (Connection: close), and a
# client port reused towards the same backend through another contender
# (VIP vs direct address: other TCP timestamps and sequence numbers) would
# hit the old TIME_WAIT socket, be refused and retried a second later.
# Measured: plain routing at a third of its rate right after a VIP run.
for ns in $LAB_NS_BACKENDS; do
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
done
# Wrk and the loadgens open many connections from one address: the whole
# ephemeral range, in the client namespace only.
in_cl sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

# iperf3 server on be1, for the bulk service.
ip netns exec "$(echo "$LAB_NS_BACKENDS" | cut -d' ' -f1)" iperf3 -s -B "$BE1_ADDR" -p "$BULK_PORT" \
	</dev/null >"$OUT/logs/iperf3-server.log" 2>&1 &
IPERF_PID=$!
b_track "$IPERF_PID"
b_until 10 in_be 1 bash -c "ss -Hltn 'sport = :$BULK_PORT' | grep -q ." || b_die "iperf3 server did not start"

# --- data plane --------------------------------------------------------------

# Rotates the contender list by $1 places.
rotate() {
	local n=$1 arr
	read -r -a arr <<<"$CONTENDERS"
	local len=${#arr[@]} i out=()
	for ((i = 0; i < len; i++)); do
		out+=("${arr[(i + n) % len]}")
	done
	echo "${out[*]}"
}

if [ "$DO_DATA" = 1 ]; then
	printf 'round\tcontender\tworkload\trate\tp50_ms\tp99_ms\terrors\tlb_cpu_pct\n' >"$OUT/raw/dataplane.tsv"
	for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
		order=$(rotate $((ROUND - 1)))
		b_log "data plane round $ROUND/$ROUNDS: $order"
		for w in $WORKLOADS; do
			WL=$w
			for c in $order; do
				if ! ct_supports "$c" "$w"; then
					b_raw dataplane.tsv "$ROUND" "$c" "$w" - - - - -
					continue
				fi
				in_gw conntrack -F >/dev/null 2>&1 || true
				ct_start "$c"
				ct_targets "$c"
				pid=$(ct_pid "$c")
				if [ "$WARMUP" -gt 0 ] && [ "$w" != bulk ]; then
					WL_SECS=$WARMUP wl_run "$w" "warm.r$ROUND.$c.$w" >/dev/null
				fi
				[ -z "$pid" ] || { c0=$(cpu_ticks "$pid"); t0=$(date +%s%N); }
				perf_pid=
				if [ "${DATA_PROFILE:-}" = perf ]; then
					perf record -q -a -o "$OUT/logs/r$ROUND.$c.$w.perf" >/dev/null 2>&1 &
					perf_pid=$!
					b_track "$perf_pid"
				fi
				res=$(wl_run "$w" "r$ROUND.$c.$w")
				if [ -n "$perf_pid" ]; then
					kill -INT "$perf_pid" 2>/dev/null || true
					wait "$perf_pid" 2>/dev/null || true
				fi
				cpu=-
				if [ -n "$pid" ]; then
					cpu=$(awk -v c=$(( $(cpu_ticks "$pid") - c0 )) -v hz="$(getconf CLK_TCK)" \
						-v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f", 100 * c / hz / (ns / 1e9) }')
				fi
				read -r rate p50 p99 errs <<<"$res"
				b_log "  $c $w: rate $rate p50 $p50 ms p99 $p99 ms errors $errs; balancer CPU $cpu %"
				b_raw dataplane.tsv "$ROUND" "$c" "$w" "$rate" "$p50" "$p99" "$errs" "$cpu"
				ct_stop "$c"
			done
		done
	done
fi

# --- control plane -------------------------------------------------------------

if [ "$DO_CONTROL" = 1 ]; then
	case " $CP_STEPS " in *" program "*) cp_program_all ;; esac
	case " $CP_STEPS " in *" down "*) cp_down_transition ;; esac
	case " $CP_STEPS " in *" moved "*) cp_flows_moved ;; esac
	case " $CP_STEPS " in *" rest "*) cp_at_rest ;; esac
fi

echo "total_s $(( $(date +%s) - T_START ))" >>"$OUT/raw/machine.txt"
"$BENCH_HERE/bench/report.sh" "$OUT"
cat "$OUT/results.md"

if [ "$SMOKE" = 1 ]; then
	bad=$(awk -F'\t' 'NR > 1 && $4 != "-" && ($4 + 0 <= 0) { print $2 "/" $3 }' "$OUT/raw/dataplane.tsv")
	[ -z "$bad" ] || b_die "served nothing: $bad"
	[ -s "$OUT/results.md" ] && [ -s "$OUT/ratios.svg" ] || b_die "no report or chart"
	for c in $CONTENDERS; do
		grep -q "^1	$c	" "$OUT/raw/dataplane.tsv" || b_die "no data-plane result for $c"
	done
	bad=$(awk -F'\t' 'NR > 1 && $6 != "ok" { print $1 " " $2 "x" $3 ": " $6 }' "$OUT/raw/program.tsv")
	[ -z "$bad" ] || b_die "programming: $bad"
	[ "$(awk 'NR > 1' "$OUT/raw/down.tsv" | wc -l)" = 2 ] || b_die "down transition: not both contenders"
	[ "$(awk 'NR > 1' "$OUT/raw/moved.tsv" | wc -l)" = 2 ] || b_die "flows moved: not both contenders"
	for c in knlbd haproxy; do
		[ "$(awk -F'\t' -v c=$c 'NR > 1 && $2 == c' "$OUT/raw/rest.tsv" | wc -l)" = 2 ] ||
			b_die "at rest: not both checks for $c"
	done
	b_log "smoke: every contender served every workload it supports; report and chart written"
fi
b_log "done in $(( $(date +%s) - T_START )) s: $OUT/results.md"

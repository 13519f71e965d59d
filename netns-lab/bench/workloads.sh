# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# workloads.sh — the data-plane workloads, run from the client namespace
# against the targets ct_targets set.  Each prints one line
#   RATE P50_MS P99_MS ERRORS
# (RATE: requests/s, or Mbit/s for bulk; "-" where a figure does not exist)
# and leaves its tools' own output under $OUT/logs/.
#
#   wl_run WORKLOAD TAG     WORKLOAD: close keepalive bulk udp
#
# close/keepalive: WRK_PROCS wrk processes, each WRK_THREADS threads and
# WRK_CONNS connections, WL_SECS seconds, --latency; spread.lua points
# thread j of process k at target (k * WRK_THREADS + j) modulo the targets
# (plain routing: every backend; a balancer: its VIP).  Measured: one wrk
# pinned to each backend gave plain routing 1.1-1.6x the rate of the same
# connections spread over the backends, a topology effect, not routing's.
# RATE is the sum of Requests/sec, P50 the mean of the processes' p50, P99
# the largest p99.  close sends "Connection: close": a new TCP connection
# per request.
# bulk: one iperf3 client, IPERF_STREAMS streams, WL_SECS seconds, to one
# iperf3 server on be1; RATE is the receiver's Mbit/s.
# udp: one knlb-loadgen --udp per target, UDP_COUNT datagrams each (a new
# socket per request), UDP_CONC in flight each; RATE is the sum of the
# loadgens' answers/s, P50/P99 over every datagram's answer time.

WORKLOADS=${BENCH_WORKLOADS:-"close keepalive bulk udp"}

# wrk prints "99%  6.10ms": to milliseconds.
wrk_ms() {
	awk -v p="$1" '$1 == p {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1
		printf "%.3f\n", v * f }' "$2"
}

wl_http() {
	local mode=$1 tag=$2 i t pids=() hdr=()
	[ "$mode" = close ] && hdr=(-H "Connection: close")
	for ((i = 1; i <= WRK_PROCS; i++)); do
		WRK_TARGETS="${T_HTTP[*]}" WRK_OFFSET=$(((i - 1) * WRK_THREADS)) \
			ip netns exec "$LAB_NS_CLIENT" timeout $((WL_SECS + 15)) wrk -t"$WRK_THREADS" \
			-c"$WRK_CONNS" -d"${WL_SECS}s" --latency -s "$BENCH_HERE/bench/spread.lua" \
			"${hdr[@]}" "http://${T_HTTP[0]}/" >"$OUT/logs/$tag.wrk$i" 2>&1 &
		pids+=("$!")
	done
	for t in "${pids[@]}"; do
		wait "$t" || true
	done
	local rate=0 p50s="" p99max=0 errs=0 f v n=0
	for ((i = 1; i <= WRK_PROCS; i++)); do
		f=$OUT/logs/$tag.wrk$i
		v=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
		[ -n "$v" ] || { b_log "wrk gave no result: $(tail -3 "$f" | tr '\n' ' ')"; echo "0 - - 1"; return; }
		rate=$(awk -v a="$rate" -v b="$v" 'BEGIN { printf "%.1f", a + b }')
		p50s="$p50s $(wrk_ms 50% "$f")"
		p99max=$(awk -v a="$p99max" -v b="$(wrk_ms 99% "$f")" 'BEGIN { print (b > a) ? b : a }')
		v=$(awk '/Socket errors/ { gsub(/,/, ""); s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }
			/Non-2xx/ { print $NF }' "$f" | awk '{ s += $1 } END { print s + 0 }')
		errs=$((errs + v))
		n=$((n + 1))
	done
	echo "$rate $(echo "$p50s" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.3f", s / NF }') $p99max $errs"
}

wl_bulk() {
	local tag=$1 f=$OUT/logs/$1.iperf3
	ip netns exec "$LAB_NS_CLIENT" timeout $((WL_SECS + 15)) iperf3 -c "${T_BULK%:*}" -p "${T_BULK#*:}" \
		-t "$WL_SECS" -P "$IPERF_STREAMS" -f m >"$f" 2>&1 || true
	local v
	if [ "$IPERF_STREAMS" -gt 1 ]; then
		v=$(awk '/^\[SUM\]/ && /receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }' "$f")
	else
		v=$(awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }' "$f")
	fi
	if [ -z "$v" ]; then
		b_log "iperf3 gave no result: $(tail -3 "$f" | tr '\n' ' ')"
		echo "0 - - 1"
		return
	fi
	echo "$v - - 0"
}

wl_udp() {
	local tag=$1 i=0 t pids=()
	if [ "${#T_UDP[@]}" = 0 ]; then
		echo "- - - -"
		return
	fi
	for t in "${T_UDP[@]}"; do
		i=$((i + 1))
		ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --udp --target "$t" --count "$UDP_COUNT" \
			--concurrency "$UDP_CONC" --timeout-ms 1000 --deadline-ms $((WL_SECS * 4000)) \
			--timeline >"$OUT/logs/$tag.lg$i" 2>&1 &
		pids+=("$!")
	done
	for t in "${pids[@]}"; do
		wait "$t" || true
	done
	local rate errs
	rate=$(cat "$OUT"/logs/"$tag".lg* | awk '$1 == "rate_per_s" { s += $2 } END { printf "%.1f", s }')
	errs=$(cat "$OUT"/logs/"$tag".lg* | awk '$1 == "failed" { s += $2 } END { print s + 0 }')
	local lat
	lat=$(cat "$OUT"/logs/"$tag".lg* | awk '$1 == "flow" && $4 !~ /^fail/ { print $6 }' | sort -n |
		awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "- -"; exit }
			i50 = int((NR + 1) / 2); i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			printf "%.3f %.3f", v[i50], v[i99] }')
	# The timelines are large: keep the summaries only.
	for ((i = 1; i <= ${#T_UDP[@]}; i++)); do
		grep -v '^flow ' "$OUT/logs/$tag.lg$i" >"$OUT/logs/$tag.lg$i.sum" || true
		rm -f "$OUT/logs/$tag.lg$i"
	done
	echo "$rate $lat $errs"
}

wl_run() {
	case $1 in
	close|keepalive) wl_http "$1" "$2" ;;
	bulk) wl_bulk "$2" ;;
	udp) wl_udp "$2" ;;
	esac
}

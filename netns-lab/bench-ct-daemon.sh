#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-ct-daemon.sh — how many conntrack events per second knlbd itself
# absorbs without loss, and its CPU time per 1000 events (`make
# bench-ct-daemon`; root).  Not a test: it prints.
#
# In a lab (netns-lab/lab.sh; nothing outside its namespaces), knlbd runs
# in the gateway with one TCP service over 3 backends.  knlb-ctgen, in the
# same namespace, creates conntrack entries of that service (its ct mark,
# the VIP, a backend as reply source) and deletes each 50 ms later: one
# NEW and one DESTROY event per entry, at a set rate for STEP_MS.  The
# rate doubles until a step is not clean.  A step is clean when knlbd
# reports no new overflow, read exactly the events sent (knlbctl status:
# conntrack.events_new + events_destroy) and counts 0 active flows after
# every entry was deleted.  knlbd's CPU is utime + stime from
# /proc/PID/stat (clock ticks) over the step, divided by the events read.
#
# The peer, in the same run: `conntrack -E` (conntrack-tools, the same
# receive buffer as knlbd) listens to the same events at PEER_RATE while
# knlbd does; CPU per 1000 events of both, and their ratio.
#
# Each run starts a fresh knlbd (its buffer back at 4 MiB); medians over
# RUNS runs.  The producer is one process on a shared 2-core machine: when
# offered/s stays below target/s it is the producer's limit, not knlbd's.
#
# Then the overload (issue 15): knlb-ctgen as fast as it goes
# (KNLB_BENCH_OVERLOAD_RATE, 600000 events/s asked = 300000 new flows/s;
# a producer that falls behind sends back to back until it sent it all) for
# KNLB_BENCH_OVERLOAD_MS against a fresh knlbd.  Reported: the new-flow
# rate reached (over the whole phase, and while knlbd was bounded), how far
# behind its schedule the producer ended (0 = the rate was sustained),
# whether knlbd went to its bounded mode (counts from a dump every
# track_interval, no event subscribed) and how many overflows and resyncs
# it took, knlbd's CPU per 1000 flows over the phase, the active count once
# every entry is gone (0 = exact), and how long after the load stopped it
# followed events again.  Never an endless overflow/resync loop: the
# resyncs are counted.  Every figure with the load average: the box is
# shared.
#
# Then what a reader costs (`read`): KNLB_BENCH_READ_FLOWS live entries of
# a track = periodic service whose bytes come from conntrack's accounting
# (traffic_counters = conntrack), and KNLB_BENCH_READS `knlbctl stats`,
# each once the counts are older than track_interval (1 s), as a
# `knlbctl top` or a scrape finds them.  Reported per read: the conntrack
# dumps it made (conntrack.dumps; "-" for a knlbd without it), its wall
# time (median), knlbd's CPU (with a `knlbctl status` after each read,
# which finds the counts fresh), and the active count (= the entries:
# exact).
#
# Environment: KNLB_BENCH_RUNS (5), KNLB_BENCH_PHASES ("steps peer
# overload read": any of them), KNLB_BENCH_RATES ("10000 ... 320000"
# events/s), KNLB_BENCH_STEP_MS (2000), KNLB_BENCH_PEER_RATE (5000: conntrack
# -E loses events at 20000/s here), KNLB_BENCH_PEER_MS (4000),
# KNLB_BENCH_OVERLOAD_RATE (600000, shared by the producers),
# KNLB_BENCH_OVERLOAD_MS (10000; 0 skips the phase),
# KNLB_BENCH_OVERLOAD_GENS (1 knlb-ctgen process: two contend for the
# conntrack table and make fewer flows in all when nobody listens, more
# only when one of them is slowed by events) and KNLB_BENCH_OVERLOAD_TRACKS
# (events: the service's track; `periodic` runs too, but entries created
# through ctnetlink carry no `ct event set` mask, so they make events
# whatever the service's track: not what a periodic service's real flows
# cost), KNLB_BENCH_READ_FLOWS (20000) and KNLB_BENCH_READS (10).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/ct.sh
. "$(dirname "$0")/lib/ct.sh"

RUNS=${KNLB_BENCH_RUNS:-5}
RATES=${KNLB_BENCH_RATES:-"10000 20000 40000 80000 160000 320000"}
STEP_MS=${KNLB_BENCH_STEP_MS:-2000}
PEER_RATE=${KNLB_BENCH_PEER_RATE:-5000}
PEER_MS=${KNLB_BENCH_PEER_MS:-4000}
OVERLOAD_RATE=${KNLB_BENCH_OVERLOAD_RATE:-600000}
OVERLOAD_MS=${KNLB_BENCH_OVERLOAD_MS:-10000}
GENS=${KNLB_BENCH_OVERLOAD_GENS:-1}
PHASES=${KNLB_BENCH_PHASES:-"steps peer overload read"}
OVERLOAD_TRACKS=${KNLB_BENCH_OVERLOAD_TRACKS:-events}
READ_FLOWS=${KNLB_BENCH_READ_FLOWS:-20000}
READS=${KNLB_BENCH_READS:-10}
CTGEN=$KNLB_BUILD/lab/knlb-ctgen
HZ=$(getconf CLK_TCK)

ct_init
[ -x "$CTGEN" ] || t_skip "$CTGEN not built (make)"
lab_up --backends 3
# bench_conf TRACK [LIMIT]: the service, followed by events or by periodic
# dumps; LIMIT: track_events_limit.  The intake steps and the peer measure
# how fast knlbd reads events, so they turn the limit off (0); the overload
# runs with knlbd's default, as an operator's would.
bench_conf() {
	{
		conf_global
		[ -z "${2:-}" ] || echo "track_events_limit = $2"
		cat <<-EOF
		[service web]
		vip = $LAB_VIP
		port = 80
		proto = tcp
		scheduler = wrr
		snat = none
		track = $1
		EOF
		conf_backends "$LAB_BACKEND_TCP_PORT"
	} >"$WORK/bench-$1${2:+-limit$2}.conf"
}
bench_conf events
bench_conf events 0
bench_conf periodic
{
	conf_global
	echo "traffic_counters = conntrack"
	sed -n '/^\[service/,$p' "$WORK/bench-periodic.conf"
} >"$WORK/bench-read.conf"
BACKENDS=$(for a in "${BACKEND_ADDRS[@]}"; do printf '%s:%s,' "$a" "$LAB_BACKEND_TCP_PORT"; done)
BACKENDS=${BACKENDS%,}

# gen_get KEY: a value from the last knlb-ctgen output.
gen_get() {
	awk -v k="$1" '$1 == k { print $2 }' "$WORK/ctgen.out"
}

# ticks_of PID: utime + stime of any process, clock ticks.
ticks_of() {
	local stat
	stat=$(cat "/proc/$1/stat")
	awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

# step RATE [MS]: one generator run against the running knlbd; sets STEP_*
# and prints one table row.
step() {
	local rate=$1 ms=${2:-$STEP_MS} n0 d0 o0 c0 c1 sent got i
	st_snap
	n0=$(st_ct events_new) d0=$(st_ct events_destroy) o0=$(st_ct overflows)
	c0=$(knlbd_cpu_ticks)
	gw_exec "$CTGEN" --rate "$rate" --duration-ms "$ms" --vip "$LAB_VIP:80" \
		--backend "$BACKENDS" --mark "$MARK" >"$WORK/ctgen.out" 2>"$WORK/ctgen.err" || true
	sent=$(($(gen_get created) + $(gen_get destroyed)))
	# Until knlbd has read them all, lost some, or 5 s passed.
	for ((i = 0; i < 50; i++)); do
		st_snap
		got=$(($(st_ct events_new) - n0 + $(st_ct events_destroy) - d0))
		[ "$got" -ge "$sent" ] || [ "$(st_ct overflows)" -ne "$o0" ] && break
		sleep 0.1
	done
	c1=$(knlbd_cpu_ticks)
	# After an overflow, the resync (and its dump) is part of the cost.
	[ "$(st_ct overflows)" -eq "$o0" ] || sleep 2
	st_snap
	c1=$(knlbd_cpu_ticks)
	got=$(($(st_ct events_new) - n0 + $(st_ct events_destroy) - d0))
	STEP_OVERFLOWS=$(($(st_ct overflows) - o0))
	STEP_OFFERED=$(gen_get offered_per_s)
	STEP_CPU=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$got" \
		'BEGIN { printf "%.3f", n ? t * 1000 / hz / (n / 1000) : 0 }')
	STEP_CLEAN=no
	if [ "$STEP_OVERFLOWS" -eq 0 ] && [ "$got" -eq "$sent" ] && [ "$(gen_get errors)" -eq 0 ] &&
		[ "$(st_svc web active_flows)" -eq 0 ]; then
		STEP_CLEAN=yes
	fi
	printf '  %9s %10s %9s %9s %9s %7s %10s %6s %s\n' "$rate" "$STEP_OFFERED" "$sent" "$got" \
		"$STEP_OVERFLOWS" "$(gen_get errors)" "$STEP_CPU" "$(st_svc web active_flows)" "$STEP_CLEAN"
	echo "step $RUN $rate $STEP_OFFERED $sent $got $STEP_OVERFLOWS $STEP_CPU $STEP_CLEAN" >>"$WORK/results"
}

# peer_step: PEER_RATE for PEER_MS with conntrack -E listening too; CPU/1k of both.
peer_step() {
	local pid t0 t1 seen kc ratio
	# Directly, not through gw_exec: $! must be conntrack.  Same buffer
	# as knlbd's start (the kernel doubles both).
	ip netns exec "$LAB_NS_GW" conntrack -E -e NEW,DESTROY -b 4194304 \
		>"$WORK/peer.out" 2>"$WORK/peer.err" </dev/null &
	pid=$!
	LG_BG_PIDS[peer]=$pid	# t_cleanup kills it by pid on any exit
	sleep 0.5
	t0=$(ticks_of "$pid")
	step "$PEER_RATE" "$PEER_MS"
	t1=$(ticks_of "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "LG_BG_PIDS[peer]"
	seen=$(grep -c . "$WORK/peer.out" || true)
	[ -s "$WORK/peer.err" ] && sed 's/^/  conntrack -E: /' "$WORK/peer.err" | head -n 3
	kc=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$seen" \
		'BEGIN { printf "%.3f", n ? t * 1000 / hz / (n / 1000) : 0 }')
	ratio=$(awk -v a="$STEP_CPU" -v b="$kc" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
	echo "  peer at $PEER_RATE/s: conntrack -E printed $seen events$(grep -qi enobufs "$WORK/peer.err" && echo ' (it lost some: ENOBUFS)'), $kc ms CPU per 1000; knlbd $STEP_CPU ms: ratio knlbd/conntrack-E $ratio"
	echo "peer $RUN $STEP_CPU $kc $ratio $seen" >>"$WORK/results"
}

# overload: OVERLOAD_RATE for OVERLOAD_MS against the running knlbd.
overload() {
	local o0 r0 c0 c1 bounded_seen=no i g t0 t_end back=- flows offered cpu newps behind bps reason=-
	st_snap
	o0=$(st_ct overflows) r0=$(st_ct resyncs)
	c0=$(knlbd_cpu_ticks)
	# GENS producers, each its own clients.
	t0=$(now_ms)
	for ((g = 0; g < GENS; g++)); do
		gw_exec "$CTGEN" --rate $((OVERLOAD_RATE / GENS)) --duration-ms "$OVERLOAD_MS" --vip "$LAB_VIP:80" \
			--backend "$BACKENDS" --mark "$MARK" --client-base "10.$((100 + g)).0.1" --progress-ms 500 \
			>"$WORK/ctgen$g.out" 2>"$WORK/ctgen$g.err" &
		LG_BG_PIDS[ctgen$g]=$!
	done
	: >"$WORK/poll"
	while kill -0 "${LG_BG_PIDS[ctgen0]}" 2>/dev/null; do
		st_snap
		if [ "$(st_ct bounded)" = true ]; then
			[ "$bounded_seen" = yes ] || reason=$(st_ct bounded_reason)
			bounded_seen=yes
			ms_diff "$t0" "$(now_ms)" >>"$WORK/poll"
		fi
		sleep 0.5
	done
	for ((g = 0; g < GENS; g++)); do
		wait "${LG_BG_PIDS[ctgen$g]}" || true
		unset "LG_BG_PIDS[ctgen$g]"
	done
	c1=$(knlbd_cpu_ticks)
	t_end=$(now_ms)
	st_snap
	cat "$WORK"/ctgen[0-9]*.out >"$WORK/ctgen.all"
	flows=$(awk '$1 == "created" { n += $2 } END { print n + 0 }' "$WORK/ctgen.all")
	offered=$(awk '$1 == "offered_per_s" { n += $2 } END { print n + 0 }' "$WORK/ctgen.all")
	# New flows per second over the creation phase, all producers; the
	# rate was sustained when none ended far behind its schedule.
	newps=$(awk '$1 == "created_per_s" { n += $2 } END { print n + 0 }' "$WORK/ctgen.all")
	behind=$(awk '$1 == "behind_ms" && $2 > m { m = $2 } END { print m + 0 }' "$WORK/ctgen.all")
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$flows" \
		'BEGIN { printf "%.3f", n ? t * 1000 / hz / (n / 1000) : 0 }')
	printf '  overload, track = %s: asked %s events/s from %s producers, offered %s/s (%s flows in %s ms), errors %s\n' "$TRACK" "$OVERLOAD_RATE" \
		"$GENS" "$offered" "$flows" "$(awk '$1 == "elapsed_ms" && $2 > m { m = $2 } END { print m + 0 }' "$WORK/ctgen.all")" \
		"$(awk '$1 == "errors" { n += $2 } END { print n + 0 }' "$WORK/ctgen.all")"
	# While bounded: the new flows between the first and the last poll that
	# saw it, from each producer's progress lines (ms since its start).
	bps=-
	if [ -s "$WORK/poll" ]; then
		bps=$(for ((g = 0; g < GENS; g++)); do
			awk -v a="$(head -n 1 "$WORK/poll")" -v b="$(tail -n 1 "$WORK/poll")" '
				$1 == "progress" && $2 >= a && !n0 { m0 = $2; n0 = $3 + 1 }
				$1 == "progress" && $2 <= b { m1 = $2; n1 = $3 }
				END { if (n0 && m1 > m0) printf "%.0f\n", (n1 - n0 + 1) * 1000 / (m1 - m0); else print 0 }' "$WORK/ctgen$g.out"
		done | awk '{ n += $1 } END { print n + 0 }')
		bps="$bps/s over $(($(tail -n 1 "$WORK/poll") - $(head -n 1 "$WORK/poll"))) ms"
	fi
	printf '    new flows: %s/s over the creation phase (asked %s), the slowest producer %s ms behind its schedule at its end; while bounded %s; load average %s\n' \
		"$newps" $((OVERLOAD_RATE / 2)) "$behind" "$bps" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '    bounded mode: %s (reason %s, entries %s), overflows %s, resyncs %s, periodic passes %s; knlbd CPU %s ms per 1000 flows\n' \
		"$bounded_seen" "$reason" "$(st_ct bounded_entries)" $(($(st_ct overflows) - o0)) $(($(st_ct resyncs) - r0)) \
		"$(st_ct periodic_passes)" "$cpu"
	# Back to events, and the counts exact (every entry deleted: 0).
	for ((i = 0; i < 600; i++)); do
		st_snap
		[ "$bounded_seen" = yes ] || [ "$(st_ct bounded)" = true ] || break
		if [ "$(st_ct bounded)" != true ]; then
			back=$(ms_diff "$t_end" "$(now_ms)")
			break
		fi
		sleep 0.1
	done
	sleep 2
	st_snap
	printf '    after the load: back to events %s ms after it stopped; active %s (0 = exact); counts stale %s\n' \
		"$back" "$(st_svc web active_flows)" "$(st_ct counts_stale)"
	echo "overload-$TRACK $RUN $offered $bounded_seen $(($(st_ct overflows) - o0)) $(($(st_ct resyncs) - r0)) $cpu $(st_svc web active_flows) $back $newps $behind ${bps%%/*}" >>"$WORK/results"
}

# read_phase: READ_FLOWS entries kept (until the flush), then READS stale
# `knlbctl stats`: the dumps, wall time and knlbd CPU per read.
read_phase() {
	local i n d0 d1 c0 c1 t0 active wall cpu dumps
	# R events/s are R/2 creates a second: READ_FLOWS in 2 s, kept.
	gw_exec "$CTGEN" --rate "$READ_FLOWS" --duration-ms 2000 --keep \
		--vip "$LAB_VIP:80" --backend "$BACKENDS" --mark "$MARK" \
		>"$WORK/ctgen.out" 2>"$WORK/ctgen.err" </dev/null ||
		fail "knlb-ctgen: $(head -c 300 "$WORK/ctgen.err")"
	n=$(gw_exec cat /proc/sys/net/netfilter/nf_conntrack_count)
	[ "$n" -ge "$READ_FLOWS" ] || fail "knlb-ctgen made $n of $READ_FLOWS entries"
	st_snap
	d0=$(st_ct dumps) c0=$(knlbd_cpu_ticks)
	: >"$WORK/read.ms"
	for ((i = 0; i < READS; i++)); do
		# Older than the count interval (track_interval, or longer
		# after a long dump): the read dumps.
		sleep "$(awk -v i="$(st_ct periodic_interval_ms)" 'BEGIN { i = i / 1000 + 0.2; print (i > 1.2 ? i : 1.2) }')"
		t0=$(now_ms)
		ctl stats >/dev/null
		[ "$CTL_RC" -eq 0 ] || fail "knlbctl stats failed (exit $CTL_RC)"
		ms_diff "$t0" "$(now_ms)" >>"$WORK/read.ms"
		st_snap		# fresh now: no dump of its own
	done
	c1=$(knlbd_cpu_ticks)
	d1=$(st_ct dumps) active=$(st_svc web active_flows)
	gw_exec conntrack -F >/dev/null 2>&1 || true
	dumps=-
	[ "$d0" = null ] || dumps=$(awk -v a="$d0" -v b="$d1" -v n="$READS" 'BEGIN { printf "%.1f", (b - a) / n }')
	wall=$(median <"$WORK/read.ms")
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$READS" 'BEGIN { printf "%.0f", t * 1000 / hz / n }')
	printf '  read: %s entries (%s counted active); per stale knlbctl stats: %s dumps, %s ms (median), knlbd CPU %s ms\n' \
		"$n" "$active" "$dumps" "$wall" "$cpu"
	echo "read $RUN $dumps $wall $cpu $active $n" >>"$WORK/results"
}

# median: the middle of the numbers on stdin (lower middle for an even count).
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

: >"$WORK/results"
phase() { [[ " $PHASES " == *" $1 "* ]]; }
for ((RUN = 1; RUN <= RUNS; RUN++)); do
	echo "run $RUN/$RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if phase steps; then
		knlb_start_ctl "$WORK/bench-events-limit0.conf"
		st_snap
		MARK=$(st_svc web ct_mark)
		echo "  knlbd $KNLBD_PID, $STEP_MS ms per step, every entry = NEW + DESTROY"
		printf '  %9s %10s %9s %9s %9s %7s %10s %6s %s\n' target/s offered/s sent read overflows errors "cpu ms/1k" active clean
		best=0
		for rate in $RATES; do
			step "$rate"
			[ "$STEP_CLEAN" = yes ] || break
			best=$STEP_OFFERED
		done
		echo "best $RUN $best" >>"$WORK/results"
		echo "  highest clean rate: $best events/s"
		knlb_stop
	fi
	if phase peer; then
		knlb_start_ctl "$WORK/bench-events-limit0.conf"
		st_snap
		MARK=$(st_svc web ct_mark)
		peer_step
		knlb_stop
	fi
	for TRACK in $OVERLOAD_TRACKS; do
		if ! phase overload || [ "$OVERLOAD_MS" -eq 0 ]; then
			break
		fi
		knlb_start_ctl "$WORK/bench-$TRACK.conf"
		st_snap
		MARK=$(st_svc web ct_mark)
		overload
		knlb_stop
	done
	if phase read; then
		knlb_start_ctl "$WORK/bench-read.conf"
		st_snap
		MARK=$(st_svc web ct_mark)
		read_phase
		knlb_stop
	fi
done

echo
echo "summary over $RUNS runs (medians)"
grep -q '^best ' "$WORK/results" &&
	echo "  highest rate knlbd absorbed with 0 overflows and exact counts: $(awk '$1 == "best" { print $3 }' "$WORK/results" | median) events/s"
for rate in $RATES; do
	n=$(awk -v r="$rate" '$1 == "step" && $3 == r && $9 == "yes"' "$WORK/results" | grep -c . || true)
	[ "$n" -gt 0 ] || continue
	printf '  at %7s/s target: offered %7s/s, knlbd CPU %s ms per 1000 events (%s clean runs)\n' "$rate" \
		"$(awk -v r="$rate" '$1 == "step" && $3 == r && $9 == "yes" { print $4 }' "$WORK/results" | median)" \
		"$(awk -v r="$rate" '$1 == "step" && $3 == r && $9 == "yes" { print $8 }' "$WORK/results" | median)" "$n"
done
grep -q '^peer ' "$WORK/results" &&
	echo "  peer at $PEER_RATE/s: knlbd $(awk '$1 == "peer" { print $3 }' "$WORK/results" | median) ms, conntrack -E $(awk '$1 == "peer" { print $4 }' "$WORK/results" | median) ms CPU per 1000 events; ratio knlbd/conntrack-E $(awk '$1 == "peer" { print $5 }' "$WORK/results" | median)"
for TRACK in $OVERLOAD_TRACKS; do
	k=overload-$TRACK
	grep -q "^$k " "$WORK/results" || continue
	echo "  overload, track = $TRACK, at $OVERLOAD_RATE/s asked: new flows $(awk -v k="$k" '$1 == k { print $10 }' "$WORK/results" | median)/s" \
		"($(awk -v k="$k" '$1 == k { print $11 }' "$WORK/results" | median) ms behind schedule at the end;" \
		"while bounded $(awk -v k="$k" '$1 == k && $12 != "-" { print $12 }' "$WORK/results" | median)/s);" \
		"bounded in $(awk -v k="$k" '$1 == k && $4 == "yes"' "$WORK/results" | grep -c . || true) of $RUNS runs;" \
		"overflows $(awk -v k="$k" '$1 == k { print $5 }' "$WORK/results" | median), resyncs $(awk -v k="$k" '$1 == k { print $6 }' "$WORK/results" | median);" \
		"knlbd CPU $(awk -v k="$k" '$1 == k { print $7 }' "$WORK/results" | median) ms per 1000 flows;" \
		"active after $(awk -v k="$k" '$1 == k { print $8 }' "$WORK/results" | median) (0 = exact); back to events after $(awk -v k="$k" '$1 == k { print $9 }' "$WORK/results" | median) ms"
done
grep -q '^read ' "$WORK/results" &&
	echo "  read, $READ_FLOWS entries of a periodic service, traffic_counters = conntrack: per stale knlbctl stats $(awk '$1 == "read" { print $3 }' "$WORK/results" | median) dumps," \
		"$(awk '$1 == "read" { print $4 }' "$WORK/results" | median) ms, knlbd CPU $(awk '$1 == "read" { print $5 }' "$WORK/results" | median) ms;" \
		"active $(awk '$1 == "read" { print $6 }' "$WORK/results" | median) of $(awk '$1 == "read" { print $7 }' "$WORK/results" | median) entries"
echo "  (CPU: clock ticks of 1/$HZ s over each step, including a few knlbctl status replies)"

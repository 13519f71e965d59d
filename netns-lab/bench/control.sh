# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# control.sh — control-plane measurements, knlb against nftlb.
#
#   cp_program_all       time to program S services x B backends ($CP_SIZES),
#                        knlb with M = 16381 and with its derived table_size,
#                        each in a fresh namespace of its own
#   cp_down_transition   a backend goes down: time to the kernel's map, and
#                        the map elements that changed
#   cp_flows_moved       one of 4 backends removed: client addresses (one
#                        connection each, before and after) that moved
#   cp_at_rest           knlbd and HAProxy with $REST_BACKENDS backends,
#                        check = tcp and http every 2 s: RSS and CPU over
#                        $REST_SECS s, interleaved for $REST_ROUNDS rounds
#                        ($REST_WHO: the contenders, "knlb haproxy";
#                        $REST_PROFILE: see rest_window)
#   cp_cleanup           removes the control-plane namespace (exit trap)
#
# Raw results go to $OUT/raw/{program,down,moved,rest}.tsv.

CP_NS=

cp_cleanup() {
	if [ -n "$CP_NS" ] && [ -e "/run/netns/$CP_NS" ]; then
		ip netns del "$CP_NS" 2>/dev/null || true
	fi
	CP_NS=
}

# A namespace with only its loopback, for programming a table nobody uses.
cp_ns_new() {
	cp_cleanup
	CP_NS=knlb-bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-cp
	ip netns add "$CP_NS"
	ip -n "$CP_NS" link set lo up
}

# Backend address b (0-based) of the generated farms: 10.1.0.0/18.
cp_addr() { echo "10.1.$(($1 / 250)).$(($1 % 250 + 1))"; }

# cp_knlb_conf S B [CHECK [M]]: S maglev services of B backends each (awk:
# 100 x 1000 backend lines in bash would take longer than programming them).
# Without a check every service shares one set of backends; with one, each
# service has its own, so every probe goes to another address.  M is the
# table_size (16381 when not given; "derived": no table_size line).
cp_knlb_conf() {
	awk -v n="$1" -v nb="$2" -v check="${3:-none}" -v m="${4:-16381}" -v vip="$LAB_VIP" -v sock="$OUT/work/knlb-cp.sock" 'BEGIN {
		printf "[global]\ntable = knlb\nlog_level = info\ncontrol_socket = %s\n", sock
		stride = (check == "none") ? 0 : nb
		for (s = 1; s <= n; s++) {
			printf "\n[service s%d]\nvip = %s\nport = %d\nproto = tcp\nscheduler = maglev\n", s, vip, 1000 + s
			if (m != "derived")
				printf "table_size = %s\n", m
			printf "snat = none\n"
			if (check != "none")
				printf "check = %s\ninterval = 2s\ntimeout = 1s\n", check
			for (b = 0; b < nb; b++) {
				a = (s - 1) * stride + b
				printf "backend = 10.1.%d.%d:8080\n", int(a / 250), a % 250 + 1
			}
		}
	}'
}

# cp_nftlb_json S B: the same farms for nftlb (rr, dnat).
cp_nftlb_json() {
	local s b n=$1 nb=$2 sep="" addrs
	addrs=$(for ((b = 0; b < nb; b++)); do cp_addr "$b"; done | tr '\n' ' ')
	printf '{"farms": ['
	for ((s = 1; s <= n; s++)); do
		printf '%s' "$sep"
		# shellcheck disable=SC2086
		nftlb_farm "s$s" tcp $((1000 + s)) rr 8080 $addrs
		sep=", "
	done
	printf ']}\n'
}

# Stops knlbd (it deletes its table: --flush-on-exit) and checks the
# namespace is empty; a table still there is deleted and said.
cp_knlb_stop() {
	local ns=$1 i
	kill -TERM "$KNLBD_PID" 2>/dev/null || true
	for ((i = 0; i < 1500; i++)); do
		b_alive "$KNLBD_PID" || break
		sleep 0.02
	done
	b_stop "$KNLBD_PID"
	KNLBD_PID=
	if ip netns exec "$ns" nft list table inet knlb >/dev/null 2>&1; then
		b_log "knlbd left table inet knlb in $ns: deleting it"
		ip netns exec "$ns" nft delete table inet knlb
	fi
}

# cp_program_one_knlb S B [M]: knlb (M = 16381) or knlb-derived (M "derived").
cp_program_one_knlb() {
	local n=$1 nb=$2 m=${3:-16381} c=knlb
	[ "$m" = derived ] && c=knlb-derived
	local conf=$OUT/work/cp-$c-$1x$2.conf log=$OUT/logs/cp-$c-$1x$2.log
	cp_knlb_conf "$n" "$nb" none "$m" >"$conf"
	cp_ns_new
	local t0 wall ms elems=- status=ok fill=
	t0=$(b_now_ms)
	ip netns exec "$CP_NS" "$KNLBD" -c "$conf" --flush-on-exit </dev/null >"$log" 2>&1 &
	KNLBD_PID=$!
	b_track "$KNLBD_PID"
	if b_until "$CP_TIMEOUT" grep -q "programmed table" "$log"; then
		wall=$(b_ms_since "$t0")
		ms=$(sed -n 's/.*programmed table.* in \([0-9.]*\) ms.*/\1/p' "$log" | head -1)
		elems=$(sed -n 's/.*programmed table.*, \([0-9]*\) slot elements.*/\1/p' "$log" | head -1)
		# `nft list chains`, not `list chain`: nft's cache for the latter
		# reads every set element (10 M of them: minutes and 10 GB).  Not
		# grep -q: it stops reading, nft dies of SIGPIPE, pipefail fails.
		ip netns exec "$CP_NS" nft list chains inet | grep -c "chain svc_s$n {" >/dev/null || status=missing
		# The table forwards from "programmed" on; in the fallback shape
		# (M >= 256 x backends) the serving backends' fallback maps go
		# in right after, before the probes start: their time, or "-".
		if b_until "$CP_TIMEOUT" grep -qE "fallback maps filled|health probes run in process" "$log"; then
			fill=$(sed -n 's/.*fallback maps filled after the table: .*, \([0-9.]*\) ms.*/\1/p' "$log" | head -1)
		fi
	else
		wall=- ms=- status=timeout
	fi
	cp_knlb_stop "$CP_NS"
	b_log "  $c $n x $nb: programmed in $ms ms (wall $wall ms, ${elems:-?} elements) $status; fallback maps after it: ${fill:--} ms"
	b_raw program.tsv "$c" "$n" "$nb" "$ms" "$wall" "$status" "${elems:--}" "${fill:--}"
}

cp_program_one_knlb-derived() { cp_program_one_knlb "$1" "$2" derived; }

cp_program_one_nftlb() {
	local n=$1 nb=$2 json=$OUT/work/cp-nftlb-$1x$2.json log=$OUT/logs/cp-nftlb-$1x$2.log
	cp_nftlb_json "$n" "$nb" >"$json"
	cp_ns_new
	nftlb_up "$CP_NS" "$log"
	local t0 api=- wall=- status=ok last
	last=$(cp_addr $((nb - 1)))
	t0=$(b_now_ms)
	if NFTLB_API_TIMEOUT=$CP_TIMEOUT nftlb_api POST /farms "@$json"; then
		api=$(b_ms_since "$t0")
		if b_until $((CP_TIMEOUT - ${api%.*} / 1000 + 1)) bash -c "ip netns exec '$CP_NS' nft list chain ip nftlb nat-s$n | grep -q '$last '"; then
			wall=$(b_ms_since "$t0")
		else
			status=timeout
		fi
	else
		status=timeout
		api=$(b_ms_since "$t0")
		if awk -v a="$api" -v t="$CP_TIMEOUT" 'BEGIN { exit !(a < t * 1000 - 500) }'; then status=refused; fi
	fi
	nftlb_down
	b_log "  nftlb $n x $nb: API answered in $api ms, in the kernel after $wall ms $status"
	b_raw program.tsv nftlb "$n" "$nb" "$api" "$wall" "$status"
}

# A size at least as large (services x backends) as one that timed out is
# not tried again: it would only time out later.
cp_program_all() {
	printf 'contender\tservices\tbackends\tprogram_ms\twall_ms\tstatus\telements\tfallback_fill_ms\n' >"$OUT/raw/program.tsv"
	local sz n nb c
	local -A over=([knlb]=0 [knlb-derived]=0 [nftlb]=0)	# smallest services x backends that timed out
	b_log "control plane: programming time ($CP_SIZES, cap ${CP_TIMEOUT}s each)"
	for sz in $CP_SIZES; do
		n=${sz%x*} nb=${sz#*x}
		for c in knlb knlb-derived nftlb; do
			if [ "${over[$c]}" -gt 0 ] && [ $((n * nb)) -ge "${over[$c]}" ]; then
				b_log "  $c $n x $nb: skipped (a smaller farm timed out)"
				b_raw program.tsv "$c" "$n" "$nb" - - skipped
				continue
			fi
			"cp_program_one_$c" "$n" "$nb"
			if tail -1 "$OUT/raw/program.tsv" | grep -q 'timeout$'; then over[$c]=$((n * nb)); fi
		done
	done
	cp_cleanup
}

# Map elements as "key : value" pairs, one a line, sorted.
map_pairs() { { grep -oE '[0-9a-fx]+ : [0-9a-fx.]+( \. [0-9]+)?' || true; } | sort; }

# Refuses (TCP reset) or allows again be4's port 8080 from its own namespace:
# its health check fails while its server keeps running.
be_block() {
	in_be "$BACKENDS" nft -f - <<-NFT
	table ip bench_block {
		chain in {
			type filter hook input priority 0; policy accept;
			tcp dport $LAB_BACKEND_TCP_PORT reject with tcp reset
		}
	}
	NFT
}
be_unblock() { in_be "$BACKENDS" nft delete table ip bench_block; }

# knlb_check_conf NAME PORT HASHKEY: one maglev service over the lab's
# backends, check = tcp every 200 ms, one failure takes a backend down.
knlb_check_conf() {
	local a i=0
	printf '[global]\ntable = knlb\nlog_level = info\ncontrol_socket = %s\n\n' "$OUT/work/knlb-cp.sock"
	printf '[service %s]\nvip = %s\nport = %s\nproto = tcp\nscheduler = maglev\nhash_key = %s\n' "$1" "$LAB_VIP" "$2" "$3"
	printf 'table_size = 16381\nsnat = none\ncheck = tcp\ninterval = 200ms\ntimeout = 100ms\nrise = 1\nfall = 1\n'
	for a in $LAB_BACKEND_ADDRS; do
		i=$((i + 1))
		echo "backend = $a:$LAB_BACKEND_TCP_PORT id=be$i"
	done
}

cp_down_transition() {
	printf 'contender\tdetect_to_kernel_ms\tapi_ms\tslots_moved\telements_written\tpairs_changed\n' >"$OUT/raw/down.tsv"
	b_log "control plane: down transition (be$BACKENDS of $BACKENDS)"
	local conf=$OUT/work/down-knlb.conf log=$OUT/logs/down-knlb.log
	knlb_check_conf web 80 src-ip-port >"$conf"
	knlb_run "$conf" "$log"
	sleep 1
	in_gw nft list map inet knlb web_slots | map_pairs >"$OUT/work/down-knlb.before"
	be_block
	b_until 10 grep -q "service web: .* slots moved" "$log" || { be_unblock; b_die "knlbd logged no transition (log $log)"; }
	in_gw nft list map inet knlb web_slots | map_pairs >"$OUT/work/down-knlb.after"
	be_unblock
	local line ack moved elems changed
	line=$(grep "service web: .* slots moved" "$log" | head -1)
	moved=$(echo "$line" | sed -n 's/.*: \([0-9]*\) of [0-9]* slots moved.*/\1/p')
	elems=$(echo "$line" | sed -n 's/.*moved, \([0-9]*\) elements.*/\1/p')
	ack=$(echo "$line" | sed -n 's/.*, \([0-9.]*\) ms to the kernel.*/\1/p')
	changed=$(comm -3 "$OUT/work/down-knlb.before" "$OUT/work/down-knlb.after" | wc -l)
	b_log "  knlb: $moved slots moved, $elems elements, $ack ms from the decision to the kernel's ack; $changed pairs differ"
	b_raw down.tsv knlb "$ack" - "$moved" "$elems" "$changed"
	knlb_halt
	[ -z "$(gw_ruleset)" ] || b_die "knlbd left rules in the gateway"

	log=$OUT/logs/down-nftlb.log
	nftlb_up "$LAB_NS_GW" "$log"
	# shellcheck disable=SC2086
	nftlb_api POST /farms "{\"farms\": [$(nftlb_farm web tcp 80 rr "$LAB_BACKEND_TCP_PORT" $LAB_BACKEND_ADDRS)]}" ||
		b_die "nftlb refused the farm"
	b_until 10 in_gw nft list chain ip nftlb nat-web || b_die "nftlb did not program the farm"
	in_gw nft list table ip nftlb >"$OUT/work/down-nftlb.before.nft"
	local t0 api wall
	t0=$(b_now_ms)
	nftlb_api POST /farms "{\"farms\": [{\"name\": \"web\", \"backends\": [{\"name\": \"be$BACKENDS\", \"state\": \"down\"}]}]}" ||
		b_die "nftlb refused the state change"
	api=$(b_ms_since "$t0")
	b_until 10 bash -c "! ip netns exec '$LAB_NS_GW' nft list table ip nftlb | cmp -s - '$OUT/work/down-nftlb.before.nft'" ||
		b_die "nftlb did not change the ruleset"
	wall=$(b_ms_since "$t0")
	in_gw nft list table ip nftlb >"$OUT/work/down-nftlb.after.nft"
	changed=$(comm -3 <(map_pairs <"$OUT/work/down-nftlb.before.nft") <(map_pairs <"$OUT/work/down-nftlb.after.nft") | wc -l)
	elems=$({ diff "$OUT/work/down-nftlb.before.nft" "$OUT/work/down-nftlb.after.nft" || true; } |
		{ grep '^>' || true; } | map_pairs | wc -l)
	b_log "  nftlb: API $api ms, kernel changed after $wall ms; rules rewritten with $elems elements; $changed pairs differ"
	b_raw down.tsv nftlb "$wall" "$api" - "$elems" "$changed"
	nftlb_down
	[ -z "$(gw_ruleset)" ] || b_die "nftlb left rules in the gateway"
}

# moved_run TAG PORT: one connection from each client address; "ADDR NAME".
moved_run() {
	in_cl "$LOADGEN" --tcp --target "$LAB_VIP:$2" --source-range "$LAB_CLIENT_SOURCE_RANGE" \
		--count "$MOVED_CLIENTS" --concurrency 16 --per-conn >"$OUT/logs/moved-$1.out" 2>&1 ||
		b_die "moved: $1 had failed connections ($OUT/logs/moved-$1.out)"
	awk '$1 == "conn" { split($2, a, ":"); print a[1], $3 }' "$OUT/logs/moved-$1.out" | sort >"$OUT/work/moved-$1"
}

# moved_count CONTENDER: compares the before and after runs.
moved_count() {
	local c=$1
	join "$OUT/work/moved-$c.before" "$OUT/work/moved-$c.after" | awk -v c="$c" -v gone="be$BACKENDS" '
		{ n++ } $2 == gone { on++; next } { others++ } $2 != $3 { moved++ }
		END { printf "%s\t%d\t%d\t%d\t%d\t%.1f\n", c, n, on, others, moved, others ? 100 * moved / others : 0 }' \
		>>"$OUT/raw/moved.tsv"
	b_log "  $(tail -1 "$OUT/raw/moved.tsv" | awk -F'\t' '{ printf "%s: %d clients, %d on the removed backend, %d of the other %d moved (%s %%)", $1, $2, $3, $5, $4, $6 }')"
}

cp_flows_moved() {
	printf 'contender\tclients\ton_removed\tothers\tothers_moved\tpct_moved\n' >"$OUT/raw/moved.tsv"
	b_log "control plane: flows moved when be$BACKENDS of $BACKENDS goes ($MOVED_CLIENTS client addresses)"
	local conf=$OUT/work/moved-knlb.conf log=$OUT/logs/moved-knlb.log
	knlb_check_conf moved 82 src-ip >"$conf"
	knlb_run "$conf" "$log"
	sleep 1
	moved_run knlb.before 82
	be_block
	b_until 10 grep -q "service moved: .* slots moved" "$log" || { be_unblock; b_die "knlbd logged no transition (log $log)"; }
	moved_run knlb.after 82
	be_unblock
	moved_count knlb
	knlb_halt

	nftlb_up "$LAB_NS_GW" "$OUT/logs/moved-nftlb.log"
	# shellcheck disable=SC2086
	nftlb_api POST /farms "{\"farms\": [$(nftlb_farm moved tcp 82 hash "$LAB_BACKEND_TCP_PORT" $LAB_BACKEND_ADDRS)]}" ||
		b_die "nftlb refused the farm"
	b_until 10 in_gw nft list chain ip nftlb nat-moved || b_die "nftlb did not program the farm"
	moved_run nftlb.before 82
	in_gw nft list table ip nftlb >"$OUT/work/moved-nftlb.nft"
	nftlb_api DELETE "/farms/moved/backends/be$BACKENDS" || b_die "nftlb refused to delete be$BACKENDS"
	b_until 10 bash -c "! ip netns exec '$LAB_NS_GW' nft list table ip nftlb | cmp -s - '$OUT/work/moved-nftlb.nft'" ||
		b_die "nftlb did not change the ruleset"
	in_gw conntrack -F >/dev/null 2>&1 || true
	moved_run nftlb.after 82
	moved_count nftlb
	nftlb_down
	[ -z "$(gw_ruleset)" ] || b_die "nftlb left rules in the gateway"
}

# /proc/PID/stat utime + stime, in clock ticks, of PID and its live
# children: knlbd's unprivileged workers (health prober, metrics) count.
cpu_ticks() {
	local t=0 p
	for p in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		t=$((t + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# cp_haproxy_rest_conf S B CHECK: HAProxy 2.6 watching the same farm as
# cp_knlb_conf S B CHECK: one backend per service, every server checked
# every 2 s with a 1 s timeout and rise 2 / fall 3 (knlbd's defaults);
# http: option httpchk GET / (knlbd's check_path default).  Its one
# frontend (HAProxy will not start without a listener) gets no traffic:
# only the checks run.
cp_haproxy_rest_conf() {
	awk -v n="$1" -v nb="$2" -v check="$3" 'BEGIN {
		printf "global\n    maxconn 1000\ndefaults\n    mode tcp\n"
		printf "    timeout connect 1s\n    timeout check 1s\n    timeout client 30s\n    timeout server 30s\n"
		printf "frontend idle\n    bind 127.0.0.1:18080\n    default_backend s1\n"
		for (s = 1; s <= n; s++) {
			printf "backend s%d\n", s
			if (check == "http")
				printf "    option httpchk GET /\n"
			printf "    default-server check inter 2s rise 2 fall 3\n"
			for (b = 0; b < nb; b++) {
				a = (s - 1) * nb + b
				printf "    server b%d 10.1.%d.%d:8080\n", b, int(a / 250), a % 250 + 1
			}
		}
	}'
}

# rest_window PID: the $REST_SECS of a sample; with REST_PROFILE=perf,
# stat or strace, spent under `perf record -g`, `perf stat` (CPU, context
# switches, syscalls) or `strace -c -f` of PID and its children, written
# to $OUT/logs/$REST_TAG.{perf,stat,strace} (the CPU figures of a perf or
# strace run include the profiler's cost: for where, not how much).
# rest_ctxt PID,PID...: each thread's voluntary and involuntary switches.
rest_ctxt() {
	local p t
	for p in ${1//,/ }; do
		for t in /proc/"$p"/task/*; do
			printf '%s %s %s\n' "${t##*/}" "$(awk '$1 == "Name:" { print $2 }' "$t/status")" \
				"$(awk '/ctxt_switches/ { printf "%s ", $2 }' "$t/status")"
		done
	done
}

rest_window() {
	local pids children
	children=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
	pids=$(echo "$1 $children" | tr -s ' ' ',' | sed 's/,$//')
	case ${REST_PROFILE:-} in
	perf)
		perf record -q -g -o "$OUT/logs/$REST_TAG.perf" -p "$pids" -- sleep "$REST_SECS" \
			>/dev/null 2>&1 || true ;;
	stat)
		rest_ctxt "$pids" >"$OUT/logs/$REST_TAG.ctxt"
		perf stat -e task-clock,context-switches,raw_syscalls:sys_enter -o "$OUT/logs/$REST_TAG.stat" \
			-p "$pids" -- sleep "$REST_SECS" >/dev/null 2>&1 || true
		rest_ctxt "$pids" >>"$OUT/logs/$REST_TAG.ctxt" ;;
	strace)
		local -a pargs=()
		local p
		for p in ${pids//,/ }; do pargs+=(-p "$p"); done
		timeout -s INT "$REST_SECS" strace -c -f -o "$OUT/logs/$REST_TAG.strace" \
			"${pargs[@]}" >/dev/null 2>&1 || true ;;
	*)
		sleep "$REST_SECS" ;;
	esac
}

# rest_sample PID LOG DOWN_RE: after the first probes settle, CPU % of a
# core of PID (and its children) over $REST_SECS, then RSS and peak RSS
# (KiB) and the lines of LOG matching DOWN_RE, tab-separated.
rest_sample() {
	local pid=$1 log=$2 re=$3 t0 t1 c0 c1 hz rss hwm down
	sleep 5
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$pid") t0=$(date +%s%N)
	rest_window "$pid"
	c1=$(cpu_ticks "$pid") t1=$(date +%s%N)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	down=$(grep -cE "$re" "$log" || true)
	printf '%s\t%s\t%s\t%s\n' \
		"$(awk -v c=$((c1 - c0)) -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", 100 * c / hz / (ns / 1e9) }')" \
		"$rss" "$hwm" "$down"
}

# One knlbd (or HAProxy) at rest, check CHECK, round R: a row of rest.tsv.
rest_one_knlb() {
	local r=$1 check=$2 n=$3 per=$4 name=${REST_NAME:-knlbd} tag=${REST_NAME:-knlb}
	local conf=$OUT/work/rest-knlb-$check.conf log=$OUT/logs/rest-$tag-$check.r$r.log
	cp_knlb_conf "$n" "$per" "$check" >"$conf"
	in_gw conntrack -F 2>/dev/null || true	# every run from an empty table
	knlb_run "$conf" "$log" 60
	local ms cpu rss hwm down
	ms=$(sed -n 's/.*programmed table.* in \([0-9.]*\) ms.*/\1/p' "$log" | head -1)
	REST_TAG=rest-$tag-$check.r$r
	IFS=$'\t' read -r cpu rss hwm down < <(rest_sample "$KNLBD_PID" "$log" ' DOWN')
	b_log "  round $r $name, check = $check: CPU $cpu % of a core, RSS $rss KiB (peak $hwm), $down DOWN lines (load $(cut -d' ' -f1 /proc/loadavg))"
	b_raw rest.tsv "$r" "$name" "$check" "$REST_BACKENDS" "$n" 2s "$REST_SECS" "$rss" "$hwm" "$cpu" "$down" "$ms"
	knlb_halt
}

# REST_KNLBD_B=PATH: another build of knlbd as the contender "knlbb"
# (REST_WHO="knlb knlbb haproxy"), rows "knlbd-b" in rest.tsv: an A/B of
# two builds against HAProxy in the same run (the report shows knlbd and
# HAProxy only; compare the raw rows).
rest_one_knlbb() {
	KNLBD=${REST_KNLBD_B:?REST_KNLBD_B: the other knlbd} REST_NAME=knlbd-b rest_one_knlb "$@"
}

rest_one_haproxy() {
	local r=$1 check=$2 n=$3 per=$4
	local cfg=$OUT/work/rest-haproxy-$check.cfg log=$OUT/logs/rest-haproxy-$check.r$r.log
	cp_haproxy_rest_conf "$n" "$per" "$check" >"$cfg"
	haproxy -c -f "$cfg" >/dev/null 2>&1 || b_die "haproxy rejects $cfg"
	# The kernel path of the probes as knlbd's: its table (knlbd --render)
	# is loaded, so connection tracking and knlb's nat output chain see
	# HAProxy's probes as they see knlbd's.
	cp_knlb_conf "$n" "$per" "$check" >"$OUT/work/rest-static.conf"
	"$KNLBD" --render -c "$OUT/work/rest-static.conf" >"$OUT/work/rest-static.nft" ||
		b_die "knlbd --render failed"
	in_gw nft -f "$OUT/work/rest-static.nft"
	in_gw conntrack -F 2>/dev/null || true	# every run from an empty table
	ip netns exec "$LAB_NS_GW" haproxy -f "$cfg" -db </dev/null >"$log" 2>&1 &
	local pid=$! cpu rss hwm down
	b_track "$pid"
	b_alive "$pid" || b_die "haproxy did not start (log: $log)"
	REST_TAG=rest-haproxy-$check.r$r
	IFS=$'\t' read -r cpu rss hwm down < <(rest_sample "$pid" "$log" ' is DOWN')
	b_log "  round $r haproxy, check = $check: CPU $cpu % of a core, RSS $rss KiB (peak $hwm), $down DOWN lines (load $(cut -d' ' -f1 /proc/loadavg))"
	b_raw rest.tsv "$r" haproxy "$check" "$REST_BACKENDS" "$n" 2s "$REST_SECS" "$rss" "$hwm" "$cpu" "$down" -
	b_stop "$pid"
	in_gw nft delete table inet knlb
}

# REST_WHO="knlb synprobe haproxy": knlb-synprobe (netns-lab/tools), the
# price of half-open probes: one SYN per backend every 2 s from a raw
# socket on knlbd's 5 ms grid, the SYN-ACKs read on the same socket, the
# kernel's own reset ending each.  Not a checker (no timeouts, no state):
# what the packets alone cost, with knlbd's table loaded as for HAProxy.
# Rows "synprobe" in rest.tsv, tcp only; its down_lines column is the
# backends that never answered.
rest_one_synprobe() {
	local r=$1 check=$2 n=$3 per=$4
	local log=$OUT/logs/rest-synprobe.r$r.log
	[ "$check" = tcp ] || return 0
	cp_knlb_conf "$n" "$per" tcp >"$OUT/work/rest-static.conf"
	"$KNLBD" --render -c "$OUT/work/rest-static.conf" >"$OUT/work/rest-static.nft" ||
		b_die "knlbd --render failed"
	in_gw nft -f "$OUT/work/rest-static.nft"
	in_gw conntrack -F 2>/dev/null || true
	ip netns exec "$LAB_NS_GW" "$KNLB_BUILD/lab/knlb-synprobe" --count "$REST_BACKENDS" \
		--port "$LAB_BACKEND_TCP_PORT" --interval-ms 2000 --grid-ms 5 --secs $((REST_SECS + 7)) \
		</dev/null >"$log" 2>&1 &
	local pid=$! cpu rss hwm down
	b_track "$pid"
	REST_TAG=rest-synprobe.r$r
	IFS=$'\t' read -r cpu rss hwm down < <(rest_sample "$pid" "$log" '^$')
	wait "$pid" || b_die "knlb-synprobe failed (log: $log)"
	down=$(sed -n 's/.* unanswered \([0-9]*\) .*/\1/p' "$log")
	b_log "  round $r synprobe: CPU $cpu % of a core, RSS $rss KiB; $(cat "$log")"
	b_raw rest.tsv "$r" synprobe tcp "$REST_BACKENDS" "$n" 2s "$REST_SECS" "$rss" "$hwm" "$cpu" "${down:--}" -
	in_gw nft delete table inet knlb
}

# knlbd and HAProxy 2.6 watching the same $REST_BACKENDS backends, check =
# tcp and http every 2 s, one after the other in the same namespaces and
# the order swapped every round ($REST_ROUNDS), so the noise of a shared
# machine falls on both: the report compares them round by round.
cp_at_rest() {
	printf 'round\tcontender\tcheck\tbackends\tservices\tinterval\tsecs\trss_kib\thwm_kib\tcpu_pct\tdown_lines\tprogram_ms\n' >"$OUT/raw/rest.tsv"
	local per=1000 n r check who order
	[ "$REST_BACKENDS" -ge "$per" ] || per=$REST_BACKENDS
	n=$((REST_BACKENDS / per))
	b_log "control plane: at rest, $REST_BACKENDS backends ($n x $per), check = ${REST_CHECKS// /, } every 2 s, ${REST_SECS}s, $REST_ROUNDS rounds: knlbd and HAProxy interleaved"
	# Every address of 10.1.0.0/18 is local to be1 (one route, AnyIP):
	# its one server answers all the probes, tcp and http.
	in_be 1 ip route add local 10.1.0.0/18 dev lo
	# 5000 probes/s start in bursts: with the default SYN backlog (2048)
	# be1 dropped SYNs and knlbd saw thousands of connect timeouts (a
	# flapping farm, not one at rest).
	in_be 1 sysctl -qw net.ipv4.tcp_max_syn_backlog=65536
	in_gw ip route add 10.1.0.0/18 via "$BE1_ADDR"
	for ((r = 1; r <= REST_ROUNDS; r++)); do
		order=${REST_WHO:-knlb haproxy}
		[ $((r % 2)) = 1 ] || order=$(echo "$order" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
		for check in $REST_CHECKS; do
			for who in $order; do
				"rest_one_$who" "$r" "$check" "$n" "$per"
			done
		done
	done
	in_gw ip route del 10.1.0.0/18 via "$BE1_ADDR"
	in_be 1 ip route del local 10.1.0.0/18 dev lo
}

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# report.sh DIR — turns DIR/raw/*.tsv (written by bench.sh) into
# DIR/results.md (tables) and DIR/ratios.svg (chart: each contender's
# median throughput over plain routing's, per workload).
#
# Data plane, per contender and workload: median of the rounds' rates,
# min-max, ratio of the medians to plain routing's, medians of p50 and p99,
# errors summed over the rounds, median CPU of the balancer's own process
# (knlbd, haproxy, nftlb; "-" for rules alone).  "-" where a figure does not exist
# (HAProxy has no UDP; iperf3 gives no latency).  The IPv6 contenders
# (plain6, knlb-maglev6, nftlb6; close and udp only) are compared with plain6,
# IPv6 plain routing in the same run.
set -euo pipefail

DIR=${1:?usage: report.sh DIR}
RAW=$DIR/raw
MD=$DIR/results.md

mach() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$RAW/machine.txt"; }

# Data-plane summary, one line per contender and workload:
# contender workload median min max ratio p50 p99 errors rounds
summarize() {
	awk -F'\t' '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n == 0) return "-"
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function lo(list,    a, n, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
	function hi(list,    a, n, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
	NR == 1 { next }
	$4 == "-" { na[$2 SUBSEP $3] = 1; seen($2, $3); next }
	{
		k = $2 SUBSEP $3; seen($2, $3)
		rate[k] = rate[k] " " $4
		if ($5 != "-") p50[k] = p50[k] " " $5
		if ($6 != "-") p99[k] = p99[k] " " $6
		if ($8 != "" && $8 != "-") cpu[k] = cpu[k] " " $8
		err[k] += $7; rounds[k]++
	}
	function seen(c, w) {
		if (!((c) in cs)) { cs[c] = 1; corder[++nc] = c }
		if (!((w) in ws)) { ws[w] = 1; worder[++nw] = w }
	}
	END {
		for (j = 1; j <= nw; j++) {
			w = worder[j]
			for (i = 1; i <= nc; i++) {
				c = corder[i]; k = c SUBSEP w
				# each family against its own plain routing
				# (tested with "in" first: a reference would create it)
				bk = (c ~ /6$/ ? "plain6" : "plain") SUBSEP w
				base = (bk in rate) ? median(rate[bk]) : 0
				if (!(k in rate)) { printf "%s %s - - - - - - - 0 -\n", c, w; continue }
				m = median(rate[k])
				printf "%s %s %.1f %.1f %.1f %s %s %s %d %d %s\n", c, w, m, lo(rate[k]), hi(rate[k]),
					(base > 0) ? sprintf("%.2f", m / base) : "-",
					(k in p50) ? sprintf("%.3f", median(p50[k])) : "-",
					(k in p99) ? sprintf("%.3f", median(p99[k])) : "-", err[k], rounds[k],
					(k in cpu) ? sprintf("%.1f", median(cpu[k])) : "-"
			}
		}
	}' "$RAW/dataplane.tsv"
}

# paired_ratio C REF W: "M (P)": M the ratio of C's and REF's median rates
# on workload W, P the median over rounds of C's rate / REF's in that round.
paired_ratio() {
	awk -F'\t' -v c="$1" -v r="$2" -v w="$3" '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	NR > 1 && $3 == w && $4 != "-" && $2 == c { cr[$1] = $4; cl = cl " " $4 }
	NR > 1 && $3 == w && $4 != "-" && $2 == r { rr[$1] = $4; rl = rl " " $4 }
	END {
		for (k in cr) if ((k in rr) && rr[k] > 0) pl = pl " " cr[k] / rr[k]
		if (cl == "" || rl == "" || median(rl) <= 0) { print "n/a"; exit }
		printf "%.2f (%.2f)\n", median(cl) / median(rl), median(pl)
	}' "$RAW/dataplane.tsv"
}

unit() {
	case $1 in
	bulk) echo "Mbit/s" ;;
	udp) echo "answers/s" ;;
	*) echo "requests/s" ;;
	esac
}

title() {
	case $1 in
	close) echo "New connection per request (wrk, Connection: close)" ;;
	keepalive) echo "Keep-alive requests (wrk)" ;;
	bulk) echo "Bulk throughput (iperf3)" ;;
	udp) echo "UDP request/response (knlb-loadgen --udp, a new socket per request)" ;;
	*) echo "$1" ;;
	esac
}

{
	echo "# knlb bench results"
	echo
	echo "$(mach date); $(mach nproc) cores ($(mach cpu)), kernel $(mach kernel);"
	echo "load average at start $(mach load); the whole run took $(mach total_s) s."
	echo "nft $(mach nft), HAProxy $(mach haproxy), nftlb $(mach nftlb), wrk $(mach wrk), iperf3 $(mach iperf3)."
	if [ "$(mach smoke)" = 1 ]; then
		echo
		echo "**Smoke run** (\`make bench-smoke\`): loads too small and short for any conclusion."
	fi
	if [ -s "$RAW/dataplane.tsv" ]; then
		summarize >"$DIR/summary.txt"
		echo
		echo "## Data plane"
		echo
		echo "$(mach rounds) rounds; in each, every workload runs every contender in turn (order"
		echo "rotated each round); $(mach secs) s per measurement, after $(mach warmup) s of the same load unmeasured"
		echo "(UDP: one unmeasured run; bulk: none); $(mach backends) backends. wrk:"
		echo "$(mach wrk_procs) processes x $(mach wrk_threads) threads, $(mach wrk_conns) connections per process,"
		echo "threads spread over the backends (plain) or at the VIP. UDP: $(mach backends) loadgens,"
		echo "$(mach udp_count) datagrams and $(mach udp_conc) in flight each. iperf3: $(mach iperf_streams) streams to one"
		echo "backend. Median of the rounds, min-max, ratio of medians to plain routing."
		echo "Latency: p50 is the mean of the wrk processes' p50, p99 the largest of their p99"
		echo "(wrk); for UDP both over every datagram. Medians over rounds. Balancer CPU: the"
		echo "balancer's own process (knlbd, haproxy, nftlb) during the measurement, 100 = one"
		echo "core; the kernel's forwarding and NAT are not in it. knlb-static: knlb-maglev's"
		echo "table (knlbd --render) loaded with nft -f and conntrack's accounting on, no daemon:"
		echo "the same kernel path without the daemon that follows conntrack events. knlb's services have the table size"
		echo "knlbd derives (maglev, 4 backends: 1021 slots); knlb-m16381 sets table_size = 16381;"
		echo "knlb-nocounters is knlb-maglev with traffic_counters = no (no per-packet counting);"
		echo "knlb-ctcount with traffic_counters = conntrack (conntrack's accounting, summed by knlbd:"
		echo "what the default, auto, does where knlbd can turn the accounting on); knlb-yes with"
		echo "traffic_counters = yes (a rule per packet), knlb-static-yes its table without the daemon."
		echo "plain6, knlb-maglev6, nftlb6: the same over IPv6 (new connections and UDP), their"
		echo "ratios to plain6, IPv6 plain routing."
		for w in $(awk '{ print $2 }' "$DIR/summary.txt" | awk '!s[$0]++'); do
			echo
			echo "### $(title "$w")"
			echo
			echo "| contender | median $(unit "$w") | min-max | vs plain | p50 ms | p99 ms | errors | balancer CPU % |"
			echo "|---|---:|---:|---:|---:|---:|---:|---:|"
			awk -v w="$w" '$2 == w {
				if ($3 == "-") { printf "| %s | n/a | | | | | | |\n", $1; next }
				printf "| %s | %s | %s-%s | %s | %s | %s | %d | %s |\n", $1, $3, $4, $5, $6, $7, $8, $9, $11 }' "$DIR/summary.txt"
		done
		echo
		echo "### Ratios to plain routing (medians)"
		echo
		ws=$(awk '{ print $2 }' "$DIR/summary.txt" | awk '!s[$0]++' | tr '\n' ' ')
		printf '| contender |'; for w in $ws; do printf ' %s |' "$w"; done; echo
		printf '|---|'; for w in $ws; do printf -- '---:|'; done; echo
		for c in $(awk '{ print $1 }' "$DIR/summary.txt" | awk '!s[$0]++'); do
			printf '| %s |' "$c"
			for w in $ws; do
				printf ' %s |' "$(awk -v c="$c" -v w="$w" '$1 == c && $2 == w { print ($6 == "-") ? "n/a" : $6 }' "$DIR/summary.txt")"
			done
			echo
		done
		for c in knlb-maglev knlb-wrr knlb-static; do
			printf '| %s / haproxy |' "$c"
			for w in $ws; do
				printf ' %s |' "$(awk -v c="$c" -v w="$w" '$2 == w && $1 == c { k = $3 } $2 == w && $1 == "haproxy" { h = $3 }
					END { print (k != "" && k != "-" && h != "" && h != "-" && h > 0) ? sprintf("%.2f", k / h) : "n/a" }' "$DIR/summary.txt")"
			done
			echo
		done
		if grep -q '^knlb-static ' "$DIR/summary.txt"; then
			echo
			echo "### knlbd's cost: knlb with the daemon / knlb-static and / nftlb"
			echo
			echo "Each knlbd contender against the same rules without the daemon (knlb-static)"
			echo "and against nftlb: the ratio of the medians, and in brackets the median of"
			echo "the ratios within each round (the two ran a minute apart at most). Targets"
			echo "(issue 15): >= 0.97 to knlb-static and >= 1 to nftlb on every workload."
			echo
			printf '| contender |'; for w in $ws; do printf ' %s / static | %s / nftlb |' "$w" "$w"; done; echo
			printf '|---|'; for w in $ws; do printf -- '---:|---:|'; done; echo
			for c in $(awk '$1 ~ /^knlb-/ && $1 !~ /6$/ && $1 !~ /^knlb-static/ { print $1 }' "$DIR/summary.txt" | awk '!s[$0]++'); do
				printf '| %s |' "$c"
				for w in $ws; do
					for ref in knlb-static nftlb; do
						printf ' %s |' "$(paired_ratio "$c" "$ref" "$w")"
					done
				done
				echo
			done
		fi
	fi
	if [ -s "$RAW/program.tsv" ]; then
		echo
		echo "## Control plane"
		echo
		echo "### Time to program a fresh config (maglev for knlb; nftlb rr dnat farms)"
		echo
		echo "knlb: the daemon's own \"programmed ... in X ms\" (one transaction, to the kernel's"
		echo "ack), and wall time from exec to that line (config, Maglev tables, netlink), with"
		echo "table_size = 16381 in every service, and with no table_size (derived: the smallest"
		echo "prime >= max(1021, 100 x backends)). nftlb: wall time of the POST /farms call, and"
		echo "until the last farm's last backend lists in the kernel. Each in a fresh namespace;"
		echo "capped, then \"timeout\". \"fallback maps\": where M >= 256 x backends, the fallback"
		echo "maps of the serving backends, filled after the table forwards (\"fallback maps filled\")."
		echo
		echo "| services x backends | knlb M=16381 ms | wall ms | elements | fallback maps ms | knlb derived M ms | wall ms | elements | nftlb API ms | nftlb in kernel ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' 'NR > 1 { k = $2 "x" $3; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
			v = ($6 == "ok") ? $4 : $6
			if ($1 == "knlb") { km[k] = v; kw[k] = $5; ke[k] = $7; kf[k] = ($8 == "") ? "-" : $8 }
			else if ($1 == "knlb-derived") { dm[k] = v; dw[k] = $5; de[k] = $7 }
			else { na[k] = $4; nk[k] = ($6 == "ok") ? $5 : $6 } }
			END { for (i = 1; i <= n; i++) { k = order[i]; split(k, sb, "x")
				printf "| %s x %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sb[1], sb[2], km[k], kw[k], ke[k], kf[k], dm[k], dw[k], de[k], na[k], nk[k] } }' "$RAW/program.tsv"
	fi
	if [ -s "$RAW/down.tsv" ]; then
		echo
		echo "### A backend goes down: time to the kernel, elements written"
		echo
		echo "knlb: check = tcp, 200 ms, fall 1, be$(mach backends)'s port refused from its own namespace;"
		echo "ms from knlbd's decision to the kernel's ack of the one transaction (its log), the"
		echo "slots that moved and the elements the transaction carried. nftlb: the backend set"
		echo "\`state: down\` through the API; ms until the ruleset listed differently, and the map"
		echo "elements in the rules it rewrote. \"pairs differ\": slot/backend pairs that differ"
		echo "between the listings before and after (what actually changed in the kernel)."
		echo
		echo "| | ms to the kernel | API call ms | slots moved | elements written | pairs differ |"
		echo "|---|---:|---:|---:|---:|---:|"
		awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RAW/down.tsv"
	fi
	if [ -s "$RAW/moved.tsv" ]; then
		echo
		echo "### Flows moved when one of $(mach backends) backends is removed"
		echo
		echo "One new connection from each client address before and after (knlb: maglev,"
		echo "hash_key = src-ip, the backend taken down by its health check; nftlb: sched hash on"
		echo "srcip, the backend deleted through the API). Moved: clients NOT on the removed"
		echo "backend that reach another backend afterwards (ideal: 0)."
		echo
		echo "| | clients | on the removed backend | others | others moved | % moved |"
		echo "|---|---:|---:|---:|---:|---:|"
		awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RAW/moved.tsv"
	fi
	if [ -s "$RAW/rest.tsv" ]; then
		echo
		echo "### At rest: knlbd and HAProxy 2.6 checking the same backends"
		echo
		echo "$(awk -F'\t' 'NR == 2 { print $4 " backends (" $5 " services), every one checked every " $6 }' "$RAW/rest.tsv"),"
		echo "timeout 1 s, rise 2, fall 3 (HAProxy: \`check inter 2s\`, \`option httpchk GET /\` for http);"
		echo "one after the other in the same namespaces (with knlb's table loaded for HAProxy too, so"
		echo "the probes take the same kernel path), the order swapped every round. CPU: % of"
		echo "one core over $(awk -F'\t' 'NR == 2 { print $7 }' "$RAW/rest.tsv") s (knlbd with its prober child), median of"
		echo "$(awk -F'\t' 'NR > 1 && $1 > r { r = $1 } END { print r }' "$RAW/rest.tsv") rounds; the ratio is the median of the per-round ratios."
		echo
		echo "| check | knlbd CPU % | HAProxy CPU % | knlbd / HAProxy | knlbd RSS KiB | HAProxy RSS KiB | DOWN lines (knlbd, HAProxy) | knlbd programmed in ms |"
		echo "|---|---:|---:|---:|---:|---:|---|---:|"
		awk -F'\t' '
			function med(a, n,   i, j, t) {
				for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
				return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : "-"
			}
			NR > 1 { if (!($3 in seen)) { seen[$3] = 1; checks[++nc] = $3 }
				k = $3 SUBSEP $2; cpu[k, $1] = $10; rss[k] = $8; down[k] += $11
				if ($2 == "knlbd") ms[$3] = $12; if ($1 > rounds) rounds = $1 }
			END { for (i = 1; i <= nc; i++) { c = checks[i]; nk = nh = nr = 0
				delete K; delete H; delete R
				for (r = 1; r <= rounds; r++) {
					if ((c, "knlbd", r) in cpu) K[++nk] = cpu[c, "knlbd", r]
					if ((c, "haproxy", r) in cpu) H[++nh] = cpu[c, "haproxy", r]
					if (((c, "knlbd", r) in cpu) && ((c, "haproxy", r) in cpu) && cpu[c, "haproxy", r] > 0)
						R[++nr] = cpu[c, "knlbd", r] / cpu[c, "haproxy", r]
				}
				printf "| %s | %s | %s | %s | %s | %s | %s, %s | %s |\n", c, med(K, nk), med(H, nh),
					nr ? sprintf("%.2f", med(R, nr)) : "-", rss[c, "knlbd"], rss[c, "haproxy"],
					down[c, "knlbd"] + 0, down[c, "haproxy"] + 0, ms[c] } }' "$RAW/rest.tsv"
		# REST_WHO with synprobe: the price of half-open probes, per round.
		awk -F'\t' 'NR > 1 && $2 == "synprobe" { cpu = cpu sep $10; sep = ", "; un += $11 }
			END { if (cpu != "") printf "\nHalf-open probes priced (`knlb-synprobe`: one SYN per backend every %s from a raw socket, no checker state): CPU %s %% of a core per round, %d backends unanswered.\n", "2s", cpu, un }' "$RAW/rest.tsv"
	fi
	if [ -s "$DIR/summary.txt" ]; then
		echo
		echo "![throughput relative to plain routing](ratios.svg)"
	fi
} >"$MD"

# Chart: ratio to plain routing per workload (rows) and contender (columns).
if [ -s "$DIR/summary.txt" ]; then
	cs=$(awk '$1 != "plain" && $1 != "plain6" { print $1 }' "$DIR/summary.txt" | awk '!s[$0]++' | tr '\n' ' ')
	{
		printf 'workload'; for c in $cs; do printf ' %s' "$c"; done; echo
		for w in $(awk '{ print $2 }' "$DIR/summary.txt" | awk '!s[$0]++'); do
			printf '%s' "$w"
			for c in $cs; do
				printf ' %s' "$(awk -v c="$c" -v w="$w" '$1 == c && $2 == w { print ($6 == "-") ? 0 : $6 }' "$DIR/summary.txt")"
			done
			echo
		done
	} >"$DIR/ratios.dat"
	ncol=$(echo "$cs" | wc -w)
	gnuplot <<-GP
	set terminal svg size 800,420 dynamic font "sans,12"
	set output "$DIR/ratios.svg"
	set title "Throughput relative to plain routing of the same family (median of rounds; 1.0 = plain)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set key outside right top
	set yrange [0:*]
	set ylabel "ratio to plain routing"
	set grid ytics
	set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "#444444"
	plot for [i=2:$((ncol + 1))] "$DIR/ratios.dat" using i:xtic(1) title columnheader(i)
	GP
fi

# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# contenders.sh — start and stop each data-plane contender in the lab's
# gateway namespace, on the same client, backends and gateway.
#
#   ct_start NAME / ct_stop NAME     NAME: plain knlb-maglev knlb-wrr haproxy nftlb,
#                                    and over IPv6: plain6 knlb-maglev6 nftlb6; the
#                                    levers of following flows (issue 15):
#                                    knlb-all-always knlb-lean-always knlb-all-needed
#                                    knlb-untracked knlb-periodic; knlb-m16381;
#                                    knlb-nocounters (traffic_counters = no) and
#                                    knlb-nocounters-prev (the same under KNLBD_PREV);
#                                    knlb-ctcount (traffic_counters = conntrack);
#                                    knlb-yes (traffic_counters = yes) and its
#                                    rules alone, knlb-static-yes;
#                                    knlb-prev (another build's knlbd, KNLBD_PREV);
#                                    knlb-dns (knlb-maglev's UDP service alone, a
#                                    DNS gateway; UDP workload only) and knlb-dns-prev
#                                    (the same under KNLBD_PREV);
#                                    pricing the rules: knlb-nocount (knlb-static-yes
#                                    without its counting chains), knlb-notimeout,
#                                    knlb-objref, knlb-nofilter, knlb-acct,
#                                    knlb-prerouting
#   ct_supports NAME WORKLOAD        true when NAME runs WORKLOAD
#   ct_targets NAME                  sets T_HTTP (addresses the wrk threads are
#                                    spread over), T_UDP (one address:port per
#                                    loadgen) and T_BULK (one address:port)
#
# Three services everywhere: HTTP (VIP:80 -> every backend :8080), bulk
# (VIP:5201 -> be1:5201, iperf3 serves one test at a time) and UDP
# (VIP:53 -> every backend :5353; HAProxy has no UDP).  Plain routing has no
# VIP: the wrk threads are spread over the backend addresses (each wrk
# process reaches every backend, as through a balancer), and loadgen i talks
# to backend i; every contender runs the same load processes with the same
# connections each, and the same backends share the work.
# After ct_stop the gateway's ruleset must be empty and the process gone.
#
# The IPv6 row (names ending in 6): the same client, gateway and backends
# over the lab's IPv6 addresses, for new connections (close) and UDP only;
# its ratios are to plain6, IPv6 plain routing in the same run.

# BENCH_CONTENDERS picks (and orders) a subset, e.g. the levers of issue 15:
#   BENCH_CONTENDERS="plain knlb-static knlb-maglev knlb-periodic knlb-untracked knlb-lean-always knlb-all-needed knlb-all-always nftlb"
CONTENDERS=${BENCH_CONTENDERS:-"plain knlb-maglev knlb-wrr knlb-static knlb-nocounters haproxy nftlb plain6 knlb-maglev6 nftlb6"}
BULK_PORT=5201
NFTLB_PORT=5555

ct_supports() {
	case $1 in
	*6) [ "$2" = close ] || [ "$2" = udp ] ;;
	knlb-dns|knlb-dns-prev) [ "$2" = udp ] ;;
	*) return 0 ;;
	esac
}

ct_targets() {
	local name=$1 a
	T_HTTP=() T_UDP=()
	case $name in
	*6) ct_targets6 "$name"; return ;;
	esac
	for a in $LAB_BACKEND_ADDRS; do
		if [ "$name" = plain ]; then
			T_HTTP+=("$a:$LAB_BACKEND_TCP_PORT")
			T_UDP+=("$a:$LAB_BACKEND_UDP_PORT")
		else
			T_UDP+=("$LAB_VIP:53")
		fi
	done
	[ "$name" = plain ] || T_HTTP=("$LAB_VIP:80")
	if [ "$name" = plain ]; then
		T_BULK=$BE1_ADDR:$BULK_PORT
	else
		T_BULK=$LAB_VIP:$BULK_PORT
	fi
	[ "$name" != haproxy ] || T_UDP=()
}

# IPv6 targets: backends or the VIP in brackets.
ct_targets6() {
	local name=$1 a
	for a in $LAB_BACKEND_ADDRS6; do
		if [ "$name" = plain6 ]; then
			T_HTTP+=("[$a]:$LAB_BACKEND_TCP_PORT")
			T_UDP+=("[$a]:$LAB_BACKEND_UDP_PORT")
		else
			T_UDP+=("[$LAB_VIP6]:53")
		fi
	done
	[ "$name" = plain6 ] || T_HTTP=("[$LAB_VIP6]:80")
	T_BULK=
}

# --- plain routing: forwarding with conntrack, no NAT ---------------------

# A table with a ct expression makes the namespace track connections, as
# every contender's NAT does; it accepts everything.
ct_start_plain() {
	in_gw nft -f - <<-NFT
	table inet bench_plain {
		chain track {
			type filter hook forward priority 0; policy accept;
			ct state new counter
		}
	}
	NFT
}

ct_stop_plain() { in_gw nft delete table inet bench_plain; }
ct_start_plain6() { ct_start_plain; }	# the inet table tracks IPv6 as well
ct_stop_plain6() { ct_stop_plain; }

# --- knlb ------------------------------------------------------------------

# knlb_service NAME PORT PROTO BACKEND_PORT: one service of knlb_conf over
# every address in $addrs (knlb_conf's locals sched, fam, key, vip, addrs),
# with KNLB_SVC_EXTRA (e.g. "track = off") in it, and the table size knlbd
# derives (maglev, 4 backends: 1021 slots) unless KNLB_TABLE_SIZE is set.
knlb_service() {
	local a i=0
	cat <<-CONF

	[service $1$fam]
	vip = $vip
	port = $2
	proto = $3
	scheduler = $sched
	$key
	${KNLB_SVC_EXTRA:-}
	${KNLB_TABLE_SIZE:+table_size = $KNLB_TABLE_SIZE}
	snat = none
	CONF
	for a in $addrs; do
		i=$((i + 1))
		[ "$fam" = 6 ] && a="[$a]"
		echo "backend = $a:$4 id=be$i"
	done
}

# knlb_conf SCHED [6]: the three services with the lab's backends; with 6
# web6 and dns6 on the IPv6 VIP with the backends' IPv6 addresses (no bulk
# service: the IPv6 row has no bulk workload).  KNLB_GLOBAL_EXTRA: more
# [global] lines (ct_events, ct_closing).
knlb_conf() {
	local sched=$1 fam=${2:-} key="" vip=$LAB_VIP addrs=$LAB_BACKEND_ADDRS
	[ "$sched" = maglev ] && key="hash_key = src-ip-port"
	[ "$fam" = 6 ] && vip=$LAB_VIP6 addrs=$LAB_BACKEND_ADDRS6
	cat <<-CONF
	[global]
	table = knlb
	log_level = info
	control_socket = $OUT/work/knlb.sock
	${KNLB_GLOBAL_EXTRA:-}
	CONF
	if [ -z "${KNLB_UDP_ONLY:-}" ]; then
		knlb_service web 80 tcp "$LAB_BACKEND_TCP_PORT"
		if [ "$fam" != 6 ]; then
			addrs=$BE1_ADDR knlb_service bulk "$BULK_PORT" tcp "$BULK_PORT"
		fi
	fi
	knlb_service dns 53 udp "$LAB_BACKEND_UDP_PORT"
}

# knlb_run CONF LOG: knlbd in the gateway, until it logged "programmed"
# (bounded); its pid in KNLBD_PID.
knlb_run() {
	local conf=$1 log=$2 secs=${3:-30}
	"$KNLBD" -t -c "$conf" >"$log.t" 2>&1 || { cat "$log.t" >&2; b_die "knlbd -t rejects $conf"; }
	ip netns exec "$LAB_NS_GW" "$KNLBD" -c "$conf" --flush-on-exit </dev/null >"$log" 2>&1 &
	KNLBD_PID=$!
	b_track "$KNLBD_PID"
	if ! b_until "$secs" grep -q "programmed table" "$log"; then
		cat "$log" >&2
		b_die "knlbd did not program its table within ${secs}s ($conf)"
	fi
}

# knlbd's default (traffic_counters = auto) turned conntrack's accounting on
# in the gateway's namespace: off again, so that every contender after it
# runs as it always does.
knlb_halt() {
	b_stop "$KNLBD_PID"
	KNLBD_PID=
	in_gw sysctl -qw net.netfilter.nf_conntrack_acct=0
}

# ct_start_knlb SCHED [TAG]: TAG names its config and log (default SCHED).
ct_start_knlb() {
	local sched=$1 tag=${2:-$1} conf
	conf=$OUT/work/knlb-$tag.conf
	knlb_conf "$sched" >"$conf"
	knlb_run "$conf" "$OUT/logs/knlbd-$tag.r$ROUND.$WL.log"
}
ct_start_knlb-maglev() { ct_start_knlb maglev; }
ct_start_knlb-wrr() { ct_start_knlb wrr; }
ct_stop_knlb-maglev() { knlb_halt; }
ct_stop_knlb-wrr() { knlb_halt; }
# knlb-prev: knlb-maglev's config under another build's knlbd
# (KNLBD_PREV=/path/to/knlbd), to price a change of the daemon in the same
# run as the build under test.
ct_start_knlb-prev() {
	[ -x "${KNLBD_PREV:-}" ] || b_die "knlb-prev needs KNLBD_PREV=/path/to/another/knlbd"
	KNLBD=$KNLBD_PREV ct_start_knlb maglev prev
}
ct_stop_knlb-prev() { knlb_halt; }
# knlb-dns: knlb-maglev's UDP service alone, as on a DNS gateway: the
# unread counts are dumped every 15 s there (half conntrack's UDP timeout),
# not every 5 s as with a TCP service beside it.
ct_start_knlb-dns() { KNLB_UDP_ONLY=1 ct_start_knlb maglev dns; }
ct_stop_knlb-dns() { knlb_halt; }
ct_start_knlb-dns-prev() {
	[ -x "${KNLBD_PREV:-}" ] || b_die "knlb-dns-prev needs KNLBD_PREV=/path/to/another/knlbd"
	KNLBD=$KNLBD_PREV KNLB_UDP_ONLY=1 ct_start_knlb maglev dns-prev
}
ct_stop_knlb-dns-prev() { knlb_halt; }

# The levers of following flows (docs/performance.md), each a maglev knlbd:
# knlb-maglev has the defaults (ct_events = lean, ct_closing = needed,
# track = events); these switch them back to what knlbd did before issue 15
# (all-always), one at a time, follow no flow at all (untracked), or count
# flows from a kernel-filtered dump every second, with no event (periodic).
ct_start_knlb-all-always() {
	KNLB_GLOBAL_EXTRA=$'ct_events = all\nct_closing = always' ct_start_knlb maglev all-always
}
ct_start_knlb-lean-always() {
	KNLB_GLOBAL_EXTRA=$'ct_events = lean\nct_closing = always' ct_start_knlb maglev lean-always
}
ct_start_knlb-all-needed() {
	KNLB_GLOBAL_EXTRA=$'ct_events = all\nct_closing = needed' ct_start_knlb maglev all-needed
}
ct_start_knlb-untracked() { KNLB_SVC_EXTRA="track = off" ct_start_knlb maglev untracked; }
ct_start_knlb-periodic() { KNLB_SVC_EXTRA="track = periodic" ct_start_knlb maglev periodic; }
ct_stop_knlb-all-always() { knlb_halt; }
ct_stop_knlb-lean-always() { knlb_halt; }
ct_stop_knlb-all-needed() { knlb_halt; }
ct_stop_knlb-untracked() { knlb_halt; }
ct_stop_knlb-periodic() { knlb_halt; }
# knlb-nocounters: knlb-maglev with traffic_counters = no, the operator's
# switch for what knlb-nocount prices on the rules alone (no chain counting
# every packet; new flows still counted).
ct_start_knlb-nocounters() {
	KNLB_GLOBAL_EXTRA="traffic_counters = no" ct_start_knlb maglev nocounters
}
ct_stop_knlb-nocounters() { knlb_halt; }
ct_start_knlb-nocounters-prev() {
	[ -x "${KNLBD_PREV:-}" ] || b_die "knlb-nocounters-prev needs KNLBD_PREV=/path/to/another/knlbd"
	KNLBD=$KNLBD_PREV KNLB_GLOBAL_EXTRA="traffic_counters = no" ct_start_knlb maglev nocounters-prev
}
ct_stop_knlb-nocounters-prev() { knlb_halt; }
# knlb-ctcount: knlb-maglev with traffic_counters = conntrack: no chain
# counting every packet, knlbd sums conntrack's accounting (which it turns
# on in the gateway's namespace; set back to off after it, so that the
# other contenders run as they always do).  Its rules alone: knlb-acct.
ct_start_knlb-ctcount() {
	KNLB_GLOBAL_EXTRA="traffic_counters = conntrack" ct_start_knlb maglev ctcount
}
ct_stop_knlb-ctcount() { knlb_halt; }
# knlb-yes: knlb-maglev with traffic_counters = yes, the default before
# 2026-12-06: a rule per packet counts each backend's packets and bytes.
ct_start_knlb-yes() { KNLB_GLOBAL_EXTRA="traffic_counters = yes" ct_start_knlb maglev yes; }
ct_stop_knlb-yes() { knlb_halt; }
# knlb-m16381: knlb-maglev with the table size every service had before
# issue 16 derived one from the backends (16381 slots for 4 backends).
ct_start_knlb-m16381() { KNLB_TABLE_SIZE=16381 ct_start_knlb maglev m16381; }
ct_stop_knlb-m16381() { knlb_halt; }

ct_start_knlb-maglev6() {
	local conf=$OUT/work/knlb-maglev6.conf
	knlb_conf maglev 6 >"$conf"
	knlb_run "$conf" "$OUT/logs/knlbd-maglev6.r$ROUND.$WL.log"
}
ct_stop_knlb-maglev6() { knlb_halt; }

# --- knlb's rules without the daemon ------------------------------------------

# knlb_static_as NAME AWK: the table knlbd programs for knlb-maglev
# (knlbd --render; with KNLB_GLOBAL_EXTRA's settings) through the awk
# program AWK, loaded with nft -f as contender NAME: knlb's kernel path with
# no daemon.
knlb_static_as() {
	local conf=$OUT/work/$1.conf
	knlb_conf maglev >"$conf"
	"$KNLBD" --render -c "$conf" | awk "$2" >"$OUT/work/$1.nft" || b_die "knlbd --render failed"
	in_gw nft -f "$OUT/work/$1.nft"
}
# knlb_rules_as NAME AWK: knlb_static_as from the table with the counting
# rules (traffic_counters = yes), which the pricing contenders below change.
knlb_rules_as() { KNLB_GLOBAL_EXTRA="traffic_counters = yes" knlb_static_as "$@"; }
# The awk program that leaves out the chains whose names match the ERE $1.
without_chains() {
	printf '/^\\tchain (%s) \\{/ { skip = 1 } skip && /^\\t\\}/ { skip = 0; next } !skip' "$1"
}

# knlb-static: the table as knlbd programs it by default, no daemon
# following conntrack events: no per-packet counting chain, and conntrack's
# accounting on in the gateway's namespace, as knlbd's start turns it on
# (traffic_counters = auto).  What knlb-maglev loses against it is the
# daemon's cost, not the kernel path's.
ct_start_knlb-static() {
	in_gw sysctl -qw net.netfilter.nf_conntrack_acct=1
	knlb_static_as knlb-static 1
}
# knlb-static-yes: the table with traffic_counters = yes (a rule per packet
# counting), the rules of knlb-yes without the daemon.
ct_start_knlb-static-yes() { knlb_rules_as knlb-static-yes 1; }
# knlb-nocount: without the per-packet counting chains (count_forward,
# count_input, count_output): what per-backend byte counting costs.
ct_start_knlb-nocount() { knlb_rules_as knlb-nocount "$(without_chains 'count_(forward|input|output)')"; }
# Pricing experiments (issue 15).  knlb-notimeout: the counting sets
# without their element timeout (an update then writes no expiry into the
# element on every packet).  knlb-nofilter: without the filter_prerouting
# and filter_output chains (on_empty).
ct_start_knlb-notimeout() {
	knlb_rules_as knlb-notimeout '/^\tset backend_/ { inset = 1 } inset && /^\t\}/ { inset = 0 }
		inset && /^\t\ttimeout / { next }
		inset { sub(/flags dynamic,timeout/, "flags dynamic") } { print }'
}
# knlb-objref: the per-packet counting through a static map to named
# counters (`counter name KEY map @m`: a fixed hash lookup and the counter)
# instead of an update of a dynamic set on every packet.
ct_start_knlb-objref() {
	local conf=$OUT/work/knlb-objref.conf f=$OUT/work/knlb-objref.nft
	local marks mark svc be port proto addrs n=0 elems_in="" elems_out=""
	KNLB_GLOBAL_EXTRA="traffic_counters = yes" knlb_conf maglev >"$conf"
	"$KNLBD" --render -c "$conf" >"$f.base" || b_die "knlbd --render failed"
	{
		echo "table inet knlb {"
		marks=$(awk '/^\tchain / { c = $2 } /ct mark set/ { for (i = 1; i <= NF; i++) if ($i == "set" && $(i-1) == "mark") print c, $(i+1) }' "$f.base")
		while read -r svc mark; do
			case $svc in
			svc_web) proto=tcp port=$LAB_BACKEND_TCP_PORT; read -ra addrs <<<"$LAB_BACKEND_ADDRS"; set -- "${addrs[@]}" ;;
			svc_bulk) proto=tcp port=$BULK_PORT; set -- "$BE1_ADDR" ;;
			svc_dns) proto=udp port=$LAB_BACKEND_UDP_PORT; read -ra addrs <<<"$LAB_BACKEND_ADDRS"; set -- "${addrs[@]}" ;;
			*) continue ;;
			esac
			for be in "$@"; do
				n=$((n + 1))
				printf '\tcounter in%d {\n\t}\n\tcounter out%d {\n\t}\n' "$n" "$n"
				elems_in="$elems_in${elems_in:+, }$mark . $be . $proto . $port : \"in$n\""
				elems_out="$elems_out${elems_out:+, }$mark . $be . $proto . $port : \"out$n\""
			done
		done <<<"$marks"
		printf '\tmap cin {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service : counter\n\t\tsize 64\n\t\telements = { %s }\n\t}\n' "$elems_in"
		printf '\tmap cout {\n\t\ttype mark . ipv4_addr . inet_proto . inet_service : counter\n\t\tsize 64\n\t\telements = { %s }\n\t}\n' "$elems_out"
		echo "}"
		awk '/^\tchain count_(forward|input|output) \{/ { inc = 1 } inc && /^\t\}/ { inc = 0 }
			inc && /update @backend_in \{/ { sub(/update @backend_in \{ /, "counter name "); sub(/ \}$/, " map @cin") }
			inc && /update @backend_out \{/ { sub(/update @backend_out \{ /, "counter name "); sub(/ \}$/, " map @cout") }
			{ print }' "$f.base"
	} >"$f"
	in_gw nft -f "$f"
}
ct_stop_knlb-objref() { ct_stop_knlb-static; }
# knlb-acct: knlb-nocount with conntrack's own accounting on in the
# gateway's namespace (nf_conntrack_acct: packets and bytes kept per flow by
# conntrack, read from its events and dumps), the price of counting
# outside the rules; since traffic_counters = auto, the same kernel path
# as knlb-static.  Its stop turns the accounting off (ct_stop_knlb-static).
ct_start_knlb-acct() {
	in_gw sysctl -qw net.netfilter.nf_conntrack_acct=1
	ct_start_knlb-nocount
}
ct_stop_knlb-acct() { ct_stop_knlb-static; }
# knlb-prerouting: the counting rules of count_forward and count_input
# moved into filter_prerouting, which every arriving packet walks anyway
# (after DNAT, before the reply's un-DNAT: the keys are the same), so a
# forwarded packet meets one base chain of knlb's fewer.
ct_start_knlb-prerouting() {
	knlb_rules_as knlb-prerouting '
		/^\tchain filter_prerouting \{/ { inpre = 1 }
		inpre && /^\t\}/ {
			print "\t\tct mark != 0x00000000 ct direction original update @backend_in { ct mark . ip daddr . meta l4proto . th dport }"
			print "\t\tct mark != 0x00000000 ct direction reply update @backend_out { ct mark . ip saddr . meta l4proto . th sport }"
			inpre = 0
		} '"$(without_chains 'count_(forward|input)')"
}
ct_stop_knlb-prerouting() { ct_stop_knlb-static; }
ct_start_knlb-nofilter() { knlb_rules_as knlb-nofilter "$(without_chains 'filter_(prerouting|output)')"; }
ct_stop_knlb-static() {
	in_gw nft delete table inet knlb
	in_gw sysctl -qw net.netfilter.nf_conntrack_acct=0
}
ct_stop_knlb-static-yes() { ct_stop_knlb-static; }
ct_stop_knlb-nocount() { ct_stop_knlb-static; }
ct_stop_knlb-notimeout() { ct_stop_knlb-static; }
ct_stop_knlb-nofilter() { ct_stop_knlb-static; }

# --- HAProxy: mode tcp, balance roundrobin, the VIP on the gateway ---------

HAPROXY_PID=

ct_start_haproxy() {
	local cfg=$OUT/work/haproxy.cfg a i=0
	{
		cat <<-CFG
		global
		    maxconn 8000
		defaults
		    mode tcp
		    balance roundrobin
		    timeout connect 2s
		    timeout client 30s
		    timeout server 30s
		frontend web
		    bind $LAB_VIP:80
		    default_backend web
		frontend bulk
		    bind $LAB_VIP:$BULK_PORT
		    default_backend bulk
		backend bulk
		    server be1 $BE1_ADDR:$BULK_PORT
		backend web
		CFG
		for a in $LAB_BACKEND_ADDRS; do
			i=$((i + 1))
			echo "    server be$i $a:$LAB_BACKEND_TCP_PORT"
		done
	} >"$cfg"
	haproxy -c -f "$cfg" >/dev/null || b_die "haproxy rejects $cfg"
	in_gw ip addr add "$LAB_VIP/32" dev lo
	ip netns exec "$LAB_NS_GW" haproxy -f "$cfg" -db </dev/null >"$OUT/logs/haproxy.r$ROUND.$WL.log" 2>&1 &
	HAPROXY_PID=$!
	b_track "$HAPROXY_PID"
	b_until 10 in_gw bash -c "ss -Hltn 'sport = :80' | grep -q ." ||
		b_die "haproxy does not listen (log: $OUT/logs/haproxy.r$ROUND.$WL.log)"
}

ct_stop_haproxy() {
	b_stop "$HAPROXY_PID"
	HAPROXY_PID=
	in_gw ip addr del "$LAB_VIP/32" dev lo
}

# --- nftlb: dnat farms through its REST API ---------------------------------

NFTLB_PID=
NFTLB_KEY=

# nftlb_up NS LOG: nftlb in namespace NS, its API on that namespace's
# loopback with a key of our own; returns once the API answers.
nftlb_up() {
	local ns=$1 log=$2
	NFTLB_KEY=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	NFTLB_NS=$ns
	ip netns exec "$ns" nftlb -H 127.0.0.1 -P "$NFTLB_PORT" -k "$NFTLB_KEY" -L 2 -l 5 \
		</dev/null >"$log" 2>&1 &
	NFTLB_PID=$!
	b_track "$NFTLB_PID"
	b_until 10 nftlb_api GET /farms || b_die "nftlb API does not answer (log: $log)"
}

# nftlb_api METHOD PATH [JSON]: one API call, fails unless it succeeded.
nftlb_api() {
	local out
	out=$(ip netns exec "$NFTLB_NS" curl -sS --max-time "${NFTLB_API_TIMEOUT:-10}" \
		-H "Key: $NFTLB_KEY" -X "$1" "http://127.0.0.1:$NFTLB_PORT$2" ${3:+-d "$3"}) || return 1
	case $out in
	*'"error"'*|*'"response": "error'*) echo "$out" >&2; return 1 ;;
	esac
}

# Stops nftlb and deletes whatever tables it left.
nftlb_down() {
	b_stop "$NFTLB_PID"
	NFTLB_PID=
	local t
	for t in "ip nftlb" "ip6 nftlb" "netdev nftlb"; do
		if ip netns exec "$NFTLB_NS" nft list table $t >/dev/null 2>&1; then
			ip netns exec "$NFTLB_NS" nft delete table $t
		fi
	done
}

# nftlb_farm NAME PROTO VPORT SCHED PORT ADDR...: one farm's JSON object
# (NFTLB_FAMILY=ipv6 NFTLB_VIP=...: an IPv6 farm).
nftlb_farm() {
	local name=$1 proto=$2 vport=$3 sched=$4 port=$5 a i=0 sep=""; shift 5
	local param=""
	[ "$sched" = hash ] && param='"sched-param": "srcip", '
	printf '{"name": "%s", "family": "%s", "virtual-addr": "%s", "virtual-ports": "%s", "protocol": "%s", "mode": "dnat", "scheduler": "%s", %s"state": "up", "backends": [' \
		"$name" "${NFTLB_FAMILY:-ipv4}" "${NFTLB_VIP:-$LAB_VIP}" "$vport" "$proto" "$sched" "$param"
	for a in "$@"; do
		i=$((i + 1))
		printf '%s{"name": "be%d", "ip-addr": "%s", "port": "%s", "weight": "1", "state": "up"}' "$sep" "$i" "$a" "$port"
		sep=", "
	done
	printf ']}'
}

ct_start_nftlb() {
	nftlb_up "$LAB_NS_GW" "$OUT/logs/nftlb.r$ROUND.$WL.log"
	local json
	# shellcheck disable=SC2086
	json="{\"farms\": [$(nftlb_farm web tcp 80 rr "$LAB_BACKEND_TCP_PORT" $LAB_BACKEND_ADDRS), $(nftlb_farm bulk tcp "$BULK_PORT" rr "$BULK_PORT" "$BE1_ADDR"), $(nftlb_farm dns udp 53 rr "$LAB_BACKEND_UDP_PORT" $LAB_BACKEND_ADDRS)]}"
	nftlb_api POST /farms "$json" || b_die "nftlb refused the farms"
	b_until 10 in_gw nft list chain ip nftlb nat-dns || b_die "nftlb did not program its farms"
}

ct_stop_nftlb() { nftlb_down; }

ct_start_nftlb6() {
	nftlb_up "$LAB_NS_GW" "$OUT/logs/nftlb6.r$ROUND.$WL.log"
	local json
	# shellcheck disable=SC2086
	json="{\"farms\": [$(NFTLB_FAMILY=ipv6 NFTLB_VIP=$LAB_VIP6 nftlb_farm web6 tcp 80 rr "$LAB_BACKEND_TCP_PORT" $LAB_BACKEND_ADDRS6), $(NFTLB_FAMILY=ipv6 NFTLB_VIP=$LAB_VIP6 nftlb_farm dns6 udp 53 rr "$LAB_BACKEND_UDP_PORT" $LAB_BACKEND_ADDRS6)]}"
	nftlb_api POST /farms "$json" || b_die "nftlb refused the IPv6 farms"
	b_until 10 in_gw nft list chain ip6 nftlb nat-dns6 || b_die "nftlb did not program its IPv6 farms"
}

ct_stop_nftlb6() { nftlb_down; }

# --- dispatch ---------------------------------------------------------------

# The contender's own process (empty for rules alone), for its CPU use.
ct_pid() {
	case $1 in
	# knlbd's, empty for the contenders without it (knlb-static and the like).
	knlb-*) echo "${KNLBD_PID:-}" ;;
	haproxy) echo "$HAPROXY_PID" ;;
	nftlb|nftlb6) echo "$NFTLB_PID" ;;
	esac
}

ct_start() {
	"ct_start_$1"
}

# Stops NAME and proves it left nothing: no rules, no VIP on the gateway.
ct_stop() {
	"ct_stop_$1"
	local rs
	rs=$(gw_ruleset)
	[ -z "$rs" ] || { echo "$rs" | head -40 >&2; b_die "$1 left rules in the gateway"; }
	! in_gw ip -br addr show dev lo | grep -q "$LAB_VIP" || b_die "$1 left the VIP on the gateway"
}

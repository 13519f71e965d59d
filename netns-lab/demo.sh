#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh — what `make demo` runs: the lab with 3 backends, knlbd in the
# gateway namespace with conf/demo.conf, a few hundred requests per service
# from the client namespace, and per service a table of backend, configured
# weight, expected share, observed count and share (IPv6 services from the
# client's IPv6 addresses; one vip per service).  Then knlbd is stopped and
# the lab torn down (trap), unless --keep.
#
#   demo.sh [--keep] [--count N]
#
# --keep leaves the lab and knlbd running; it prints how to use and remove them.
# Exit 77 when not root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

KEEP=0
COUNT=600
while [ $# -gt 0 ]; do
	case $1 in
	--keep) KEEP=1; shift ;;
	--count) COUNT=${2:?}; shift 2 ;;
	*) echo "usage: demo.sh [--keep] [--count N]" >&2; exit 2 ;;
	esac
done

CONF=$LAB_ROOT/conf/demo.conf
t_init
# The lab lives where lab.sh looks by default, so `lab.sh exec` and
# `lab.sh down` find it without KNLB_LAB_STATE (--keep).
export KNLB_LAB_STATE=/run/knlb-lab/demo-$$.env
if [ "$KEEP" = 1 ]; then
	export KNLB_LAB_KEEP=1 LAB_LEAVE_RUNNING=1
fi
lab_up --backends 3

echo
echo "knlb demo"
echo "  client    $LAB_NS_CLIENT: $LAB_CLIENT_ADDR and $LAB_CLIENT_SOURCES more ($LAB_CLIENT_SOURCE_RANGE)"
echo "                  $LAB_CLIENT_ADDR6 and $LAB_CLIENT_SOURCES more ($LAB_CLIENT_SOURCE_RANGE6)"
echo "  gateway   $LAB_NS_GW: $LAB_GW_CLIENT_ADDR | $LAB_GW_BACKEND_ADDR, $LAB_GW_CLIENT_ADDR6 | $LAB_GW_BACKEND_ADDR6, knlbd -c conf/demo.conf"
for i in "${!BACKEND_NAMES[@]}"; do
	echo "  backend   ${BACKEND_NAMES[i]}: ${BACKEND_ADDRS[i]} ${BACKEND_ADDRS6[i]} (tcp :$LAB_BACKEND_TCP_PORT, udp :$LAB_BACKEND_UDP_PORT)"
done
echo "  VIPs      $LAB_VIP, $LAB_VIP6 (on no interface; the client routes them via the gateway)"
echo

knlb_start "$CONF"
grep -E 'programmed|service ' "$KNLBD_LOG" | grep -v '^----' | sed 's/^/  /'
echo

# Services and backends as written in the config: one line per backend,
# "SERVICE VIP PORT PROTO SCHEDULER ADDR:PORT WEIGHT".
awk '
	{ sub(/[;#].*/, ""); gsub(/^[ \t]+|[ \t\r]+$/, "") }
	/^\[service / { svc = $2; sub(/\]$/, "", svc); next }
	/^\[/ { svc = ""; next }
	svc == "" || !index($0, "=") { next }
	{ k = $0; sub(/[ \t]*=.*/, "", k); v = $0; sub(/^[^=]*=[ \t]*/, "", v) }
	k == "vip" { vip[svc] = v } k == "port" { port[svc] = v }
	k == "proto" { proto[svc] = v } k == "scheduler" { sched[svc] = v }
	k == "backend" {
		n = split(v, f, /[ \t]+/); w = 1
		for (i = 2; i <= n; i++) if (f[i] ~ /^weight=/) w = substr(f[i], 8)
		line[++nl] = svc SUBSEP f[1] SUBSEP w
	}
	END {
		for (i = 1; i <= nl; i++) {
			split(line[i], x, SUBSEP); s = x[1]
			print s, vip[s], port[s], (proto[s] ? proto[s] : "tcp"), (sched[s] ? sched[s] : "maglev"), x[2], x[3]
		}
	}' "$CONF" >"$WORK/services"

# Lab backend name of ADDR:PORT or [ADDR]:PORT.
backend_name() {
	local i addr=${1%:*}
	addr=${addr#[}
	addr=${addr%]}
	for i in "${!BACKEND_ADDRS[@]}"; do
		if [ "${BACKEND_ADDRS[i]}" = "$addr" ] || [ "${BACKEND_ADDRS6[i]}" = "$addr" ]; then
			echo "${BACKEND_NAMES[i]}"
			return
		fi
	done
	echo "?"
}

total_failed=0
for svc in $(awk '{ print $1 }' "$WORK/services" | uniq); do
	read -r _ vip port proto sched _ <<<"$(awk -v s="$svc" '$1 == s' "$WORK/services" | head -n 1)"
	case $vip in
	*:*) host="[$vip]" range=$LAB_CLIENT_SOURCE_RANGE6 ;;	# IPv6
	*) host=$vip range=$LAB_CLIENT_SOURCE_RANGE ;;
	esac
	if [ "$proto" = udp ]; then
		what=datagrams
		lg "$svc" --udp --target "$host:$port" --count "$COUNT" --concurrency 32 \
			--source-range "$range" --sport-base 20000
	else
		what=connections
		lg "$svc" --tcp --target "$host:$port" --count "$COUNT" --concurrency 32 \
			--source-range "$range"
	fi
	ok=$(lg_get "$svc" ok)
	failed=$(lg_get "$svc" failed)
	total_failed=$((total_failed + failed))
	sum_w=$(awk -v s="$svc" '$1 == s { t += $7 } END { print t }' "$WORK/services")
	echo "service $svc  $host:$port/$proto  scheduler $sched  ($COUNT $what from $LAB_CLIENT_SOURCES client addresses: $ok answered, $failed failed)"
	printf '  %-8s %-22s %6s %9s %9s %7s\n' backend address weight expected observed share
	while read -r _ _ _ _ _ addr w; do
		name=$(backend_name "$addr")
		n=$(lg_backend "$svc" "$name")
		printf '  %-8s %-22s %6s %8s%% %9s %6s%%\n' "$name" "$addr" "$w" \
			"$(pct "$w" "$sum_w")" "$n" "$(pct "$n" "$ok")"
	done < <(awk -v s="$svc" '$1 == s' "$WORK/services")
	echo
done

# What the operator sees: knlbd's own view of the same traffic.
CTL="${KNLB_BUILD}/knlbctl -s /run/knlb/knlb-demo.sock"
echo "knlbctl status web web6 (knlbd's own view: slots, health, active flows):"
$CTL status web | sed 's/^/  /' || true
$CTL status web6 | sed -n '/^service web6/,$p' | sed 's/^/  /' || true
echo

if [ "$KEEP" = 1 ]; then
	cat <<-EOF
	The lab and knlbd (pid $KNLBD_PID) keep running.  Try:
	  $LAB_SH exec client $LOADGEN --tcp --target $LAB_VIP:80 --count 60
	  $LAB_SH exec client $LOADGEN --tcp --target [$LAB_VIP6]:80 --count 60
	  $LAB_SH exec gw nft list table inet knlb | less
	  $LAB_SH exec gw conntrack -L; $LAB_SH exec gw conntrack -L -f ipv6
	  $CTL status; $CTL flows web; $CTL drain web 10.0.0.12:8080
	knlbd logs to $KNLBD_LOG.  Remove it all with:
	  $LAB_SH down $KNLB_LAB_STATE
	EOF
	exit 0
fi

knlb_stop
echo "knlbd stopped (SIGTERM, status $KNLBD_RC); table inet knlb left in place: $(knlb_table_present && echo yes || echo no)"
lg after --tcp --target "$LAB_VIP:80" --count 60 --concurrency 8
echo "after knlbd stopped: $(lg_get after ok) of 60 connections still answered"
[ "$total_failed" -eq 0 ] || fail "$total_failed requests failed"

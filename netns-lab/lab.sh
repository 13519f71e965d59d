#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lab.sh — the knlb network-namespace lab.
#
#   lab.sh up [--backends N] [--clients N] [--no-return-route]
#   lab.sh down [--all | ID | STATEFILE]
#   lab.sh exec ROLE CMD...        ROLE: client | gw | be1 .. beN
#   lab.sh status | env
#
# One client namespace, one gateway namespace (where knlb runs) and N
# backend namespaces, each named knlb-<id>-<role> with a random <id>, all
# dual-stack (IPv4 and IPv6; addresses in netns-lab/README.md).  The
# state (names, addresses, pids) goes to $KNLB_LAB_STATE, default
# /run/knlb-lab/<id>.env; logs and pid files to the directory next to it.
# Everything here happens inside namespaces this script created: the host's
# interfaces and ruleset are never touched.  See netns-lab/README.md.
set -euo pipefail

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(dirname "$LAB_HERE")
KNLB_BUILD=${KNLB_BUILD:-$LAB_ROOT/build}
STATE_DIR=/run/knlb-lab

VIP=192.0.2.10
CLIENT_NET=198.51.100
GW_CLIENT_ADDR=$CLIENT_NET.1
CLIENT_ADDR=$CLIENT_NET.2
CLIENT_SRC_BASE=100		# extra client addresses: .100, .101, ...
BACKEND_NET=10.0.0
GW_BACKEND_ADDR=$BACKEND_NET.1
BACKEND_BASE=10			# backend i: 10.0.0.(10+i)
TCP_PORT=8080
UDP_PORT=5353

# IPv6, from the documentation prefix 2001:db8::/32; each address mirrors
# its IPv4 twin (backend i: 2001:db8:1::(10+i), read as hex digits).
VIP6=2001:db8:100::10
CLIENT_NET6=2001:db8:c:
GW_CLIENT_ADDR6=$CLIENT_NET6:1
CLIENT_ADDR6=$CLIENT_NET6:2
CLIENT_SRC_BASE6=0x100		# extra client addresses: ::100, ::101, ... (hex)
BACKEND_NET6=2001:db8:1:
GW_BACKEND_ADDR6=$BACKEND_NET6:1

die() { echo "lab.sh: $*" >&2; exit 1; }
log() { [ -n "${LAB_QUIET:-}" ] || echo "lab.sh: $*" >&2; }

usage() {
	sed -n '4,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

in_range() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

need_root() {
	[ "$(id -u)" = 0 ] || { echo "lab.sh: needs root (network namespaces)" >&2; exit 77; }
}

# Writes KEY=VALUE lines that `source` reads back.
state_put() {
	printf '%s=%q\n' "$1" "$2" >>"$STATE"
}

# Resolves which lab a command means: $KNLB_LAB_STATE, an id, a file, or
# the only lab that exists.
find_state() {
	local arg=${1:-}
	if [ -n "$arg" ]; then
		if [ -f "$arg" ]; then STATE=$arg
		elif [ -f "$STATE_DIR/$arg.env" ]; then STATE=$STATE_DIR/$arg.env
		else die "no lab '$arg'"
		fi
	elif [ -n "${KNLB_LAB_STATE:-}" ]; then
		STATE=$KNLB_LAB_STATE
		[ -f "$STATE" ] || die "no lab state at $STATE"
	else
		local all=()
		shopt -s nullglob
		all=("$STATE_DIR"/*.env)
		shopt -u nullglob
		[ "${#all[@]}" -eq 1 ] || die "${#all[@]} labs in $STATE_DIR: name one (id or state file) or set KNLB_LAB_STATE"
		STATE=${all[0]}
	fi
}

load_state() {
	find_state "${1:-}"
	# shellcheck disable=SC1090
	source "$STATE"
}

ns_exec() {
	local ns=$1; shift
	ip netns exec "$ns" "$@"
}

# sysctl inside a namespace, quietly skipping keys this kernel lacks.
ns_sysctl() {
	local ns=$1 kv key; shift
	for kv in "$@"; do
		key=${kv%%=*}
		if ns_exec "$ns" test -e "/proc/sys/${key//.//}"; then
			ns_exec "$ns" sysctl -qw "$kv" >/dev/null
		fi
	done
}

build_tools() {
	TESTSRV=$KNLB_BUILD/lab/knlb-testsrv
	LOADGEN=$KNLB_BUILD/lab/knlb-loadgen
	if [ ! -x "$TESTSRV" ] || [ ! -x "$LOADGEN" ] ||
	   [ "$LAB_HERE/tools/knlb-testsrv.c" -nt "$TESTSRV" ] ||
	   [ "$LAB_HERE/tools/knlb-loadgen.c" -nt "$LOADGEN" ] ||
	   [ "$LAB_HERE/tools/lab_addr.h" -nt "$LOADGEN" ] ||
	   [ "$LAB_HERE/tools/lab_addr.h" -nt "$TESTSRV" ]; then
		make -s -C "$LAB_ROOT" BUILD="$KNLB_BUILD" "$TESTSRV" "$LOADGEN" >&2 ||
			die "cannot build the lab tools"
	fi
}

cmd_up() {
	local backends=3 clients=32 return_route=1
	while [ $# -gt 0 ]; do
		case $1 in
		--backends) backends=${2:?}; shift 2 ;;
		--clients) clients=${2:?}; shift 2 ;;
		--no-return-route) return_route=0; shift ;;
		*) usage ;;
		esac
	done
	in_range "$backends" 1 40 || die "--backends: 1..40"
	in_range "$clients" 1 150 || die "--clients: 1..150"
	need_root
	build_tools

	local id
	id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	if [ -n "${KNLB_LAB_STATE:-}" ]; then
		STATE=$KNLB_LAB_STATE
		LAB_DIR=${STATE%.env}.d
	else
		STATE=$STATE_DIR/$id.env
		LAB_DIR=$STATE_DIR/$id
	fi
	[ ! -e "$STATE" ] || die "$STATE exists: lab.sh down first"
	mkdir -p "$(dirname "$STATE")" "$LAB_DIR"
	: >"$STATE"

	local prefix=${KNLB_LAB_PREFIX:-knlb}-$id
	local cl=$prefix-cl gw=$prefix-gw i ns addr
	local be_ns=() be_names=() be_addrs=() be_addrs6=()
	for ((i = 1; i <= backends; i++)); do
		be_ns+=("$prefix-be$i")
		be_names+=("be$i")
		be_addrs+=("$BACKEND_NET.$((BACKEND_BASE + i))")
		be_addrs6+=("$BACKEND_NET6:$((BACKEND_BASE + i))")
	done
	local src_first=$CLIENT_NET.$CLIENT_SRC_BASE
	local src_last=$CLIENT_NET.$((CLIENT_SRC_BASE + clients - 1))
	local src6_first src6_last
	src6_first=$(printf '%s:%x' "$CLIENT_NET6" "$CLIENT_SRC_BASE6")
	src6_last=$(printf '%s:%x' "$CLIENT_NET6" "$((CLIENT_SRC_BASE6 + clients - 1))")

	# Recorded before anything exists, so `down` can undo a half-built lab.
	state_put LAB_ID "$id"
	state_put LAB_DIR "$LAB_DIR"
	state_put LAB_NS_CLIENT "$cl"
	state_put LAB_NS_GW "$gw"
	state_put LAB_NS_BACKENDS "${be_ns[*]}"
	state_put LAB_NAMESPACES "$cl $gw ${be_ns[*]}"
	state_put LAB_BACKENDS "$backends"
	state_put LAB_BACKEND_NAMES "${be_names[*]}"
	state_put LAB_BACKEND_ADDRS "${be_addrs[*]}"
	state_put LAB_BACKEND_TCP_PORT "$TCP_PORT"
	state_put LAB_BACKEND_UDP_PORT "$UDP_PORT"
	state_put LAB_VIP "$VIP"
	state_put LAB_CLIENT_ADDR "$CLIENT_ADDR"
	state_put LAB_CLIENT_SOURCE_RANGE "$src_first-$src_last"
	state_put LAB_CLIENT_SOURCES "$clients"
	state_put LAB_GW_CLIENT_ADDR "$GW_CLIENT_ADDR"
	state_put LAB_GW_BACKEND_ADDR "$GW_BACKEND_ADDR"
	state_put LAB_RETURN_ROUTE "$return_route"
	state_put LAB_VIP6 "$VIP6"
	state_put LAB_BACKEND_ADDRS6 "${be_addrs6[*]}"
	state_put LAB_CLIENT_ADDR6 "$CLIENT_ADDR6"
	state_put LAB_CLIENT_SOURCE_RANGE6 "$src6_first-$src6_last"
	state_put LAB_GW_CLIENT_ADDR6 "$GW_CLIENT_ADDR6"
	state_put LAB_GW_BACKEND_ADDR6 "$GW_BACKEND_ADDR6"
	# What the backend servers listen on: [::] takes both families.
	state_put LAB_SRV_TCP "[::]:$TCP_PORT"
	state_put LAB_SRV_UDP "[::]:$UDP_PORT"
	state_put LAB_TESTSRV "$TESTSRV"
	state_put LAB_LOADGEN "$LOADGEN"

	# From here on a failure tears down what was built.
	UP_DONE=0
	trap 'if [ "$UP_DONE" = 0 ]; then echo "lab.sh: up failed, tearing down" >&2; LAB_QUIET=1 cmd_down "$STATE" || true; fi' EXIT

	# IPv6 on, but quiet and usable at once: no duplicate address
	# detection (the addresses are also added nodad), no router
	# solicitations or advertisements (routes are static).
	for ns in "$cl" "$gw" "${be_ns[@]}"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ns_sysctl "$ns" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
	done

	# Gateway: routes between the client LAN and the backend LAN (a bridge).
	ns_sysctl "$gw" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# Links go up before their addresses are added: an IPv6 address added
	# nodad to a link that is down did not answer the first neighbour
	# solicitation for it (each first flow to a client address took 1 s).
	ip -n "$gw" link add c0 type veth peer name eth0 netns "$cl"
	ip -n "$gw" link set c0 up
	ip -n "$gw" addr add "$GW_CLIENT_ADDR/24" dev c0
	ip -n "$gw" addr add "$GW_CLIENT_ADDR6/64" dev c0 nodad
	# No multicast snooping: without a querier it could hold back the
	# neighbour solicitations IPv6 sends to solicited-node groups.
	ip -n "$gw" link add br0 type bridge mcast_snooping 0
	# br_netfilter is active in new namespaces: keep bridged frames out of
	# the inet hooks, or DNATed packets would be seen twice.
	ns_sysctl "$gw" net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
	ip -n "$gw" link set br0 up
	ip -n "$gw" addr add "$GW_BACKEND_ADDR/24" dev br0
	ip -n "$gw" addr add "$GW_BACKEND_ADDR6/64" dev br0 nodad

	# Client: one primary address and $clients extra source addresses,
	# of each family.
	ip -n "$cl" link set eth0 up
	ip -n "$cl" addr add "$CLIENT_ADDR/24" dev eth0
	ip -n "$cl" addr add "$CLIENT_ADDR6/64" dev eth0 nodad
	for ((i = 0; i < clients; i++)); do
		echo "addr add $CLIENT_NET.$((CLIENT_SRC_BASE + i))/24 dev eth0"
		printf 'addr add %s:%x/64 dev eth0 nodad\n' "$CLIENT_NET6" "$((CLIENT_SRC_BASE6 + i))"
	done | ip -n "$cl" -batch -
	# The VIPs are on no interface: the client reaches them via the gateway.
	ip -n "$cl" route add default via "$GW_CLIENT_ADDR"
	ip -n "$cl" -6 route add default via "$GW_CLIENT_ADDR6"

	# Backends: one veth each into the gateway's bridge.
	for ((i = 1; i <= backends; i++)); do
		ns=${be_ns[i - 1]}
		addr=${be_addrs[i - 1]}
		ip -n "$gw" link add "b$i" type veth peer name eth0 netns "$ns"
		ip -n "$gw" link set "b$i" master br0 up
		ip -n "$ns" link set eth0 up
		ip -n "$ns" addr add "$addr/24" dev eth0
		ip -n "$ns" addr add "${be_addrs6[i - 1]}/64" dev eth0 nodad
		# Without a return route, only SNAT lets replies reach the client.
		if [ "$return_route" = 1 ]; then
			ip -n "$ns" route add default via "$GW_BACKEND_ADDR"
			ip -n "$ns" -6 route add default via "$GW_BACKEND_ADDR6"
		fi
	done

	# Backend servers, each recorded by pid.
	local pids=()
	for ((i = 1; i <= backends; i++)); do
		ns=${be_ns[i - 1]}
		rm -f "$LAB_DIR/be$i.pid"
		# Not through a function: $! must be the server itself (ip netns
		# exec execs it), not a subshell.
		ip netns exec "$ns" "$TESTSRV" --name "be$i" --tcp "[::]:$TCP_PORT" \
			--udp "[::]:$UDP_PORT" --idle-ms 60000 \
			--count-file "$LAB_DIR/be$i.count" --pid-file "$LAB_DIR/be$i.pid" \
			</dev/null >"$LAB_DIR/be$i.log" 2>&1 &
		pids+=("$!")
	done
	state_put LAB_SRV_PIDS "${pids[*]}"	# replaced below, once they run
	for ((i = 1; i <= backends; i++)); do
		local tries=0
		until [ -s "$LAB_DIR/be$i.pid" ]; do
			tries=$((tries + 1))
			if [ "$tries" -gt 100 ] || ! alive "${pids[i - 1]}"; then
				cat "$LAB_DIR/be$i.log" >&2 || true
				die "backend be$i did not start"
			fi
			sleep 0.05
		done
		[ "$(cat "$LAB_DIR/be$i.pid")" = "${pids[i - 1]}" ] ||
			die "be$i: pid file says $(cat "$LAB_DIR/be$i.pid"), started ${pids[i - 1]}"
	done

	# Self-check: every backend answers the gateway directly, on both
	# families.
	local target
	for ((i = 1; i <= backends; i++)); do
		for target in "${be_addrs[i - 1]}:$TCP_PORT" "[${be_addrs6[i - 1]}]:$TCP_PORT"; do
			ns_exec "$gw" "$LOADGEN" --tcp --target "$target" --count 1 \
				--timeout-ms 2000 --deadline-ms 4000 >"$LAB_DIR/selfcheck.out" 2>&1 ||
				{ cat "$LAB_DIR/selfcheck.out" >&2; die "gateway cannot reach be$i at $target"; }
			grep -qx "backend be$i 1" "$LAB_DIR/selfcheck.out" ||
				{ cat "$LAB_DIR/selfcheck.out" >&2; die "be$i answered wrongly at $target"; }
		done
	done
	UP_DONE=1

	log "lab $id up: client $cl, gateway $gw, $backends backends, VIP $VIP and $VIP6"
	echo "KNLB_LAB_STATE=$STATE"
}

# True while pid runs.  A zombie does not run (kill -0 would say it does,
# and nobody may reap it soon: our servers' parent, lab.sh up, is gone).
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# TERM to every pid, then KILL to those still running after ~3 s.
# Pids only: never by name.
kill_pids() {
	local pid i left
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((i = 0; i < 60; i++)); do
		left=0
		for pid in "$@"; do
			if alive "$pid"; then left=1; fi
		done
		[ "$left" = 1 ] || return 0
		sleep 0.05
	done
	for pid in "$@"; do
		if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	done
}

cmd_down() {
	if [ "${1:-}" = --all ]; then
		local f
		shopt -s nullglob
		for f in "$STATE_DIR"/*.env; do
			(cmd_down "$f")
		done
		shopt -u nullglob
		return 0
	fi
	need_root
	load_state "${1:-}"
	local ns pid pids=()
	# The servers we started, then anything else still running inside our
	# namespaces (knlbd, a loadgen): all by pid, all ours.
	for pid in ${LAB_SRV_PIDS:-}; do
		[ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = knlb-testsrv ] &&
			pids+=("$pid")
	done
	for ns in $LAB_NAMESPACES; do
		[ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
	done
	if [ "${#pids[@]}" -gt 0 ]; then
		kill_pids "${pids[@]}"
	fi
	for ns in $LAB_NAMESPACES; do
		if [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
	rm -f "$STATE"
	case $LAB_DIR in
	"$STATE_DIR"/*|*.d) rm -rf "$LAB_DIR" ;;
	esac
	log "lab $LAB_ID down"
}

cmd_exec() {
	local role=${1:-}
	if [ -z "$role" ] || [ $# -lt 2 ]; then usage; fi
	shift
	load_state
	local ns
	case $role in
	client|cl) ns=$LAB_NS_CLIENT ;;
	gw|gateway) ns=$LAB_NS_GW ;;
	be[0-9]*|backend[0-9]*)
		local n=${role#be}; n=${n#ackend}
		in_range "$n" 1 "$LAB_BACKENDS" || die "no backend $role"
		local arr
		read -r -a arr <<<"$LAB_NS_BACKENDS"
		ns=${arr[n - 1]} ;;
	*) die "unknown role $role (client, gw, be1..be$LAB_BACKENDS)" ;;
	esac
	exec ip netns exec "$ns" "$@"
}

cmd_status() {
	load_state "${1:-}"
	local ns pid
	echo "lab $LAB_ID ($STATE)"
	for ns in $LAB_NAMESPACES; do
		if [ -e "/run/netns/$ns" ]; then
			echo "  $ns: $(ip -n "$ns" -br addr show scope global | awk '$1 != "lo" { s = s $1; for (i = 3; i <= NF; i++) s = s " " $i; s = s "  " } END { print s }')"
		else
			echo "  $ns: missing"
		fi
	done
	for pid in $LAB_SRV_PIDS; do
		if alive "$pid"; then echo "  server pid $pid running"
		else echo "  server pid $pid gone"; fi
	done
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
exec) shift; cmd_exec "$@" ;;
status) shift; cmd_status "$@" ;;
env) shift; load_state "${1:-}"; cat "$STATE" ;;
*) usage ;;
esac

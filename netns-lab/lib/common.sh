# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# common.sh — sourced by every netns-lab scenario.
#
#   t_init             root check (exit 77), tools, work dir, trap cleanup EXIT
#   lab_up ARGS        lab.sh up ARGS, then source its state (LAB_* variables)
#   multi_lab_begin / multi_lab_namespaces NS.. / multi_lab_bridges NS BR.. /
#   multi_lab_backends NS BR VIA [ARGS]   the shared parts of the labs of
#                      several gateways (lib/ha.sh, lib/scaleout.sh); ns_sysctl
#   conf_global        the [global] section every scenario config starts with
#   conf_backends P W..  one backend line per lab backend, port P, weights W..
#                      (in the scenario's family: see KNLB_LAB_FAMILY below)
#   conf_backends4 / conf_backends6 P W..  the same in one family ([ADDR]:P)
#   conf_backend6 I P [OPTS]  one IPv6 backend line, lab backend I (from 0)
#   client_source I    the I-th extra client address (client_source4/6: a family)
#   knlb_start CONF [ARGS]  knlbd -t, then knlbd -c CONF ARGS in the gateway, wait "programmed"
#   knlb_stop          SIGTERM knlbd (by pid), bounded wait; status in KNLBD_RC
#   knlb_kill9         SIGKILL knlbd (a crash), reap it, check none is left
#   reload_ok TAG CONF knlbctl reload, which must succeed
#   lg NAME ARGS       knlb-loadgen ARGS in the client; output in $WORK/NAME.out
#   lg_get NAME KEY    a summary value ("ok", "failed", ...) from NAME.out
#   lg_backend NAME B  answers from backend B in NAME.out (0 when absent)
#   lg_hold_start NAME ARGS / lg_hold_release NAME   held connections
#   srv_counts / srv_count B KEY   the backend servers' own counters
#   fail MSG / pass    end the scenario; failure dumps ruleset, conntrack, logs
#
# Health-check scenarios (backends that die and come back, timelines):
#   now_ms             wall clock, ms with decimals (the loadgen timeline's clock)
#   srv_stop B [SIG]   stop backend B's server by pid (TERM; KILL = a crash)
#   srv_start B ARGS   start it again (the lab's arguments + ARGS), wait until it listens
#   log_mark / log_wait MARK ERE SECS [N] / log_count MARK ERE   knlbd log lines after MARK
#   lg_bg_start NAME ARGS / lg_bg_stop NAME   a --rate loadgen in the background
#   lg_fail NAME REASON   flows of a loadgen run that failed for REASON
#   tl_count / tl_first / tl_last / tl_wait NAME ...  questions to a loadgen timeline
#   tl_rel NAME MS     a now_ms time as ms since that loadgen's start
#
# KNLB_LAB_RULES=hand runs against lib/hand-render.awk instead of knlbd.
# KNLB_LAB_KEEP=1 keeps the work directory.
#
# KNLB_LAB_FAMILY=6 runs a scenario over IPv6 (the *_v6.sh wrappers set it,
# and KNLB_LAB_NAME for the scenario's name).  A scenario written for both
# uses, after lab_up:
#   VIP                the VIP as the config wants it
#   VIP_HOST           the VIP in a loadgen target: "$VIP_HOST:80" ([IPv6])
#   SRC_RANGE          the extra client addresses, A-B
#   CT_FAMILY          conntrack's -f: ipv4 or ipv6
#   GW_BACKEND_ADDR    the gateway's address on the backend side
#   FAM_BACKEND_ADDRS  the backends' addresses (an array)
#   conf_backends, client_source, backend_target I PORT   in that family

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_ROOT=$(dirname "$LAB_HERE")
export KNLB_BUILD=${KNLB_BUILD:-$LAB_ROOT/build}
LAB_SH=$LAB_HERE/lab.sh
LOADGEN=$KNLB_BUILD/lab/knlb-loadgen
KNLBD=${KNLBD:-$KNLB_BUILD/knlbd}
KNLB_LAB_RULES=${KNLB_LAB_RULES:-knlbd}
T_NAME=${KNLB_LAB_NAME:-$(basename "$0" .sh)}
LAB_FAMILY=${KNLB_LAB_FAMILY:-4}
KNLBD_PID=
HOLD_PID=
# shellcheck disable=SC2034 # read by scenarios
KNLBD_RC=0
KNLBD_LOG=
WORK=
declare -A LG_BG_PIDS=()	# background loadgens (lg_bg_start), by name

say() { echo "[$T_NAME] $*"; }

t_skip() {
	say "SKIP: $*"
	exit 77
}

t_init() {
	[ "$(id -u)" = 0 ] || t_skip "needs root (network namespaces)"
	local tool
	for tool in ip nft conntrack awk; do
		command -v "$tool" >/dev/null || t_skip "$tool not installed"
	done
	case $LAB_FAMILY in
	4|6) ;;
	*) echo "KNLB_LAB_FAMILY: 4 or 6" >&2; exit 2 ;;
	esac
	case $KNLB_LAB_RULES in
	knlbd)
		[ -x "$KNLBD" ] || t_skip "$KNLBD not built (make build/knlbd; or KNLB_LAB_RULES=hand)" ;;
	hand) ;;
	*) echo "KNLB_LAB_RULES: knlbd or hand" >&2; exit 2 ;;
	esac
	WORK=$(mktemp -d "/tmp/knlb-lab-$T_NAME.XXXXXX")
	# One binary for the whole scenario, even if build/knlbd is rebuilt
	# meanwhile (a restart must run the same code).
	if [ "$KNLB_LAB_RULES" = knlbd ]; then
		cp "$KNLBD" "$WORK/knlbd"
		KNLBD=$WORK/knlbd
	fi
	export KNLB_LAB_STATE=$WORK/lab.env
	KNLBD_LOG=$WORK/knlbd.log
	: >"$KNLBD_LOG"
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# DUAL_STACK=1 (set before t_init): a scenario of both families at once.
	say "rules: $KNLB_LAB_RULES; $([ -n "${DUAL_STACK:-}" ] && echo dual-stack || echo "IPv$LAB_FAMILY"); work dir $WORK"
}

t_cleanup() {
	local rc=$?
	trap - EXIT
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		dump_debug >&2
	fi
	if [ -n "${LAB_LEAVE_RUNNING:-}" ] && [ "$rc" -eq 0 ]; then
		exit 0		# demo.sh --keep: lab and knlbd stay up
	fi
	if [ -n "$HOLD_PID" ] && alive "$HOLD_PID"; then
		kill -KILL "$HOLD_PID" 2>/dev/null
	fi
	local bg
	for bg in "${LG_BG_PIDS[@]}"; do
		alive "$bg" && kill -KILL "$bg" 2>/dev/null
	done
	if [ -n "$KNLBD_PID" ]; then
		knlb_stop >/dev/null 2>&1
	fi
	if [ -f "$KNLB_LAB_STATE" ]; then
		LAB_QUIET=1 "$LAB_SH" down "$KNLB_LAB_STATE" >/dev/null 2>&1 ||
			echo "[$T_NAME] lab.sh down failed" >&2
	fi
	if [ -n "$WORK" ] && [ -z "${KNLB_LAB_KEEP:-}" ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "[$T_NAME] kept $WORK" >&2
	fi
	exit "$rc"
}

fail() {
	say "FAIL: $*" >&2
	exit 1
}

pass() {
	say "PASS${1:+: $1}"
	exit 0
}

gw_exec() { ip netns exec "$LAB_NS_GW" "$@"; }

# True while pid runs (a zombie child does not: kill -0 would say it does).
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# The loadgens' failed flows (first 10 per timeline) and, while the
# gateway lives, its conntrack entries for their local ports: where the
# kernel sent each one (a refused connection's entry stays 10 s in CLOSE).
dump_failed_flows() {
	local f line port
	for f in "$WORK"/*.out; do
		[ -s "$f" ] || continue
		grep -q '^flow [0-9]* [0-9.]* fail:' "$f" || continue
		echo "---- $(basename "$f"): failed flows (SEQ START_MS RESULT CONNECT_MS DONE_MS SPORT)"
		grep '^flow [0-9]* [0-9.]* fail:' "$f" | head -n 10 | while read -r line; do
			echo "$line"
			port=${line##* }
			[[ $port =~ ^[0-9]+$ ]] || continue
			if [ -n "${LAB_NS_GW:-}" ] && [ -e "/run/netns/$LAB_NS_GW" ]; then
				gw_exec conntrack -L 2>/dev/null | grep -F " sport=$port " |
					sed 's/^/    gateway conntrack: /'
			fi
		done
	done
}

dump_debug() {
	local f
	echo "======== [$T_NAME] debug dump (work dir $WORK)"
	dump_failed_flows
	if [ -n "${LAB_NS_GW:-}" ] && [ -e "/run/netns/$LAB_NS_GW" ]; then
		echo "---- nft -t list ruleset (gateway; maps without elements)"
		gw_exec nft -t list ruleset 2>&1 | head -n 120
		local m
		for m in $(gw_exec nft -t list ruleset 2>/dev/null | awk '$1 == "map" { print $2 }'); do
			echo "---- nft list map inet knlb $m (first 12 lines)"
			gw_exec nft list map inet knlb "$m" 2>&1 | head -n 12 | cut -c1-160
		done
		echo "---- conntrack -L (gateway; first 60 entries)"
		gw_exec conntrack -L 2>&1 | head -n 61
		echo "---- conntrack -S (gateway)"
		gw_exec conntrack -S 2>&1 | head -n 4
	fi
	echo "---- knlbd log ($KNLBD_LOG, last 80 lines)"
	tail -n 80 "$KNLBD_LOG" 2>/dev/null
	for f in "$WORK"/*.out "$WORK"/*.err; do
		[ -s "$f" ] || continue
		echo "---- $(basename "$f") (first 40 lines)"
		head -n 40 "$f"
	done
	if [ -n "${LAB_DIR:-}" ]; then
		for f in "$LAB_DIR"/*.log; do
			[ -s "$f" ] || continue
			echo "---- $(basename "$f")"
			tail -n 20 "$f"
		done
	fi
	for f in "$WORK"/*.conf; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f")"
		cat "$f"
	done
	echo "======== end of dump"
}

lab_up() {
	"$LAB_SH" up "$@" >"$WORK/lab-up.log" 2>&1 || { cat "$WORK/lab-up.log" >&2; fail "lab.sh up $*"; }
	# shellcheck disable=SC1090
	source "$KNLB_LAB_STATE"
	read -r -a BACKEND_NAMES <<<"$LAB_BACKEND_NAMES"
	# shellcheck disable=SC2153 # from the lab state file
	read -r -a BACKEND_ADDRS <<<"$LAB_BACKEND_ADDRS"
	read -r -a BACKEND_ADDRS6 <<<"${LAB_BACKEND_ADDRS6:-}"
	# shellcheck disable=SC2034 # read by scenarios
	if [ "$LAB_FAMILY" = 6 ]; then
		VIP=$LAB_VIP6
		VIP_HOST="[$LAB_VIP6]"
		SRC_RANGE=$LAB_CLIENT_SOURCE_RANGE6
		CT_FAMILY=ipv6
		GW_BACKEND_ADDR=$LAB_GW_BACKEND_ADDR6
		FAM_BACKEND_ADDRS=("${BACKEND_ADDRS6[@]}")
	else
		VIP=$LAB_VIP
		VIP_HOST=$LAB_VIP
		SRC_RANGE=$LAB_CLIENT_SOURCE_RANGE
		CT_FAMILY=ipv4
		GW_BACKEND_ADDR=$LAB_GW_BACKEND_ADDR
		FAM_BACKEND_ADDRS=("${BACKEND_ADDRS[@]}")
	fi
}

# backend_target I PORT: lab backend I (from 0) as a loadgen target in the
# scenario's family.
backend_target() {
	if [ "$LAB_FAMILY" = 6 ]; then
		echo "[${BACKEND_ADDRS6[$1]}]:$2"
	else
		echo "${BACKEND_ADDRS[$1]}:$2"
	fi
}

# --- labs of several gateways (lib/ha.sh, lib/scaleout.sh) --------------
# They build their own topology, but share its ends: a client namespace,
# three backends 10.0.0.11-13 on a bridge, and the state file that lets
# t_cleanup's `lab.sh down` kill every process in the namespaces and
# delete them.

# ns_sysctl NS KEY=VALUE...
ns_sysctl() {
	local ns=$1; shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

# multi_lab_begin: a fresh LAB_ID, MULTI_PREFIX (knlb-LAB_ID) for the
# namespaces' names, the client's and the backends' namespace names, the
# backends' names and addresses, LAB_DIR.
multi_lab_begin() {
	LAB_ID=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
	MULTI_PREFIX=knlb-$LAB_ID
	LAB_NS_CLIENT=$MULTI_PREFIX-cl
	LAB_NS_BACKENDS="$MULTI_PREFIX-be1 $MULTI_PREFIX-be2 $MULTI_PREFIX-be3"
	BACKEND_NAMES=(be1 be2 be3)
	BACKEND_ADDRS=(10.0.0.11 10.0.0.12 10.0.0.13)
	LAB_DIR=$WORK/lab
	LAB_TESTSRV=$KNLB_BUILD/lab/knlb-testsrv
	# shellcheck disable=SC2034 # read by srv_start
	LAB_BACKEND_TCP_PORT=8080 LAB_BACKEND_UDP_PORT=5353
	mkdir -p "$LAB_DIR"
}

# multi_lab_namespaces NS...: recorded in the state file before they
# exist (a failure half-way still cleans up), then created with lo up,
# IPv6 and rp_filter off.  LAB_NS_GW (the gateway dump_debug looks at)
# must be set.
multi_lab_namespaces() {
	local ns
	{
		printf 'LAB_ID=%q\nLAB_DIR=%q\nLAB_NS_CLIENT=%q\nLAB_NS_GW=%q\n' \
			"$LAB_ID" "$LAB_DIR" "$LAB_NS_CLIENT" "$LAB_NS_GW"
		printf 'LAB_NAMESPACES=%q\n' "$*"
	} >"$KNLB_LAB_STATE"
	for ns in "$@"; do
		ip netns add "$ns" || fail "ip netns add $ns"
		ip -n "$ns" link set lo up
		ns_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
}

# multi_lab_bridges NS BRIDGE...: bridges in NS, up.  br_netfilter is
# active in new namespaces: keep bridged frames out of the inet hooks.
multi_lab_bridges() {
	local ns=$1 br; shift
	for br in "$@"; do ip -n "$ns" link add "$br" type bridge; done
	ns_sysctl "$ns" net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
	for br in "$@"; do ip -n "$ns" link set "$br" up; done
}

# multi_lab_backends NS BRIDGE VIA [SERVER ARGS...]: the three backends,
# each in its namespace on a veth (be1..3) to BRIDGE in NS, default route
# via VIA ("-": none), knlb-testsrv on TCP 8080 (+ ARGS); returns once
# every server wrote its pid file.  Sets LAB_SRV_PIDS (state file too).
multi_lab_backends() {
	local brns=$1 br=$2 via=$3 i n ns pids=() nss
	shift 3
	read -r -a nss <<<"$LAB_NS_BACKENDS"
	for i in 0 1 2; do
		ns=${nss[i]}
		ip -n "$brns" link add "be$((i + 1))" type veth peer name eth0 netns "$ns"
		ip -n "$brns" link set "be$((i + 1))" master "$br" up
		ip -n "$ns" addr add "${BACKEND_ADDRS[i]}/24" dev eth0
		ip -n "$ns" link set eth0 up
		[ "$via" = - ] || ip -n "$ns" route add default via "$via"
		ip netns exec "$ns" "$LAB_TESTSRV" --name "${BACKEND_NAMES[i]}" --tcp 0.0.0.0:8080 \
			"$@" --idle-ms 60000 --count-file "$LAB_DIR/${BACKEND_NAMES[i]}.count" \
			--pid-file "$LAB_DIR/${BACKEND_NAMES[i]}.pid" </dev/null >"$LAB_DIR/${BACKEND_NAMES[i]}.log" 2>&1 &
		pids+=("$!")
	done
	LAB_SRV_PIDS="${pids[*]}"
	echo "LAB_SRV_PIDS=\"$LAB_SRV_PIDS\"" >>"$KNLB_LAB_STATE"
	for i in 0 1 2; do
		for ((n = 0; n < 100; n++)); do
			[ -s "$LAB_DIR/${BACKEND_NAMES[i]}.pid" ] && break
			sleep 0.05
		done
		[ -s "$LAB_DIR/${BACKEND_NAMES[i]}.pid" ] || fail "backend ${BACKEND_NAMES[i]} did not start"
	done
}

conf_global() {
	cat <<-EOF
	[global]
	table = knlb
	log_level = info
	hash_seed = 0x5eed
	control_socket = $WORK/knlb.sock

	EOF
}

# conf_backends PORT WEIGHT... : backend lines for the lab's backends (one
# weight per backend, 1 when fewer weights are given), in the scenario's
# family.
conf_backends() {
	if [ "$LAB_FAMILY" = 6 ]; then
		conf_backends6 "$@"
	else
		conf_backends4 "$@"
	fi
}

# conf_backends4 PORT WEIGHT... : the IPv4 backend lines.
conf_backends4() {
	local port=$1 i w; shift
	for i in "${!BACKEND_ADDRS[@]}"; do
		w=${1:-1}
		[ $# -gt 0 ] && shift
		echo "backend = ${BACKEND_ADDRS[i]}:$port weight=$w id=${BACKEND_NAMES[i]}"
	done
}

# conf_backends6 PORT WEIGHT... : the same as conf_backends with the
# backends' IPv6 addresses ([ADDR]:PORT).  Ids are the backend names plus
# ID6_SUFFIX (default none): a dual-stack service listing a backend under
# both families sets ID6_SUFFIX=-6 (ids are unique in a service); the
# servers answer with the bare name either way.
ID6_SUFFIX=
conf_backends6() {
	local port=$1 i w; shift
	for i in "${!BACKEND_ADDRS6[@]}"; do
		w=${1:-1}
		[ $# -gt 0 ] && shift
		echo "backend = [${BACKEND_ADDRS6[i]}]:$port weight=$w id=${BACKEND_NAMES[i]}$ID6_SUFFIX"
	done
}

# conf_backend6 I PORT [OPTIONS...]: one IPv6 backend line for lab backend
# I (from 0), id as conf_backends6.
conf_backend6() {
	local i=$1 port=$2; shift 2
	echo "backend = [${BACKEND_ADDRS6[i]}]:$port id=${BACKEND_NAMES[i]}$ID6_SUFFIX${*:+ $*}"
}

# Counts "programmed" lines so a restart waits for its own.
programmed_count() {
	grep -c programmed "$KNLBD_LOG" 2>/dev/null || true
}

knlb_table_present() {
	gw_exec nft list table inet knlb >/dev/null 2>&1
}

# `nft list table inet knlb` without the elements of the per-backend
# counting sets (docs/statistics.md; backend_new6 etc. for IPv6): the
# kernel adds and counts those per packet, so they differ between two
# listings of the same programmed table.
# Everything knlbd programs (maps, chains, rules, the sets themselves) stays.
knlb_table_snapshot() {
	local out
	out=$(gw_exec nft list table inet knlb) || return
	awk '
		/^\tset backend_(new|in|out)6? \{/ { inset = 1 }
		inset && /^\t\telements = \{/ { skipping = 1 }
		skipping { if ($0 ~ /\}$/) skipping = 0; next }
		inset && /^\t\}/ { inset = 0 }
		{ print }
	' <<<"$out"
}

# Whether service SVC (default web) sends new flows to address ADDR: some
# slot of its slot maps maps it, unless chain fb_SVC jumps to its chain (a
# large maglev table's fallback shape, docs/architecture.md: the slots of a
# backend out of service read its map SVC_fbN in chain fbN_SVC), or such a
# fallback map maps it.  Exit 0 yes, 1 no, 2 no table.
knlb_forwards_to() {
	local addr=$1 svc=${2:-web} out
	out=$(gw_exec nft list table inet knlb) || return 2
	awk -v svc="$svc" -v addr="$addr" '
		/^\t(map|set|chain) [^ ]+ \{/ { kind = $1; cur = $2; inelem = 0; next }
		kind == "chain" && cur == "fb_" svc {
			# jump fb<N>_SVC: the chain reading map SVC_fb<N>
			if (match($0, /jump fb[0-9]+_/))
				read[svc "_fb" substr($0, RSTART + 7, RLENGTH - 8)] = 1
			next
		}
		kind == "map" && /elements = \{/ { inelem = 1; sub(/.*elements = \{/, "") }
		kind == "map" && inelem {
			n = split($0, part, ",")
			for (i = 1; i <= n; i++) {
				if (split(part[i], f, " ") >= 3 && f[2] == ":") {
					val[cur, f[1]] = f[3]
					keys[cur] = keys[cur] " " f[1]
				}
			}
			if ($0 ~ /\}/) inelem = 0
		}
		END {
			for (m in read) {
				split(keys[m], k, " ")
				for (i in k) {
					fwd[val[m, k[i]]] = 1
					# the family of the map: its values are IPv6 or not
					fam = index(val[m, k[i]], ":") ? "6" : ""
					owner = val[svc "_slots" fam, k[i]]
					if (owner != "") dead[owner] = 1
				}
			}
			for (b = 0; b < 2; b++) {
				base = svc "_slots" (b ? "6" : "")
				split(keys[base], k, " ")
				for (i in k)
					if (!(val[base, k[i]] in dead)) fwd[val[base, k[i]]] = 1
			}
			exit !(addr in fwd)
		}
	' <<<"$out"
}

# The knlbd daemons running in the gateway namespace: not their
# unprivileged workers (spawner, health prober, metrics), whose parent is a knlbd.
knlbd_pids() {
	local pid ppid
	for pid in $(ip netns pids "$LAB_NS_GW" 2>/dev/null); do
		if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$KNLBD" ]; then
			ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
			[ "$(readlink "/proc/$ppid/exe" 2>/dev/null)" = "$KNLBD" ] || echo "$pid"
		fi
	done
}

# KNLBD_PID must be the one knlbd in the gateway: signals go to it.
knlbd_pid_check() {
	local pids
	pids=$(knlbd_pids | tr '\n' ' ')
	[ "$pids" = "$KNLBD_PID " ] ||
		fail "knlbd in the gateway: pids '$pids', expected '$KNLBD_PID'"
}

# knlb_start CONF [ARGS...]: check it, run knlbd (with ARGS, e.g.
# --flush-on-exit) in the gateway and wait until the table is in the kernel
# (the "programmed" log line, else the table itself).
knlb_start() {
	local conf=$1 before i
	shift
	if [ "$KNLB_LAB_RULES" = hand ]; then
		awk -f "$LAB_HERE/lib/hand-render.awk" "$conf" >"$WORK/hand.nft" || fail "hand-render $conf"
		gw_exec nft -f "$WORK/hand.nft" || fail "nft -f hand.nft"
		echo "hand rules loaded: programmed" >>"$KNLBD_LOG"
		return 0
	fi
	echo "---- knlbd -t -c $conf" >>"$KNLBD_LOG"
	"$KNLBD" -t -c "$conf" >>"$KNLBD_LOG" 2>&1 || fail "knlbd -t rejects $conf"
	before=$(programmed_count)
	echo "---- knlbd -c $conf $* (start $(date +%T.%N))" >>"$KNLBD_LOG"
	# Not through gw_exec: backgrounding a function forks a subshell, and
	# $! would be that shell, not knlbd (ip netns exec execs the program).
	ip netns exec "$LAB_NS_GW" "$KNLBD" -c "$conf" "$@" </dev/null >>"$KNLBD_LOG" 2>&1 &
	KNLBD_PID=$!
	for ((i = 0; i < 100; i++)); do	# 10 s
		if [ "$(programmed_count)" -gt "$before" ]; then
			knlbd_pid_check
			return 0
		fi
		if ! alive "$KNLBD_PID"; then
			wait "$KNLBD_PID" 2>/dev/null
			local rc=$?
			KNLBD_PID=
			fail "knlbd exited (status $rc) before programming the table"
		fi
		sleep 0.1
	done
	say "warning: no 'programmed' line from knlbd in 10 s; polling the table" >&2
	for ((i = 0; i < 50; i++)); do	# 5 s
		if knlb_table_present; then
			knlbd_pid_check
			return 0
		fi
		sleep 0.1
	done
	fail "knlbd did not program table inet knlb within 15 s"
}

# SIGTERM knlbd and wait (bounded) for it; its exit status goes to
# KNLBD_RC (not printed: a $(...) subshell could not wait for it).
knlb_stop() {
	local pid=$KNLBD_PID i rc
	KNLBD_RC=0
	[ -n "$pid" ] || return 0
	KNLBD_PID=
	echo "---- SIGTERM knlbd $pid ($(date +%T.%N))" >>"$KNLBD_LOG"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do	# 5 s
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		echo "knlbd $pid ignored SIGTERM for 5 s: SIGKILL" >>"$KNLBD_LOG"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	echo "---- knlbd exit status $rc" >>"$KNLBD_LOG"
	# shellcheck disable=SC2034 # read by scenarios
	KNLBD_RC=$rc
	if [ -n "$(knlbd_pids)" ]; then
		fail "a knlbd still runs in the gateway after knlbd $pid exited: $(knlbd_pids | tr '\n' ' ')"
	fi
	return 0
}

# knlb_wait_ctl: wait (bounded, 5 s) until knlbd's loop answers on its
# control socket.  knlbd logs "programmed" before its start-up work after
# the table (the serving backends' fallback maps, filled right after it)
# and answers only once that is done: read the table after this.
knlb_wait_ctl() {
	local i rc
	for ((i = 0; i < 50; i++)); do
		rc=0
		"$KNLB_BUILD/knlbctl" -s "$WORK/knlb.sock" -t 5 status >/dev/null 2>&1 || rc=$?
		# 4: a warning (a backend down); the loop answered
		if [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# knlb_kill9: SIGKILL knlbd (no cleanup at all), reap it, check none is left.
knlb_kill9() {
	local pid=$KNLBD_PID i
	KNLBD_PID=
	echo "---- SIGKILL knlbd $pid ($(date +%T.%N))" >>"$KNLBD_LOG"
	kill -KILL "$pid"
	disown "$pid" 2>/dev/null || true	# no "Killed" job notice; bash still reaps it
	for ((i = 0; i < 100; i++)); do	# 5 s
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && fail "knlbd $pid still runs 5 s after SIGKILL"
	[ -z "$(knlbd_pids)" ] || fail "a knlbd still runs after SIGKILL: $(knlbd_pids | tr '\n' ' ')"
}

# reload_ok TAG CONF: `knlbctl reload` (control socket $WORK/knlb.sock)
# exits 0 and replies "reloaded CONF:"; the reply is in $WORK/TAG.reply.
reload_ok() {
	local rc=0
	"$KNLB_BUILD/knlbctl" -s "$WORK/knlb.sock" reload >"$WORK/$1.reply" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || { cat "$WORK/$1.reply" >&2; fail "$1: knlbctl reload exited $rc"; }
	grep -q "^reloaded $2:" "$WORK/$1.reply" ||
		{ cat "$WORK/$1.reply" >&2; fail "$1: no 'reloaded' in the reply"; }
}

# lg NAME ARGS: one loadgen run from the client namespace.  Never fails the
# script by itself: scenarios assert on the numbers.  LG_RC has the status.
lg() {
	local name=$1; shift
	LG_RC=0
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 2000 --deadline-ms 30000 "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || LG_RC=$?
	if [ "$LG_RC" -ge 2 ]; then
		cat "$WORK/$name.err" >&2
		fail "knlb-loadgen $name: usage error"
	fi
}

lg_get() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/$1.out"
}

lg_backend() {
	awk -v b="$2" '$1 == "backend" && $2 == b { n = $3 } END { print n + 0 }' "$WORK/$1.out"
}

# client_source I: the I-th (from 0) extra client source address, in the
# scenario's family.
client_source() {
	if [ "$LAB_FAMILY" = 6 ]; then
		client_source6 "$@"
	else
		client_source4 "$@"
	fi
}

# client_source4 I: the I-th extra IPv4 client source address.
client_source4() {
	awk -v i="$1" '{ split($0, r, "-"); split(r[1], a, "."); printf "%s.%s.%s.%d\n", a[1], a[2], a[3], a[4] + i }' \
		<<<"$LAB_CLIENT_SOURCE_RANGE"
}

# client_source6 I: the I-th (from 0) extra IPv6 client source address
# (LAB_CLIENT_SOURCE_RANGE6 counts in hex in the last group).
client_source6() {
	local first=${LAB_CLIENT_SOURCE_RANGE6%%-*}
	printf '%s:%x\n' "${first%:*}" "$((0x${first##*:} + $1))"
}

# pct A B: A/B as a percentage with one decimal.
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'
}

# within A B TOL: |A - B| <= TOL (decimals allowed).
within() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# srv_counts: ask every backend server for its counters (SIGUSR1 by pid)
# and wait, bounded, until each has written them to $LAB_DIR/NAME.count.
srv_counts() {
	local pids i name
	read -r -a pids <<<"$LAB_SRV_PIDS"
	for i in "${!pids[@]}"; do
		name=${BACKEND_NAMES[i]}
		rm -f "$LAB_DIR/$name.count"
		kill -USR1 "${pids[i]}" 2>/dev/null || fail "backend $name (pid ${pids[i]}) is gone"
	done
	for name in "${BACKEND_NAMES[@]}"; do
		for ((i = 0; i < 50; i++)); do
			[ -s "$LAB_DIR/$name.count" ] && break
			sleep 0.05
		done
		[ -s "$LAB_DIR/$name.count" ] || fail "backend $name wrote no counters"
	done
}

# srv_count NAME KEY: one counter from the last srv_counts.
srv_count() {
	awk -v k="$2" '$1 == k { print $2 }' "$LAB_DIR/$1.count"
}

# lg_hold_start NAME ARGS: a loadgen in the background (client namespace)
# that opens its connections, gets one answer on each and holds them
# (--hold-ms) until lg_hold_release.  Returns once every connection holds.
lg_hold_start() {
	local name=$1 i; shift
	rm -f "$WORK/$name.ready"
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 2000 --hold-ms 60000 \
		--deadline-ms 90000 --ready-file "$WORK/$name.ready" "$@" \
		</dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
	HOLD_PID=$!
	for ((i = 0; i < 100; i++)); do	# 10 s
		[ -s "$WORK/$name.ready" ] && return 0
		alive "$HOLD_PID" || break
		sleep 0.1
	done
	fail "loadgen $name never held its connections"
}

# lg_hold_release NAME: SIGUSR1 ends the holds: every connection asks once
# more; wait (bounded) for the loadgen to report.
lg_hold_release() {
	local name=$1 i
	kill -USR1 "$HOLD_PID" 2>/dev/null || fail "loadgen $name is gone"
	for ((i = 0; i < 100; i++)); do	# 10 s
		alive "$HOLD_PID" || break
		sleep 0.1
	done
	if alive "$HOLD_PID"; then
		kill -KILL "$HOLD_PID" 2>/dev/null || true
		fail "loadgen $name did not finish 10 s after release"
	fi
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
}

# ---------------------------------------------------------------------
# Health-check scenarios.

# now_ms: the wall clock in ms with 3 decimals, without a fork of date.
# CLOCK_REALTIME, as the loadgen's start_unix_ms.
now_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo "${t:0:${#t}-3}.${t:${#t}-3}"
}

# ms_diff A B: B - A, rounded to whole ms.
ms_diff() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f\n", b - a }'
}

# backend_index NAME: its index in BACKEND_NAMES.
backend_index() {
	local i
	for i in "${!BACKEND_NAMES[@]}"; do
		[ "${BACKEND_NAMES[i]}" = "$1" ] && { echo "$i"; return 0; }
	done
	fail "no backend $1"
}

# srv_pid NAME: the pid of backend NAME's server (LAB_SRV_PIDS, which
# srv_start keeps current, so srv_counts keeps working).
srv_pid() {
	local pids
	read -r -a pids <<<"$LAB_SRV_PIDS"
	echo "${pids[$(backend_index "$1")]}"
}

srv_set_pid() {
	local pids
	read -r -a pids <<<"$LAB_SRV_PIDS"
	pids[$2]=$1
	LAB_SRV_PIDS="${pids[*]}"
}

# srv_stop NAME [SIGNAL]: signal backend NAME's server by pid (TERM by
# default; KILL is a crash) and wait, bounded, until it is gone.
srv_stop() {
	local name=$1 sig=${2:-TERM} pid i
	pid=$(srv_pid "$name")
	kill "-$sig" "$pid" 2>/dev/null || fail "backend $name (pid $pid) is gone already"
	for ((i = 0; i < 100; i++)); do	# 5 s
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && fail "backend $name (pid $pid) still runs 5 s after SIG$sig"
	wait "$pid" 2>/dev/null || true		# ours when srv_start started it
}

# srv_start NAME [ARGS...]: start backend NAME's server again in its
# namespace, with the arguments lab.sh gives it plus ARGS; returns once
# it listens (pid file written).
srv_start() {
	local name=$1 i idx ns pid nss; shift
	idx=$(backend_index "$name")
	read -r -a nss <<<"$LAB_NS_BACKENDS"
	ns=${nss[idx]}
	rm -f "$LAB_DIR/$name.pid"
	# Directly, not through a function: $! must be the server.
	# LAB_SRV_TCP/UDP: [::]:PORT (both families) from lab.sh; a topology
	# without them (lib/ha.sh) listens on IPv4.
	ip netns exec "$ns" "$LAB_TESTSRV" --name "$name" \
		--tcp "${LAB_SRV_TCP:-0.0.0.0:$LAB_BACKEND_TCP_PORT}" \
		--udp "${LAB_SRV_UDP:-0.0.0.0:$LAB_BACKEND_UDP_PORT}" --idle-ms 60000 \
		--count-file "$LAB_DIR/$name.count" --pid-file "$LAB_DIR/$name.pid" "$@" \
		</dev/null >>"$LAB_DIR/$name.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do	# 5 s
		[ -s "$LAB_DIR/$name.pid" ] && break
		alive "$pid" || break
		sleep 0.05
	done
	[ "$(cat "$LAB_DIR/$name.pid" 2>/dev/null)" = "$pid" ] ||
		fail "backend $name did not start again (pid $pid)"
	srv_set_pid "$pid" "$idx"
}

# log_mark: the knlbd log's length in lines, for log_wait.
log_mark() {
	wc -l <"$KNLBD_LOG"
}

# log_wait MARK ERE SECS [N]: wait until N (default 1) knlbd log lines
# after line MARK match ERE (grep -Ei: case does not matter), polling every
# 20 ms for at most SECS seconds.  Sets LOG_LINE (the Nth such line) and
# LOG_SEEN_MS (now_ms when it was seen: the log has no timestamps, so this
# is late by up to one poll).  Returns 1 on timeout; the scenario decides
# whether that fails it.
log_wait() {
	local mark=$1 ere=$2 secs=$3 n=${4:-1} i
	LOG_LINE=
	LOG_SEEN_MS=
	for ((i = 0; i < secs * 50; i++)); do
		LOG_LINE=$(tail -n "+$((mark + 1))" "$KNLBD_LOG" | grep -Ei -m"$n" -- "$ere" |
			sed -n "${n}p" || true)
		if [ -n "$LOG_LINE" ]; then
			# shellcheck disable=SC2034 # read by scenarios
			LOG_SEEN_MS=$(now_ms)
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# log_count MARK ERE: knlbd log lines after line MARK matching ERE (grep -Ei).
log_count() {
	tail -n "+$(($1 + 1))" "$KNLBD_LOG" | grep -Eic -- "$2" || true
}

# lg_bg_start NAME ARGS: a loadgen with --rate (ARGS) in the background, in
# the client namespace; its timeline goes to $WORK/NAME.out line by line.
# Returns once its first flow has ended.
lg_bg_start() {
	local name=$1 i pid; shift
	rm -f "$WORK/$name.ready"
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 1000 \
		--ready-file "$WORK/$name.ready" "$@" \
		</dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	LG_BG_PIDS[$name]=$pid
	for ((i = 0; i < 100; i++)); do	# 10 s
		[ -s "$WORK/$name.ready" ] && return 0
		alive "$pid" || break
		sleep 0.1
	done
	fail "loadgen $name did not get going"
}

# lg_bg_stop NAME: SIGUSR1 (no new flows; those under way finish), then
# wait, bounded, for its report.  LG_RC has its status.
lg_bg_stop() {
	local name=$1 pid i
	pid=${LG_BG_PIDS[$name]:?}
	kill -USR1 "$pid" 2>/dev/null || true	# it may have finished already
	for ((i = 0; i < 100; i++)); do	# 10 s
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "loadgen $name did not finish 10 s after SIGUSR1"
	fi
	LG_RC=0
	wait "$pid" 2>/dev/null || LG_RC=$?
	unset "LG_BG_PIDS[$name]"
	[ "$LG_RC" -lt 2 ] || { cat "$WORK/$name.err" >&2; fail "knlb-loadgen $name: usage error"; }
}

# tl_rel NAME MS: a now_ms time as ms since loadgen NAME started (its
# timeline's START_MS scale).
tl_rel() {
	awk -v t="$2" '$1 == "start_unix_ms" { printf "%.1f\n", t - $2; exit }' "$WORK/$1.out"
}

# Timeline questions.  Flow lines: flow SEQ START_MS RESULT CONNECT_MS DONE_MS;
# RESULT is a backend name or fail:REASON; ERE is matched against all of it
# (anchored), e.g. 'be2', 'fail:.*', 'be[12]'.  "inf" works as a bound.
# tl_count NAME FROM TO ERE: flows that started in [FROM, TO) with RESULT ~ ERE.
tl_count() {
	awk -v from="$2" -v to="$3" -v re="^($4)\$" '
		BEGIN { if (to == "inf") to = 1e18 }
		$1 == "flow" && $3 >= from && $3 < to && $4 ~ re { n++ }
		END { print n + 0 }' "$WORK/$1.out"
}

# tl_first NAME FROM ERE: START_MS of the first such flow at or after FROM; -1.
tl_first() {
	awk -v from="$2" -v re="^($3)\$" '
		BEGIN { m = -1 }
		$1 == "flow" && $3 >= from && $4 ~ re && (m < 0 || $3 < m) { m = $3 }
		END { print m }' "$WORK/$1.out"
}

# tl_last NAME TO ERE: START_MS of the last such flow before TO; -1.
tl_last() {
	awk -v to="$2" -v re="^($3)\$" '
		BEGIN { m = -1; if (to == "inf") to = 1e18 }
		$1 == "flow" && $3 < to && $4 ~ re && $3 > m { m = $3 }
		END { print m }' "$WORK/$1.out"
}

# tl_results NAME FROM TO: "RESULT count" per result in [FROM, TO), for logs.
tl_results() {
	awk -v from="$2" -v to="$3" '
		BEGIN { if (to == "inf") to = 1e18 }
		$1 == "flow" && $3 >= from && $3 < to { n[$4]++ }
		END { for (r in n) printf "%s %d  ", r, n[r]; print "" }' "$WORK/$1.out"
}

# measure TEXT: a measured figure, one greppable line.
measure() {
	echo "measure: [$T_NAME] $*"
}

# ge A B / lt A B: numeric comparisons with decimals.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# tl_wait NAME FROM ERE N SECS: wait until loadgen NAME's timeline has N
# flows started at or after FROM with RESULT ~ ERE; polls every 50 ms for
# at most SECS seconds.  Returns 1 on timeout.
tl_wait() {
	local name=$1 from=$2 ere=$3 n=$4 secs=$5 i
	for ((i = 0; i < secs * 20; i++)); do
		[ "$(tl_count "$name" "$from" inf "$ere")" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

# lg_fail NAME REASON: flows of loadgen NAME that failed for REASON
# (connect_refused, connect_timeout, udp_timeout, http_status, ...); 0 if none.
lg_fail() {
	awk -v r="$2" '$1 == "fail" && $2 == r { n = $3 } END { print n + 0 }' "$WORK/$1.out"
}

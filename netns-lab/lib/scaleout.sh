# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# scaleout.sh — the active/active lab of scaleout_*.sh, sourced after
# common.sh (docs/scale-out.md, conf/scaleout/): three gateways behind a
# router that spreads a VIP over them with ECMP, each gateway's BIRD
# announcing the VIP over BGP (BFD on) while its knlbd keeps the route.
#
#   so_deps              bird2 through netns-lab/deps.sh (nothing starts on
#                        the host); exit 77 if it cannot be installed
#   so_up                namespaces, links, three backends, router BIRD
#   so_gw_start N        knlbd and BIRD in gateway N (1..3), own pid,
#                        socket, config and log files under $WORK/gwN
#   so_gw_die N          the node dies: every packet of gateway N dropped
#                        (no BGP notification, no link change: only BFD
#                        can tell; SO_DIED_MS: when), then its BIRD and
#                        knlbd get SIGKILL
#   so_route_watch_start / so_route_change_ms AFTER   the router's route
#                        changes as the kernel reported them, timestamped
#   so_gw_revive N       the drop rules go; so_gw_start N again
#   so_nexthops          the router's next hops for the VIP: "1 2 3", ...
#   so_wait_nexthops WANT SECS   until so_nexthops is WANT
#   so_knlbctl N ARGS    knlbctl against gateway N's knlbd
#
#  client ns ------- router ns ---- gw1: 10.1.1.1/30 <-> 10.1.1.2/30 up0
#  198.51.100.2,     198.51.100.1  gw2: 10.1.2.1/30 <-> 10.1.2.2/30 up0
#  .100-.227         BIRD, ECMP    gw3: 10.1.3.1/30 <-> 10.1.3.2/30 up0
#                                        |  backend0 10.0.0.(1+N)/24
#                                  brb (bridge ns) ---- be1..3 10.0.0.11-13
#
# The namespaces are recorded in a lab.sh state file, so t_cleanup's
# `lab.sh down` kills every process in them by pid (BIRD, knlbd) and
# deletes them.

SO_CONF=$LAB_ROOT/conf/scaleout
SO_VIP=192.0.2.10
SO_TABLE=4242
declare -a SO_NS_GW=()
declare -a SO_BIRD_PID=() SO_KNLBD_PID=()

# BFD at 100 ms x 3 is soft real time: a BIRD that waits 300 ms for a CPU
# misses its deadlines and its peers drop every session at once (seen in
# the router's log as "Received: Cease" from live gateways), and then
# routes churn and connections reset for reasons that have nothing to do
# with knlb.  On a loaded 2-core machine (make test, other labs, compilers)
# that happens, so every BIRD runs SCHED_RR, as a routing daemon on a
# real router does not share its CPU with a build.  Empty when the kernel
# refuses (no RT budget in this cgroup): then BFD flaps are possible.
SO_BIRD_SCHED=(chrt --rr 10)

so_deps() {
	if ! chrt --rr 10 true 2>/dev/null; then
		say "note: chrt --rr refused: BIRD runs SCHED_OTHER (BFD may flap under load)"
		SO_BIRD_SCHED=()
	fi
	command -v bird >/dev/null && command -v birdc >/dev/null && return 0
	KNLB_DEPS_NAME=scaleout-deps bash "$LAB_HERE/deps.sh" bird2 >"$WORK/deps.log" 2>&1 ||
		say "note: deps.sh exited $?: $(tail -n 3 "$WORK/deps.log" | tr '\n' ' ')"
	if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
		cat "$WORK/deps.log"
		t_skip "bird2 cannot be installed (see above)"
	fi
}

# so_bird_start NAME NS CONF: BIRD in NS with its own socket, in the
# foreground (-f) so that its pid is the one started and kept.
so_bird_start() {
	local name=$1 ns=$2 conf=$3 dir=$WORK/$1 n
	bird -p -c "$conf" 2>"$dir/bird.parse" || fail "bird rejects $conf: $(cat "$dir/bird.parse")"
	ip netns exec "$ns" "${SO_BIRD_SCHED[@]}" bird -f -c "$conf" -s "$dir/bird.ctl" \
		-P "$dir/bird.pid" </dev/null >"$dir/bird.log" 2>&1 &
	echo $! >"$dir/bird.main.pid"
	for ((n = 0; n < 50; n++)); do
		[ -S "$dir/bird.ctl" ] && return 0
		sleep 0.1
	done
	fail "BIRD in $name: no control socket ($(tail -n 3 "$dir/bird.log"))"
}

so_up() {
	local p ns i
	multi_lab_begin
	p=$MULTI_PREFIX
	SO_NS_RT=$p-rt
	SO_NS_BR=$p-br
	SO_NS_GW=("" "$p-g1" "$p-g2" "$p-g3")
	# shellcheck disable=SC2034 # read by multi_lab_namespaces, dump_debug
	LAB_NS_GW=${SO_NS_GW[1]}
	mkdir -p "$WORK/rt"
	# shellcheck disable=SC2086 # LAB_NS_BACKENDS: one word each
	multi_lab_namespaces "$LAB_NS_CLIENT" "$SO_NS_RT" "$SO_NS_BR" "${SO_NS_GW[1]}" \
		"${SO_NS_GW[2]}" "${SO_NS_GW[3]}" $LAB_NS_BACKENDS

	# client <-> router
	ip -n "$SO_NS_RT" link add cl0 type veth peer name eth0 netns "$LAB_NS_CLIENT"
	ip -n "$SO_NS_RT" addr add 198.51.100.1/24 dev cl0
	ip -n "$SO_NS_RT" link set cl0 up
	ip -n "$LAB_NS_CLIENT" addr add 198.51.100.2/24 dev eth0
	for ((i = 100; i < 228; i++)); do echo "addr add 198.51.100.$i/24 dev eth0"; done |
		ip -n "$LAB_NS_CLIENT" -batch -
	ip -n "$LAB_NS_CLIENT" link set eth0 up
	ip -n "$LAB_NS_CLIENT" route add default via 198.51.100.1
	LAB_CLIENT_SOURCE_RANGE=198.51.100.100-198.51.100.227
	# The router: L4 multipath hashing, so one client address's
	# connections spread too (docs/scale-out.md).
	ns_sysctl "$SO_NS_RT" net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1

	# the backend segment: a bridge in its own namespace
	multi_lab_bridges "$SO_NS_BR" brb

	for i in 1 2 3; do
		ns=${SO_NS_GW[i]}
		mkdir -p "$WORK/gw$i"
		ns_sysctl "$ns" net.ipv4.ip_forward=1
		ip -n "$SO_NS_RT" link add "gw$i" type veth peer name up0 netns "$ns"
		ip -n "$SO_NS_RT" addr add "10.1.$i.1/30" dev "gw$i"
		ip -n "$SO_NS_RT" link set "gw$i" up
		ip -n "$ns" addr add "10.1.$i.2/30" dev up0
		ip -n "$ns" link set up0 up
		ip -n "$ns" route add default via "10.1.$i.1"
		ip -n "$SO_NS_BR" link add "g$i" type veth peer name backend0 netns "$ns"
		ip -n "$SO_NS_BR" link set "g$i" master brb up
		ip -n "$ns" addr add "10.0.0.$((i + 1))/24" dev backend0
		ip -n "$ns" link set backend0 up
	done

	# No default route: every gateway SNATs to its own 10.0.0.x.
	multi_lab_backends "$SO_NS_BR" brb -

	local peers=
	for i in 1 2 3; do
		peers+="protocol bgp gw$i from gwpeer { neighbor 10.1.$i.2 as 65001; }"$'\n'
	done
	awk -v peers="$peers" '{ if ($0 == "@GATEWAYS@") printf "%s", peers; else print }' \
		"$SO_CONF/bird-router.conf" | sed -e 's/@ROUTER_ID@/10.1.0.1/' >"$WORK/rt/bird.conf"
	so_bird_start rt "$SO_NS_RT" "$WORK/rt/bird.conf"
}

# The lab's gateway config: conf/scaleout's, with this gateway's socket.
so_knlb_conf() {
	sed -e "s|^control_socket = .*|control_socket = $WORK/gw$1/knlb.sock|" \
		"$SO_CONF/knlb-gateway.conf"
}

so_gw_start() {
	local i=$1 dir=$WORK/gw$1 ns=${SO_NS_GW[$1]} n
	so_knlb_conf "$i" >"$dir/knlb.conf"
	"$KNLBD" -t -c "$dir/knlb.conf" >"$dir/knlbd.log" 2>&1 || fail "knlbd -t rejects $dir/knlb.conf"
	ip netns exec "$ns" "$KNLBD" -c "$dir/knlb.conf" </dev/null >>"$dir/knlbd.log" 2>&1 &
	SO_KNLBD_PID[i]=$!
	for ((n = 0; n < 100; n++)); do
		grep -q programmed "$dir/knlbd.log" && break
		sleep 0.05
	done
	grep -q programmed "$dir/knlbd.log" || fail "knlbd in gw$i did not program its table"
	sed -e "s/@ROUTER_ID@/10.1.$i.2/" -e "s/@UPLINK@/up0/" -e "s/@LOCAL_ADDR@/10.1.$i.2/" \
		-e "s/@NEIGHBOR@/10.1.$i.1/" "$SO_CONF/bird-gateway.conf" >"$dir/bird.conf"
	so_bird_start "gw$i" "$ns" "$dir/bird.conf"
	SO_BIRD_PID[i]=$(cat "$dir/bird.main.pid")
}

# so_gw_die N: the node stops answering at once (nothing leaves, nothing
# enters: a dying BIRD's TCP FIN must not tell the router), then its
# processes die.  Links stay up, as when a server freezes or loses power
# behind a switch.
so_gw_die() {
	local i=$1 ns=${SO_NS_GW[$1]}
	# The time of death is read right after nft's commit by a shell of
	# BIRD's priority: this script, woken later on a loaded machine, would
	# shorten every time to detect measured from it.
	# shellcheck disable=SC2016 # expanded by the inner bash
	SO_DIED_MS=$(ip netns exec "$ns" "${SO_BIRD_SCHED[@]}" bash -c \
		'nft -f - && t=${EPOCHREALTIME//[!0-9]/} && echo "${t:0:${#t}-3}.${t:${#t}-3}"' <<-EOF
	table inet so_dead {
		chain dead_in { type filter hook prerouting priority -400; policy drop; }
		chain dead_out { type filter hook output priority -400; policy drop; }
	}
	EOF
	) && [ -n "$SO_DIED_MS" ] || fail "gw$i: nft drop rules"
	kill -KILL "${SO_BIRD_PID[i]}" "${SO_KNLBD_PID[i]}" 2>/dev/null || true
	wait "${SO_BIRD_PID[i]}" "${SO_KNLBD_PID[i]}" 2>/dev/null || true
	rm -f "$WORK/gw$i/bird.ctl"
}

so_gw_revive() {
	local i=$1
	ip netns exec "${SO_NS_GW[i]}" nft delete table inet so_dead || fail "gw$i: nft delete"
	: >"$WORK/gw$i/knlbd.log.prev"
	cat "$WORK/gw$i/knlbd.log" >>"$WORK/gw$i/knlbd.log.prev"
	so_gw_start "$i"
}

# The router's next hops for the VIP, as gateway numbers: "1 2 3".
so_nexthops() {
	ip -n "$SO_NS_RT" -4 route show "$SO_VIP/32" 2>/dev/null |
		grep -oE 'via 10\.1\.[0-9]+\.2' | awk -F. '{ print $3 }' | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# so_wait_nexthops WANT SECS: polls every 10 ms, for SECS of wall time
# (a count of polls would stretch with the machine's load).
so_wait_nexthops() {
	local want=$1 deadline
	deadline=$(($(so_clock_ms) + $2 * 1000))
	while :; do
		[ "$(so_nexthops)" = "$want" ] && return 0
		[ "$(so_clock_ms)" -lt "$deadline" ] || return 1
		sleep 0.01
	done
}

# so_route_watch_start: every route change in the router, stamped by the
# kernel-event reader itself (`ip -ts monitor`, SCHED_RR like BIRD), so a
# time to detect is not the scenario's polling lag on a loaded machine.
so_route_watch_start() {
	ip netns exec "$SO_NS_RT" "${SO_BIRD_SCHED[@]}" ip -ts monitor route \
		</dev/null >"$WORK/rt/routes.log" 2>&1 &
	SO_WATCH_PID=$!
}

so_route_watch_stop() {
	kill "$SO_WATCH_PID" 2>/dev/null || true
	wait "$SO_WATCH_PID" 2>/dev/null || true
}

# so_route_change_ms AFTER_MS: when (now_ms's clock) the router's route to
# the VIP first changed after AFTER_MS; empty when it did not.
so_route_change_ms() {
	awk -v after="$1" -v vip="$SO_VIP" '
		/^\[/ && ($2 == vip || ($2 == "Deleted" && $3 == vip)) {
			t = substr($1, 2, length($1) - 2)	# 2026-12-03T22:47:31.574371
			split(t, dt, /[-T:]/)
			ms = (mktime(dt[1] " " dt[2] " " dt[3] " " dt[4] " " dt[5] " " int(dt[6])) + \
			      (dt[6] - int(dt[6]))) * 1000
			if (ms > after) { printf "%.3f\n", ms; exit }
		}' "$WORK/rt/routes.log"
}

so_clock_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo "${t:0:${#t}-3}"
}

# Sessions the router lost to a live gateway (its BFD or BGP said so):
# a stalled machine, not knlb.  The planned deaths do not count: a dead
# gateway sends nothing, the router's own BFD notices.
so_flaps() {
	grep -c 'Received: Cease' "$WORK/rt/bird.log" 2>/dev/null || true
}

# so_fail MSG: fail, saying whether BGP sessions flapped meanwhile.
so_fail() {
	local n
	n=$(so_flaps)
	[ "${n:-0}" = 0 ] && fail "$*"
	fail "$* -- the router's BIRD logged $n session drop(s) by live gateways ($WORK/rt/bird.log): the machine stalled BIRD past BFD's 300 ms"
}

so_knlbctl() {
	local i=$1; shift
	ip netns exec "${SO_NS_GW[i]}" "$KNLB_BUILD/knlbctl" -s "$WORK/gw$i/knlb.sock" "$@"
}

so_digests() {
	so_knlbctl "$1" status 2>/dev/null |
		awk '$1 == "service" { for (f = 1; f < NF; f++) if ($f == "digest") print $2, $(f + 1) }'
}

# so_ct_count N PORT: conntrack entries to the VIP's PORT in gateway N.
so_ct_count() {
	ip netns exec "${SO_NS_GW[$1]}" conntrack -L -p tcp -d "$SO_VIP" --dport "$2" 2>/dev/null | wc -l
}

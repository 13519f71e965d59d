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
#                        can tell), then its BIRD and knlbd get SIGKILL
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

so_deps() {
	command -v bird >/dev/null && command -v birdc >/dev/null && return 0
	KNLB_DEPS_NAME=scaleout-deps bash "$LAB_HERE/deps.sh" bird2 >"$WORK/deps.log" 2>&1 ||
		say "note: deps.sh exited $?: $(tail -n 3 "$WORK/deps.log" | tr '\n' ' ')"
	if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
		cat "$WORK/deps.log"
		t_skip "bird2 cannot be installed (see above)"
	fi
}

so_sysctl() {
	local ns=$1; shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

# so_bird_start NAME NS CONF: BIRD in NS with its own socket, in the
# foreground (-f) so that its pid is the one started and kept.
so_bird_start() {
	local name=$1 ns=$2 conf=$3 dir=$WORK/$1 n
	bird -p -c "$conf" 2>"$dir/bird.parse" || fail "bird rejects $conf: $(cat "$dir/bird.parse")"
	ip netns exec "$ns" bird -f -c "$conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" \
		</dev/null >"$dir/bird.log" 2>&1 &
	echo $! >"$dir/bird.main.pid"
	for ((n = 0; n < 50; n++)); do
		[ -S "$dir/bird.ctl" ] && return 0
		sleep 0.1
	done
	fail "BIRD in $name: no control socket ($(tail -n 3 "$dir/bird.log"))"
}

so_up() {
	local id p ns i
	id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
	p=knlb-$id
	LAB_NS_CLIENT=$p-cl
	SO_NS_RT=$p-rt
	SO_NS_BR=$p-br
	SO_NS_GW=("" "$p-g1" "$p-g2" "$p-g3")
	LAB_NS_GW=${SO_NS_GW[1]}
	LAB_NS_BACKENDS="$p-be1 $p-be2 $p-be3"
	BACKEND_NAMES=(be1 be2 be3)
	BACKEND_ADDRS=(10.0.0.11 10.0.0.12 10.0.0.13)
	LAB_DIR=$WORK/lab
	LAB_TESTSRV=$KNLB_BUILD/lab/knlb-testsrv
	# shellcheck disable=SC2034 # read by common.sh's srv_start
	LAB_BACKEND_TCP_PORT=8080 LAB_BACKEND_UDP_PORT=5353
	mkdir -p "$LAB_DIR" "$WORK/rt"
	local all="$LAB_NS_CLIENT $SO_NS_RT $SO_NS_BR ${SO_NS_GW[1]} ${SO_NS_GW[2]} ${SO_NS_GW[3]} $LAB_NS_BACKENDS"
	{
		printf 'LAB_ID=%q\nLAB_DIR=%q\nLAB_NS_CLIENT=%q\nLAB_NS_GW=%q\n' \
			"$id" "$LAB_DIR" "$LAB_NS_CLIENT" "$LAB_NS_GW"
		printf 'LAB_NAMESPACES=%q\n' "$all"
	} >"$KNLB_LAB_STATE"
	for ns in $all; do
		ip netns add "$ns" || fail "ip netns add $ns"
		ip -n "$ns" link set lo up
		so_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done

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
	so_sysctl "$SO_NS_RT" net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1

	# the backend segment: a bridge in its own namespace
	ip -n "$SO_NS_BR" link add brb type bridge
	so_sysctl "$SO_NS_BR" net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0
	ip -n "$SO_NS_BR" link set brb up

	for i in 1 2 3; do
		ns=${SO_NS_GW[i]}
		mkdir -p "$WORK/gw$i"
		so_sysctl "$ns" net.ipv4.ip_forward=1
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

	local pids=() nss
	read -r -a nss <<<"$LAB_NS_BACKENDS"
	for i in 0 1 2; do
		ns=${nss[i]}
		ip -n "$SO_NS_BR" link add "be$((i + 1))" type veth peer name eth0 netns "$ns"
		ip -n "$SO_NS_BR" link set "be$((i + 1))" master brb up
		ip -n "$ns" addr add "${BACKEND_ADDRS[i]}/24" dev eth0
		ip -n "$ns" link set eth0 up
		# No default route: every gateway SNATs to its own 10.0.0.x.
		ip netns exec "$ns" "$LAB_TESTSRV" --name "${BACKEND_NAMES[i]}" --tcp 0.0.0.0:8080 \
			--idle-ms 60000 --count-file "$LAB_DIR/${BACKEND_NAMES[i]}.count" \
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
	ip netns exec "$ns" nft -f - <<-EOF || fail "gw$i: nft drop rules"
	table inet so_dead {
		chain dead_in { type filter hook prerouting priority -400; policy drop; }
		chain dead_out { type filter hook output priority -400; policy drop; }
	}
	EOF
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

# so_wait_nexthops WANT SECS: polls every 10 ms.
so_wait_nexthops() {
	local want=$1 n
	for ((n = 0; n < $2 * 100; n++)); do
		[ "$(so_nexthops)" = "$want" ] && return 0
		sleep 0.01
	done
	return 1
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

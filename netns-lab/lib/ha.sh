# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# ha.sh — the two-gateway lab of the ha_* scenarios, sourced after
# common.sh (docs/high-availability.md, conf/ha/).
#
#   ha_deps              keepalived + conntrackd through the bench's deps.sh
#                        (nothing starts on the host); exit 77 if impossible
#   ha_pair_up [--no-sync]  ha_up, gw1 started (master), gw2 (backup)
#   ha_up                namespaces and links (below), three backends
#   ha_gw_start N [--no-sync]   knlbd, conntrackd (unless --no-sync) and
#                        keepalived in gateway N (1 or 2), each with its own
#                        pid, lock, socket and log files under $WORK/gwN
#   ha_holds N / ha_wait_master N SECS [holds]
#   ha_hold NAME / ha_hold_end NAME   200 held connections asking every 100 ms
#   ha_master            which gateway holds both floating addresses: 1, 2,
#                        0 (none) or "split" (a half failover)
#   ha_links N up|down   every link of gateway N (its namespace's side)
#   ha_kill9 N           SIGKILL to every process in gateway N, by pid
#   ha_ct_events N       "NEW RESYNCS" counts of gateway N's knlbd
#   ha_digests N         "service digest" lines from knlbctl status there
#
#  client ns ---- brc (bridge ns) ----+---- client0 gw1 backend0 ----+---- brb ---- be1..3
#  198.51.100.2, .100-.131            |     .11     sync0   10.0.0.2  |           10.0.0.11-13
#  VIP via 198.51.100.1 (VRRP)        +---- client0 gw2 backend0 -----+           default via
#                                           .12     sync0   10.0.0.3              10.0.0.1 (VRRP)
#                                     sync0: 169.254.100.1/30 <-> .2 (a veth, gw1 <-> gw2)
#
# The namespaces are recorded in a lab.sh state file, so t_cleanup's
# `lab.sh down` kills every process in them by pid and deletes them.

HA_CONF=$LAB_ROOT/conf/ha
HA_VIP=192.0.2.10
HA_CLIENT_NEXT_HOP=198.51.100.1
HA_ADVERT=${KNLB_HA_ADVERT:-0.2}
declare -a HA_NS_GW=()

ha_deps() {
	local deps missing=
	command -v keepalived >/dev/null || missing+=" keepalived"
	command -v conntrackd >/dev/null || missing+=" conntrackd"
	[ -z "$missing" ] && return 0
	# netns-lab/deps.sh once the install branch lands (the same script,
	# moved and made generic); netns-lab/bench/deps.sh until then.
	deps=$LAB_HERE/deps.sh
	[ -x "$deps" ] || deps=$LAB_HERE/bench/deps.sh
	# What counts is whether they are there afterwards: the script's own
	# status also covers its checks of the host (its output says which).
	KNLB_DEPS_NAME=ha-deps bash "$deps" keepalived conntrackd >"$WORK/deps.log" 2>&1 ||
		say "note: $deps exited $?: $(tail -n 3 "$WORK/deps.log" | tr '\n' ' ')"
	if ! command -v keepalived >/dev/null || ! command -v conntrackd >/dev/null; then
		cat "$WORK/deps.log"
		t_skip "keepalived/conntrackd cannot be installed (see above)"
	fi
}

ha_up() {
	local p ns i
	multi_lab_begin
	p=$MULTI_PREFIX
	HA_NS_BR=$p-br
	HA_NS_GW=("" "$p-gw1" "$p-gw2")
	# shellcheck disable=SC2034 # read by multi_lab_namespaces, dump_debug
	LAB_NS_GW=${HA_NS_GW[1]}
	# shellcheck disable=SC2086 # LAB_NS_BACKENDS: one word each
	multi_lab_namespaces "$LAB_NS_CLIENT" "$HA_NS_BR" "${HA_NS_GW[1]}" "${HA_NS_GW[2]}" $LAB_NS_BACKENDS
	# The two segments are bridges in their own namespace.
	multi_lab_bridges "$HA_NS_BR" brc brb

	ip -n "$HA_NS_BR" link add cl type veth peer name eth0 netns "$LAB_NS_CLIENT"
	ip -n "$HA_NS_BR" link set cl master brc up
	ip -n "$LAB_NS_CLIENT" addr add 198.51.100.2/24 dev eth0
	for ((i = 100; i < 132; i++)); do echo "addr add 198.51.100.$i/24 dev eth0"; done |
		ip -n "$LAB_NS_CLIENT" -batch -
	ip -n "$LAB_NS_CLIENT" link set eth0 up
	ip -n "$LAB_NS_CLIENT" route add "$HA_VIP/32" via "$HA_CLIENT_NEXT_HOP"
	LAB_CLIENT_SOURCE_RANGE=198.51.100.100-198.51.100.131

	for i in 1 2; do
		ns=${HA_NS_GW[i]}
		ns_sysctl "$ns" net.ipv4.ip_forward=1
		ip -n "$HA_NS_BR" link add "g${i}c" type veth peer name client0 netns "$ns"
		ip -n "$HA_NS_BR" link add "g${i}b" type veth peer name backend0 netns "$ns"
		ip -n "$HA_NS_BR" link set "g${i}c" master brc up
		ip -n "$HA_NS_BR" link set "g${i}b" master brb up
		ip -n "$ns" addr add "198.51.100.1$i/24" dev client0
		ip -n "$ns" addr add "10.0.0.$((i + 1))/24" dev backend0
		ip -n "$ns" link set client0 up
		ip -n "$ns" link set backend0 up
		mkdir -p "$WORK/gw$i"
	done
	ip -n "${HA_NS_GW[1]}" link add sync0 type veth peer name sync0 netns "${HA_NS_GW[2]}"
	ip -n "${HA_NS_GW[1]}" addr add 169.254.100.1/30 dev sync0
	ip -n "${HA_NS_GW[2]}" addr add 169.254.100.2/30 dev sync0
	ip -n "${HA_NS_GW[1]}" link set sync0 up
	ip -n "${HA_NS_GW[2]}" link set sync0 up

	multi_lab_backends "$HA_NS_BR" brb 10.0.0.1 --udp 0.0.0.0:5353
}

# The knlbd config both gateways run (only control_socket differs).
ha_knlb_conf() {
	local i=$1
	cat <<-EOF
	[global]
	table = knlb
	log_level = info
	hash_seed = 0x5eed
	control_socket = $WORK/gw$i/knlb.sock

	; the 200 long-lived connections: wrr, so only the sync keeps them
	[service held]
	vip = $HA_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	check = none
	$(conf_backends 8080 3 2 1)

	; the steady rate of new connections: maglev, same key -> same backend
	[service web]
	vip = $HA_VIP
	port = 81
	proto = tcp
	scheduler = maglev
	hash_key = src-ip-port
	snat = none
	check = none
	$(conf_backends 8080 1 1 1)

	[service dns]
	vip = $HA_VIP
	port = 53
	proto = udp
	scheduler = maglev
	hash_key = src-ip-port
	snat = none
	check = none
	$(conf_backends 5353 1 1 1)
	EOF
}

# conf/ha's files with this gateway's paths (and the lab's advert_int).
ha_render_confs() {
	local i=$1 dir=$WORK/gw$1
	sed -e "s|/run/knlb-ha/|$dir/|g" "$HA_CONF/conntrackd-gw$i.conf" >"$dir/conntrackd.conf"
	# enable_script_security refuses a script under /tmp (world-writable).
	sed -e "s|advert_int 1|advert_int $HA_ADVERT|" -e '/enable_script_security/d' \
		-e "s|/usr/local/sbin/knlb-ha-notify.sh \([A-Z]*\) /etc/conntrackd/conntrackd.conf|$dir/notify.sh \1 $dir/conntrackd.conf|" \
		"$HA_CONF/keepalived-gw$i.conf" >"$dir/keepalived.conf"
	# The control of ha_backend_link: no sync group, no tracking (and the
	# notify scripts lost with the group: conntrackd is not driven).
	if [ "${HA_NO_SYNC_GROUP:-}" = 1 ]; then
		awk '/^vrrp_sync_group/ || /^\ttrack_interface/ { skip = 1; depth = 0 }
		     !skip { print; next }
		     { depth += gsub(/{/, "{") - gsub(/}/, "}"); if (depth == 0) skip = 0 }' \
			"$dir/keepalived.conf" >"$dir/keepalived.conf.tmp"
		mv "$dir/keepalived.conf.tmp" "$dir/keepalived.conf"
	fi
	if [ "${HA_PREEMPT_DELAY:-}" ]; then
		sed -i "s|preempt_delay 5|preempt_delay $HA_PREEMPT_DELAY|" "$dir/keepalived.conf"
	fi
	# The notify script, logging each call (time, state) for the scenario.
	cat >"$dir/notify.sh" <<-EOF
	#!/bin/sh
	echo "\$(date +%s.%N) \$1" >>$dir/notify.log
	[ -f $dir/no-sync ] && exit 0
	exec $HA_CONF/knlb-ha-notify.sh "\$@" 2>>$dir/notify.log
	EOF
	chmod 700 "$dir/notify.sh"
}

ha_gw_start() {
	local i=$1 sync=1 dir=$WORK/gw$1 ns=${HA_NS_GW[$1]} n
	[ "${2:-}" = --no-sync ] && sync=0
	ha_render_confs "$i"
	# With conntrackd, a TCP packet that reaches the new master before
	# `conntrackd -c` committed its flow must not be picked up mid-stream
	# as a new flow (and rescheduled: wrr sends it elsewhere, a reset):
	# tcp_loose = 0 makes it invalid, TCP resends it, the commit wins
	# (conntrack-tools' manual says the same).  Without conntrackd, mid-
	# stream pickup is all there is (tcp_loose = 1, the kernel default).
	ns_sysctl "$ns" net.netfilter.nf_conntrack_tcp_loose=$((sync ? ${HA_TCP_LOOSE_SYNC:-0} : 1))
	ha_knlb_conf "$i" >"$dir/knlb.conf"
	"$KNLBD" -t -c "$dir/knlb.conf" >"$dir/knlbd.log" 2>&1 || fail "knlbd -t rejects $dir/knlb.conf"
	ip netns exec "$ns" "$KNLBD" -c "$dir/knlb.conf" </dev/null >>"$dir/knlbd.log" 2>&1 &
	echo $! >"$dir/knlbd.pid"
	for ((n = 0; n < 100; n++)); do
		grep -q programmed "$dir/knlbd.log" && break
		sleep 0.1
	done
	grep -q programmed "$dir/knlbd.log" || fail "knlbd in gw$i did not program its table"
	if [ "$sync" = 1 ]; then
		rm -f "$dir/no-sync"
		# A conntrackd killed with -9 leaves its lock: conntrackd then
		# refuses to start (primary-backup.sh removes it the same way).
		if [ -e "$dir/conntrackd.lock" ]; then
			say "gw$i: removing the lock a killed conntrackd left"
			rm -f "$dir/conntrackd.lock" "$dir/conntrackd.ctl"
		fi
		ip netns exec "$ns" conntrackd -C "$dir/conntrackd.conf" -d >"$dir/conntrackd.out" 2>&1 ||
			fail "conntrackd in gw$i: $(cat "$dir/conntrackd.out")"
		for ((n = 0; n < 50; n++)); do
			[ -S "$dir/conntrackd.ctl" ] && break
			sleep 0.1
		done
		[ -S "$dir/conntrackd.ctl" ] || fail "conntrackd in gw$i: no control socket"
	else
		: >"$dir/no-sync"
	fi
	ip netns exec "$ns" keepalived -n -l -D --vrrp -f "$dir/keepalived.conf" \
		-p "$dir/keepalived.pid" -r "$dir/vrrp.pid" -c "$dir/checkers.pid" \
		</dev/null >"$dir/keepalived.log" 2>&1 &
	echo $! >"$dir/keepalived.main.pid"
}

# ha_pair_up [--no-sync]: the lab, gw1 master, then gw2 as its backup.
ha_pair_up() {
	ha_up
	ha_gw_start 1 "$@"
	ha_wait_master 1 10 || fail "gw1 did not become master (holds: $(ha_master))"
	ha_gw_start 2 "$@"
	sleep 1
	[ "$(ha_master)" = 1 ] || fail "after gw2 started, master is $(ha_master), not gw1"
}

# ha_hold NAME ARGS / ha_hold_end NAME: 200 held connections to the wrr
# service that ask every 100 ms, each request given 8 s (TCP resends
# through a takeover with default VRRP timers); ha_hold_end releases them,
# or collects the report of a loadgen that ended because all of them broke.
ha_hold() {
	local name=$1; shift
	lg_hold_start "$name" --tcp --target "$HA_VIP:80" --count 200 --concurrency 200 \
		--ping-ms 100 --timeout-ms 8000 --source-range "$LAB_CLIENT_SOURCE_RANGE" "$@"
}

ha_hold_end() {
	if alive "$HOLD_PID"; then
		lg_hold_release "$1"
	else
		wait "$HOLD_PID" 2>/dev/null || true
		HOLD_PID=
	fi
}

# Which gateway holds the floating addresses: 1, 2, 0, or split.
ha_master() {
	local i c b who=0
	for i in 1 2; do
		c=0 b=0
		ip -n "${HA_NS_GW[i]}" -4 addr show dev client0 2>/dev/null | grep -q " $HA_CLIENT_NEXT_HOP/" && c=1
		ip -n "${HA_NS_GW[i]}" -4 addr show dev backend0 2>/dev/null | grep -q " 10.0.0.1/" && b=1
		if [ "$c$b" = 11 ]; then
			[ "$who" = 0 ] || { echo split; return; }
			who=$i
		elif [ "$c$b" != 00 ]; then
			echo split; return
		fi
	done
	echo "$who"
}

# ha_holds N: gateway N holds both floating addresses (whatever the other
# holds: after kill -9 of keepalived, the dead master's kernel keeps its
# addresses).
ha_holds() {
	ip -n "${HA_NS_GW[$1]}" -4 addr show dev client0 2>/dev/null | grep -q " $HA_CLIENT_NEXT_HOP/" &&
		ip -n "${HA_NS_GW[$1]}" -4 addr show dev backend0 2>/dev/null | grep -q " 10.0.0.1/"
}

# ha_wait_master N SECS [holds]: until N is the only holder (or, with
# "holds", until N holds both addresses).
ha_wait_master() {
	local n
	for ((n = 0; n < $2 * 20; n++)); do
		if [ "${3:-}" = holds ]; then
			ha_holds "$1" && return 0
		else
			[ "$(ha_master)" = "$1" ] && return 0
		fi
		sleep 0.05
	done
	return 1
}

ha_links() {
	local i=$1 how=$2 l
	for l in client0 backend0 sync0; do
		ip -n "${HA_NS_GW[i]}" link set "$l" "$how"
	done
}

ha_kill9() {
	local pid
	for pid in $(ip netns pids "${HA_NS_GW[$1]}"); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

ha_digests() {
	ip netns exec "${HA_NS_GW[$1]}" "$KNLB_BUILD/knlbctl" -s "$WORK/gw$1/knlb.sock" status 2>/dev/null |
		awk '$1 == "service" { for (f = 1; f < NF; f++) if ($f == "digest") print $2, $(f + 1) }'
}

# ha_ct_events N: "NEW RESYNCS" from knlbctl status's conntrack line in gateway N.
ha_ct_events() {
	ip netns exec "${HA_NS_GW[$1]}" "$KNLB_BUILD/knlbctl" -s "$WORK/gw$1/knlb.sock" status 2>/dev/null |
		awk '$1 == "conntrack:" { for (f = 2; f < NF; f++) { if ($(f + 1) == "new,") n = $f; if ($(f + 1) ~ /^resyncs/) r = $f } print n + 0, r + 0; exit }'
}

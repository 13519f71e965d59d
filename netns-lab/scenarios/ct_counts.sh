#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ct_counts.sh — knlb's flow counts are the truth.  2000 new TCP connections
# to a maglev service from the lab's 32 client addresses: per backend,
# knlbctl's flows_opened equals the connections the backend server itself
# accepted and the answers the client got from it (0 lost, 0 extra); the
# same for 2000 UDP flows (the servers' udp_datagrams).  Then 200
# connections held open on a third service: per backend, knlb's active
# count equals the gateway's `conntrack -L -m MARK --reply-src BACKEND`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ct.sh
. "$(dirname "$0")/../lib/ct.sh"

ct_init
lab_up --backends 3

N=2000
HELD=200
{
	conf_global
	for svc in "web 80 tcp $LAB_BACKEND_TCP_PORT" "dns 53 udp $LAB_BACKEND_UDP_PORT" \
		   "hold 81 tcp $LAB_BACKEND_TCP_PORT"; do
		read -r name port proto bport <<<"$svc"
		cat <<-EOF
		[service $name]
		vip = $LAB_VIP
		port = $port
		proto = $proto
		scheduler = maglev
		hash_key = src-ip-port
		snat = none
		EOF
		conf_backends "$bport"
		echo
	done
} >"$WORK/counts.conf"
knlb_start_ctl "$WORK/counts.conf"
st_snap
MARK_dns=$(st_svc dns ct_mark)
MARK_hold=$(st_svc hold ct_mark)

# The servers' counters before: lab.sh up probed each backend once.
srv_counts
declare -A BASE	# "COUNTER BACKEND" -> value
for b in "${BACKEND_NAMES[@]}"; do
	for key in tcp_connections udp_datagrams; do
		BASE["$key $b"]=$(srv_count "$b" "$key")
	done
done

# A flow is a conntrack entry: each flow gets its own (address, port), else
# an ephemeral port used twice within the UDP timeout is one entry for two
# datagrams (the server counts 2, conntrack 1).
lg tcp --tcp --target "$LAB_VIP:80" --count "$N" --concurrency 64 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base 20000
lg udp --udp --target "$LAB_VIP:53" --count "$N" --concurrency 64 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base 30000
say "tcp: ok $(lg_get tcp ok) failed $(lg_get tcp failed); udp: ok $(lg_get udp ok) failed $(lg_get udp failed)"
[ "$(lg_get tcp ok)" -eq "$N" ] || fail "only $(lg_get tcp ok) of $N TCP connections answered"
[ "$(lg_get udp ok)" -eq "$N" ] || fail "only $(lg_get udp ok) of $N UDP flows answered"

# Every NEW event read (2N flows) before comparing; bounded.  Not fatal
# here: the per-backend lines below say where one is missing.
st_wait_events $((2 * N)) 5 || say "knlbd applied only $(st_ct events_new) NEW events of $((2 * N)) within 5 s"
srv_counts
say "conntrack events: new $(st_ct events_new) destroy $(st_ct events_destroy) overflows $(st_ct overflows) resyncs $(st_ct resyncs)"
[ "$(st_ct overflows)" -eq 0 ] || fail "the event socket overflowed: counts are from a resync, not from events"

# check_service SVC LG KEY: per backend knlb == server (its KEY counter
# since BASE) == client.
check_service() {
	local svc=$1 run=$2 key=$3 b knlb srv cli sum=0 lost
	for b in "${BACKEND_NAMES[@]}"; do
		knlb=$(st_be "$svc" "$b" flows_opened)
		srv=$(($(srv_count "$b" "$key") - BASE["$key $b"]))
		cli=$(lg_backend "$run" "$b")
		measure "$svc $b: knlb flows_opened $knlb, server $key $srv, client answers $cli"
		[ "$knlb" -eq "$srv" ] || fail "$svc $b: knlb counted $knlb flows, the server $srv"
		[ "$cli" -eq "$srv" ] || fail "$svc $b: the client got $cli answers, the server counted $srv"
		[ "$srv" -gt 0 ] || fail "$svc $b got no flow: the service does not balance"
		sum=$((sum + knlb))
	done
	lost=$((N - sum))
	measure "$svc: $N flows, knlb counted $sum, lost $lost"
	[ "$lost" -eq 0 ] || fail "$svc: knlb counted $sum of $N flows"
	[ "$(st_svc "$svc" flows_opened)" -eq "$N" ] || fail "$svc: service flows_opened $(st_svc "$svc" flows_opened), not $N"
}
check_service web tcp tcp_connections
check_service dns udp udp_datagrams

# UDP entries live 30 s: every flow is still active, in knlb and in the kernel.
kernel=$(kct_count "$MARK_dns" -p udp)
measure "dns: knlb active $(st_svc dns active_flows), conntrack -L -m $MARK_dns: $kernel"
[ "$kernel" -eq "$N" ] || fail "conntrack has $kernel entries of service dns, not $N (did they expire?)"
[ "$(st_svc dns active_flows)" -eq "$kernel" ] || fail "dns: knlb active $(st_svc dns active_flows), conntrack $kernel"

# ---- held connections: active counts against the kernel's table
lg_hold_start held --tcp --target "$LAB_VIP:81" --count "$HELD" --concurrency "$HELD" \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
st_wait_events $((2 * N + HELD)) 10 || fail "knlbd applied only $(st_ct events_new) NEW events"
sum=0
for i in "${!BACKEND_NAMES[@]}"; do
	b=${BACKEND_NAMES[i]}
	knlb=$(st_be hold "$b" active_flows)
	kernel=$(kct_count "$MARK_hold" -p tcp --reply-src "${BACKEND_ADDRS[i]}" --state ESTABLISHED)
	measure "hold $b: knlb active $knlb, conntrack -L -m $MARK_hold -p tcp --reply-src ${BACKEND_ADDRS[i]} --state ESTABLISHED: $kernel"
	[ "$knlb" -eq "$kernel" ] || fail "hold $b: knlb active $knlb, conntrack $kernel"
	[ "$kernel" -gt 0 ] || fail "hold $b holds no connection"
	sum=$((sum + kernel))
done
[ "$sum" -eq "$HELD" ] || fail "conntrack shows $sum established connections of service hold, $HELD held"
all=$(kct_count "$MARK_hold")
[ "$(st_svc hold active_flows)" -eq "$all" ] || fail "hold: knlb active $(st_svc hold active_flows), conntrack $all"
lg_hold_release held
[ "$(lg_get held held_ok)" -eq "$HELD" ] || fail "held: $(lg_get held held_ok) of $HELD answered again"
for b in "${BACKEND_NAMES[@]}"; do
	[ "$(lg_backend held "$b")" -eq "$(st_be hold "$b" flows_opened)" ] ||
		fail "hold $b: the client held $(lg_backend held "$b"), knlb counted $(st_be hold "$b" flows_opened)"
done
pass "per backend, knlb's counts equal the servers', the client's and conntrack's: 0 lost"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# udp_balance.sh — two UDP services on the VIP balance 3000 datagrams each
# over 3 backends, every datagram from its own source port (a new flow):
#   port 53, scheduler = wrr (equal weights): each share within 3 points of 1/3
#   port 54, scheduler = maglev, hash_key = src-ip-port: each within 8 points
# Every datagram gets an answer, conntrack holds one entry per datagram,
# and the backends' own counters agree with what the client saw.
# KNLB_LAB_FAMILY=6 (udp_balance_v6.sh): the same over IPv6.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3
DGRAMS=3000

{
	conf_global
	cat <<-EOF
	[service dns]
	vip = $VIP
	port = 53
	proto = udp
	scheduler = wrr
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_UDP_PORT"
	cat <<-EOF

	[service dnshash]
	vip = $VIP
	port = 54
	proto = udp
	scheduler = maglev
	hash_key = src-ip-port
	table_size = 16381
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_UDP_PORT"
} >"$WORK/udp.conf"
knlb_start "$WORK/udp.conf"

# Source ports 20000.. and 24000.. (below the client's ephemeral range
# 32768-60999): every datagram its own flow, no tuple shared between runs.
lg udp53 --udp --target "$VIP_HOST:53" --count "$DGRAMS" --concurrency 64 --sport-base 20000
lg udp54 --udp --target "$VIP_HOST:54" --count "$DGRAMS" --concurrency 64 --sport-base 24000

bad=0
for svc in udp53:3 udp54:8; do
	run=${svc%:*}
	tol=${svc#*:}
	ok=$(lg_get "$run" ok)
	failed=$(lg_get "$run" failed)
	say "$run: $DGRAMS datagrams, ok $ok, failed $failed"
	[ "$failed" -eq 0 ] || { say "$run: $failed datagrams unanswered"; bad=1; }
	printf '[%s]   %-8s %-8s %9s %9s %7s\n' "$T_NAME" service backend expected observed count
	for b in "${BACKEND_NAMES[@]}"; do
		n=$(lg_backend "$run" "$b")
		obs=$(pct "$n" "$ok")
		printf '[%s]   %-8s %-8s %8s%% %8s%% %7s\n' "$T_NAME" "$run" "$b" 33.3 "$obs" "$n"
		within "$obs" 33.3 "$tol" || { say "$run $b: share $obs% not within $tol points of 33.3%"; bad=1; }
	done
done

# One conntrack entry per datagram proves each was a new flow.
for port in 53 54; do
	flows=$(gw_exec conntrack -L -f "$CT_FAMILY" -p udp --orig-port-dst "$port" 2>/dev/null | wc -l)
	say "conntrack: $flows udp flows to port $port"
	[ "$flows" -eq "$DGRAMS" ] || { say "port $port: $flows conntrack entries, expected $DGRAMS"; bad=1; }
done

# The backends saw what the client saw.
srv_counts
for b in "${BACKEND_NAMES[@]}"; do
	seen=$(( $(lg_backend udp53 "$b") + $(lg_backend udp54 "$b") ))
	served=$(srv_count "$b" udp_datagrams)
	[ "$served" -eq "$seen" ] || { say "$b served $served datagrams, client got $seen answers"; bad=1; }
done
[ "$bad" -eq 0 ] || fail "UDP balance off"
pass "both IPv$LAB_FAMILY UDP services balanced over 3 backends"

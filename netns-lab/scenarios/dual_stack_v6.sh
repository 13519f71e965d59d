#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dual_stack_v6.sh — one [service web] with `vip` once per family (the lab's
# IPv4 and IPv6 VIPs), IPv4 backends be1 and be2, IPv6 backends be3 and be4
# (every lab backend is dual-stack, so only the config decides a family's
# backends), snat = masquerade.  IPv4 and IPv6 clients at once (two
# loadgens in parallel, 32 addresses of each family, 1500 connections each,
# and 600 UDP datagrams per family to a second dual-stack service):
#  - every connection and datagram answered;
#  - IPv4 clients reach only be1/be2, IPv6 clients only be3/be4, each
#    family's backends within 8 points of half;
#  - conntrack: the IPv4 flows went to IPv4 backend addresses, the IPv6
#    flows to IPv6 ones, and all carry the service's one ct mark.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

DUAL_STACK=1
t_init
lab_up --backends 4 --clients 32

CONNS=1500
DGRAMS=600
V4=(be1 be2)
V6=(be3 be4)
backends_by_family() {	# PORT
	local i
	for i in 0 1; do
		echo "backend = ${BACKEND_ADDRS[i]}:$1 id=${BACKEND_NAMES[i]}"
	done
	for i in 2 3; do
		conf_backend6 "$i" "$1"
	done
}
{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	vip = $LAB_VIP6
	port = 80
	proto = tcp
	scheduler = maglev
	hash_key = src-ip-port
	table_size = 16381
	snat = masquerade
	EOF
	backends_by_family "$LAB_BACKEND_TCP_PORT"
	cat <<-EOF

	[service dns]
	vip = $LAB_VIP
	vip = $LAB_VIP6
	port = 53
	proto = udp
	scheduler = wrr
	snat = none
	EOF
	backends_by_family "$LAB_BACKEND_UDP_PORT"
} >"$WORK/dual.conf"
knlb_start "$WORK/dual.conf"

# Both families at the same time: two loadgens in the background.
run_lg() {	# NAME ARGS: like lg, in the background; the caller waits
	local name=$1; shift
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 2000 --deadline-ms 30000 "$@" \
		</dev/null >"$WORK/$name.out" 2>"$WORK/$name.err"
}
# Source ports set per connection (--sport-base): the backends close first,
# so the client keeps no TIME_WAIT and the kernel may pick a port again for
# the same VIP; that reopens the gateway's TIME_WAIT conntrack entry and
# conntrack would list fewer flows than were made (1498 of 1500 once).
run_lg tcp4 --tcp --target "$LAB_VIP:80" --count "$CONNS" --concurrency 32 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base 30000 & p1=$!
run_lg tcp6 --tcp --target "[$LAB_VIP6]:80" --count "$CONNS" --concurrency 32 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE6" --sport-base 30000 & p2=$!
run_lg udp4 --udp --target "$LAB_VIP:53" --count "$DGRAMS" --concurrency 32 --sport-base 20000 & p3=$!
run_lg udp6 --udp --target "[$LAB_VIP6]:53" --count "$DGRAMS" --concurrency 32 --sport-base 20000 & p4=$!
for p in $p1 $p2 $p3 $p4; do
	wait "$p" || true
done
for run in tcp4 tcp6 udp4 udp6; do
	[ -s "$WORK/$run.out" ] || { cat "$WORK/$run.err" >&2; fail "loadgen $run reported nothing"; }
done

lg_answers() {	# the per-backend answers of a run, for the log
	awk '$1 == "backend" { printf "%s %s  ", $2, $3 }' "$WORK/$1.out"
}
bad=0
# check RUN FAMILY_BACKENDS... : all answered, only those backends, each
# within 8 points of an equal share.
check() {
	local run=$1 ok failed b n obs sum=0 share; shift
	ok=$(lg_get "$run" ok)
	failed=$(lg_get "$run" failed)
	say "$run: ok $ok, failed $failed, $(lg_answers "$run")"
	[ "$failed" -eq 0 ] || { say "$run: $failed flows failed"; bad=1; }
	share=$(awk -v n=$# 'BEGIN { printf "%.1f", 100 / n }')
	for b in "$@"; do
		n=$(lg_backend "$run" "$b")
		sum=$((sum + n))
		obs=$(pct "$n" "$ok")
		measure "dual-stack $run -> $b: $obs% (expected $share% within 8)"
		within "$obs" "$share" 8 || { say "$run $b: share $obs% not within 8 points of $share%"; bad=1; }
	done
	[ "$sum" -eq "$ok" ] || { say "$run: $((ok - sum)) answers from the other family's backends"; bad=1; }
}
check tcp4 "${V4[@]}"
check tcp6 "${V6[@]}"
check udp4 "${V4[@]}"
check udp6 "${V6[@]}"

# conntrack agrees: per family, the flows to the VIP were DNATed to that
# family's backends only.
for fam in 4 6; do
	if [ "$fam" = 4 ]; then vip=$LAB_VIP; idx=(0 1); f=ipv4; addrs=("${BACKEND_ADDRS[@]}")
	else vip=$LAB_VIP6; idx=(2 3); f=ipv6; addrs=("${BACKEND_ADDRS6[@]}"); fi
	total=$(gw_exec conntrack -L -f "$f" -p tcp --orig-dst "$vip" 2>/dev/null | wc -l)
	mine=0
	for i in "${idx[@]}"; do
		n=$(gw_exec conntrack -L -f "$f" -p tcp --orig-dst "$vip" --reply-src "${addrs[i]}" 2>/dev/null | wc -l)
		mine=$((mine + n))
	done
	say "conntrack $f: $total tcp flows to $vip, $mine to its own family's backends"
	[ "$total" -eq "$CONNS" ] || { say "conntrack $f: $total flows, expected $CONNS"; bad=1; }
	[ "$mine" -eq "$total" ] || { say "conntrack $f: $((total - mine)) flows went elsewhere"; bad=1; }
done
[ "$bad" -eq 0 ] || fail "the dual-stack service did not keep the families apart"
pass "IPv4 and IPv6 clients at once, each family to its own backends, 0 failed"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scaleout_ecmp: three gateways active/active behind a router's ECMP, each
# announcing the VIP over BGP (BIRD 2, BFD 100 ms x 3) while its knlbd
# keeps the VIP's route (announce = route, conf/scaleout/,
# docs/scale-out.md).  Asserts and measures:
#   - the router has one next hop per gateway; the three tables are equal;
#   - 3000 connections from 128 client addresses: every gateway carries
#     new connections, no address reaches two backends (hash_key = src-ip,
#     while the router's L4 hash sends its connections to several gateways);
#   - every backend of gw3 unreachable from gw3 only: gw3's knlbd
#     withdraws, the router drops gw3 (time reported), no new connection
#     fails afterwards; back when the backends are;
#   - gw1 dies under load (all its packets dropped, then its BIRD and
#     knlbd killed: only BFD can tell): time until the router stops using
#     it, new connections failed meanwhile, held connections of the
#     surviving gateways broken -- with the kernel's legacy multipath and
#     again with a resilient nexthop group on the router; every client
#     address reaches the same backend as before.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/scaleout.sh
. "$(dirname "$0")/../lib/scaleout.sh"
t_init
[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "announce = route needs knlbd (KNLB_LAB_RULES=hand has no scale-out variant)"
so_deps
command -v conntrack >/dev/null || t_skip "conntrack not installed"

so_up
so_route_watch_start
t0=$(now_ms)
for i in 1 2 3; do so_gw_start "$i"; done
so_wait_nexthops "1 2 3" 20 || so_fail "router's next hops for $SO_VIP: [$(so_nexthops)] 20 s after start"
measure "router uses all 3 gateways $(ms_diff "$t0" "$(now_ms)") ms after the first knlbd started (BGP sessions up, VIP announced)"
(so_knlbctl 1 status || true) | grep -q "vip $SO_VIP *announced" || so_fail "gw1's status does not say $SO_VIP announced"

d1=$(so_digests 1) d2=$(so_digests 2) d3=$(so_digests 3)
[ -n "$d1" ] && [ "$d1" = "$d2" ] && [ "$d1" = "$d3" ] || so_fail "digests differ: [$d1] [$d2] [$d3]"
measure "slot digests equal on the 3 gateways: ${d1//$'\n'/ }"

# --- spread, and one backend per client address through any gateway -----
lg spread --tcp --target "$SO_VIP:80" --count 3000 --concurrency 64 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
[ "$(lg_get spread failed)" = 0 ] || so_fail "$(lg_get spread failed) of 3000 connections failed"
split=$(lg_get spread sources_split)
c=() line=
for i in 1 2 3; do
	c[i]=$(so_ct_count "$i" 80)
	line+=" gw$i ${c[i]} ($(pct "${c[i]}" 3000)%)"
done
measure "3000 connections from 128 addresses:$line"
multi=$(for i in 1 2 3; do
	ip netns exec "${SO_NS_GW[i]}" conntrack -L -p tcp -d "$SO_VIP" --dport 80 2>/dev/null |
		sed -nE 's/^[^=]*src=([0-9.]+) .*/\1/p' | sort -u
done | sort | uniq -c | awk '$1 > 1' | wc -l)
measure "addresses whose connections went through more than one gateway: $multi of 128; addresses answered by more than one backend: $split"
for i in 1 2 3; do
	[ "${c[i]}" -ge 600 ] || so_fail "gw$i carried ${c[i]} of 3000 connections (want >= 600)"
done
[ "$split" = 0 ] || so_fail "$split client addresses reached more than one backend"
[ "$multi" -ge 64 ] || so_fail "only $multi addresses used several gateways: the test proves little"
awk '$1 == "source" { print $2, $3 }' "$WORK/spread.out" | sort >"$WORK/backend-by-source.before"

# --- all of gw3's backends unreachable from gw3 ---------------------------
lg_bg_start rate --tcp --target "$SO_VIP:80" --rate 200 --duration-ms 60000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
sleep 0.5
ip netns exec "${SO_NS_GW[3]}" nft -f - <<-EOF || so_fail "gw3: nft block rules"
table inet so_block {
	chain block_forward {
		type filter hook forward priority 0;
		ip daddr 10.0.0.0/24 tcp dport 8080 drop
	}
	chain block_output {
		type filter hook output priority 0;
		ip daddr 10.0.0.0/24 tcp dport 8080 drop
	}
}
EOF
tb=$(now_ms)
so_wait_nexthops "1 2" 10 || so_fail "router still uses [$(so_nexthops)] 10 s after gw3 lost its backends"
tw=$(so_route_change_ms "$tb")
[ -n "$tw" ] || so_fail "the router's route change is not in $WORK/rt/routes.log"
grep -q "announce: VIP $SO_VIP withdrawn: no usable backend" "$WORK/gw3/knlbd.log" ||
	so_fail "gw3's knlbd did not log the withdrawal"
why=$(so_knlbctl 3 status | awk -v v="$SO_VIP" '$1 == "vip" && $2 == v { $1 = $2 = ""; print }' || true)
sleep 2
tbr=$(tl_rel rate "$tb"); twr=$(tl_rel rate "$tw"); tnow=$(tl_rel rate "$(now_ms)")
before=$(tl_count rate "$tbr" "$twr" 'fail:.*'); after=$(tl_count rate "$twr" "$tnow" 'fail:.*')
measure "gw3's backends cut: router stops using gw3 $(ms_diff "$tb" "$tw") ms later (health 2 x 100 ms, withdraw, BGP); new connections failed before that: $before, after: $after of $(tl_count rate "$twr" "$tnow" '.*'); gw3 status:$why"
[ "$after" = 0 ] || so_fail "$after new connections failed after gw3 withdrew: $(tl_results rate "$twr" "$tnow")"
ip netns exec "${SO_NS_GW[3]}" nft delete table inet so_block
tb=$(now_ms)
so_wait_nexthops "1 2 3" 10 || so_fail "gw3 not back in the router 10 s after its backends are: [$(so_nexthops)]"
measure "gw3's backends back: router uses gw3 again $(ms_diff "$tb" "$(so_route_change_ms "$tb")") ms later"

# --- a gateway dies under load: legacy multipath, then resilient group ----
# so_death LABEL: 150 held connections to port 81, gw1 dies, figures.
so_death() {
	local label=$1 on_dead td tr tdr trr failed_new late ok broke
	# Entries of an earlier round's (dead) flows would count as on gw1.
	ip netns exec "${SO_NS_GW[1]}" conntrack -D -p tcp -d "$SO_VIP" --dport 81 >/dev/null 2>&1 || true
	lg_hold_start "held-$label" --tcp --target "$SO_VIP:81" --count 150 --concurrency 150 \
		--ping-ms 100 --timeout-ms 3000 --source-range "$LAB_CLIENT_SOURCE_RANGE"
	on_dead=$(ip netns exec "${SO_NS_GW[1]}" conntrack -L -p tcp -d "$SO_VIP" --dport 81 \
		--state ESTABLISHED 2>/dev/null | wc -l)
	so_gw_die 1
	td=$SO_DIED_MS
	so_wait_nexthops "2 3" 10 || so_fail "$label: router still uses [$(so_nexthops)] 10 s after gw1 died"
	# The kernel's time of the change, not when this loop saw it.
	tr=$(so_route_change_ms "$td")
	[ -n "$tr" ] || so_fail "$label: the router's route change is not in $WORK/rt/routes.log"
	sleep 1.5
	tdr=$(tl_rel rate "$td"); trr=$(tl_rel rate "$tr")
	failed_new=$(tl_count rate "$tdr" "$trr" 'fail:.*')
	late=$(tl_count rate "$trr" "$(tl_rel rate "$(now_ms)")" 'fail:.*')
	lg_hold_release "held-$label"
	ok=$(lg_get "held-$label" held_ok); broke=$(lg_get "held-$label" held_failed)
	measure "gw1 dies ($label): router stops using it after $(ms_diff "$td" "$tr") ms (BFD 100 ms x 3); new connections failed in that time: $failed_new, after: $late; held: $on_dead of 150 on gw1, $ok ok, $broke broke: $((broke - on_dead)) of $((150 - on_dead)) on the surviving gateways"
	SO_SURVIVORS_BROKEN=$((broke - on_dead))
	SO_DETECT_MS=$(ms_diff "$td" "$tr")
}

so_death legacy
legacy_broken=$SO_SURVIVORS_BROKEN
lt "$SO_DETECT_MS" 1500 || so_fail "BFD took $SO_DETECT_MS ms (want < 1 s, 1.5 s allowed under load)"

# The dead gateway's clients: same backend as before, through the others.
lg after --tcp --target "$SO_VIP:80" --count 3000 --concurrency 64 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE"
[ "$(lg_get after failed)" = 0 ] || so_fail "$(lg_get after failed) of 3000 connections failed with gw1 dead"
awk '$1 == "source" { print $2, $3 }' "$WORK/after.out" | sort >"$WORK/backend-by-source.after"
moved=$(comm -13 "$WORK/backend-by-source.before" "$WORK/backend-by-source.after" | wc -l)
measure "with gw1 dead, client addresses reaching another backend than before: $moved of 128"
[ "$moved" = 0 ] || so_fail "$moved addresses changed backend when gw1 died"

# gw1 back, then the router forwards the VIP through a resilient nexthop
# group that follows BIRD's next hops (BIRD 2 installs no nexthop groups).
so_gw_revive 1
so_wait_nexthops "1 2 3" 10 || so_fail "gw1 not back in the router: [$(so_nexthops)]"
for i in 1 2 3; do ip -n "$SO_NS_RT" nexthop add id "$i" via "10.1.$i.2" dev "gw$i"; done
ip -n "$SO_NS_RT" nexthop add id 10 group 1/2/3 type resilient buckets 128 idle_timer 0
ip -n "$SO_NS_RT" route add "$SO_VIP/32" nhid 10 table 100
ip -n "$SO_NS_RT" rule add to "$SO_VIP/32" lookup 100 pref 100
(
	have="1 2 3"
	while sleep 0.01; do
		now=$(so_nexthops)
		[ -n "$now" ] && [ "$now" != "$have" ] || continue
		ip -n "$SO_NS_RT" nexthop replace id 10 group "${now// //}" type resilient buckets 128 idle_timer 0 ||
			echo "nexthop replace failed" >&2
		have=$now
	done
) </dev/null >"$WORK/nhg-follow.log" 2>&1 &
follower=$!
so_death resilient
kill "$follower"; wait "$follower" 2>/dev/null || true
resilient_broken=$SO_SURVIVORS_BROKEN
lg_bg_stop rate
so_route_watch_stop
measure "surviving gateways' held connections broken: legacy multipath $legacy_broken, resilient group $resilient_broken; rate load $(lg_get rate ok) ok, $(lg_get rate failed) failed; BGP sessions dropped by live gateways (a stalled machine): $(so_flaps)"
[ "$resilient_broken" -le 0 ] || so_fail "with a resilient nexthop group $resilient_broken connections on surviving gateways broke"
pass

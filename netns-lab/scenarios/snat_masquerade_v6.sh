#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# snat_masquerade_v6.sh — snat_masquerade.sh over IPv6: the backends have
# no IPv6 route back to the clients (lab.sh up --no-return-route), so only
# source NAT on the gateway lets their replies return.  Three runs, knlbd
# restarted with each config of an IPv6 service:
#   snat = none           every connection fails (the test can fail)
#   snat = masquerade     every connection succeeds; conntrack shows replies
#                         addressed to the gateway's backend-side IPv6 address
#   snat = 2001:db8:1::1  (a fixed IPv6 address) the same
# Each run has its own client source address (see snat_masquerade.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3 --no-return-route

write_conf() {
	conf_global
	cat <<-EOF
	[service web6]
	vip = $LAB_VIP6
	port = 80
	proto = tcp
	scheduler = wrr
	snat = $1
	EOF
	conf_backends6 "$LAB_BACKEND_TCP_PORT"
}

# Replies from a backend to the gateway (reply tuple dst = gateway).
snat_flows() {
	gw_exec conntrack -L -f ipv6 -p tcp --orig-dst "$LAB_VIP6" \
		--reply-dst "$LAB_GW_BACKEND_ADDR6" 2>/dev/null | wc -l
}

SRC=("$(client_source6 0)" "$(client_source6 1)" "$(client_source6 2)")

# 1. No SNAT: the SYN reaches a backend, its SYN-ACK has no route back.
write_conf none >"$WORK/snat6-none.conf"
knlb_start "$WORK/snat6-none.conf"
lg none --source "${SRC[0]}" --tcp --target "[$LAB_VIP6]:80" --count 30 --concurrency 30 --timeout-ms 1000 --deadline-ms 5000
say "snat = none: ok $(lg_get none ok), failed $(lg_get none failed) of 30 (expected: all fail)"
[ "$(lg_get none ok)" -eq 0 ] || fail "snat = none: $(lg_get none ok) connections succeeded without a return route"
knlb_stop

# 2. Masquerade: replies go to the gateway, which un-NATs them.
write_conf masquerade >"$WORK/snat6-masq.conf"
knlb_start "$WORK/snat6-masq.conf"
before=$(snat_flows)
lg masq --source "${SRC[1]}" --tcp --target "[$LAB_VIP6]:80" --count 600 --concurrency 32
after=$(snat_flows)
say "snat = masquerade: ok $(lg_get masq ok), failed $(lg_get masq failed) of 600; flows SNATed to $LAB_GW_BACKEND_ADDR6: $((after - before))"
[ "$(lg_get masq failed)" -eq 0 ] || fail "snat = masquerade: $(lg_get masq failed) connections failed"
[ $((after - before)) -ge 600 ] || fail "conntrack shows $((after - before)) masqueraded IPv6 flows, expected 600"
for b in "${BACKEND_NAMES[@]}"; do
	[ "$(lg_backend masq "$b")" -gt 0 ] || fail "snat = masquerade: $b got no connection"
done
knlb_stop

# 3. A fixed IPv6 SNAT address.
write_conf "$LAB_GW_BACKEND_ADDR6" >"$WORK/snat6-addr.conf"
knlb_start "$WORK/snat6-addr.conf"
before=$(snat_flows)
lg addr --source "${SRC[2]}" --tcp --target "[$LAB_VIP6]:80" --count 300 --concurrency 32
after=$(snat_flows)
say "snat = $LAB_GW_BACKEND_ADDR6: ok $(lg_get addr ok), failed $(lg_get addr failed) of 300; flows SNATed: $((after - before))"
[ "$(lg_get addr failed)" -eq 0 ] || fail "snat = $LAB_GW_BACKEND_ADDR6: $(lg_get addr failed) connections failed"
[ $((after - before)) -ge 300 ] || fail "conntrack shows $((after - before)) SNATed IPv6 flows, expected 300"
pass "IPv6: no SNAT fails, masquerade and fixed-address SNAT succeed"

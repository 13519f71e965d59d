#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# snat_masquerade.sh — the backends have no route back to the clients
# (lab.sh up --no-return-route), so only source NAT on the gateway lets
# their replies return.  Three runs, knlbd restarted with each config:
#   snat = none        every connection fails (the test can fail)
#   snat = masquerade  every connection succeeds; conntrack shows replies
#                      addressed to the gateway's backend-side address
#   snat = 10.0.0.1    (a fixed address) the same
# KNLB_LAB_FAMILY=6 (snat_masquerade_v6.sh): an IPv6 service, the backends
# without an IPv6 route back, snat = 2001:db8:1::1 as the fixed address.
# Each run has its own client source address: the failed runs leave
# unreplied conntrack entries that keep their old (un-SNATed) binding for
# up to 120 s, and a later SYN that happened to reuse such an address and
# port would follow that binding, not the new rules.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3 --no-return-route

write_conf() {
	conf_global
	cat <<-EOF
	[service web]
	vip = $VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = $1
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
}

# Replies from a backend to the gateway (reply tuple dst = gateway).
snat_flows() {
	gw_exec conntrack -L -f "$CT_FAMILY" -p tcp --orig-dst "$VIP" --reply-dst "$GW_BACKEND_ADDR" 2>/dev/null | wc -l
}

# 1. No SNAT: the SYN reaches a backend, its SYN-ACK has no route back.
write_conf none >"$WORK/snat-none.conf"
knlb_start "$WORK/snat-none.conf"
SRC=("$(client_source 0)" "$(client_source 1)" "$(client_source 2)")
lg none --source "${SRC[0]}" --tcp --target "$VIP_HOST:80" --count 30 --concurrency 30 --timeout-ms 1000 --deadline-ms 5000
say "snat = none: ok $(lg_get none ok), failed $(lg_get none failed) of 30 (expected: all fail)"
[ "$(lg_get none ok)" -eq 0 ] || fail "snat = none: $(lg_get none ok) connections succeeded without a return route"
knlb_stop

# 2. Masquerade: replies go to the gateway, which un-NATs them.
write_conf masquerade >"$WORK/snat-masq.conf"
knlb_start "$WORK/snat-masq.conf"
before=$(snat_flows)
lg masq --source "${SRC[1]}" --tcp --target "$VIP_HOST:80" --count 600 --concurrency 32 --sport-base 40000
after=$(snat_flows)
say "snat = masquerade: ok $(lg_get masq ok), failed $(lg_get masq failed) of 600; flows SNATed to $GW_BACKEND_ADDR: $((after - before))"
[ "$(lg_get masq failed)" -eq 0 ] || fail "snat = masquerade: $(lg_get masq failed) connections failed"
[ $((after - before)) -ge 600 ] || fail "conntrack shows $((after - before)) masqueraded flows, expected 600"
for b in "${BACKEND_NAMES[@]}"; do
	[ "$(lg_backend masq "$b")" -gt 0 ] || fail "snat = masquerade: $b got no connection"
done
knlb_stop

# 3. A fixed SNAT address.
write_conf "$GW_BACKEND_ADDR" >"$WORK/snat-addr.conf"
knlb_start "$WORK/snat-addr.conf"
before=$(snat_flows)
lg addr --source "${SRC[2]}" --tcp --target "$VIP_HOST:80" --count 300 --concurrency 32
after=$(snat_flows)
say "snat = $GW_BACKEND_ADDR: ok $(lg_get addr ok), failed $(lg_get addr failed) of 300; flows SNATed: $((after - before))"
[ "$(lg_get addr failed)" -eq 0 ] || fail "snat = $GW_BACKEND_ADDR: $(lg_get addr failed) connections failed"
[ $((after - before)) -ge 300 ] || fail "conntrack shows $((after - before)) SNATed flows, expected 300"
pass "IPv$LAB_FAMILY: no SNAT fails, masquerade and fixed-address SNAT succeed"

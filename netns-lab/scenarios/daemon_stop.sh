#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# daemon_stop.sh — the data plane does not depend on knlbd (docs/architecture.md, kernel contract).
# With TCP and UDP traffic flowing and 30 connections held open, SIGTERM
# knlbd: it exits promptly, leaves table inet knlb exactly as it was, the
# held connections still answer from the same backend, and new TCP and UDP
# flows still balance over every backend with 0 failures.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

{
	conf_global
	cat <<-EOF
	[service web]
	vip = $LAB_VIP
	port = 80
	proto = tcp
	scheduler = wrr
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_TCP_PORT"
	cat <<-EOF

	[service dns]
	vip = $LAB_VIP
	port = 53
	proto = udp
	scheduler = wrr
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_UDP_PORT"
} >"$WORK/stop.conf"
knlb_start "$WORK/stop.conf"

# check_traffic RUN: 300 TCP connections and 300 UDP flows, none failing,
# every backend used.
check_traffic() {
	local run=$1 b
	lg "$run-tcp" --tcp --target "$LAB_VIP:80" --count 300 --concurrency 32
	lg "$run-udp" --udp --target "$LAB_VIP:53" --count 300 --concurrency 32
	say "$run: tcp ok $(lg_get "$run-tcp" ok) failed $(lg_get "$run-tcp" failed); udp ok $(lg_get "$run-udp" ok) failed $(lg_get "$run-udp" failed)"
	[ "$(lg_get "$run-tcp" failed)" -eq 0 ] || fail "$run: $(lg_get "$run-tcp" failed) TCP connections failed"
	[ "$(lg_get "$run-udp" failed)" -eq 0 ] || fail "$run: $(lg_get "$run-udp" failed) UDP flows failed"
	for b in "${BACKEND_NAMES[@]}"; do
		[ "$(lg_backend "$run-tcp" "$b")" -gt 0 ] || fail "$run: $b got no TCP connection"
		[ "$(lg_backend "$run-udp" "$b")" -gt 0 ] || fail "$run: $b got no UDP flow"
	done
}

check_traffic running
lg_hold_start held --tcp --target "$LAB_VIP:80" --count 30
knlb_table_snapshot >"$WORK/table-before.nft"

knlb_stop
say "knlbd stopped with status $KNLBD_RC"
grep -q "ignored SIGTERM" "$KNLBD_LOG" && fail "knlbd needed SIGKILL"
[ "$KNLBD_RC" -eq 0 ] || fail "knlbd exited with status $KNLBD_RC on SIGTERM (knlbd --help: 0 ok)"

knlb_table_present || fail "table inet knlb is gone after SIGTERM"
knlb_table_snapshot >"$WORK/table-after.nft"
if ! cmp -s "$WORK/table-before.nft" "$WORK/table-after.nft"; then
	diff "$WORK/table-before.nft" "$WORK/table-after.nft" | head -n 20 >&2 || true
	fail "SIGTERM changed table inet knlb"
fi

lg_hold_release held
say "held connections: ok $(lg_get held held_ok), failed $(lg_get held held_failed), moved $(lg_get held held_moved) of 30"
[ "$(lg_get held held_ok)" -eq 30 ] || fail "held connections broke after knlbd stopped"
[ "$(lg_get held held_moved)" -eq 0 ] || fail "held connections moved"

check_traffic stopped
pass "forwarding continues without knlbd"

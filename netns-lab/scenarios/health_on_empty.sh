#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# health_on_empty.sh — every backend down.  Four services on the same 3
# backends (check = tcp on :8080, also for the UDP ones): TCP :80 and UDP
# :53 with on_empty = reject, TCP :81 and UDP :54 with on_empty = drop.
# Crash every server: knlbd logs each service without a usable backend.
#  - reject: with the backends silenced (they drop :8080 and :5353 in their
#    own namespaces, so only the gateway can answer at once), new TCP
#    connections are refused (reset) and UDP gets port unreachable
#    (ECONNREFUSED), the slowest within 50 ms: time-to-error measured.
#    The UDP flows come one from each client address: the gateway's kernel
#    rate-limits ICMP errors per destination (net.ipv4.icmp_ratelimit,
#    burst 6), TCP resets it does not.  What 20 datagrams at once from one
#    address get is measured and shown, not asserted.
#  - drop: with the backends refusing (no server, no silence, so a flow
#    that reached one would be refused at once), TCP connections and UDP
#    flows time out, none is refused.
# Start be1 again: every service serves again, through be1, 0 failures.
# Each phase sends from its own client address: no flow can follow a
# conntrack entry an earlier phase left (UDP entries to the dead backends
# live on unless knlbd flushes them; that is not what this tests).
# KNLB_LAB_FAMILY=6 (health_on_empty_v6.sh): the same over IPv6, where
# reject means a TCP reset and ICMPv6 port unreachable, and the ICMPv6
# errors are rate-limited by net.ipv6.icmp.ratelimit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

t_init
lab_up --backends 3

INTERVAL_MS=200
TIMEOUT_MS=100
RISE=2
FALL=2
TTE_MAX_MS=50		# a reset, not a timeout
DROP_TIMEOUT_MS=1000
N=50
TCP=$LAB_BACKEND_TCP_PORT
UDP=$LAB_BACKEND_UDP_PORT

service() {	# NAME PROTO PORT ON_EMPTY BACKEND_PORT
	cat <<-EOF

	[service $1]
	vip = $VIP
	port = $3
	proto = $2
	scheduler = wrr
	snat = none
	check = tcp
	check_port = $TCP
	interval = ${INTERVAL_MS}ms
	timeout = ${TIMEOUT_MS}ms
	rise = $RISE
	fall = $FALL
	on_empty = $4
	EOF
	conf_backends "$5"
}
{
	conf_global
	service tcp-reject tcp 80 reject "$TCP"
	service udp-reject udp 53 reject "$UDP"
	service tcp-drop tcp 81 drop "$TCP"
	service udp-drop udp 54 drop "$UDP"
} >"$WORK/on_empty.conf"
knlb_start "$WORK/on_empty.conf"

# serving RUN SOURCE: every service answers N flows from SOURCE with 0
# failures (retried for up to 5 s while the first probes pass).
FLOWS=("tcp 80" "udp 53" "tcp 81" "udp 54")
serving() {
	local run=$1 src=$2 f proto port i
	for f in "${FLOWS[@]}"; do
		read -r proto port <<<"$f"
		for ((i = 0; i < 25; i++)); do
			lg "$run-$proto$port" "--$proto" --target "$VIP_HOST:$port" --count "$N" \
				--concurrency 10 --timeout-ms 1000 --source "$src"
			[ "$(lg_get "$run-$proto$port" failed)" -eq 0 ] && break
			sleep 0.2
		done
		say "$run: $proto :$port ok $(lg_get "$run-$proto$port" ok) failed $(lg_get "$run-$proto$port" failed)"
		[ "$(lg_get "$run-$proto$port" failed)" -eq 0 ] || fail "$run: $proto :$port does not serve"
	done
}
serving up "$(client_source 0)"

# ---- every backend dies
mark=$(log_mark)
t_kill=$(now_ms)
for b in "${BACKEND_NAMES[@]}"; do
	t_last_kill=$(now_ms)
	srv_stop "$b" KILL
done
log_wait "$mark" "no usable backend" 5 4 ||
	fail "knlbd did not log 'no usable backend' for all 4 services within 5 s (saw $(log_count "$mark" "no usable backend"))"
empty_ms="$(ms_diff "$t_kill" "$LOG_SEEN_MS") ms after the first kill, $(ms_diff "$t_last_kill" "$LOG_SEEN_MS") ms after the last"
tail -n "+$((mark + 1))" "$KNLBD_LOG" | grep -i "no usable backend" | sed "s/^/[$T_NAME] knlbd: /"
[ "$(log_count "$mark" "no usable backend.*on_empty|on_empty.*no usable backend")" -ge 4 ] ||
	fail "the 'no usable backend' lines do not name on_empty"
measure "kill all -> 'no usable backend' logged for all 4 services $empty_ms"

# direct RUN PROTO PORT: one flow from the gateway straight to be1 (a control).
direct() {
	gw_exec "$LOADGEN" "--$2" --target "$(backend_target 0 "$3")" --count 1 --timeout-ms 300 \
		--timeline >"$WORK/$1.out" 2>&1 || true
}

# ---- on_empty = reject, backends silent
for ns in $LAB_NS_BACKENDS; do
	ip netns exec "$ns" nft -f - <<-EOF
	table inet lab_silence {
		chain input {
			type filter hook input priority 0;
			tcp dport $TCP drop
			udp dport $UDP drop
		}
	}
	EOF
done
direct ctl-silent-tcp tcp "$TCP"
direct ctl-silent-udp udp "$UDP"
say "control, straight to silenced be1: tcp $(grep '^fail ' "$WORK/ctl-silent-tcp.out" | tr '\n' ' ')udp $(grep '^fail ' "$WORK/ctl-silent-udp.out" | tr '\n' ' ')"
[ "$(lg_fail ctl-silent-tcp connect_timeout)" -eq 1 ] || fail "control: silenced be1 does not time out (tcp)"
[ "$(lg_fail ctl-silent-udp udp_timeout)" -eq 1 ] || fail "control: silenced be1 does not time out (udp)"

# reject_run RUN PROTO PORT COUNT ARGS: COUNT flows one after another, each
# refused within TTE_MAX_MS.
reject_run() {
	local run=$1 proto=$2 port=$3 n=$4 refused; shift 4
	lg "$run" "--$proto" --target "$VIP_HOST:$port" --count "$n" --concurrency 1 \
		--timeout-ms 300 --timeline "$@"
	refused=$(lg_fail "$run" connect_refused)
	say "on_empty = reject, $proto :$port: $n flows, refused $refused, ok $(lg_get "$run" ok); $(grep '^fail ' "$WORK/$run.out" | tr '\n' ' ')"
	measure "on_empty = reject, $proto: time-to-error min $(lg_get "$run" tte_min_ms) avg $(lg_get "$run" tte_avg_ms) max $(lg_get "$run" tte_max_ms) ms over $n flows"
	[ "$refused" -eq "$n" ] || fail "on_empty = reject, $proto: $refused of $n flows refused"
	lt "$(lg_get "$run" tte_max_ms)" "$TTE_MAX_MS" ||
		fail "on_empty = reject, $proto: slowest error after $(lg_get "$run" tte_max_ms) ms (limit $TTE_MAX_MS ms)"
}
# The gateway's ICMP error rate limits of the family, for the measure line.
icmp_limits() {
	if [ "$LAB_FAMILY" = 6 ]; then
		echo "$(gw_exec sysctl -n net.ipv6.icmp.ratelimit) ms net.ipv6.icmp.ratelimit"
	else
		echo "$(gw_exec sysctl -n net.ipv4.icmp_ratelimit) ms icmp_ratelimit, icmp_ratemask $(gw_exec sysctl -n net.ipv4.icmp_ratemask)"
	fi
}
reject_run reject-tcp tcp 80 "$N" --source "$(client_source 1)"
# One UDP flow from each of the client addresses 4..31.
reject_run reject-udp udp 53 $((LAB_CLIENT_SOURCES - 4)) --source-range "$(client_source 4)-$(client_source $((LAB_CLIENT_SOURCES - 1)))"
lg reject-udp-burst --udp --target "$VIP_HOST:53" --count 20 --concurrency 20 --timeout-ms 500 \
	--timeline --source "$(client_source 1)"
measure "on_empty = reject, udp, 20 datagrams at once from one client address: $(lg_fail reject-udp-burst connect_refused) refused (time-to-error max $(awk '$1 == "flow" && $4 == "fail:connect_refused" && $6 > m { m = $6 } END { print m + 0 }' "$WORK/reject-udp-burst.out") ms), $(lg_fail reject-udp-burst udp_timeout) timed out (gateway: $(icmp_limits))"
[ "$(lg_fail reject-udp-burst connect_refused)" -gt 0 ] || fail "on_empty = reject, udp: no datagram of 20 refused"

# ---- on_empty = drop, backends refusing
for ns in $LAB_NS_BACKENDS; do
	ip netns exec "$ns" nft delete table inet lab_silence
done
direct ctl-refusing-tcp tcp "$TCP"
direct ctl-refusing-udp udp "$UDP"
say "control, straight to be1 without a server: tcp $(grep '^fail ' "$WORK/ctl-refusing-tcp.out" | tr '\n' ' ')udp $(grep '^fail ' "$WORK/ctl-refusing-udp.out" | tr '\n' ' ')"
[ "$(lg_fail ctl-refusing-tcp connect_refused)" -eq 1 ] || fail "control: be1 does not refuse (tcp)"
[ "$(lg_fail ctl-refusing-udp connect_refused)" -eq 1 ] || fail "control: be1 does not refuse (udp)"

for f in "tcp 81 connect_timeout" "udp 54 udp_timeout"; do
	read -r proto port why <<<"$f"
	run=drop-$proto
	lg "$run" "--$proto" --target "$VIP_HOST:$port" --count 10 --concurrency 10 \
		--timeout-ms "$DROP_TIMEOUT_MS" --timeline --source "$(client_source 2)"
	say "on_empty = drop, $proto :$port: 10 flows, ok $(lg_get "$run" ok); $(grep '^fail ' "$WORK/$run.out" | tr '\n' ' ')"
	measure "on_empty = drop, $proto: time-to-error min $(lg_get "$run" tte_min_ms) max $(lg_get "$run" tte_max_ms) ms (client timeout $DROP_TIMEOUT_MS ms)"
	[ "$(lg_fail "$run" connect_refused)" -eq 0 ] || fail "on_empty = drop, $proto: flows were refused"
	[ "$(lg_fail "$run" "$why")" -eq 10 ] || fail "on_empty = drop, $proto: not every flow timed out"
done

# ---- be1 comes back
mark=$(log_mark)
t_start=$(now_ms)
srv_start be1
log_wait "$mark" "be1\b.*\bUP\b" 5 4 || fail "knlbd did not log be1 UP in all 4 services within 5 s"
measure "restart be1 -> UP logged in all 4 services $(ms_diff "$t_start" "$LOG_SEEN_MS") ms"
serving back "$(client_source 3)"
for f in "${FLOWS[@]}"; do
	read -r proto port <<<"$f"
	[ "$(lg_backend "back-$proto$port" be1)" -eq "$N" ] || fail "back: $proto :$port answered by others than be1"
done
pass "no backend: reject refuses within $TTE_MAX_MS ms, drop times out; be1 back serves everything"

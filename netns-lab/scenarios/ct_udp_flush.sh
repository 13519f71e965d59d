#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ct_udp_flush.sh — flush = yes on a UDP service.  Clients send from 96
# fixed (address, port) tuples to two maglev (src-ip-port) UDP services
# with check = udp over the same 3 backends: dns (flush = yes, the
# default for udp) and dns-noflush (flush = no, the control).  SIGKILL
# be2's server: knlbd logs DOWN and "dns/be2: flushed N conntrack
# entries", N = the tuples be2 had.  Right after that line the same
# tuples again: every datagram of dns is answered, those of be2's tuples by
# another backend (0 lost).  On dns-noflush be2's tuples keep their
# conntrack entry (UDP timeout 30 s, refreshed by every datagram) and go on
# failing toward the dead backend, twice a second apart: what flush saves.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ct.sh
. "$(dirname "$0")/../lib/ct.sh"

ct_init
lab_up --backends 3

INTERVAL_MS=200
TIMEOUT_MS=100
FALL=2
VICTIM=be2
SPORT=40000
NTUPLES=96	# 32 client addresses x 3 ports
{
	conf_global
	for svc in "dns 53 yes" "dns-noflush 54 no"; do
		read -r name port flush <<<"$svc"
		cat <<-EOF
		[service $name]
		vip = $LAB_VIP
		port = $port
		proto = udp
		scheduler = maglev
		hash_key = src-ip-port
		snat = none
		flush = $flush
		check = udp
		check_send = ping
		interval = ${INTERVAL_MS}ms
		timeout = ${TIMEOUT_MS}ms
		rise = 2
		fall = $FALL
		EOF
		conf_backends "$LAB_BACKEND_UDP_PORT"
		echo
	done
} >"$WORK/flush.conf"
knlb_start_ctl "$WORK/flush.conf"

# tuples RUN PORT [TIMEOUT_MS]: one datagram from each of the fixed tuples
# to VIP:PORT, one at a time; "conn ADDR:PORT BACKEND" lines in RUN.out.
tuples() {
	lg "$1" --udp --target "$LAB_VIP:$2" --count "$NTUPLES" --concurrency 8 \
		--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base "$SPORT" \
		--timeout-ms "${3:-2000}" --per-conn
}

# on_backend RUN B: the tuples of RUN answered by B, one per line.
on_backend() {
	awk -v b="$2" '$1 == "conn" && $3 == b { print $2 }' "$WORK/$1.out" | sort
}

# Before: every tuple answered, be2 gets its share on both services.
for run in "a-dns 53" "a-noflush 54"; do
	read -r name port <<<"$run"
	tuples "$name" "$port"
	[ "$(lg_get "$name" ok)" -eq "$NTUPLES" ] || fail "$name: $(lg_get "$name" ok) of $NTUPLES tuples answered before the crash"
done
on_backend a-dns "$VICTIM" >"$WORK/victim-dns.list"
on_backend a-noflush "$VICTIM" >"$WORK/victim-noflush.list"
v_dns=$(grep -c . "$WORK/victim-dns.list" || true)
v_nf=$(grep -c . "$WORK/victim-noflush.list" || true)
say "tuples on $VICTIM: dns $v_dns, dns-noflush $v_nf (of $NTUPLES)"
if [ "$v_dns" -eq 0 ] || [ "$v_nf" -eq 0 ]; then
	fail "$VICTIM has no tuple: nothing to show"
fi
st_snap
[ "$(st_be dns "$VICTIM" active_flows)" -eq "$v_dns" ] ||
	fail "dns $VICTIM: knlb active $(st_be dns "$VICTIM" active_flows), the client saw $v_dns tuples"

# ---- crash be2
mark=$(log_mark)
t_kill=$(now_ms)
srv_stop "$VICTIM" KILL
log_wait "$mark" "dns/$VICTIM DOWN" 5 || fail "knlbd logged no DOWN for dns/$VICTIM within 5 s"
say "knlbd: $LOG_LINE"
log_wait "$mark" "dns/$VICTIM: flushed [0-9]+ conntrack entries" 5 || fail "no flush logged for dns/$VICTIM within 5 s of the crash"
say "knlbd: $LOG_LINE"
t_flush=$LOG_SEEN_MS
flushed=$(sed -E 's/.*flushed ([0-9]+) conntrack.*/\1/' <<<"$LOG_LINE")
log_wait "$mark" "dns-noflush/$VICTIM DOWN" 5 || fail "knlbd logged no DOWN for dns-noflush/$VICTIM"
[ "$(log_count "$mark" "dns-noflush/$VICTIM: flushed")" -eq 0 ] || fail "dns-noflush (flush = no) was flushed"
measure "kill -> flush logged $(ms_diff "$t_kill" "$t_flush") ms; $flushed entries flushed, $VICTIM had $v_dns tuples"
[ "$flushed" -eq "$v_dns" ] || fail "knlbd flushed $flushed entries, $VICTIM had $v_dns tuples of dns"

# ---- right after the flush line: the same tuples
tuples b-dns 53 1000
on_backend b-dns "$VICTIM" >"$WORK/b-victim.list"
# be2's tuples (first file) answered now by a backend other than be2.
moved=$(awk -v v="$VICTIM" 'NR == FNR { t[$1] = 1; next }
	$1 == "conn" && ($2 in t) && $3 != "-" && $3 != v { n++ } END { print n + 0 }' \
	"$WORK/victim-dns.list" "$WORK/b-dns.out")
say "dns after the flush: ok $(lg_get b-dns ok) failed $(lg_get b-dns failed); $VICTIM's tuples answered elsewhere: $moved of $v_dns"
measure "dns (flush = yes), first datagram after the flush line: $(lg_get b-dns ok) of $NTUPLES answered, $(lg_get b-dns failed) lost; $VICTIM's $v_dns tuples answered by another backend: $moved"
[ "$(lg_get b-dns failed)" -eq 0 ] || fail "dns: $(lg_get b-dns failed) datagrams lost after the flush ($(grep '^fail ' "$WORK/b-dns.out" | tr '\n' ' '))"
[ "$moved" -eq "$v_dns" ] || fail "dns: only $moved of $VICTIM's $v_dns tuples were answered by another backend"
st_snap
[ "$(st_be dns "$VICTIM" active_flows)" -eq 0 ] || fail "dns $VICTIM: knlb still counts $(st_be dns "$VICTIM" active_flows) active flows after the flush"

# ---- control, flush = no: be2's tuples keep failing (bounded: 2 rounds)
for r in 1 2; do
	tuples "c$r-noflush" 54 500
	f=$(lg_get "c$r-noflush" failed)
	measure "dns-noflush (flush = no), round $r after the flush line: $f of $NTUPLES lost ($(grep '^fail ' "$WORK/c$r-noflush.out" | tr '\n' ' ')), $VICTIM had $v_nf tuples"
	[ "$f" -eq "$v_nf" ] || fail "dns-noflush round $r: $f datagrams lost, expected $VICTIM's $v_nf tuples"
	[ "$(lg_get "c$r-noflush" ok)" -eq $((NTUPLES - v_nf)) ] || fail "dns-noflush round $r: other tuples failed"
	sleep 1
done
st_snap
kernel=$(kct_count "$(st_svc dns-noflush ct_mark)" -p udp --reply-src "${BACKEND_ADDRS[$(backend_index "$VICTIM")]}")
measure "dns-noflush $VICTIM: knlb active $(st_be dns-noflush "$VICTIM" active_flows), conntrack entries $kernel"
[ "$kernel" -eq "$v_nf" ] || fail "dns-noflush: conntrack keeps $kernel entries to $VICTIM, expected $v_nf"
pass "flush = yes: the next datagram of a dead backend's tuples reached another backend, 0 lost; flush = no kept sending them to the dead one"

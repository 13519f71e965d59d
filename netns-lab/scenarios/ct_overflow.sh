#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ct_overflow.sh — lost conntrack events are detected and corrected.  knlbd
# opens its event socket with a 4 MiB receive buffer (src/ct/ct.c,
# CT_RCVBUF_START).  SIGSTOP knlbd, send a burst of 30000 new UDP flows
# through the VIP (each from its own address and port: one conntrack entry
# and one NEW event each), SIGCONT: the kernel dropped what did not fit,
# knlbd reads ENOBUFS, and knlbctl status shows overflows >= 1 and
# resyncs >= 1, fewer NEW events than flows, and then per backend exactly
# the active flows `conntrack -L -m MARK --reply-src BACKEND` lists (0
# wrong).  300 more flows afterwards are counted from events again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/ct.sh
. "$(dirname "$0")/../lib/ct.sh"

ct_init
lab_up --backends 3

BURST=30000
AFTER=300
{
	conf_global
	cat <<-EOF
	[service dns]
	vip = $LAB_VIP
	port = 53
	proto = udp
	scheduler = maglev
	hash_key = src-ip-port
	snat = none
	EOF
	conf_backends "$LAB_BACKEND_UDP_PORT"
} >"$WORK/overflow.conf"
knlb_start_ctl "$WORK/overflow.conf"
st_snap
MARK=$(st_svc dns ct_mark)

# check_counts WHAT: per backend, knlb's active count == conntrack's entries.
check_counts() {
	local i b knlb kernel sum=0 wrong=0
	st_snap
	for i in "${!BACKEND_NAMES[@]}"; do
		b=${BACKEND_NAMES[i]}
		knlb=$(st_be dns "$b" active_flows)
		kernel=$(kct_count "$MARK" -p udp --reply-src "${BACKEND_ADDRS[i]}")
		measure "$1: dns $b knlb active $knlb, conntrack -L -m $MARK --reply-src ${BACKEND_ADDRS[i]}: $kernel"
		wrong=$((wrong + (knlb > kernel ? knlb - kernel : kernel - knlb)))
		sum=$((sum + kernel))
	done
	measure "$1: conntrack $sum entries of service dns, knlb active $(st_svc dns active_flows), $wrong wrong"
	[ "$wrong" -eq 0 ] || fail "$1: knlb's per-backend counts are off by $wrong flows"
	[ "$(st_svc dns active_flows)" -eq "$sum" ] || fail "$1: knlb counts $(st_svc dns active_flows) active flows, conntrack $sum"
	[ "$(kct_count "$MARK")" -eq "$sum" ] || fail "$1: conntrack has entries of mark $MARK outside the 3 backends"
}

# ---- the burst while knlbd does not read
mark=$(log_mark)
kill -STOP "$KNLBD_PID"
t0=$(now_ms)
# lg never fails by itself: nothing can leave knlbd stopped.
lg burst --udp --target "$LAB_VIP:53" --count "$BURST" --concurrency 256 --timeout-ms 1000 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base 20000
stopped_ms=$(ms_diff "$t0" "$(now_ms)")
kill -CONT "$KNLBD_PID"
flows=$(kct_count "$MARK")
say "burst: $(lg_get burst total) flows in $stopped_ms ms while knlbd was stopped, $(lg_get burst ok) answered; conntrack holds $flows entries of mark $MARK"
[ "$flows" -eq "$BURST" ] || fail "conntrack holds $flows entries of the service, not $BURST (nf_conntrack_max $(gw_exec sysctl -n net.netfilter.nf_conntrack_max))"

log_wait "$mark" "ct: conntrack events lost" 10 || fail "knlbd logged no event loss after the burst"
say "knlbd: $LOG_LINE"
for ((i = 0; i < 100; i++)); do	# 10 s
	st_snap
	[ "$(st_ct resyncs)" -ge 1 ] && [ "$(st_ct counts_stale)" = false ] && break
	sleep 0.1
done
log_wait "$mark" "ct: resync corrected" 1 && say "knlbd: $LOG_LINE"
say "conntrack events: new $(st_ct events_new) destroy $(st_ct events_destroy) overflows $(st_ct overflows) resyncs $(st_ct resyncs) stale $(st_ct counts_stale)"
measure "burst of $BURST flows, knlbd stopped $stopped_ms ms: $(st_ct events_new) NEW events read ($((BURST - $(st_ct events_new))) lost), overflows $(st_ct overflows), resyncs $(st_ct resyncs)"
[ "$(st_ct overflows)" -ge 1 ] || fail "no overflow reported: the burst fitted the buffer, nothing was shown"
[ "$(st_ct events_new)" -lt "$BURST" ] || fail "knlbd read all $BURST NEW events: no event was lost"
[ "$(st_ct resyncs)" -ge 1 ] || fail "no resync after the overflow"
[ "$(st_ct counts_stale)" = false ] || fail "knlbctl status still reports stale counts 10 s after the overflow"
check_counts "after the resync"

# ---- events work again: more flows, counted without another resync
resyncs=$(st_ct resyncs)
new0=$(st_ct events_new)
lg after --udp --target "$LAB_VIP:53" --count "$AFTER" --concurrency 32 \
	--source-range "$LAB_CLIENT_SOURCE_RANGE" --sport-base 50000
st_wait_events $((new0 + AFTER)) 5 || fail "knlbd read $(($(st_ct events_new) - new0)) of $AFTER NEW events after the resync"
check_counts "after $AFTER more flows"
[ "$(st_ct resyncs)" -eq "$resyncs" ] || fail "another resync was needed for $AFTER flows"
pass "the overflow was reported and corrected by a resync: 0 wrong counts"

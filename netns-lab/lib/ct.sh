# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# ct.sh — sourced after common.sh by the conntrack scenarios (ct_*.sh) and
# bench-ct-daemon.sh: knlbctl's view of the flows next to the kernel's.
#
#   ct_init              t_init, plus jq and knlbctl (exit 77 without them)
#   knlb_start_ctl CONF  knlb_start, then wait for the control socket
#   ctl ARGS             knlbctl -s $WORK/knlb.sock ARGS (status in CTL_RC)
#   st_snap              knlbctl status --json into $WORK/status.json
#   st_ct KEY            conntrack.KEY of the last st_snap (events_new, overflows...)
#   st_svc SVC KEY       a service's KEY (active_flows, flows_opened, ct_mark...)
#   st_be SVC B KEY      a backend's KEY (active_flows, flows_opened, flows_closed)
#   kct_count MARK [ARGS]  conntrack -L -m MARK/MASK ARGS in the gateway: entries
#   knlbd_cpu_ticks      knlbd's utime+stime (clock ticks, /proc/PID/stat)

KNLBCTL=${KNLBCTL:-$KNLB_BUILD/knlbctl}
CTL_RC=0

ct_init() {
	t_init
	command -v jq >/dev/null || t_skip "jq not installed (make deps)"
	[ "$KNLB_LAB_RULES" = knlbd ] || t_skip "counts flows with knlbd; KNLB_LAB_RULES=hand has none"
	[ -x "$KNLBCTL" ] || t_skip "$KNLBCTL not built (make)"
}

# knlb_start_ctl CONF: knlb_start CONF, then wait (bounded) until the
# control socket answers: knlbd logs "programmed" before it listens there.
knlb_start_ctl() {
	knlb_start "$1"
	knlb_wait_ctl ||
		fail "knlbd's control socket $WORK/knlb.sock does not answer 5 s after programming"
}

# ctl ARGS: one knlbctl command against this scenario's knlbd.  Output on
# stdout; never fails by itself (CTL_RC has knlbctl's status; 4 = warning).
ctl() {
	CTL_RC=0
	"$KNLBCTL" -s "$WORK/knlb.sock" -t 10 "$@" || CTL_RC=$?
}

st_snap() {
	ctl status --json >"$WORK/status.json"
	# 4: a warning (a backend down...); the reply is still complete.
	[ "$CTL_RC" -eq 0 ] || [ "$CTL_RC" -eq 4 ] || fail "knlbctl status failed (exit $CTL_RC)"
}

st_ct() {
	jq -r --arg k "$1" '.conntrack[$k]' "$WORK/status.json"
}

st_svc() {
	jq -r --arg s "$1" --arg k "$2" '.services[] | select(.name == $s) | .[$k]' "$WORK/status.json"
}

st_be() {
	jq -r --arg s "$1" --arg b "$2" --arg k "$3" \
		'.services[] | select(.name == $s) | .backends[] | select(.id == $b) | .[$k]' \
		"$WORK/status.json"
}

# st_wait_events N SECS: poll knlbctl status until knlbd has applied N NEW
# events in all (conntrack.events_new >= N); 1 on timeout.
st_wait_events() {
	local n=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		st_snap
		[ "$(st_ct events_new)" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# kct_count MARK [ARGS]: conntrack entries in the gateway whose ct mark is
# MARK (whole mark, the lab's configs keep ct_mark_mask 0xffffffff), further
# filtered by ARGS (e.g. --reply-src ADDR, --state ESTABLISHED).
kct_count() {
	local mark=$1; shift
	gw_exec conntrack -L -m "$mark/0xffffffff" "$@" 2>/dev/null | grep -c . || true
}

# knlbd_cpu_ticks: utime + stime of knlbd, in clock ticks (getconf CLK_TCK).
knlbd_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$KNLBD_PID/stat") || fail "knlbd $KNLBD_PID is gone"
	stat=${stat##*) }
	# Fields after the comm: 3 state ... 14 utime 15 stime (1-based in
	# proc(5)); here the state is field 1.
	awk '{ print $12 + $13 }' <<<"$stat"
}

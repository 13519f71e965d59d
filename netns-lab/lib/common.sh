# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# common.sh — sourced by every netns-lab scenario.
#
#   t_init             root check (exit 77), tools, work dir, trap cleanup EXIT
#   lab_up ARGS        lab.sh up ARGS, then source its state (LAB_* variables)
#   conf_global        the [global] section every scenario config starts with
#   conf_backends P W..  one backend line per lab backend, port P, weights W..
#   knlb_start CONF    knlbd -t, then knlbd -c CONF in the gateway, wait "programmed"
#   knlb_stop          SIGTERM knlbd (by pid), bounded wait; status in KNLBD_RC
#   lg NAME ARGS       knlb-loadgen ARGS in the client; output in $WORK/NAME.out
#   lg_get NAME KEY    a summary value ("ok", "failed", ...) from NAME.out
#   lg_backend NAME B  answers from backend B in NAME.out (0 when absent)
#   lg_hold_start NAME ARGS / lg_hold_release NAME   held connections
#   srv_counts / srv_count B KEY   the backend servers' own counters
#   fail MSG / pass    end the scenario; failure dumps ruleset, conntrack, logs
#
# KNLB_LAB_RULES=hand runs against lib/hand-render.awk instead of knlbd.
# KNLB_LAB_KEEP=1 keeps the work directory.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_ROOT=$(dirname "$LAB_HERE")
export KNLB_BUILD=${KNLB_BUILD:-$LAB_ROOT/build}
LAB_SH=$LAB_HERE/lab.sh
LOADGEN=$KNLB_BUILD/lab/knlb-loadgen
KNLBD=${KNLBD:-$KNLB_BUILD/knlbd}
KNLB_LAB_RULES=${KNLB_LAB_RULES:-knlbd}
T_NAME=$(basename "$0" .sh)
KNLBD_PID=
HOLD_PID=
# shellcheck disable=SC2034 # read by scenarios
KNLBD_RC=0
KNLBD_LOG=
WORK=

say() { echo "[$T_NAME] $*"; }

t_skip() {
	say "SKIP: $*"
	exit 77
}

t_init() {
	[ "$(id -u)" = 0 ] || t_skip "needs root (network namespaces)"
	local tool
	for tool in ip nft conntrack awk; do
		command -v "$tool" >/dev/null || t_skip "$tool not installed"
	done
	case $KNLB_LAB_RULES in
	knlbd)
		[ -x "$KNLBD" ] || t_skip "$KNLBD not built (make build/knlbd; or KNLB_LAB_RULES=hand)" ;;
	hand) ;;
	*) echo "KNLB_LAB_RULES: knlbd or hand" >&2; exit 2 ;;
	esac
	WORK=$(mktemp -d "/tmp/knlb-lab-$T_NAME.XXXXXX")
	# One binary for the whole scenario, even if build/knlbd is rebuilt
	# meanwhile (a restart must run the same code).
	if [ "$KNLB_LAB_RULES" = knlbd ]; then
		cp "$KNLBD" "$WORK/knlbd"
		KNLBD=$WORK/knlbd
	fi
	export KNLB_LAB_STATE=$WORK/lab.env
	KNLBD_LOG=$WORK/knlbd.log
	: >"$KNLBD_LOG"
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	say "rules: $KNLB_LAB_RULES; work dir $WORK"
}

t_cleanup() {
	local rc=$?
	trap - EXIT
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		dump_debug >&2
	fi
	if [ -n "${LAB_LEAVE_RUNNING:-}" ] && [ "$rc" -eq 0 ]; then
		exit 0		# demo.sh --keep: lab and knlbd stay up
	fi
	if [ -n "$HOLD_PID" ] && alive "$HOLD_PID"; then
		kill -KILL "$HOLD_PID" 2>/dev/null
	fi
	if [ -n "$KNLBD_PID" ]; then
		knlb_stop >/dev/null 2>&1
	fi
	if [ -f "$KNLB_LAB_STATE" ]; then
		LAB_QUIET=1 "$LAB_SH" down "$KNLB_LAB_STATE" >/dev/null 2>&1 ||
			echo "[$T_NAME] lab.sh down failed" >&2
	fi
	if [ -n "$WORK" ] && [ -z "${KNLB_LAB_KEEP:-}" ]; then
		rm -rf "$WORK"
	elif [ -n "$WORK" ]; then
		echo "[$T_NAME] kept $WORK" >&2
	fi
	exit "$rc"
}

fail() {
	say "FAIL: $*" >&2
	exit 1
}

pass() {
	say "PASS${1:+: $1}"
	exit 0
}

gw_exec() { ip netns exec "$LAB_NS_GW" "$@"; }

# True while pid runs (a zombie child does not: kill -0 would say it does).
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

dump_debug() {
	local f
	echo "======== [$T_NAME] debug dump (work dir $WORK)"
	if [ -n "${LAB_NS_GW:-}" ] && [ -e "/run/netns/$LAB_NS_GW" ]; then
		echo "---- nft -t list ruleset (gateway; maps without elements)"
		gw_exec nft -t list ruleset 2>&1 | head -n 120
		local m
		for m in $(gw_exec nft -t list ruleset 2>/dev/null | awk '$1 == "map" { print $2 }'); do
			echo "---- nft list map inet knlb $m (first 12 lines)"
			gw_exec nft list map inet knlb "$m" 2>&1 | head -n 12 | cut -c1-160
		done
		echo "---- conntrack -L (gateway; first 60 entries)"
		gw_exec conntrack -L 2>&1 | head -n 61
		echo "---- conntrack -S (gateway)"
		gw_exec conntrack -S 2>&1 | head -n 4
	fi
	echo "---- knlbd log ($KNLBD_LOG, last 80 lines)"
	tail -n 80 "$KNLBD_LOG" 2>/dev/null
	for f in "$WORK"/*.out "$WORK"/*.err; do
		[ -s "$f" ] || continue
		echo "---- $(basename "$f") (first 40 lines)"
		head -n 40 "$f"
	done
	if [ -n "${LAB_DIR:-}" ]; then
		for f in "$LAB_DIR"/*.log; do
			[ -s "$f" ] || continue
			echo "---- $(basename "$f")"
			tail -n 20 "$f"
		done
	fi
	for f in "$WORK"/*.conf; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f")"
		cat "$f"
	done
	echo "======== end of dump"
}

lab_up() {
	"$LAB_SH" up "$@" >"$WORK/lab-up.log" 2>&1 || { cat "$WORK/lab-up.log" >&2; fail "lab.sh up $*"; }
	# shellcheck disable=SC1090
	source "$KNLB_LAB_STATE"
	read -r -a BACKEND_NAMES <<<"$LAB_BACKEND_NAMES"
	read -r -a BACKEND_ADDRS <<<"$LAB_BACKEND_ADDRS"
}

conf_global() {
	cat <<-EOF
	[global]
	table = knlb
	log_level = info
	hash_seed = 0x5eed
	control_socket = $WORK/knlb.sock

	EOF
}

# conf_backends PORT WEIGHT... : backend lines for the lab's backends (one
# weight per backend, 1 when fewer weights are given).
conf_backends() {
	local port=$1 i w; shift
	for i in "${!BACKEND_ADDRS[@]}"; do
		w=${1:-1}
		[ $# -gt 0 ] && shift
		echo "backend = ${BACKEND_ADDRS[i]}:$port weight=$w id=${BACKEND_NAMES[i]}"
	done
}

# Counts "programmed" lines so a restart waits for its own.
programmed_count() {
	grep -c programmed "$KNLBD_LOG" 2>/dev/null || true
}

knlb_table_present() {
	gw_exec nft list table inet knlb >/dev/null 2>&1
}

# The knlbd processes running in the gateway namespace.
knlbd_pids() {
	local pid
	for pid in $(ip netns pids "$LAB_NS_GW" 2>/dev/null); do
		if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$KNLBD" ]; then
			echo "$pid"
		fi
	done
}

# KNLBD_PID must be the one knlbd in the gateway: signals go to it.
knlbd_pid_check() {
	local pids
	pids=$(knlbd_pids | tr '\n' ' ')
	[ "$pids" = "$KNLBD_PID " ] ||
		fail "knlbd in the gateway: pids '$pids', expected '$KNLBD_PID'"
}

# knlb_start CONF: check it, run knlbd in the gateway and wait until the
# table is in the kernel (the "programmed" log line, else the table itself).
knlb_start() {
	local conf=$1 before i
	if [ "$KNLB_LAB_RULES" = hand ]; then
		awk -f "$LAB_HERE/lib/hand-render.awk" "$conf" >"$WORK/hand.nft" || fail "hand-render $conf"
		gw_exec nft -f "$WORK/hand.nft" || fail "nft -f hand.nft"
		echo "hand rules loaded: programmed" >>"$KNLBD_LOG"
		return 0
	fi
	echo "---- knlbd -t -c $conf" >>"$KNLBD_LOG"
	"$KNLBD" -t -c "$conf" >>"$KNLBD_LOG" 2>&1 || fail "knlbd -t rejects $conf"
	before=$(programmed_count)
	echo "---- knlbd -c $conf (start $(date +%T.%N))" >>"$KNLBD_LOG"
	# Not through gw_exec: backgrounding a function forks a subshell, and
	# $! would be that shell, not knlbd (ip netns exec execs the program).
	ip netns exec "$LAB_NS_GW" "$KNLBD" -c "$conf" </dev/null >>"$KNLBD_LOG" 2>&1 &
	KNLBD_PID=$!
	for ((i = 0; i < 100; i++)); do	# 10 s
		if [ "$(programmed_count)" -gt "$before" ]; then
			knlbd_pid_check
			return 0
		fi
		if ! alive "$KNLBD_PID"; then
			wait "$KNLBD_PID" 2>/dev/null
			local rc=$?
			KNLBD_PID=
			fail "knlbd exited (status $rc) before programming the table"
		fi
		sleep 0.1
	done
	say "warning: no 'programmed' line from knlbd in 10 s; polling the table" >&2
	for ((i = 0; i < 50; i++)); do	# 5 s
		if knlb_table_present; then
			knlbd_pid_check
			return 0
		fi
		sleep 0.1
	done
	fail "knlbd did not program table inet knlb within 15 s"
}

# SIGTERM knlbd and wait (bounded) for it; its exit status goes to
# KNLBD_RC (not printed: a $(...) subshell could not wait for it).
knlb_stop() {
	local pid=$KNLBD_PID i rc
	KNLBD_RC=0
	[ -n "$pid" ] || return 0
	KNLBD_PID=
	echo "---- SIGTERM knlbd $pid ($(date +%T.%N))" >>"$KNLBD_LOG"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do	# 5 s
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		echo "knlbd $pid ignored SIGTERM for 5 s: SIGKILL" >>"$KNLBD_LOG"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	echo "---- knlbd exit status $rc" >>"$KNLBD_LOG"
	# shellcheck disable=SC2034 # read by scenarios
	KNLBD_RC=$rc
	if [ -n "$(knlbd_pids)" ]; then
		fail "a knlbd still runs in the gateway after knlbd $pid exited: $(knlbd_pids | tr '\n' ' ')"
	fi
	return 0
}

# lg NAME ARGS: one loadgen run from the client namespace.  Never fails the
# script by itself: scenarios assert on the numbers.  LG_RC has the status.
lg() {
	local name=$1; shift
	LG_RC=0
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 2000 --deadline-ms 30000 "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || LG_RC=$?
	if [ "$LG_RC" -ge 2 ]; then
		cat "$WORK/$name.err" >&2
		fail "knlb-loadgen $name: usage error"
	fi
}

lg_get() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/$1.out"
}

lg_backend() {
	awk -v b="$2" '$1 == "backend" && $2 == b { n = $3 } END { print n + 0 }' "$WORK/$1.out"
}

# client_source I: the I-th (from 0) extra client source address.
client_source() {
	awk -v i="$1" '{ split($0, r, "-"); split(r[1], a, "."); printf "%s.%s.%s.%d\n", a[1], a[2], a[3], a[4] + i }' \
		<<<"$LAB_CLIENT_SOURCE_RANGE"
}

# pct A B: A/B as a percentage with one decimal.
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'
}

# within A B TOL: |A - B| <= TOL (decimals allowed).
within() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# srv_counts: ask every backend server for its counters (SIGUSR1 by pid)
# and wait, bounded, until each has written them to $LAB_DIR/NAME.count.
srv_counts() {
	local pids i name
	read -r -a pids <<<"$LAB_SRV_PIDS"
	for i in "${!pids[@]}"; do
		name=${BACKEND_NAMES[i]}
		rm -f "$LAB_DIR/$name.count"
		kill -USR1 "${pids[i]}" 2>/dev/null || fail "backend $name (pid ${pids[i]}) is gone"
	done
	for name in "${BACKEND_NAMES[@]}"; do
		for ((i = 0; i < 50; i++)); do
			[ -s "$LAB_DIR/$name.count" ] && break
			sleep 0.05
		done
		[ -s "$LAB_DIR/$name.count" ] || fail "backend $name wrote no counters"
	done
}

# srv_count NAME KEY: one counter from the last srv_counts.
srv_count() {
	awk -v k="$2" '$1 == k { print $2 }' "$LAB_DIR/$1.count"
}

# lg_hold_start NAME ARGS: a loadgen in the background (client namespace)
# that opens its connections, gets one answer on each and holds them
# (--hold-ms) until lg_hold_release.  Returns once every connection holds.
lg_hold_start() {
	local name=$1 i; shift
	rm -f "$WORK/$name.ready"
	ip netns exec "$LAB_NS_CLIENT" "$LOADGEN" --timeout-ms 2000 --hold-ms 60000 \
		--deadline-ms 90000 --ready-file "$WORK/$name.ready" "$@" \
		</dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
	HOLD_PID=$!
	for ((i = 0; i < 100; i++)); do	# 10 s
		[ -s "$WORK/$name.ready" ] && return 0
		alive "$HOLD_PID" || break
		sleep 0.1
	done
	fail "loadgen $name never held its connections"
}

# lg_hold_release NAME: SIGUSR1 ends the holds: every connection asks once
# more; wait (bounded) for the loadgen to report.
lg_hold_release() {
	local name=$1 i
	kill -USR1 "$HOLD_PID" 2>/dev/null || fail "loadgen $name is gone"
	for ((i = 0; i < 100; i++)); do	# 10 s
		alive "$HOLD_PID" || break
		sleep 0.1
	done
	if alive "$HOLD_PID"; then
		kill -KILL "$HOLD_PID" 2>/dev/null || true
		fail "loadgen $name did not finish 10 s after release"
	fi
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
}

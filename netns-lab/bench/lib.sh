# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# lib.sh — helpers shared by bench.sh and the files in bench/: logging,
# processes started in namespaces (recorded by pid, stopped by pid), bounded
# waits, and the raw result files.
#
#   b_log MSG / b_die MSG     progress on stderr / fail the bench
#   b_alive PID               true while PID runs (a zombie does not)
#   b_stop PID [SIG]          signal PID, wait <= 5 s, then KILL; forget it
#   b_track PID               remember PID so the exit trap stops it
#   b_until SECS CMD...       run CMD every 20 ms until it succeeds; 1 on timeout
#   b_now_ms                  wall clock in ms with decimals
#   b_raw FILE FIELDS...      append one tab-separated line to $OUT/raw/FILE
#   in_gw / in_cl / in_be N CMD...   CMD in the gateway / client / backend N namespace

B_PIDS=()

b_log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }

b_die() {
	b_log "FAIL: $*"
	exit 1
}

b_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

b_track() { B_PIDS+=("$1"); }

# Stops one process we started, by pid, and reaps it if it is our child.
b_stop() {
	local pid=$1 sig=${2:-TERM} i
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 250; i++)); do
		b_alive "$pid" || break
		sleep 0.02
	done
	if b_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	local keep=() p
	for p in "${B_PIDS[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	B_PIDS=("${keep[@]}")
}

b_stop_all() {
	local p
	for p in "${B_PIDS[@]}"; do
		b_stop "$p"
	done
}

b_until() {
	local secs=$1 end; shift
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	until "$@" >/dev/null 2>&1; do
		[ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
		sleep 0.02
	done
}

b_now_ms() {
	local t=$EPOCHREALTIME
	echo "${t%.*}${t#*.}" | awk '{ printf "%.3f", $1 / 1000 }'
}

# Milliseconds between two b_now_ms values, one decimal.
b_ms_since() {
	awk -v a="$1" -v b="$(b_now_ms)" 'BEGIN { printf "%.1f", b - a }'
}

b_raw() {
	local file=$OUT/raw/$1; shift
	local IFS=$'\t'
	echo "$*" >>"$file"
}

in_gw() { ip netns exec "$LAB_NS_GW" "$@"; }
in_cl() { ip netns exec "$LAB_NS_CLIENT" "$@"; }
in_be() {
	local n=$1 arr; shift
	read -r -a arr <<<"$LAB_NS_BACKENDS"
	ip netns exec "${arr[n - 1]}" "$@"
}

# The gateway's ruleset as nft lists it; empty when no contender left rules.
gw_ruleset() { in_gw nft list ruleset 2>/dev/null; }

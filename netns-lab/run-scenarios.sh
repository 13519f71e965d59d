#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-scenarios.sh — runs every netns-lab/scenarios/*.sh (or the ones named
# on the command line), one at a time, each bounded by KNLB_LAB_TIMEOUT
# seconds (default 120).  Prints PASS/FAIL/SKIP with the duration per
# scenario, a failing scenario's output, and one summary line:
#   lab: N passed, N failed, N skipped
# Exit status 1 when any scenario failed, else 0.  `make test-lab` runs it
# with KNLB_BUILD set; KNLB_LAB_RULES=hand runs the scenarios against
# hand-written rules instead of knlbd.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export KNLB_BUILD=${KNLB_BUILD:-$(dirname "$HERE")/build}
TIMEOUT=${KNLB_LAB_TIMEOUT:-120}

scenarios=()
if [ $# -gt 0 ]; then
	for s in "$@"; do
		case $s in
		*/*) scenarios+=("$s") ;;
		*) scenarios+=("$HERE/scenarios/${s%.sh}.sh") ;;
		esac
	done
else
	shopt -s nullglob
	scenarios=("$HERE"/scenarios/*.sh)
	shopt -u nullglob
fi

passed=0 failed=0 skipped=0
log=$(mktemp /tmp/knlb-lab-run.XXXXXX)
trap 'rm -f "$log"' EXIT

for s in "${scenarios[@]}"; do
	name=$(basename "$s" .sh)
	start=$(date +%s.%N)
	rc=0
	# timeout sends TERM (the scenario's trap tears its lab down), then
	# KILL 10 s later if it is still there.
	timeout -k 10 "$TIMEOUT" "$s" >"$log" 2>&1 </dev/null || rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0)
		passed=$((passed + 1))
		printf 'PASS  %-24s %6ss\n' "$name" "$secs" ;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP  %-24s %6ss  %s\n' "$name" "$secs" "$(grep -m1 'SKIP' "$log" | sed 's/.*SKIP: //')" ;;
	*)
		failed=$((failed + 1))
		[ "$rc" -eq 124 ] && echo "($name timed out after ${TIMEOUT}s)" >>"$log"
		printf 'FAIL  %-24s %6ss  (exit %s)\n' "$name" "$secs" "$rc"
		sed 's/^/    | /' "$log" ;;
	esac
	# KNLB_LAB_VERBOSE=1: the output (measured shares...) of passes and skips too.
	if [ -n "${KNLB_LAB_VERBOSE:-}" ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; }; then
		sed 's/^/    | /' "$log"
	fi
done

echo "lab: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

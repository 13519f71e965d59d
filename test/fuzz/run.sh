#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs the libFuzzer harnesses built by `make fuzz-build` (docs/fuzzing.md).
# For each NAME: replays test/fuzz/regressions/NAME/ (inputs that once
# crashed it), then fuzzes FUZZ_SECONDS from test/fuzz/corpus/NAME/ plus
# what earlier runs found (FUZZ_BUILD/corpus/NAME/, never committed).
# Prints one line per harness (runs, coverage, time) and fails on any
# crash, leak, timeout or sanitizer report, naming the input that did it.
# Usage: FUZZ_BUILD=build-fuzz FUZZ_SECONDS=30 FUZZ_JOBS=1 test/fuzz/run.sh NAME...
set -uo pipefail
cd "$(dirname "$0")/../.."

build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

[[ $# -gt 0 ]] || { echo "usage: $0 NAME..." >&2; exit 2; }

# What makes a run fail even when libFuzzer's exit status would not.
REPORT='ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|==ERROR:|deadly signal|ERROR: libFuzzer'

fuzz_one() {	# NAME -> FUZZ_BUILD/logs/NAME.{log,sum}; 0 or 1
	local name=$1 bin=$build/fuzz-$1 seeds=test/fuzz/corpus/$1
	local regress=test/fuzz/regressions/$1 work=$build/corpus/$1
	local log=$build/logs/$1.log sum=$build/logs/$1.sum
	local art=$build/artifacts/$1/ dict=test/fuzz/$1.dict
	local -a args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
		       -print_final_stats=1 -artifact_prefix="$art")
	local rc start runs cov ft corp secs

	mkdir -p "$work" "$art" "$build/logs"
	[[ -x $bin ]] || { echo "fuzz $name: $bin not built" >"$sum"; return 1; }
	[[ -d $seeds ]] || { echo "fuzz $name: no seed corpus $seeds" >"$sum"; return 1; }
	[[ -f $dict ]] && args+=(-dict="$dict")

	# Replay first, so a regression is named as one.
	if compgen -G "$regress/*" >/dev/null; then
		if ! "$bin" -timeout=10 "$regress"/* >"$log.replay" 2>&1 ||
		   grep -Eq "$REPORT" "$log.replay"; then
			{ echo "fuzz $name: FAILED: a regression input crashes again ($log.replay):"
			  grep -E "$REPORT|Running:" "$log.replay" | tail -5; } >"$sum"
			return 1
		fi
	fi

	start=$SECONDS
	"$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	secs=$((SECONDS - start))
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	[[ -n $runs ]] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	if [[ $rc != 0 ]] || grep -Eq "$REPORT" "$log"; then
		{ echo "fuzz $name: FAILED after ${secs} s (exit $rc, log $log):"
		  grep -E "$REPORT|SUMMARY|Test unit written to" "$log" | head -8
		  echo "  keep the input: cp ${art}crash-* (or leak-, timeout-) test/fuzz/regressions/$name/"
		  echo "  reproduce: $bin INPUT"; } >"$sum"
		return 1
	fi
	printf 'fuzz %-12s %10s runs  cov %5s  ft %6s  corpus %5s  %4s s  0 crashes\n' \
		"$name" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs" >"$sum"
}

fail=0
running=0
for name in "$@"; do
	if ((jobs > 1)); then
		fuzz_one "$name" &
		if ((++running >= jobs)); then
			wait -n || fail=1
			((running--))
		fi
	else
		fuzz_one "$name" || fail=1
		cat "$build/logs/$name.sum"
	fi
done
if ((jobs > 1)); then
	while ((running > 0)); do
		wait -n || fail=1
		((running--))
	done
	for name in "$@"; do cat "$build/logs/$name.sum"; done
fi
((fail == 0)) || { echo "make fuzz: FAILED (see above; docs/fuzzing.md)" >&2; exit 1; }

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test/failure-digest.sh LOG — what failed in a long test log, in a few lines.
#
# CI keeps only the tail of a run's output, and the tail of a failed
# `make test` is whatever the last test printed (a daemon's log lines), not
# the failure.  This prints, from LOG, the lines that name one: criterion's
# failed or crashed tests with their assertion messages, the lab's failed
# scenarios, sanitizer reports and make's error lines.  Always exits 0: it
# reports, the caller decides.
log=${1:?usage: failure-digest.sh LOG}
[ -r "$log" ] || { echo "failure-digest: cannot read $log" >&2; exit 0; }

# The failed tests' names first, then their messages: CI's tail is short.
awk '
	function name(l)   { names[++nn] = l }
	function detail(l) { details[++nd] = l }
	# criterion: "[----] file.c:N: Assertion Failed", then its message as
	# "[----]   ..." lines (a test'\''s own stderr may be interleaved)
	/Assertion Failed|Unexpected signal caught/ { msg = 3; detail($0); next }
	msg > 0 && /^\[----\]/ { msg--; if ($0 !~ /^\[----\] *$/) detail($0); next }
	/^\[(FAIL|CRASH|ERR)\]/ || /Timed out|Warning! The test/ { name($0); next }
	# the lab (netns-lab/run-scenarios.sh)
	/^FAIL  / { name($0); next }
	/\] FAIL: / { detail($0); next }
	# sanitizers
	/ERROR: (Address|Leak)Sanitizer|runtime error:/ { name($0); next }
	END {
		for (i = 1; i <= nn; i++) print names[i]
		for (i = 1; i <= nd; i++) print details[i]
	}
' "$log" | head -24 | cut -c1-200 | sed 's/^/  | /'
exit 0

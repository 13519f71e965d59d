#!/usr/bin/env bash
# Man pages: no groff/man warning, and they document what the code has:
# every knlbd option, every configuration key.
set -euo pipefail
cd "$(dirname "$0")/../.."

status=0
fail() { echo "test-docs: FAIL: $*" >&2; status=1; }

[ $# -gt 0 ] || set -- docs/*.5 docs/*.8
for req in docs/knlbd.8 docs/knlb.conf.5; do
	[ -f "$req" ] || fail "$req is missing"
done
for page in "$@"; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "$page: man exited $?"
	[ -z "$w" ] || fail "$page: man --warnings:
$w"
done

# Rendered text, hyphenation and adjustment off so names stay whole.
render() { LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$1" 2>/dev/null | col -b; }

conf5=$(render docs/knlb.conf.5)
# Keys as the parser knows them: the "name" strings of its key tables.
keys=$(sed -n '/_key_names\[[A-Z_]*COUNT\] = {/,/^};/p' src/config/config.c |
	grep -o '= "[a-z_]*"' | tr -d '="' | tr -d ' ')
[ -n "$keys" ] || fail "no key names found in src/config/config.c"
for k in $keys metrics_listen; do
	grep -qE "(^|[^a-z_])$k([^a-z_]|$)" <<<"$conf5" || fail "knlb.conf(5) does not mention key $k"
done

knlbd8=$(render docs/knlbd.8)
# Long options as getopt_long knows them: { "name", ..._argument, ... }.
opts=$(grep -oE '\{ "[a-z][a-z-]+", (no|required|optional)_argument' src/daemon/main.c |
	grep -oE '"[a-z-]+"' | tr -d '"' | sed 's/^/--/')
[ -n "$opts" ] || fail "no knlbd options found"
for o in $opts; do
	grep -qF -- "$o" <<<"$knlbd8" || fail "knlbd(8) does not document $o"
done

[ $status -eq 0 ] && echo "test-docs: ok: $* render without warnings; every key and option documented"
exit $status

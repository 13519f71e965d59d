#!/usr/bin/env bash
# Man pages and docs/configuration.md against what the code has:
# - every page renders without a groff/man warning;
# - every knlbd option is in knlbd(8);
# - the configuration keys: every key of the keyword table (knlbd
#   --list-keys) is in knlb.conf(5), under the right section, and in
#   configuration.md, and every key those document is in the table;
# - every scheduler the parser accepts is in knlb.conf(5) and in
#   configuration.md's type row;
# - every example error quoted in configuration.md (its message tables and
#   "Error(s):" paragraphs) matches a message the code can print.
# Usage: test/install/test-docs.sh [PAGE...]   (KNLBD=path, default build/knlbd)
set -euo pipefail
cd "$(dirname "$0")/../.."

status=0
fail() { echo "test-docs: FAIL: $*" >&2; status=1; }

KNLBD=${KNLBD:-build/knlbd}
[ -x "$KNLBD" ] || { echo "test-docs: $KNLBD not built (make $KNLBD)" >&2; exit 1; }

[ $# -gt 0 ] || set -- docs/*.5 docs/*.8
for req in docs/knlbd.8 docs/knlb.conf.5 docs/configuration.md; do
	[ -f "$req" ] || fail "$req is missing"
done
for page in "$@"; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "$page: man exited $?"
	[ -z "$w" ] || fail "$page: man --warnings:
$w"
done

# Rendered text, hyphenation and adjustment off so names stay whole.
render() { LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$1" 2>/dev/null | col -b; }
has_word() { grep -qE "(^|[^a-z_-])$1([^a-z_-]|\$)" <<<"$2"; }

# ---- configuration keys: the table against the pages ----
table=$("$KNLBD" --list-keys)
[ -n "$table" ] || fail "knlbd --list-keys printed nothing"
keys=$(cut -f2 <<<"$table" | sort -u)
conf5=$(render docs/knlb.conf.5)
confmd=$(cat docs/configuration.md)
for k in $keys; do
	has_word "$k" "$conf5" || fail "knlb.conf(5) does not document key $k"
	grep -qF "\`$k\`" <<<"$confmd" || fail "configuration.md does not document key $k"
done

# knlb.conf(5) introduces a key as .BI "KEY = " under .SH [global] or
# .SH [service NAME]: each must be a key of that section in the table.
while read -r section key; do
	grep -qxF "$section $key" <<<"$(cut -f1,2 <<<"$table" | tr '\t' ' ')" ||
		fail "knlb.conf(5) documents \"$key\" in [$section], which the parser does not accept there"
done < <(awk '/^\.SH \[global\]/ { s = "global" } /^\.SH \[service/ { s = "service" }
	/^\.SH [^[]/ { s = "" }
	s && match($0, /^\.BI? "[a-z_]+ = "/) { k = substr($0, RSTART, RLENGTH); sub(/^\.BI? "/, "", k); sub(/ = "$/, "", k); print s, k }' docs/knlb.conf.5)
# configuration.md gives each key a "### `KEY`" heading.
for k in $(grep -oE '^### `[a-z_]+`' docs/configuration.md | tr -d '#` '); do
	grep -qx "$k" <<<"$keys" || fail "configuration.md documents key $k, which is not in the keyword table"
done

# ---- schedulers: the words the parser accepts ----
scheds=$(awk -F'\t' '$2 == "scheduler" { print $4 }' <<<"$table" | grep -oE '[a-z]+' |
	grep -vxE 'or|and' || true)
[ -n "$scheds" ] || fail "no scheduler names in knlbd --list-keys"
typerow=$(awk '/^### `scheduler`/ { f = 1 } f && /^\| type/ { print; exit }' docs/configuration.md)
[ -n "$typerow" ] || fail "configuration.md: no type row under ### \`scheduler\`"
for s in $scheds; do
	has_word "$s" "$(awk '/^\.BI "scheduler = "/ { f = 1; next } f && /^\.TP/ { exit } f' docs/knlb.conf.5)" ||
		fail "knlb.conf(5) scheduler entry does not mention $s"
	grep -qF "\`$s\`" <<<"$typerow" || fail "configuration.md scheduler type row does not list $s"
done
# ...and the parser accepts each word it documents, and nothing else is said to be one.
while read -r w; do
	grep -qx "$w" <<<"$scheds" || fail "configuration.md's scheduler type row lists $w, which the parser does not accept"
done < <(grep -oE '`[a-z]+`' <<<"$typerow" | tr -d '`')

# ---- example errors: each must match a message format of the code ----
# Formats: the string literals of src/config and of the reader's header,
# each %-conversion a wildcard (*).
formats=$(cat src/config/*.c include/knlb/config/reader.h |
	grep -oE '"([^"\\]|\\.)*"' | sed -E 's/^"//; s/"$//; s/\\"/"/g; s/\\n$//' |
	sed -E 's/%[-#0-9.*]*[lz]*[sdiuxc]/*/g; s/%%/%/g' | grep -E '[a-z] [a-z]' | sort -u)
# Examples: first-column code of the "| message |" tables, and the code in
# paragraphs starting "Error:" / "Errors:".
examples=$(awk '
	/^\| message/ { t = 1; next }
	t && !/^\|/ { t = 0 }
	t && /^\| `/ { line = $0; sub(/^\| /, "", line); sub(/ \|.*$/, "", line); print line; next }
	/^Errors?[: (]/ { p = 1 }
	p && /^$/ { p = 0 }
	p { print }' docs/configuration.md | grep -oE '`[^`]+`' | sed -E 's/^`//; s/`$//')
[ -n "$examples" ] || fail "no example errors found in configuration.md"
# Two patterns with "*" wildcards match a common text: the check for one
# example against every format, in awk (no Python in a fresh root).
unmatched=$(awk -v formats="$formats" '
	function m(a, i, b, j,   ka) {
		ka = i SUBSEP j
		if (ka in memo) return memo[ka]
		if (i > length(a) && j > length(b)) return memo[ka] = 1
		if (i <= length(a) && substr(a, i, 1) == "*")
			if (m(a, i + 1, b, j) || (j <= length(b) && m(a, i, b, j + 1))) return memo[ka] = 1
		if (j <= length(b) && substr(b, j, 1) == "*")
			if (m(a, i, b, j + 1) || (i <= length(a) && m(a, i + 1, b, j))) return memo[ka] = 1
		if (i <= length(a) && j <= length(b) && substr(a, i, 1) == substr(b, j, 1) &&
		    substr(a, i, 1) != "*")
			return memo[ka] = m(a, i + 1, b, j + 1)
		return memo[ka] = 0
	}
	BEGIN { nf = split(formats, f, "\n") }
	{
		e = $0
		gsub(/\.\.\./, "*", e)		# "..." in the docs stands for anything
		sub(/^FILE:LINE: /, "", e)
		# "FILE: x": a whole-file message, or one printed as "%s: x".
		alt = e
		if (sub(/^FILE: /, "", e))
			alt = "*: " e
		ok = 0
		for (i = 1; i <= nf && !ok; i++) {
			split("", memo)
			ok = m(e, 1, f[i], 1)
			if (!ok && alt != e) { split("", memo); ok = m(alt, 1, f[i], 1) }
		}
		if (!ok) print $0
	}' <<<"$examples")
while IFS= read -r e; do
	[ -z "$e" ] || fail "configuration.md quotes an error the code cannot print: $e"
done <<<"$unmatched"

# ---- knlbd -t: the summary knlbd(8) shows, singular and idle forms ----
idle=$(mktemp)
trap 'rm -f "$idle"' EXIT
printf '[global]\nlog_level = info\n' >"$idle"
t=$("$KNLBD" -t -c "$idle") || fail "knlbd -t of a file without services failed: $t"
[[ $t == *": configuration OK: no services (knlbd will run idle), table inet knlb" ]] ||
	fail "knlbd -t of a file without services printed: $t"
t=$("$KNLBD" -t -c conf/minimal.conf) || fail "knlbd -t conf/minimal.conf failed: $t"
[[ $t == *": configuration OK: 1 service, 2 backends, table inet "* ]] ||
	fail "knlbd -t conf/minimal.conf printed: $t"

# ---- knlbd options ----
knlbd8=$(render docs/knlbd.8)
# Long options as getopt_long knows them: { "name", ..._argument, ... }.
opts=$(grep -oE '\{ "[a-z][a-z-]+", (no|required|optional)_argument' src/daemon/main.c |
	grep -oE '"[a-z-]+"' | tr -d '"' | sed 's/^/--/')
[ -n "$opts" ] || fail "no knlbd options found"
for o in $opts; do
	grep -qF -- "$o" <<<"$knlbd8" || fail "knlbd(8) does not document $o"
done

[ $status -eq 0 ] && echo "test-docs: ok: $* render without warnings; $(wc -w <<<"$keys") keys, $(wc -w <<<"$scheds") schedulers, $(wc -l <<<"$examples") example errors and every option documented"
exit $status

#!/usr/bin/env bash
# The knlbctl documentation holds: the man page formats without a single
# groff warning, names every command, option and exit code that
# `knlbctl --help` lists; the command registry (knlbctl --json help), the
# man page and docs/control-protocol.md name the same commands, each with
# its --json shape; and the bash completion offers exactly the registry.
# Usage: test/docs/check-docs.sh KNLBCTL  (make test-docs)
set -euo pipefail
cd "$(dirname "$0")/../.."

knlbctl=${1:?usage: $0 path/to/knlbctl}
fail=0
err() { echo "check-docs: $*" >&2; fail=1; }

command -v man >/dev/null || { echo "check-docs: man is not installed (make deps)" >&2; exit 1; }

warnings=$(man --warnings -l docs/knlbctl.8 2>&1 >/dev/null)
[[ -z $warnings ]] || err "man --warnings -l docs/knlbctl.8:"$'\n'"$warnings"

page=$(MANWIDTH=200 man -l docs/knlbctl.8 2>/dev/null)
help=$("$knlbctl" --help)
# The registry, as knlbctl and knlbd share it: the names in `help --json`.
registry=$("$knlbctl" --json help | grep -o '"name":"[^"]*"' | sed 's/"name":"\(.*\)"/\1/')
[[ $(wc -w <<<"$registry") -ge 10 ]] || err "found only '$registry' in knlbctl --json help"
# Commands in --help: the first word of each line of the "Commands:" block.
commands=$(sed -n '/^Commands:/,/^$/{/^  [a-z]/{s/^  \([a-z-]*\).*/\1/;p}}' <<<"$help")
[[ $(sort <<<"$commands") == $(sort <<<"$registry") ]] ||
	err "knlbctl --help lists '$(echo $commands)', the registry '$(echo $registry)'"
# What the docs document: the man page's COMMANDS entries, the protocol's command rows.
man_commands=$(sed -n '/^COMMANDS/,/^OPTIONS/{s/^       \([a-z][a-z-]*\)\( .*\)\?$/\1/p}' <<<"$page")
proto_commands=$(sed -n '/^## Commands/,/^## /{s/^| `\([a-z][a-z-]*\)` .*/\1/p}' docs/control-protocol.md)
for c in $registry; do
	grep -qxF "$c" <<<"$man_commands" || err "knlbctl.8 has no entry for command '$c'"
	grep -qxF "$c" <<<"$proto_commands" || err "docs/control-protocol.md has no row for command '$c'"
	grep -qF "\`$c --json\`" docs/control-protocol.md ||
		err "docs/control-protocol.md does not document the shape of '$c --json'"
done
for c in $man_commands; do
	grep -qxF "$c" <<<"$registry" || err "knlbctl.8 documents command '$c', which the registry lacks"
done
for c in $proto_commands; do
	grep -qxF "$c" <<<"$registry" || err "docs/control-protocol.md documents command '$c', which the registry lacks"
done
for o in --socket --json --timeout --wait --help --version KNLB_SOCKET /run/knlb/knlb.sock; do
	grep -qF -- "$o" <<<"$page" || err "knlbctl.8 does not mention $o"
done
for code in 0 1 2 3 4 5; do
	grep -qE "^  $code  " <<<"$help" || err "knlbctl --help does not document exit code $code"
	grep -qE "^       $code( |$)" <<<"$page" || err "knlbctl.8 does not document exit code $code"
done

# The completion, driven as bash drives it, with the knlbctl under test
# as the command word (the script runs the knlbctl being completed) and no
# daemon behind the socket.
complete_words() {
	KNLB_SOCKET=/nonexistent/knlb.sock bash -c 'source conf/knlbctl.bash-completion
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _knlbctl
		echo "${COMPREPLY[*]}"' "$knlbctl" "$knlbctl" "$@"
}
expect_completion() {
	local want=$1; shift
	local got; got=$(complete_words "$@")
	[[ $got == "$want" ]] || err "completing '$*': got '$got', want '$want'"
}
# Exactly the registry's commands, first word and after help.
expect_completion "$(echo $registry)" ""
expect_completion "$(echo $registry)" help ""
expect_completion "drain disable" d
expect_completion "check-config" -s /x ch
expect_completion "--json" status --j
expect_completion "--wait" drain --w
expect_completion "weight" help we
expect_completion "" status web ""
expect_completion "" frobnicate ""
expect_completion "conf/knlb.conf" check-config conf/knlb.c

exit $fail

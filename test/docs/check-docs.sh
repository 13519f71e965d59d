#!/usr/bin/env bash
# The knlbctl documentation holds: the man page formats without a single
# groff warning, names every command, option and exit code that
# `knlbctl --help` lists, and the bash completion completes what it says.
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
# Commands: the first word of each line of the "Commands:" block.
commands=$(sed -n '/^Commands:/,/^$/{/^  [a-z]/{s/^  \([a-z-]*\).*/\1/;p}}' <<<"$help")
[[ $(wc -w <<<"$commands") -ge 10 ]] || err "found only '$commands' in knlbctl --help"
for c in $commands; do
	grep -qE "^       $c( |$)" <<<"$page" || err "knlbctl.8 has no entry for command '$c'"
	grep -qE "^\| \`$c" docs/control-protocol.md || [[ $c == check-config || $c == help ]] ||
		err "docs/control-protocol.md has no row for command '$c'"
done
for o in --socket --json --timeout --help --version KNLB_SOCKET /run/knlb/knlb.sock; do
	grep -qF -- "$o" <<<"$page" || err "knlbctl.8 does not mention $o"
done
for code in 0 1 2 3 4; do
	grep -qE "^  $code  " <<<"$help" || err "knlbctl --help does not document exit code $code"
	grep -qE "^       $code( |$)" <<<"$page" || err "knlbctl.8 does not document exit code $code"
done

# The completion, driven as bash drives it.
complete_words() {
	bash -c 'source conf/knlbctl.bash-completion
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _knlbctl
		echo "${COMPREPLY[*]}"' knlbctl "$@"
}
expect_completion() {
	local want=$1; shift
	local got; got=$(complete_words "$@")
	[[ $got == "$want" ]] || err "completing '$*': got '$got', want '$want'"
}
expect_completion "drain disable" knlbctl d
expect_completion "check-config" knlbctl -s /x ch
expect_completion "--json" knlbctl status --j
expect_completion "weight" knlbctl help we
expect_completion "" knlbctl status web ""
expect_completion "conf/knlb.conf" knlbctl check-config conf/knlb.c

exit $fail

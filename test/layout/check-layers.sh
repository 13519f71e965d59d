#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The layer rule of docs/architecture.md: src/ has one folder per layer and
# a file includes only headers of its own layer or of layers below it
# (include/knlb/<layer>/ mirrors src/<layer>/).  Also: no source file at the
# top of src/ or include/knlb/, and no header folder without its layer.
# Fails naming each upward (or unknown) include with FILE:LINE.
# Usage: test/layout/check-layers.sh  (make check-layers, part of make test)
set -euo pipefail
cd "$(dirname "$0")/../.."

# Lowest first.  knlbctl is a program of its own on top of the client side.
LAYERS=(lib config sched pool nft ct route health ctl daemon knlbctl)

rank() {	# LAYER -> its index, or nothing
	local i
	for i in "${!LAYERS[@]}"; do
		[[ ${LAYERS[$i]} == "$1" ]] && { echo "$i"; return; }
	done
}

fail=0
err() { echo "check-layers: $*" >&2; fail=1; }

for f in src/*.[ch] include/knlb/*.h; do
	[[ -e $f ]] && err "$f: every source file belongs in a layer folder (${LAYERS[*]})"
done
for d in src/*/ include/knlb/*/; do
	l=$(basename "$d")
	[[ -n $(rank "$l") ]] || err "$d: not a layer (${LAYERS[*]}); add it to LAYERS in $0 and to docs/architecture.md"
done

checked=0
while IFS= read -r f; do
	case $f in
	src/*) own=${f#src/} ;;
	include/knlb/*) own=${f#include/knlb/} ;;
	esac
	own=${own%%/*}
	own_rank=$(rank "$own")
	[[ -n $own_rank ]] || continue
	while IFS=: read -r line inc; do
		dep=${inc#knlb/}
		dep=${dep%%/*}
		dep_rank=$(rank "$dep")
		if [[ -z $dep_rank ]]; then
			err "$f:$line: includes \"$inc\", which is in no layer"
		elif ((dep_rank > own_rank)); then
			err "$f:$line: $own includes \"$inc\" from $dep, a layer above it"
		fi
		checked=$((checked + 1))
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"knlb/' "$f" |
		sed -E 's/^([0-9]+):.*"(knlb\/[^"]+)".*/\1:\2/')
done < <(find src include/knlb -name '*.[ch]' | sort)

((checked > 50)) || err "only $checked includes checked: is the tree laid out as expected?"
((fail == 0)) && echo "check-layers: ok: $checked includes in ${#LAYERS[@]} layers, none upward"
exit $fail

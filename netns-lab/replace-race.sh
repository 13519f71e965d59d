#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# netns-lab/replace-race.sh [--connections N] [VARIANT...]
#
# Whether a table-replacing transaction refuses new connections that arrive
# while it commits: the measurement behind knlb's in-place replace
# (src/nft/replace_in_place.c, docs/architecture.md "Start-up").
#
# In a network namespace of its own (unshare -n: nothing reaches the host),
# the VIP 192.0.2.10 sits on lo and a DNAT table in knlb's shape (a
# dispatch vmap, a slot map, a nat hook) sends 192.0.2.10:80 to a
# knlb-testsrv on 127.0.0.1:8080.  knlb-loadgen opens N connections to the
# VIP (64 at a time) while nft -f runs one VARIANT's transaction in a loop,
# at most 5,000 times.  A connection that meets the commit un-NATed reaches
# the gateway's own port 80 and is refused: the "refused" column.
#
#   whole      delete the table and add it again (knlb before 2026-12-06)
#   in-place   flush the rules and the maps' elements, add them again
#   rules      only the rules flushed and added again
#   elements   only the maps' elements flushed and added again
#
# Default: all four, N = 300000 (about 20 s each).  Needs root, nft and
# the lab tools (make all: build/lab/knlb-loadgen, knlb-testsrv).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${KNLB_BUILD:-$HERE/../build}
N=300000
variants=()
while [ $# -gt 0 ]; do
	case $1 in
	--connections) N=$2; shift 2 ;;
	whole|in-place|rules|elements) variants+=("$1"); shift ;;
	*) echo "usage: $0 [--connections N] [whole|in-place|rules|elements ...]" >&2; exit 2 ;;
	esac
done
[ ${#variants[@]} -gt 0 ] || variants=(whole in-place rules elements)
for t in knlb-loadgen knlb-testsrv; do
	[ -x "$BUILD/lab/$t" ] || { echo "replace-race: $BUILD/lab/$t not built (make all)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "replace-race: needs root (network namespaces, nft)" >&2; exit 1; }

if [ "${REPLACE_RACE_INNER:-}" != 1 ]; then
	printf '%-10s %12s %12s %9s\n' variant transactions connections refused
	for v in "${variants[@]}"; do
		REPLACE_RACE_INNER=1 unshare -n "$0" --connections "$N" "$v"
	done
	exit 0
fi

# --- inside the namespace: one variant ------------------------------------
v=${variants[0]}
WORK=$(mktemp -d /tmp/knlb-replace-race.XXXXXX)
srv=
cleanup() {
	[ -z "$srv" ] || kill "$srv" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
ip link set lo up
ip addr add 192.0.2.10/32 dev lo

objects='
	map d {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 192.0.2.10 . tcp . 80 : jump svc }
	}
	map slots {
		typeof numgen inc mod 2 : ip daddr . tcp dport
		elements = { 0 : 127.0.0.1 . 8080, 1 : 127.0.0.1 . 8080 }
	}'
chains='
	chain svc {
		meta l4proto tcp ct mark set 0x1 dnat ip to numgen inc mod 2 map @slots
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr . meta l4proto . th dport vmap @d
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
	}'
printf 'table inet t {%s%s\n}\n' "$objects" "$chains" > "$WORK/first.nft"
case $v in
whole)
	{ echo 'table inet t {}'; echo 'delete table inet t'; cat "$WORK/first.nft"; } ;;
in-place)
	{ echo 'flush table inet t'; echo 'flush map inet t d'; echo 'flush map inet t slots'
	  cat "$WORK/first.nft"; } ;;
rules)
	{ echo 'flush table inet t'; printf 'table inet t {%s\n}\n' "$chains"; } ;;
elements)
	{ echo 'flush map inet t d'; echo 'flush map inet t slots'
	  echo 'add element inet t d { 192.0.2.10 . tcp . 80 : jump svc }'
	  echo 'add element inet t slots { 0 : 127.0.0.1 . 8080, 1 : 127.0.0.1 . 8080 }'; } ;;
esac > "$WORK/txn.nft"

"$BUILD/lab/knlb-testsrv" --name be --tcp 127.0.0.1:8080 --idle-ms 1000 >/dev/null 2>&1 &
srv=$!
nft -f "$WORK/first.nft"
nft -c -f "$WORK/txn.nft"
sleep 0.2
"$BUILD/lab/knlb-loadgen" --tcp --target 192.0.2.10:80 --count "$N" --concurrency 64 \
	--timeout-ms 2000 > "$WORK/load.out" 2>&1 &
lg=$!
i=0
while kill -0 "$lg" 2>/dev/null && [ "$i" -lt 5000 ]; do
	nft -f "$WORK/txn.nft"
	i=$((i + 1))
done
wait "$lg" || true
refused=$(awk '$1 == "fail" && $2 ~ /refused|connect/ { n += $3 } END { print n + 0 }' "$WORK/load.out")
total=$(awk '$1 == "total" { print $2 }' "$WORK/load.out")
printf '%-10s %12d %12s %9d\n' "$v" "$i" "${total:-?}" "$refused"
if grep -q '^fail ' "$WORK/load.out"; then grep '^fail ' "$WORK/load.out" | sed 's/^/           /'; fi

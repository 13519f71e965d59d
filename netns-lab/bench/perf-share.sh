#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# perf-share.sh DIR — after a DATA_PROFILE=perf bench run into DIR: each
# contender's share of the box's samples in netfilter's kernel symbols
# (nft, nf_*, conntrack, NAT, ctnetlink), and of it nf_conntrack_udp_packet
# (where conntrack's accounting and event cache are paid per UDP packet),
# ctnetlink's dumps (knlbd's periodic and bounded counting), and the
# per-packet counting rule (nft_dynset_eval, nft_rhash_update,
# nft_counter_eval).  Prints one line per measurement, then the median over
# the rounds per contender and workload.  The shares are steadier than the
# rates on a shared machine (docs/performance.md).
set -euo pipefail
dir=${1:?usage: perf-share.sh BENCH_OUTPUT_DIR}
command -v perf >/dev/null || { echo "perf-share.sh: perf is not installed" >&2; exit 1; }

per_file() {
	local f
	for f in "$dir"/logs/r*.perf; do
		[ -e "$f" ] || { echo "perf-share.sh: no $dir/logs/r*.perf (DATA_PROFILE=perf)" >&2; exit 1; }
		perf report -i "$f" --no-children --sort sym --stdio -q 2>/dev/null |
		awk -v n="$(basename "$f" .perf)" '
		{ p = $1; sub(/%/, "", p); sym = $NF }
		sym ~ /^(nft_|__nft|nf_|__nf_|ctnetlink|ipv4_conntrack|ipv6_conntrack|nf_ct|tcp_packet|udp_packet|hash_conntrack|resolve_normal_ct|init_conntrack|____nf_conntrack)/ { nf += p }
		sym == "nf_conntrack_udp_packet" { up += p }
		sym ~ /^ctnetlink_(dump|fill)/ { dump += p }
		sym == "nft_dynset_eval" || sym == "nft_rhash_update" || sym == "nft_counter_eval" { cnt += p }
		END {
			split(n, k, ".")	# r<round>.<contender>.<workload>
			printf "%s %s %s %.2f %.2f %.2f %.2f\n", k[1], k[2], k[3], nf, up, dump, cnt
		}'
	done
}

lines=$(per_file)
echo "# round contender workload netfilter% udp_packet% dump% counting%"
echo "$lines"
echo "$lines" | awk '
function med(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
BEGIN { print "# contender workload rounds netfilter% udp_packet% dump% counting% (medians)" }
{ k = $2 " " $3; n[k]++; nf[k] = nf[k] " " $4; up[k] = up[k] " " $5; d[k] = d[k] " " $6; c[k] = c[k] " " $7 }
END { for (k in n) printf "%s %d %.2f %.2f %.2f %.2f\n", k, n[k], med(nf[k]), med(up[k]), med(d[k]), med(c[k]) }' | sort

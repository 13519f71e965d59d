# SPDX-License-Identifier: GPL-2.0-or-later
#
# hand-render.awk — a knlb config file -> an nft script with the same shape
# as the ruleset knlbd programs (docs/architecture.md), for running the lab without
# knlbd (KNLB_LAB_RULES=hand): it tells a lab problem from a knlbd problem.
#
# It is a control, not a second implementation: wrr is a smooth weighted
# round robin over sum(weights) slots, "maglev" fills table_size slots by
# repeating that sequence (stable across reloads, which is all the lab
# needs), random uses numgen random.  Health, backup backends and ids are
# ignored.  The script replaces the table in one transaction, as knlbd
# does at start.  IPv6 and dual-stack services in the shape of issue 14:
# `vip` once per family, backends [ADDR]:PORT, a dispatch map and a slot
# map (NAME_slots6) per family, `snat = A4 A6` or masquerade for both.
#
#   awk -f hand-render.awk knlb.conf | nft -f -

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }

function fail(msg) { printf "hand-render: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; bad = 1; exit 1 }

BEGIN { table = "knlb"; seed = "0x5eed"; ns = 0 }

{
	line = $0
	sub(/[;#].*/, "", line)
	line = trim(line)
	if (line == "")
		next
	if (line ~ /^\[/) {
		if (line ~ /^\[global\]$/) { sec = "global"; next }
		if (match(line, /^\[service [A-Za-z0-9_-]+\]$/)) {
			ns++
			sec = "service"
			name[ns] = substr(line, 10, length(line) - 10)
			proto[ns] = "tcp"; sched[ns] = "maglev"; key[ns] = "src-ip-port"
			size[ns] = 16381; snat[ns] = "none"; snat6[ns] = "none"
			next
		}
		fail("unknown section " line)
	}
	eq = index(line, "=")
	if (!eq)
		fail("expected key = value")
	k = trim(substr(line, 1, eq - 1))
	v = trim(substr(line, eq + 1))
	if (sec == "global") {
		if (k == "table") table = v
		else if (k == "hash_seed") seed = v
		next
	}
	if (sec != "service")
		fail("key outside a section")
	if (k == "vip") {
		if (v ~ /:/) vip6[ns] = v
		else vip[ns] = v
	}
	else if (k == "port") port[ns] = v
	else if (k == "proto") proto[ns] = v
	else if (k == "scheduler") sched[ns] = v
	else if (k == "hash_key") key[ns] = v
	else if (k == "table_size") size[ns] = v
	else if (k == "snat") {
		# none and masquerade are for both families; else one
		# address per family
		n = split(v, f, /[ \t]+/)
		if (v == "none" || v == "masquerade")
			snat6[ns] = v
		for (i = 1; i <= n; i++) {
			if (f[i] ~ /:/) snat6[ns] = f[i]
			else snat[ns] = f[i]
		}
	}
	else if (k == "backend") {
		n = split(v, f, /[ \t]+/)
		if (f[1] ~ /^[0-9.]+:[0-9]+$/)
			fam = 4
		else if (f[1] ~ /^\[[0-9a-fA-F:.]+\]:[0-9]+$/)
			fam = 6
		else
			fail("backend ADDR:PORT or [ADDR]:PORT expected")
		w = 1; backup = 0
		for (i = 2; i <= n; i++) {
			if (f[i] ~ /^weight=/) w = substr(f[i], 8) + 0
			else if (f[i] == "backup") backup = 1
		}
		if (backup || w == 0)
			next
		# "ADDR . PORT", the slot map's data
		b = f[1]
		sub(/:[0-9]+$/, "", b)
		gsub(/[][]/, "", b)
		pt = f[1]
		sub(/.*:/, "", pt)
		nb[ns, fam]++
		baddr[ns, fam, nb[ns, fam]] = b " . " pt
		bw[ns, fam, nb[ns, fam]] = w
	}
}

# Smooth weighted round robin (nginx) over service s's backends of family
# fam: seq[1..total] of backend indexes.
function wrr_sequence(s, fam,    i, j, total, best, cur) {
	total = 0
	for (i = 1; i <= nb[s, fam]; i++) { cur[i] = 0; total += bw[s, fam, i] }
	for (j = 1; j <= total; j++) {
		best = 0
		for (i = 1; i <= nb[s, fam]; i++) {
			cur[i] += bw[s, fam, i]
			if (best == 0 || cur[i] > cur[best]) best = i
		}
		cur[best] -= total
		seq[j] = best
	}
	return total
}

# The dispatch map of one family: "VIP . proto . port : jump svc_NAME".
function dispatch_map(mapname, type, vips,    s, sep) {
	printf "\tmap %s {\n\t\ttype %s . inet_proto . inet_service : verdict\n", mapname, type
	sep = "\t\telements = { "
	for (s = 1; s <= ns; s++) {
		if (vips[s] == "")
			continue
		printf "%s%s . %s . %s : jump svc_%s", sep, vips[s], proto[s], port[s], name[s]
		sep = ",\n\t\t\t     "
	}
	printf "%s\n\t}\n", sep == "\t\telements = { " ? "" : " }"
}

# Service s's slot map and dnat rule for family fam (4 or 6); the rule
# goes to rules[s].
function family_slots(s, fam,    p, total, m, j, b, expr, hk, ip, sfx) {
	p = proto[s]
	ip = fam == 6 ? "ip6" : "ip"
	sfx = fam == 6 ? "6" : ""
	total = wrr_sequence(s, fam)
	if (total == 0) {
		printf "hand-render: service %s has no IPv%d backend\n", name[s], fam > "/dev/stderr"
		exit 1
	}
	m = sched[s] == "maglev" ? size[s] + 0 : total
	printf "\n\tmap %s_slots%s {\n\t\ttypeof numgen inc mod %d : %s daddr . %s dport\n\t\telements = {", name[s], sfx, m, ip, p
	for (j = 0; j < m; j++) {
		b = baddr[s, fam, seq[j % total + 1]]
		printf "%s\n\t\t\t%d : %s", j ? "," : "", j, b
	}
	printf " }\n\t}\n"
	if (sched[s] == "wrr")
		expr = sprintf("numgen inc mod %d", m)
	else if (sched[s] == "random")
		expr = sprintf("numgen random mod %d", m)
	else {
		if (key[s] == "src-ip") hk = ip " saddr"
		else if (key[s] == "src-ip-port") hk = ip " saddr . " p " sport"
		else hk = ip " saddr . " p " sport . " ip " daddr . " p " dport"
		expr = sprintf("jhash %s mod %d seed %s", hk, m, seed)
	}
	rules[s] = rules[s] sprintf("\t\tmeta nfproto ipv%d meta l4proto %s ct mark set 0x%08x dnat %s to %s map @%s_slots%s\n", \
		fam, p, s, ip, expr, name[s], sfx)
}

END {
	if (bad)
		exit 1
	printf "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", table, table, table
	dispatch_map("svc_dispatch", "ipv4_addr", vip)
	dispatch_map("svc_dispatch6", "ipv6_addr", vip6)
	for (s = 1; s <= ns; s++) {
		rules[s] = ""
		if (vip[s] != "")
			family_slots(s, 4)
		if (vip6[s] != "")
			family_slots(s, 6)
		printf "\n\tchain svc_%s {\n%s\t}\n", name[s], rules[s]
	}
	printf "\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	printf "\t\tip daddr . meta l4proto . th dport vmap @svc_dispatch\n"
	printf "\t\tip6 daddr . meta l4proto . th dport vmap @svc_dispatch6\n\t}\n"
	printf "\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
	printf "\t\tip daddr . meta l4proto . th dport vmap @svc_dispatch\n"
	printf "\t\tip6 daddr . meta l4proto . th dport vmap @svc_dispatch6\n\t}\n"
	printf "\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	for (s = 1; s <= ns; s++) {
		if (snat[s] == "masquerade")
			printf "\t\tct mark 0x%08x masquerade\n", s
		else {
			if (snat[s] != "none" && snat[s] != "")
				printf "\t\tct mark 0x%08x meta nfproto ipv4 snat ip to %s\n", s, snat[s]
			if (snat6[s] != "none" && snat6[s] != "")
				printf "\t\tct mark 0x%08x meta nfproto ipv6 snat ip6 to %s\n", s, snat6[s]
		}
	}
	printf "\t}\n}\n"
}

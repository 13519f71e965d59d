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
# does at start.
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
			size[ns] = 16381; snat[ns] = "none"; nb[ns] = 0
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
	if (k == "vip") vip[ns] = v
	else if (k == "port") port[ns] = v
	else if (k == "proto") proto[ns] = v
	else if (k == "scheduler") sched[ns] = v
	else if (k == "hash_key") key[ns] = v
	else if (k == "table_size") size[ns] = v
	else if (k == "snat") snat[ns] = v
	else if (k == "backend") {
		n = split(v, f, /[ \t]+/)
		if (f[1] !~ /^[0-9.]+:[0-9]+$/)
			fail("backend ADDR:PORT expected")
		w = 1; backup = 0
		for (i = 2; i <= n; i++) {
			if (f[i] ~ /^weight=/) w = substr(f[i], 8) + 0
			else if (f[i] == "backup") backup = 1
		}
		if (backup || w == 0)
			next
		nb[ns]++
		baddr[ns, nb[ns]] = f[1]
		bw[ns, nb[ns]] = w
	}
}

# Smooth weighted round robin (nginx): seq[1..total] of backend indexes.
function wrr_sequence(s,    i, j, total, best, cur) {
	total = 0
	for (i = 1; i <= nb[s]; i++) { cur[i] = 0; total += bw[s, i] }
	for (j = 1; j <= total; j++) {
		best = 0
		for (i = 1; i <= nb[s]; i++) {
			cur[i] += bw[s, i]
			if (best == 0 || cur[i] > cur[best]) best = i
		}
		cur[best] -= total
		seq[j] = best
	}
	return total
}

END {
	if (bad)
		exit 1
	printf "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", table, table, table
	printf "\tmap svc_dispatch {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
	sep = "\t\telements = { "
	for (s = 1; s <= ns; s++) {
		printf "%s%s . %s . %s : jump svc_%s", sep, vip[s], proto[s], port[s], name[s]
		sep = ",\n\t\t\t     "
	}
	printf "%s\n\t}\n", ns ? " }" : ""
	for (s = 1; s <= ns; s++) {
		p = proto[s]
		total = wrr_sequence(s)
		if (total == 0) {
			printf "hand-render: service %s has no backend\n", name[s] > "/dev/stderr"
			exit 1
		}
		m = sched[s] == "maglev" ? size[s] + 0 : total
		printf "\n\tmap %s_slots {\n\t\ttypeof numgen inc mod %d : ip daddr . %s dport\n\t\telements = {", name[s], m, p
		for (j = 0; j < m; j++) {
			b = baddr[s, seq[j % total + 1]]
			sub(/:/, " . ", b)
			printf "%s\n\t\t\t%d : %s", j ? "," : "", j, b
		}
		printf " }\n\t}\n"
		if (sched[s] == "wrr")
			expr = sprintf("numgen inc mod %d", m)
		else if (sched[s] == "random")
			expr = sprintf("numgen random mod %d", m)
		else {
			if (key[s] == "src-ip") hk = "ip saddr"
			else if (key[s] == "src-ip-port") hk = "ip saddr . " p " sport"
			else hk = "ip saddr . " p " sport . ip daddr . " p " dport"
			expr = sprintf("jhash %s mod %d seed %s", hk, m, seed)
		}
		printf "\n\tchain svc_%s {\n\t\tmeta l4proto %s ct mark set 0x%08x dnat ip to %s map @%s_slots\n\t}\n", \
			name[s], p, s, expr, name[s]
	}
	printf "\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	printf "\t\tip daddr . meta l4proto . th dport vmap @svc_dispatch\n\t}\n"
	printf "\n\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
	printf "\t\tip daddr . meta l4proto . th dport vmap @svc_dispatch\n\t}\n"
	printf "\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	for (s = 1; s <= ns; s++) {
		if (snat[s] == "masquerade")
			printf "\t\tct mark 0x%08x masquerade\n", s
		else if (snat[s] != "none")
			printf "\t\tct mark 0x%08x snat ip to %s\n", s, snat[s]
	}
	printf "\t}\n}\n"
}

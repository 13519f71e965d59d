/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host prerequisites: the facts (a few /proc/sys files, the interfaces'
 * addresses) and the pure judgement of a configuration against them.
 * docs/operations.md ("Host prerequisites") lists what is checked and
 * what is deliberately not.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "knlb/lib/proc_number.h"
#include "knlb/daemon/host_checks.h"

static const char *const check_names[HOST_CHECK_COUNT] = {
	[HOST_CHECK_IP_FORWARD] = "ip_forward",
	[HOST_CHECK_IPV6_FORWARDING] = "ipv6_forwarding",
	[HOST_CHECK_SNAT_ADDRESS] = "snat_address",
	[HOST_CHECK_CONNTRACK] = "conntrack",
	[HOST_CHECK_CONNTRACK_MAX] = "conntrack_max",
	[HOST_CHECK_CONNTRACK_FULL] = "conntrack_full",
};

const char *host_check_name(enum host_check check)
{
	return check < HOST_CHECK_COUNT ? check_names[check] : "?";
}

/* ---- facts -------------------------------------------------------------- */

static int read_switch(const char *proc_root, const char *rel)
{
	uint64_t v;

	if (proc_number_read(proc_root, rel, &v) < 0)
		return HOST_UNKNOWN;
	return v != 0;
}

void host_ct_read(const char *proc_root, struct host_ct *ct)
{
	ct->loaded = proc_number_read(proc_root, "sys/net/netfilter/nf_conntrack_max",
				      &ct->max) == 0;
	if (!ct->loaded ||
	    proc_number_read(proc_root, "sys/net/netfilter/nf_conntrack_count",
			     &ct->count) < 0)
		ct->count = 0;
	if (!ct->loaded)
		ct->max = 0;
}

/*
 * The kernel refuses a new entry once its namespace's count would pass
 * max (after trying to evict an unassured one), so count >= max is full.
 * max 0 means no limit.
 */
enum host_ct_fill host_ct_fill(const struct host_ct *ct)
{
	if (!ct->loaded || !ct->max)
		return HOST_CT_ROOMY;
	if (ct->count >= ct->max)
		return HOST_CT_FULL;
	if (ct->count * 100 > ct->max * (uint64_t)HOST_CT_FULL_PERCENT)
		return HOST_CT_HIGH;
	return HOST_CT_ROOMY;
}

const char *host_ct_fill_name(enum host_ct_fill fill)
{
	switch (fill) {
	case HOST_CT_ROOMY:
		return "roomy";
	case HOST_CT_HIGH:
		return "high";
	case HOST_CT_FULL:
		return "full";
	}
	return "?";
}

int host_facts_read_proc(const char *proc_root, struct host_facts *f)
{
	f->forwarding[HOST_FAMILY_IPV4] =
		read_switch(proc_root, "sys/net/ipv4/ip_forward");
	f->forwarding[HOST_FAMILY_IPV6] =
		read_switch(proc_root, "sys/net/ipv6/conf/all/forwarding");
	host_ct_read(proc_root, &f->ct);
	return 0;
}

int host_facts_add_addr(struct host_facts *f, const struct knlb_addr *addr,
			const char *ifname, bool up)
{
	struct host_addr *a;

	if (grow(&f->addrs, &f->addrs_cap, f->n_addrs + 1, sizeof(*f->addrs),
		 16) < 0)
		return -ENOMEM;
	a = &f->addrs[f->n_addrs++];
	memset(a, 0, sizeof(*a));
	a->addr = *addr;
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname ? ifname : "");
	a->up = up;
	return 0;
}

int host_facts_read_addrs(struct host_facts *f)
{
	struct ifaddrs *all, *ifa;
	int ret = 0;

	if (getifaddrs(&all) == -1)
		return -errno;
	for (ifa = all; ifa && ret == 0; ifa = ifa->ifa_next) {
		struct knlb_addr a = { 0 };

		if (!ifa->ifa_addr)
			continue;
		a.family = ifa->ifa_addr->sa_family;
		if (a.family == AF_INET)
			a.in = ((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		else if (a.family == AF_INET6)
			a.in6 = ((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
		else
			continue;
		ret = host_facts_add_addr(f, &a, ifa->ifa_name,
					  (ifa->ifa_flags & IFF_UP) != 0);
	}
	freeifaddrs(all);
	return ret;
}

void host_facts_free(struct host_facts *f)
{
	free(f->addrs);
	f->addrs = NULL;
	f->n_addrs = f->addrs_cap = 0;
}

/* ---- problems ----------------------------------------------------------- */

bool host_problem_same(const struct host_problem *a,
		       const struct host_problem *b)
{
	return a->check == b->check && strcmp(a->subject, b->subject) == 0;
}

bool host_problem_unchanged(const struct host_problem *a,
			    const struct host_problem *b)
{
	return host_problem_same(a, b) && a->level == b->level;
}

bool host_problems_have(const struct host_problems *p, enum host_check check)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].check == check)
			return true;
	return false;
}

void host_problems_free(struct host_problems *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

static int add_problem(struct host_problems *p, enum host_check check,
		       const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int add_problem(struct host_problems *p, enum host_check check,
		       const char *subject, const char *fmt, ...)
{
	struct host_problem *pr;
	va_list ap;

	if (grow(&p->v, &p->cap, p->n + 1, sizeof(*p->v), 4) < 0)
		return -ENOMEM;
	pr = &p->v[p->n++];
	memset(pr, 0, sizeof(*pr));
	pr->check = check;
	snprintf(pr->subject, sizeof(pr->subject), "%s", subject);
	va_start(ap, fmt);
	vsnprintf(pr->text, sizeof(pr->text), fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- forwarding, per family served -------------------------------------- */

static const struct {
	sa_family_t family;
	enum host_check check;
	const char *sysctl;
	const char *name;
} families[HOST_FAMILY_COUNT] = {
	[HOST_FAMILY_IPV4] = { AF_INET, HOST_CHECK_IP_FORWARD,
			       "net.ipv4.ip_forward", "IPv4" },
	[HOST_FAMILY_IPV6] = { AF_INET6, HOST_CHECK_IPV6_FORWARDING,
			       "net.ipv6.conf.all.forwarding", "IPv6" },
};

static bool serves_family(const struct knlb_config *config, sa_family_t family)
{
	for (size_t s = 0; s < config->n_services; s++)
		for (int k = 0; k < KNLB_FAMILIES; k++)
			if (config->services[s].vip[k].family == family)
				return true;
	return false;
}

static int check_forwarding(const struct knlb_config *config,
			    const struct host_facts *f, struct host_problems *out)
{
	for (size_t i = 0; i < HOST_FAMILY_COUNT; i++) {
		int ret = 0;

		if (!serves_family(config, families[i].family))
			continue;
		/* No IPv4 sysctl at all is no host knlb could run on: unknown. */
		if (f->forwarding[i] == 0)
			ret = add_problem(out, families[i].check, "",
					  "%s = 0: the gateway does not forward %s, every flow to an %s VIP is dropped after DNAT (sysctl -w %s=1)",
					  families[i].sysctl, families[i].name,
					  families[i].name, families[i].sysctl);
		else if (f->forwarding[i] == HOST_UNKNOWN &&
			 families[i].family == AF_INET6)
			ret = add_problem(out, families[i].check, "",
					  "IPv6 is disabled on this host (no %s): no IPv6 VIP can be served",
					  families[i].sysctl);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- snat = ADDRESS ----------------------------------------------------- */

/* The host's entry for addr: preferably on an up interface; NULL if none. */
static const struct host_addr *find_addr(const struct host_facts *f,
					 const struct knlb_addr *addr)
{
	const struct host_addr *found = NULL;

	for (size_t i = 0; i < f->n_addrs; i++) {
		if (!addr_equal(&f->addrs[i].addr, addr))
			continue;
		if (f->addrs[i].up)
			return &f->addrs[i];
		found = &f->addrs[i];
	}
	return found;
}

static int check_snat(const struct knlb_config *config,
		      const struct host_facts *f, struct host_problems *out)
{
	for (size_t i = 0; i < config->n_services * KNLB_FAMILIES; i++) {
		const struct knlb_service_config *svc = &config->services[i / KNLB_FAMILIES];
		const struct knlb_addr *snat = &svc->snat_addr[i % KNLB_FAMILIES];
		const struct host_addr *have;
		char a[KNLB_ADDRSTRLEN];
		int ret = 0;

		if (svc->snat != KNLB_SNAT_ADDRESS || !snat->family)
			continue;
		have = find_addr(f, snat);
		addr_format(snat, a, sizeof(a));
		if (!have)
			ret = add_problem(out, HOST_CHECK_SNAT_ADDRESS, svc->name,
					  "service %s: snat = %s is not an address of this host: backends reply to an address nobody answers and every reply is lost (add it to an interface, or use snat = masquerade)",
					  svc->name, a);
		else if (!have->up)
			ret = add_problem(out, HOST_CHECK_SNAT_ADDRESS, svc->name,
					  "service %s: snat = %s is on %s, which is down: replies to it are not delivered (ip link set %s up)",
					  svc->name, a, have->ifname, have->ifname);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- conntrack ---------------------------------------------------------- */

static int compare_backend(const void *a, const void *b)
{
	const struct knlb_backend_config *x = *(const struct knlb_backend_config *const *)a;
	const struct knlb_backend_config *y = *(const struct knlb_backend_config *const *)b;
	int c = addr_compare(&x->addr, &y->addr);

	return c ? c : (x->port > y->port) - (x->port < y->port);
}

/*
 * Backends by ADDR:PORT, each counted once: the flows a backend holds do
 * not multiply with the services that list it (100 services over the same
 * 1000 servers are 1000 backends, not 100000).  Without memory for the
 * sort every line counts: the floor is then only higher.
 */
static uint64_t distinct_backends(const struct knlb_config *config)
{
	const struct knlb_backend_config **v;
	size_t n = 0, distinct = 0;

	for (size_t s = 0; s < config->n_services; s++)
		n += config->services[s].n_backends;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return n;
	n = 0;
	for (size_t s = 0; s < config->n_services; s++)
		for (size_t b = 0; b < config->services[s].n_backends; b++)
			v[n++] = &config->services[s].backends[b];
	qsort(v, n, sizeof(*v), compare_backend);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || compare_backend(&v[i - 1], &v[i]) != 0;
	free(v);
	return distinct;
}

static uint64_t ct_floor(const struct knlb_config *config)
{
	uint64_t floor = distinct_backends(config) * HOST_CT_MAX_PER_BACKEND;

	return floor > HOST_CT_MAX_FLOOR ? floor : HOST_CT_MAX_FLOOR;
}

static int check_conntrack(const struct knlb_config *config,
			   const struct host_facts *f, unsigned flags,
			   struct host_problems *out)
{
	const struct host_ct *ct = &f->ct;
	uint64_t floor = ct_floor(config);
	enum host_ct_fill fill = host_ct_fill(ct);
	int ret = 0;

	if (!ct->loaded) {
		/* nft loads nf_conntrack with knlb's NAT table: -t runs before. */
		if (flags & HOST_CHECKS_BEFORE_START)
			return 0;
		return add_problem(out, HOST_CHECK_CONNTRACK, "",
				   "nf_conntrack is not loaded (no net.netfilter.nf_conntrack_max): no flow is NATed (modprobe nf_conntrack)");
	}
	if (ct->max < floor)
		ret = add_problem(out, HOST_CHECK_CONNTRACK_MAX, "",
				  "net.netfilter.nf_conntrack_max = %" PRIu64 " is below %" PRIu64 " (%u, or %u per backend): a burst of flows fills the table and the kernel drops new ones (sysctl -w net.netfilter.nf_conntrack_max=%" PRIu64 ")",
				  ct->max, floor, HOST_CT_MAX_FLOOR,
				  HOST_CT_MAX_PER_BACKEND, floor);
	if (ret == 0 && fill == HOST_CT_FULL)
		ret = add_problem(out, HOST_CHECK_CONNTRACK_FULL, "",
				  "conntrack table FULL (%" PRIu64 " of %" PRIu64 " entries): the kernel is dropping new flows now (\"nf_conntrack: table full, dropping packet\" in the kernel log); established flows continue (raise net.netfilter.nf_conntrack_max, or shorten the conntrack timeouts)",
				  ct->count, ct->max);
	else if (ret == 0 && fill == HOST_CT_HIGH)
		ret = add_problem(out, HOST_CHECK_CONNTRACK_FULL, "",
				  "conntrack table %" PRIu64 "%% full (%" PRIu64 " of %" PRIu64 " entries), above the %u%% warning threshold: when full the kernel drops new flows (raise net.netfilter.nf_conntrack_max)",
				  ct->count * 100 / ct->max, ct->count, ct->max,
				  HOST_CT_FULL_PERCENT);
	if (ret == 0 && fill != HOST_CT_ROOMY)
		out->v[out->n - 1].level = fill;
	return ret;
}

int host_checks_evaluate(const struct knlb_config *config,
			 const struct host_facts *f, unsigned flags,
			 struct host_problems *out)
{
	int ret;

	out->n = 0;
	/* No service (a standby gateway): knlb forwards nothing, needs nothing. */
	if (!config->n_services)
		return 0;
	ret = check_forwarding(config, f, out);
	if (ret == 0)
		ret = check_snat(config, f, out);
	if (ret == 0)
		ret = check_conntrack(config, f, flags, out);
	if (ret < 0)
		out->n = 0;
	return ret;
}

int host_checks_run(const struct knlb_config *config, const char *proc_root,
		    unsigned flags, struct host_problems *out,
		    struct host_ct *ct)
{
	struct host_facts f = { 0 };
	int ret;

	host_facts_read_proc(proc_root, &f);
	ret = host_facts_read_addrs(&f);
	if (ret == 0)
		ret = host_checks_evaluate(config, &f, flags, out);
	if (ct)
		*ct = f.ct;
	host_facts_free(&f);
	return ret;
}

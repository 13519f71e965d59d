/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keyword table's value parsers.  Each reads one value into the field
 * its row names and reports what is wrong with the current line; limits
 * (min, max, size) and word lists come from the row, so one parser serves
 * every key of its kind.
 */
#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "knlb/config/values.h"
#include "knlb/lib/addr.h"
#include "knlb/lib/log.h"
#include "config-int.h"

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* config_parse_number() that reports; what names the value. */
int config_get_number(struct config_parser *p, const char *what,
		      const char *text, bool hex, unsigned long min,
		      unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	int err = config_parse_number(text, hex, max, &v);

	if (err == -EINVAL) {
		config_report(p, config_line(p), "%s \"%s\" is not a number%s",
			      what, text,
			      hex ? " (decimal, or hexadecimal with 0x)" : "");
		return -1;
	}
	if (err == -ERANGE || v < min) {
		if (hex)
			config_report(p, config_line(p),
				      "%s %s is out of range (%#lx..%#lx)",
				      what, text, min, max);
		else
			config_report(p, config_line(p),
				      "%s %s is out of range (%lu..%lu)",
				      what, text, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int config_check_name(struct config_parser *p, int line, const char *what,
		      const char *name, size_t max, const char *why)
{
	size_t len = strlen(name);

	if (config_name_valid(name, max))
		return 0;
	if (len > max)
		config_report(p, line,
			      "%s \"%s\" is too long (%zu characters, max %zu%s)",
			      what, name, len, max, why);
	else
		config_report(p, line,
			      "%s \"%s\" is not valid (a letter, then letters, digits, '_' or '-'%s)",
			      what, name, why);
	return -1;
}

/* ---- numbers and words ------------------------------------------------ */

int config_parse_u16(struct config_parser *p, const struct config_keyword *kw,
		     const char *value, void *field)
{
	unsigned long v;

	if (config_get_number(p, kw->name, value, false, kw->min, kw->max, &v) < 0)
		return -1;
	*(uint16_t *)field = (uint16_t)v;
	return 0;
}

int config_parse_u32(struct config_parser *p, const struct config_keyword *kw,
		     const char *value, void *field)
{
	unsigned long v;

	if (config_get_number(p, kw->name, value, false, kw->min, kw->max, &v) < 0)
		return -1;
	*(uint32_t *)field = (uint32_t)v;
	return 0;
}

int config_parse_hex_u32(struct config_parser *p,
			 const struct config_keyword *kw, const char *value,
			 void *field)
{
	unsigned long v;

	if (config_get_number(p, kw->name, value, true, kw->min, kw->max, &v) < 0)
		return -1;
	*(uint32_t *)field = (uint32_t)v;
	return 0;
}

/*
 * announce_table: a table the kernel does not use for forwarding by
 * itself, so a VIP's route there moves no packet (docs/scale-out.md).
 */
int config_parse_route_table(struct config_parser *p,
			     const struct config_keyword *kw, const char *value,
			     void *field)
{
	unsigned long v;

	if (config_get_number(p, kw->name, value, false, kw->min, kw->max, &v) < 0)
		return -1;
	if (v >= 253 && v <= 255) {
		config_report(p, config_line(p),
			      "%s %lu is the kernel's %s table: announced VIPs need a table of their own",
			      kw->name, v, v == 253 ? "default" : v == 254 ? "main" : "local");
		return -1;
	}
	*(uint32_t *)field = (uint32_t)v;
	return 0;
}

static int get_word(struct config_parser *p, const struct config_keyword *kw,
		    const char *value, int *out)
{
	char list[128];
	int v = config_word_find(kw->words, value);

	if (v < 0) {
		config_word_list(kw->words, 0, list, sizeof(list));
		config_report(p, config_line(p),
			      "unknown %s \"%s\" (expected %s)", kw->name, value,
			      list);
		return -1;
	}
	*out = v;
	return 0;
}

/* Word-list keys store an enum. */
int config_parse_word(struct config_parser *p, const struct config_keyword *kw,
		      const char *value, void *field)
{
	_Static_assert(sizeof(enum knlb_scheduler) == sizeof(int) &&
		       sizeof(enum check_kind) == sizeof(int),
		       "word-list keys store enums as int");
	return get_word(p, kw, value, (int *)field);
}

int config_parse_yes_no(struct config_parser *p,
			const struct config_keyword *kw, const char *value,
			void *field)
{
	int v;

	if (get_word(p, kw, value, &v) < 0)
		return -1;
	*(bool *)field = v;
	return 0;
}

/* ---- durations -------------------------------------------------------- */

static int get_duration(struct config_parser *p, const char *what,
			const char *text, uint64_t min_ns, uint64_t *out)
{
	char err[160], buf[32];
	uint64_t ns;

	if (config_parse_duration(text, &ns, err, sizeof(err)) < 0) {
		config_report(p, config_line(p), "%s: %s", what, err);
		return -1;
	}
	if (ns < min_ns) {
		config_report(p, config_line(p), "%s %s is shorter than %s", what,
			      text, config_format_duration(min_ns, buf, sizeof(buf)));
		return -1;
	}
	*out = ns;
	return 0;
}

/* kw->min is the shortest duration allowed, in ns. */
int config_parse_duration_key(struct config_parser *p,
			      const struct config_keyword *kw,
			      const char *value, void *field)
{
	return get_duration(p, kw->name, value, kw->min, (uint64_t *)field);
}

/* 0s turns the audit off; anything shorter than 1s is a typo. */
int config_parse_ct_resync(struct config_parser *p,
			   const struct config_keyword *kw, const char *value,
			   void *field)
{
	uint64_t ns;

	if (get_duration(p, kw->name, value, 0, &ns) < 0)
		return -1;
	if (ns && ns < 1000000000ULL) {
		config_report(p, config_line(p),
			      "%s %s is shorter than 1s (0s turns it off)",
			      kw->name, value);
		return -1;
	}
	*(uint64_t *)field = ns;
	return 0;
}

/*
 * persistence: 0s turns it off; otherwise whole seconds up to an hour (the longest duration the parser takes)
 * (the kernel keeps element timeouts in jiffies; nft prints them as
 * 1h2m3s, and a fraction of a second would be a typo here).
 */
int config_parse_persistence(struct config_parser *p,
			     const struct config_keyword *kw, const char *value,
			     void *field)
{
	uint64_t ns;

	if (get_duration(p, kw->name, value, 0, &ns) < 0)
		return -1;
	if (ns % 1000000000ULL || ns > kw->max) {
		config_report(p, config_line(p),
			      "%s %s: expected whole seconds up to 1h (0s turns it off)",
			      kw->name, value);
		return -1;
	}
	*(uint64_t *)field = ns;
	return 0;
}

/* ---- text ------------------------------------------------------------- */

/* kw->max is the size of the field, terminating NUL included. */
int config_parse_text(struct config_parser *p, const struct config_keyword *kw,
		      const char *value, void *field)
{
	size_t len = strlen(value);

	if (len >= kw->max) {
		config_report(p, config_line(p),
			      "%s is too long (%zu bytes, max %lu)", kw->name,
			      len, kw->max - 1);
		return -1;
	}
	memcpy(field, value, len + 1);
	return 0;
}

int config_parse_table_name(struct config_parser *p,
			    const struct config_keyword *kw, const char *value,
			    void *field)
{
	if (config_check_name(p, config_line(p), kw->name, value, ID_MAX,
			      ": it names an nft table") < 0)
		return -1;
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

int config_parse_log_level(struct config_parser *p,
			   const struct config_keyword *kw, const char *value,
			   void *field)
{
	int level = log_level_parse(value);

	(void)kw;
	if (level < 0) {
		config_report(p, config_line(p),
			      "unknown log_level \"%s\" (expected error, warning, info or debug)",
			      value);
		return -1;
	}
	*(int *)field = level;
	return 0;
}

int config_parse_control_socket(struct config_parser *p,
				const struct config_keyword *kw,
				const char *value, void *field)
{
	size_t len = strlen(value);

	if (value[0] != '/') {
		config_report(p, config_line(p),
			      "control_socket \"%s\" is not an absolute path",
			      value);
		return -1;
	}
	if (len >= kw->max) {
		config_report(p, config_line(p),
			      "control_socket is too long (%zu bytes, max %lu for a unix socket)",
			      len, kw->max - 1);
		return -1;
	}
	memcpy(field, value, len + 1);
	return 0;
}

/* user = NAME: knlbd runs as NAME after setup, so NAME must exist now. */
int config_parse_user(struct config_parser *p, const struct config_keyword *kw,
		      const char *value, void *field)
{
	struct passwd *pw;

	if (strlen(value) >= kw->max) {
		config_report(p, config_line(p),
			      "user \"%s\": name too long (max %lu bytes)",
			      value, kw->max - 1);
		return -1;
	}
	errno = 0;
	pw = getpwnam(value);
	if (!pw) {
		/* getpwnam(3): 0, ENOENT, ESRCH, EBADF or EPERM all mean "not there". */
		if (errno && errno != ENOENT && errno != ESRCH &&
		    errno != EBADF && errno != EPERM)
			config_report(p, config_line(p),
				      "user \"%s\": cannot look it up: %s",
				      value, strerror(errno));
		else
			config_report(p, config_line(p),
				      "user \"%s\": no such user", value);
		return -1;
	}
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

/* ---- addresses -------------------------------------------------------- */

/* An address literal, or a report naming the key; 0 or -1. */
static int parse_literal(struct config_parser *p, const char *key,
			 const char *value, struct knlb_addr *out)
{
	if (addr_parse(value, out) == 0)
		return 0;
	/* "10.0.0.256" is a typo in an address, not a host name. */
	if (config_looks_dotted(value))
		config_report(p, config_line(p),
			      "%s \"%s\" is not a valid IPv4 address", key, value);
	else
		config_report(p, config_line(p),
			      "%s \"%s\" is not an IPv4 or IPv6 address (names are not resolved)",
			      key, value);
	return -1;
}

/*
 * vip = ADDR, once per family: field is the service's vip[] array.  A
 * dual-stack service gives one IPv4 and one IPv6 line.
 */
int config_parse_vip(struct config_parser *p, const struct config_keyword *kw,
		     const char *value, void *field)
{
	struct knlb_service_config *svc =
		container_of(field, struct knlb_service_config, vip);
	struct knlb_addr a;
	enum knlb_family f;

	if (parse_literal(p, kw->name, value, &a) < 0)
		return -1;
	f = addr_family_index(&a);
	if (svc->vip[f].family) {
		config_report(p, config_line(p),
			      "vip %s: service %s already has an %s vip (line %d); one vip per family",
			      value, svc->name, addr_family_name(f),
			      svc->vip_line[f]);
		return -1;
	}
	svc->vip[f] = a;
	svc->vip_line[f] = config_line(p);
	return 0;
}

/*
 * metrics_listen = ADDR:PORT or [IPV6]:PORT.  addr_port_parse() only says
 * no, so the message names the part that is wrong.
 */
int config_parse_listen(struct config_parser *p,
			const struct config_keyword *kw, const char *value,
			void *field)
{
	const char *port = NULL, *host = value;
	struct knlb_addr a;
	unsigned long v;
	uint16_t port_v;
	int host_len;

	if (addr_port_parse(value, &a, &port_v) == 0) {
		/* Canonical spelling, which also bounds the length. */
		addr_port_format(&a, port_v, field, kw->max);
		return 0;
	}
	if (value[0] == '[') {
		const char *close = strchr(value, ']');

		host = value + 1;
		host_len = close ? (int)(close - host) : (int)strlen(host);
		if (close && close[1] == ':')
			port = close + 2;
	} else {
		const char *colon = strrchr(value, ':');

		if (colon && memchr(value, ':', (size_t)(colon - value))) {
			config_report(p, config_line(p),
				      "metrics_listen \"%s\": IPv6 addresses need brackets ([ADDR]:PORT)",
				      value);
			return -1;
		}
		host_len = colon ? (int)(colon - value) : (int)strlen(value);
		if (colon)
			port = colon + 1;
	}
	if (!port) {
		config_report(p, config_line(p),
			      "metrics_listen \"%s\" has no port (expected ADDR:PORT or [IPV6]:PORT)",
			      value);
		return -1;
	}
	if (config_parse_number(port, false, 65535, &v) < 0 || v == 0) {
		config_report(p, config_line(p),
			      "metrics_listen \"%s\": bad port \"%s\" (expected 1..65535)",
			      value, port);
		return -1;
	}
	config_report(p, config_line(p),
		      "metrics_listen \"%s\": bad address \"%.*s\" (expected an IPv4 or [IPv6] literal; names are not resolved)",
		      value, host_len, host);
	return -1;
}

/* One SNAT address of svc, at most one per family. */
static int add_snat_address(struct config_parser *p,
			    struct knlb_service_config *svc, const char *word)
{
	struct knlb_addr a;
	enum knlb_family f;

	if (addr_parse(word, &a) < 0) {
		config_report(p, config_line(p),
			      "snat \"%s\" is not masquerade, none or an IPv4 or IPv6 address",
			      word);
		return -1;
	}
	f = addr_family_index(&a);
	if (svc->snat_addr[f].family) {
		config_report(p, config_line(p),
			      "snat %s: service %s already has an %s snat address; one per family",
			      word, svc->name, addr_family_name(f));
		return -1;
	}
	svc->snat_addr[f] = a;
	return 0;
}

/*
 * snat = none | masquerade | ADDR [ADDR]: field is the service's snat;
 * snat_addr[] sits beside it.  The key may be given twice, one address of
 * each family per line; checks.c matches the families against the VIPs.
 */
int config_parse_snat(struct config_parser *p, const struct config_keyword *kw,
		      const char *value, void *field)
{
	struct knlb_service_config *svc =
		container_of(field, struct knlb_service_config, snat);
	bool word = strcmp(value, "none") == 0 || strcmp(value, "masquerade") == 0;
	int first = config_current_meta(p)->key_line[config_keyword_index(kw->name)];
	char copy[2 * KNLB_ADDRSTRLEN + 2], *save = NULL;
	int rc = 0, n = 0;

	/* Repeatable only for a second address family (first = 0: defaults). */
	if (first && first != config_line(p) &&
	    (word || svc->snat != KNLB_SNAT_ADDRESS)) {
		config_report(p, config_line(p),
			      "snat repeated in [service %s] (first set on line %d); only addresses of the other family may follow",
			      svc->name, first);
		return -1;
	}
	if (word) {
		svc->snat = value[0] == 'n' ? KNLB_SNAT_NONE : KNLB_SNAT_MASQUERADE;
		return 0;
	}
	if (strlen(value) >= sizeof(copy)) {
		config_report(p, config_line(p),
			      "snat \"%.40s...\" is too long: at most one IPv4 and one IPv6 address",
			      value);
		return -1;
	}
	strcpy(copy, value);
	for (char *w = strtok_r(copy, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (++n > KNLB_FAMILIES) {
			config_report(p, config_line(p),
				      "snat has more than %d addresses: at most one per family",
				      KNLB_FAMILIES);
			return -1;
		}
		if (add_snat_address(p, svc, w) < 0)
			rc = -1;
	}
	if (rc == 0)
		svc->snat = KNLB_SNAT_ADDRESS;
	return rc;
}

/* ---- health checks ---------------------------------------------------- */

int config_parse_check_path(struct config_parser *p,
			    const struct config_keyword *kw, const char *value,
			    void *field)
{
	if (value[0] != '/') {
		config_report(p, config_line(p),
			      "check_path \"%s\" must start with /", value);
		return -1;
	}
	if (strpbrk(value, " \t")) {
		config_report(p, config_line(p),
			      "check_path \"%s\" contains a blank (encode it as %%20)",
			      value);
		return -1;
	}
	return config_parse_text(p, kw, value, field);
}

int config_parse_check_host(struct config_parser *p,
			    const struct config_keyword *kw, const char *value,
			    void *field)
{
	if (strpbrk(value, " \t/")) {
		config_report(p, config_line(p),
			      "check_host \"%s\" is not a host name", value);
		return -1;
	}
	return config_parse_text(p, kw, value, field);
}

/* field: the check's expect_status bits. */
int config_parse_check_expect(struct config_parser *p,
			      const struct config_keyword *kw,
			      const char *value, void *field)
{
	struct check_spec *spec =
		container_of(field, struct check_spec, expect_status);
	char err[160];

	if (config_parse_status_list(value, spec, err, sizeof(err)) < 0) {
		config_report(p, config_line(p), "%s: %s", kw->name, err);
		return -1;
	}
	return 0;
}

static int get_payload(struct config_parser *p, const char *what,
		       const char *value, uint8_t *out, size_t *len)
{
	char err[160];

	if (config_parse_payload(value, out, CHECK_TEXT_MAX, len, err,
				 sizeof(err)) < 0) {
		config_report(p, config_line(p), "%s %s", what, err);
		return -1;
	}
	return 0;
}

/* field: the check's send bytes; send_len sits beside them. */
int config_parse_check_send(struct config_parser *p,
			    const struct config_keyword *kw, const char *value,
			    void *field)
{
	struct check_spec *spec = container_of(field, struct check_spec, send);

	return get_payload(p, kw->name, value, spec->send, &spec->send_len);
}

int config_parse_check_expect_reply(struct config_parser *p,
				    const struct config_keyword *kw,
				    const char *value, void *field)
{
	struct check_spec *spec =
		container_of(field, struct check_spec, expect_reply);

	return get_payload(p, kw->name, value, spec->expect_reply,
			   &spec->expect_reply_len);
}

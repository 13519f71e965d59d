/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration file -> struct knlb_config.
 *
 * inih splits lines into sections and "key = value" pairs; the line
 * reader (config-reader.c) sees every raw line before inih does, counts
 * lines and rejects the lines inih would misread.  What is left here is
 * meaning: sections, keys, values, and the checks that need the whole file.
 * The reader calls back into this file for its errors and for every section
 * header, including those with no key under them, which inih never reports.
 *
 * Every error is collected with its line, then printed sorted by line: an
 * operator fixes a file top to bottom, and some checks (missing backends,
 * duplicates) can only run once the whole file has been read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/config/config.h"
#include "knlb/config/reader.h"
#include "knlb/config/values.h"
#include "knlb/lib/log.h"

/* A service name becomes part of nft names ("svc_NAME", "NAME_slots"). */
#define SERVICE_NAME_MAX	40
#define ID_MAX			(KNLB_NAME_MAX - 1)
#define MIN_SLOTS		2U
/* Words on a backend line; a 199-character line cannot hold more. */
#define BACKEND_MAX_WORDS	100
/* Probing faster than this is a mistake, not a setting. */
#define MIN_INTERVAL_NS		10000000ULL

enum section_kind {
	SECTION_NONE,		/* before the first header */
	SECTION_GLOBAL,
	SECTION_SERVICE,
	SECTION_SKIP,		/* a header already reported as wrong */
};

enum global_key {
	GKEY_TABLE,
	GKEY_LOG_LEVEL,
	GKEY_HASH_SEED,
	GKEY_CONTROL_SOCKET,
	GKEY_CT_MARK_MASK,
	GKEY_METRICS_LISTEN,
	GKEY_USER,
	GKEY_CT_RESYNC_INTERVAL,
	GKEY_COUNT,
};

enum service_key {
	SKEY_VIP,
	SKEY_PORT,
	SKEY_PROTO,
	SKEY_SCHEDULER,
	SKEY_HASH_KEY,
	SKEY_TABLE_SIZE,
	SKEY_HASH_SEED,
	SKEY_SNAT,
	SKEY_BACKEND,
	SKEY_CHECK,
	SKEY_CHECK_PORT,
	SKEY_CHECK_PATH,		/* first http-only key */
	SKEY_CHECK_HOST,
	SKEY_CHECK_EXPECT,
	SKEY_CHECK_BODY,		/* last http-only key */
	SKEY_CHECK_SEND,		/* first udp-only key */
	SKEY_CHECK_EXPECT_REPLY,	/* last udp-only key */
	SKEY_INTERVAL,
	SKEY_TIMEOUT,
	SKEY_RISE,
	SKEY_FALL,
	SKEY_FASTINTER,
	SKEY_DOWNINTER,
	SKEY_SLOWSTART,
	SKEY_ON_EMPTY,
	SKEY_FLUSH,
	SKEY_COUNT,
};

/* What the parser needs to know about a service beyond its config. */
struct service_meta {
	int key_line[SKEY_COUNT];	/* first line the key was on; 0 = absent */
	bool key_bad[SKEY_COUNT];	/* present but rejected */
	bool name_bad;			/* invalid or duplicate name */
	size_t backends_cap;
};

struct message {
	int line;		/* 0 = about the whole file */
	unsigned int seq;	/* keeps messages of one line in order */
	char *text;
};

struct parser {
	const char *name;	/* file name for messages */
	struct config_reader reader;	/* owns the current line number */

	struct knlb_config *config;
	struct service_meta *meta;	/* parallel to config->services */
	size_t services_cap;
	enum section_kind section;
	bool service_seen;		/* any [service ...] header, even bad */
	int global_line;
	int global_key_line[GKEY_COUNT];

	struct message *msgs;
	size_t n_msgs, msgs_cap;
	bool oom;
};

struct keyword {
	const char *name;
	int value;
};

static const struct keyword proto_words[] = {
	{ "tcp", KNLB_PROTO_TCP },
	{ "udp", KNLB_PROTO_UDP },
	{ NULL, 0 },
};

static const struct keyword scheduler_words[] = {
	{ "maglev", KNLB_SCHED_MAGLEV },
	{ "wrr", KNLB_SCHED_WRR },
	{ "random", KNLB_SCHED_RANDOM },
	{ "wlc", KNLB_SCHED_WLC },
	{ NULL, 0 },
};

static const struct keyword hash_key_words[] = {
	{ "src-ip", KNLB_HASH_SRC_IP },
	{ "src-ip-port", KNLB_HASH_SRC_IP_PORT },
	{ "5-tuple", KNLB_HASH_5TUPLE },
	{ NULL, 0 },
};

static const char *const global_key_names[GKEY_COUNT] = {
	[GKEY_TABLE] = "table",
	[GKEY_LOG_LEVEL] = "log_level",
	[GKEY_HASH_SEED] = "hash_seed",
	[GKEY_CONTROL_SOCKET] = "control_socket",
	[GKEY_CT_MARK_MASK] = "ct_mark_mask",
	[GKEY_METRICS_LISTEN] = "metrics_listen",
	[GKEY_USER] = "user",
	[GKEY_CT_RESYNC_INTERVAL] = "ct_resync_interval",
};

static const char *const service_key_names[SKEY_COUNT] = {
	[SKEY_VIP] = "vip",
	[SKEY_PORT] = "port",
	[SKEY_PROTO] = "proto",
	[SKEY_SCHEDULER] = "scheduler",
	[SKEY_HASH_KEY] = "hash_key",
	[SKEY_TABLE_SIZE] = "table_size",
	[SKEY_HASH_SEED] = "hash_seed",
	[SKEY_SNAT] = "snat",
	[SKEY_BACKEND] = "backend",
	[SKEY_CHECK] = "check",
	[SKEY_CHECK_PORT] = "check_port",
	[SKEY_CHECK_PATH] = "check_path",
	[SKEY_CHECK_HOST] = "check_host",
	[SKEY_CHECK_EXPECT] = "check_expect",
	[SKEY_CHECK_BODY] = "check_body",
	[SKEY_CHECK_SEND] = "check_send",
	[SKEY_CHECK_EXPECT_REPLY] = "check_expect_reply",
	[SKEY_INTERVAL] = "interval",
	[SKEY_TIMEOUT] = "timeout",
	[SKEY_RISE] = "rise",
	[SKEY_FALL] = "fall",
	[SKEY_FASTINTER] = "fastinter",
	[SKEY_DOWNINTER] = "downinter",
	[SKEY_SLOWSTART] = "slowstart",
	[SKEY_ON_EMPTY] = "on_empty",
	[SKEY_FLUSH] = "flush",
};

static const struct keyword check_words[] = {
	{ "none", CHECK_NONE },
	{ "tcp", CHECK_TCP },
	{ "http", CHECK_HTTP },
	{ "https", CHECK_HTTPS },
	{ "udp", CHECK_UDP },
	{ NULL, 0 },
};

static const struct keyword on_empty_words[] = {
	{ "reject", KNLB_ON_EMPTY_REJECT },
	{ "drop", KNLB_ON_EMPTY_DROP },
	{ NULL, 0 },
};

static const struct keyword yes_no_words[] = {
	{ "yes", 1 },
	{ "no", 0 },
	{ NULL, 0 },
};

/*
 * Keys the design reserves for later stages.  Rejecting them with their own
 * message tells the operator the file is ahead of the daemon, rather than
 * misspelt; silently ignoring a health check setting would be worse.
 */
static const char *const future_global_keys[] = { NULL };


/* ---- messages ---------------------------------------------------------- */

static void report(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct parser *p, int line, const char *fmt, ...)
{
	struct message *m;
	va_list ap;
	char *text;
	int rc;

	if (p->n_msgs == p->msgs_cap) {
		size_t cap = p->msgs_cap ? 2 * p->msgs_cap : 16;

		m = realloc(p->msgs, cap * sizeof(*m));
		if (!m) {
			p->oom = true;
			return;
		}
		p->msgs = m;
		p->msgs_cap = cap;
	}
	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		p->oom = true;
		return;
	}
	m = &p->msgs[p->n_msgs];
	m->line = line;
	m->seq = (unsigned int)p->n_msgs;
	m->text = text;
	p->n_msgs++;
}

static bool line_reported(const struct parser *p, int line)
{
	for (size_t i = 0; i < p->n_msgs; i++)
		if (p->msgs[i].line == line)
			return true;
	return false;
}

static int message_cmp(const void *a, const void *b)
{
	const struct message *x = a, *y = b;
	/* Whole-file messages ("no [service] section") come last. */
	long lx = x->line ? x->line : (long)INT_MAX + 1;
	long ly = y->line ? y->line : (long)INT_MAX + 1;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print and free every message; returns how many there were. */
static size_t flush_messages(struct parser *p, FILE *errors)
{
	size_t n = p->n_msgs;

	if (p->n_msgs)
		qsort(p->msgs, p->n_msgs, sizeof(*p->msgs), message_cmp);
	for (size_t i = 0; i < p->n_msgs; i++) {
		const struct message *m = &p->msgs[i];

		if (errors && m->line)
			fprintf(errors, "%s:%d: %s\n", p->name, m->line, m->text);
		else if (errors)
			fprintf(errors, "%s: %s\n", p->name, m->text);
		free(m->text);
	}
	if (p->oom) {
		if (errors)
			fprintf(errors, "%s: out of memory\n", p->name);
		n++;
	}
	free(p->msgs);
	p->msgs = NULL;
	p->n_msgs = p->msgs_cap = 0;
	return n;
}

/* ---- values ------------------------------------------------------------ */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * A whole unsigned number: decimal, or hexadecimal after "0x" when hex is
 * set.  Checked by hand before strtoul(), which would otherwise accept
 * leading blanks, a sign ("-1" wraps to ULONG_MAX), a second "0x" and, in
 * base 0, read "010" as octal.  Returns 0, -EINVAL (not a number) or
 * -ERANGE (a number above max, or negative).
 */
static int parse_number(const char *text, bool hex, unsigned long max,
			unsigned long *out)
{
	const char *digits = text;
	const char *charset = "0123456789";
	unsigned long v;
	int base = 10;

	if (hex && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		digits = text + 2;
		charset = "0123456789abcdefABCDEF";
		base = 16;
	}
	if (text[0] == '-' && is_digit(text[1]) &&
	    strspn(text + 1, "0123456789") == strlen(text + 1))
		return -ERANGE;
	if (!*digits || strspn(digits, charset) != strlen(digits))
		return -EINVAL;
	errno = 0;
	v = strtoul(digits, NULL, base);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* parse_number() that reports; what names the value in the message. */
static int get_number(struct parser *p, const char *what, const char *text,
		      bool hex, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v = 0;
	int err = parse_number(text, hex, max, &v);

	if (err == -EINVAL) {
		report(p, p->reader.lineno,
		       "%s \"%s\" is not a number%s", what, text,
		       hex ? " (decimal, or hexadecimal with 0x)" : "");
		return -1;
	}
	if (err == -ERANGE || v < min) {
		if (hex)
			report(p, p->reader.lineno,
			       "%s %s is out of range (%#lx..%#lx)",
			       what, text, min, max);
		else
			report(p, p->reader.lineno,
			       "%s %s is out of range (%lu..%lu)",
			       what, text, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Returns the keyword's value, or -1 when the word is not in the list. */
static int keyword_find(const struct keyword *words, const char *name)
{
	for (; words->name; words++)
		if (strcmp(words->name, name) == 0)
			return words->value;
	return -1;
}

static const char *keyword_name(const struct keyword *words, int value)
{
	for (; words->name; words++)
		if (words->value == value)
			return words->name;
	return "unknown";
}

/* "a, b or c" for messages. */
static void keyword_list(const struct keyword *words, char *buf, size_t len)
{
	size_t n = 0, used = 0;

	while (words[n].name)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(buf + used, len - used, "%s%s", sep,
				 words[i].name);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static int get_keyword(struct parser *p, const char *what,
		       const struct keyword *words, const char *text, int *out)
{
	char list[128];
	int v = keyword_find(words, text);

	if (v < 0) {
		keyword_list(words, list, sizeof(list));
		report(p, p->reader.lineno,
		       "unknown %s \"%s\" (expected %s)", what, text, list);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Names end up in nft objects and in log lines that tests and operators
 * grep, so they get the charset of an nft identifier without its oddities.
 */
static bool name_valid(const char *name, size_t max)
{
	size_t len = strlen(name);

	return len > 0 && len <= max && is_alpha(name[0]) &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

static int check_name(struct parser *p, int line, const char *what,
		      const char *name, size_t max, const char *why)
{
	size_t len = strlen(name);

	if (name_valid(name, max))
		return 0;
	if (len > max)
		report(p, line, "%s \"%s\" is too long (%zu characters, max %zu%s)",
		       what, name, len, max, why);
	else
		report(p, line,
		       "%s \"%s\" is not valid (a letter, then letters, digits, '_' or '-'%s)",
		       what, name, why);
	return -1;
}

static int get_ipv4(struct parser *p, const char *what, const char *text,
		    struct knlb_addr *out)
{
	struct knlb_addr a;

	if (addr_parse(text, &a) < 0) {
		report(p, p->reader.lineno,
		       "%s \"%s\" is not an IPv4 address (names are not resolved)",
		       what, text);
		return -1;
	}
	if (a.family != AF_INET) {
		report(p, p->reader.lineno,
		       "%s %s: IPv6 is not supported yet", what, text);
		return -1;
	}
	*out = a;
	return 0;
}

static int get_seed(struct parser *p, const char *text, uint32_t *out)
{
	unsigned long v;

	if (get_number(p, "hash_seed", text, true, 0, UINT32_MAX, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* ---- [global] ---------------------------------------------------------- */

/*
 * metrics_listen = ADDR:PORT or [IPV6]:PORT.  addr_port_parse() only says
 * no, so the message names the part that is wrong.
 */
static int get_listen(struct parser *p, const char *value, char *out,
		      size_t outlen)
{
	const char *port = NULL, *host = value;
	struct knlb_addr a;
	unsigned long v;
	uint16_t port_v;
	int host_len;

	if (addr_port_parse(value, &a, &port_v) == 0) {
		/* Canonical spelling, which also bounds the length. */
		addr_port_format(&a, port_v, out, outlen);
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
			report(p, p->reader.lineno,
			       "metrics_listen \"%s\": IPv6 addresses need brackets ([ADDR]:PORT)",
			       value);
			return -1;
		}
		host_len = colon ? (int)(colon - value) : (int)strlen(value);
		if (colon)
			port = colon + 1;
	}
	if (!port) {
		report(p, p->reader.lineno,
		       "metrics_listen \"%s\" has no port (expected ADDR:PORT or [IPV6]:PORT)",
		       value);
		return -1;
	}
	if (parse_number(port, false, 65535, &v) < 0 || v == 0) {
		report(p, p->reader.lineno,
		       "metrics_listen \"%s\": bad port \"%s\" (expected 1..65535)",
		       value, port);
		return -1;
	}
	report(p, p->reader.lineno,
	       "metrics_listen \"%s\": bad address \"%.*s\" (expected an IPv4 or [IPv6] literal; names are not resolved)",
	       value, host_len, host);
	return -1;
}

/* user = NAME: knlbd runs as NAME after setup, so NAME must exist now. */
static int get_user(struct parser *p, const char *value, char *out, size_t len)
{
	struct passwd *pw;

	if (strlen(value) >= len) {
		report(p, p->reader.lineno, "user \"%s\": name too long (max %zu bytes)",
		       value, len - 1);
		return -1;
	}
	errno = 0;
	pw = getpwnam(value);
	if (!pw) {
		/* getpwnam(3): 0, ENOENT, ESRCH, EBADF or EPERM all mean "not there". */
		if (errno && errno != ENOENT && errno != ESRCH &&
		    errno != EBADF && errno != EPERM)
			report(p, p->reader.lineno, "user \"%s\": cannot look it up: %s",
			       value, strerror(errno));
		else
			report(p, p->reader.lineno, "user \"%s\": no such user", value);
		return -1;
	}
	memcpy(out, value, strlen(value) + 1);
	return 0;
}

static int get_duration(struct parser *p, const char *what, const char *text,
			uint64_t min_ns, uint64_t *out);

static int global_value(struct parser *p, enum global_key key,
			const char *value)
{
	struct knlb_global_config *g = &p->config->global;
	size_t len = strlen(value);
	unsigned long v;
	int level;

	switch (key) {
	case GKEY_TABLE:
		if (check_name(p, p->reader.lineno, "table", value, ID_MAX,
			       ": it names an nft table") < 0)
			return -1;
		memcpy(g->table, value, len + 1);
		return 0;
	case GKEY_LOG_LEVEL:
		level = log_level_parse(value);
		if (level < 0) {
			report(p, p->reader.lineno,
			       "unknown log_level \"%s\" (expected error, warning, info or debug)",
			       value);
			return -1;
		}
		g->log_level = level;
		return 0;
	case GKEY_HASH_SEED:
		return get_seed(p, value, &g->hash_seed);
	case GKEY_CONTROL_SOCKET:
		if (value[0] != '/') {
			report(p, p->reader.lineno,
			       "control_socket \"%s\" is not an absolute path",
			       value);
			return -1;
		}
		if (len >= sizeof(g->control_socket)) {
			report(p, p->reader.lineno,
			       "control_socket is too long (%zu bytes, max %zu for a unix socket)",
			       len, sizeof(g->control_socket) - 1);
			return -1;
		}
		memcpy(g->control_socket, value, len + 1);
		return 0;
	case GKEY_CT_MARK_MASK:
		if (get_number(p, "ct_mark_mask", value, true, 1, UINT32_MAX,
			       &v) < 0)
			return -1;
		g->ct_mark_mask = (uint32_t)v;
		return 0;
	case GKEY_METRICS_LISTEN:
		return get_listen(p, value, g->metrics_listen,
				  sizeof(g->metrics_listen));
	case GKEY_USER:
		return get_user(p, value, g->user, sizeof(g->user));
	case GKEY_CT_RESYNC_INTERVAL:
		/* 0s turns the audit off; anything shorter than 1s is a typo. */
		if (get_duration(p, "ct_resync_interval", value, 0,
				 &g->ct_resync_interval_ns) < 0)
			return -1;
		if (g->ct_resync_interval_ns && g->ct_resync_interval_ns < 1000000000ULL) {
			report(p, p->reader.lineno,
			       "ct_resync_interval %s is shorter than 1s (0s turns it off)",
			       value);
			return -1;
		}
		return 0;
	case GKEY_COUNT:
		break;
	}
	return -1;
}

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static int key_index(const char *const *names, int count, const char *name)
{
	for (int i = 0; i < count; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void global_key(struct parser *p, const char *name, const char *value)
{
	int k = key_index(global_key_names, GKEY_COUNT, name);

	if (k < 0) {
		if (in_list(future_global_keys, name))
			report(p, p->reader.lineno,
			       "key %s is not supported yet", name);
		else
			report(p, p->reader.lineno,
			       "unknown key \"%s\" in [global]", name);
		return;
	}
	if (p->global_key_line[k]) {
		report(p, p->reader.lineno,
		       "%s repeated in [global] (first set on line %d)",
		       name, p->global_key_line[k]);
		return;
	}
	p->global_key_line[k] = p->reader.lineno;
	if (!*value) {
		report(p, p->reader.lineno, "%s has no value", name);
		return;
	}
	global_value(p, (enum global_key)k, value);
}

/* ---- [service NAME] ---------------------------------------------------- */

static struct knlb_service_config *current_service(struct parser *p)
{
	return &p->config->services[p->config->n_services - 1];
}

static struct service_meta *current_meta(struct parser *p)
{
	return &p->meta[p->config->n_services - 1];
}

/*
 * Explain why "ADDR:PORT" did not parse: addr_port_parse() only says no,
 * and "bad address" is no help when the port is what is missing.
 */
static void report_bad_endpoint(struct parser *p, const char *text)
{
	const char *host = text, *port = NULL;
	bool port_known = true;		/* false: cannot tell where it is */
	int host_len;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close && close[1] == ':')
			port = close + 2;
		else if (!close || close[1] != '\0')
			port_known = false;
		host = text + 1;
		host_len = close ? (int)(close - host) : (int)strlen(host);
	} else {
		const char *colon = strrchr(text, ':');

		if (colon && memchr(text, ':', (size_t)(colon - text))) {
			report(p, p->reader.lineno,
			       "backend \"%s\": IPv6 addresses need brackets ([ADDR]:PORT)",
			       text);
			return;
		}
		if (colon)
			port = colon + 1;
		host_len = colon ? (int)(colon - text) : (int)strlen(text);
	}
	if (port_known && !port) {
		report(p, p->reader.lineno,
		       "backend \"%s\" has no port (expected ADDR:PORT)",
		       text);
		return;
	}
	if (port_known) {
		unsigned long v;

		if (parse_number(port, false, 65535, &v) < 0 || v == 0) {
			report(p, p->reader.lineno,
			       "backend \"%s\": bad port \"%s\" (expected 1..65535)",
			       text, port);
			return;
		}
	}
	report(p, p->reader.lineno,
	       "backend \"%s\": bad address \"%.*s\" (expected IPV4:PORT; names are not resolved)",
	       text, host_len, host);
}

static int backend_option(struct parser *p, struct knlb_backend_config *b,
			  const char *opt, bool *seen_weight, bool *seen_id)
{
	unsigned long w;

	if (strncmp(opt, "weight=", 7) == 0) {
		if (*seen_weight) {
			report(p, p->reader.lineno,
			       "backend weight given twice");
			return -1;
		}
		*seen_weight = true;
		if (get_number(p, "weight", opt + 7, false, 0, KNLB_MAX_WEIGHT,
			       &w) < 0)
			return -1;
		b->weight = (uint32_t)w;
		return 0;
	}
	if (strncmp(opt, "id=", 3) == 0) {
		if (*seen_id) {
			report(p, p->reader.lineno, "backend id given twice");
			return -1;
		}
		*seen_id = true;
		if (check_name(p, p->reader.lineno, "backend id", opt + 3,
			       ID_MAX, "") < 0)
			return -1;
		memcpy(b->id, opt + 3, strlen(opt + 3) + 1);
		return 0;
	}
	if (strcmp(opt, "backup") == 0) {
		if (b->backup) {
			report(p, p->reader.lineno, "backend backup given twice");
			return -1;
		}
		b->backup = true;
		return 0;
	}
	if (strncmp(opt, "check_port=", 11) == 0) {
		if (b->check_port) {
			report(p, p->reader.lineno,
			       "backend check_port given twice");
			return -1;
		}
		if (get_number(p, "check_port", opt + 11, false, 1, 65535,
			       &w) < 0)
			return -1;
		b->check_port = (uint16_t)w;
		return 0;
	}
	report(p, p->reader.lineno,
	       "unknown backend option \"%s\" (expected weight=N, id=NAME, backup or check_port=N, without spaces around '=')",
	       opt);
	return -1;
}

/*
 * "weight = 3", "weight =3" and "weight= 3" are one mistake: returns how
 * many words it spans (so they give one message), or 0.
 */
static size_t spaced_option(char *const *w, size_t n)
{
	size_t len = strcspn(w[0], "=");

	if (!(len == 6 && strncmp(w[0], "weight", 6) == 0) &&
	    !(len == 2 && strncmp(w[0], "id", 2) == 0) &&
	    !(len == 10 && strncmp(w[0], "check_port", 10) == 0))
		return 0;
	if (!w[0][len])			/* "weight" then "=3" or "=" "3" */
		return n > 1 && w[1][0] == '=' ? (w[1][1] || n < 3 ? 2 : 3) : 1;
	if (!w[0][len + 1] && n > 1 && !strchr(w[1], '='))
		return 2;		/* "weight=" then "3" */
	return 0;
}

static int backend_append(struct parser *p, const struct knlb_backend_config *b)
{
	struct knlb_service_config *svc = current_service(p);
	struct service_meta *meta = current_meta(p);

	if (svc->n_backends == meta->backends_cap) {
		size_t cap = meta->backends_cap ? 2 * meta->backends_cap : 4;
		struct knlb_backend_config *nb;

		nb = realloc(svc->backends, cap * sizeof(*nb));
		if (!nb) {
			p->oom = true;
			return -1;
		}
		svc->backends = nb;
		meta->backends_cap = cap;
	}
	svc->backends[svc->n_backends++] = *b;
	return 0;
}

/*
 * "ADDR:PORT [weight=N] [id=NAME] [backup] [check_port=N]"; every problem
 * on the line is reported.
 */
static int parse_backend(struct parser *p, const char *value)
{
	struct knlb_backend_config b = {
		.weight = 1,
		.line = p->reader.lineno,
	};
	bool seen_weight = false, seen_id = false;
	char *copy, *tok[BACKEND_MAX_WORDS], *save = NULL;
	size_t n = 0;
	int rc = 0;

	copy = strdup(value);
	if (!copy) {
		p->oom = true;
		return -1;
	}
	for (char *w = strtok_r(copy, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == BACKEND_MAX_WORDS) {
			report(p, p->reader.lineno,
			       "backend has too many options");
			free(copy);
			return -1;
		}
		tok[n++] = w;
	}
	if (n == 0) {
		report(p, p->reader.lineno, "backend has no value");
		rc = -1;
	} else if (addr_port_parse(tok[0], &b.addr, &b.port) < 0) {
		report_bad_endpoint(p, tok[0]);
		rc = -1;
	} else if (b.addr.family != AF_INET) {
		report(p, p->reader.lineno,
		       "backend %s: IPv6 is not supported yet", tok[0]);
		rc = -1;
	}
	for (size_t i = 1; i < n; i++) {
		size_t skip = spaced_option(tok + i, n - i);

		if (skip) {
			size_t len = strcspn(tok[i], "=");

			report(p, p->reader.lineno,
			       "backend option %.*s: write %.*s=VALUE, without spaces around '='",
			       (int)len, tok[i], (int)len, tok[i]);
			rc = -1;
			i += skip - 1;
			continue;
		}
		if (backend_option(p, &b, tok[i], &seen_weight, &seen_id) < 0)
			rc = -1;
	}
	free(copy);
	if (rc < 0)
		return -1;
	if (!seen_id)
		addr_port_format(&b.addr, b.port, b.id, sizeof(b.id));
	return backend_append(p, &b);
}

static int get_snat(struct parser *p, struct knlb_service_config *svc,
		    const char *value)
{
	struct knlb_addr a;

	if (strcmp(value, "none") == 0) {
		svc->snat = KNLB_SNAT_NONE;
		return 0;
	}
	if (strcmp(value, "masquerade") == 0) {
		svc->snat = KNLB_SNAT_MASQUERADE;
		return 0;
	}
	if (addr_parse(value, &a) < 0) {
		report(p, p->reader.lineno,
		       "snat \"%s\" is not masquerade, none or an IPv4 address",
		       value);
		return -1;
	}
	if (a.family != AF_INET) {
		report(p, p->reader.lineno,
		       "snat %s: IPv6 is not supported yet", value);
		return -1;
	}
	svc->snat = KNLB_SNAT_ADDRESS;
	svc->snat_addr = a;
	return 0;
}

static int get_duration(struct parser *p, const char *what, const char *text,
			uint64_t min_ns, uint64_t *out)
{
	char err[160], buf[32];
	uint64_t ns;

	if (config_parse_duration(text, &ns, err, sizeof(err)) < 0) {
		report(p, p->reader.lineno, "%s: %s", what, err);
		return -1;
	}
	if (ns < min_ns) {
		report(p, p->reader.lineno, "%s %s is shorter than %s", what,
		       text, config_format_duration(min_ns, buf, sizeof(buf)));
		return -1;
	}
	*out = ns;
	return 0;
}

static int get_text(struct parser *p, const char *what, const char *value,
		    char *out, size_t cap)
{
	size_t len = strlen(value);

	if (len >= cap) {
		report(p, p->reader.lineno, "%s is too long (%zu bytes, max %zu)",
		       what, len, cap - 1);
		return -1;
	}
	memcpy(out, value, len + 1);
	return 0;
}

static int get_payload(struct parser *p, const char *what, const char *value,
		       uint8_t *out, size_t *len)
{
	char err[160];

	if (config_parse_payload(value, out, CHECK_TEXT_MAX, len, err,
				 sizeof(err)) < 0) {
		report(p, p->reader.lineno, "%s %s", what, err);
		return -1;
	}
	return 0;
}

/* The health-check keys; which check kind each applies to is checked later. */
static int health_value(struct parser *p, enum service_key key,
			const char *value)
{
	struct knlb_health_config *h = &current_service(p)->health;
	char err[160];
	unsigned long v;
	int w = 0;

	switch (key) {
	case SKEY_CHECK:
		if (get_keyword(p, "check", check_words, value, &w) < 0)
			return -1;
		h->check.kind = (enum check_kind)w;
		return 0;
	case SKEY_CHECK_PORT:
		if (get_number(p, "check_port", value, false, 1, 65535, &v) < 0)
			return -1;
		h->check.port = (uint16_t)v;
		return 0;
	case SKEY_CHECK_PATH:
		if (value[0] != '/') {
			report(p, p->reader.lineno,
			       "check_path \"%s\" must start with /", value);
			return -1;
		}
		if (strpbrk(value, " \t")) {
			report(p, p->reader.lineno,
			       "check_path \"%s\" contains a blank (encode it as %%20)",
			       value);
			return -1;
		}
		return get_text(p, "check_path", value, h->check.path,
				sizeof(h->check.path));
	case SKEY_CHECK_HOST:
		if (strpbrk(value, " \t/")) {
			report(p, p->reader.lineno,
			       "check_host \"%s\" is not a host name", value);
			return -1;
		}
		return get_text(p, "check_host", value, h->check.host,
				sizeof(h->check.host));
	case SKEY_CHECK_EXPECT:
		if (config_parse_status_list(value, &h->check, err,
					     sizeof(err)) < 0) {
			report(p, p->reader.lineno, "check_expect: %s", err);
			return -1;
		}
		return 0;
	case SKEY_CHECK_BODY:
		return get_text(p, "check_body", value, h->check.body,
				sizeof(h->check.body));
	case SKEY_CHECK_SEND:
		return get_payload(p, "check_send", value, h->check.send,
				   &h->check.send_len);
	case SKEY_CHECK_EXPECT_REPLY:
		return get_payload(p, "check_expect_reply", value,
				   h->check.expect_reply,
				   &h->check.expect_reply_len);
	case SKEY_INTERVAL:
		return get_duration(p, "interval", value, MIN_INTERVAL_NS,
				    &h->interval_ns);
	case SKEY_TIMEOUT:
		return get_duration(p, "timeout", value, MIN_INTERVAL_NS,
				    &h->check.timeout_ns);
	case SKEY_FASTINTER:
		return get_duration(p, "fastinter", value, MIN_INTERVAL_NS,
				    &h->fastinter_ns);
	case SKEY_DOWNINTER:
		return get_duration(p, "downinter", value, MIN_INTERVAL_NS,
				    &h->downinter_ns);
	case SKEY_SLOWSTART:
		return get_duration(p, "slowstart", value, 0, &h->slowstart_ns);
	case SKEY_RISE:
	case SKEY_FALL:
		if (get_number(p, service_key_names[key], value, false, 1,
			       KNLB_MAX_RISE_FALL, &v) < 0)
			return -1;
		*(key == SKEY_RISE ? &h->rise : &h->fall) = (uint32_t)v;
		return 0;
	case SKEY_ON_EMPTY:
		if (get_keyword(p, "on_empty", on_empty_words, value, &w) < 0)
			return -1;
		current_service(p)->on_empty = (enum knlb_on_empty)w;
		return 0;
	case SKEY_FLUSH:
		if (get_keyword(p, "flush", yes_no_words, value, &w) < 0)
			return -1;
		current_service(p)->flush = w;
		return 0;
	default:
		break;
	}
	return -1;
}

static int service_value(struct parser *p, enum service_key key,
			 const char *value)
{
	struct knlb_service_config *svc = current_service(p);
	unsigned long v;
	int w = 0;

	switch (key) {
	case SKEY_VIP:
		return get_ipv4(p, "vip", value, &svc->vip);
	case SKEY_PORT:
		if (get_number(p, "port", value, false, 1, 65535, &v) < 0)
			return -1;
		svc->port = (uint16_t)v;
		return 0;
	case SKEY_PROTO:
		if (get_keyword(p, "proto", proto_words, value, &w) < 0)
			return -1;
		svc->proto = (enum knlb_proto)w;
		return 0;
	case SKEY_SCHEDULER:
		if (get_keyword(p, "scheduler", scheduler_words, value, &w) < 0)
			return -1;
		svc->scheduler = (enum knlb_scheduler)w;
		return 0;
	case SKEY_HASH_KEY:
		if (get_keyword(p, "hash_key", hash_key_words, value, &w) < 0)
			return -1;
		svc->hash_key = (enum knlb_hash_key)w;
		return 0;
	case SKEY_TABLE_SIZE:
		if (get_number(p, "table_size", value, false, MIN_SLOTS,
			       KNLB_MAX_SLOTS, &v) < 0)
			return -1;
		svc->table_size = (uint32_t)v;
		return 0;
	case SKEY_HASH_SEED:
		return get_seed(p, value, &svc->hash_seed);
	case SKEY_SNAT:
		return get_snat(p, svc, value);
	case SKEY_BACKEND:
		return parse_backend(p, value);
	case SKEY_COUNT:
		break;
	default:
		return health_value(p, key, value);
	}
	return -1;
}

static void service_key(struct parser *p, const char *name, const char *value)
{
	struct knlb_service_config *svc = current_service(p);
	struct service_meta *meta = current_meta(p);
	int k = key_index(service_key_names, SKEY_COUNT, name);

	if (k < 0) {
		report(p, p->reader.lineno, "unknown key \"%s\" in [service %s]",
		       name, svc->name);
		return;
	}
	if (meta->key_line[k] && k != SKEY_BACKEND) {
		report(p, p->reader.lineno,
		       "%s repeated in [service %s] (first set on line %d)",
		       name, svc->name, meta->key_line[k]);
		return;
	}
	if (!meta->key_line[k])
		meta->key_line[k] = p->reader.lineno;
	if (!*value) {
		report(p, p->reader.lineno, "%s has no value", name);
		meta->key_bad[k] = true;
		return;
	}
	if (service_value(p, (enum service_key)k, value) < 0)
		meta->key_bad[k] = true;
}

static int service_add(struct parser *p, const char *name)
{
	struct knlb_config *c = p->config;
	struct knlb_service_config *svc;
	struct service_meta *meta;
	bool name_bad = false;

	if (check_name(p, p->reader.lineno, "service name", name,
		       SERVICE_NAME_MAX,
		       ": it becomes part of nft chain and set names") < 0) {
		name_bad = true;
	} else {
		for (size_t i = 0; i < c->n_services; i++) {
			if (strcmp(c->services[i].name, name) == 0) {
				report(p, p->reader.lineno,
				       "service %s already defined on line %d",
				       name, c->services[i].line);
				name_bad = true;
				break;
			}
		}
	}

	if (c->n_services == p->services_cap) {
		size_t cap = p->services_cap ? 2 * p->services_cap : 4;

		svc = realloc(c->services, cap * sizeof(*svc));
		if (!svc)
			goto out_oom;
		c->services = svc;
		meta = realloc(p->meta, cap * sizeof(*meta));
		if (!meta)
			goto out_oom;
		p->meta = meta;
		p->services_cap = cap;
	}
	svc = &c->services[c->n_services];
	meta = &p->meta[c->n_services];
	c->n_services++;

	*svc = (struct knlb_service_config){
		.proto = KNLB_PROTO_TCP,
		.scheduler = KNLB_SCHED_MAGLEV,
		.hash_key = KNLB_HASH_SRC_IP_PORT,
		.table_size = KNLB_DEFAULT_SLOTS,
		.snat = KNLB_SNAT_NONE,
		.health = {
			.check = {
				.kind = CHECK_NONE,
				.timeout_ns = KNLB_DEFAULT_TIMEOUT_NS,
				.path = "/",
			},
			.interval_ns = KNLB_DEFAULT_INTERVAL_NS,
			.rise = KNLB_DEFAULT_RISE,
			.fall = KNLB_DEFAULT_FALL,
		},
		.on_empty = KNLB_ON_EMPTY_REJECT,
		.line = p->reader.lineno,
	};
	/* Kept even when invalid: it names the service in later messages. */
	snprintf(svc->name, sizeof(svc->name), "%s", name);
	*meta = (struct service_meta){ .name_bad = name_bad };
	return 0;

out_oom:
	p->oom = true;
	return -1;
}

/* text is what is between the brackets, blanks trimmed. */
static void section_open(struct parser *p, const char *text)
{
	p->section = SECTION_SKIP;
	if (strcmp(text, "global") == 0) {
		if (p->global_line) {
			report(p, p->reader.lineno,
			       "[global] repeated (first on line %d); use one [global] section",
			       p->global_line);
			return;
		}
		p->global_line = p->reader.lineno;
		p->section = SECTION_GLOBAL;
		return;
	}
	if (strncmp(text, "service", 7) == 0 &&
	    (text[7] == '\0' || config_is_blank(text[7]))) {
		const char *name = text + 7;

		p->service_seen = true;
		while (config_is_blank(*name))
			name++;
		if (!*name) {
			report(p, p->reader.lineno,
			       "[service] needs a name: [service NAME]");
			return;
		}
		if (service_add(p, name) == 0)
			p->section = SECTION_SERVICE;
		return;
	}
	report(p, p->reader.lineno,
	       "unknown section [%s] (expected [global] or [service NAME])",
	       text);
}

/* ---- reader callbacks -------------------------------------------------- */

static void reader_error(void *ctx, int line, const char *msg)
{
	report(ctx, line, "%s", msg);
}

static void reader_section(void *ctx, const char *name)
{
	section_open(ctx, name);
}

static void reader_bad_section(void *ctx)
{
	struct parser *p = ctx;

	p->section = SECTION_SKIP;
}

static const struct config_reader_ops reader_ops = {
	.error = reader_error,
	.section = reader_section,
	.bad_section = reader_bad_section,
};

static int handle_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct parser *p = user;

	/* inih truncates section names; the reader tracked the real one. */
	(void)section;
	switch (p->section) {
	case SECTION_NONE:
		report(p, p->reader.lineno,
		       "key %s outside any section (put it under [global] or [service NAME])",
		       name);
		break;
	case SECTION_GLOBAL:
		global_key(p, name, value);
		break;
	case SECTION_SERVICE:
		service_key(p, name, value);
		break;
	case SECTION_SKIP:
		/* Its header was reported; more errors would be noise. */
		break;
	}
	/* Always "handled": a zero would make inih report a second error. */
	return 1;
}

/* ---- whole-file checks ------------------------------------------------- */

static bool is_prime(unsigned long n)
{
	if (n < 2)
		return false;
	for (unsigned long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static void check_table_size(struct parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	const struct service_meta *meta = &p->meta[i];
	int line = meta->key_line[SKEY_TABLE_SIZE];
	unsigned long m = svc->table_size, below, above;

	if (meta->key_bad[SKEY_TABLE_SIZE])
		return;
	if (!meta->key_bad[SKEY_SCHEDULER] &&
	    svc->scheduler == KNLB_SCHED_MAGLEV && !is_prime(m)) {
		/* m >= MIN_SLOTS and KNLB_MAX_SLOTS is prime: both exist. */
		for (below = m - 1; !is_prime(below); below--)
			;
		for (above = m + 1; !is_prime(above); above++)
			;
		report(p, line,
		       "table_size %lu is not prime (Maglev needs a prime; nearest primes: %lu, %lu)",
		       m, below, above);
	}
	if (svc->n_backends > m)
		report(p, line ? line : svc->line,
		       "table_size %lu is smaller than the number of backends (%zu) of service %s: each backend needs a slot",
		       m, svc->n_backends, svc->name);
}

static int endpoint_cmp(const struct knlb_backend_config *a,
			const struct knlb_backend_config *b)
{
	/* Only IPv4 reaches here; compare in host order for a stable sort. */
	uint32_t x = ntohl(a->addr.in.s_addr), y = ntohl(b->addr.in.s_addr);

	if (x != y)
		return x < y ? -1 : 1;
	return (a->port > b->port) - (a->port < b->port);
}

static int backend_endpoint_cmp(const void *a, const void *b)
{
	const struct knlb_backend_config *x = *(const void *const *)a;
	const struct knlb_backend_config *y = *(const void *const *)b;
	int c = endpoint_cmp(x, y);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int backend_id_cmp(const void *a, const void *b)
{
	const struct knlb_backend_config *x = *(const void *const *)a;
	const struct knlb_backend_config *y = *(const void *const *)b;
	int c = strcmp(x->id, y->id);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/*
 * Duplicates by sorting rather than comparing every pair: a service may
 * have as many backends as slots.  Each later copy is reported at its own
 * line, citing the first.
 */
static void check_backend_duplicates(struct parser *p, size_t i)
{
	const struct knlb_service_config *svc = &p->config->services[i];
	const struct knlb_backend_config **v;
	char ep[KNLB_ADDRSTRLEN];
	size_t n = svc->n_backends;

	if (n < 2)
		return;
	v = malloc(n * sizeof(*v));
	if (!v) {
		p->oom = true;
		return;
	}
	for (size_t k = 0; k < n; k++)
		v[k] = &svc->backends[k];

	qsort(v, n, sizeof(*v), backend_endpoint_cmp);
	for (size_t k = 1, first = 0; k < n; k++) {
		if (endpoint_cmp(v[first], v[k]) != 0) {
			first = k;
			continue;
		}
		report(p, v[k]->line, "backend %s is already listed on line %d",
		       addr_port_format(&v[k]->addr, v[k]->port, ep, sizeof(ep)),
		       v[first]->line);
	}

	qsort(v, n, sizeof(*v), backend_id_cmp);
	for (size_t k = 1, first = 0; k < n; k++) {
		if (strcmp(v[first]->id, v[k]->id) != 0) {
			first = k;
			continue;
		}
		/* Same endpoint too: already reported above. */
		if (endpoint_cmp(v[first], v[k]) == 0)
			continue;
		report(p, v[k]->line, "backend id %s is already used on line %d",
		       v[k]->id, v[first]->line);
	}
	free(v);
}

/* A key that means nothing for this check kind is a mistake worth a line. */
static void check_key_applies(struct parser *p, size_t i, enum service_key k,
			      bool applies, const char *which)
{
	const struct knlb_service_config *svc = &p->config->services[i];

	if (p->meta[i].key_line[k] && !applies && !p->meta[i].key_bad[SKEY_CHECK])
		report(p, p->meta[i].key_line[k],
		       "%s applies only to check = %s (service %s has check = %s)",
		       service_key_names[k], which, svc->name,
		       keyword_name(check_words, svc->health.check.kind));
}

static void check_health(struct parser *p, size_t i)
{
	struct knlb_service_config *svc = &p->config->services[i];
	struct knlb_health_config *h = &svc->health;
	const struct service_meta *meta = &p->meta[i];
	enum check_kind kind = h->check.kind;
	bool http = kind == CHECK_HTTP || kind == CHECK_HTTPS;
	char a[32], b[32];

	for (int k = SKEY_CHECK_PORT; k <= SKEY_DOWNINTER; k++) {
		if (k >= SKEY_CHECK_PATH && k <= SKEY_CHECK_BODY)
			check_key_applies(p, i, k, http, "http or https");
		else if (k >= SKEY_CHECK_SEND && k <= SKEY_CHECK_EXPECT_REPLY)
			check_key_applies(p, i, k, kind == CHECK_UDP, "udp");
		else
			check_key_applies(p, i, k, kind != CHECK_NONE,
					  "tcp, http, https or udp");
	}
	for (size_t b_i = 0; b_i < svc->n_backends; b_i++)
		if (svc->backends[b_i].check_port && kind == CHECK_NONE &&
		    !meta->key_bad[SKEY_CHECK])
			report(p, svc->backends[b_i].line,
			       "backend check_port needs a check (service %s has check = none)",
			       svc->name);

	/* HAProxy's defaults: 2xx and 3xx pass; fastinter, downinter = inter. */
	if (!meta->key_line[SKEY_CHECK_EXPECT]) {
		char unused[8];

		config_parse_status_list("2xx,3xx", &h->check, unused, sizeof(unused));
	}
	if (!meta->key_line[SKEY_FASTINTER])
		h->fastinter_ns = h->interval_ns;
	if (!meta->key_line[SKEY_DOWNINTER])
		h->downinter_ns = h->interval_ns;
	/* UDP has no connection to reset: stale entries keep a dead backend. */
	if (!meta->key_line[SKEY_FLUSH])
		svc->flush = svc->proto == KNLB_PROTO_UDP;

	if (kind != CHECK_NONE && !meta->key_bad[SKEY_TIMEOUT] &&
	    !meta->key_bad[SKEY_INTERVAL] && h->check.timeout_ns > h->interval_ns)
		report(p, meta->key_line[SKEY_TIMEOUT] ? meta->key_line[SKEY_TIMEOUT]
						       : meta->key_line[SKEY_INTERVAL],
		       "timeout %s is longer than interval %s (service %s): a probe must end before the next one starts",
		       config_format_duration(h->check.timeout_ns, a, sizeof(a)),
		       config_format_duration(h->interval_ns, b, sizeof(b)),
		       svc->name);
}

static void check_service(struct parser *p, size_t i)
{
	struct knlb_service_config *svc = &p->config->services[i];
	const struct service_meta *meta = &p->meta[i];

	if (!meta->key_line[SKEY_VIP])
		report(p, svc->line, "service %s has no vip", svc->name);
	if (!meta->key_line[SKEY_PORT])
		report(p, svc->line, "service %s has no port", svc->name);
	if (!meta->key_line[SKEY_BACKEND])
		report(p, svc->line, "service %s has no backend", svc->name);

	/* [global] may come after the services that inherit from it. */
	if (!meta->key_line[SKEY_HASH_SEED])
		svc->hash_seed = p->config->global.hash_seed;

	if (meta->key_line[SKEY_HASH_KEY] && !meta->key_bad[SKEY_SCHEDULER] &&
	    svc->scheduler != KNLB_SCHED_MAGLEV)
		report(p, meta->key_line[SKEY_HASH_KEY],
		       "hash_key applies only to scheduler = maglev (service %s uses %s)",
		       svc->name, config_scheduler_name(svc->scheduler));

	check_table_size(p, i);
	check_backend_duplicates(p, i);
	check_health(p, i);
}

static bool service_has_endpoint(const struct parser *p, size_t i)
{
	const struct service_meta *meta = &p->meta[i];

	return !meta->name_bad && meta->key_line[SKEY_VIP] &&
	       !meta->key_bad[SKEY_VIP] && meta->key_line[SKEY_PORT] &&
	       !meta->key_bad[SKEY_PORT] && !meta->key_bad[SKEY_PROTO];
}

/* Two services on one VIP, proto and port: the dispatch map has one slot. */
static void check_vip_duplicates(struct parser *p)
{
	const struct knlb_service_config *s = p->config->services;
	char ep[KNLB_ADDRSTRLEN];

	for (size_t i = 0; i < p->config->n_services; i++) {
		if (!service_has_endpoint(p, i))
			continue;
		for (size_t j = 0; j < i; j++) {
			if (!service_has_endpoint(p, j) ||
			    !addr_equal(&s[i].vip, &s[j].vip) ||
			    s[i].port != s[j].port || s[i].proto != s[j].proto)
				continue;
			report(p, p->meta[i].key_line[SKEY_VIP],
			       "%s/%s is already used by service %s (line %d)",
			       addr_port_format(&s[i].vip, s[i].port, ep,
						sizeof(ep)),
			       config_proto_name(s[i].proto), s[j].name,
			       s[j].line);
			break;
		}
	}
}

/* Service marks are 1..N shifted under the mask: N must fit in it. */
static void check_mark_mask(struct parser *p)
{
	uint32_t mask = p->config->global.ct_mark_mask;
	uint32_t room = mask >> __builtin_ctz(mask);

	if ((room & (room + 1)) != 0) {
		report(p, p->global_key_line[GKEY_CT_MARK_MASK],
		       "ct_mark_mask %#x is not one run of contiguous bits (e.g. 0xff000000)",
		       mask);
		return;
	}
	if (p->config->n_services > room)
		report(p, p->global_key_line[GKEY_CT_MARK_MASK],
		       "ct_mark_mask %#x has room for %u services, the file has %zu",
		       mask, room, p->config->n_services);
}

static void check_config(struct parser *p)
{
	if (!p->service_seen) {
		report(p, 0, "no [service] section (nothing to balance)");
		return;
	}
	for (size_t i = 0; i < p->config->n_services; i++)
		check_service(p, i);
	check_vip_duplicates(p);
	check_mark_mask(p);
}

/* ---- entry points ------------------------------------------------------ */

static struct knlb_config *config_new(const char *name)
{
	struct knlb_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->path = strdup(name);
	if (!c->path) {
		free(c);
		return NULL;
	}
	snprintf(c->global.table, sizeof(c->global.table), "%s",
		 KNLB_DEFAULT_TABLE);
	c->global.log_level = LOG_LEVEL_INFO;
	c->global.hash_seed = KNLB_DEFAULT_SEED;
	c->global.ct_mark_mask = KNLB_DEFAULT_CT_MARK_MASK;
	c->global.ct_resync_interval_ns = KNLB_DEFAULT_CT_RESYNC_NS;
	snprintf(c->global.control_socket, sizeof(c->global.control_socket),
		 "%s", KNLB_DEFAULT_CONTROL_SOCKET);
	return c;
}

int config_load_stream(FILE *in, const char *name, struct knlb_config **out,
		       FILE *errors)
{
	struct parser p = { .name = name };
	int rc;

	*out = NULL;
	p.config = config_new(name);
	if (!p.config) {
		if (errors)
			fprintf(errors, "%s: out of memory\n", name);
		return -1;
	}

	config_reader_init(&p.reader, in, &reader_ops, &p);
	rc = ini_parse_stream(config_reader_line, &p.reader, handle_key, &p);
	if (ferror(in))
		report(&p, 0, "read error: %s", strerror(errno));
	else if (rc == -2)
		p.oom = true;
	else if (rc > 0 && !line_reported(&p, rc))
		/* The reader should have caught it; stay safe if inih differs. */
		report(&p, rc, CONFIG_READER_SYNTAX_ERROR);
	config_reader_release(&p.reader);

	if (!p.oom)
		check_config(&p);
	free(p.meta);
	p.meta = NULL;

	if (flush_messages(&p, errors) > 0) {
		config_free(p.config);
		return -1;
	}
	*out = p.config;
	return 0;
}

int config_load(const char *path, struct knlb_config **out, FILE *errors)
{
	FILE *in;
	int rc;

	*out = NULL;
	in = fopen(path, "re");
	if (!in) {
		if (errors)
			fprintf(errors, "%s: cannot open: %s\n", path,
				strerror(errno));
		return -1;
	}
	rc = config_load_stream(in, path, out, errors);
	fclose(in);
	return rc;
}

void config_free(struct knlb_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->n_services; i++) {
		free(config->services[i].backends);
		config->services[i].backends = NULL;
	}
	free(config->services);
	free(config->path);
	free(config);
}

const char *config_proto_name(enum knlb_proto proto)
{
	return keyword_name(proto_words, (int)proto);
}

const char *config_scheduler_name(enum knlb_scheduler sched)
{
	return keyword_name(scheduler_words, (int)sched);
}

const char *config_hash_key_name(enum knlb_hash_key key)
{
	return keyword_name(hash_key_words, (int)key);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Value syntaxes: numbers, words, names, durations, HTTP status lists, UDP
 * payloads.  None knows a line number (parsers.c adds those), so each
 * syntax can be tested on its own.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/config/check-t.h"
#include "knlb/config/values.h"
#include "config-int.h"

#define NS_PER_MS	1000000ULL
#define NS_PER_S	1000000000ULL
/* An hour is longer than any sane probe interval or slow start. */
#define DURATION_MAX	(3600ULL * NS_PER_S)

static const struct {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{ "ms", NS_PER_MS },
	{ "s", NS_PER_S },
	{ "m", 60 * NS_PER_S },
	{ "h", 3600 * NS_PER_S },
};

int config_parse_duration(const char *text, uint64_t *ns, char *err,
			  size_t errlen)
{
	size_t digits = strspn(text, "0123456789.");
	const char *unit = text + digits;
	char *end;
	double v;

	if (digits == 0 || strchr(text, '.') != strrchr(text, '.')) {
		snprintf(err, errlen,
			 "\"%s\" is not a duration (write e.g. 500ms, 0.5s, 2s, 1m)",
			 text);
		return -1;
	}
	if (!*unit) {
		snprintf(err, errlen,
			 "\"%s\" has no unit (write %sms or %ss: ms, s, m or h)",
			 text, text, text);
		return -1;
	}
	errno = 0;
	v = strtod(text, &end);
	if (end != unit || errno) {
		snprintf(err, errlen, "\"%s\" is not a duration", text);
		return -1;
	}
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		double total;

		if (strcmp(unit, duration_units[i].name) != 0)
			continue;
		total = v * (double)duration_units[i].ns;
		if (total > (double)DURATION_MAX) {
			snprintf(err, errlen, "%s is longer than 1h", text);
			return -1;
		}
		/* Round to whole milliseconds: finer means nothing to a probe. */
		*ns = (uint64_t)(total / NS_PER_MS + 0.5) * NS_PER_MS;
		if (v > 0 && *ns == 0) {
			snprintf(err, errlen, "%s is shorter than 1ms", text);
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "\"%s\": unknown unit \"%s\" (ms, s, m or h)",
		 text, unit);
	return -1;
}

const char *config_format_duration(uint64_t ns, char *buf, size_t len)
{
	if (ns % NS_PER_S == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ns / NS_PER_S));
	else if (ns >= NS_PER_S && ns % (NS_PER_S / 10) == 0)
		snprintf(buf, len, "%.1fs", (double)ns / NS_PER_S);
	else
		snprintf(buf, len, "%llums", (unsigned long long)(ns / NS_PER_MS));
	return buf;
}

static void status_set(struct check_spec *spec, long lo, long hi)
{
	for (long s = lo; s <= hi; s++) {
		long bit = s - CHECK_STATUS_MIN;

		spec->expect_status[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static bool three_digits(const char *t, size_t len)
{
	return len == 3 && strspn(t, "0123456789") == 3;
}

/* One comma-separated item: NNN, Nxx or NNN-NNN. */
static int status_item(const char *item, size_t len, struct check_spec *spec,
		       char *err, size_t errlen)
{
	const char *dash = memchr(item, '-', len);
	long lo, hi;

	if (len == 3 && item[0] >= '1' && item[0] <= '5' &&
	    (item[1] == 'x' || item[1] == 'X') && (item[2] == 'x' || item[2] == 'X')) {
		lo = (item[0] - '0') * 100;
		hi = lo + 99;
	} else if (dash && three_digits(item, (size_t)(dash - item)) &&
		   three_digits(dash + 1, len - (size_t)(dash - item) - 1)) {
		lo = strtol(item, NULL, 10);
		hi = strtol(dash + 1, NULL, 10);
	} else if (three_digits(item, len)) {
		lo = hi = strtol(item, NULL, 10);
	} else {
		snprintf(err, errlen,
			 "\"%.*s\" is not a status code, class or range (write 200, 2xx or 200-299)",
			 (int)len, item);
		return -1;
	}
	if (lo < CHECK_STATUS_MIN || hi > CHECK_STATUS_MAX || lo > hi) {
		snprintf(err, errlen, "status \"%.*s\" is outside %d..%d",
			 (int)len, item, CHECK_STATUS_MIN, CHECK_STATUS_MAX);
		return -1;
	}
	status_set(spec, lo, hi);
	return 0;
}

int config_parse_status_list(const char *text, struct check_spec *spec,
			     char *err, size_t errlen)
{
	struct check_spec parsed = { 0 };
	const char *p = text;

	for (;;) {
		size_t len = strcspn(p, ",");

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			snprintf(err, errlen, "\"%s\" has an empty item", text);
			return -1;
		}
		if (status_item(p, len, &parsed, err, errlen) < 0)
			return -1;
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	memcpy(spec->expect_status, parsed.expect_status,
	       sizeof(spec->expect_status));
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int config_parse_payload(const char *text, uint8_t *out, size_t cap,
			 size_t *len, char *err, size_t errlen)
{
	size_t n;

	if (strncmp(text, "hex:", 4) != 0) {
		n = strlen(text);
		if (n > cap) {
			snprintf(err, errlen, "is longer than %zu bytes", cap);
			return -1;
		}
		memcpy(out, text, n);
		*len = n;
		return 0;
	}
	text += 4;
	n = strlen(text);
	if (n == 0 || n % 2) {
		snprintf(err, errlen,
			 "hex:%s needs an even, non-zero number of hex digits", text);
		return -1;
	}
	if (n / 2 > cap) {
		snprintf(err, errlen, "is longer than %zu bytes", cap);
		return -1;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);

		if (hi < 0 || lo < 0) {
			snprintf(err, errlen, "hex:%s: \"%c%c\" is not a hex byte",
				 text, text[i], text[i + 1]);
			return -1;
		}
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* ---- words ------------------------------------------------------------ */

const struct config_word config_proto_words[] = {
	{ "tcp", KNLB_PROTO_TCP },
	{ "udp", KNLB_PROTO_UDP },
	{ NULL, 0 },
};

const struct config_word config_scheduler_words[] = {
	{ "maglev", KNLB_SCHED_MAGLEV },
	{ "wrr", KNLB_SCHED_WRR },
	{ "random", KNLB_SCHED_RANDOM },
	{ "wlc", KNLB_SCHED_WLC },
	{ NULL, 0 },
};

const struct config_word config_hash_key_words[] = {
	{ "src-ip", KNLB_HASH_SRC_IP },
	{ "src-ip-port", KNLB_HASH_SRC_IP_PORT },
	{ "5-tuple", KNLB_HASH_5TUPLE },
	{ NULL, 0 },
};

const struct config_word config_check_words[] = {
	{ "none", CHECK_NONE },
	{ "tcp", CHECK_TCP },
	{ "http", CHECK_HTTP },
	{ "https", CHECK_HTTPS },
	{ "udp", CHECK_UDP },
	{ NULL, 0 },
};

const struct config_word config_on_empty_words[] = {
	{ "reject", KNLB_ON_EMPTY_REJECT },
	{ "drop", KNLB_ON_EMPTY_DROP },
	{ NULL, 0 },
};

const struct config_word config_announce_words[] = {
	{ "no", KNLB_ANNOUNCE_NO },
	{ "route", KNLB_ANNOUNCE_ROUTE },
	{ NULL, 0 },
};

const struct config_word config_ct_events_words[] = {
	{ "lean", KNLB_CT_EVENTS_LEAN },
	{ "all", KNLB_CT_EVENTS_ALL },
	{ NULL, 0 },
};

const struct config_word config_track_words[] = {
	{ "events", KNLB_TRACK_EVENTS },
	{ "off", KNLB_TRACK_OFF },
	{ "periodic", KNLB_TRACK_PERIODIC },
	{ NULL, 0 },
};

const struct config_word config_ct_closing_words[] = {
	{ "needed", KNLB_CT_CLOSING_NEEDED },
	{ "always", KNLB_CT_CLOSING_ALWAYS },
	{ NULL, 0 },
};

const struct config_word config_traffic_words[] = {
	{ "auto", KNLB_TRAFFIC_AUTO },
	{ "conntrack", KNLB_TRAFFIC_CONNTRACK },
	{ "yes", KNLB_TRAFFIC_RULES },
	{ "no", KNLB_TRAFFIC_OFF },
	{ NULL, 0 },
};

const struct config_word config_yes_no_words[] = {
	{ "yes", 1 },
	{ "no", 0 },
	{ NULL, 0 },
};

/* Returns the word's value, or -1 when the word is not in the list. */
int config_word_find(const struct config_word *words, const char *name)
{
	for (; words->name; words++)
		if (strcmp(words->name, name) == 0)
			return words->value;
	return -1;
}

const char *config_word_name(const struct config_word *words, int value)
{
	for (; words->name; words++)
		if (words->value == value)
			return words->name;
	return "unknown";
}

static bool word_listed(const struct config_word *w, unsigned int mask)
{
	return !mask || (w->value >= 0 && w->value < 32 &&
			 (mask & (1u << w->value)));
}

void config_word_list(const struct config_word *words, unsigned int mask,
		      char *buf, size_t len)
{
	size_t n = 0, k = 0, used = 0;

	for (size_t i = 0; words[i].name; i++)
		n += word_listed(&words[i], mask);
	buf[0] = '\0';
	for (size_t i = 0; words[i].name && used < len; i++) {
		const char *sep;
		int w;

		if (!word_listed(&words[i], mask))
			continue;
		sep = k == 0 ? "" : k + 1 == n ? " or " : ", ";
		k++;
		w = snprintf(buf + used, len - used, "%s%s", sep, words[i].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* ---- numbers, names, addresses ---------------------------------------- */

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
 * base 0, read "010" as octal.
 */
int config_parse_number(const char *text, bool hex, unsigned long max,
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

/*
 * Names end up in nft objects and in log lines that tests and operators
 * grep, so they get the charset of an nft identifier without its oddities.
 */
bool config_name_valid(const char *name, size_t max)
{
	size_t len = strlen(name);

	return len > 0 && len <= max && is_alpha(name[0]) &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

/* Digits and dots only: meant as an IPv4 address, whatever is wrong with it. */
bool config_looks_dotted(const char *text)
{
	return *text && strspn(text, "0123456789.") == strlen(text);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small recursive-descent JSON reader (include/knlb/lib/json_read.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/grow.h"
#include "knlb/lib/json_read.h"

struct parser {
	const char *p;
	int depth;
};

static void skip_blanks(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static int hex4(const char *s, unsigned int *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (unsigned int)((c | 0x20) - 'a' + 10);
		else
			return -EINVAL;
		*out = *out << 4 | d;
	}
	return 0;
}

/* A string at ps->p (after its opening quote) into a new buffer. */
static int parse_string(struct parser *ps, char **out)
{
	size_t cap = strlen(ps->p) + 1, n = 0;
	char *s = malloc(cap);	/* unescaping never lengthens */

	if (!s)
		return -ENOMEM;
	for (;;) {
		unsigned char c = (unsigned char)*ps->p++;
		unsigned int cp;

		if (c == '"')
			break;
		if (c == '\0' || c < 0x20)
			goto out_bad;
		if (c != '\\') {
			s[n++] = (char)c;
			continue;
		}
		switch (c = (unsigned char)*ps->p++) {
		case '"': case '\\': case '/':
			s[n++] = (char)c;
			break;
		case 'b': s[n++] = '\b'; break;
		case 'f': s[n++] = '\f'; break;
		case 'n': s[n++] = '\n'; break;
		case 'r': s[n++] = '\r'; break;
		case 't': s[n++] = '\t'; break;
		case 'u':
			if (hex4(ps->p, &cp) < 0)
				goto out_bad;
			ps->p += 4;
			/* 6 escaped characters become at most 3 bytes */
			if (cp < 0x80) {
				s[n++] = (char)cp;
			} else if (cp < 0x800) {
				s[n++] = (char)(0xc0 | cp >> 6);
				s[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				s[n++] = (char)(0xe0 | cp >> 12);
				s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				s[n++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		default:
			goto out_bad;
		}
	}
	s[n] = '\0';
	*out = s;
	return 0;
out_bad:
	free(s);
	return -EINVAL;
}

static int parse_value(struct parser *ps, struct json_value *v);

static int parse_number(struct parser *ps, struct json_value *v)
{
	const char *start = ps->p;
	char *end;

	v->kind = JSON_NUMBER;
	v->num = strtod(start, &end);
	if (end == start)
		return -EINVAL;
	if (*start != '-' && strspn(start, "0123456789") == (size_t)(end - start)) {
		errno = 0;
		v->u = strtoull(start, NULL, 10);
		v->is_uint = errno == 0;
	}
	ps->p = end;
	return 0;
}

static int parse_members(struct parser *ps, struct json_value *v, char close)
{
	int ret;

	skip_blanks(ps);
	if (*ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		struct json_value *item;
		char *key = NULL;

		skip_blanks(ps);
		if (close == '}') {
			if (*ps->p++ != '"')
				return -EINVAL;
			ret = parse_string(ps, &key);
			if (ret < 0)
				return ret;
			skip_blanks(ps);
			if (*ps->p++ != ':') {
				free(key);
				return -EINVAL;
			}
		}
		if (grow(&v->items, &v->cap, v->n + 1, sizeof(*v->items), 8) < 0) {
			free(key);
			return -ENOMEM;
		}
		item = &v->items[v->n++];
		memset(item, 0, sizeof(*item));
		item->key = key;
		ret = parse_value(ps, item);
		if (ret < 0)
			return ret;
		skip_blanks(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != close)
			return -EINVAL;
		return 0;
	}
}

static int parse_value(struct parser *ps, struct json_value *v)
{
	int ret;

	skip_blanks(ps);
	switch (*ps->p) {
	case '{':
	case '[':
		if (++ps->depth > JSON_READ_MAX_DEPTH)
			return -EINVAL;
		v->kind = *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY;
		ps->p++;
		ret = parse_members(ps, v, v->kind == JSON_OBJECT ? '}' : ']');
		ps->depth--;
		return ret;
	case '"':
		ps->p++;
		v->kind = JSON_STRING;
		return parse_string(ps, &v->str);
	case 't':
	case 'f':
	case 'n':
		if (strncmp(ps->p, "true", 4) == 0) {
			*v = (struct json_value){ .kind = JSON_BOOL, .b = true, .key = v->key };
			ps->p += 4;
		} else if (strncmp(ps->p, "false", 5) == 0) {
			*v = (struct json_value){ .kind = JSON_BOOL, .key = v->key };
			ps->p += 5;
		} else if (strncmp(ps->p, "null", 4) == 0) {
			v->kind = JSON_NULL;
			ps->p += 4;
		} else {
			return -EINVAL;
		}
		return 0;
	default:
		return parse_number(ps, v);
	}
}

static void value_clear(struct json_value *v)
{
	for (size_t i = 0; i < v->n; i++)
		value_clear(&v->items[i]);
	free(v->items);
	free(v->key);
	free(v->str);
}

void json_value_free(struct json_value *v)
{
	if (!v)
		return;
	value_clear(v);
	free(v);
}

int json_parse(const char *text, struct json_value **out)
{
	struct parser ps = { .p = text };
	struct json_value *v = calloc(1, sizeof(*v));
	int ret;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	ret = parse_value(&ps, v);
	/* After a failure ps.p may stand past the terminating NUL: leave it. */
	if (ret == 0) {
		skip_blanks(&ps);
		if (*ps.p != '\0')
			ret = -EINVAL;
	}
	if (ret < 0) {
		json_value_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
	if (!v || v->kind != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->items[i].key, key) == 0)
			return &v->items[i];
	return NULL;
}

bool json_get_uint(const struct json_value *v, const char *key, uint64_t *out)
{
	const struct json_value *m = json_get(v, key);

	if (!m || m->kind != JSON_NUMBER || !m->is_uint)
		return false;
	*out = m->u;
	return true;
}

const char *json_get_str(const struct json_value *v, const char *key)
{
	const struct json_value *m = json_get(v, key);

	return m && m->kind == JSON_STRING ? m->str : NULL;
}

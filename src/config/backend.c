/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "backend = ADDR:PORT [weight=N] [id=NAME] [backup] [check_port=N] [maxconn=N]": the
 * one key with a small language of its own.  Every problem on the line is
 * reported, not only the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knlb/lib/addr.h"
#include "knlb/lib/grow.h"
#include "config-int.h"

/* Words on a backend line; a 199-character line cannot hold more. */
#define BACKEND_MAX_WORDS	100

/*
 * Explain why "ADDR:PORT" did not parse: addr_port_parse() only says no,
 * and "bad address" is no help when the port is what is missing.
 */
static void report_bad_endpoint(struct config_parser *p, const char *text)
{
	const char *host = text, *port = NULL;
	bool port_known = true;		/* false: cannot tell where it is */
	char hostbuf[KNLB_ADDRSTRLEN];
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
			config_report(p, config_line(p),
				      "backend \"%s\": IPv6 addresses need brackets ([ADDR]:PORT)",
				      text);
			return;
		}
		if (colon)
			port = colon + 1;
		host_len = colon ? (int)(colon - text) : (int)strlen(text);
	}
	if (port_known && !port) {
		config_report(p, config_line(p),
			      "backend \"%s\" has no port (expected ADDR:PORT)",
			      text);
		return;
	}
	if (port_known) {
		unsigned long v;

		if (config_parse_number(port, false, 65535, &v) < 0 || v == 0) {
			config_report(p, config_line(p),
				      "backend \"%s\": bad port \"%s\" (expected 1..65535)",
				      text, port);
			return;
		}
	}
	snprintf(hostbuf, sizeof(hostbuf), "%.*s", host_len, host);
	if (config_looks_dotted(hostbuf))
		config_report(p, config_line(p),
			      "backend \"%s\": bad address \"%.*s\" (not a valid IPv4 address)",
			      text, host_len, host);
	else
		config_report(p, config_line(p),
			      "backend \"%s\": bad address \"%.*s\" (expected IPV4:PORT; names are not resolved)",
			      text, host_len, host);
}

static int backend_option(struct config_parser *p, struct knlb_backend_config *b,
			  const char *opt, bool *seen_weight, bool *seen_id)
{
	unsigned long w;

	if (strncmp(opt, "weight=", 7) == 0) {
		if (*seen_weight) {
			config_report(p, config_line(p),
				      "backend weight given twice");
			return -1;
		}
		*seen_weight = true;
		if (config_get_number(p, "weight", opt + 7, false, 0,
				      KNLB_MAX_WEIGHT, &w) < 0)
			return -1;
		b->weight = (uint32_t)w;
		return 0;
	}
	if (strncmp(opt, "id=", 3) == 0) {
		if (*seen_id) {
			config_report(p, config_line(p), "backend id given twice");
			return -1;
		}
		*seen_id = true;
		if (config_check_name(p, config_line(p), "backend id", opt + 3,
				      ID_MAX, "") < 0)
			return -1;
		memcpy(b->id, opt + 3, strlen(opt + 3) + 1);
		return 0;
	}
	if (strcmp(opt, "backup") == 0) {
		if (b->backup) {
			config_report(p, config_line(p),
				      "backend backup given twice");
			return -1;
		}
		b->backup = true;
		return 0;
	}
	if (strncmp(opt, "maxconn=", 8) == 0) {
		if (b->maxconn) {
			config_report(p, config_line(p),
				      "backend maxconn given twice");
			return -1;
		}
		if (config_get_number(p, "maxconn", opt + 8, false, 1,
				      KNLB_MAX_MAXCONN, &w) < 0)
			return -1;
		b->maxconn = (uint32_t)w;
		return 0;
	}
	if (strncmp(opt, "check_port=", 11) == 0) {
		if (b->check_port) {
			config_report(p, config_line(p),
				      "backend check_port given twice");
			return -1;
		}
		if (config_get_number(p, "check_port", opt + 11, false, 1,
				      65535, &w) < 0)
			return -1;
		b->check_port = (uint16_t)w;
		return 0;
	}
	config_report(p, config_line(p),
		      "unknown backend option \"%s\" (expected weight=N, id=NAME, backup, check_port=N or maxconn=N, without spaces around '=')",
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
	    !(len == 10 && strncmp(w[0], "check_port", 10) == 0) &&
	    !(len == 7 && strncmp(w[0], "maxconn", 7) == 0))
		return 0;
	if (!w[0][len])			/* "weight" then "=3" or "=" "3" */
		return n > 1 && w[1][0] == '=' ? (w[1][1] || n < 3 ? 2 : 3) : 1;
	if (!w[0][len + 1] && n > 1 && !strchr(w[1], '='))
		return 2;		/* "weight=" then "3" */
	return 0;
}

static int backend_append(struct config_parser *p,
			  struct knlb_service_config *svc,
			  const struct knlb_backend_config *b)
{
	struct service_meta *meta = config_current_meta(p);

	if (grow(&svc->backends, &meta->backends_cap, svc->n_backends + 1,
		 sizeof(*svc->backends), 4) < 0) {
		p->oom = true;
		return -1;
	}
	svc->backends[svc->n_backends++] = *b;
	return 0;
}

/* field: the current service's backends. */
int config_parse_backend(struct config_parser *p,
			 const struct config_keyword *kw, const char *value,
			 void *field)
{
	struct knlb_service_config *svc = config_current_service(p);
	struct knlb_backend_config b = {
		.weight = 1,
		.line = config_line(p),
	};
	bool seen_weight = false, seen_id = false;
	char *copy, *tok[BACKEND_MAX_WORDS], *save = NULL;
	size_t n = 0;
	int rc = 0;

	(void)kw;
	(void)field;
	copy = strdup(value);
	if (!copy) {
		p->oom = true;
		return -1;
	}
	for (char *w = strtok_r(copy, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == BACKEND_MAX_WORDS) {
			config_report(p, config_line(p),
				      "backend has too many options");
			free(copy);
			return -1;
		}
		tok[n++] = w;
	}
	if (n == 0) {
		config_report(p, config_line(p), "backend has no value");
		rc = -1;
	} else if (addr_port_parse(tok[0], &b.addr, &b.port) < 0) {
		report_bad_endpoint(p, tok[0]);
		rc = -1;
	}
	for (size_t i = 1; i < n; i++) {
		size_t skip = spaced_option(tok + i, n - i);

		if (skip) {
			size_t len = strcspn(tok[i], "=");

			config_report(p, config_line(p),
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
	return backend_append(p, svc, &b);
}

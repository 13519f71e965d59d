/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HTTPS probe: GET spec.path with libcurl's multi interface, driven by
 * our loop (socket and timer callbacks, curl_multi_socket_action()), so a
 * thousand checks cost no thread and no blocking call.  Up when the status
 * is in spec.expect_status and the body holds spec.body.  Plain http is
 * check_http.c's, without curl: curl's bookkeeping grows with the
 * transfers in flight and was most of the prober's CPU at 10,000 backends.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "check-int.h"
#include "knlb/lib/addr.h"

/*
 * Body bytes examined for spec.body.  Reaching it ends the transfer: a
 * health endpoint that streams without end must not hold a probe (and a
 * backend connection) until the deadline.
 */

struct https_probe {
	CURL *easy;
	bool added;			/* to checker->multi */
	struct curl_slist *connect_to;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	int socket_errno;		/* socket() failed: our side, not theirs */
	char *body;			/* only when spec.body is set */
	size_t body_len;		/* bytes seen, kept or not */
	bool body_capped;		/* we cut the transfer at HTTP_BODY_MAX */
};

static void http_drain(struct checker *checker);

/* ---- driving the multi handle from the loop ---- */

static void http_on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct checker *checker = arg;
	int running, flags = 0;

	(void)loop;
	/* A hang-up reads as end of file, which curl finds by reading. */
	if (events & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(checker->multi, fd, flags, &running);
	http_drain(checker);
}

/*
 * curl says which events it wants on each of its sockets.  What we
 * registered is kept in the socket's curl_multi_assign() slot, as the
 * CURL_POLL_* value itself rather than a pointer to a record: nothing to
 * allocate or leak, an unchanged request costs nothing, and a socket we
 * never registered is never deleted from the loop.
 */
static int http_on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
			  void *socketp)
{
	struct checker *checker = userp;
	int have = (int)(intptr_t)socketp;
	uint32_t events = 0;
	void *priv = NULL;
	int err;

	if (what == have)
		return 0;
	if (have) {
		loop_del_fd(checker->loop, s);
		curl_multi_assign(checker->multi, s, NULL);
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (what == CURL_POLL_REMOVE || !events)
		return 0;
	err = loop_add_fd(checker->loop, s, events, http_on_fd, checker);
	if (err == 0) {
		curl_multi_assign(checker->multi, s, (void *)(intptr_t)what);
		return 0;
	}
	/*
	 * Failing here (-1) would abort every transfer of the multi handle.
	 * Fail only this probe, from the loop: we are inside curl.
	 */
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	if (priv)
		check_probe_done_later(priv, CHECK_LOCAL_ERROR,
				       "watch socket: %s", strerror(-err));
	return 0;
}

static void http_on_timer(struct loop *loop, struct loop_timer *timer,
			  void *arg)
{
	struct checker *checker = arg;
	int running;

	(void)loop;
	(void)timer;
	curl_multi_socket_action(checker->multi, CURL_SOCKET_TIMEOUT, 0,
				 &running);
	http_drain(checker);
}

/*
 * Always 0: -1 would kill the whole multi handle.  Should arming fail
 * (no memory for the loop's heap), each probe's backstop deadline still
 * ends it.
 */
static int http_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct checker *checker = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_cancel(checker->loop, &checker->curl_timer);
	else
		loop_timer_arm(checker->loop, &checker->curl_timer,
			       (uint64_t)timeout_ms * 1000000ULL);
	return 0;
}

int check_https_init(struct checker *checker)
{
	CURLM *multi = curl_multi_init();

	if (!multi)
		return -ENOMEM;
	loop_timer_init(&checker->curl_timer, http_on_timer, checker);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, http_on_socket);
	curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, checker);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, http_on_curl_timer);
	curl_multi_setopt(multi, CURLMOPT_TIMERDATA, checker);
	/* Each probe its own connection: no multiplexing checks together. */
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	checker->multi = multi;
	return 0;
}

/* After every probe was cancelled; curl may still call back while closing. */
void check_https_cleanup(struct checker *checker)
{
	curl_multi_cleanup(checker->multi);
	checker->multi = NULL;
	loop_timer_cancel(checker->loop, &checker->curl_timer);
}

/* ---- one transfer ---- */

static size_t http_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct check_probe *probe = arg;
	struct https_probe *https = probe->https;
	size_t n = size * nmemb;
	size_t room = HTTP_BODY_MAX - https->body_len;
	size_t keep = n < room ? n : room;

	if (https->body)
		memcpy(https->body + https->body_len, data, keep);
	https->body_len += keep;
	if (https->body_len < HTTP_BODY_MAX)
		return n;
	/* Short count: curl stops with CURLE_WRITE_ERROR, which we expect. */
	https->body_capped = true;
	return 0;
}

/* Our own socket(), only to tell "we are out of descriptors" from the rest. */
static curl_socket_t http_open_socket(void *arg, curlsocktype purpose,
				      struct curl_sockaddr *a)
{
	struct check_probe *probe = arg;
	int fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd == -1) {
		probe->https->socket_errno = errno;
		return CURL_SOCKET_BAD;
	}
	/*
	 * Closed with a reset once the answer is read, as HAProxy closes its
	 * checks (and check_tcp.c): no TIME_WAIT socket and no two-minute
	 * conntrack entry per probe, which at thousands of probes a second
	 * fill the conntrack table until connects are dropped.
	 */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER,
			 &(struct linger){ .l_onoff = 1, .l_linger = 0 },
			 sizeof(struct linger));
	return fd;
}

static void http_report_error(struct check_probe *probe, CURLcode code)
{
	struct https_probe *https = probe->https;
	const char *text = https->errbuf[0] ? https->errbuf :
					     curl_easy_strerror(code);
	long os_errno = 0;

	if (https->socket_errno) {
		check_probe_done(probe, CHECK_LOCAL_ERROR, "socket: %s",
				 strerror(https->socket_errno));
		return;
	}
	curl_easy_getinfo(https->easy, CURLINFO_OS_ERRNO, &os_errno);
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED) {
			check_probe_done(probe, CHECK_FAILED, "connect refused");
			return;
		}
		if (os_errno == EHOSTUNREACH) {
			check_probe_done(probe, CHECK_FAILED, "no route to host");
			return;
		}
		if (check_errno_is_local((int)os_errno)) {
			check_probe_done(probe, CHECK_LOCAL_ERROR, "connect: %s",
					 strerror((int)os_errno));
			return;
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		check_probe_done(probe, CHECK_FAILED, "timeout");
		return;
	case CURLE_SSL_CONNECT_ERROR:
		check_probe_done(probe, CHECK_FAILED, "TLS handshake failed");
		return;
	case CURLE_GOT_NOTHING:
		check_probe_done(probe, CHECK_FAILED, "empty reply");
		return;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:	/* a spec we accepted but curl did not */
		check_probe_done(probe, CHECK_LOCAL_ERROR, "%s", text);
		return;
	default:
		break;
	}
	check_probe_done(probe, CHECK_FAILED, "%s", text);
}

static void http_complete(struct check_probe *probe, CURLcode code)
{
	const struct check_spec *spec = &probe->spec;
	struct https_probe *https = probe->https;
	long status = 0;

	if (code == CURLE_WRITE_ERROR && https->body_capped)
		code = CURLE_OK;
	if (code != CURLE_OK) {
		http_report_error(probe, code);
		return;
	}
	curl_easy_getinfo(https->easy, CURLINFO_RESPONSE_CODE, &status);
	if (!check_status_expected(spec, status)) {
		check_probe_done(probe, CHECK_FAILED, "status %ld", status);
		return;
	}
	if (spec->body[0] &&
	    !memmem(https->body, https->body_len, spec->body, strlen(spec->body))) {
		/* Room for the quotes and the words around them. */
		check_probe_done(probe, CHECK_FAILED,
				 "body does not contain \"%.*s\"",
				 CHECK_REASON_MAX - 32, spec->body);
		return;
	}
	check_probe_done(probe, CHECK_OK, "status %ld", status);
}

/* Completed transfers, each reported once curl is no longer on the stack. */
static void http_drain(struct checker *checker)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(checker->multi, &left))) {
		void *priv = NULL;
		CURLcode code;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with the handle; the done callback may remove it. */
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			http_complete(priv, code);
	}
}

/*
 * Names go into a URL, a header and curl's CONNECT_TO list: refuse what
 * would change their meaning there (a port, a path, a second header).
 */
static bool http_host_ok(const char *host)
{
	for (const char *c = host; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f ||
		    strchr(":/?#@[]\\", *c))
			return false;
	return true;
}

static CURLcode http_setup(struct check_probe *probe, const char *url)
{
	const struct check_spec *spec = &probe->spec;
	struct https_probe *https = probe->https;
	CURL *easy = https->easy;
	uint64_t timeout_ms = (spec->timeout_ns + 999999) / 1000000;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)
	SET(CURLOPT_PRIVATE, probe);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	/* No proxy from the environment: the check must reach the backend itself. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/*
	 * A health check asks whether the backend answers, not who it is:
	 * backends commonly carry self-signed or internal certificates, so
	 * the certificate is not verified (HAProxy's "check-ssl verify none").
	 */
	SET(CURLOPT_SSL_VERIFYPEER, 0L);
	SET(CURLOPT_SSL_VERIFYHOST, 0L);
	/* A fresh connection each time, closed after: what a new client sees. */
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_USERAGENT, HTTP_USER_AGENT);
	SET(CURLOPT_ERRORBUFFER, https->errbuf);
	SET(CURLOPT_WRITEFUNCTION, http_on_body);
	SET(CURLOPT_WRITEDATA, probe);
	SET(CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
	SET(CURLOPT_OPENSOCKETDATA, probe);
	if (https->connect_to)
		SET(CURLOPT_CONNECT_TO, https->connect_to);
	if (https->headers)
		SET(CURLOPT_HTTPHEADER, https->headers);
#undef SET
	return rc;
}

/*
 * With spec.host set the URL names the host, so TLS sends it as SNI,
 * and CONNECT_TO sends the connection to the backend's address without
 * any name lookup; the Host header is spec.host exactly, without the
 * ":port" curl would add.  Otherwise the URL is the address itself.
 */
static int http_build(struct check_probe *probe, char *url, size_t url_len)
{
	const struct check_spec *spec = &probe->spec;
	struct https_probe *https = probe->https;
	const char *scheme = spec->kind == CHECK_HTTPS ? "https" : "http";
	const char *path = spec->path[0] ? spec->path : "/";
	const char *slash = path[0] == '/' ? "" : "/";
	char backend[KNLB_ADDRSTRLEN];
	char line[CHECK_TEXT_MAX + KNLB_ADDRSTRLEN + 16];
	struct curl_slist *l;

	addr_port_format(&probe->addr, probe->port, backend, sizeof(backend));
	if (!spec->host[0]) {
		snprintf(url, url_len, "%s://%s%s%s", scheme, backend, slash, path);
		return 0;
	}
	if (!http_host_ok(spec->host))
		return -EINVAL;
	snprintf(url, url_len, "%s://%s:%u%s%s", scheme, spec->host,
		 (unsigned int)probe->port, slash, path);
	snprintf(line, sizeof(line), "%s:%u:%s", spec->host,
		 (unsigned int)probe->port, backend);
	l = curl_slist_append(NULL, line);
	if (!l)
		return -ENOMEM;
	https->connect_to = l;
	snprintf(line, sizeof(line), "Host: %s", spec->host);
	l = curl_slist_append(NULL, line);
	if (!l)
		return -ENOMEM;
	https->headers = l;
	return 0;
}

static int http_start(struct check_probe *probe)
{
	char url[16 + 2 * CHECK_TEXT_MAX + KNLB_ADDRSTRLEN];
	struct https_probe *https;
	CURLMcode mrc;
	CURLcode rc;
	int err;

	https = calloc(1, sizeof(*https));
	if (!https)
		return -ENOMEM;
	probe->https = https;
	if (probe->spec.body[0]) {
		https->body = malloc(HTTP_BODY_MAX);
		if (!https->body)
			return -ENOMEM;
	}
	err = http_build(probe, url, sizeof(url));
	if (err < 0)
		return err;
	https->easy = curl_easy_init();
	if (!https->easy)
		return -ENOMEM;
	rc = http_setup(probe, url);
	if (rc != CURLE_OK)
		return rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	/* curl arms its timer here; the transfer begins from the loop. */
	mrc = curl_multi_add_handle(probe->checker->multi, https->easy);
	if (mrc != CURLM_OK)
		return mrc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	https->added = true;
	return 0;
}

static void http_timeout(struct check_probe *probe)
{
	check_probe_done(probe, CHECK_FAILED, "timeout");
}

static void http_stop(struct check_probe *probe)
{
	struct https_probe *https = probe->https;

	if (!https)
		return;
	if (https->added)
		curl_multi_remove_handle(probe->checker->multi, https->easy);
	curl_easy_cleanup(https->easy);
	curl_slist_free_all(https->connect_to);
	curl_slist_free_all(https->headers);
	free(https->body);
	free(https);
	probe->https = NULL;
}

const struct check_ops check_https_ops = {
	.start = http_start,
	.timeout = http_timeout,
	.stop = http_stop,
	/* curl enforces the timeout and says more about it; ours is a backstop. */
	.deadline_slack_ns = 1000000000ULL,
};

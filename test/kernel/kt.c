/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <libgen.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <libmnl/libmnl.h>
#include <libnftnl/gen.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "knlb/config/config.h"
#include "knlb/nft/nfnl.h"
#include "knlb/nft/sync.h"
#include "knlb/pool/pool.h"
#include "knlb/nft/render.h"
#include "kt.h"

void kt_enter_netns(void)
{
	if (geteuid() != 0)
		cr_skip_test("kernel tests need root (CAP_NET_ADMIN) to unshare a netns");
	if (unshare(CLONE_NEWNET) == -1)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	/* A gateway forwards (a new netns does not): knlbd warns otherwise. */
	kt_set_sysctl("net/ipv4/ip_forward", "1");
}

void kt_set_sysctl(const char *rel, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/%s", rel);
	f = fopen(path, "we");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(value, f);
	cr_assert_eq(fclose(f), 0, "%s = %s: %s", path, value, strerror(errno));
}

/* Everything left in a stream, as a malloc'd string. */
static char *slurp(FILE *in)
{
	char *out = NULL, buf[4096];
	size_t len = 0, n;
	FILE *mem = open_memstream(&out, &len);

	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(mem);
	return out;
}

char *kt_run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *out;

	cr_assert_not_null(p, "popen %s", cmd);
	out = slurp(p);
	*status = pclose(p);
	return out;
}

char *kt_run_ok(const char *cmd)
{
	int status;
	char *out = kt_run(cmd, &status);

	cr_assert_eq(status, 0, "%s failed:\n%s", cmd, out);
	return out;
}

char *kt_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *out;

	if (!f)
		return NULL;
	out = slurp(f);
	fclose(f);
	return out;
}

const char *kt_src_path(const char *rel, char *buf, size_t len)
{
	const char *dir = getenv("KNLB_SRCDIR");

	snprintf(buf, len, "%s/%s", dir ? dir : ".", rel);
	return buf;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *gen = nftnl_gen_alloc();

	if (gen && nftnl_gen_nlmsg_parse(nlh, gen) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_OK;
}

uint32_t kt_nft_genid(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	uint32_t seq = (uint32_t)time(NULL), id = 0;
	struct nlmsghdr *nlh;
	int ret;

	cr_assert_not_null(nl);
	cr_assert_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, seq);
	cr_assert_gt(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len), 0);
	while ((ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)ret, seq, mnl_socket_get_portid(nl),
				 gen_cb, &id);
		if (ret <= 0)
			break;
	}
	mnl_socket_close(nl);
	return id;
}

int kt_connect_reaches(const int *listeners, int n, const struct sockaddr *from,
		       const struct sockaddr *to, socklen_t len)
{
	struct pollfd p[16];
	int fd = socket(from->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, got = -1;

	cr_assert(n > 0 && n <= 16);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, from, len), 0, "bind: %s", strerror(errno));
	cr_assert_eq(connect(fd, to, len), 0, "connect: %s", strerror(errno));
	for (int b = 0; b < n; b++)
		p[b] = (struct pollfd){ .fd = listeners[b], .events = POLLIN };
	cr_assert_eq(poll(p, (nfds_t)n, 2000), 1, "not exactly one backend accepted");
	for (int b = 0; b < n; b++) {
		if (p[b].revents & POLLIN) {
			int c = accept(listeners[b], NULL, NULL);

			cr_assert_geq(c, 0);
			close(c);
			got = b;
		}
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 }, sizeof(struct linger));
	close(fd);
	return got;
}

void kt_replace(const struct knlb_model *pool)
{
	struct nfnl_sock *sock;
	struct sync_result res;
	char err[512];

	cr_assert_eq(nfnl_sock_open(&sock), 0);
	cr_assert_eq(sync_replace(sock, pool, &res, err, sizeof(err)), 0,
		     "sync_replace: %s", err);
	nfnl_sock_close(sock);
}

void kt_load(const char *conf_rel, struct knlb_config **config,
	     struct knlb_model **pool)
{
	char path[512];

	kt_src_path(conf_rel, path, sizeof(path));
	cr_assert_eq(config_load(path, config, stderr), 0, "loading %s", path);
	cr_assert_eq(pool_create(*config, pool), 0, "pool for %s", path);
}

char *kt_nft_list(const char *table)
{
	char cmd[256];
	int status;
	char *out;

	snprintf(cmd, sizeof(cmd), "nft list table inet %s 2>&1", table);
	out = kt_run(cmd, &status);
	cr_assert_eq(status, 0, "%s failed:\n%s", cmd, out);
	return out;
}

char *kt_render(const struct knlb_model *pool)
{
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	cr_assert_eq(render_ruleset(mem, pool), 0);
	fclose(mem);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort one block's comma-separated elements; returns the re-joined text. */
static void emit_sorted(FILE *out, const char *start, size_t len)
{
	char *copy = strndup(start, len), *save = NULL, *tok;
	char **items = NULL;
	size_t n = 0, cap = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t' || *tok == '\n')
			tok++;
		/* Doubling: one realloc per item copies O(n^2) under ASan (65537 slots). */
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			items = realloc(items, cap * sizeof(*items));
			cr_assert_not_null(items);
		}
		items[n++] = tok;
	}
	qsort(items, n, sizeof(*items), cmp_str);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", items[i]);
	free(items);
	free(copy);
}

char *kt_normalize(const char *listing)
{
	static const char open_tag[] = "elements = { ";
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	const char *p = listing;

	for (;;) {
		const char *start = strstr(p, open_tag), *end;

		if (!start)
			break;
		start += sizeof(open_tag) - 1;
		end = strstr(start, " }");
		if (!end)
			break;
		fwrite(p, 1, (size_t)(start - p), mem);
		emit_sorted(mem, start, (size_t)(end - start));
		p = end;
	}
	fputs(p, mem);
	fclose(mem);
	return out;
}

char *kt_normalize_free(char *listing)
{
	char *out = kt_normalize(listing);

	free(listing);
	return out;
}

/* One top-level object of a listing: its lines from "\tmap x {" to "\t}". */
static int cmp_block(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *kt_sort_objects_free(char *listing)
{
	char **blocks = NULL, *out = NULL, *line, *save = NULL;
	size_t n = 0, len = 0;
	FILE *mem = open_memstream(&out, &len);
	FILE *block = NULL;
	char *cur = NULL;
	size_t cur_len = 0;

	cr_assert_not_null(mem);
	for (line = strtok_r(listing, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!block && line[0] == '\t' && line[1] != '\t' && line[1] != '}') {
			block = open_memstream(&cur, &cur_len);
			cr_assert_not_null(block);
		}
		if (!block) {
			fprintf(mem, "%s\n", line);	/* the table's own lines */
			continue;
		}
		fprintf(block, "%s\n", line);
		if (!strcmp(line, "\t}")) {
			fclose(block);
			block = NULL;
			blocks = realloc(blocks, (n + 1) * sizeof(*blocks));
			cr_assert_not_null(blocks);
			blocks[n++] = cur;
		}
	}
	cr_assert_null(block, "an object of the listing is not closed");
	qsort(blocks, n, sizeof(*blocks), cmp_block);
	for (size_t i = 0; i < n; i++) {
		fputs(blocks[i], mem);
		free(blocks[i]);
	}
	free(blocks);
	fclose(mem);
	free(listing);
	return out;
}

char *kt_ctl(const char *socket_path, const char *request)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FILE *in;
	char *out;

	cr_assert_geq(fd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", socket_path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return NULL;
	}
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	cr_assert_eq(write(fd, "\n", 1), 1);
	in = fdopen(fd, "r");
	cr_assert_not_null(in);
	out = slurp(in);
	fclose(in);
	return out;
}

pid_t kt_start_command(const char *cmdline, const char *logpath)
{
	char src[512];
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char cmd[2048];

		snprintf(cmd, sizeof(cmd), "exec %s 2>%s", cmdline, logpath);
		if (chdir(kt_src_path("", src, sizeof(src))) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

const char *kt_knlbd(void)
{
	const char *p = getenv("KNLBD");

	return p ? p : "build/knlbd";
}

pid_t kt_start_knlbd(const char *args, const char *logpath)
{
	char cmd[1536];

	snprintf(cmd, sizeof(cmd), "%s %s", kt_knlbd(), args);
	return kt_start_command(cmd, logpath);
}

bool kt_wait_for_log(const char *logpath, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		char *log = kt_read_file(logpath);
		bool found = log && strstr(log, needle);

		free(log);
		if (found)
			return true;
		usleep(20000);
	}
	return false;
}

int kt_stop_knlbd(pid_t pid)
{
	int status = 0;

	if (kill(pid, SIGTERM) == -1)
		return -1;
	for (int i = 0; i < 250; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int kt_count_in_log(const char *logpath, const char *needle)
{
	char *log = kt_read_file(logpath);
	int n = 0;

	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

double kt_metric_sample(const char *scrape, const char *family)
{
	size_t n = strlen(family);

	for (const char *s = scrape; (s = strstr(s, family)); s++) {
		const char *v = s + n;

		if (s != scrape && s[-1] != '\n')
			continue;
		if (*v == '{')
			v = strchr(v, '}');
		if (v && (*v == '}' || *v == ' '))
			return strtod(v + 1, NULL);
	}
	return -1;
}

/* The value of "Field:" in /proc/PID/status, tabs and all after the colon. */
char *kt_status_field(pid_t pid, const char *field)
{
	char path[64], *text, *line, *end, *out;
	size_t flen = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = kt_read_file(path);
	cr_assert_not_null(text, "%s", path);
	for (line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			break;
	cr_assert_not_null(line, "no %s in %s", field, path);
	line += flen + 1;
	while (*line == '\t' || *line == ' ')
		line++;
	end = strchr(line, '\n');
	out = strndup(line, end ? (size_t)(end - line) : strlen(line));
	free(text);
	return out;
}

/* A loopback TCP port: listening (fd returned) or free (-1 returned). */
int kt_loopback_port(bool listening, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_neq(fd, -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	if (!listening) {
		close(fd);
		return -1;
	}
	cr_assert_eq(listen(fd, 64), 0);
	return fd;
}

char *kt_knlbctl(const struct kt_knlbd *r, const char *args, int *code)
{
	char knlbd[512], cmd[1024], *out;
	int status;

	snprintf(knlbd, sizeof(knlbd), "%s", kt_knlbd());
	snprintf(cmd, sizeof(cmd), "%s/knlbctl -s %s %s 2>&1", dirname(knlbd),
		 r->sock, args);
	out = kt_run(cmd, &status);
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return out;
}

void kt_knlbd_write_conf(const struct kt_knlbd *r, const char *text)
{
	char tmp[128];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", r->conf);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(rename(tmp, r->conf), 0);
}

void kt_knlbd_start(struct kt_knlbd *r, const char *name, const char *conf)
{
	kt_knlbd_start_wrapped(r, name, conf, "");
}

void kt_knlbd_start_wrapped(struct kt_knlbd *r, const char *name,
			    const char *conf, const char *wrapper)
{
	kt_knlbd_start_full(r, name, conf, wrapper, "");
}

void kt_knlbd_start_full(struct kt_knlbd *r, const char *name,
			 const char *conf, const char *wrapper,
			 const char *args)
{
	char cmd[1536];

	snprintf(r->dir, sizeof(r->dir), "/tmp/knlb-kt-%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(r->dir));
	snprintf(r->conf, sizeof(r->conf), "%s/knlb.conf", r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/knlb.sock", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/knlbd.log", r->dir);
	kt_knlbd_write_conf(r, conf);
	snprintf(cmd, sizeof(cmd), "%s%s%s -c %s -s %s%s%s", wrapper, wrapper[0] ? " " : "",
		 kt_knlbd(), r->conf, r->sock, args[0] ? " " : "", args);
	r->pid = kt_start_command(cmd, r->log);
	/* the socket is bound before the table is programmed: wait for both */
	cr_assert(kt_wait_for_log(r->log, "programmed table", 10000),
		  "knlbd did not start:\n%s", kt_read_file(r->log));
	/* and for its loop to answer: start-up work after the table (the
	 * fallback maps' fill) is done by then, so a test counting
	 * transactions from here counts only its own */
	free(kt_ctl(r->sock, "status"));
}

void kt_knlbd_stop(struct kt_knlbd *r)
{
	char cmd[128];
	int status;

	cr_expect_eq(kt_stop_knlbd(r->pid), 0, "knlbd exit:\n%s", kt_read_file(r->log));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	free(kt_run(cmd, &status));
}

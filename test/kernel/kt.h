/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the kernel tests: each test runs in its own netns. */
#ifndef KNLB_TEST_KT_H
#define KNLB_TEST_KT_H

#include <stdbool.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct knlb_config;
struct knlb_model;

/* Criterion .init: unshare a fresh network namespace, or skip without root. */
void kt_enter_netns(void);

/* Write a sysctl of this netns ("net/ipv4/ip_forward"); asserts. */
void kt_set_sysctl(const char *rel, const char *value);

/* Run a shell command; returns its stdout (malloc'd) and exit status. */
char *kt_run(const char *cmd, int *status);
/* The same for a command that must succeed (asserts): its stdout. */
char *kt_run_ok(const char *cmd);

/* Whole file into a malloc'd string, NULL when absent. */
char *kt_read_file(const char *path);

/* Path under the source tree ($KNLB_SRCDIR, default "."). */
const char *kt_src_path(const char *rel, char *buf, size_t len);

/* Current nftables generation id (bumped once per committed transaction). */
uint32_t kt_nft_genid(void);

/* Load a config file into a pool; asserts on failure. */
void kt_load(const char *conf_rel, struct knlb_config **config,
	     struct knlb_model **pool);

/* Program pool's whole table (sync_replace) on a socket of its own; asserts. */
void kt_replace(const struct knlb_model *pool);

/*
 * Connect from `from` to `to` (len bytes each) and return which of the
 * listeners[0..n) accepted it (asserts that exactly one did); the client
 * side is reset, not closed, so no TIME_WAIT keeps its address and port.
 */
int kt_connect_reaches(const int *listeners, int n, const struct sockaddr *from,
		       const struct sockaddr *to, socklen_t len);

/* `nft list table inet NAME` output. */
char *kt_nft_list(const char *table);

/*
 * Sort the elements inside every `elements = { ... }` block and put them
 * on one line: the kernel lists hash sets in hash order, which is not part
 * of what we program.  Returns a new string.
 */
char *kt_normalize(const char *listing);
/* kt_normalize() that frees its argument. */
char *kt_normalize_free(char *listing);
/*
 * The listing's sets, maps and chains sorted (frees its argument): an
 * in-place replace keeps the objects it keeps where they were, so a
 * listing after a reload may order them otherwise than a fresh table.
 */
char *kt_sort_objects_free(char *listing);

/* render_ruleset() into a string. */
char *kt_render(const struct knlb_model *pool);

/*
 * One control request (a line without its newline) to knlbd's socket;
 * the whole reply, status line first, or NULL when nobody listens.
 */
char *kt_ctl(const char *socket_path, const char *request);

/* "exec CMDLINE" by sh in the background from the source tree, stderr to logpath. */
pid_t kt_start_command(const char *cmdline, const char *logpath);
/* The knlbd under test: $KNLBD, else build/knlbd. */
const char *kt_knlbd(void);
/* knlbd ARGS, as kt_start_command(). */
pid_t kt_start_knlbd(const char *args, const char *logpath);
/* logpath contains needle within timeout_ms. */
bool kt_wait_for_log(const char *logpath, const char *needle, int timeout_ms);
/* SIGTERM, bounded wait: its exit status, or -1 (then it was killed). */
int kt_stop_knlbd(pid_t pid);

/*
 * A knlbd of a test's own: a mkdtemp directory /tmp/knlb-kt-NAME-XXXXXX with
 * its config, socket and log.  start writes conf and waits for the table;
 * write_conf replaces the config atomically (knlbd never reads a
 * half-written file); stop checks the exit and removes the directory.
 */
struct kt_knlbd {
	char dir[64];
	char conf[96], sock[96], log[96];
	pid_t pid;
};
void kt_knlbd_write_conf(const struct kt_knlbd *r, const char *text);
void kt_knlbd_start(struct kt_knlbd *r, const char *name, const char *conf);
/* The same, knlbd run under wrapper (a command and its options: setpriv ...). */
void kt_knlbd_start_wrapped(struct kt_knlbd *r, const char *name,
			    const char *conf, const char *wrapper);
/* Both, and knlbd's own options after -c and -s (--flush-on-exit). */
void kt_knlbd_start_full(struct kt_knlbd *r, const char *name,
			 const char *conf, const char *wrapper,
			 const char *args);
void kt_knlbd_stop(struct kt_knlbd *r);
/* knlbctl (beside the knlbd under test) -s r->sock ARGS: output, exit code. */
char *kt_knlbctl(const struct kt_knlbd *r, const char *args, int *code);
/* A loopback TCP port: listening (fd returned) or free (-1 returned). */
int kt_loopback_port(bool listening, uint16_t *port);
/* How many times needle occurs in the file at logpath. */
int kt_count_in_log(const char *logpath, const char *needle);
/* The value of family's first sample in a scrape, labelled or not; -1: none. */
double kt_metric_sample(const char *scrape, const char *family);
/* The value of "Field:" in /proc/PID/status, after its blanks (malloc'd). */
char *kt_status_field(pid_t pid, const char *field);

#endif

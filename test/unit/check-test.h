/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef KNLB_TEST_CHECK_TEST_H
#define KNLB_TEST_CHECK_TEST_H

#include <stdint.h>
#include <sys/types.h>

/*
 * An HTTP backend in a forked child on 127.0.0.1: every connection gets
 * "200 OK" as soon as its request is in, then a close.  It runs while the
 * test's own loop is held up.  Returns its port; *pid for
 * child_http_stop().
 */
uint16_t child_http_start(pid_t *pid);
void child_http_stop(pid_t *pid);

#endif

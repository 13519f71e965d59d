/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The event loop: dispatch, before-sleep hook, deleting from a callback. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/loop.h"

struct pair_state {
	int fds[2][2];		/* two pipes, both readable */
	int calls;
	int hooks;
};

/* Whichever pipe fires first deletes the other one, whose event is pending. */
static void on_read(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct pair_state *st = arg;
	int other = fd == st->fds[0][0] ? st->fds[1][0] : st->fds[0][0];

	(void)events;
	st->calls++;
	loop_del_fd(loop, fd);
	loop_del_fd(loop, other);
}

static void before_sleep(struct loop *loop, void *arg)
{
	struct pair_state *st = arg;

	if (++st->hooks == 2)
		loop_stop(loop);
}

Test(loop, deleting_a_pending_watch_from_a_callback_is_safe)
{
	struct pair_state st = { 0 };
	struct loop *loop;

	cr_assert_eq(loop_new(&loop), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pipe(st.fds[i]), 0);
		cr_assert_eq(write(st.fds[i][1], "x", 1), 1);
		cr_assert_eq(loop_add_fd(loop, st.fds[i][0], EPOLLIN, on_read, &st), 0);
	}
	loop_set_before_sleep(loop, before_sleep, &st);
	cr_assert_eq(loop_run(loop), 0);
	cr_expect_eq(st.calls, 1, "the deleted watch must not be called (%d calls)", st.calls);
	cr_expect_eq(st.hooks, 2, "before-sleep runs once per iteration");
	cr_expect_eq(loop_del_fd(loop, st.fds[0][0]), -ENOENT);
	loop_free(loop);
	for (int i = 0; i < 2; i++) {
		close(st.fds[i][0]);
		close(st.fds[i][1]);
	}
}

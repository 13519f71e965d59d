/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The event loop: dispatch, before-sleep hook, deleting from a callback. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "knlb/lib/loop.h"

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

struct timer_state {
	struct loop_timer timers[64];
	int order[64];
	int fired;
};

static void on_timer(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct timer_state *st = arg;

	st->order[st->fired++] = (int)(t - st->timers);
	if (loop_timer_count(loop) == 0)
		loop_stop(loop);
}

/* Deadlines scrambled, some cancelled, some re-armed: fire in order. */
Test(loop, timers_fire_in_deadline_order_and_cancel_works)
{
	struct timer_state st = { 0 };
	uint64_t now = loop_now_ns();
	struct loop *loop;
	int expect = 0;

	cr_assert_eq(loop_new(&loop), 0);
	for (int i = 0; i < 64; i++) {
		loop_timer_init(&st.timers[i], on_timer, &st);
		/* 37 is prime to 64: a permutation of 0..63 ms. */
		cr_assert_eq(loop_timer_arm_at(loop, &st.timers[i],
					       now + (uint64_t)((i * 37) % 64) * 1000000ULL), 0);
	}
	for (int i = 0; i < 64; i += 4)
		loop_timer_cancel(loop, &st.timers[i]);
	cr_expect_eq(loop_timer_count(loop), 48);
	cr_expect(!loop_timer_armed(&st.timers[0]));
	/* Re-arming moves the timer, it does not add a second entry. */
	cr_assert_eq(loop_timer_arm_at(loop, &st.timers[1], now + 100000000ULL), 0);
	cr_expect_eq(loop_timer_count(loop), 48);
	cr_assert_eq(loop_run(loop), 0);
	cr_assert_eq(st.fired, 48);
	for (int f = 0; f < 47; f++) {
		uint64_t a = st.timers[st.order[f]].deadline_ns;
		uint64_t b = st.timers[st.order[f + 1]].deadline_ns;

		cr_expect(a <= b, "timer %d fired before %d out of order", st.order[f],
			  st.order[f + 1]);
		expect += st.order[f] % 4 == 0;
	}
	cr_expect_eq(expect, 0, "a cancelled timer fired");
	cr_expect_eq(st.order[47], 1, "the re-armed timer fires last");
	cr_expect(loop_now_ns() - now >= 100000000ULL, "fired before its deadline");
	loop_free(loop);
}

/* Many watches, deleted in any order: each is found by its fd number. */
static void on_never(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	(*(int *)arg)++;
}

Test(loop, watches_are_found_by_fd_among_hundreds)
{
	enum { N = 300 };	/* 600 fds: under a default limit of 1024 */
	static int fds[N][2];
	struct loop *loop;
	int calls = 0;

	cr_assert_eq(loop_new(&loop), 0);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pipe(fds[i]), 0);
		cr_assert_eq(loop_add_fd(loop, fds[i][0], EPOLLIN, on_never, &calls), 0);
	}
	/* added twice: epoll refuses, the first watch stays */
	cr_expect_eq(loop_add_fd(loop, fds[7][0], EPOLLIN, on_never, &calls), -EEXIST);
	for (int i = 0; i < N; i += 2)
		cr_expect_eq(loop_del_fd(loop, fds[i][0]), 0, "fd %d", fds[i][0]);
	for (int i = 0; i < N; i += 2)
		cr_expect_eq(loop_del_fd(loop, fds[i][0]), -ENOENT);
	for (int i = 1; i < N; i += 2)
		cr_expect_eq(loop_del_fd(loop, fds[i][0]), 0, "fd %d", fds[i][0]);
	cr_expect_eq(loop_del_fd(loop, -1), -ENOENT);
	cr_expect_eq(loop_del_fd(loop, 1 << 20), -ENOENT);
	cr_expect_eq(calls, 0);
	loop_free(loop);
	for (int i = 0; i < N; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
}

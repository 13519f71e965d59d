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

/* Deferred calls: what ran, in order, one letter each. */
struct defer_state {
	struct loop_defer a, b, c;
	char log[32];
	size_t n;
	int fd;			/* a readable pipe, read once */
	int a_runs;		/* a queues itself again until 3 */
	bool guard_fired;
};

static void note(struct defer_state *st, char c)
{
	if (st->n + 1 < sizeof(st->log))
		st->log[st->n++] = c;
}

static void on_defer_a(struct loop *loop, void *arg)
{
	struct defer_state *st = arg;

	note(st, 'a');
	/* b was queued after a: cancelled here, it must not run */
	loop_defer_cancel(loop, &st->c);
}

static void on_defer_b(struct loop *loop, void *arg)
{
	(void)loop;
	note(arg, 'b');
}

static void on_defer_c(struct loop *loop, void *arg)
{
	(void)loop;
	note(arg, 'c');
}

static void on_defer_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct defer_state *st = arg;
	char x;

	(void)events;
	cr_assert_eq(read(fd, &x, 1), 1);
	note(st, 'e');
	loop_defer(loop, &st->a);
	loop_defer(loop, &st->b);
	loop_defer(loop, &st->a);	/* queued already: no second run */
	loop_defer(loop, &st->c);
}

static void on_defer_hook(struct loop *loop, void *arg)
{
	struct defer_state *st = arg;

	note(st, 'h');
	if (st->log[0] && st->n >= 4)
		loop_stop(loop);
}

/* Queued during a pass: run once each, in order, after the pass's events
 * and before the before-sleep hook; one cancelled by an earlier one in the
 * same run does not run. */
Test(loop, deferred_calls_run_once_at_the_end_of_the_pass)
{
	struct defer_state st = { 0 };
	struct loop *loop;
	int p[2];

	cr_assert_eq(loop_new(&loop), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	loop_defer_init(&st.a, on_defer_a, &st);
	loop_defer_init(&st.b, on_defer_b, &st);
	loop_defer_init(&st.c, on_defer_c, &st);
	cr_assert_eq(loop_add_fd(loop, p[0], EPOLLIN, on_defer_fd, &st), 0);
	loop_set_before_sleep(loop, on_defer_hook, &st);
	cr_assert_eq(loop_run(loop), 0);
	cr_expect_str_eq(st.log, "heabh");
	cr_expect(!st.a.queued && !st.b.queued && !st.c.queued);
	loop_free(loop);
	close(p[0]);
	close(p[1]);
}

static void on_defer_again(struct loop *loop, void *arg)
{
	struct defer_state *st = arg;

	note(st, 'a');
	if (++st->a_runs < 3)
		loop_defer(loop, &st->a);	/* the next pass, not this run */
	else
		loop_stop(loop);
}

static void on_defer_count_hook(struct loop *loop, void *arg)
{
	(void)loop;
	note(arg, 'h');
}

static void on_defer_guard(struct loop *loop, struct loop_timer *t, void *arg)
{
	(void)t;
	((struct defer_state *)arg)->guard_fired = true;
	loop_stop(loop);
}

/* A call queued by a deferred call runs in the next pass, and the loop
 * does not sleep before it (nothing else would wake it: the guard is 5 s
 * away); a cancelled one never runs. */
Test(loop, a_call_deferred_from_a_deferred_call_runs_next_pass_without_sleeping)
{
	struct defer_state st = { 0 };
	struct loop_timer guard;
	struct loop *loop;
	uint64_t start = loop_now_ns();

	cr_assert_eq(loop_new(&loop), 0);
	loop_timer_init(&guard, on_defer_guard, &st);
	cr_assert_eq(loop_timer_arm(loop, &guard, 5000000000ULL), 0);
	loop_defer_init(&st.a, on_defer_again, &st);
	loop_defer_init(&st.b, on_defer_b, &st);
	loop_defer(loop, &st.b);
	loop_defer(loop, &st.a);
	loop_defer_cancel(loop, &st.b);
	loop_defer_cancel(loop, &st.b);	/* not queued: a no-op */
	loop_set_before_sleep(loop, on_defer_count_hook, &st);
	cr_assert_eq(loop_run(loop), 0);
	cr_expect(!st.guard_fired, "the loop slept with a deferred call queued");
	cr_expect_str_eq(st.log, "ahaha");
	cr_expect_lt(loop_now_ns() - start, 1000000000ULL);
	loop_timer_cancel(loop, &guard);
	loop_free(loop);
}

/* Many timers, armed, re-armed and cancelled at random: each fires once,
 * in deadline order (the heap's shape checked through what it does). */
struct many_state {
	struct loop_timer timers[5000];
	bool armed[5000];
	uint64_t last;
	int fired, out_of_order, not_armed;
};

static void on_many(struct loop *loop, struct loop_timer *t, void *arg)
{
	struct many_state *st = arg;
	size_t i = (size_t)(t - st->timers);

	if (t->deadline_ns < st->last)
		st->out_of_order++;
	st->last = t->deadline_ns;
	if (!st->armed[i])
		st->not_armed++;
	st->armed[i] = false;
	if (++st->fired && loop_timer_count(loop) == 0)
		loop_stop(loop);
}

Test(loop, thousands_of_timers_rearmed_and_cancelled_fire_in_order)
{
	static struct many_state st;
	uint64_t base = loop_now_ns() - 1000000000ULL, rng = 42;	/* all past */
	struct loop *loop;
	int expect = 0;

	cr_assert_eq(loop_new(&loop), 0);
	for (int i = 0; i < 5000; i++)
		loop_timer_init(&st.timers[i], on_many, &st);
	for (int k = 0; k < 40000; k++) {
		int i;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (int)((rng >> 33) % 5000);
		if ((rng >> 20) % 4 == 0) {
			loop_timer_cancel(loop, &st.timers[i]);
			st.armed[i] = false;
		} else {
			cr_assert_eq(loop_timer_arm_at(loop, &st.timers[i],
						       base + (rng >> 40) % 1000000), 0);
			st.armed[i] = true;
		}
	}
	for (int i = 0; i < 5000; i++)
		expect += st.armed[i];
	cr_assert_eq(loop_timer_count(loop), (size_t)expect);
	cr_assert_eq(loop_run(loop), 0);
	cr_expect_eq(st.fired, expect);
	cr_expect_eq(st.out_of_order, 0);
	cr_expect_eq(st.not_armed, 0, "a cancelled timer fired");
	loop_free(loop);
}

/*
 * test_mt_wait.c - the waiter's handshake: a sleeping consumer is always woken (ping-pong over many iterations, so a
 * lost wake-up would hang and hit the generous timeout), a kick interrupts a wait, a timeout is reported, and the
 * mode names parse.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/wait.h"

#define PINGPONG_ITERS 20000
/* Far longer than any wake-up can take: reaching it means a wake-up was lost. */
#define LOST_WAKEUP_NS (5 * RT_NS_PER_SEC)

struct pingpong {
	struct rt_waiter wa, wb;
	struct ring a_to_b, b_to_a;
	int errors;
};

static void *pong(void *arg)
{
	struct pingpong *pp = arg;
	for (uint64_t i = 0; i < PINGPONG_ITERS; i++) {
		uint64_t v;
		if (ring_wait(&pp->a_to_b, LOST_WAKEUP_NS) != 0) {
			pp->errors++;
			return NULL;
		}
		if (!ring_pop(&pp->a_to_b, &v) || v != i) {
			pp->errors++;
			return NULL;
		}
		v = ~i;
		ring_push(&pp->b_to_a, &v);
	}
	return NULL;
}

static void pingpong_run(enum rt_wait_mode mode)
{
	struct pingpong pp;
	memset(&pp, 0, sizeof(pp));
	/* Hybrid with a tiny spin so both the spin and the sleep paths are taken. */
	rt_waiter_init(&pp.wa, mode, 500);
	rt_waiter_init(&pp.wb, mode, 500);
	assert_int_equal(ring_init(&pp.a_to_b, "a2b", sizeof(uint64_t), 2, &pp.wb), 0);
	assert_int_equal(ring_init(&pp.b_to_a, "b2a", sizeof(uint64_t), 2, &pp.wa), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pong, &pp), 0);
	for (uint64_t i = 0; i < PINGPONG_ITERS; i++) {
		uint64_t v = i;
		assert_true(ring_push(&pp.a_to_b, &v));
		assert_int_equal(ring_wait(&pp.b_to_a, LOST_WAKEUP_NS), 0);
		assert_true(ring_pop(&pp.b_to_a, &v));
		assert_int_equal(v, ~i);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pp.errors, 0);
	if (mode == RT_WAIT_SLEEP || mode == RT_WAIT_EVENTFD)
		assert_true(atomic_load(&pp.wb.sleeps) > 0); /* the sleep path really ran */
	ring_fini(&pp.a_to_b);
	ring_fini(&pp.b_to_a);
	rt_waiter_fini(&pp.wa);
	rt_waiter_fini(&pp.wb);
}

static void test_no_lost_wakeup_sleep(void **st) { (void)st; pingpong_run(RT_WAIT_SLEEP); }
static void test_no_lost_wakeup_hybrid(void **st) { (void)st; pingpong_run(RT_WAIT_HYBRID); }
static void test_no_lost_wakeup_eventfd(void **st) { (void)st; pingpong_run(RT_WAIT_EVENTFD); }

/*
 * A consumer that polls a descriptor of its own (a pipe standing for a tty) beside the waiter's eventfd, with
 * rt_waiter_arm/disarm: records from a ring and bytes from the pipe both wake it, none is lost (ping-pong again: a
 * lost wake-up would hang until the generous poll timeout and fail the test), and a kick ends it.
 */
struct polling {
	struct rt_waiter w;      /* the polling consumer's waiter (EVENTFD) */
	struct rt_waiter back_w; /* the main thread's */
	struct ring in, back;
	int pipe_rd, pipe_wr;
	int errors;
	uint64_t ring_recs, pipe_bytes, kicks;
};

static void *polling_consumer(void *arg)
{
	struct polling *p = arg;
	for (;;) {
		uint64_t v;
		while (ring_pop(&p->in, &v)) {
			p->ring_recs++;
			ring_push(&p->back, &v);
		}
		int rc = rt_waiter_arm(&p->w, ring_ready, &p->in);
		if (rc == 1)
			continue;
		if (rc == -EINTR) {
			p->kicks++;
			return NULL;
		}
		struct pollfd pfd[2] = {{.fd = p->pipe_rd, .events = POLLIN}, {.fd = rt_waiter_fd(&p->w), .events = POLLIN}};
		int pr = poll(pfd, 2, (int)(LOST_WAKEUP_NS / RT_NS_PER_MS));
		bool kicked = rt_waiter_disarm(&p->w);
		if (pr == 0) {
			p->errors++; /* a lost wake-up */
			return NULL;
		}
		if (pfd[0].revents & POLLIN) {
			char c;
			if (read(p->pipe_rd, &c, 1) == 1) {
				p->pipe_bytes++;
				v = UINT64_MAX;
				ring_push(&p->back, &v);
			}
		}
		if (kicked) {
			p->kicks++;
			return NULL;
		}
	}
}

static void test_eventfd_poll_ring_and_descriptor(void **st)
{
	(void)st;
	struct polling p;
	int fds[2];
	memset(&p, 0, sizeof(p));
	assert_int_equal(rt_waiter_init(&p.w, RT_WAIT_EVENTFD, 0), 0);
	assert_true(rt_waiter_fd(&p.w) >= 0);
	assert_int_equal(rt_waiter_init(&p.back_w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(&p.in, "in", sizeof(uint64_t), 2, &p.w), 0);
	assert_int_equal(ring_init(&p.back, "back", sizeof(uint64_t), 2, &p.back_w), 0);
	assert_int_equal(pipe(fds), 0);
	p.pipe_rd = fds[0];
	p.pipe_wr = fds[1];
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, polling_consumer, &p), 0);
	for (uint64_t i = 0; i < PINGPONG_ITERS; i++) {
		uint64_t v = i;
		/* Alternate the two sources of work: a ring record, then a byte on the descriptor. */
		if (i % 2 == 0) {
			assert_true(ring_push(&p.in, &v));
		} else {
			assert_int_equal(write(p.pipe_wr, "x", 1), 1);
		}
		assert_int_equal(ring_wait(&p.back, LOST_WAKEUP_NS), 0);
		assert_true(ring_pop(&p.back, &v));
		assert_true(i % 2 == 0 ? v == i : v == UINT64_MAX);
	}
	/* Stop while it waits in poll(): the kick wakes it. */
	rt_sleep_ns(RT_NS_PER_MS);
	rt_waiter_kick(&p.w);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.errors, 0);
	assert_int_equal(p.ring_recs, PINGPONG_ITERS / 2);
	assert_int_equal(p.pipe_bytes, PINGPONG_ITERS / 2);
	assert_int_equal(p.kicks, 1);
	assert_true(atomic_load(&p.w.sleeps) > 0);
	close(fds[0]);
	close(fds[1]);
	ring_fini(&p.in);
	ring_fini(&p.back);
	rt_waiter_fini(&p.w);
	rt_waiter_fini(&p.back_w);
	assert_int_equal(rt_waiter_fd(&p.w), -1);
}

static bool never_ready(void *arg)
{
	(void)arg;
	return false;
}

struct kick_ctx {
	struct rt_waiter w;
	_Atomic int entered;
	int rc;
};

static void *kicked_waiter(void *arg)
{
	struct kick_ctx *k = arg;
	atomic_store(&k->entered, 1);
	k->rc = rt_waiter_wait(&k->w, never_ready, NULL, -1); /* no timeout: only the kick can end it */
	return NULL;
}

static void kick_run(enum rt_wait_mode mode)
{
	struct kick_ctx k;
	memset(&k, 0, sizeof(k));
	rt_waiter_init(&k.w, mode, 1000);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, kicked_waiter, &k), 0);
	while (!atomic_load(&k.entered))
		rt_cpu_relax();
	rt_sleep_ns(2 * RT_NS_PER_MS); /* most likely asleep (or spinning) by now; correct either way */
	rt_waiter_kick(&k.w);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(k.rc, -EINTR);
	/* The kick was consumed: the next wait times out. */
	assert_int_equal(rt_waiter_wait(&k.w, never_ready, NULL, 1000), -ETIMEDOUT);
	rt_waiter_fini(&k.w);
}

static void test_kick_sleep(void **st) { (void)st; kick_run(RT_WAIT_SLEEP); }
static void test_kick_spin(void **st) { (void)st; kick_run(RT_WAIT_SPIN); }
static void test_kick_hybrid(void **st) { (void)st; kick_run(RT_WAIT_HYBRID); }
static void test_kick_eventfd(void **st) { (void)st; kick_run(RT_WAIT_EVENTFD); }

static void test_kick_before_wait(void **st)
{
	(void)st;
	struct rt_waiter w;
	rt_waiter_init(&w, RT_WAIT_SLEEP, 0);
	rt_waiter_kick(&w);
	assert_int_equal(rt_waiter_wait(&w, never_ready, NULL, -1), -EINTR);
}

static void test_timeout(void **st)
{
	(void)st;
	static const enum rt_wait_mode modes[] = {RT_WAIT_SPIN, RT_WAIT_SLEEP, RT_WAIT_HYBRID, RT_WAIT_EVENTFD};
	for (size_t i = 0; i < 4; i++) {
		struct rt_waiter w;
		rt_waiter_init(&w, modes[i], 100000);
		assert_int_equal(rt_waiter_wait(&w, never_ready, NULL, 0), -ETIMEDOUT);
		uint64_t t0 = rt_mono_ns();
		assert_int_equal(rt_waiter_wait(&w, never_ready, NULL, 3 * RT_NS_PER_MS), -ETIMEDOUT);
		assert_true(rt_mono_ns() - t0 >= 3 * RT_NS_PER_MS); /* never early (a lower bound only) */
		rt_waiter_fini(&w);
	}
}

/*
 * Coalesced wake-ups: with a wake batch of 8, a sleeping consumer gets no wake-up for the first 7 records (the
 * waiter's wake counter says so; it finds them at its timeout), one when the 8th arrives, and ring_close always
 * wakes it.
 */
struct coalesce_ctx {
	struct rt_waiter w;
	struct ring r;
	_Atomic int phase;
	int rc[3];
	size_t seen[3];
};

static bool ring_has_batch(void *arg)
{
	struct ring *r = arg;
	return ring_count(r) >= r->wake_batch || atomic_load(&r->closed);
}

static void *coalesce_consumer(void *arg)
{
	struct coalesce_ctx *c = arg;
	/* 1: records below the batch never wake it; only the long timeout ends the wait. */
	c->rc[0] = rt_waiter_wait(&c->w, ring_has_batch, &c->r, 300 * RT_NS_PER_MS);
	c->seen[0] = ring_count(&c->r);
	atomic_store(&c->phase, 1);
	/* 2: the batch wakes it. */
	c->rc[1] = rt_waiter_wait(&c->w, ring_has_batch, &c->r, LOST_WAKEUP_NS);
	c->seen[1] = ring_count(&c->r);
	uint64_t v;
	while (ring_pop(&c->r, &v))
		;
	atomic_store(&c->phase, 2);
	/* 3: the close wakes it with an empty ring. */
	c->rc[2] = rt_waiter_wait(&c->w, ring_has_batch, &c->r, LOST_WAKEUP_NS);
	c->seen[2] = ring_count(&c->r);
	return NULL;
}

static void test_coalesced_wakeups(void **st)
{
	(void)st;
	struct coalesce_ctx *c = test_zalloc_aligned(sizeof(*c));
	assert_int_equal(rt_waiter_init(&c->w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(&c->r, "coalesce", sizeof(uint64_t), 64, &c->w), 0);
	ring_set_wake_batch(&c->r, 8);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, coalesce_consumer, c), 0);
	for (uint64_t i = 0; i < 7; i++)
		assert_true(ring_push(&c->r, &i));
	while (atomic_load(&c->phase) < 1)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_int_equal(c->rc[0], -ETIMEDOUT);
	assert_int_equal(c->seen[0], 7);
	assert_int_equal(atomic_load(&c->w.wakes), 0); /* seven pushes, no wake-up */
	uint64_t v = 7;
	rt_sleep_ns(2 * RT_NS_PER_MS);
	assert_true(ring_push(&c->r, &v));
	while (atomic_load(&c->phase) < 2)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_int_equal(c->rc[1], 0);
	assert_true(c->seen[1] >= 8);
	rt_sleep_ns(2 * RT_NS_PER_MS);
	ring_close(&c->r);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c->rc[2], 0);
	assert_int_equal(c->seen[2], 0);
	ring_fini(&c->r);
	rt_waiter_fini(&c->w);
	free(c);
}

static void test_mode_names(void **st)
{
	(void)st;
	static const struct {
		const char *s;
		int rc;
		enum rt_wait_mode mode;
	} cases[] = {
		{"hybrid", 0, RT_WAIT_HYBRID}, {"spin", 0, RT_WAIT_SPIN}, {"sleep", 0, RT_WAIT_SLEEP},
		{"eventfd", 0, RT_WAIT_EVENTFD},
		{"SPIN", -EINVAL, 0},          {"", -EINVAL, 0},          {"spinning", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum rt_wait_mode m = RT_WAIT_SLEEP;
		assert_int_equal(rt_wait_mode_parse(cases[i].s, &m), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(m, cases[i].mode);
			assert_string_equal(rt_wait_mode_name(m), cases[i].s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_lost_wakeup_sleep), cmocka_unit_test(test_no_lost_wakeup_hybrid),
		cmocka_unit_test(test_kick_sleep),           cmocka_unit_test(test_kick_spin),
		cmocka_unit_test(test_kick_hybrid),          cmocka_unit_test(test_kick_before_wait),
		cmocka_unit_test(test_no_lost_wakeup_eventfd), cmocka_unit_test(test_kick_eventfd),
		cmocka_unit_test(test_eventfd_poll_ring_and_descriptor),
		cmocka_unit_test(test_coalesced_wakeups),
		cmocka_unit_test(test_timeout),              cmocka_unit_test(test_mode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

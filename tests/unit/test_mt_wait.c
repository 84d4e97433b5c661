/*
 * test_mt_wait.c - the waiter's handshake: a sleeping consumer is always woken (ping-pong over many iterations, so a
 * lost wake-up would hang and hit the generous timeout), a kick interrupts a wait, a timeout is reported, and the
 * mode names parse.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
	if (mode == RT_WAIT_SLEEP)
		assert_true(atomic_load(&pp.wb.sleeps) > 0); /* the sleep path really ran */
	ring_fini(&pp.a_to_b);
	ring_fini(&pp.b_to_a);
}

static void test_no_lost_wakeup_sleep(void **st) { (void)st; pingpong_run(RT_WAIT_SLEEP); }
static void test_no_lost_wakeup_hybrid(void **st) { (void)st; pingpong_run(RT_WAIT_HYBRID); }

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
}

static void test_kick_sleep(void **st) { (void)st; kick_run(RT_WAIT_SLEEP); }
static void test_kick_spin(void **st) { (void)st; kick_run(RT_WAIT_SPIN); }
static void test_kick_hybrid(void **st) { (void)st; kick_run(RT_WAIT_HYBRID); }

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
	static const enum rt_wait_mode modes[] = {RT_WAIT_SPIN, RT_WAIT_SLEEP, RT_WAIT_HYBRID};
	for (size_t i = 0; i < 3; i++) {
		struct rt_waiter w;
		rt_waiter_init(&w, modes[i], 100000);
		assert_int_equal(rt_waiter_wait(&w, never_ready, NULL, 0), -ETIMEDOUT);
		uint64_t t0 = rt_mono_ns();
		assert_int_equal(rt_waiter_wait(&w, never_ready, NULL, 3 * RT_NS_PER_MS), -ETIMEDOUT);
		assert_true(rt_mono_ns() - t0 >= 3 * RT_NS_PER_MS); /* never early (a lower bound only) */
	}
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
		cmocka_unit_test(test_timeout),              cmocka_unit_test(test_mode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

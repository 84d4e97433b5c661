/*
 * test_mt_ring_stress.c - one producer and one consumer thread move N 16-byte records (a sequence number and a
 * checksum of it) through a small ring; the consumer checks strict order, the checksum, and that nothing is lost.
 * Run for every wait mode, with single and batch operations.  The producer retries when the ring is full (the
 * retries are not drops: the test counts them separately from full_drops, which a refused ring_push increments).
 *
 * N is 10,000,000 per case normally; under ThreadSanitizer (detected at compile time) it is 1,000,000, because tsan
 * slows every atomic access about 10-fold and the whole binary must stay under about a minute on two cores.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "rt/clock.h"
#include "rt/ring.h"

#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifdef STRESS_TSAN
#define STRESS_N 1000000ULL
#else
#define STRESS_N 10000000ULL
#endif

#define STRESS_CAP 256
#define STRESS_BATCH 32

struct rec {
	uint64_t seq;
	uint64_t check;
};

/* A checksum that a torn or stale copy would not match: a 64-bit mix of the sequence number. */
static uint64_t checksum(uint64_t seq)
{
	uint64_t x = seq + 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct stress {
	struct ring ring;
	struct rt_waiter waiter;
	bool batch;
	uint64_t n;
	/* consumer's results */
	uint64_t received;
	uint64_t bad_order;
	uint64_t bad_check;
	uint64_t wait_errors;
};

/*
 * Retrying on a full ring: spin briefly, then yield.  On a loaded two-CPU machine the two threads may share one CPU,
 * and a pure spin would burn a whole time slice per hand-off (this is a correctness test, not a benchmark).
 */
static void retry_pause(unsigned *spins)
{
	if (++*spins < 256) {
		rt_cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static void *producer(void *arg)
{
	struct stress *s = arg;
	struct rec buf[STRESS_BATCH];
	uint64_t seq = 0;
	while (seq < s->n) {
		if (s->batch) {
			size_t k = STRESS_BATCH;
			if (s->n - seq < k)
				k = (size_t)(s->n - seq);
			for (size_t i = 0; i < k; i++)
				buf[i] = (struct rec){.seq = seq + i, .check = checksum(seq + i)};
			size_t done = 0;
			unsigned spins = 0;
			while (done < k) {
				size_t m = ring_push_batch(&s->ring, buf + done, k - done);
				done += m;
				if (m == 0)
					retry_pause(&spins); /* full: retry */
			}
			seq += k;
		} else {
			struct rec r = {.seq = seq, .check = checksum(seq)};
			unsigned spins = 0;
			while (!ring_push(&s->ring, &r))
				retry_pause(&spins); /* full: retry */
			seq++;
		}
	}
	ring_close(&s->ring);
	return NULL;
}

static void consume(struct stress *s, const struct rec *r)
{
	if (r->seq != s->received)
		s->bad_order++;
	if (r->check != checksum(r->seq))
		s->bad_check++;
	s->received = r->seq + 1;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	struct rec buf[STRESS_BATCH];
	for (;;) {
		if (s->batch) {
			size_t k = ring_pop_batch(&s->ring, buf, STRESS_BATCH);
			for (size_t i = 0; i < k; i++)
				consume(s, &buf[i]);
			if (k)
				continue;
		} else {
			struct rec r;
			if (ring_pop(&s->ring, &r)) {
				consume(s, &r);
				continue;
			}
		}
		if (ring_is_drained(&s->ring))
			break;
		if (s->waiter.mode == RT_WAIT_SPIN) {
			/* Spin in ring_wait for at most 100 us, then let a producer sharing this CPU run. */
			int rc = ring_wait(&s->ring, 100 * RT_NS_PER_US);
			if (rc == -ETIMEDOUT)
				sched_yield();
			else if (rc != 0)
				s->wait_errors++;
		} else if (ring_wait(&s->ring, -1) != 0) {
			s->wait_errors++;
		}
	}
	return NULL;
}

static void run(enum rt_wait_mode mode, bool batch)
{
	struct stress *s = test_zalloc_aligned(sizeof(*s));
	assert_non_null(s);
	s->batch = batch;
	s->n = STRESS_N;
	rt_waiter_init(&s->waiter, mode, 20000);
	assert_int_equal(ring_init(&s->ring, "stress", sizeof(struct rec), STRESS_CAP, &s->waiter), 0);
	pthread_t p, c;
	uint64_t t0 = rt_mono_ns();
	assert_int_equal(pthread_create(&c, NULL, consumer, s), 0);
	assert_int_equal(pthread_create(&p, NULL, producer, s), 0);
	assert_int_equal(pthread_join(p, NULL), 0);
	assert_int_equal(pthread_join(c, NULL), 0);
	print_message("mode=%s batch=%d n=%llu %.1f s sleeps=%llu wakes=%llu hwm=%llu\n", rt_wait_mode_name(mode), batch,
		      (unsigned long long)s->n, (double)(rt_mono_ns() - t0) / 1e9,
		      (unsigned long long)atomic_load(&s->waiter.sleeps),
		      (unsigned long long)atomic_load(&s->waiter.wakes),
		      (unsigned long long)atomic_load(&s->ring.high_water));
	assert_int_equal(s->received, s->n);
	assert_int_equal(s->bad_order, 0);
	assert_int_equal(s->bad_check, 0);
	assert_int_equal(s->wait_errors, 0);
	assert_true(ring_is_drained(&s->ring));
	if (mode == RT_WAIT_SPIN)
		assert_int_equal(atomic_load(&s->waiter.sleeps), 0); /* a spinning consumer never sleeps */
	ring_fini(&s->ring);
	free(s);
}

static void test_spin_single(void **st) { (void)st; run(RT_WAIT_SPIN, false); }
static void test_spin_batch(void **st) { (void)st; run(RT_WAIT_SPIN, true); }
static void test_sleep_single(void **st) { (void)st; run(RT_WAIT_SLEEP, false); }
static void test_sleep_batch(void **st) { (void)st; run(RT_WAIT_SLEEP, true); }
static void test_hybrid_single(void **st) { (void)st; run(RT_WAIT_HYBRID, false); }
static void test_hybrid_batch(void **st) { (void)st; run(RT_WAIT_HYBRID, true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spin_single),   cmocka_unit_test(test_spin_batch),
		cmocka_unit_test(test_sleep_single),  cmocka_unit_test(test_sleep_batch),
		cmocka_unit_test(test_hybrid_single), cmocka_unit_test(test_hybrid_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

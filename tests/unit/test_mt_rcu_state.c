/*
 * test_mt_rcu_state.c - one publisher commits many generations of a snapshot whose fields all equal its generation
 * number, while three reader threads check, inside rcu_read_lock, that every snapshot they see is consistent (a
 * snapshot recycled too early would show mixed fields) and that generations never go backwards.  The pool is small
 * (4 objects) so every object is reclaimed and reused thousands of times.  rcu_pub_fini then frees everything (ASan
 * reports any leak).
 *
 * The snapshot's fields are written and read with relaxed atomics: RCU's ordering lives inside liburcu, which
 * ThreadSanitizer cannot see, so plain accesses would be reported as races under tsan.  Atomics do not hide a
 * reclamation bug: a reused object would still show a torn mix of generations, which the readers count.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <urcu.h>

#include "tests/support/testutil.h"
#include "rt/clock.h"
#include "rt/rcu_state.h"
#include "rt/wait.h"

#define SNAP_FIELDS 16
#define POOL 4
#define READERS 3
#define GENERATIONS 1000

struct snap {
	_Atomic uint64_t gen[SNAP_FIELDS];
};

struct ctx {
	struct rcu_pub pub;
	_Atomic int stop;
	_Atomic int running; /* readers inside their loop */
	uint64_t reads[READERS], torn[READERS], backwards[READERS];
	unsigned long max_begin_retries;
};

struct reader_arg {
	struct ctx *c;
	int id;
};

static void *reader(void *arg)
{
	struct reader_arg *ra = arg;
	struct ctx *c = ra->c;
	uint64_t last = 0;
	rcu_register_thread();
	atomic_fetch_add(&c->running, 1);
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		rcu_read_lock();
		const struct snap *s = rcu_pub_read(&c->pub);
		uint64_t g0 = atomic_load_explicit(&s->gen[0], memory_order_relaxed);
		for (int i = 1; i < SNAP_FIELDS; i++)
			if (atomic_load_explicit(&s->gen[i], memory_order_relaxed) != g0)
				c->torn[ra->id]++;
		/* Hold the snapshot a while (a wide window for a premature reuse), then check it did not change. */
		for (int k = 0; k < 200; k++)
			rt_cpu_relax();
		for (int i = 0; i < SNAP_FIELDS; i++)
			if (atomic_load_explicit(&s->gen[i], memory_order_relaxed) != g0)
				c->torn[ra->id]++;
		rcu_read_unlock();
		if (g0 < last)
			c->backwards[ra->id]++;
		last = g0;
		c->reads[ra->id]++;
	}
	rcu_unregister_thread();
	return NULL;
}

static void test_publish_and_read(void **st)
{
	(void)st;
	struct ctx *c = test_zalloc_aligned(sizeof(*c));
	assert_non_null(c);
	assert_int_equal(rcu_pub_init(&c->pub, sizeof(struct snap), POOL), 0);
	/* The initial snapshot is all zero, generation 0. */
	const struct snap *first = rcu_pub_last(&c->pub);
	assert_int_equal(atomic_load(&first->gen[0]), 0);
	assert_int_equal(rcu_pub_generation(&c->pub), 0);

	pthread_t tids[READERS];
	struct reader_arg ra[READERS];
	for (int i = 0; i < READERS; i++) {
		ra[i] = (struct reader_arg){.c = c, .id = i};
		assert_int_equal(pthread_create(&tids[i], NULL, reader, &ra[i]), 0);
	}

	while (atomic_load(&c->running) < READERS)
		rt_sleep_ns(RT_NS_PER_MS);
	rcu_register_thread(); /* the publisher: call_rcu needs a registered thread */
	for (uint64_t g = 1; g <= GENERATIONS; g++) {
		struct snap *s;
		unsigned long retries = 0;
		/* The pool comes back about 10 ms after a commit (the RT worker's poll): NULL is transient. */
		while ((s = rcu_pub_begin(&c->pub)) == NULL) {
			retries++;
			assert_true(retries < 20000); /* 20000 * 100 us = 2 s without a free object: reclamation is stuck */
			rt_sleep_ns(100 * RT_NS_PER_US);
		}
		if (retries > c->max_begin_retries)
			c->max_begin_retries = retries;
		/* The publisher may read its own last snapshot without a lock. */
		const struct snap *last = rcu_pub_last(&c->pub);
		assert_int_equal(atomic_load_explicit(&last->gen[SNAP_FIELDS - 1], memory_order_relaxed), g - 1);
		for (int i = 0; i < SNAP_FIELDS; i++)
			atomic_store_explicit(&s->gen[i], g, memory_order_relaxed);
		rcu_pub_commit(&c->pub, s);
		assert_int_equal(rcu_pub_generation(&c->pub), g);
	}
	rcu_unregister_thread();
	atomic_store(&c->stop, 1);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(tids[i], NULL), 0);

	uint64_t total = 0;
	for (int i = 0; i < READERS; i++) {
		assert_int_equal(c->torn[i], 0);
		assert_int_equal(c->backwards[i], 0);
		assert_true(c->reads[i] > 0);
		total += c->reads[i];
	}
	print_message("generations=%d pool=%d reads=%llu starved=%llu max_begin_retries=%lu\n", GENERATIONS, POOL,
		      (unsigned long long)total, (unsigned long long)atomic_load(&c->pub.starved),
		      c->max_begin_retries);
	/* Every object was reused many times. */
	assert_true(GENERATIONS > 100 * POOL);
	rcu_pub_fini(&c->pub);
	free(c);
}

static void test_invalid(void **st)
{
	(void)st;
	struct rcu_pub p;
	assert_int_equal(rcu_pub_init(&p, 16, 1), -EINVAL);
	assert_int_equal(rcu_pub_init(&p, 0, 4), -EINVAL);
	/* Init/fini without any commit frees everything too. */
	assert_int_equal(rcu_pub_init(&p, 100, 3), 0);
	rcu_register_thread();
	rcu_read_lock();
	const unsigned char *z = rcu_pub_read(&p);
	for (int i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	rcu_read_unlock();
	rcu_unregister_thread();
	/* pool_size 3: two free objects can be taken without a commit, the third begin starves. */
	assert_non_null(rcu_pub_begin(&p));
	assert_non_null(rcu_pub_begin(&p));
	assert_null(rcu_pub_begin(&p));
	assert_int_equal(atomic_load(&p.starved), 1);
	rcu_pub_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_and_read),
		cmocka_unit_test(test_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

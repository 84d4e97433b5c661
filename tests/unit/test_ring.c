/* test_ring.c - the SPSC ring on one thread: capacity, full/empty, wrap-around, batches, peek/release, close. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rt/ring.h"

struct rec {
	uint64_t seq;
	uint64_t check; /* ~seq */
};

static struct rec mk(uint64_t seq)
{
	return (struct rec){.seq = seq, .check = ~seq};
}

static void test_invalid_capacity(void **state)
{
	(void)state;
	static const struct {
		size_t rec_size, capacity;
		int expect;
	} cases[] = {
		{16, 0, -EINVAL}, {16, 1, -EINVAL}, {16, 3, -EINVAL}, {16, 6, -EINVAL}, {16, 1000, -EINVAL},
		{0, 8, -EINVAL},  {16, 2, 0},       {16, 4, 0},       {1, 1024, 0},     {16, SIZE_MAX / 8 + 1, -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ring r;
		int rc = ring_init(&r, "t", cases[i].rec_size, cases[i].capacity, NULL);
		assert_int_equal(rc, cases[i].expect);
		if (rc == 0) {
			assert_int_equal(ring_capacity(&r), cases[i].capacity);
			assert_int_equal(ring_count(&r), 0);
			ring_fini(&r);
		}
	}
}

/* Regression: a struct ring inside calloc()ed memory was misaligned (UBSan in v2xd's run.c); it is refused now. */
static void test_misaligned_ring_refused(void **state)
{
	(void)state;
	_Alignas(RT_CACHE_LINE) unsigned char buf[sizeof(struct ring) + RT_CACHE_LINE];
	struct ring *bad = (struct ring *)(void *)(buf + 16); /* 16-byte aligned, like calloc's guarantee */
	assert_int_equal(ring_init(bad, "bad", 8, 16, NULL), -EINVAL);
	struct ring *good = (struct ring *)(void *)buf;
	assert_int_equal(ring_init(good, "good", 8, 16, NULL), 0);
	ring_fini(good);
}

static void test_empty(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 8, NULL), 0);
	struct rec out = mk(99);
	assert_false(ring_pop(&r, &out));
	assert_int_equal(out.seq, 99); /* untouched */
	struct rec many[4];
	assert_int_equal(ring_pop_batch(&r, many, 4), 0);
	size_t n = 123;
	assert_null(ring_peek(&r, &n));
	assert_int_equal(n, 0);
	assert_false(ring_ready(&r));
	assert_false(ring_is_drained(&r));
	assert_int_equal(ring_wait(&r, 0), -ETIMEDOUT);
	ring_fini(&r);
}

static void test_full(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 4, NULL), 0);
	for (uint64_t i = 0; i < 4; i++) {
		struct rec in = mk(i);
		assert_true(ring_push(&r, &in));
	}
	assert_int_equal(ring_count(&r), 4);
	for (uint64_t i = 0; i < 3; i++) {
		struct rec in = mk(100 + i);
		assert_false(ring_push(&r, &in));
		assert_int_equal(atomic_load(&r.full_drops), i + 1);
	}
	assert_int_equal(atomic_load(&r.high_water), 4);
	struct rec big[3] = {mk(7), mk(8), mk(9)};
	assert_int_equal(ring_push_batch(&r, big, 3), 0);
	assert_int_equal(atomic_load(&r.full_drops), 3); /* a short batch is the caller's to count */
	ring_count_drops(&r, 3);
	assert_int_equal(atomic_load(&r.full_drops), 6);
	ring_count_drops(&r, 0);
	assert_int_equal(atomic_load(&r.full_drops), 6);
	/* The refused records were not queued: the four originals come out in order. */
	for (uint64_t i = 0; i < 4; i++) {
		struct rec out;
		assert_true(ring_pop(&r, &out));
		assert_int_equal(out.seq, i);
		assert_int_equal(out.check, ~i);
	}
	assert_false(ring_pop(&r, &(struct rec){0}));
	/* Room again after popping. */
	assert_true(ring_push(&r, &big[0]));
	ring_fini(&r);
}

/* ring_push_all: with no consumer, a 4-slot ring takes 4 of 10 records after its bounded wait and counts 6 drops. */
static void test_push_all_counts_what_does_not_fit(void **state)
{
	(void)state;
	struct ring r;
	struct rec in[10];
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 4, NULL), 0);
	for (uint64_t i = 0; i < 10; i++)
		in[i] = mk(i);
	assert_int_equal(ring_push_all(&r, in, 2, 1000000), 2);
	assert_int_equal(atomic_load(&r.full_drops), 0);
	assert_int_equal(ring_push_all(&r, in + 2, 8, 1000000), 2);
	assert_int_equal(atomic_load(&r.full_drops), 6);
	for (uint64_t i = 0; i < 4; i++) {
		struct rec out;
		assert_true(ring_pop(&r, &out));
		assert_int_equal(out.seq, i);
	}
	ring_fini(&r);
}

static void test_wrap_many_cycles(void **state)
{
	(void)state;
	/* Capacities 2..64, pushing k records then popping them, with k varying so every slot offset is exercised. */
	for (size_t cap = 2; cap <= 64; cap <<= 1) {
		struct ring r;
		assert_int_equal(ring_init(&r, "t", sizeof(struct rec), cap, NULL), 0);
		uint64_t next_in = 0, next_out = 0;
		for (unsigned cycle = 0; cycle < 5000; cycle++) {
			size_t k = 1 + (cycle * 7) % cap;
			for (size_t j = 0; j < k; j++) {
				struct rec in = mk(next_in);
				assert_true(ring_push(&r, &in));
				next_in++;
			}
			assert_int_equal(ring_count(&r), k);
			for (size_t j = 0; j < k; j++) {
				struct rec out;
				assert_true(ring_pop(&r, &out));
				assert_int_equal(out.seq, next_out);
				assert_int_equal(out.check, ~next_out);
				next_out++;
			}
			assert_int_equal(ring_count(&r), 0);
		}
		assert_int_equal(atomic_load(&r.full_drops), 0);
		assert_true(next_in > 4 * cap); /* the indices went around the array many times */
		ring_fini(&r);
	}
}

static void test_batch_partial_at_wrap(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 8, NULL), 0);
	struct rec in[16], out[16];
	for (uint64_t i = 0; i < 16; i++)
		in[i] = mk(i);
	/* Move the indices to 6 so the next batch straddles the end of the slot array. */
	assert_int_equal(ring_push_batch(&r, in, 6), 6);
	assert_int_equal(ring_pop_batch(&r, out, 6), 6);
	for (uint64_t i = 0; i < 6; i++)
		assert_int_equal(out[i].seq, i);
	/* 10 asked, 8 free: a partial batch, slots 6,7,0..5. */
	assert_int_equal(ring_push_batch(&r, in + 6, 10), 8);
	assert_int_equal(ring_count(&r), 8);
	assert_int_equal(atomic_load(&r.full_drops), 0);
	/* Pop 3 (slots 6,7,0), then 16 asked: the 5 that are left. */
	assert_int_equal(ring_pop_batch(&r, out, 3), 3);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(out[i].seq, 6 + i);
	assert_int_equal(ring_pop_batch(&r, out, 16), 5);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(out[i].seq, 9 + i);
		assert_int_equal(out[i].check, ~(9 + i));
	}
	assert_int_equal(ring_pop_batch(&r, out, 16), 0);
	/* A batch of zero is a no-op. */
	assert_int_equal(ring_push_batch(&r, in, 0), 0);
	assert_int_equal(ring_count(&r), 0);
	ring_fini(&r);
}

static void test_peek_release(void **state)
{
	(void)state;
	struct ring r;
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 8, NULL), 0);
	struct rec in[8];
	for (uint64_t i = 0; i < 8; i++)
		in[i] = mk(i);
	assert_int_equal(ring_push_batch(&r, in, 5), 5); /* slots 0..4 */
	size_t n = 0;
	const struct rec *p = ring_peek(&r, &n);
	assert_non_null(p);
	assert_int_equal(n, 5);
	assert_int_equal(p[0].seq, 0);
	assert_int_equal(p[4].seq, 4);
	ring_release(&r, 2);
	assert_int_equal(ring_count(&r), 3);
	/* Fill up: 5 more go to slots 5,6,7,0,1.  peek shows only the contiguous run up to the end of the array. */
	for (uint64_t i = 0; i < 5; i++) {
		struct rec x = mk(100 + i);
		assert_true(ring_push(&r, &x));
	}
	assert_int_equal(ring_count(&r), 8);
	p = ring_peek(&r, &n);
	assert_int_equal(n, 6); /* slots 2..7 */
	assert_int_equal(p[0].seq, 2);
	assert_int_equal(p[2].seq, 4);
	assert_int_equal(p[3].seq, 100);
	assert_int_equal(p[5].seq, 102);
	ring_release(&r, n);
	p = ring_peek(&r, &n);
	assert_int_equal(n, 2); /* slots 0,1 after the wrap */
	assert_int_equal(p[0].seq, 103);
	assert_int_equal(p[1].seq, 104);
	ring_release(&r, 2);
	assert_null(ring_peek(&r, &n));
	assert_int_equal(n, 0);
	ring_fini(&r);
}

static void test_close_drained(void **state)
{
	(void)state;
	struct rt_waiter w;
	rt_waiter_init(&w, RT_WAIT_SLEEP, 0);
	struct ring r;
	assert_int_equal(ring_init(&r, "t", sizeof(struct rec), 4, &w), 0);
	struct rec x = mk(1);
	assert_true(ring_push(&r, &x));
	assert_false(ring_is_drained(&r)); /* not closed */
	ring_close(&r);
	ring_close(&r); /* idempotent */
	assert_true(ring_ready(&r));
	assert_false(ring_is_drained(&r)); /* closed, one record left */
	assert_int_equal(ring_wait(&r, 0), 0);
	assert_true(ring_pop(&r, &x));
	assert_int_equal(x.seq, 1);
	assert_true(ring_is_drained(&r));
	assert_true(ring_ready(&r));           /* closed counts as ready: the consumer must not sleep forever */
	assert_int_equal(ring_wait(&r, -1), 0); /* returns at once */
	ring_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_capacity), cmocka_unit_test(test_empty),
		cmocka_unit_test(test_misaligned_ring_refused),
		cmocka_unit_test(test_full),             cmocka_unit_test(test_wrap_many_cycles),
		cmocka_unit_test(test_batch_partial_at_wrap), cmocka_unit_test(test_peek_release),
		cmocka_unit_test(test_close_drained),    cmocka_unit_test(test_push_all_counts_what_does_not_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_histogram.c - the log-linear histogram against its specification (histogram.h): one bucket per value below
 * 32, then 32 buckets per power of two; a percentile is the upper bound of the bucket holding rank
 * ceil(pct/100 * count), clamped to the max.  Expected values below are worked out by hand from that rule.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/histogram.h"

/* (value, the inclusive upper bound of its bucket), by hand: for v >= 64 with top bit b, the width is 2^(b-5). */
static const struct {
	uint64_t v, upper;
} bucket_cases[] = {
	{0, 0},       {1, 1},       {31, 31},     {32, 32},           {63, 63},         {64, 65},
	{65, 65},     {66, 67},     {100, 101},   {127, 127},         {128, 131},       {990, 991},
	{1000, 1007}, {1023, 1023}, {1024, 1055}, {1056, 1087},       {4095, 4095},     {4096, 4223},
	{1000000, 1015807},         {(1ULL << 40) - 1, (1ULL << 40) - 1},
};

static void test_bucket_table(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof(bucket_cases) / sizeof(bucket_cases[0]); i++) {
		size_t b = rt_hist_bucket_of(bucket_cases[i].v);
		assert_true(b < RT_HIST_BUCKETS);
		assert_int_equal(rt_hist_bucket_upper(b), bucket_cases[i].upper);
	}
	/* Exact below 32: each value its own bucket. */
	for (uint64_t v = 0; v < 32; v++) {
		assert_int_equal(rt_hist_bucket_of(v), v);
		assert_int_equal(rt_hist_bucket_upper(v), v);
	}
	assert_int_equal(rt_hist_bucket_of((1ULL << 40) - 1), RT_HIST_BUCKETS - 1);
}

static void test_bucket_width(void **st)
{
	(void)st;
	/* Every bucket: contiguous with the previous one, and width <= 1/32 of its lowest value above 32. */
	uint64_t prev_upper = 0;
	for (size_t b = 1; b < RT_HIST_BUCKETS; b++) {
		uint64_t lower = prev_upper + 1, upper = rt_hist_bucket_upper(b);
		assert_true(upper >= lower);
		assert_int_equal(rt_hist_bucket_of(lower), b);
		assert_int_equal(rt_hist_bucket_of(upper), b);
		if (lower >= 32)
			assert_true((upper - lower + 1) * 32 <= lower);
		prev_upper = upper;
	}
	assert_int_equal(prev_upper, (1ULL << 40) - 1);
}

static void test_empty(void **st)
{
	(void)st;
	struct rt_hist *h = malloc(sizeof(*h));
	rt_hist_init(h);
	assert_int_equal(rt_hist_percentile(h, 50), 0);
	struct rt_hist_summary s;
	rt_hist_summarize(h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.max, 0);
	free(h);
}

static void test_all_equal(void **st)
{
	(void)st;
	struct rt_hist *h = malloc(sizeof(*h));
	rt_hist_init(h);
	for (int i = 0; i < 1000; i++)
		rt_hist_record(h, 1000);
	/* 1000 is in bucket [992, 1007], but every percentile is clamped to the max, 1000. */
	static const double pcts[] = {0.1, 1, 50, 90, 99, 99.9, 100};
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(rt_hist_percentile(h, pcts[i]), 1000);
	struct rt_hist_summary s;
	rt_hist_summarize(h, &s);
	assert_int_equal(s.count, 1000);
	assert_int_equal(s.min, 1000);
	assert_int_equal(s.max, 1000);
	assert_true(s.mean == 1000.0);
	assert_int_equal(s.overflow, 0);
	free(h);
}

static void test_uniform(void **st)
{
	(void)st;
	struct rt_hist *h = malloc(sizeof(*h));
	rt_hist_init(h);
	for (uint64_t v = 1; v <= 1000; v++)
		rt_hist_record(h, v);
	/* Uniform 1..1000: the value of rank ceil(p*10) is p*10; its bucket's upper bound, worked out by hand. */
	static const struct {
		double pct;
		uint64_t expect;
	} cases[] = {
		{0.1, 1},     /* rank 1 -> value 1 */
		{3.1, 31},    /* rank 31 -> 31 */
		{5.0, 50},    /* rank 50 -> 50: below 64 every bucket holds one value */
		{10, 101},    /* rank 100 -> 100, bucket [100, 101] */
		{50, 503},    /* rank 500 -> bucket [496, 503] */
		{90, 911},    /* rank 900 -> bucket [896, 911]: width 16 in [512, 1024), 56 * 16 = 896 */
		{99, 991},    /* rank 990 -> bucket [976, 991] */
		{99.9, 1000}, /* rank 999 -> bucket [992, 1007], clamped to the max 1000 */
		{100, 1000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rt_hist_percentile(h, cases[i].pct), cases[i].expect);
	}
	struct rt_hist_summary s;
	rt_hist_summarize(h, &s);
	assert_int_equal(s.min, 1);
	assert_int_equal(s.max, 1000);
	assert_true(fabs(s.mean - 500.5) < 1e-9);
	assert_int_equal(s.p50, 503);
	assert_int_equal(s.p90, 911);
	assert_int_equal(s.p99, 991);
	assert_int_equal(s.p999, 1000);
	free(h);
}

static void test_bimodal(void **st)
{
	(void)st;
	struct rt_hist *h = malloc(sizeof(*h));
	rt_hist_init(h);
	/* 900 samples at 20 (exact bucket), 100 at 5000 (bucket [4992, 5119]: width 128 above 4096). */
	for (int i = 0; i < 900; i++)
		rt_hist_record(h, 20);
	for (int i = 0; i < 100; i++)
		rt_hist_record(h, 5000);
	assert_int_equal(rt_hist_percentile(h, 50), 20);
	assert_int_equal(rt_hist_percentile(h, 90), 20);     /* rank 900: the last of the low mode */
	assert_int_equal(rt_hist_percentile(h, 90.1), 5000); /* rank 901: [4992, 5119] clamped to max 5000 */
	assert_int_equal(rt_hist_percentile(h, 99), 5000);
	free(h);
}

static void test_overflow(void **st)
{
	(void)st;
	struct rt_hist *h = malloc(sizeof(*h));
	rt_hist_init(h);
	rt_hist_record(h, 10);
	rt_hist_record(h, 1ULL << 40);
	rt_hist_record(h, (1ULL << 40) + 5);
	rt_hist_record(h, UINT64_MAX / 4);
	struct rt_hist_summary s;
	rt_hist_summarize(h, &s);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.overflow, 3);
	assert_int_equal(s.min, 10);
	assert_int_equal(s.max, UINT64_MAX / 4);
	assert_int_equal(rt_hist_percentile(h, 25), 10);             /* rank 1 */
	assert_int_equal(rt_hist_percentile(h, 50), UINT64_MAX / 4); /* rank 2 is an overflow: the max */
	free(h);
}

static void test_merge_equals_union(void **st)
{
	(void)st;
	struct rt_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *u = malloc(sizeof(*u)),
		       *m = malloc(sizeof(*m));
	rt_hist_init(a);
	rt_hist_init(b);
	rt_hist_init(u);
	rt_hist_init(m);
	uint64_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t v = (x >> 20) % (i % 7 == 0 ? (1ULL << 42) : 100000); /* some overflow */
		rt_hist_record(i % 3 ? a : b, v);
		rt_hist_record(u, v);
	}
	rt_hist_merge(m, a);
	rt_hist_merge(m, b);
	assert_int_equal(atomic_load(&m->count), atomic_load(&u->count));
	assert_int_equal(atomic_load(&m->sum), atomic_load(&u->sum));
	assert_int_equal(atomic_load(&m->min), atomic_load(&u->min));
	assert_int_equal(atomic_load(&m->max), atomic_load(&u->max));
	assert_int_equal(atomic_load(&m->overflow), atomic_load(&u->overflow));
	assert_true(atomic_load(&u->overflow) > 0);
	for (size_t i = 0; i < RT_HIST_BUCKETS; i++)
		assert_int_equal(atomic_load(&m->bucket[i]), atomic_load(&u->bucket[i]));
	/* Merging an empty histogram changes nothing (in particular not min). */
	struct rt_hist *e = malloc(sizeof(*e));
	rt_hist_init(e);
	rt_hist_merge(m, e);
	assert_int_equal(atomic_load(&m->min), atomic_load(&u->min));
	assert_int_equal(rt_hist_percentile(m, 99), rt_hist_percentile(u, 99));
	free(a);
	free(b);
	free(u);
	free(m);
	free(e);
}

/*
 * rt_hist_record_since (a batch's latencies, read from a field of each record) counts exactly as one rt_hist_record
 * per value: same buckets, count, sum, min, max and overflow, into an empty histogram and into one holding values.
 */
struct stamped {
	uint32_t pad;
	uint64_t stamp_ns;
	char more[20];
};

static void test_record_since_equals_one_by_one(void **st)
{
	(void)st;
	struct rt_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	enum { N = 500 };
	struct stamped *recs = calloc(N, sizeof(*recs));
	const uint64_t now = UINT64_C(1) << 50;
	uint64_t x = 12345, want_min = UINT64_MAX, want_max = 0, want_sum = 0, want_over = 0;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(recs);
	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		/* latencies from 0 to past 2^40 (overflow), the extremes included */
		uint64_t v = i == 0 ? 0 : i == 1 ? now : i == 2 ? (UINT64_C(1) << 40) - 1 : (x >> 33) << (x % 18);
		if (v > now)
			v = now;
		recs[i].stamp_ns = now - v;
		want_min = v < want_min ? v : want_min;
		want_max = v > want_max ? v : want_max;
		want_sum += v;
		want_over += v >= (UINT64_C(1) << RT_HIST_MAX_BITS);
	}
	for (int round = 0; round < 2; round++) {
		rt_hist_init(a);
		rt_hist_init(b);
		if (round) { /* both already hold values, a larger minimum and a smaller maximum than the batch's */
			rt_hist_record(a, 5000);
			rt_hist_record(b, 5000);
		}
		for (int i = 0; i < N; i++)
			rt_hist_record(a, now - recs[i].stamp_ns);
		rt_hist_record_since(b, now, &recs[0].stamp_ns, sizeof(recs[0]), N);
		rt_hist_record_since(b, now, &recs[0].stamp_ns, sizeof(recs[0]), 0); /* nothing */
		assert_int_equal(atomic_load(&b->count), N + round);
		assert_int_equal(atomic_load(&b->min), want_min);
		assert_int_equal(atomic_load(&b->max), want_max);
		assert_int_equal(atomic_load(&b->sum), want_sum + 5000u * (unsigned)round);
		assert_int_equal(atomic_load(&b->overflow), want_over);
		assert_true(want_over > 0);
		for (size_t k = 0; k < RT_HIST_BUCKETS; k++)
			assert_int_equal(atomic_load(&a->bucket[k]), atomic_load(&b->bucket[k]));
		assert_int_equal(atomic_load(&a->count), atomic_load(&b->count));
	}
	free(a);
	free(b);
	free(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_table), cmocka_unit_test(test_bucket_width),
		cmocka_unit_test(test_empty),        cmocka_unit_test(test_all_equal),
		cmocka_unit_test(test_uniform),      cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_overflow),     cmocka_unit_test(test_merge_equals_union),
		cmocka_unit_test(test_record_since_equals_one_by_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mt_pipeline.c - rt/pipeline: a three-stage program (source -> middle -> sink, plus a second ring from the
 * source straight to the sink) is assembled, started back to front, stopped front to back with every record
 * delivered, and a failure injected at each stage's init and at each stage's start is undone with nothing left
 * running and every initialised stage finished exactly once.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/pipeline.h"

#define RECORDS 100000

/* A global journal of lifecycle events, in order (the control thread and stage threads append). */
static _Atomic int journal_n;
static char journal[64][24];
static int fail_init_at = -1; /* stage index whose init fails */
static int finis[3];

static void note(const char *what, const char *stage)
{
	int i = atomic_fetch_add(&journal_n, 1);
	if (i < 64)
		snprintf(journal[i], sizeof(journal[i]), "%s %s", what, stage);
}

static int find_note(const char *text)
{
	int n = atomic_load(&journal_n);
	for (int i = 0; i < n && i < 64; i++)
		if (strcmp(journal[i], text) == 0)
			return i;
	return -1;
}

struct fake {
	const char *name;
	int index;
	struct rt_stage_env env;
	_Atomic uint64_t got[2]; /* records received per input (read by the test while the stage runs) */
	uint64_t order_errors;
};

static int fake_init(void *self, const struct rt_stage_env *env, int index, const char *name)
{
	struct fake *f = self;
	f->name = name;
	f->index = index;
	f->env = *env;
	note("init", name);
	return index == fail_init_at ? -EIO : 0;
}

static void fake_fini(void *self)
{
	struct fake *f = self;
	finis[f->index]++;
	note("fini", f->name);
}

static void close_outputs(struct fake *f)
{
	for (size_t o = 0; o < f->env.n_out; o++)
		ring_close(f->env.out[o]);
}

static bool never_ready(void *arg)
{
	(void)arg;
	return false;
}

/* Source: RECORDS numbers into each output, then waits for the stop flag (like a device that goes quiet). */
static void *src_thread(void *self)
{
	struct fake *f = self;
	note("start", f->name);
	for (uint64_t i = 1; i <= RECORDS; i++)
		for (size_t o = 0; o < f->env.n_out; o++)
			if (ring_push_all(f->env.out[o], &i, 1, 60 * RT_NS_PER_SEC) != 1)
				f->order_errors++;
	/* Only the stop (the flag, and the kick that ends this wait) ends a source. */
	while (!rt_stop_requested(f->env.stop))
		(void)rt_waiter_wait(f->env.waiter, never_ready, NULL, -1);
	note("end", f->name); /* before closing: the next stage can only end after this */
	close_outputs(f);
	return NULL;
}

/* Middle and sink: drain every input (checking order per input), forward input 0 to output 0. */
static bool any_ready(void *arg)
{
	struct fake *f = arg;
	for (size_t i = 0; i < f->env.n_in; i++)
		if (ring_ready(f->env.in[i]))
			return true;
	return false;
}

static void *relay_thread(void *self)
{
	struct fake *f = self;
	note("start", f->name);
	for (;;) {
		bool drained = true, got = false;
		for (size_t i = 0; i < f->env.n_in; i++) {
			uint64_t v;
			while (ring_pop(f->env.in[i], &v)) {
				got = true;
				if (v != f->got[i] + 1)
					f->order_errors++;
				f->got[i]++;
				if (i == 0 && f->env.n_out)
					ring_push_all(f->env.out[0], &v, 1, 60 * RT_NS_PER_SEC);
			}
			drained &= ring_is_drained(f->env.in[i]);
		}
		if (drained)
			break;
		if (!got)
			(void)rt_waiter_wait(f->env.waiter, any_ready, f, 100 * RT_NS_PER_MS);
	}
	note("end", f->name); /* before closing: the next stage can only end after this */
	close_outputs(f);
	return NULL;
}

static int src_init(void *s, const struct rt_stage_env *e) { return fake_init(s, e, 0, "src"); }
static int mid_init(void *s, const struct rt_stage_env *e) { return fake_init(s, e, 1, "mid"); }
static int sink_init(void *s, const struct rt_stage_env *e) { return fake_init(s, e, 2, "sink"); }

static const struct rt_stage_desc src_desc = {
	.name = "src", .size = sizeof(struct fake), .init = src_init, .thread = src_thread, .fini = fake_fini};
static const struct rt_stage_desc mid_desc = {
	.name = "mid", .size = sizeof(struct fake), .init = mid_init, .thread = relay_thread, .fini = fake_fini};
static const struct rt_stage_desc sink_desc = {
	.name = "sink", .size = sizeof(struct fake), .init = sink_init, .thread = relay_thread, .fini = fake_fini};
static const struct rt_stage_desc *const stages[] = {&src_desc, &mid_desc, &sink_desc};
static const struct rt_ring_desc rings[] = {
	{.from = "src", .to = "mid", .rec_size = sizeof(uint64_t)},
	{.from = "mid", .to = "sink", .rec_size = sizeof(uint64_t)},
	{.from = "src", .to = "sink", .rec_size = sizeof(uint64_t), .capacity = 64},
};

static int reset(void **st)
{
	(void)st;
	atomic_store(&journal_n, 0);
	memset(journal, 0, sizeof(journal));
	memset(finis, 0, sizeof(finis));
	fail_init_at = -1;
	return 0;
}

static struct rt_pipeline *make(void)
{
	struct rt_pipeline *p;
	assert_int_equal(rt_pipeline_create(&p, stages, 3, rings, 3), 0);
	return p;
}

static struct rt_pipeline_conf small_conf(void)
{
	struct rt_pipeline_conf c;
	rt_pipeline_conf_init(&c);
	c.ring_records = 1024; /* smaller than RECORDS: back-pressure is exercised */
	return c;
}

static void test_run_and_drain(void **st)
{
	(void)st;
	struct rt_pipeline *p = make();
	struct rt_pipeline_conf c = small_conf();
	assert_int_equal(rt_pipeline_init(p, &c, NULL), 0);
	/* Every ring and stage object is cache-line aligned (rt/ring.h's requirement). */
	for (size_t r = 0; r < rt_pipeline_ring_count(p); r++)
		assert_int_equal((uintptr_t)rt_pipeline_ring(p, r) % RT_CACHE_LINE, 0);
	assert_int_equal((uintptr_t)rt_pipeline_stage(p, 1) % RT_CACHE_LINE, 0);
	assert_int_equal(ring_capacity(rt_pipeline_ring(p, 2)), 64);
	assert_int_equal(ring_capacity(rt_pipeline_ring(p, 0)), 1024);
	struct fake *sink = rt_pipeline_stage(p, rt_pipeline_find(p, "sink"));
	assert_int_equal(sink->env.n_in, 2);
	assert_int_equal(rt_pipeline_start(p), 0);
	/* Threads are created back to front; their first notes may still race, so the order checked is the stop's. */
	while (sink->got[0] < RECORDS || sink->got[1] < RECORDS)
		rt_sleep_ns(RT_NS_PER_MS);
	rt_pipeline_stop(p);
	/* Front to back: src ended before mid, mid before sink. */
	assert_true(find_note("end src") >= 0);
	assert_true(find_note("end src") < find_note("end mid"));
	assert_true(find_note("end mid") < find_note("end sink"));
	assert_int_equal(sink->got[0], RECORDS);
	assert_int_equal(sink->got[1], RECORDS);
	assert_int_equal(sink->order_errors, 0);
	assert_int_equal(((struct fake *)rt_pipeline_stage(p, 0))->order_errors, 0);
	for (int i = 0; i < 3; i++)
		assert_false(rt_pipeline_running(p, i));
	rt_pipeline_stop(p); /* idempotent */
	rt_pipeline_destroy(p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(finis[i], 1);
	/* Inits front to back, finis back to front. */
	assert_true(find_note("init src") < find_note("init mid") && find_note("init mid") < find_note("init sink"));
	assert_true(find_note("fini sink") < find_note("fini mid") && find_note("fini mid") < find_note("fini src"));
}

static void test_init_failure_undone(void **st)
{
	for (int k = 0; k < 3; k++) {
		reset(st);
		fail_init_at = k;
		struct rt_pipeline *p = make();
		struct rt_pipeline_conf c = small_conf();
		assert_int_equal(rt_pipeline_init(p, &c, NULL), -EIO);
		/* Every stage initialised so far (the failing one included) was finished once, nothing else was. */
		for (int i = 0; i < 3; i++)
			assert_int_equal(finis[i], i <= k ? 1 : 0);
		assert_int_equal(rt_pipeline_start(p), -EINVAL); /* cannot start a pipeline whose init failed */
		rt_pipeline_destroy(p);
		for (int i = 0; i < 3; i++)
			assert_int_equal(finis[i], i <= k ? 1 : 0);
		assert_int_equal(find_note("start src"), -1);
	}
}

static void test_start_failure_undone(void **st)
{
	for (int k = 0; k < 3; k++) {
		reset(st);
		struct rt_pipeline *p = make();
		struct rt_pipeline_conf c = small_conf();
		/* An impossible scheduling request makes stage k's thread start fail (rt_thread_start: -EINVAL). */
		rt_pipeline_sched(p, k)->policy = SCHED_FIFO;
		rt_pipeline_sched(p, k)->priority = 1000;
		assert_int_equal(rt_pipeline_init(p, &c, NULL), 0);
		assert_int_equal(rt_pipeline_start(p), -EINVAL);
		/* Nothing is left running; the stages after k (started first) drained and ended. */
		for (int i = 0; i < 3; i++)
			assert_false(rt_pipeline_running(p, i));
		for (int i = 0; i < 3; i++) {
			char s[24];
			snprintf(s, sizeof(s), "start %s", stages[i]->name);
			if ((i > k) != (find_note(s) >= 0))
				fail_msg("failure at stage %d: '%s' %s", k, s, i > k ? "missing" : "present");
		}
		rt_pipeline_destroy(p);
		for (int i = 0; i < 3; i++)
			assert_int_equal(finis[i], 1);
	}
}

/* A consumer that stops taking records while they wait is reported; one that keeps up, or has nothing, is not. */
static void test_stalled_ring_detected(void **st)
{
	(void)st;
	struct rt_pipeline *p = make();
	struct rt_pipeline_conf c = small_conf();
	assert_int_equal(rt_pipeline_init(p, &c, NULL), 0);
	struct ring *r = rt_pipeline_ring(p, 2); /* src -> sink, nobody running: we play both ends */
	uint64_t v = 1, out;
	assert_int_equal(rt_pipeline_stalled_ring(p), -1); /* first look: positions recorded */
	assert_int_equal(rt_pipeline_stalled_ring(p), -1); /* empty rings are not stalled */
	assert_true(ring_push(r, &v));
	assert_int_equal(rt_pipeline_stalled_ring(p), -1); /* records appeared since the last look: not yet */
	assert_int_equal(rt_pipeline_stalled_ring(p), 2);  /* they waited a whole period untouched */
	assert_true(ring_pop(r, &out));
	assert_int_equal(rt_pipeline_stalled_ring(p), -1); /* taken */
	assert_true(ring_push(r, &v));
	assert_true(ring_push(r, &v));
	assert_int_equal(rt_pipeline_stalled_ring(p), -1);
	assert_true(ring_pop(r, &out)); /* one of two taken: progress */
	assert_int_equal(rt_pipeline_stalled_ring(p), -1);
	rt_pipeline_destroy(p);
}

static void test_bad_declarations(void **st)
{
	(void)st;
	struct rt_pipeline *p;
	static const struct rt_ring_desc unknown[] = {{.from = "src", .to = "nowhere", .rec_size = 8}};
	static const struct rt_ring_desc self_loop[] = {{.from = "mid", .to = "mid", .rec_size = 8}};
	static const struct rt_stage_desc a = {.name = "a", .size = 8, .thread = relay_thread};
	static const struct rt_stage_desc *const dup[] = {&a, &a};
	assert_int_equal(rt_pipeline_create(&p, stages, 3, unknown, 1), -EINVAL);
	assert_null(p);
	assert_int_equal(rt_pipeline_create(&p, stages, 3, self_loop, 1), -EINVAL);
	assert_int_equal(rt_pipeline_create(&p, dup, 2, NULL, 0), -EINVAL);
	assert_int_equal(rt_pipeline_create(&p, stages, 0, NULL, 0), -EINVAL);
	/* provide / lookup */
	assert_int_equal(rt_pipeline_create(&p, stages, 3, rings, 3), 0);
	int x;
	assert_int_equal(rt_pipeline_provide(p, "thing", &x), 0);
	assert_int_equal(rt_pipeline_provide(p, "thing", &x), -EEXIST);
	assert_ptr_equal(rt_pipeline_lookup(p, "thing"), &x);
	assert_null(rt_pipeline_lookup(p, "other"));
	rt_pipeline_destroy(p); /* never initialised: no fini */
	for (int i = 0; i < 3; i++)
		assert_int_equal(finis[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_run_and_drain, reset),
		cmocka_unit_test_setup(test_init_failure_undone, reset),
		cmocka_unit_test_setup(test_start_failure_undone, reset),
		cmocka_unit_test_setup(test_bad_declarations, reset),
		cmocka_unit_test_setup(test_stalled_ring_detected, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

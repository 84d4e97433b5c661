/*
 * test_mt_rx_stuck_log.c - a stalled log (its consumer takes nothing, as behind a dead disk) must not starve decode:
 * can_rx on a real pseudo-terminal feeds two rings; the second one's consumer never reads.  can_rx waits for it once
 * (back-pressure, bounded), finds it stuck, and from then on drops what does not fit, counted, while every frame still
 * reaches the first ring.  Exact by construction: frames sent = frames on the first ring; frames on the second ring
 * + frames counted dropped = frames sent.  When the stalled consumer catches up, back-pressure returns.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "tests/support/testutil.h"

#define FRAMES 2000
#define LOG_CAP 64

struct counter {
	struct ring *in;
	_Atomic size_t n;
};

static void *count_records(void *arg)
{
	struct counter *c = arg;
	for (;;) {
		struct rx_record r;
		if (ring_pop(c->in, &r)) {
			atomic_fetch_add(&c->n, 1);
			continue;
		}
		if (ring_is_drained(c->in))
			break;
		ring_wait(c->in, 50 * RT_NS_PER_MS);
	}
	return NULL;
}

static void test_stuck_log_does_not_starve_decode(void **state)
{
	(void)state;
	char dir[256], link[300];
	struct test_pty p;
	struct rt_stop stop;
	struct can_rx *rx = test_zalloc_aligned(sizeof(*rx));
	struct ring *dec = test_zalloc_aligned(sizeof(*dec)), *log = test_zalloc_aligned(sizeof(*log));
	struct rt_waiter *rx_w = test_zalloc_aligned(sizeof(*rx_w)), *dec_w = test_zalloc_aligned(sizeof(*dec_w));
	struct counter c = {.in = dec};
	struct can_rx_conf conf;
	struct rt_thread t_rx, t_dec;
	struct rt_thread_conf tc;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "stucklog"), 0);
	snprintf(link, sizeof(link), "%s/tty", dir);
	rt_stop_init(&stop);
	assert_int_equal(rt_waiter_init(rx_w, RT_WAIT_EVENTFD, 0), 0);
	assert_int_equal(rt_waiter_init(dec_w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(dec, "can_rx->decode", sizeof(struct rx_record), 4096, dec_w), 0);
	assert_int_equal(ring_init(log, "can_rx->log", sizeof(struct rx_record), LOG_CAP, NULL), 0); /* nobody reads */
	can_rx_conf_init(&conf, link);
	conf.full_wait_ns = 50 * RT_NS_PER_MS;
	conf.read_interval_ns = 0;
	struct ring *outs[2] = {dec, log};
	assert_int_equal(can_rx_init(rx, &conf, outs, 2, rx_w, &stop), 0);
	assert_int_equal(test_pty_open(&p, link), 0);
	rt_thread_conf_init(&tc, "t-dec");
	assert_int_equal(rt_thread_start(&t_dec, &tc, count_records, &c), 0);
	rt_thread_conf_init(&tc, "t-rx");
	assert_int_equal(rt_thread_start(&t_rx, &tc, can_rx_thread, rx), 0);

	char *buf = malloc(FRAMES * 40), *q = buf;
	for (unsigned i = 0; i < FRAMES; i++)
		q += snprintf(q, 40, "SIM 155 8 07 %02X %02X 54 9B 38 00 73\r\n", i & 0xFF, (i >> 8) & 0xFF);
	assert_int_equal(test_pty_write_all(&p, buf, (size_t)(q - buf)), 0);
	free(buf);
	for (int i = 0; i < 30000 && atomic_load(&c.n) < FRAMES; i++)
		rt_sleep_ns(RT_NS_PER_MS);
	/* Every frame reached decode although the log took only LOG_CAP of them. */
	assert_int_equal(atomic_load(&c.n), FRAMES);
	assert_int_equal(ring_count(log), LOG_CAP);
	assert_int_equal(rt_counter_get(&rx->ctr.dropped[CAN_RX_DROP_RING_FULL]), FRAMES - LOG_CAP);
	assert_int_equal(rt_counter_get(&log->full_drops), FRAMES - LOG_CAP);
	assert_int_equal(atomic_load(&rx->stuck[1]), 1);

	/* The log catches up (drained below half): the next batch is waited for again, and it fits. */
	struct rx_record r;
	while (ring_pop(log, &r))
		;
	assert_int_equal(test_pty_write_all(&p, "SIM 155 8 01 97 CE 54 9B 38 00 73\r\n", 35), 0);
	for (int i = 0; i < 30000 && atomic_load(&c.n) < FRAMES + 1; i++)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_int_equal(atomic_load(&c.n), FRAMES + 1);
	assert_int_equal(ring_count(log), 1);
	assert_int_equal(atomic_load(&rx->stuck[1]), 0);
	assert_int_equal(rt_counter_get(&rx->ctr.dropped[CAN_RX_DROP_RING_FULL]), FRAMES - LOG_CAP);

	rt_stop_request(&stop);
	can_rx_wake(rx);
	rt_thread_join(&t_rx);
	rt_thread_join(&t_dec);
	test_pty_close(&p);
	can_rx_fini(rx);
	ring_fini(dec);
	ring_fini(log);
	rt_waiter_fini(rx_w);
	rt_waiter_fini(dec_w);
	free(rx);
	free(dec);
	free(log);
	free(rx_w);
	free(dec_w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stuck_log_does_not_starve_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

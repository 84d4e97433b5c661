/*
 * test_mt_rx_unplug.c - the receive and decode stages on a real pseudo-terminal: a stream, an unplug (the far end
 * closes), a re-plug on the same device path, another stream.  Nothing accepted is lost, sequence numbers stay
 * contiguous, the reader recovers by itself, and it burns no CPU while the device is absent.
 * Expected values come from the frames written and from the 0x155 formulas of ../shared/facts/twizy-can.md.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "vehicle/builtin_dbc.h"
#include "stages/decode/dbc.h"
#include "stages/decode/decode_stage.h"
#include "stages/decode/decoder.h"
#include "tests/support/testutil.h"

#define N1 3000
#define N2 3000
#define MAX_RECS (N1 + N2 + 16)

struct collector {
	struct ring *in;
	struct rx_record *recs;
	_Atomic size_t n;
};

static void *collect(void *arg)
{
	struct collector *c = arg;
	for (;;) {
		struct rx_record r;
		if (ring_pop(c->in, &r)) {
			size_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
			if (n < MAX_RECS)
				c->recs[n] = r;
			atomic_store_explicit(&c->n, n + 1, memory_order_release);
			continue;
		}
		if (ring_is_drained(c->in))
			break;
		ring_wait(c->in, 50 * RT_NS_PER_MS);
	}
	return NULL;
}

/* Line i of the stream: 0x155 with soc raw = 20000 + i (soc = raw / 400 %), current raw 2000 + i % 100. */
static size_t frame_line(char *buf, size_t size, unsigned i)
{
	unsigned cur = 2000 + i % 100, soc = 20000 + i;
	return (size_t)snprintf(buf, size, "SIM 155 8 07 %02X %02X 54 %02X %02X 00 %02X\r\n", (cur >> 8) & 0x0F,
				cur & 0xFF, soc >> 8, soc & 0xFF, i & 0xFF);
}

static void write_stream(struct test_pty *p, unsigned from, unsigned count)
{
	char *buf = malloc((size_t)count * 64), *q = buf;
	for (unsigned i = from; i < from + count; i++)
		q += frame_line(q, 64, i);
	assert_int_equal(test_pty_write_all(p, buf, (size_t)(q - buf)), 0);
	free(buf);
}

static int wait_for(_Atomic size_t *n, size_t want, int timeout_ms)
{
	int64_t end = test_now_ms() + timeout_ms;
	while (atomic_load_explicit(n, memory_order_acquire) < want) {
		if (test_now_ms() > end)
			return -1;
		test_sleep_ms(10);
	}
	return 0;
}

static uint64_t thread_cpu_ns(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;
	if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_unplug_replug_loses_nothing(void **state)
{
	char dir[256], link[300];
	struct test_pty p;
	struct ring rx_ring, out_ring;
	struct rt_waiter dec_waiter, col_waiter;
	struct rt_stop stop;
	struct can_rx *rx = test_zalloc_aligned(sizeof(*rx));
	struct decode_stage *dec = test_zalloc_aligned(sizeof(*dec));
	struct collector col = {.recs = calloc(MAX_RECS, sizeof(struct rx_record))};
	struct can_rx_conf conf;
	struct decoder *decoder;
	struct dbc dbc;
	struct dbc_error err;
	struct rt_thread t_rx, t_dec, t_col;
	struct rt_thread_conf tc;
	(void)state;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "unplug"), 0);
	snprintf(link, sizeof(link), "%s/ttyESP32", dir);
	assert_int_equal(dbc_parse(&dbc, twizy_dbc_text, twizy_dbc_len, &err), 0);
	assert_int_equal(decoder_create(&decoder, &dbc), 0);
	dbc_fini(&dbc);
	rt_stop_init(&stop);
	rt_waiter_init(&dec_waiter, RT_WAIT_HYBRID, 20000);
	rt_waiter_init(&col_waiter, RT_WAIT_SLEEP, 0);
	assert_int_equal(ring_init(&rx_ring, "rx", sizeof(struct rx_record), 4096, &dec_waiter), 0);
	assert_int_equal(ring_init(&out_ring, "out", sizeof(struct rx_record), 4096, &col_waiter), 0);
	col.in = &out_ring;
	can_rx_conf_init(&conf, link);
	struct rt_waiter rx_waiter;
	struct ring *outs[1] = {&rx_ring};
	assert_int_equal(rt_waiter_init(&rx_waiter, RT_WAIT_EVENTFD, 0), 0);
	assert_int_equal(can_rx_init(rx, &conf, outs, 1, &rx_waiter, &stop), 0);
	assert_int_equal(decode_stage_init(dec, decoder, &rx_ring, &dec_waiter, &out_ring), 0);

	/* plugged in before the reader starts */
	assert_int_equal(test_pty_open(&p, link), 0);
	rt_thread_conf_init(&tc, "t-collect");
	assert_int_equal(rt_thread_start(&t_col, &tc, collect, &col), 0);
	rt_thread_conf_init(&tc, "t-decode");
	assert_int_equal(rt_thread_start(&t_dec, &tc, decode_stage_thread, dec), 0);
	rt_thread_conf_init(&tc, "t-can-rx");
	assert_int_equal(rt_thread_start(&t_rx, &tc, can_rx_thread, rx), 0);

	write_stream(&p, 0, N1);
	assert_int_equal(test_pty_wait_drained(&p, 20000), 0);
	assert_int_equal(wait_for(&col.n, N1, 20000), 0);

	/* unplug: the far end closes and the device node disappears */
	test_pty_close(&p);
	test_sleep_ms(300);
	uint64_t cpu0 = thread_cpu_ns(t_rx.tid);
	test_sleep_ms(2000);
	uint64_t cpu1 = thread_cpu_ns(t_rx.tid);
	assert_int_equal(atomic_load(&rx->link_up), 0);
	/* Retrying every 500 ms costs microseconds; a spinning reader would burn the whole 2 s. */
	print_message("can_rx CPU while the device was absent for 2 s: %llu us\n",
		      (unsigned long long)((cpu1 - cpu0) / 1000));
	assert_true(cpu1 - cpu0 < 50ull * 1000 * 1000);
	assert_true(rt_counter_get(&rx->open_failures) >= 2);

	/* re-plug at the same path; the reader finds it within its retry period */
	assert_int_equal(test_pty_open(&p, link), 0);
	int64_t end = test_now_ms() + 5000;
	while (!atomic_load(&rx->link_up) && test_now_ms() < end)
		test_sleep_ms(10);
	assert_int_equal(atomic_load(&rx->link_up), 1);
	write_stream(&p, N1, N2);
	assert_int_equal(test_pty_wait_drained(&p, 20000), 0);
	assert_int_equal(wait_for(&col.n, N1 + N2, 20000), 0);

	rt_stop_request(&stop);
	can_rx_wake(rx);
	rt_thread_join(&t_rx);
	rt_thread_join(&t_dec);
	rt_thread_join(&t_col);

	/* every frame, once, in order, sequence numbers contiguous across the unplug */
	assert_int_equal(atomic_load(&col.n), N1 + N2);
	for (unsigned i = 0; i < N1 + N2; i++) {
		const struct rx_record *r = &col.recs[i];
		unsigned soc = 20000 + i;
		assert_int_equal(r->type, REC_CAN);
		assert_int_equal(r->seq, i + 1);
		assert_int_equal(r->u.can.id, 0x155);
		assert_int_equal(r->u.can.data[4], soc >> 8);
		assert_int_equal(r->u.can.data[5], soc & 0xFF);
		assert_int_equal(r->u.can.data[7], i & 0xFF);
		assert_true(r->rx_mono_ns > 0 && r->rx_real_ns > 0);
		if (i)
			assert_true(r->rx_mono_ns >= col.recs[i - 1].rx_mono_ns);
	}
	assert_int_equal(rt_counter_get(&rx->opens), 2);
	assert_true(rt_counter_get(&rx->hangups) >= 1);
	assert_int_equal(rt_counters_dropped_total(&rx->ctr), 0);

	/* the published state holds the last frame's values: soc raw 20000 + 5999 = 25999 -> 64.9975 %,
	 * current raw 2000 + 5999 % 100 = 2099 -> (2099 - 2000) / 4 = 24.75 A */
	rcu_register_thread();
	rcu_read_lock();
	const struct vstate *vs = rcu_pub_read(&dec->pub);
	assert_int_equal(vs->frames, N1 + N2);
	assert_true(vs->t_real_ns[SIG_SOC] != 0);
	assert_true(vs->value[SIG_SOC] == 25999.0 / 400.0);
	assert_true(vs->value[SIG_CURRENT] == 24.75);
	rcu_read_unlock();
	rcu_unregister_thread();

	test_pty_close(&p);
	decode_stage_fini(dec);
	can_rx_fini(rx);
	rt_waiter_fini(&rx_waiter);
	ring_fini(&rx_ring);
	ring_fini(&out_ring);
	decoder_destroy(decoder);
	free(rx);
	free(dec);
	free(col.recs);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unplug_replug_loses_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

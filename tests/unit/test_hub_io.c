/*
 * test_hub_io.c - the hub_io stage thread on a real pseudo-terminal: frames in, records out; own Items out as legacy
 * frames (AA 55 + the 88-byte layout of ../shared/facts/legacy-system.md); an unplug (the far end closes and the
 * node disappears) is detected, queued Items are dropped and counted while the device is absent, the thread burns
 * no CPU meanwhile, and a re-plug on the same path resumes both directions.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/hub_io/hub_io.h"
#include "tests/support/testutil.h"

struct fixture {
	struct ring out, in;           /* hub_io -> test, test -> hub_io */
	struct rt_waiter w_hub, w_test;
	struct rt_stop stop;
	struct hub_io *hub;
	struct rt_thread t;
	struct test_pty p;
	char dir[200], link[240];
};

static uint64_t thread_cpu_ns(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;

	if (pthread_getcpuclockid(t, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A vehicle frame from the facts layout: soc 66, mac 24:6F:28:00:00:07, lat 48.0 (0x42400000), gear "Dri". */
static void vehicle_frame(uint8_t f[90])
{
	memset(f, 0, 90);
	f[0] = 0xAA;
	f[1] = 0x55;
	f[2 + 0] = 66;
	memcpy(f + 2 + 28, "Dri", 4);
	f[2 + 36 + 2] = 0x40;
	f[2 + 36 + 3] = 0x42;
	f[2 + 57] = 0x24;
	f[2 + 58] = 0x6F;
	f[2 + 59] = 0x28;
	f[2 + 62] = 0x07;
}

static int pop_wait(struct ring *r, struct hub_rx_rec *rec, int ms)
{
	int64_t end = test_now_ms() + ms;

	while (!ring_pop(r, rec)) {
		if (test_now_ms() > end)
			return -1;
		test_sleep_ms(5);
	}
	return 0;
}

/* Reads exactly n bytes from the master within ms. */
static int read_n(int fd, uint8_t *buf, size_t n, int ms)
{
	int64_t end = test_now_ms() + ms;
	size_t got = 0;

	while (got < n && test_now_ms() < end) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (poll(&pf, 1, 20) <= 0)
			continue;
		ssize_t k = read(fd, buf + got, n - got);
		if (k > 0)
			got += (size_t)k;
	}
	return got == n ? 0 : -1;
}

static void push_item(struct fixture *fx, uint8_t soc)
{
	struct hub_tx_rec t;

	memset(&t, 0, sizeof(t));
	t.kind = HUB_TX_ITEM;
	t.item.soc = soc;
	memcpy(t.item.gear, "Neu", 4);
	assert_true(ring_push(&fx->in, &t));
}

static void test_io_unplug_replug(void **state)
{
	struct fixture *fx = test_zalloc_aligned(sizeof(*fx));
	struct hub_io_conf c;
	struct rt_thread_conf tc;
	struct hub_rx_rec rec;
	uint8_t f[90], got[90];

	assert_int_equal(test_mkdtemp(fx->dir, sizeof(fx->dir), "hubio"), 0);
	snprintf(fx->link, sizeof(fx->link), "%s/ttyHUB", fx->dir);
	rt_stop_init(&fx->stop);
	assert_int_equal(rt_waiter_init(&fx->w_hub, RT_WAIT_EVENTFD, 0), 0);
	assert_int_equal(rt_waiter_init(&fx->w_test, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(&fx->out, "hub>test", sizeof(struct hub_rx_rec), 64, &fx->w_test), 0);
	assert_int_equal(ring_init(&fx->in, "test>hub", sizeof(struct hub_tx_rec), 64, &fx->w_hub), 0);
	fx->hub = test_zalloc_aligned(sizeof(*fx->hub));
	hub_io_conf_init(&c);
	snprintf(c.dev_path, sizeof(c.dev_path), "%s", fx->link);
	c.reopen_ns = 100 * RT_NS_PER_MS;
	assert_int_equal(hub_io_init(fx->hub, &c, &fx->out, &fx->in, &fx->w_hub, &fx->stop), 0);
	/* wrong record sizes are refused */
	{
		struct hub_io *bad = test_zalloc_aligned(sizeof(*bad));
		assert_int_equal(hub_io_init(bad, &c, &fx->in, &fx->out, &fx->w_hub, &fx->stop), -EINVAL);
		free(bad);
	}

	assert_int_equal(test_pty_open(&fx->p, fx->link), 0);
	rt_thread_conf_init(&tc, "t-hub");
	assert_int_equal(rt_thread_start(&fx->t, &tc, hub_io_thread, fx->hub), 0);

	/* in: one frame -> one record */
	vehicle_frame(f);
	assert_int_equal(test_pty_write_all(&fx->p, f, 90), 0);
	assert_int_equal(pop_wait(&fx->out, &rec, 5000), 0);
	assert_int_equal(rec.kind, HUB_RX_ITEM);
	assert_int_equal(rec.item.soc, 66);
	assert_int_equal(rec.link_seq, 1);
	assert_true(rec.item.gps_latitude == 48.0f);
	assert_true(rec.rx_mono_ns > 0 && rec.rx_real_ns > 0);
	/* out: an own Item -> AA 55 + 88 bytes, soc at offset 0, gear at 28 */
	push_item(fx, 55);
	assert_int_equal(read_n(fx->p.master, got, 90, 5000), 0);
	assert_int_equal(got[0], 0xAA);
	assert_int_equal(got[1], 0x55);
	assert_int_equal(got[2], 55);
	assert_int_equal(got[3], 0);
	assert_memory_equal(got + 2 + 28, "Neu", 4);

	/* unplug */
	test_pty_close(&fx->p);
	int64_t end = test_now_ms() + 5000;
	while (atomic_load(&fx->hub->link_up) && test_now_ms() < end)
		test_sleep_ms(10);
	assert_int_equal(atomic_load(&fx->hub->link_up), 0);
	push_item(fx, 1); /* nothing to send to: dropped, counted */
	end = test_now_ms() + 5000;
	while (rt_counter_get(&fx->hub->ctr.dropped[HUB_REJ__COUNT + HUB_IO_DROP_TX_DOWN]) == 0 && test_now_ms() < end)
		test_sleep_ms(10);
	assert_true(rt_counter_get(&fx->hub->ctr.dropped[HUB_REJ__COUNT + HUB_IO_DROP_TX_DOWN]) >= 1);
	uint64_t cpu0 = thread_cpu_ns(fx->t.tid);
	test_sleep_ms(1000);
	uint64_t cpu1 = thread_cpu_ns(fx->t.tid);
	print_message("hub_io CPU while the device was absent for 1 s: %llu us\n",
		      (unsigned long long)((cpu1 - cpu0) / 1000));
	assert_true(cpu1 - cpu0 < 50ull * 1000 * 1000); /* retries every 100 ms cost microseconds */
	assert_true(rt_counter_get(&fx->hub->open_failures) >= 2);

	/* re-plug on the same path: both directions again */
	assert_int_equal(test_pty_open(&fx->p, fx->link), 0);
	end = test_now_ms() + 5000;
	while (!atomic_load(&fx->hub->link_up) && test_now_ms() < end)
		test_sleep_ms(10);
	assert_int_equal(atomic_load(&fx->hub->link_up), 1);
	assert_int_equal(test_pty_write_all(&fx->p, f, 90), 0);
	assert_int_equal(pop_wait(&fx->out, &rec, 5000), 0);
	assert_int_equal(rec.link_seq, 2);
	push_item(fx, 77);
	assert_int_equal(read_n(fx->p.master, got, 90, 5000), 0);
	assert_int_equal(got[2], 77);
	assert_int_equal(rt_counter_get(&fx->hub->opens), 2);

	rt_stop_request(&fx->stop);
	rt_waiter_kick(&fx->w_hub);
	assert_int_equal(rt_thread_join(&fx->t), 0);
	assert_true(ring_is_drained(&fx->out)); /* closed by the stage at its stop */
	test_pty_close(&fx->p);
	hub_io_fini(fx->hub);
	rt_waiter_fini(&fx->w_hub);
	rt_waiter_fini(&fx->w_test);
	ring_fini(&fx->out);
	ring_fini(&fx->in);
	test_rmtree(fx->dir);
	free(fx->hub);
	free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_unplug_replug),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_can_rx_moderation - the receive stage's read moderation (can_rx_moderation_ns, stages/can_rx/can_rx.h): the
 * configured interval while the line is slow, a sleep that lets about CAN_RX_MODERATION_BYTES gather for a fast
 * writer.  Expected values are the arithmetic of that rule: sleep = 2048 bytes / (cycle bytes / cycle time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "stages/can_rx/can_rx.h"

#define MS 1000000ull

static void test_slow_line_keeps_interval(void **state)
{
	(void)state;
	/* bus rate, v2 batches: about 200 bytes per 2 ms cycle; legacy lines at 115,200 baud: tens */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 200, 2 * MS), 2 * MS);
	assert_int_equal(can_rx_moderation_ns(2 * MS, 34, 2 * MS), 2 * MS);
	/* nothing read, or a cycle after a long quiet spell */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 0, 0), 2 * MS);
	assert_int_equal(can_rx_moderation_ns(2 * MS, 300, 5000 * MS), 2 * MS);
	/* exactly 2048 bytes per interval is still slow enough */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 2048, 2 * MS), 2 * MS);
}

static void test_fast_writer_sleeps_less(void **state)
{
	(void)state;
	/* 14,000 bytes in 2 ms (7 MB/s): 2048 bytes gather in 2048 * 2 ms / 14000 = 292,571 ns */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 14000, 2 * MS), 292571);
	/* 4096 bytes in 2 ms: half the interval */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 4096, 2 * MS), 1 * MS);
	/* a cycle of zero length with bytes (a burst read at once): no sleep */
	assert_int_equal(can_rx_moderation_ns(2 * MS, 4095, 0), 0);
	/* never longer than the interval, whatever the interval */
	assert_int_equal(can_rx_moderation_ns(10 * MS, 65536, 1 * MS), 2048ull * MS / 65536);
	/* large values do not overflow: 2^40 bytes over 2^50 ns */
	assert_int_equal(can_rx_moderation_ns(UINT64_MAX, 1ull << 40, 1ull << 50), (2048ull << 50) >> 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_line_keeps_interval),
		cmocka_unit_test(test_fast_writer_sleeps_less),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_candump.c - `candump -l` log lines (stages/can_rx/candump.h), the format of can-utils' candump/canplayer:
 * "(<sec>.<usec>) <iface> <id>#<data>", 3-digit ids 11-bit, 8-digit ids 29-bit, "#R" remote, "##" CAN FD.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stages/can_rx/candump.h"

static int parse(const char *s, struct can_frame_data *f, int64_t *ns)
{
	memset(f, 0xAA, sizeof(*f));
	*ns = -1;
	return candump_parse(s, strlen(s), f, ns);
}

static void test_standard(void **state)
{
	struct can_frame_data f;
	int64_t ns;
	static const uint8_t want[8] = {0x05, 0x96, 0xE7, 0x54, 0x6D, 0x58, 0x00, 0x6F};

	assert_int_equal(parse("(1436509052.249713) can0 155#0596E7546D58006F", &f, &ns), 0);
	assert_int_equal(f.id, 0x155);
	assert_int_equal(f.dlc, 8);
	assert_memory_equal(f.data, want, 8);
	assert_true(ns == INT64_C(1436509052249713000));
}

static void test_short_and_empty(void **state)
{
	struct can_frame_data f;
	int64_t ns;
	static const uint8_t want[8] = {0xDE, 0xAD, 0, 0, 0, 0, 0, 0};

	assert_int_equal(parse("(0.000001) vcan0 7FF#dead", &f, &ns), 0); /* lower-case hex too */
	assert_int_equal(f.id, 0x7FF);
	assert_int_equal(f.dlc, 2);
	assert_memory_equal(f.data, want, 8);
	assert_true(ns == 1000);
	assert_int_equal(parse("(1.000000) can1 000#", &f, &ns), 0);
	assert_int_equal(f.id, 0);
	assert_int_equal(f.dlc, 0);
	assert_true(ns == INT64_C(1000000000));
}

static void test_extended(void **state)
{
	struct can_frame_data f;
	int64_t ns;

	assert_int_equal(parse("(1436509052.249713) can0 12345678#11223344", &f, &ns), 0);
	assert_int_equal(f.id, 0x12345678u | CAN_EFF_FLAG);
	assert_int_equal(f.dlc, 4);
	/* An 8-digit id below 0x800 is still extended: the digit count decides. */
	assert_int_equal(parse("(1436509052.249713) can0 00000155#11", &f, &ns), 0);
	assert_int_equal(f.id, 0x155u | CAN_EFF_FLAG);
	assert_int_equal(parse("(1436509052.249713) can0 1FFFFFFF#", &f, &ns), 0);
	assert_int_equal(f.id, 0x1FFFFFFFu | CAN_EFF_FLAG);
}

static void test_remote(void **state)
{
	struct can_frame_data f;
	int64_t ns;
	static const uint8_t zero[8] = {0};

	assert_int_equal(parse("(1436509052.249713) can0 123#R", &f, &ns), 0);
	assert_int_equal(f.id, 0x123u | CAN_RTR_FLAG);
	assert_int_equal(f.dlc, 0);
	assert_memory_equal(f.data, zero, 8);
	assert_int_equal(parse("(1436509052.249713) can0 123#R4", &f, &ns), 0);
	assert_int_equal(f.dlc, 4);
	assert_memory_equal(f.data, zero, 8);
	assert_int_equal(parse("(1436509052.249713) can0 12345678#R8", &f, &ns), 0);
	assert_int_equal(f.id, 0x12345678u | CAN_EFF_FLAG | CAN_RTR_FLAG);
	assert_int_equal(f.dlc, 8);
}

static void test_direction_suffix(void **state)
{
	struct can_frame_data f;
	int64_t ns;

	assert_int_equal(parse("(1436509052.249713) can0 155#0596 R", &f, &ns), 0);
	assert_int_equal(f.dlc, 2);
	assert_int_equal(f.data[1], 0x96);
	assert_int_equal(parse("(1436509052.249713) can0 155#0596 T", &f, &ns), 0);
	assert_int_equal(f.dlc, 2);
	assert_int_equal(parse("(1436509052.249713) can0 123#R T", &f, &ns), 0);
	assert_int_equal(f.id, 0x123u | CAN_RTR_FLAG);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"(1436509052.249713) can0 800#00",                  /* 3-digit id above 0x7FF */
		"(1436509052.249713) can0 20000080#0000000000000000", /* error frame */
		"(1436509052.249713) can0 15#00",                   /* 2-digit id */
		"(1436509052.249713) can0 1555#00",                 /* 4-digit id */
		"(1436509052.249713) can0 155#0",                   /* odd data */
		"(1436509052.249713) can0 155#001122334455667788",  /* 9 bytes */
		"(1436509052.249713) can0 155#0G",                  /* not hex */
		"(1436509052.249713) can0 123#R9",                  /* remote dlc 9 */
		"(1436509052.24971) can0 155#00",                   /* 5-digit usec */
		"(1436509052) can0 155#00",                          /* no fraction */
		"1436509052.249713 can0 155#00",                     /* no parenthesis */
		"(1436509052.249713)can0 155#00",                   /* no space */
		"(1436509052.249713) can0 155",                     /* no '#' */
		"(1436509052.249713)  155#00",                      /* no interface */
		"(1436509052.249713) averyveryverylongifname 155#00",
		"(99999999999.000000) can0 155#00", /* seconds overflow */
		"(1436509052.249713) can0 155#00 X",
		"",
	};
	struct can_frame_data f;
	int64_t ns;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &f, &ns) != -EINVAL)
			fail_msg("accepted or wrong error: '%s'", bad[i]);
	/* CAN FD is recognised and refused with its own code. */
	assert_int_equal(parse("(1436509052.249713) can0 155##10011223344556677", &f, &ns), -EPROTONOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard),     cmocka_unit_test(test_short_and_empty),
		cmocka_unit_test(test_extended),     cmocka_unit_test(test_remote),
		cmocka_unit_test(test_direction_suffix), cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

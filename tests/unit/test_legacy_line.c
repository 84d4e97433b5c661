/*
 * test_legacy_line.c - legacy `SIM` lines (facts/legacy-system.md, link 1): the fast path for the firmware's own
 * layout (single spaces, 3- or 8-digit ids) decodes exactly what the general path decodes from the same line with
 * extra spaces, for standard, extended and remote frames and every DLC; bytes at or past the DLC are zero; a standard
 * id with more digits than it allows is refused with -ERANGE on both paths.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stages/can_rx/legacy_line.h"

/* The same frame written in the firmware's layout and with doubled spaces (which only the general path reads). */
static void both_layouts(const char *id, unsigned dlc, const uint8_t *b, char *fast, char *slow, size_t size)
{
	snprintf(fast, size, "SIM %s %u %02X %02X %02X %02X %02X %02X %02X %02X", id, dlc, b[0], b[1], b[2], b[3], b[4],
		 b[5], b[6], b[7]);
	snprintf(slow, size, "SIM  %s  %u  %02X  %02X %02X %02X %02X %02X %02X  %02X ", id, dlc, b[0], b[1], b[2], b[3],
		 b[4], b[5], b[6], b[7]);
}

static void test_fast_path_equals_general_path(void **state)
{
	(void)state;
	static const struct {
		const char *id;
		int rc;
		uint32_t want_id;
	} ids[] = {
		{"155", 0, 0x155},
		{"7FF", 0, 0x7FF},
		{"000", 0, 0x000},
		{"800", -ERANGE, 0},                         /* 3 digits, above a standard id */
		{"98FF50E5", 0, 0x18FF50E5 | CAN_EFF_FLAG},  /* extended: the firmware's flag bit */
		{"40000155", 0, 0x155 | CAN_RTR_FLAG},       /* remote */
		{"00000155", 0, 0x155},                      /* 8 digits, no flag, a standard id */
		{"00001558", -ERANGE, 0},                    /* 8 digits, no flag, too big for a standard id */
	};
	unsigned cases = 0;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		for (unsigned dlc = 0; dlc <= 8; dlc++) {
			uint8_t b[8];
			for (int k = 0; k < 8; k++)
				b[k] = (uint8_t)(0x9B + 0x37 * k + dlc);
			char fast[96], slow[96];
			both_layouts(ids[i].id, dlc, b, fast, slow, sizeof(fast));
			struct can_frame_data f1, f2;
			memset(&f1, 0xAA, sizeof(f1));
			memset(&f2, 0x55, sizeof(f2));
			int rc1 = legacy_sim_parse(fast, strlen(fast), &f1);
			int rc2 = legacy_sim_parse(slow, strlen(slow), &f2);
			assert_int_equal(rc1, ids[i].rc);
			assert_int_equal(rc2, ids[i].rc);
			if (rc1 == 0) {
				assert_int_equal(f1.id, ids[i].want_id);
				assert_int_equal(f1.dlc, dlc);
				int remote = (ids[i].want_id & CAN_RTR_FLAG) != 0;
				for (unsigned k = 0; k < 8; k++)
					assert_int_equal(f1.data[k], k < dlc && !remote ? b[k] : 0);
				assert_int_equal(f2.id, f1.id);
				assert_int_equal(f2.dlc, f1.dlc);
				assert_memory_equal(f2.data, f1.data, 8);
			}
			cases++;
		}
	}
	assert_int_equal(cases, 8 * 9);
}

static void test_broken_layouts_refused(void **state)
{
	(void)state;
	static const char *bad[] = {
		"SIM 155 9 01 97 CE 54 9B 38 00 73", /* DLC above 8 */
		"SIM 155 8 01 97 CE 54 9B 38 00 7",  /* a byte cut short */
		"SIM 155 8 01 97 CE 54 9B 38 00",    /* seven bytes */
		"SIM 1G5 8 01 97 CE 54 9B 38 00 73", /* not hex */
		"SIM 155 8 01 97 CE 54 9B 38 00 73 11", /* nine bytes */
		"SIM 20000155 8 01 97 CE 54 9B 38 00 73", /* the error flag */
		"SIN 155 8 01 97 CE 54 9B 38 00 73",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct can_frame_data f;
		assert_true(legacy_sim_parse(bad[i], strlen(bad[i]), &f) < 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_equals_general_path),
		cmocka_unit_test(test_broken_layouts_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_fmt_double.c - the shortest round-trip formatter: known texts, and for random doubles that the text reads
 * back bit-for-bit and that no shorter %g text would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/log/fmt_double.h"

static void expect_text(double v, const char *want)
{
	char b[FMT_DOUBLE_MAX + 1];
	size_t n = fmt_double_roundtrip(b, sizeof(b), v);

	assert_int_equal(n, strlen(want));
	if (strcmp(b, want) != 0)
		fail_msg("%.17g: want \"%s\" got \"%s\"", v, want, b);
}

static void test_known_values(void **state)
{
	(void)state;
	expect_text(0.1, "0.1");
	expect_text(1e-7, "1e-07");
	expect_text(69.9825, "69.9825");
	expect_text(-58.25, "-58.25");
	expect_text(87.4525, "87.4525");
	expect_text(57.6, "57.6");
	expect_text(0.0, "0");
	expect_text(-0.0, "-0");
	expect_text(10.0, "10");
	expect_text(-1500.0, "-1500");
	expect_text(1e16, "10000000000000000");
	expect_text(123456789012345680.0, "1.2345678901234568e+17");
	expect_text(1e300, "1e+300");
	expect_text(0.30000000000000004, "0.30000000000000004");
	expect_text(1.0 / 3.0, "0.3333333333333333");
	expect_text(-73675183158100912.0, "-73675183158100910");
	expect_text(5e-324, "5e-324");
	expect_text(-1.7976931348623157e308, "-1.7976931348623157e+308");
	/* not numbers: empty field */
	expect_text(NAN, "");
	expect_text(-NAN, "");
	expect_text(INFINITY, "");
	expect_text(-INFINITY, "");
}

static void test_small_buffer(void **state)
{
	(void)state;
	char b[8];

	memset(b, 'x', sizeof(b));
	assert_int_equal(fmt_double_roundtrip(b, 4, 69.9825), 0);
	assert_int_equal(b[0], '\0');
	assert_int_equal(fmt_double_roundtrip(b, 8, 69.9825), 7);
	assert_string_equal(b, "69.9825");
	assert_int_equal(fmt_double_roundtrip(b, 7, 69.9825), 0); /* no room for the NUL */
	assert_int_equal(fmt_double_roundtrip(b, 0, 1.0), 0);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void check_roundtrip(double v)
{
	char b[FMT_DOUBLE_MAX + 1], shorter[400];
	size_t n = fmt_double_roundtrip(b, sizeof(b), v);

	if (!isfinite(v)) {
		assert_int_equal(n, 0);
		return;
	}
	assert_true(n > 0 && n <= FMT_DOUBLE_MAX);
	double back = strtod(b, NULL);
	if (back != v || signbit(back) != signbit(v))
		fail_msg("%.17g printed \"%s\" reads back %.17g", v, b, back);
	/* shortest: count significant digits, and no %g text with fewer reads back equal */
	int digits = 0;
	for (const char *p = b; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits++;
	/* strip leading zeros of "0.000123" and trailing zeros of integers from the count */
	const char *p = b + (b[0] == '-');
	while (*p == '0' || *p == '.')
		if (*p++ == '0')
			digits--;
	if (!strchr(b, 'e') && !strchr(b, '.'))
		for (size_t i = n; i > 1 && b[i - 1] == '0'; i--)
			digits--;
	if (digits > 1) {
		snprintf(shorter, sizeof(shorter), "%.*g", digits - 1, v);
		if (strtod(shorter, NULL) == v)
			fail_msg("%.17g printed \"%s\" but \"%s\" is shorter", v, b, shorter);
	}
}

static void test_random_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t bits = rng();
		double v;
		memcpy(&v, &bits, sizeof(v));
		check_roundtrip(v); /* any bit pattern, NaN and subnormals included */
	}
	for (int i = 0; i < 200000; i++) {
		/* decimals as a decoder produces them: raw / 400, raw / 100, raw * 100 / 253 */
		int raw = (int)(rng() % 40001);
		check_roundtrip(raw / 400.0);
		check_roundtrip((raw - 2000) / 4.0);
		check_roundtrip(raw * 100.0 / 253.0);
		check_roundtrip(raw / 100.0 * 1e12);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_random_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

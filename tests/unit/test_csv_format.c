/*
 * test_csv_format.c - the log stage's row formats, checked against hand-written lines from the legacy format
 * specification (../shared/facts/legacy-system.md) and can-utils' candump log format (facts/interop.md); the
 * fixed-point rounding is checked against glibc's printf, which is the specification of the legacy %.6f / %.1f.
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

#include "stages/log/csv_format.h"

#define NS 1000000000LL

static struct rx_record can_rec(int64_t t_ns, uint32_t id, uint8_t dlc, const uint8_t *data, uint64_t seq)
{
	struct rx_record r;

	memset(&r, 0, sizeof(r));
	r.type = REC_CAN;
	r.rx_real_ns = t_ns;
	r.seq = seq;
	r.u.can.id = id;
	r.u.can.dlc = dlc;
	if (data)
		memcpy(r.u.can.data, data, dlc < 8 ? dlc : 8);
	return r;
}

static struct gps_fix full_fix(double lat, double lon, double alt, double speed, int valid)
{
	struct gps_fix g;

	memset(&g, 0, sizeof(g));
	g.lat_deg = lat;
	g.lon_deg = lon;
	g.alt_m = alt;
	g.speed_kmh = speed;
	g.valid = (uint8_t)valid;
	g.have = GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SPEED;
	return g;
}

/* Formats with f into a generous buffer and compares with want (which includes the '\n'). */
static void expect_line(const char *got, size_t n, const char *want)
{
	char tmp[4096];

	assert_true(n < sizeof(tmp));
	memcpy(tmp, got, n);
	tmp[n] = '\0';
	assert_string_equal(tmp, want);
}

/* ---- headers ---- */

static void test_headers_keep_legacy_columns(void **state)
{
	(void)state;
	const char *legacy_can = "timestamp,can_id,dlc,data_hex,data_bytes,gps_lat,gps_lon,gps_alt,gps_speed,gps_valid";
	assert_int_equal(strncmp(CSV_CAN_DATA_HEADER, legacy_can, strlen(legacy_can)), 0);
	assert_string_equal(CSV_CAN_DATA_HEADER + strlen(legacy_can), ",seq,dev_time_us\n");
	assert_string_equal(CSV_GPS_DATA_HEADER,
			    "timestamp,latitude,longitude,altitude,speed_kmh,satellites,hdop,datetime,valid\n");
	const char *legacy_merged =
		"timestamp,soc,current,gear,motor_active,accelerator,brake,cap_voltage,motor_speed,odometer,range,"
		"battery_voltage,available_energy,charging_status,motor_temp,power_request,gps_lat,gps_lon,gps_alt,"
		"gps_speed,gps_sats,gps_valid,is_charging";
	assert_int_equal(strncmp(CSV_MERGED_HEADER, legacy_merged, strlen(legacy_merged)), 0);
	/* then every canonical name, in enum order */
	const char *p = CSV_MERGED_HEADER + strlen(legacy_merged);
	for (int i = 0; i < SIG__COUNT; i++) {
		const char *name = canon_sig_name((enum canon_sig)i);
		assert_int_equal(*p, ',');
		assert_int_equal(strncmp(p + 1, name, strlen(name)), 0);
		p += 1 + strlen(name);
	}
	assert_string_equal(p, "\n");
}

/* ---- can_data rows ---- */

static void test_can_row_legacy_example(void **state)
{
	(void)state;
	/* the legacy link's example frame `SIM 155 8 01 97 CE 54 9B 38 00 73` */
	const uint8_t d[8] = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73};
	struct rx_record r = can_rec(1700000000 * NS + 123456, 0x155, 8, d, 42);
	struct gps_fix g = full_fix(37.566535, 126.977969, 38.5, 0.0, 1);
	struct csv_gps_suffix gs;
	char buf[512];

	csv_gps_suffix_init(&gs);
	assert_int_equal(csv_gps_suffix_update(&gs, &g), 1);
	assert_int_equal(csv_gps_suffix_update(&gs, &g), 0); /* unchanged fix: no reformat */
	size_t n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n,
		    "1700000000.000123456,155,8,01 97 CE 54 9B 38 00 73,01 97 CE 54 9B 38 00 73,"
		    "37.566535,126.977969,38.5,0.0,1,42,\n");
}

static void test_can_row_no_fix_yet_is_empty(void **state)
{
	(void)state;
	const uint8_t d[2] = {0xAB, 0x0C};
	struct rx_record r = can_rec(5 * NS, 0x5, 2, d, 1);
	struct csv_gps_suffix gs;
	char buf[512];

	csv_gps_suffix_init(&gs);
	size_t n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "5.000000000,005,2,AB 0C,AB 0C,,,,,0,1,\n");
	/* a fix arrives, then goes away again */
	struct gps_fix g = full_fix(-33.8688, -58.25, -0.05, 0.15, 0);
	assert_int_equal(csv_gps_suffix_update(&gs, &g), 1);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	/* -0.05 and 0.15 are not exact in binary: printf gives -0.1 and 0.1 */
	expect_line(buf, n, "5.000000000,005,2,AB 0C,AB 0C,-33.868800,-58.250000,-0.1,0.1,0,1,\n");
	assert_int_equal(csv_gps_suffix_update(&gs, NULL), 1);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "5.000000000,005,2,AB 0C,AB 0C,,,,,0,1,\n");
}

static void test_can_row_fix_without_altitude(void **state)
{
	(void)state;
	struct rx_record r = can_rec(1 * NS + 1, 0x7FF, 0, NULL, 7);
	struct gps_fix g = full_fix(48.1, 11.5, 0, 0, 1);
	struct csv_gps_suffix gs;
	char buf[512];

	g.have = GPS_HAVE_POS;
	csv_gps_suffix_init(&gs);
	csv_gps_suffix_update(&gs, &g);
	size_t n = csv_can_row(buf, sizeof(buf), &r, &gs);
	/* dlc 0: both data fields empty */
	expect_line(buf, n, "1.000000001,7FF,0,,,48.100000,11.500000,,,1,7,\n");
}

static void test_can_row_extended_rtr_error_devtime(void **state)
{
	(void)state;
	const uint8_t d[3] = {0x02, 0x10, 0x03};
	struct csv_gps_suffix gs;
	char buf[512];
	size_t n;

	csv_gps_suffix_init(&gs);
	struct rx_record r = can_rec(1436509052 * NS + 249713000, CAN_EFF_FLAG | 0x18DAF110, 3, d, 99);
	r.flags = REC_F_DEV_TIME;
	r.dev_time_us = 123456789;
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "1436509052.249713000,18DAF110,3,02 10 03,02 10 03,,,,,0,99,123456789\n");

	/* small extended id keeps 8 digits */
	r = can_rec(0, CAN_EFF_FLAG | 0x5, 1, d, 1);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "0.000000000,00000005,1,02,02,,,,,0,1,\n");

	/* remote frame: dlc is the requested length, data columns `R` */
	r = can_rec(2 * NS, CAN_RTR_FLAG | 0x123, 2, NULL, 3);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "2.000000000,123,2,R,R,,,,,0,3,\n");

	/* extended remote frame */
	r = can_rec(2 * NS, CAN_EFF_FLAG | CAN_RTR_FLAG | 0x1ABCDE, 0, NULL, 4);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "2.000000000,001ABCDE,0,R,R,,,,,0,4,\n");

	/* error frame: candump's 8-digit id with the error flag */
	const uint8_t e[8] = {0, 4, 0, 0, 0, 0, 0, 0};
	r = can_rec(2 * NS, CAN_ERR_FLAG | 0x4, 8, e, 5);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "2.000000000,20000004,8,00 04 00 00 00 00 00 00,00 04 00 00 00 00 00 00,,,,,0,5,\n");

	/* an 11-bit id with stray bits above 0x7FF prints only the 11 bits */
	r = can_rec(2 * NS, 0x955, 1, d, 6);
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "2.000000000,155,1,02,02,,,,,0,6,\n");

	/* a bogus dlc > 8 prints 8 bytes at most */
	const uint8_t all[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	r = can_rec(2 * NS, 0x100, 8, all, 7);
	r.u.can.dlc = 15;
	n = csv_can_row(buf, sizeof(buf), &r, &gs);
	expect_line(buf, n, "2.000000000,100,15,01 02 03 04 05 06 07 08,01 02 03 04 05 06 07 08,,,,,0,7,\n");
}

static void test_can_row_never_partial(void **state)
{
	(void)state;
	const uint8_t d[8] = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73};
	struct rx_record r = can_rec(1700000000 * NS, 0x155, 8, d, 18446744073709551615ull);
	struct gps_fix g = full_fix(-89.999999, -179.999999, -1234.5, 321.9, 1);
	struct csv_gps_suffix gs;
	char big[512], small[512];

	r.flags = REC_F_DEV_TIME;
	r.dev_time_us = 18446744073709551615ull;
	csv_gps_suffix_init(&gs);
	csv_gps_suffix_update(&gs, &g);
	size_t n = csv_can_row(big, sizeof(big), &r, &gs);
	assert_true(n > 0 && n <= CSV_CAN_ROW_MAX);
	assert_int_equal(big[n - 1], '\n');
	memset(small, 'x', sizeof(small));
	assert_int_equal(csv_can_row(small, n - 1, &r, &gs), 0);
	for (size_t i = 0; i < sizeof(small); i++)
		assert_int_equal(small[i], 'x'); /* nothing written when it does not fit */
	assert_int_equal(csv_can_row(small, n, &r, &gs), n);
	assert_memory_equal(small, big, n);
	assert_int_equal(csv_can_row(small, 0, &r, &gs), 0);
}

/* ---- fixed-point rounding vs printf ---- */

static void check_fixed(double v, unsigned dec)
{
	char want[512], got[64];

	snprintf(want, sizeof(want), "%.*f", (int)dec, v);
	size_t n = csv_fmt_fixed(got, sizeof(got), v, dec);
	got[n] = '\0';
	if (strcmp(want, got) != 0)
		fail_msg("value %.17g decimals %u: printf \"%s\", csv_fmt_fixed \"%s\"", v, dec, want, got);
}

static void test_fixed_hand_written(void **state)
{
	(void)state;
	char b[64];
	struct {
		double v;
		unsigned dec;
		const char *want;
	} t[] = {
		{0.05, 1, "0.1"},   {0.15, 1, "0.1"},      {0.25, 1, "0.2"},  {0.35, 1, "0.3"},
		{0.45, 1, "0.5"},   {-0.05, 1, "-0.1"},    {-0.0, 1, "-0.0"}, {-1e-9, 6, "-0.000000"},
		{0.0, 6, "0.000000"}, {2.5, 0, "2"},       {3.5, 0, "4"},     {37.5665355, 6, "37.566536"},
		{126.9779695, 6, "126.977970"}, {9.9999996, 6, "10.000000"}, {-58.25, 6, "-58.250000"},
		{1.005, 2, "1.00"}, {1.015, 2, "1.01"},    {1.025, 2, "1.02"}, {99.95, 1, "100.0"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = csv_fmt_fixed(b, sizeof(b), t[i].v, t[i].dec);
		b[n] = '\0';
		if (strcmp(b, t[i].want) != 0)
			fail_msg("%.17g %%.%uf: want %s got %s", t[i].v, t[i].dec, t[i].want, b);
		check_fixed(t[i].v, t[i].dec); /* and the hand-written table agrees with printf */
	}
	/* values the CSV must not carry */
	assert_int_equal(csv_fmt_fixed(b, sizeof(b), NAN, 6), 0);
	assert_int_equal(csv_fmt_fixed(b, sizeof(b), INFINITY, 1), 0);
	assert_int_equal(csv_fmt_fixed(b, sizeof(b), -1e300, 1), 0);
	assert_int_equal(csv_fmt_fixed(b, 16, 1.0, 1), 0); /* buffer contract: size >= 32 */
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static double rnd_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static void test_fixed_matches_printf_random(void **state)
{
	(void)state;
	const unsigned decs[] = {0, 1, 2, 6, 9};
	const double ranges[] = {1.0, 180.0, 9000.0, 1e6, 1e9, 1e12, 9.9e14};

	for (int i = 0; i < 400000; i++) {
		unsigned dec = decs[i % 5];
		double range = ranges[(i / 5) % 7];
		double v = (rnd_unit() * 2 - 1) * range;
		check_fixed(v, dec);
	}
	/* near and on decimal halfway points: (k + 0.5) / 10^d and its neighbours */
	for (int i = 0; i < 300000; i++) {
		unsigned dec = (i % 3 == 0) ? 1 : (i % 3 == 1) ? 6 : 2;
		double scale = dec == 1 ? 10.0 : dec == 2 ? 100.0 : 1e6;
		double k = (double)(rng() % (uint64_t)(200.0 * scale));
		double v = (k + 0.5) / scale;
		if (i & 1)
			v = -v;
		check_fixed(v, dec);
		check_fixed(nextafter(v, INFINITY), dec);
		check_fixed(nextafter(v, -INFINITY), dec);
	}
	/* exact binary ties (multiples of 2^-k) and tiny values */
	for (int e = 1; e <= 30; e++)
		for (int k = 0; k < 200; k++) {
			check_fixed(ldexp(k, -e), 1);
			check_fixed(ldexp(k, -e), 6);
			check_fixed(-ldexp(k, -e), 6);
		}
	for (int e = -300; e < 0; e += 7)
		check_fixed(pow(10, e), 6);
}

static void test_time_ns(void **state)
{
	(void)state;
	char b[64];
	size_t n;

	n = csv_fmt_time_ns(b, sizeof(b), 0);
	expect_line(b, n, "0.000000000");
	n = csv_fmt_time_ns(b, sizeof(b), 1700000000123456789LL);
	expect_line(b, n, "1700000000.123456789");
	n = csv_fmt_time_ns(b, sizeof(b), -500000000LL);
	expect_line(b, n, "-0.500000000");
	n = csv_fmt_time_ns(b, sizeof(b), INT64_MAX);
	expect_line(b, n, "9223372036.854775807");
	n = csv_fmt_time_ns(b, sizeof(b), INT64_MIN);
	expect_line(b, n, "-9223372036.854775808");
}

/* ---- candump ---- */

static void test_candump_lines(void **state)
{
	(void)state;
	char b[256];
	size_t n;
	struct can_frame_data f;

	/* interop.md's example line */
	memset(&f, 0, sizeof(f));
	f.id = 0x155;
	f.dlc = 8;
	memcpy(f.data, (const uint8_t[]){0x05, 0x96, 0xE7, 0x54, 0x6D, 0x58, 0x00, 0x6F}, 8);
	n = candump_line(b, sizeof(b), 1436509052LL * NS + 249713999, "can0", &f);
	expect_line(b, n, "(1436509052.249713) can0 155#0596E7546D58006F\n");

	/* 29-bit, seconds zero-padded to 10 digits */
	f.id = CAN_EFF_FLAG | 0x18DAF110;
	f.dlc = 3;
	memcpy(f.data, (const uint8_t[]){0x02, 0x10, 0x03}, 3);
	n = candump_line(b, sizeof(b), 1 * NS + 1000, "vcan0", &f);
	expect_line(b, n, "(0000000001.000001) vcan0 18DAF110#021003\n");

	/* remote frames: R, then the dlc digit when non-zero */
	memset(&f, 0, sizeof(f));
	f.id = CAN_RTR_FLAG | 0x123;
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	expect_line(b, n, "(0000000000.000000) can0 123#R\n");
	f.dlc = 2;
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	expect_line(b, n, "(0000000000.000000) can0 123#R2\n");
	f.id = CAN_EFF_FLAG | CAN_RTR_FLAG | 0x1F;
	f.dlc = 8;
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	expect_line(b, n, "(0000000000.000000) can0 0000001F#R8\n");

	/* dlc 0 data frame */
	memset(&f, 0, sizeof(f));
	f.id = 0x7FF;
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	expect_line(b, n, "(0000000000.000000) can0 7FF#\n");

	/* error frame */
	f.id = CAN_ERR_FLAG | 0x4;
	f.dlc = 8;
	f.data[1] = 0x04;
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	expect_line(b, n, "(0000000000.000000) can0 20000004#0004000000000000\n");

	/* never partial */
	memset(b, 'x', sizeof(b));
	assert_int_equal(candump_line(b, 29, 0, "can0", &f), 0);
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 'x');
	n = candump_line(b, sizeof(b), 0, "can0", &f);
	assert_int_equal(candump_line(b, n, 0, "can0", &f), n);
}

/* ---- gps_data ---- */

static void test_gps_rows(void **state)
{
	(void)state;
	struct gps_fix g = full_fix(37.566535, 126.977969, 38.5, 12.25, 1);
	char b[512];
	size_t n;

	g.have |= GPS_HAVE_SATS | GPS_HAVE_HDOP | GPS_HAVE_DATE | GPS_HAVE_TIME;
	g.sats = 9;
	g.hdop = 0.9;
	g.year = 2024;
	g.month = 3;
	g.day = 5;
	g.hour = 7; /* valid stays 1: the legacy defect stored the hour as the validity flag */
	g.min = 8;
	g.sec = 9;
	n = csv_gps_row(b, sizeof(b), 1709622489 * NS + 5, &g);
	expect_line(b, n, "1709622489.000000005,37.566535,126.977969,38.5,12.2,9,0.90,2024-03-05 07:08:09,1\n");

	/* no date/time from the receiver (legacy `INVALID` token), invalid fix */
	g.have &= (uint8_t)~(GPS_HAVE_DATE | GPS_HAVE_TIME);
	g.valid = 0;
	n = csv_gps_row(b, sizeof(b), 1 * NS, &g);
	expect_line(b, n, "1.000000000,37.566535,126.977969,38.5,12.2,9,0.90,,0\n");

	/* midnight, nothing but time and date */
	memset(&g, 0, sizeof(g));
	g.have = GPS_HAVE_DATE | GPS_HAVE_TIME;
	g.year = 2025;
	g.month = 12;
	g.day = 31;
	n = csv_gps_row(b, sizeof(b), 1 * NS, &g);
	expect_line(b, n, "1.000000000,,,,,,,2025-12-31 00:00:00,0\n");
	assert_int_equal(csv_gps_row(b, n - 1, 1 * NS, &g), 0);
}

/* ---- merged rows ---- */

/* Splits line (ending in '\n') at commas into fields; returns their number. */
static int split(char *line, char **fields, int max)
{
	int n = 0;
	char *nl = strchr(line, '\n');

	assert_non_null(nl);
	*nl = '\0';
	for (char *p = line;;) {
		assert_true(n < max);
		fields[n++] = p;
		char *c = strchr(p, ',');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	return n;
}

static char hdr_copy[4096];
static char *hdr_fields[256];
static int hdr_n;

static const char *field(char **fields, const char *column)
{
	if (!hdr_n) {
		strcpy(hdr_copy, CSV_MERGED_HEADER);
		hdr_n = split(hdr_copy, hdr_fields, 256);
	}
	for (int i = 0; i < hdr_n; i++)
		if (strcmp(hdr_fields[i], column) == 0)
			return fields[i];
	fail_msg("no column %s", column);
	return NULL;
}

static void set_sig(struct vstate *s, enum canon_sig sig, double v)
{
	s->value[sig] = v;
	s->t_real_ns[sig] = 1;
}

static void test_merged_nothing_received(void **state)
{
	(void)state;
	static struct vstate s;
	char b[CSV_MERGED_ROW_MAX];
	char *f[256];

	memset(&s, 0, sizeof(s));
	size_t n = csv_merged_row(b, sizeof(b), 1700000000 * NS, &s);
	assert_true(n > 0);
	b[n] = '\0';
	assert_int_equal(split(b, f, 256), 23 + SIG__COUNT);
	assert_string_equal(f[0], "1700000000.000000000");
	/* every value empty (the legacy defect wrote 0), except gps_valid: no fix is not a valid fix */
	for (int i = 1; i < 23 + SIG__COUNT; i++) {
		if (i == 21) {
			assert_string_equal(f[i], "0");
			assert_string_equal(field(f, "gps_valid"), "0");
			continue;
		}
		if (f[i][0] != '\0')
			fail_msg("field %d (%s) is \"%s\", want empty", i, hdr_fields[i] ? hdr_fields[i] : "?", f[i]);
	}
}

static void test_merged_values_and_words(void **state)
{
	(void)state;
	static struct vstate s;
	char b[CSV_MERGED_ROW_MAX];
	char *f[256];

	memset(&s, 0, sizeof(s));
	set_sig(&s, SIG_SOC, 87.4525);
	set_sig(&s, SIG_CURRENT, -12.25);
	set_sig(&s, SIG_GEAR, 1);
	set_sig(&s, SIG_IGNITION, 1);
	set_sig(&s, SIG_THROTTLE, 100.0 * 51 / 253);
	set_sig(&s, SIG_BRAKE, 0);
	set_sig(&s, SIG_SPEED, 42.5);
	set_sig(&s, SIG_ODOMETER, 12345.67);
	set_sig(&s, SIG_RANGE, 61);
	set_sig(&s, SIG_PACK_VOLTAGE, 57.6);
	set_sig(&s, SIG_ENERGY_AVAIL, 5.1);
	set_sig(&s, SIG_BMS_STATE, 0x0A);
	set_sig(&s, SIG_MOTOR_TEMP, -3);
	set_sig(&s, SIG_CHARGE_POWER_REQ, 7);
	set_sig(&s, SIG_CHARGING, 1);
	set_sig(&s, SIG_CHARGE_PHASE, CHARGE_PHASE_TOPOFF);
	s.gps = full_fix(37.566535, 126.977969, 38.5, 0.05, 1);
	s.gps.have |= GPS_HAVE_SATS;
	s.gps.sats = 11;
	s.gps_real_ns = 5;

	size_t n = csv_merged_row(b, sizeof(b), 1700000000 * NS + 250000000, &s);
	assert_true(n > 0);
	assert_int_equal(b[n - 1], '\n');
	b[n] = '\0';
	assert_int_equal(split(b, f, 256), 23 + SIG__COUNT);
	assert_string_equal(field(f, "timestamp"), "1700000000.250000000");
	assert_string_equal(field(f, "soc"), "87.4525");
	assert_string_equal(field(f, "current"), "-12.25");
	assert_string_equal(field(f, "gear"), "Drive");
	assert_string_equal(field(f, "motor_active"), "1");
	assert_string_equal(field(f, "accelerator"), "20.158102766798418");
	assert_string_equal(field(f, "brake"), "0");
	assert_string_equal(field(f, "cap_voltage"), "");
	assert_string_equal(field(f, "motor_speed"), "42.5");
	assert_string_equal(field(f, "odometer"), "12345.67");
	assert_string_equal(field(f, "range"), "61");
	assert_string_equal(field(f, "battery_voltage"), "57.6");
	assert_string_equal(field(f, "available_energy"), "5.1");
	assert_string_equal(field(f, "charging_status"), "0x0A");
	assert_string_equal(field(f, "motor_temp"), "-3");
	assert_string_equal(field(f, "power_request"), "7");
	assert_string_equal(field(f, "gps_lat"), "37.566535");
	assert_string_equal(field(f, "gps_lon"), "126.977969");
	assert_string_equal(field(f, "gps_alt"), "38.5");
	assert_string_equal(field(f, "gps_speed"), "0.1");
	assert_string_equal(field(f, "gps_sats"), "11");
	assert_string_equal(field(f, "gps_valid"), "1");
	assert_string_equal(field(f, "is_charging"), "YES");
	/* appended canonical columns: round-trip numbers, charge_phase as text, missing empty */
	assert_string_equal(f[23 + SIG_SOC], "87.4525");
	assert_string_equal(f[23 + SIG_PACK_VOLTAGE], "57.6");
	assert_string_equal(f[23 + SIG_BMS_STATE], "10");
	assert_string_equal(f[23 + SIG_CHARGE_PHASE], "topoff");
	assert_string_equal(f[23 + SIG_CELL_V7], "");
	assert_string_equal(f[23 + SIG_SOH], "");

	/* the other gear words, NO, brake on, other charge phases */
	const struct {
		double gear;
		const char *word;
	} gears[] = {{0, "Neutral"}, {-1, "Reverse"}, {1, "Drive"}};
	for (size_t i = 0; i < 3; i++) {
		set_sig(&s, SIG_GEAR, gears[i].gear);
		set_sig(&s, SIG_CHARGING, 0);
		set_sig(&s, SIG_BRAKE, 1);
		set_sig(&s, SIG_CHARGE_PHASE, CHARGE_PHASE_DONE);
		n = csv_merged_row(b, sizeof(b), 0, &s);
		b[n] = '\0';
		split(b, f, 256);
		assert_string_equal(field(f, "gear"), gears[i].word);
		assert_string_equal(field(f, "is_charging"), "NO");
		assert_string_equal(field(f, "brake"), "1");
		assert_string_equal(f[23 + SIG_CHARGE_PHASE], "done");
	}
	/* never partial */
	n = csv_merged_row(b, sizeof(b), 0, &s);
	assert_int_equal(csv_merged_row(b, n - 1, 0, &s), 0);
	assert_int_equal(csv_merged_row(b, n, 0, &s), n);
}

/*
 * csv_can_lines (both lines at once, shared time digits and hex) writes exactly what csv_can_row and candump_line
 * write one by one, for every kind of frame and time: standard, extended, remote, error frames, every DLC, times
 * with 10-digit seconds across second boundaries, and times that take the one-by-one path (before 2001, negative).
 */
static void test_can_lines_equal_separate_formatters(void **state)
{
	(void)state;
	struct csv_can_ctx ctx;
	struct csv_gps_suffix gps;
	struct gps_fix fix;
	static const int64_t times[] = {1700000000LL * 1000000000LL + 123456789LL, 1700000000LL * 1000000000LL + 999999999LL,
					1700000001LL * 1000000000LL, 999999999LL * 1000000000LL + 5, 1000000000LL * 1000000000LL,
					9200000000LL * 1000000000LL + 999999999LL, 42, -1500000000LL};
	static const uint32_t ids[] = {0x155, 0x7FF, 0x000, 0x18FF50E5 | CAN_EFF_FLAG, 0x123 | CAN_RTR_FLAG,
				       0x1FFFFFFF | CAN_EFF_FLAG | CAN_RTR_FLAG, 0x04 | CAN_ERR_FLAG};
	csv_can_ctx_init(&ctx, "can0");
	csv_gps_suffix_init(&gps);
	memset(&fix, 0, sizeof(fix));
	fix.lat_deg = 48.8583701;
	fix.lon_deg = 2.2944813;
	fix.valid = 1;
	fix.have = GPS_HAVE_POS;
	unsigned n = 0;
	for (int with_fix = 0; with_fix < 2; with_fix++) {
		if (with_fix)
			csv_gps_suffix_update(&gps, &fix);
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
			for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
				for (uint8_t dlc = 0; dlc <= 8; dlc++) {
					struct rx_record r;
					memset(&r, 0, sizeof(r));
					r.type = REC_CAN;
					r.rx_real_ns = times[t];
					r.seq = 1000 + n;
					r.flags = n % 2 ? REC_F_DEV_TIME : 0;
					r.dev_time_us = 77 + n;
					r.u.can.id = ids[i];
					r.u.can.dlc = dlc;
					for (int b = 0; b < dlc; b++)
						r.u.can.data[b] = (uint8_t)(0x11 * b + n);
					char row[CSV_CAN_ROW_MAX], dump[CANDUMP_LINE_MAX + 16];
					char row1[CSV_CAN_ROW_MAX], dump1[CANDUMP_LINE_MAX + 16];
					size_t rl, dl;
					csv_can_lines(&ctx, &r, &gps, row, &rl, dump, &dl);
					size_t rl1 = csv_can_row(row1, sizeof(row1), &r, &gps);
					size_t dl1 = candump_line(dump1, sizeof(dump1), r.rx_real_ns, "can0", &r.u.can);
					assert_int_equal(rl, rl1);
					assert_memory_equal(row, row1, rl);
					assert_int_equal(dl, dl1);
					assert_memory_equal(dump, dump1, dl);
					n++;
				}
	}
	assert_int_equal(n, 2 * 8 * 7 * 9);
}

/*
 * ---- csv_can_lines' fast path against the specification ----
 *
 * The expected lines are made with snprintf from the formats' definitions (csv_format.h, the legacy %.6f / %.1f
 * columns, can-utils' candump -l), independently of csv_format.c.  Buffers are exactly the sizes the header asks
 * for, followed by a guard that must stay untouched (the fast path stores whole words past a line's end).
 */
#define GUARD 64
#define GUARD_BYTE 0x5A

/* ",lat,lon,alt,speed,valid" as the legacy columns give them; ",,,,,0" before the first fix. */
static void spec_gps(char *buf, size_t size, const struct gps_fix *fix)
{
	char lat[64] = "", lon[64] = "", alt[64] = "", spd[64] = "";

	if (!fix) {
		snprintf(buf, size, ",,,,,0");
		return;
	}
	if (fix->have & GPS_HAVE_POS) {
		snprintf(lat, sizeof(lat), "%.6f", fix->lat_deg);
		snprintf(lon, sizeof(lon), "%.6f", fix->lon_deg);
	}
	if (fix->have & GPS_HAVE_ALT)
		snprintf(alt, sizeof(alt), "%.1f", fix->alt_m);
	if (fix->have & GPS_HAVE_SPEED)
		snprintf(spd, sizeof(spd), "%.1f", fix->speed_kmh);
	int n = snprintf(buf, size, ",%s,%s,%s,%s,%d", lat, lon, alt, spd, fix->valid ? 1 : 0);
	assert_true(n > 0 && (size_t)n < size);
}

static void spec_id(char *buf, size_t size, uint32_t id)
{
	if (id & CAN_ERR_FLAG)
		snprintf(buf, size, "%08X", id & (CAN_EFF_MASK | CAN_ERR_FLAG));
	else if (id & CAN_EFF_FLAG)
		snprintf(buf, size, "%08X", id & CAN_EFF_MASK);
	else
		snprintf(buf, size, "%03X", id & CAN_SFF_MASK);
}

static int is_remote(uint32_t id)
{
	return (id & CAN_RTR_FLAG) && !(id & CAN_ERR_FLAG);
}

static size_t spec_row(char *buf, size_t size, const struct rx_record *r, const struct gps_fix *fix)
{
	const struct can_frame_data *f = &r->u.can;
	char id[16], hex[64] = "", gps[320], dev[32] = "";
	uint64_t a = r->rx_real_ns < 0 ? (uint64_t)0 - (uint64_t)r->rx_real_ns : (uint64_t)r->rx_real_ns;

	spec_id(id, sizeof(id), f->id);
	if (is_remote(f->id)) {
		strcpy(hex, "R");
	} else {
		for (int i = 0; i < f->dlc && i < 8; i++)
			snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%s%02X", i ? " " : "", f->data[i]);
	}
	spec_gps(gps, sizeof(gps), fix);
	if (r->flags & REC_F_DEV_TIME)
		snprintf(dev, sizeof(dev), "%llu", (unsigned long long)r->dev_time_us);
	int n = snprintf(buf, size, "%s%llu.%09llu,%s,%u,%s,%s%s,%llu,%s\n", r->rx_real_ns < 0 ? "-" : "",
			 (unsigned long long)(a / NS), (unsigned long long)(a % NS), id, f->dlc, hex, hex, gps,
			 (unsigned long long)r->seq, dev);
	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static size_t spec_dump(char *buf, size_t size, const struct rx_record *r, const char *ifname)
{
	const struct can_frame_data *f = &r->u.can;
	char id[16], data[64] = "";
	uint64_t a = r->rx_real_ns < 0 ? 0 : (uint64_t)r->rx_real_ns; /* candump has no negative times */

	spec_id(id, sizeof(id), f->id);
	if (is_remote(f->id)) {
		strcpy(data, "R");
		if (f->dlc > 0 && f->dlc <= 8)
			snprintf(data + 1, sizeof(data) - 1, "%X", f->dlc);
	} else {
		for (int i = 0; i < f->dlc && i < 8; i++)
			snprintf(data + 2 * i, sizeof(data) - 2 * (size_t)i, "%02X", f->data[i]);
	}
	int n = snprintf(buf, size, "(%010llu.%06llu) %s %s#%s\n", (unsigned long long)(a / NS),
			 (unsigned long long)(a % NS / 1000), ifname, id, data);
	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static void expect_guard(const char *g)
{
	for (int i = 0; i < GUARD; i++)
		assert_int_equal((unsigned char)g[i], GUARD_BYTE);
}

/* seq values the incremental conversion must get right: carries, new digits, zero, the largest. */
static const uint64_t special_seqs[] = {0, 1, 9, 10, 99, 100, 999, 1000, 99999999, 100000000, 999999999999ull,
					10000000000000000000ull, UINT64_MAX - 1, UINT64_MAX, 12345678901234567890ull};
static const uint64_t dev_times[] = {0, 7, 99999999, 100000000, 1234567890123ull, 9999999999999999ull,
				     10000000000000000ull, UINT64_MAX};

/* The GPS state for step k of a stream: none yet, full fixes that change, one without altitude, extreme values. */
static const struct gps_fix *gps_step(unsigned k, struct gps_fix *fix)
{
	switch (k % 6) {
	case 0:
		return NULL;
	case 1:
		*fix = full_fix(37.566535, 126.977969, 38.5, 0.0, 1);
		return fix;
	case 2:
		*fix = full_fix(37.566536, 126.977969, 38.5, 12.25, 1);
		return fix;
	case 3:
		*fix = full_fix(48.1, -11.5, 0, 0, 0);
		fix->have = GPS_HAVE_POS;
		return fix;
	case 4:
		*fix = full_fix(-999999999999999.9, 999999999999999.9, -999999999999999.9, 999999999999999.9, 1);
		return fix;
	default:
		*fix = full_fix(-0.0000005, 0.0000015, -0.05, 0.15, 0);
		return fix;
	}
}

static void test_can_lines_fast_path_against_spec(void **state)
{
	(void)state;
	static const int64_t times[] = {
		999999999LL * NS + 999999999LL, /* 9-digit seconds: one-by-one */
		1000000000LL * NS,              /* the first 10-digit second */
		1000000000LL * NS + 999999999LL,
		1700000000LL * NS + 5,
		1700000000LL * NS + 999999999LL,
		1700000001LL * NS,              /* next second */
		1700000000LL * NS + 7,          /* back to an earlier second */
		1700000000LL * NS + 100000000LL,
		9223372035LL * NS + 999999999LL, /* the latest second the fast path keeps */
		INT64_MIN,                      /* as unsigned, 1.85 s after that second: must not look like it */
		INT64_MAX,                      /* 9223372036.854775807: the largest, still 10 digits */
		-1, 0, 42, -1500000000LL,
	};
	static const uint32_t ids[] = {0x000, 0x155, 0x7FF, 0x955, CAN_EFF_FLAG, CAN_EFF_FLAG | 0x1FFFFFFF,
				       CAN_EFF_FLAG | 0x18DAF110, CAN_RTR_FLAG | 0x123, CAN_EFF_FLAG | CAN_RTR_FLAG | 0x1ABCDE,
				       CAN_ERR_FLAG | 0x4, CAN_ERR_FLAG | CAN_EFF_FLAG | CAN_RTR_FLAG | 0x1FFFFFFF};
	static const uint8_t dlcs[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15};
	static const char *const ifnames[] = {"can0", "abcdefghijklmno"};
	unsigned frames = 0;

	for (int w = 0; w < 2; w++) {
		struct csv_can_ctx ctx;
		struct csv_gps_suffix gs;
		uint64_t seq[6] = {0, 0, 0, 0, 0, 0};
		size_t dump_size = CANDUMP_LINE_MAX + 16;
		csv_can_ctx_init(&ctx, ifnames[w]);
		csv_gps_suffix_init(&gs);
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
			struct gps_fix fix;
			const struct gps_fix *g = gps_step((unsigned)t, &fix);
			csv_gps_suffix_update(&gs, g);
			for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
				for (size_t k = 0; k < sizeof(dlcs); k++, frames++) {
					struct rx_record r;
					memset(&r, 0, sizeof(r));
					r.type = REC_CAN;
					r.rx_real_ns = times[t];
					r.link = frames % 6; /* six links share four seq caches */
					/* mostly the link's next seq, now and then a jump to a special value */
					seq[r.link] = frames % 7 == 3 ? special_seqs[frames / 7 % 15] : seq[r.link] + 1;
					r.seq = seq[r.link];
					if (frames % 3) {
						r.flags = REC_F_DEV_TIME;
						r.dev_time_us = dev_times[frames % 8];
					}
					r.u.can.id = ids[i];
					r.u.can.dlc = dlcs[k];
					for (int b = 0; b < 8; b++) /* bytes past dlc stay zero (record.h) */
						r.u.can.data[b] = b < dlcs[k] ? (uint8_t)(0x37 * b + frames) : 0;
					char row[CSV_CAN_ROW_MAX + GUARD], dump[CANDUMP_LINE_MAX + 16 + GUARD];
					char want_row[512], want_dump[512];
					size_t rl, dl;
					memset(row, GUARD_BYTE, sizeof(row));
					memset(dump, GUARD_BYTE, sizeof(dump));
					csv_can_lines(&ctx, &r, &gs, row, &rl, dump, &dl);
					size_t wrl = spec_row(want_row, sizeof(want_row), &r, g);
					size_t wdl = spec_dump(want_dump, sizeof(want_dump), &r, ifnames[w]);
					if (rl != wrl || memcmp(row, want_row, wrl) != 0)
						fail_msg("row of frame %u:\n got  %.*s want %.*s", frames, (int)rl, row,
							 (int)wrl, want_row);
					if (dl != wdl || memcmp(dump, want_dump, wdl) != 0)
						fail_msg("candump line of frame %u:\n got  %.*s want %.*s", frames, (int)dl,
							 dump, (int)wdl, want_dump);
					expect_guard(row + CSV_CAN_ROW_MAX);
					expect_guard(dump + dump_size);
					/* the one-by-one formatters give the same text */
					assert_int_equal(csv_can_row(row, CSV_CAN_ROW_MAX, &r, &gs), wrl);
					assert_memory_equal(row, want_row, wrl);
					assert_int_equal(candump_line(dump, sizeof(dump), r.rx_real_ns, ifnames[w], &r.u.can), wdl);
					assert_memory_equal(dump, want_dump, wdl);
				}
			}
		}
	}
	assert_int_equal(frames, 2 * 15 * 11 * 11);
}

/* Every seq from 0 to 1,200,000 in order on one link (each carry of the incremental conversion), then 2^64 - 3 up. */
static void test_can_lines_seq_every_carry(void **state)
{
	(void)state;
	struct csv_can_ctx ctx;
	struct csv_gps_suffix gs;
	struct rx_record r;
	char row[CSV_CAN_ROW_MAX], dump[CANDUMP_LINE_MAX + 16], want[64];
	size_t rl, dl;

	csv_can_ctx_init(&ctx, "can0");
	csv_gps_suffix_init(&gs);
	memset(&r, 0, sizeof(r));
	r.type = REC_CAN;
	r.rx_real_ns = 1700000000LL * NS;
	r.u.can.id = 0x155;
	for (uint64_t s = 0; s <= 1200000; s++) {
		r.seq = s;
		csv_can_lines(&ctx, &r, &gs, row, &rl, dump, &dl);
		/* the row ends ",,,,,0,<seq>,\n" (no fix, no device time) */
		int n = snprintf(want, sizeof(want), ",,,,,0,%llu,\n", (unsigned long long)s);
		assert_true(rl > (size_t)n);
		if (memcmp(row + rl - (size_t)n, want, (size_t)n) != 0)
			fail_msg("seq %llu: %.*s", (unsigned long long)s, (int)rl, row);
	}
	for (uint64_t s = UINT64_MAX - 3; s != 0; s++) {
		r.seq = s;
		csv_can_lines(&ctx, &r, &gs, row, &rl, dump, &dl);
		int n = snprintf(want, sizeof(want), ",,,,,0,%llu,\n", (unsigned long long)s);
		assert_memory_equal(row + rl - (size_t)n, want, (size_t)n);
	}
	/* and after UINT64_MAX, 0 again (a restarted link): not UINT64_MAX + 1 */
	r.seq = 0;
	csv_can_lines(&ctx, &r, &gs, row, &rl, dump, &dl);
	assert_memory_equal(row + rl - 10, ",,,,,0,0,\n", 10);
}

/* The longest row the fast path can make fits CSV_CAN_ROW_MAX with its word stores, and is the spec's text. */
static void test_can_lines_longest_row_fits(void **state)
{
	(void)state;
	struct csv_can_ctx ctx;
	struct csv_gps_suffix gs;
	struct gps_fix fix;
	struct rx_record r;
	char row[CSV_CAN_ROW_MAX + GUARD], dump[CANDUMP_LINE_MAX + 16 + GUARD], want[512];
	size_t rl, dl;

	csv_can_ctx_init(&ctx, "abcdefghijklmno");
	csv_gps_suffix_init(&gs);
	fix = full_fix(-999999999999999.9, -999999999999999.9, -999999999999999.9, -999999999999999.9, 1);
	csv_gps_suffix_update(&gs, &fix);
	memset(&r, 0, sizeof(r));
	r.type = REC_CAN;
	r.rx_real_ns = INT64_MAX;
	r.seq = UINT64_MAX;
	r.flags = REC_F_DEV_TIME;
	r.dev_time_us = UINT64_MAX;
	r.u.can.id = CAN_EFF_FLAG | 0x1FFFFFFF;
	r.u.can.dlc = 9;
	memset(r.u.can.data, 0xFF, 8);
	memset(row, GUARD_BYTE, sizeof(row));
	memset(dump, GUARD_BYTE, sizeof(dump));
	csv_can_lines(&ctx, &r, &gs, row, &rl, dump, &dl);
	size_t n = spec_row(want, sizeof(want), &r, &fix);
	assert_int_equal(rl, n);
	assert_memory_equal(row, want, n);
	assert_true(rl <= CSV_CAN_ROW_MAX);
	expect_guard(row + CSV_CAN_ROW_MAX);
	n = spec_dump(want, sizeof(want), &r, "abcdefghijklmno");
	assert_int_equal(dl, n);
	assert_memory_equal(dump, want, n);
	expect_guard(dump + CANDUMP_LINE_MAX + 16);
}

/* csv_can_lines_run: the lines of n frames back to back, in buffers of exactly the sizes its contract names. */
static void test_can_lines_run_against_spec(void **state)
{
	(void)state;
	enum { N = 300 };
	struct csv_can_ctx ctx;
	struct csv_gps_suffix gs;
	struct rx_record *recs = calloc(N, sizeof(*recs));
	size_t row_size = N * CSV_CAN_ROW_MAX, dump_size = N * (CANDUMP_LINE_MAX + 16);
	char *row = malloc(row_size + GUARD), *dump = malloc(dump_size + GUARD);
	char *want_row = malloc(row_size), *want_dump = malloc(dump_size);
	struct gps_fix fix = full_fix(51.5, -0.125, 11.0, 3.5, 1);
	size_t wr = 0, wd = 0, rb, db;

	assert_non_null(recs);
	assert_non_null(row);
	assert_non_null(dump);
	assert_non_null(want_row);
	assert_non_null(want_dump);
	csv_can_ctx_init(&ctx, "vcan1");
	csv_gps_suffix_init(&gs);
	csv_gps_suffix_update(&gs, &fix);
	for (int i = 0; i < N; i++) {
		struct rx_record *r = &recs[i];
		r->type = REC_CAN;
		/* 3.3 ms apart across several seconds; every 50th a 9-digit second (the one-by-one path in between) */
		r->rx_real_ns = i % 50 == 49 ? 123456789LL * NS + i : 1699999999LL * NS + 999000000LL + 3300000LL * i;
		r->seq = 1000 + (uint64_t)i;
		r->link = 2;
		r->u.can.id = i % 5 == 0 ? (CAN_EFF_FLAG | (0x10000u * (uint32_t)i + 7)) : (uint32_t)(0x100 + i);
		if (i % 37 == 0)
			r->u.can.id |= CAN_RTR_FLAG;
		r->u.can.dlc = (uint8_t)(i % 9);
		for (int b = 0; b < r->u.can.dlc; b++)
			r->u.can.data[b] = (uint8_t)(i * 13 + b);
		if (i % 2) {
			r->flags = REC_F_DEV_TIME;
			r->dev_time_us = 5000000000ull + 3300ull * (uint64_t)i;
		}
		wr += spec_row(want_row + wr, row_size - wr, r, &fix);
		wd += spec_dump(want_dump + wd, dump_size - wd, r, "vcan1");
	}
	memset(row, GUARD_BYTE, row_size + GUARD);
	memset(dump, GUARD_BYTE, dump_size + GUARD);
	csv_can_lines_run(&ctx, recs, N, &gs, row, &rb, dump, &db);
	assert_int_equal(rb, wr);
	assert_memory_equal(row, want_row, wr);
	assert_int_equal(db, wd);
	assert_memory_equal(dump, want_dump, wd);
	expect_guard(row + row_size);
	expect_guard(dump + dump_size);
	/* n = 0 writes nothing */
	csv_can_lines_run(&ctx, recs, 0, &gs, row, &rb, dump, &db);
	assert_int_equal(rb, 0);
	assert_int_equal(db, 0);
	free(recs);
	free(row);
	free(dump);
	free(want_row);
	free(want_dump);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_keep_legacy_columns),
		cmocka_unit_test(test_can_row_legacy_example),
		cmocka_unit_test(test_can_row_no_fix_yet_is_empty),
		cmocka_unit_test(test_can_row_fix_without_altitude),
		cmocka_unit_test(test_can_row_extended_rtr_error_devtime),
		cmocka_unit_test(test_can_row_never_partial),
		cmocka_unit_test(test_fixed_hand_written),
		cmocka_unit_test(test_fixed_matches_printf_random),
		cmocka_unit_test(test_time_ns),
		cmocka_unit_test(test_candump_lines),
		cmocka_unit_test(test_gps_rows),
		cmocka_unit_test(test_merged_nothing_received),
		cmocka_unit_test(test_merged_values_and_words),
		cmocka_unit_test(test_can_lines_equal_separate_formatters),
		cmocka_unit_test(test_can_lines_fast_path_against_spec),
		cmocka_unit_test(test_can_lines_seq_every_carry),
		cmocka_unit_test(test_can_lines_longest_row_fits),
		cmocka_unit_test(test_can_lines_run_against_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

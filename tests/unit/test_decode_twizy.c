/*
 * test_decode_twizy.c - the Twizy DBC (stages/decode/twizy.dbc) through the compiled decoder, against
 * ../shared/facts/twizy-can.md.  Expected values are computed by hand from the facts table (the arithmetic is in the
 * comments); one property test also recomputes every signal from the table's byte formulas for random frames.
 * The DBC is the copy the Makefile compiles into the library (builtin_dbc.h); V2X_TWIZY_DBC=<path> tests a file.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vehicle/builtin_dbc.h"
#include "vehicle/signals.h"
#include "vehicle/vstate.h"
#include "stages/decode/decoder.h"
#include "stages/decode/vstate_update.h"

#define SEC 1000000000LL

struct fixture {
	struct decoder *d;
	struct decode_result r;
	int64_t t_ns;
};


static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	struct dbc db;
	struct dbc_error err;
	const char *path = getenv("V2X_TWIZY_DBC");
	int rc = path ? dbc_load(&db, path, &err) : dbc_parse(&db, twizy_dbc_text, twizy_dbc_len, &err);
	if (rc) {
		fprintf(stderr, "twizy.dbc: %d %s\n", rc, err.msg);
		return -1;
	}
	rc = decoder_create(&fx->d, &db);
	dbc_fini(&db); /* the decoder must not need it */
	if (rc)
		return -1;
	fx->t_ns = 1000 * SEC;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	decoder_destroy(fx->d);
	free(fx);
	return 0;
}

/* Decodes one frame; the clock advances 1 ms per frame. */
static const struct decode_result *frame(struct fixture *fx, uint32_t id, uint8_t dlc, const uint8_t b[8])
{
	struct can_frame_data f = {.id = id, .dlc = dlc};
	memcpy(f.data, b, 8);
	fx->t_ns += 1000000;
	unsigned n = decoder_frame(fx->d, &f, fx->t_ns, &fx->r);
	assert_int_equal(n, fx->r.n);
	return &fx->r;
}

#define FRAME(fx, id, dlc, ...) frame((fx), (id), (dlc), (const uint8_t[8]){__VA_ARGS__})

static bool find(const struct fixture *fx, const struct decode_result *r, const char *name, double *v)
{
	int hits = 0;
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(decoder_signal_name(fx->d, r->v[i].sig), name) == 0) {
			*v = r->v[i].value;
			hits++;
		}
	assert_true(hits <= 1);
	return hits == 1;
}

/* The decoded value must equal the hand-computed one to 1e-9 relative (exactly, for values that are correctly
   rounded divisions: see expect_exact). */
static void expect_val(const struct fixture *fx, const struct decode_result *r, const char *name, double want)
{
	double got;
	if (!find(fx, r, name, &got))
		fail_msg("%s missing (want %.10g)", name, want);
	if (!(fabs(got - want) <= 1e-9 * fmax(1, fabs(want))))
		fail_msg("%s = %.12g, want %.12g", name, got, want);
}

static void expect_exact(const struct fixture *fx, const struct decode_result *r, const char *name, double want)
{
	double got;
	if (!find(fx, r, name, &got))
		fail_msg("%s missing (want %.17g)", name, want);
	if (got != want)
		fail_msg("%s = %.17g, want exactly %.17g", name, got, want);
}

static void expect_absent(const struct fixture *fx, const struct decode_result *r, const char *name)
{
	double got;
	if (find(fx, r, name, &got))
		fail_msg("%s = %g, should have been refused", name, got);
}

static void expect_invalid(const struct decode_result *r, unsigned range, unsigned short_dlc, unsigned gated)
{
	assert_int_equal(r->invalid[DEC_INV_RANGE], range);
	assert_int_equal(r->invalid[DEC_INV_SHORT_DLC], short_dlc);
	assert_int_equal(r->invalid[DEC_INV_GATED], gated);
}

/* ---- one test per frame of the facts table ---- */

static void test_0x155_bms(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x155, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0x00, 0x00);
	assert_true(r->known_id);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "charge_power_req", 7);     /* B0 = 7 */
	expect_exact(fx, r, "current", 0);              /* (0x07 & 0x0F) << 8 | 0xD0 = 2000 -> (2000 - 2000) / 4 = 0 A */
	expect_exact(fx, r, "bms_valid", 84);           /* B3 = 0x54 */
	expect_exact(fx, r, "soc", 69.9825);            /* 0x6D59 = 27993 -> 27993 / 400 = 69.9825 (not 69) */

	/* the facts file's example line: SIM 155 8 01 97 CE 54 9B 38 00 73 */
	r = FRAME(fx, 0x155, 8, 0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73);
	expect_exact(fx, r, "charge_power_req", 1);
	expect_exact(fx, r, "current", -0.5);           /* B1 & 0x0F = 7: 0x7CE = 1998 -> (1998 - 2000) / 4 = -0.5 A */
	expect_exact(fx, r, "soc", 99.34);              /* 0x9B38 = 39736 -> 39736 / 400 = 99.34 */

	r = FRAME(fx, 0x155, 8, 0x00, 0xF8, 0x34, 0x54, 0x9C, 0x40, 0xFF, 0xFF);
	expect_exact(fx, r, "current", 25);             /* high nibble of B1 ignored: 0x834 = 2100 -> 100 / 4 = +25 A */
	expect_exact(fx, r, "soc", 100);                /* 0x9C40 = 40000 -> 100 % (still valid: raw <= 40000) */

	r = FRAME(fx, 0x155, 8, 0x00, 0x06, 0x40, 0x54, 0x00, 0x01, 0, 0);
	expect_exact(fx, r, "current", -100);           /* 0x640 = 1600 -> (1600 - 2000) / 4 = -100 A (driving) */
	expect_exact(fx, r, "soc", 0.0025);             /* raw 1 -> 1 / 400 */

	r = FRAME(fx, 0x155, 8, 0x00, 0x00, 0x01, 0x54, 0x00, 0x01, 0, 0);
	expect_exact(fx, r, "current", -499.75);        /* raw 1 (lowest valid) -> -1999 / 4 */
	r = FRAME(fx, 0x155, 8, 0x00, 0x0E, 0xFF, 0x54, 0x00, 0x01, 0, 0);
	expect_exact(fx, r, "current", 459.75);         /* raw 0xEFF = 3839 (highest valid) -> 1839 / 4 */
}

static void test_0x196_0x19f_motor(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x196, 8, 0, 0, 0, 0, 0, 0x5A, 0, 0);
	expect_exact(fx, r, "motor_temp", 50);          /* B5 = 0x5A = 90 -> 90 - 40 = 50 degC */
	r = FRAME(fx, 0x196, 8, 0, 0, 0, 0, 0, 0xEF, 0, 0);
	expect_exact(fx, r, "motor_temp", 199);         /* B5 = 0xEF = 239 (highest valid) -> 199 */
	r = FRAME(fx, 0x196, 8, 0, 0, 0, 0, 0, 0x01, 0, 0);
	expect_exact(fx, r, "motor_temp", -39);         /* B5 = 1 (lowest valid) -> -39 */

	r = FRAME(fx, 0x19F, 8, 0, 0, 0x7D, 0x00, 0, 0, 0, 0);
	expect_exact(fx, r, "motor_rpm", 0);            /* 0x7D00 >> 4 = 0x7D0 = 2000 -> (2000 - 2000) * 10 = 0 */
	r = FRAME(fx, 0x19F, 8, 0xFF, 0xFF, 0x8A, 0x2F, 0xFF, 0xFF, 0xFF, 0xFF);
	expect_exact(fx, r, "motor_rpm", 2100);         /* 0x8A2F >> 4 = 0x8A2 = 2210 -> 210 * 10 = 2100 rpm */
	r = FRAME(fx, 0x19F, 8, 0, 0, 0x76, 0xC0, 0, 0, 0, 0);
	expect_exact(fx, r, "motor_rpm", -1000);        /* 0x76C = 1900 -> -100 * 10 = -1000 rpm (reverse) */
}

static void test_0x424_0x425_bms(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x424, 8, 0x11, 0x00, 0x0A, 0x28, 0x00, 0x62, 0x00, 0x00);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "bms_state_424", 17);       /* B0 = 0x11 normal */
	expect_exact(fx, r, "max_charge_power", 5000);  /* B2 = 10 -> 10 * 500 W */
	expect_exact(fx, r, "max_drive_power", 20000);  /* B3 = 0x28 = 40 -> 40 * 500 W */
	expect_exact(fx, r, "soh", 98);                 /* B5 = 0x62 = 98 % */
	assert_string_equal(decoder_value_label(fx->d, (size_t)decoder_signal_find(fx->d, "bms_state_424"), 18),
			    "stop_charge_request");
	r = FRAME(fx, 0x424, 8, 0x12, 0, 0, 0, 0, 0x7E, 0, 0);
	expect_exact(fx, r, "bms_state_424", 18);       /* 0x12 stop-charge request */
	expect_exact(fx, r, "soh", 126);                /* 0x7E (highest valid: B5 < 0x7F) */

	r = FRAME(fx, 0x425, 8, 0x24, 0x3D, 0x00, 0x00, 0x0F, 0x50, 0x00, 0x00);
	expect_exact(fx, r, "bms_state", 36);           /* 0x24 ready */
	expect_exact(fx, r, "energy_avail", 6.1);       /* B1 = 0x3D = 61 -> 61 / 10 = 6.1 kWh */
	/* the legacy decoder read the pack voltage here (B4..B5 / 1132): 0x425 carries none */
	expect_absent(fx, r, "pack_voltage");
	expect_absent(fx, r, "power");
	assert_string_equal(decoder_value_label(fx->d, (size_t)decoder_signal_find(fx->d, "bms_state"), 36), "ready");
}

static void test_0x554_module_temps(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x554, 8, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41, 0x42, 0x43);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "module_temp1", 20);        /* 0x3C = 60 - 40 */
	expect_exact(fx, r, "module_temp2", 21);        /* 0x3D = 61 - 40 */
	expect_exact(fx, r, "module_temp3", 22);
	expect_exact(fx, r, "module_temp4", 23);
	expect_exact(fx, r, "module_temp5", 24);        /* 0x40 = 64 - 40 */
	expect_exact(fx, r, "module_temp6", 25);
	expect_exact(fx, r, "module_temp7", 26);
	expect_exact(fx, r, "module_temp8", 27);        /* B7 = 0x43 = 67 - 40 (8-module pack) */
	/* a 7-module pack: B7 = 0xFF is "not available" */
	r = FRAME(fx, 0x554, 8, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41, 0x42, 0xFF);
	expect_invalid(r, 1, 0, 0);
	expect_absent(fx, r, "module_temp8");
	expect_exact(fx, r, "module_temp7", 26);
}

static void test_cells_12bit_packing(void **state)
{
	struct fixture *fx = *state;
	/* 0x556: c1 = 0xABC, c2 = 0x123, c3 = 0x456, c4 = 0x789, c5 = 0xDEF packed as
	   B0 = c1 >> 4, B1 = (c1 & 0xF) << 4 | c2 >> 8, B2 = c2 & 0xFF, B3 = c3 >> 4, B4 = (c3 & 0xF) << 4 | c4 >> 8,
	   B5 = c4 & 0xFF, B6 = c5 >> 4, B7 = (c5 & 0xF) << 4 (+ a low nibble that is not part of any cell) */
	const struct decode_result *r = FRAME(fx, 0x556, 8, 0xAB, 0xC1, 0x23, 0x45, 0x67, 0x89, 0xDE, 0xF5);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "cell_v1", 13.74);          /* 0xABC = 2748 / 200 */
	expect_exact(fx, r, "cell_v2", 1.455);          /* 0x123 = 291 / 200 */
	expect_exact(fx, r, "cell_v3", 5.55);           /* 0x456 = 1110 / 200 */
	expect_exact(fx, r, "cell_v4", 9.645);          /* 0x789 = 1929 / 200 */
	expect_exact(fx, r, "cell_v5", 17.835);         /* 0xDEF = 3567 / 200 */

	/* 0x557, realistic: c6..c10 = 756, 757, 758, 759, 760 = 0x2F4 .. 0x2F8 */
	r = FRAME(fx, 0x557, 8, 0x2F, 0x42, 0xF5, 0x2F, 0x62, 0xF7, 0x2F, 0x80);
	expect_exact(fx, r, "cell_v6", 3.78);           /* 756 / 200 */
	expect_exact(fx, r, "cell_v7", 3.785);          /* 757 / 200 */
	expect_exact(fx, r, "cell_v8", 3.79);           /* 758 / 200 */
	expect_exact(fx, r, "cell_v9", 3.795);          /* 759 / 200 */
	expect_exact(fx, r, "cell_v10", 3.8);           /* 760 / 200 */

	/* 0x55E: c11..c14 = 0x321, 0x654, 0x987, 0xCBA in B0..B5; a 6-byte frame is enough */
	r = FRAME(fx, 0x55E, 6, 0x32, 0x16, 0x54, 0x98, 0x7C, 0xBA, 0x00, 0x00);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "cell_v11", 4.005);         /* 0x321 = 801 / 200 */
	expect_exact(fx, r, "cell_v12", 8.1);           /* 0x654 = 1620 / 200 */
	expect_exact(fx, r, "cell_v13", 12.195);        /* 0x987 = 2439 / 200 */
	expect_exact(fx, r, "cell_v14", 16.29);         /* 0xCBA = 3258 / 200 */
}

static void test_0x55f_pack_voltage(void **state)
{
	struct fixture *fx = *state;
	/* v1 = B5 << 4 | B6 >> 4 = 0x234 = 564, v2 = (B6 & 0xF) << 8 | B7 = 0x236 = 566 -> mean 565 / 10 = 56.5 V */
	const struct decode_result *r = FRAME(fx, 0x55F, 8, 0x11, 0x11, 0x11, 0x11, 0x11, 0x23, 0x42, 0x36);
	expect_exact(fx, r, "pack_v1", 56.4);
	expect_exact(fx, r, "pack_v2", 56.6);
	expect_val(fx, r, "pack_voltage", 56.5);
	expect_absent(fx, r, "power"); /* no current yet */
	/* the two fields must come from the same frame: with DLC 7, v2 (B6..B7) is missing, so no pack_voltage */
	r = FRAME(fx, 0x55F, 7, 0x11, 0x11, 0x11, 0x11, 0x11, 0x23, 0x42, 0x36);
	expect_invalid(r, 0, 1, 0);
	expect_val(fx, r, "pack_v1", 56.4);
	expect_absent(fx, r, "pack_voltage");
}

static void test_0x597_charger(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x597, 8, 0x20, 0x20, 0x0F, 0, 0, 0, 0, 0x4B);
	expect_exact(fx, r, "plug", 1);                 /* B0 & 0x20 */
	expect_exact(fx, r, "charging", 1);             /* (0x20 & 0x60) == 0x20 */
	expect_exact(fx, r, "dcdc_current", 3);         /* B2 = 15 -> 15 / 5 = 3 A */
	expect_exact(fx, r, "charger_temp", 35);        /* B7 = 0x4B = 75 - 40 */
	r = FRAME(fx, 0x597, 8, 0xDF, 0x60, 0, 0, 0, 0, 0, 0x01);
	expect_exact(fx, r, "plug", 0);                 /* 0xDF: every bit but 0x20 */
	expect_exact(fx, r, "charging", 0);             /* 0x60: CHARGING with OFFLINE -> not charging */
	expect_exact(fx, r, "charger_temp", -39);       /* B7 = 1 (lowest valid) */
	r = FRAME(fx, 0x597, 8, 0, 0x30, 0, 0, 0, 0, 0, 0xEF);
	expect_exact(fx, r, "charging", 1);             /* 0x30 & 0x60 = 0x20 (0x10 = key on) */
	expect_exact(fx, r, "charger_temp", 199);
	r = FRAME(fx, 0x597, 8, 0, 0x10, 0, 0, 0, 0, 0, 0x40);
	expect_exact(fx, r, "charging", 0);             /* key on only */
}

static void test_0x599_0x59e_0x5d7(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x599, 8, 0x12, 0x34, 0x56, 0x78, 0, 0x64, 0x0F, 0xA0);
	expect_exact(fx, r, "range", 100);              /* B5 = 0x64 = 100 km */
	expect_exact(fx, r, "speed", 40);               /* 0x0FA0 = 4000 / 100 = 40 km/h */
	r = FRAME(fx, 0x599, 8, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFE);
	expect_exact(fx, r, "range", 254);              /* 0xFE highest valid */
	expect_exact(fx, r, "speed", 655.34);           /* 0xFFFE = 65534 / 100 (only 0xFFFF is refused) */

	r = FRAME(fx, 0x59E, 8, 0xAA, 0xBB, 0, 0, 0, 0x73, 0, 0);
	expect_exact(fx, r, "inverter_temp", 75);       /* B5 = 0x73 = 115 - 40 */

	/* odometer: raw = B2 << 20 | B3 << 12 | B4 << 4 | B5 >> 4 = 0x12D687 = 1234567 -> / 100 = 12345.67 km
	   (the legacy /1600 would say 771.6); the low nibble of B5 is not part of it */
	r = FRAME(fx, 0x5D7, 8, 0xFF, 0xFF, 0x01, 0x2D, 0x68, 0x7A, 0xFF, 0xFF);
	expect_exact(fx, r, "odometer", 12345.67);
	/* all 28 bits: 0xFEDCBA9 = 267242409 -> 2672424.09 km */
	r = FRAME(fx, 0x5D7, 8, 0, 0, 0xFE, 0xDC, 0xBA, 0x90, 0, 0);
	expect_val(fx, r, "odometer", 2672424.09);
}

static void test_0x59b_gear_pedals(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x59B, 8, 0x80, 0x09, 0, 0xFD, 0, 0, 0, 0);
	expect_exact(fx, r, "gear", 1);                 /* 0x80 = D */
	expect_exact(fx, r, "brake", 1);                /* B1 & 0x01 */
	expect_exact(fx, r, "ignition", 1);             /* B1 & 0x08 */
	expect_val(fx, r, "throttle", 100);             /* 253 * 100 / 253 */
	r = FRAME(fx, 0x59B, 8, 0x08, 0x01, 0, 0x65, 0, 0, 0, 0);
	expect_exact(fx, r, "gear", -1);                /* 0x08 = R */
	expect_exact(fx, r, "brake", 1);
	expect_exact(fx, r, "ignition", 0);
	expect_val(fx, r, "throttle", 39.920948616600790514); /* 101 * 100 / 253 */
	r = FRAME(fx, 0x59B, 8, 0x20, 0x08, 0, 0x00, 0, 0, 0, 0);
	expect_exact(fx, r, "gear", 0);                 /* 0x20: neutral (the legacy decoder's error case) */
	expect_exact(fx, r, "brake", 0);
	expect_exact(fx, r, "ignition", 1);
	expect_exact(fx, r, "throttle", 0);
	r = FRAME(fx, 0x59B, 8, 0x00, 0, 0, 0, 0, 0, 0, 0);
	expect_exact(fx, r, "gear", 0);                 /* 0x00: neutral */
	r = FRAME(fx, 0x59B, 8, 0x88, 0, 0, 0, 0, 0, 0, 0);
	expect_exact(fx, r, "gear", 0);                 /* not exactly 0x80 or 0x08 */
}

/* ---- validity ---- */

struct sentinel_case {
	uint32_t id;
	uint8_t b[8];
	const char *sig;
	const char *why;
};

static void test_sentinels_refused_and_counted(void **state)
{
	struct fixture *fx = *state;
	static const struct sentinel_case cases[] = {
		{0x155, {0, 0x00, 0x00, 0x54, 0x40, 0x00, 0, 0}, "current", "raw 0"},
		{0x155, {0, 0x0F, 0x00, 0x54, 0x40, 0x00, 0, 0}, "current", "raw 0xF00"},
		{0x155, {0, 0x0F, 0xFF, 0x54, 0x40, 0x00, 0, 0}, "current", "raw 0xFFF"},
		{0x155, {0, 0x07, 0xD0, 0x54, 0x00, 0x00, 0, 0}, "soc", "raw 0"},
		{0x155, {0, 0x07, 0xD0, 0x54, 0x9C, 0x41, 0, 0}, "soc", "raw 40001"},
		{0x155, {0, 0x07, 0xD0, 0x54, 0xFF, 0xFF, 0, 0}, "soc", "0xFFFF"},
		{0x196, {0, 0, 0, 0, 0, 0x00, 0, 0}, "motor_temp", "B5 0"},
		{0x196, {0, 0, 0, 0, 0, 0xF0, 0, 0}, "motor_temp", "B5 0xF0"},
		{0x196, {0, 0, 0, 0, 0, 0xFF, 0, 0}, "motor_temp", "B5 0xFF"},
		{0x424, {0x11, 0, 0xFF, 0x10, 0, 0x50, 0, 0}, "max_charge_power", "B2 0xFF"},
		{0x424, {0x11, 0, 0x10, 0xFF, 0, 0x50, 0, 0}, "max_drive_power", "B3 0xFF"},
		{0x424, {0x11, 0, 0x10, 0x10, 0, 0x7F, 0, 0}, "soh", "B5 0x7F"},
		{0x424, {0x11, 0, 0x10, 0x10, 0, 0xFF, 0, 0}, "soh", "B5 0xFF"},
		{0x425, {0x24, 0xFF, 0, 0, 0, 0, 0, 0}, "energy_avail", "B1 0xFF"},
		{0x554, {0x00, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40}, "module_temp1", "B0 0"},
		{0x554, {0x40, 0xF0, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40}, "module_temp2", "B1 0xF0"},
		{0x554, {0x40, 0x40, 0xFF, 0x40, 0x40, 0x40, 0x40, 0x40}, "module_temp3", "B2 0xFF"},
		{0x554, {0x40, 0x40, 0x40, 0xF5, 0x40, 0x40, 0x40, 0x40}, "module_temp4", "B3 0xF5"},
		{0x554, {0x40, 0x40, 0x40, 0x40, 0x00, 0x40, 0x40, 0x40}, "module_temp5", "B4 0"},
		{0x554, {0x40, 0x40, 0x40, 0x40, 0x40, 0xF0, 0x40, 0x40}, "module_temp6", "B5 0xF0"},
		{0x554, {0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0xFF, 0x40}, "module_temp7", "B6 0xFF"},
		{0x554, {0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0xF0}, "module_temp8", "B7 0xF0"},
		{0x597, {0x20, 0x20, 0x05, 0, 0, 0, 0, 0xF0}, "charger_temp", "B7 0xF0"},
		{0x597, {0x20, 0x20, 0x05, 0, 0, 0, 0, 0x00}, "charger_temp", "B7 0"},
		{0x599, {0, 0, 0, 0, 0, 0xFF, 0x01, 0x00}, "range", "B5 0xFF"},
		{0x599, {0, 0, 0, 0, 0, 0x00, 0x01, 0x00}, "range", "B5 0"},
		{0x599, {0, 0, 0, 0, 0, 0x10, 0xFF, 0xFF}, "speed", "0xFFFF"},
		{0x59E, {0, 0, 0, 0, 0, 0xF0, 0, 0}, "inverter_temp", "B5 0xF0"},
		{0x59E, {0, 0, 0, 0, 0, 0x00, 0, 0}, "inverter_temp", "B5 0"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct decode_result *r = frame(fx, cases[i].id, 8, cases[i].b);
		double v;
		if (find(fx, r, cases[i].sig, &v))
			fail_msg("0x%03X %s %s: decoded %g, must be refused", cases[i].id, cases[i].sig, cases[i].why, v);
		if (r->invalid[DEC_INV_RANGE] != 1)
			fail_msg("0x%03X %s %s: %u range refusals counted, want 1", cases[i].id, cases[i].sig, cases[i].why,
				 r->invalid[DEC_INV_RANGE]);
		assert_true(r->known_id);
	}
}

static void test_bms_valid_0x94_gates_frame(void **state)
{
	struct fixture *fx = *state;
	/* B3 = 0x94: BMS start-up/shut-down: nothing but bms_valid itself may come out of this frame */
	const struct decode_result *r = FRAME(fx, 0x155, 8, 0x07, 0x07, 0xD0, 0x94, 0x6D, 0x59, 0, 0);
	expect_exact(fx, r, "bms_valid", 148);
	expect_absent(fx, r, "charge_power_req");
	expect_absent(fx, r, "current");
	expect_absent(fx, r, "soc");
	expect_invalid(r, 0, 0, 3);
	assert_string_equal(decoder_value_label(fx->d, (size_t)decoder_signal_find(fx->d, "bms_valid"), 148), "ignore");
	/* the next valid frame decodes again */
	r = FRAME(fx, 0x155, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "soc", 69.9825);
	/* a gate that cannot be read (DLC 3 < B3) leaves the frame's validity unknown: refused as gated */
	r = FRAME(fx, 0x155, 3, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	assert_int_equal(r->n, 0);
	expect_invalid(r, 0, 1, 3);
}

static void test_short_dlc_never_reads_stale_bytes(void **state)
{
	struct fixture *fx = *state;
	/* DLC 4: the bytes past it are deliberately non-zero (stale); soc (B4..B5) must not be read from them */
	const struct decode_result *r = FRAME(fx, 0x155, 4, 0x05, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0x11, 0x22);
	expect_exact(fx, r, "charge_power_req", 5);
	expect_exact(fx, r, "current", 0);
	expect_exact(fx, r, "bms_valid", 84);
	expect_absent(fx, r, "soc");
	expect_invalid(r, 0, 1, 0);

	/* 0x556 DLC 5: c1 (B0..B1), c2 (B1..B2), c3 (B3..B4) fit; c4 (B4..B5) and c5 (B6..B7) do not */
	r = FRAME(fx, 0x556, 5, 0xAB, 0xC1, 0x23, 0x45, 0x67, 0x89, 0xDE, 0xF5);
	expect_exact(fx, r, "cell_v3", 5.55);
	expect_absent(fx, r, "cell_v4");
	expect_absent(fx, r, "cell_v5");
	expect_invalid(r, 0, 2, 0);

	/* 0x5D7 DLC 5: the odometer needs B5 */
	r = FRAME(fx, 0x5D7, 5, 0, 0, 0x01, 0x2D, 0x68, 0x7A, 0, 0);
	expect_absent(fx, r, "odometer");
	expect_invalid(r, 0, 1, 0);

	/* DLC 0 */
	r = FRAME(fx, 0x554, 0, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40);
	expect_invalid(r, 0, 8, 0);
	assert_true(r->known_id);
}

static void test_unknown_ids_rtr_err(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x123, 8, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_false(r->known_id);
	assert_false(decoder_knows_id(fx->d, 0x123));
	assert_true(decoder_knows_id(fx->d, 0x155));
	/* 0x423 (charger wake) exists on the bus but carries nothing the project decodes */
	r = FRAME(fx, 0x423, 8, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_false(r->known_id);
	/* a 29-bit frame with id 0x155 is a different frame */
	r = FRAME(fx, 0x155 | CAN_EFF_FLAG, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	assert_false(r->known_id);
	assert_int_equal(r->n, 0);
	/* a remote request for 0x155 has no data */
	r = FRAME(fx, 0x155 | CAN_RTR_FLAG, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_true(r->known_id);
	assert_int_equal(r->n, 0);
	expect_invalid(r, 0, 0, 0);
	r = FRAME(fx, 0x155 | CAN_ERR_FLAG, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	assert_false(r->known_id);
	assert_int_equal(r->n, 0);
}

/* ---- derived signals ---- */

static void test_power_sign(void **state)
{
	struct fixture *fx = *state;
	const struct decode_result *r = FRAME(fx, 0x55F, 8, 0, 0, 0, 0, 0, 0x23, 0x42, 0x36); /* 56.5 V (see above) */
	expect_absent(fx, r, "power");
	r = FRAME(fx, 0x155, 8, 0x07, 0x08, 0x34, 0x54, 0x6D, 0x59, 0, 0);
	expect_exact(fx, r, "current", 25);             /* 0x834 = 2100 -> +25 A: charging */
	expect_val(fx, r, "power", 1.4125);             /* 25 A * 56.5 V / 1000 = +1.4125 kW (positive while charging) */
	r = FRAME(fx, 0x155, 8, 0x00, 0x06, 0x40, 0x54, 0x6D, 0x59, 0, 0);
	expect_val(fx, r, "power", -5.65);              /* -100 A * 56.5 V / 1000 = -5.65 kW (driving) */
	/* a new pack voltage updates power with the latest current: v1 = v2 = 0x23A = 570 -> 57.0 V */
	r = FRAME(fx, 0x55F, 8, 0, 0, 0, 0, 0, 0x23, 0xA2, 0x3A);
	expect_val(fx, r, "pack_voltage", 57);
	expect_val(fx, r, "power", -5.7);               /* -100 * 57 / 1000 */
	/* frames updating neither leave power alone */
	r = FRAME(fx, 0x196, 8, 0, 0, 0, 0, 0, 0x5A, 0, 0);
	expect_absent(fx, r, "power");
	/* a refused current is not used */
	r = FRAME(fx, 0x155, 8, 0x00, 0x00, 0x00, 0x54, 0x6D, 0x59, 0, 0);
	expect_absent(fx, r, "current");
	expect_absent(fx, r, "power");
}

static void test_bus_online_after_10s(void **state)
{
	struct fixture *fx = *state;
	struct decode_result r;
	struct can_frame_data f = {.id = 0x123, .dlc = 8};
	long bus = decoder_signal_find(fx->d, "bus_online");
	assert_true(bus >= 0);
	assert_int_equal(decoder_signal_canon(fx->d, (size_t)bus), SIG_BUS_ONLINE);

	/* before any frame: nothing until 10 s of silence since the first tick */
	assert_int_equal(decoder_tick(fx->d, 0, &r), 0);
	assert_int_equal(decoder_tick(fx->d, 9 * SEC, &r), 0);
	assert_int_equal(decoder_tick(fx->d, 10 * SEC, &r), 1);
	assert_int_equal(r.v[0].sig, (uint32_t)bus);
	assert_true(r.v[0].value == 0);

	/* any frame (even an unknown id) brings it to 1, once */
	assert_int_equal(decoder_frame(fx->d, &f, 20 * SEC, &r), 1);
	assert_int_equal(r.v[0].sig, (uint32_t)bus);
	assert_true(r.v[0].value == 1);
	assert_int_equal(decoder_frame(fx->d, &f, 21 * SEC, &r), 0);
	/* 10 s after the last frame (21 s), not before */
	assert_int_equal(decoder_tick(fx->d, 25 * SEC, &r), 0);
	assert_int_equal(decoder_tick(fx->d, 31 * SEC - 1, &r), 0);
	assert_int_equal(decoder_tick(fx->d, 31 * SEC, &r), 1);
	assert_true(r.v[0].value == 0);
	assert_false(r.known_id);
	/* emitted on change only */
	assert_int_equal(decoder_tick(fx->d, 40 * SEC, &r), 0);
	assert_int_equal(decoder_frame(fx->d, &f, 41 * SEC, &r), 1);
	assert_true(r.v[0].value == 1);
}

/* Decodes 0x597 with charging on/off and 0x155 with a request; returns the charge_phase emitted, or -1. */
static int phase_after(struct fixture *fx, uint32_t id, int arg)
{
	const struct decode_result *r;
	if (id == 0x155)
		r = FRAME(fx, 0x155, 8, (uint8_t)arg, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	else
		r = FRAME(fx, 0x597, 8, 0x20, (uint8_t)arg, 0, 0, 0, 0, 0, 0x40);
	double v;
	return find(fx, r, "charge_phase", &v) ? (int)v : -1;
}

static void test_charge_phase_sequence(void **state)
{
	struct fixture *fx = *state;
	long sig = decoder_signal_find(fx->d, "charge_phase");
	assert_true(sig >= 0);
	assert_int_equal(decoder_signal_canon(fx->d, (size_t)sig), SIG_CHARGE_PHASE);
	assert_string_equal(decoder_value_text(fx->d, (size_t)sig, CHARGE_PHASE_TOPOFF), "topoff");
	assert_null(decoder_value_text(fx->d, (size_t)decoder_signal_find(fx->d, "soc"), 2));

	assert_int_equal(phase_after(fx, 0x155, 7), -1);                     /* request 7, not charging: none */
	assert_int_equal(phase_after(fx, 0x597, 0x20), CHARGE_PHASE_CHARGING); /* charging starts at level 7 */
	assert_int_equal(phase_after(fx, 0x155, 7), -1);                     /* unchanged */
	assert_int_equal(phase_after(fx, 0x597, 0x20), -1);
	assert_int_equal(phase_after(fx, 0x155, 5), CHARGE_PHASE_TOPOFF);    /* dropped below 7 */
	assert_int_equal(phase_after(fx, 0x155, 3), -1);                     /* still topoff */
	assert_int_equal(phase_after(fx, 0x155, 0), -1);
	assert_int_equal(phase_after(fx, 0x597, 0x00), CHARGE_PHASE_DONE);   /* charging stops with request 0 */
	assert_int_equal(phase_after(fx, 0x597, 0x00), -1);

	/* a second charge: the highest level is this charge's, not the last one's */
	assert_int_equal(phase_after(fx, 0x155, 3), -1);
	assert_int_equal(phase_after(fx, 0x597, 0x30), CHARGE_PHASE_CHARGING); /* 0x30: charging, key on */
	assert_int_equal(phase_after(fx, 0x155, 5), -1);                     /* rose: new highest level, charging */
	assert_int_equal(phase_after(fx, 0x155, 4), CHARGE_PHASE_TOPOFF);
	assert_int_equal(phase_after(fx, 0x155, 5), CHARGE_PHASE_CHARGING);  /* back at the highest level */
	assert_int_equal(phase_after(fx, 0x597, 0x60), CHARGE_PHASE_STOPPED); /* OFFLINE: stopped with request 5 */
}

/* ---- every signal recomputed from the facts table's byte formulas, for random frames ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint8_t rnd8(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 24);
}

static void check(struct fixture *fx, const struct decode_result *r, const char *name, bool valid, double want)
{
	if (valid)
		expect_val(fx, r, name, want);
	else
		expect_absent(fx, r, name);
}

static void test_formulas_random_frames(void **state)
{
	struct fixture *fx = *state;
	for (int it = 0; it < 3000; it++) {
		uint8_t b[8];
		for (int i = 0; i < 8; i++)
			b[i] = rnd8();
		if (it % 3 == 0)
			b[3] = 0x54; /* 0x155: mostly valid frames */
		const struct decode_result *r;
		unsigned raw;
		char name[32];

		r = frame(fx, 0x155, 8, b);
		bool gate = b[3] == 0x94;
		check(fx, r, "charge_power_req", !gate, b[0]);
		raw = (b[1] & 0x0Fu) << 8 | b[2];
		check(fx, r, "current", !gate && raw > 0 && raw < 0xF00, ((double)raw - 2000) / 4);
		check(fx, r, "bms_valid", true, b[3]);
		raw = (unsigned)b[4] << 8 | b[5];
		check(fx, r, "soc", !gate && raw > 0 && raw <= 40000, raw / 400.0);

		r = frame(fx, 0x196, 8, b);
		check(fx, r, "motor_temp", b[5] > 0 && b[5] < 0xF0, b[5] - 40.0);
		r = frame(fx, 0x19F, 8, b);
		raw = ((unsigned)b[2] << 8 | b[3]) >> 4;
		check(fx, r, "motor_rpm", true, ((double)raw - 2000) * 10);
		r = frame(fx, 0x424, 8, b);
		check(fx, r, "bms_state_424", true, b[0]);
		check(fx, r, "max_charge_power", b[2] != 0xFF, b[2] * 500.0);
		check(fx, r, "max_drive_power", b[3] != 0xFF, b[3] * 500.0);
		check(fx, r, "soh", b[5] < 0x7F, b[5]);
		r = frame(fx, 0x425, 8, b);
		check(fx, r, "bms_state", true, b[0]);
		check(fx, r, "energy_avail", b[1] != 0xFF, b[1] / 10.0);
		r = frame(fx, 0x554, 8, b);
		for (int i = 0; i < 8; i++) {
			snprintf(name, sizeof name, "module_temp%d", i + 1);
			check(fx, r, name, b[i] > 0 && b[i] < 0xF0, b[i] - 40.0);
		}
		const uint32_t cell_ids[3] = {0x556, 0x557, 0x55E};
		for (int k = 0; k < 3; k++) {
			r = frame(fx, cell_ids[k], 8, b);
			unsigned c[5] = {
				(unsigned)b[0] << 4 | b[1] >> 4, (b[1] & 0xFu) << 8 | b[2], (unsigned)b[3] << 4 | b[4] >> 4,
				(b[4] & 0xFu) << 8 | b[5], (unsigned)b[6] << 4 | b[7] >> 4,
			};
			for (int i = 0; i < (k == 2 ? 4 : 5); i++) {
				snprintf(name, sizeof name, "cell_v%d", 5 * k + i + 1);
				check(fx, r, name, true, c[i] / 200.0);
			}
		}
		r = frame(fx, 0x55F, 8, b);
		unsigned v1 = (unsigned)b[5] << 4 | b[6] >> 4, v2 = (b[6] & 0xFu) << 8 | b[7];
		check(fx, r, "pack_voltage", true, (v1 + v2) / 2.0 / 10);
		r = frame(fx, 0x597, 8, b);
		check(fx, r, "plug", true, (b[0] & 0x20) != 0);
		check(fx, r, "charging", true, (b[1] & 0x60) == 0x20);
		check(fx, r, "dcdc_current", true, b[2] / 5.0);
		check(fx, r, "charger_temp", b[7] > 0 && b[7] < 0xF0, b[7] - 40.0);
		r = frame(fx, 0x599, 8, b);
		check(fx, r, "range", b[5] != 0xFF && b[5] != 0, b[5]);
		raw = (unsigned)b[6] << 8 | b[7];
		check(fx, r, "speed", raw != 0xFFFF, raw / 100.0);
		r = frame(fx, 0x59B, 8, b);
		check(fx, r, "gear", true, b[0] == 0x80 ? 1 : b[0] == 0x08 ? -1 : 0);
		check(fx, r, "brake", true, b[1] & 0x01);
		check(fx, r, "ignition", true, (b[1] & 0x08) != 0);
		check(fx, r, "throttle", true, b[3] * 100.0 / 253);
		r = frame(fx, 0x59E, 8, b);
		check(fx, r, "inverter_temp", b[5] > 0 && b[5] < 0xF0, b[5] - 40.0);
		r = frame(fx, 0x5D7, 8, b);
		raw = (unsigned)b[2] << 20 | (unsigned)b[3] << 12 | (unsigned)b[4] << 4 | b[5] >> 4;
		check(fx, r, "odometer", true, raw / 100.0);
	}
}

/* Every canonical signal except the link-level ones is produced by this DBC. */
static void test_every_canonical_signal_present(void **state)
{
	struct fixture *fx = *state;
	for (int c = 0; c < SIG__COUNT; c++) {
		long s = decoder_signal_find(fx->d, canon_sig_name((enum canon_sig)c));
		if (s < 0)
			fail_msg("canonical signal %s missing", canon_sig_name((enum canon_sig)c));
		assert_int_equal(decoder_signal_canon(fx->d, (size_t)s), c);
		assert_string_equal(decoder_signal_unit(fx->d, (size_t)s), canon_sig_unit((enum canon_sig)c));
	}
	assert_null(decoder_signal_name(fx->d, decoder_signal_count(fx->d)));
	assert_int_equal(decoder_signal_canon(fx->d, (size_t)decoder_signal_find(fx->d, "gear_raw")), -1);
}

static void test_vstate_apply(void **state)
{
	struct fixture *fx = *state;
	struct vstate s;
	vstate_init(&s);
	const struct decode_result *r = FRAME(fx, 0x155, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0, 0);
	vstate_apply(&s, fx->d, r, 111, 11, 1);
	assert_true(vstate_has(&s, SIG_SOC));
	assert_true(s.value[SIG_SOC] == 69.9825);
	assert_int_equal(s.t_real_ns[SIG_SOC], 111);
	assert_true(s.value[SIG_BUS_ONLINE] == 1);
	assert_false(vstate_has(&s, SIG_GEAR));

	r = FRAME(fx, 0x59B, 8, 0x08, 0, 0, 0, 0, 0, 0, 0);
	vstate_apply(&s, fx->d, r, 222, 22, 2);
	assert_true(s.value[SIG_GEAR] == -1);
	assert_int_equal(s.t_real_ns[SIG_GEAR], 222);

	r = FRAME(fx, 0x196, 8, 0, 0, 0, 0, 0, 0xFF, 0, 0); /* refused motor_temp */
	vstate_apply(&s, fx->d, r, 333, 33, 3);
	assert_false(vstate_has(&s, SIG_MOTOR_TEMP));
	r = FRAME(fx, 0x7FF, 8, 0, 0, 0, 0, 0, 0, 0, 0);    /* unknown id */
	vstate_apply(&s, fx->d, r, 444, 44, 4);
	assert_int_equal(s.frames, 4);
	assert_int_equal(s.invalid_values, 1);
	assert_int_equal(s.unknown_ids, 1);
	assert_int_equal(s.last_seq, 4);
	assert_int_equal(s.updated_real_ns, 444);
	assert_int_equal(s.last_frame_mono_ns, 44);
	assert_int_equal(s.t_real_ns[SIG_SOC], 111);        /* untouched by later frames */

	struct decode_result tr;
	assert_int_equal(decoder_tick(fx->d, fx->t_ns + 10 * SEC, &tr), 1);
	vstate_apply_tick(&s, fx->d, &tr, 555);
	assert_true(s.value[SIG_BUS_ONLINE] == 0);
	assert_int_equal(s.t_real_ns[SIG_BUS_ONLINE], 555);
	assert_int_equal(s.frames, 4);

	struct gps_fix g = {.lat_deg = 48.7, .lon_deg = 2.2, .valid = 1, .have = GPS_HAVE_POS};
	vstate_apply_gps(&s, &g, 666, 5);
	assert_true(s.gps.lat_deg == 48.7);
	assert_int_equal(s.gps_fixes, 1);
	assert_int_equal(s.gps_real_ns, 666);
	assert_int_equal(s.last_seq, 5);
	struct link_status st = {.can_ok = 1, .sats = 7};
	vstate_apply_status(&s, &st, 777, 6);
	assert_int_equal(s.status.sats, 7);
	assert_int_equal(s.status_real_ns, 777);
	assert_int_equal(s.updated_real_ns, 777);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_0x155_bms),
		T(test_0x196_0x19f_motor),
		T(test_0x424_0x425_bms),
		T(test_0x554_module_temps),
		T(test_cells_12bit_packing),
		T(test_0x55f_pack_voltage),
		T(test_0x597_charger),
		T(test_0x599_0x59e_0x5d7),
		T(test_0x59b_gear_pedals),
		T(test_sentinels_refused_and_counted),
		T(test_bms_valid_0x94_gates_frame),
		T(test_short_dlc_never_reads_stale_bytes),
		T(test_unknown_ids_rtr_err),
		T(test_power_sign),
		T(test_bus_online_after_10s),
		T(test_charge_phase_sequence),
		T(test_formulas_random_frames),
		T(test_every_canonical_signal_present),
		T(test_vstate_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

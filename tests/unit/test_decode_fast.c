/*
 * test_decode_fast.c - the decoder's fast path (plain integer messages: one shift, mask and sign fold per signal,
 * range and DLC checks hoisted per message) and its direct application into struct vstate (decoder_frame_apply,
 * decoder_records_apply), against the generic path (DECODER_F_GENERIC) and against a reference decoder written here
 * from the DBC definitions (interop.md's bit numbering walked bit by bit, raw * factor + offset, the [min|max] rule,
 * the DLC rule, multiplexing, the "ignore" gate), cantools-style.
 *
 * Hand-worked frames first (expected values computed from the DBC text in the comments), then random frames over
 * every message of a test DBC and of the built-in twizy.dbc: the fast and generic decoders must agree bit for bit,
 * and both with the reference to 1e-12.
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
#include "stages/decode/dbc.h"
#include "stages/decode/decoder.h"
#include "stages/decode/vstate_update.h"
#include "tests/support/dbc_bits.h"

/*
 * One message per case the two paths treat differently.  Bit positions (DBC numbering: byte b bit i = 8b + i;
 * Intel @1 start = LSB, Motorola @0 start = MSB):
 *   100 PLAIN   u8: B0 * 0.5 - 10 (1 / 0.5 = 2: raw / 2 - 10), valid -5..100; be12: Motorola MSB B1 bit 7,
 *               raw = B1 << 4 | B2 >> 4, / 10, valid 0..300; s16: Intel B3 (low) B4 (high), signed, valid
 *               -1000..1000; sbe10: Motorola MSB B5 bit 5, raw = (B5 & 0x3F) << 4 | B6 >> 4, signed 10 bits, / 4;
 *               flag: B6 bit 0; odd: B7 * 0.3 + 1 (0.3 is no reciprocal of an integer: a product), no range.
 *   101 CANON   soc: B0 << 8 | B1, / 400, valid 0.0025..100; current: B2 << 8 | B3 signed, / 10, valid -500..500;
 *               pack_v1: B4 << 4 | B5 >> 4, / 10; pack_v2: (B5 & 0xF) << 8 | B6, / 10; charge_power_req: B7,
 *               valid 0..7.  Canonical names: they reach struct vstate, and feed pack_voltage and power.
 *   102 GATED   (4 bytes) g: B0, 148 = "ignore"; a: B1, valid 0..200; b: B2 << 8 | B3, / 100.
 *   103 MUX     sel (multiplexor): B0; x (m0): Intel B1..B2; y (m1): Intel B1..B2 signed * 0.5; z: B3, valid 0..250.
 *   104 FLT     f: IEEE single in B0..B3 (Intel), valid -10..10; i: Intel B4..B7 unsigned.
 *   105 S64     s64: Motorola 64 bits signed.      106 U64  u64: Intel 64 bits unsigned (a double, not exact).
 *   107 EDGE    ranges at the raw extent: full: B0 << 4 | B1 >> 4, / 200, [0|20.475] holds 4095 / 200 (never refuses);
 *               edge: B2 << 4 | B3 >> 4, / 200, [0|20.47] refuses 4095 only; neg: B4 * -2, [-508|0] refuses 255.
 *   0x400 | EFF EXT  e: B0.
 */
static const char test_dbc_text[] =
	"VERSION \"fast path\"\n"
	"BO_ 100 PLAIN: 8 N\n"
	" SG_ u8 : 0|8@1+ (0.5,-10) [-5|100] \"\" N\n"
	" SG_ be12 : 15|12@0+ (0.1,0) [0|300] \"V\" N\n"
	" SG_ s16 : 24|16@1- (1,0) [-1000|1000] \"\" N\n"
	" SG_ sbe10 : 45|10@0- (0.25,0) [0|0] \"\" N\n"
	" SG_ flag : 48|1@1+ (1,0) [0|1] \"\" N\n"
	" SG_ odd : 56|8@1+ (0.3,1) [0|0] \"\" N\n"
	"BO_ 101 CANON: 8 N\n"
	" SG_ soc : 7|16@0+ (0.0025,0) [0.0025|100] \"%\" N\n"
	" SG_ current : 23|16@0- (0.1,0) [-500|500] \"A\" N\n"
	" SG_ pack_v1 : 39|12@0+ (0.1,0) [0|409.5] \"V\" N\n"
	" SG_ pack_v2 : 43|12@0+ (0.1,0) [0|409.5] \"V\" N\n"
	" SG_ charge_power_req : 63|8@0+ (1,0) [0|7] \"level\" N\n"
	"BO_ 102 GATED: 4 N\n"
	" SG_ g : 7|8@0+ (1,0) [0|255] \"\" N\n"
	" SG_ a : 15|8@0+ (1,0) [0|200] \"\" N\n"
	" SG_ b : 23|16@0+ (0.01,0) [0|0] \"\" N\n"
	"BO_ 103 MUX: 8 N\n"
	" SG_ sel M : 0|8@1+ (1,0) [0|0] \"\" N\n"
	" SG_ x m0 : 8|16@1+ (1,0) [0|0] \"\" N\n"
	" SG_ y m1 : 8|16@1- (0.5,0) [0|0] \"\" N\n"
	" SG_ z : 24|8@1+ (1,0) [0|250] \"\" N\n"
	"BO_ 104 FLT: 8 N\n"
	" SG_ f : 0|32@1- (1,0) [-10|10] \"\" N\n"
	" SG_ i : 32|32@1+ (1,0) [0|0] \"\" N\n"
	"BO_ 105 S64: 8 N\n"
	" SG_ s64 : 7|64@0- (1,0) [0|0] \"\" N\n"
	"BO_ 106 U64: 8 N\n"
	" SG_ u64 : 0|64@1+ (1,0) [0|0] \"\" N\n"
	"BO_ 107 EDGE: 8 N\n"
	" SG_ full : 7|12@0+ (0.005,0) [0|20.475] \"V\" N\n"
	" SG_ edge : 23|12@0+ (0.005,0) [0|20.47] \"V\" N\n"
	" SG_ neg : 39|8@0+ (-2,0) [-508|0] \"\" N\n"
	"BO_ 2147484672 EXT: 8 N\n"
	" SG_ e : 0|8@1+ (1,0) [0|0] \"\" N\n"
	"VAL_ 102 g 148 \"ignore\" 84 \"valid\" ;\n"
	"SIG_VALTYPE_ 104 f : 1;\n";

struct fixture {
	struct dbc db;
	struct decoder *fast, *generic;
	struct decoder *fast_vs, *generic_vs; /* for the struct vstate paths (their derived state sees only those) */
	struct decode_result rf, rg;
};

static int fixture_open(void **state, const char *text, size_t len)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	struct dbc_error err;
	if (!fx)
		return -1;
	if (dbc_parse(&fx->db, text, len, &err)) {
		fprintf(stderr, "dbc_parse: %s\n", err.msg);
		return -1;
	}
	if (decoder_create(&fx->fast, &fx->db) || decoder_create_flags(&fx->generic, &fx->db, DECODER_F_GENERIC) ||
	    decoder_create(&fx->fast_vs, &fx->db) ||
	    decoder_create_flags(&fx->generic_vs, &fx->db, DECODER_F_GENERIC))
		return -1;
	*state = fx;
	return 0;
}

static int setup_test_dbc(void **state)
{
	return fixture_open(state, test_dbc_text, strlen(test_dbc_text));
}

static int setup_twizy(void **state)
{
	return fixture_open(state, twizy_dbc_text, twizy_dbc_len);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	decoder_destroy(fx->fast);
	decoder_destroy(fx->generic);
	decoder_destroy(fx->fast_vs);
	decoder_destroy(fx->generic_vs);
	dbc_fini(&fx->db);
	free(fx);
	return 0;
}

static struct can_frame_data mkframe(uint32_t id, uint8_t dlc, const uint8_t b[8])
{
	struct can_frame_data f = {.id = id, .dlc = dlc};
	/* record.h: bytes at or past dlc are zero */
	for (unsigned i = 0; i < 8; i++)
		f.data[i] = i < dlc ? b[i] : 0;
	return f;
}

/* The two results must be the same, bit for bit. */
static void expect_same(const struct decode_result *a, const struct decode_result *b, const struct can_frame_data *f)
{
	if (a->n != b->n || a->known_id != b->known_id || memcmp(a->invalid, b->invalid, sizeof a->invalid) != 0)
		fail_msg("id %#x dlc %u: n %u/%u known %d/%d invalid %u,%u,%u / %u,%u,%u", f->id, f->dlc, a->n, b->n,
			 a->known_id, b->known_id, a->invalid[0], a->invalid[1], a->invalid[2], b->invalid[0],
			 b->invalid[1], b->invalid[2]);
	for (unsigned i = 0; i < a->n; i++)
		if (a->v[i].sig != b->v[i].sig || memcmp(&a->v[i].value, &b->v[i].value, sizeof(double)) != 0)
			fail_msg("id %#x value %u: sig %u = %.17g / sig %u = %.17g", f->id, i, a->v[i].sig,
				 a->v[i].value, b->v[i].sig, b->v[i].value);
}

/* Decodes with both decoders; returns the fast one's result after checking they agree. */
static const struct decode_result *both(struct fixture *fx, uint32_t id, uint8_t dlc, const uint8_t b[8])
{
	struct can_frame_data f = mkframe(id, dlc, b);
	unsigned nf = decoder_frame(fx->fast, &f, 0, &fx->rf);
	unsigned ng = decoder_frame(fx->generic, &f, 0, &fx->rg);
	assert_int_equal(nf, fx->rf.n);
	assert_int_equal(ng, fx->rg.n);
	expect_same(&fx->rf, &fx->rg, &f);
	return &fx->rf;
}

#define BOTH(fx, id, dlc, ...) both((fx), (id), (dlc), (const uint8_t[8]){__VA_ARGS__})

static bool value_of(const struct fixture *fx, const struct decode_result *r, const char *name, double *v)
{
	int hits = 0;
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(decoder_signal_name(fx->fast, r->v[i].sig), name) == 0) {
			*v = r->v[i].value;
			hits++;
		}
	assert_true(hits <= 1);
	return hits == 1;
}

static void expect_exact(const struct fixture *fx, const struct decode_result *r, const char *name, double want)
{
	double got;
	if (!value_of(fx, r, name, &got))
		fail_msg("%s missing (want %.17g)", name, want);
	if (got != want)
		fail_msg("%s = %.17g, want exactly %.17g", name, got, want);
}

static void expect_absent(const struct fixture *fx, const struct decode_result *r, const char *name)
{
	double got;
	if (value_of(fx, r, name, &got))
		fail_msg("%s = %.17g, should be absent", name, got);
}

static void expect_invalid(const struct decode_result *r, unsigned range, unsigned short_dlc, unsigned gated)
{
	assert_int_equal(r->invalid[DEC_INV_RANGE], range);
	assert_int_equal(r->invalid[DEC_INV_SHORT_DLC], short_dlc);
	assert_int_equal(r->invalid[DEC_INV_GATED], gated);
}

/* The first frame of a decoder also yields bus_online = 1: decode one unknown frame to get it out of the way. */
static void warm_up(struct fixture *fx)
{
	const struct decode_result *r = BOTH(fx, 0x7FF, 0, 0);
	assert_int_equal(r->n, 1);
	expect_exact(fx, r, "bus_online", 1);
}

/* ---- hand-worked frames of the test DBC ---- */

static void test_plain_unsigned_signed_big_little(void **state)
{
	struct fixture *fx = *state;
	warm_up(fx);
	const struct decode_result *r = BOTH(fx, 100, 8, 0x64, 0xAB, 0xC1, 0x18, 0xFC, 0x2A, 0x51, 0x0A);
	assert_true(r->known_id);
	expect_invalid(r, 0, 0, 0);
	assert_int_equal(r->n, 6);
	expect_exact(fx, r, "u8", 40);          /* B0 = 100 -> 100 / 2 - 10 = 40 */
	expect_exact(fx, r, "be12", 274.8);     /* 0xAB << 4 | 0xC = 0xABC = 2748 -> 2748 / 10 */
	expect_exact(fx, r, "s16", -1000);      /* 0xFC18 as int16 = -1000: the minimum itself is valid */
	expect_exact(fx, r, "sbe10", -86.75);   /* 0x2A << 4 | 0x5 = 677 >= 512 -> 677 - 1024 = -347 -> / 4 */
	expect_exact(fx, r, "flag", 1);         /* 0x51 & 1 */
	expect_exact(fx, r, "odd", 4);          /* 10 * 0.3 + 1 */

	r = BOTH(fx, 100, 8, 0x05, 0xFF, 0xF0, 0xE9, 0x03, 0x1F, 0xF0, 0xFF);
	expect_invalid(r, 3, 0, 0);             /* u8 5 / 2 - 10 = -7.5 < -5; be12 0xFFF -> 409.5 > 300; s16 1001 > 1000 */
	assert_int_equal(r->n, 3);
	expect_absent(fx, r, "u8");
	expect_absent(fx, r, "be12");
	expect_absent(fx, r, "s16");
	expect_exact(fx, r, "sbe10", 127.75);   /* 0x1F << 4 | 0xF = 511 (the largest positive) -> / 4 */
	expect_exact(fx, r, "flag", 0);
	expect_exact(fx, r, "odd", 0xFF * 0.3 + 1);
}

static void test_plain_short_dlc(void **state)
{
	struct fixture *fx = *state;
	warm_up(fx);
	/* DLC 5: u8 (B0), be12 (B1..B2) and s16 (B3..B4) are inside; sbe10 and flag need B6, odd B7 */
	const struct decode_result *r = BOTH(fx, 100, 5, 0x64, 0xAB, 0xC1, 0x18, 0xFC, 0x2A, 0x51, 0x0A);
	expect_invalid(r, 0, 3, 0);
	expect_exact(fx, r, "u8", 40);
	expect_exact(fx, r, "be12", 274.8);
	expect_exact(fx, r, "s16", -1000);
	expect_absent(fx, r, "sbe10");
	expect_absent(fx, r, "odd");
	r = BOTH(fx, 100, 0, 0x64, 0xAB, 0xC1, 0x18, 0xFC, 0x2A, 0x51, 0x0A);
	expect_invalid(r, 0, 6, 0);
	assert_int_equal(r->n, 0);
	assert_true(r->known_id);
	/* a DLC above 8 (CAN FD lengths are not classical CAN) reads 8 bytes */
	r = BOTH(fx, 100, 12, 0x64, 0xAB, 0xC1, 0x18, 0xFC, 0x2A, 0x51, 0x0A);
	expect_invalid(r, 0, 0, 0);
	assert_int_equal(r->n, 6);
}

static void test_gate(void **state)
{
	struct fixture *fx = *state;
	warm_up(fx);
	const struct decode_result *r = BOTH(fx, 102, 4, 0x54, 0x10, 0x12, 0x34, 0, 0, 0, 0);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "g", 84);           /* 0x54 "valid" */
	expect_exact(fx, r, "a", 16);
	expect_exact(fx, r, "b", 46.6);         /* 0x1234 = 4660 -> / 100 */
	r = BOTH(fx, 102, 4, 0x94, 0x10, 0x12, 0x34, 0, 0, 0, 0);
	expect_invalid(r, 0, 0, 2);             /* 0x94 = 148 "ignore": a and b refused, the gate itself kept */
	assert_int_equal(r->n, 1);
	expect_exact(fx, r, "g", 148);
	r = BOTH(fx, 102, 4, 0x54, 0xC9, 0x12, 0x34, 0, 0, 0, 0);
	expect_invalid(r, 1, 0, 0);             /* a = 201 > 200 */
	r = BOTH(fx, 102, 2, 0x54, 0x10, 0x12, 0x34, 0, 0, 0, 0);
	expect_invalid(r, 0, 1, 0);             /* DLC 2: g and a read, b (B2..B3) short */
	expect_exact(fx, r, "a", 16);
	r = BOTH(fx, 102, 0, 0x54, 0x10, 0x12, 0x34, 0, 0, 0, 0);
	expect_invalid(r, 0, 1, 2);             /* the gate unreadable: its own value short, the others gated */
	assert_int_equal(r->n, 0);
}

static void test_mux_float_64bit_extended(void **state)
{
	struct fixture *fx = *state;
	warm_up(fx);
	const struct decode_result *r = BOTH(fx, 103, 8, 1, 0xFE, 0xFF, 0xFB, 0, 0, 0, 0);
	expect_invalid(r, 1, 0, 0);             /* z = 0xFB = 251 > 250 */
	expect_exact(fx, r, "sel", 1);
	expect_exact(fx, r, "y", -1);           /* 0xFFFE = -2 -> -2 / 2 */
	expect_absent(fx, r, "x");
	r = BOTH(fx, 103, 8, 0, 0xFE, 0xFF, 0xFA, 0, 0, 0, 0);
	expect_exact(fx, r, "x", 0xFFFE);
	expect_exact(fx, r, "z", 250);
	r = BOTH(fx, 103, 8, 7, 0xFE, 0xFF, 0xFA, 0, 0, 0, 0);
	assert_int_equal(r->n, 2);              /* no group 7: sel and z */

	uint8_t b[8];
	float f = -1.5f;
	uint32_t u = 0xDEADBEEFu;
	memcpy(b, &f, 4);                       /* Intel byte order is this host's (little-endian) */
	memcpy(b + 4, &u, 4);
	r = both(fx, 104, 8, b);
	expect_exact(fx, r, "f", -1.5);
	expect_exact(fx, r, "i", 0xDEADBEEFu);
	f = 12.5f;
	memcpy(b, &f, 4);
	r = both(fx, 104, 8, b);
	expect_invalid(r, 1, 0, 0);             /* 12.5 > 10 */

	r = BOTH(fx, 105, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE);
	expect_exact(fx, r, "s64", -2);
	r = BOTH(fx, 105, 8, 0x80, 0, 0, 0, 0, 0, 0, 0);
	expect_exact(fx, r, "s64", -9223372036854775808.0);
	r = BOTH(fx, 106, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
	expect_exact(fx, r, "u64", 18446744073709551615.0);
	r = BOTH(fx, 0x400 | CAN_EFF_FLAG, 8, 0x2A, 0, 0, 0, 0, 0, 0, 0);
	expect_exact(fx, r, "e", 42);
	r = BOTH(fx, 0x400, 8, 0x2A, 0, 0, 0, 0, 0, 0, 0);
	assert_false(r->known_id);              /* the 11-bit id 0x400 is another id */
	r = BOTH(fx, 100 | CAN_RTR_FLAG, 0, 0);
	assert_true(r->known_id);               /* remote frame: known, nothing decoded */
	assert_int_equal(r->n, 0);
	r = BOTH(fx, 100 | CAN_ERR_FLAG, 8, 0x64, 0, 0, 0, 0, 0, 0, 0);
	assert_false(r->known_id);
}

/* The fast path skips the range comparison of a message whose ranges cannot refuse any raw value: only where the
   extreme raw values pass. */
static void test_ranges_at_the_raw_extent(void **state)
{
	struct fixture *fx = *state;
	warm_up(fx);
	const struct decode_result *r = BOTH(fx, 107, 8, 0xFF, 0xF0, 0xFF, 0xF0, 0xFF, 0, 0, 0);
	expect_invalid(r, 2, 0, 0);
	expect_exact(fx, r, "full", 20.475);    /* 0xFFF = 4095 / 200: the maximum itself */
	expect_absent(fx, r, "edge");           /* 4095 / 200 = 20.475 > 20.47 */
	expect_absent(fx, r, "neg");            /* 255 * -2 = -510 < -508 */
	r = BOTH(fx, 107, 8, 0x00, 0x00, 0xFF, 0xE0, 0xFE, 0, 0, 0);
	expect_invalid(r, 0, 0, 0);
	expect_exact(fx, r, "full", 0);
	expect_exact(fx, r, "edge", 20.47);     /* 0xFFE = 4094 / 200 */
	expect_exact(fx, r, "neg", -508);       /* 254 * -2: the minimum itself */
}

/* decoder_frame_apply stores the canonical values (and the derived ones) as vstate_apply of the list does. */
static void test_apply_into_vstate(void **state)
{
	struct fixture *fx = *state;
	struct vstate a, b;
	struct decode_tally t;
	memset(&t, 0, sizeof t);
	vstate_init(&a);
	vstate_init(&b);

	/* soc 0x6D59 = 27993 / 400 = 69.9825; current 0xFF9C = -100 / 10 = -10 A; pack_v1 0x234 = 564 -> 56.4 V,
	   pack_v2 0x236 = 566 -> 56.6 V: pack_voltage 56.5 V, power -10 * 56.5 / 1000 = -0.565 kW; request 7 */
	struct can_frame_data f = mkframe(101, 8, (const uint8_t[8]){0x6D, 0x59, 0xFF, 0x9C, 0x23, 0x42, 0x36, 0x07});
	assert_int_equal(decoder_frame_apply(fx->fast, &f, 1000, &a, 111, &t), 8); /* 5 + bus_online, pack, power */
	decoder_frame(fx->generic, &f, 1000, &fx->rg);
	vstate_apply(&b, fx->generic, &fx->rg, 111, 11, 1);
	assert_true(a.value[SIG_SOC] == 69.9825);
	assert_true(a.value[SIG_CURRENT] == -10);
	assert_true(a.value[SIG_PACK_VOLTAGE] == 56.5);
	assert_true(a.value[SIG_POWER] == -10 * 56.5 / 1000);
	assert_true(a.value[SIG_CHARGE_POWER_REQ] == 7);
	assert_true(a.value[SIG_BUS_ONLINE] == 1);
	assert_int_equal(a.t_real_ns[SIG_SOC], 111);
	assert_int_equal(a.t_real_ns[SIG_POWER], 111);
	assert_false(vstate_has(&a, SIG_SPEED));
	assert_int_equal(a.frames, 0);          /* the frame's own fields are the caller's (vstate_frame_applied) */
	assert_int_equal(t.frames, 1);
	assert_int_equal(t.n, 8);
	assert_int_equal(t.ninvalid, 0);
	assert_memory_equal(a.value, b.value, sizeof a.value);
	assert_memory_equal(a.t_real_ns, b.t_real_ns, sizeof a.t_real_ns);

	/* request 9 > 7 refused: the state keeps 7 and its time; soc 0 refused (valid from 0.0025) */
	f = mkframe(101, 8, (const uint8_t[8]){0, 0, 0x00, 0x64, 0x23, 0x42, 0x36, 0x09});
	assert_int_equal(decoder_frame_apply(fx->fast, &f, 2000, &a, 222, &t), 5); /* current, v1, v2, pack, power */
	decoder_frame(fx->generic, &f, 2000, &fx->rg);
	vstate_apply(&b, fx->generic, &fx->rg, 222, 22, 2);
	assert_true(a.value[SIG_CHARGE_POWER_REQ] == 7);
	assert_int_equal(a.t_real_ns[SIG_CHARGE_POWER_REQ], 111);
	assert_true(a.value[SIG_CURRENT] == 10);
	assert_int_equal(a.t_real_ns[SIG_CURRENT], 222);
	assert_int_equal(t.frames, 2);
	assert_int_equal(t.n, 13);
	assert_int_equal(t.ninvalid, 2);
	assert_int_equal(t.invalid[DEC_INV_RANGE], 2);
	assert_memory_equal(a.value, b.value, sizeof a.value);
	assert_memory_equal(a.t_real_ns, b.t_real_ns, sizeof a.t_real_ns);

	/* unknown id and a non-canonical signal leave the values alone */
	f = mkframe(0x123, 8, (const uint8_t[8]){0});
	assert_int_equal(decoder_frame_apply(fx->fast, &f, 3000, &a, 333, &t), 0);
	f = mkframe(100, 8, (const uint8_t[8]){0x64, 0xAB, 0xC1, 0x18, 0xFC, 0x2A, 0x51, 0x0A});
	assert_int_equal(decoder_frame_apply(fx->fast, &f, 4000, &a, 444, &t), 6);
	assert_int_equal(t.unknown_ids, 1);
	assert_int_equal(t.frames, 4);
	assert_memory_equal(a.value, b.value, sizeof a.value);
	assert_memory_equal(a.t_real_ns, b.t_real_ns, sizeof a.t_real_ns);
}

/* decoder_records_apply over a batch with other record types = decoder_frame_apply per CAN record. */
static void test_records_apply_batch(void **state)
{
	struct fixture *fx = *state;
	struct rx_record recs[6];
	memset(recs, 0, sizeof recs);
	const uint32_t ids[6] = {101, 0, 100, 0x123, 102, 0};
	const uint16_t types[6] = {REC_CAN, REC_GPS, REC_CAN, REC_CAN, REC_CAN, REC_STATUS};
	for (int i = 0; i < 6; i++) {
		recs[i].type = types[i];
		recs[i].seq = 10 + (uint64_t)i;
		recs[i].rx_mono_ns = 1000 * (uint64_t)(i + 1);
		recs[i].rx_real_ns = 5000 + i;
		if (types[i] == REC_CAN)
			recs[i].u.can = mkframe(ids[i], 8, (const uint8_t[8]){0x94, 0xC9, 0x12, 0x34, 0x23, 0x42, 0x36, 0x09});
	}
	struct vstate a, b;
	struct decode_tally ta, tb;
	memset(&ta, 0, sizeof ta);
	memset(&tb, 0, sizeof tb);
	vstate_init(&a);
	vstate_init(&b);
	assert_int_equal(decoder_records_apply(fx->fast, recs, 6, &a, &ta), 2);
	for (int i = 0; i < 6; i++)
		if (recs[i].type == REC_CAN)
			decoder_frame_apply(fx->generic, &recs[i].u.can, (int64_t)recs[i].rx_mono_ns, &b, recs[i].rx_real_ns,
					    &tb);
	assert_memory_equal(&ta, &tb, sizeof ta);
	assert_int_equal(ta.frames, 4);
	assert_int_equal(ta.unknown_ids, 1);
	assert_int_equal(ta.invalid[DEC_INV_GATED], 2); /* 102 gated by B0 = 0x94 */
	assert_memory_equal(a.value, b.value, sizeof a.value);
	assert_memory_equal(a.t_real_ns, b.t_real_ns, sizeof a.t_real_ns);
	/* the frame fields come from the last CAN record (index 4), not from the status after it */
	assert_int_equal(a.last_seq, 14);
	assert_int_equal(a.updated_real_ns, 5004);
	assert_int_equal(a.last_frame_mono_ns, 5000);
	/* a batch without CAN records leaves them alone */
	assert_int_equal(decoder_records_apply(fx->fast, &recs[5], 1, &a, &ta), 1);
	assert_int_equal(a.last_seq, 14);
	assert_int_equal(ta.frames, 4);
}

/* ---- the reference decoder, from the struct dbc ---- */

static uint64_t ref_raw(const struct dbc_signal *s, const uint8_t *b)
{
	uint64_t raw = s->motorola ? walk_motorola(b, s->start_bit, s->length_bits)
				   : walk_intel(b, s->start_bit, s->length_bits);
	if (s->is_signed && s->length_bits < 64 && (raw >> (s->length_bits - 1)) & 1)
		raw |= ~0ULL << s->length_bits;
	return raw;
}

/* The bytes a signal occupies, from its last bit. */
static unsigned ref_bytes(const struct dbc_signal *s)
{
	unsigned last = s->motorola ? (s->start_bit / 8) * 8 + (7 - s->start_bit % 8) + s->length_bits - 1
				    : s->start_bit + s->length_bits - 1;
	return last / 8 + 1;
}

struct ref_value {
	const char *name;
	double value;
};

/* Decodes one frame of m like cantools with the project's rules (decoder.h: range widened by a millionth of a raw
   step, short DLC, the "ignore" gate).  Returns the number of values; counts refusals in invalid[]. */
static unsigned ref_decode(const struct dbc_message *m, const uint8_t *b, unsigned dlc, struct ref_value *out,
			   unsigned invalid[DEC_INV__COUNT])
{
	unsigned n = 0;
	if (dlc > 8)
		dlc = 8;
	const struct dbc_signal *gate = NULL, *mux = NULL;
	for (size_t i = 0; i < m->n_sigs; i++) {
		for (size_t k = 0; k < m->sigs[i].n_vals; k++)
			if (strcmp(m->sigs[i].vals[k].text, "ignore") == 0)
				gate = &m->sigs[i];
		if (m->sigs[i].is_multiplexor)
			mux = &m->sigs[i];
	}
	bool gated = false;
	if (gate) {
		if (ref_bytes(gate) > dlc) {
			gated = true;
		} else {
			int64_t raw = (int64_t)ref_raw(gate, b);
			for (size_t k = 0; k < gate->n_vals; k++)
				gated |= strcmp(gate->vals[k].text, "ignore") == 0 && gate->vals[k].raw == raw;
		}
	}
	for (size_t i = 0; i < m->n_sigs; i++) {
		const struct dbc_signal *s = &m->sigs[i];
		if (s->mux_value >= 0) {
			if (ref_bytes(mux) > dlc) {
				invalid[DEC_INV_SHORT_DLC]++;
				continue;
			}
			if ((int64_t)ref_raw(mux, b) != s->mux_value)
				continue;
		}
		if (gated && s != gate) {
			invalid[DEC_INV_GATED]++;
			continue;
		}
		if (ref_bytes(s) > dlc) {
			invalid[DEC_INV_SHORT_DLC]++;
			continue;
		}
		uint64_t raw = ref_raw(s, b);
		double x;
		if (s->value_type == DBC_VT_FLOAT32) {
			uint32_t u = (uint32_t)raw;
			float f;
			memcpy(&f, &u, 4);
			x = f;
		} else if (s->value_type == DBC_VT_FLOAT64) {
			memcpy(&x, &raw, 8);
		} else {
			x = s->is_signed ? (double)(int64_t)raw : (double)raw;
		}
		double v = x * s->factor + s->offset;
		double tol = fabs(s->factor) * 1e-6;
		if (!(s->min == 0 && s->max == 0) && !(v >= s->min - tol && v <= s->max + tol)) {
			invalid[DEC_INV_RANGE]++;
			continue;
		}
		out[n].name = s->name;
		out[n].value = v;
		n++;
	}
	return n;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random frames of every message (and some unknown, remote and error ids), random DLCs: the fast and generic
   decoders agree bit for bit, each DBC value agrees with the reference to 1e-12, and decoder_records_apply over the
   frames leaves the same values in a struct vstate as the generic results applied one by one. */
static void random_frames(struct fixture *fx, int rounds)
{
	struct rx_record batch[64];
	struct vstate sa, sb;
	struct decode_tally ta, tb;
	size_t nb = 0;
	memset(&ta, 0, sizeof ta);
	memset(&tb, 0, sizeof tb);
	vstate_init(&sa);
	vstate_init(&sb);
	for (int it = 0; it < rounds; it++) {
		uint8_t b[8];
		uint64_t x = rnd();
		memcpy(b, &x, 8);
		unsigned pick = (unsigned)(rnd() % (fx->db.n_msgs + 3));
		uint32_t id = pick < fx->db.n_msgs ? fx->db.msgs[pick].id : pick == fx->db.n_msgs ? 0x7FE : 0x7FD;
		if (rnd() % 50 == 0)
			id |= rnd() % 2 ? CAN_RTR_FLAG : CAN_ERR_FLAG;
		uint8_t dlc = rnd() % 4 == 0 ? (uint8_t)(rnd() % 10) : 8;
		if (rnd() % 8 == 0 && pick < fx->db.n_msgs) /* the gate's ignore value, often enough to matter */
			for (size_t i = 0; i < fx->db.msgs[pick].n_sigs; i++)
				for (size_t k = 0; k < fx->db.msgs[pick].sigs[i].n_vals; k++)
					if (strcmp(fx->db.msgs[pick].sigs[i].vals[k].text, "ignore") == 0)
						b[fx->db.msgs[pick].sigs[i].start_bit / 8] =
							(uint8_t)fx->db.msgs[pick].sigs[i].vals[k].raw;
		struct can_frame_data f = mkframe(id, dlc, b);
		const struct decode_result *r = both(fx, id, dlc, b);

		const struct dbc_message *m = NULL;
		if (!(id & CAN_ERR_FLAG))
			m = dbc_find_message(&fx->db, id & ~CAN_RTR_FLAG);
		assert_int_equal(r->known_id, m != NULL);
		if (m && !(id & CAN_RTR_FLAG)) {
			struct ref_value ref[DECODE_MAX_VALUES];
			unsigned inv[DEC_INV__COUNT] = {0};
			unsigned nref = ref_decode(m, f.data, dlc, ref, inv);
			assert_memory_equal(inv, r->invalid, sizeof inv);
			unsigned got = 0;
			for (unsigned i = 0; i < r->n; i++) {
				const char *name = decoder_signal_name(fx->fast, r->v[i].sig);
				if (dbc_find_signal(m, name))
					got++;
			}
			assert_int_equal(got, nref);
			for (unsigned i = 0; i < nref; i++) {
				double v;
				if (!value_of(fx, r, ref[i].name, &v))
					fail_msg("id %#x: %s missing (reference %.17g)", id, ref[i].name, ref[i].value);
				if (!(fabs(v - ref[i].value) <= 1e-12 * fmax(1, fabs(ref[i].value))))
					fail_msg("id %#x: %s = %.17g, reference %.17g", id, ref[i].name, v, ref[i].value);
			}
		} else {
			expect_invalid(r, 0, 0, 0);
		}

		/* the same frame through the vstate paths: generic list + vstate_apply, and a batch of fast ones */
		int64_t t_ns = 1000000 * (int64_t)(it + 1);
		struct decode_result rg2;
		decoder_frame(fx->generic_vs, &f, t_ns, &rg2);
		vstate_apply(&sb, fx->generic_vs, &rg2, 7 + it, (uint64_t)t_ns, (uint64_t)it + 1);
		tb.frames++;
		tb.n += rg2.n;
		tb.unknown_ids += !rg2.known_id;
		for (int i = 0; i < DEC_INV__COUNT; i++) {
			tb.invalid[i] += rg2.invalid[i];
			tb.ninvalid += rg2.invalid[i];
		}
		memset(&batch[nb], 0, sizeof batch[nb]);
		batch[nb].type = REC_CAN;
		batch[nb].seq = (uint64_t)it + 1;
		batch[nb].rx_mono_ns = (uint64_t)t_ns;
		batch[nb].rx_real_ns = 7 + it;
		batch[nb].u.can = f;
		if (++nb == 64 || it == rounds - 1) {
			assert_int_equal(decoder_records_apply(fx->fast_vs, batch, nb, &sa, &ta), 0);
			vstate_add_tally(&sa, &ta);
			memset(&ta, 0, sizeof ta);
			nb = 0;
			assert_memory_equal(sa.value, sb.value, sizeof sa.value);
			assert_memory_equal(sa.t_real_ns, sb.t_real_ns, sizeof sa.t_real_ns);
			assert_int_equal(sa.frames, sb.frames);
			assert_int_equal(sa.invalid_values, sb.invalid_values);
			assert_int_equal(sa.unknown_ids, sb.unknown_ids);
			assert_int_equal(sa.last_seq, sb.last_seq);
			assert_int_equal(sa.updated_real_ns, sb.updated_real_ns);
			assert_int_equal(sa.last_frame_mono_ns, sb.last_frame_mono_ns);
		}
	}
	assert_int_equal(sb.frames, (uint64_t)rounds);
}

static void test_random_frames_test_dbc(void **state)
{
	random_frames(*state, 20000);
}

static void test_random_frames_twizy(void **state)
{
	random_frames(*state, 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_unsigned_signed_big_little, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_plain_short_dlc, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_gate, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_mux_float_64bit_extended, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_ranges_at_the_raw_extent, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_apply_into_vstate, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_records_apply_batch, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_random_frames_test_dbc, setup_test_dbc, teardown),
		cmocka_unit_test_setup_teardown(test_random_frames_twizy, setup_twizy, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

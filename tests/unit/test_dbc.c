/*
 * test_dbc.c - the DBC parser (dbc.h) and the generic decoder (decoder.h) on hand-written DBC snippets: Intel and
 * Motorola, signed, 64-bit, extended ids, VAL_, multiplexing, IEEE floats, the sections that are skipped, and
 * malformed files, each with the line number its error must name.  Motorola and Intel extraction is checked for
 * every start bit and length against a bit-by-bit walk written from interop.md's definition of the numbering.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stages/decode/dbc.h"
#include "stages/decode/decoder.h"
#include "tests/support/dbc_bits.h"

static int parse(struct dbc *db, const char *text, struct dbc_error *err)
{
	return dbc_parse(db, text, strlen(text), err);
}

/* Parses text (must succeed) and compiles it. */
static struct decoder *compile(const char *text, struct dbc *db_out)
{
	struct dbc db;
	struct dbc_error err;
	int rc = parse(&db, text, &err);
	if (rc)
		fail_msg("dbc_parse: %d %s", rc, err.msg);
	struct decoder *d;
	rc = decoder_create(&d, &db);
	assert_int_equal(rc, 0);
	if (db_out)
		*db_out = db;
	else
		dbc_fini(&db);
	return d;
}

static struct decode_result res;

static const struct decode_result *decode(struct decoder *d, uint32_t id, uint8_t dlc, const uint8_t b[8])
{
	struct can_frame_data f = {.id = id, .dlc = dlc};
	memcpy(f.data, b, 8);
	decoder_frame(d, &f, 0, &res);
	return &res;
}

#define DECODE(d, id, dlc, ...) decode((d), (id), (dlc), (const uint8_t[8]){__VA_ARGS__})

static bool value_of(struct decoder *d, const struct decode_result *r, const char *name, double *v)
{
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(decoder_signal_name(d, r->v[i].sig), name) == 0) {
			*v = r->v[i].value;
			return true;
		}
	return false;
}

static void expect(struct decoder *d, const struct decode_result *r, const char *name, double want)
{
	double got = 0;
	if (!value_of(d, r, name, &got))
		fail_msg("%s missing", name);
	if (got != want)
		fail_msg("%s = %.17g, want %.17g", name, got, want);
}

static void test_intel_motorola_signed(void **state)
{
	struct dbc db;
	struct decoder *d = compile("VERSION \"t 1\"\n"
				    "BO_ 256 M100: 8 ECU\n"
				    " SG_ i_lo : 0|8@1+ (1,0) [0|0] \"\" X\n"
				    " SG_ i_mid : 12|12@1+ (1,0) [0|0] \"\" X\n"
				    " SG_ i_s16 : 24|16@1- (1,0) [0|0] \"\" X\n"
				    " SG_ m_s16 : 47|16@0- (0.5,0) [0|0] \"\" X\n"
				    " SG_ m_nib : 59|4@0+ (1,0) [0|0] \"\" X,Y\n",
				    &db);
	assert_string_equal(db.version, "t 1");
	assert_int_equal(db.n_msgs, 1);
	assert_int_equal(db.msgs[0].id, 256);
	assert_string_equal(db.msgs[0].name, "M100");
	assert_int_equal(db.msgs[0].n_sigs, 5);
	assert_true(db.msgs[0].sigs[3].motorola && db.msgs[0].sigs[3].is_signed);
	assert_false(db.msgs[0].sigs[1].motorola);
	dbc_fini(&db);

	const struct decode_result *r = DECODE(d, 256, 8, 0x12, 0xA0, 0xBC, 0xFE, 0xFF, 0xFF, 0x38, 0x5A);
	expect(d, r, "i_lo", 0x12);
	expect(d, r, "i_mid", 0xBCA);     /* Intel bits 12..23: B1 >> 4 = 0xA (low), B2 = 0xBC (high) */
	expect(d, r, "i_s16", -2);        /* Intel B3 low, B4 high: 0xFFFE */
	expect(d, r, "m_s16", -100);      /* Motorola MSB B5 bit 7: 0xFF38 = -200, * 0.5 */
	expect(d, r, "m_nib", 0xA);       /* Motorola MSB bit 59 = B7 bit 3: bits 3..0 of B7, the low nibble */
	decoder_destroy(d);
}

static void test_64bit_signals(void **state)
{
	struct decoder *d = compile("BO_ 1 A: 8 N\n SG_ le : 0|64@1+ (1,0) [0|0] \"\" N\n"
				    "BO_ 2 B: 8 N\n SG_ be : 7|64@0+ (1,0) [0|0] \"\" N\n"
				    "BO_ 3 C: 8 N\n SG_ s : 7|64@0- (1,0) [0|0] \"\" N\n",
				    NULL);
	const struct decode_result *r = DECODE(d, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8);
	expect(d, r, "le", (double)0x0807060504030201ULL);
	r = DECODE(d, 2, 8, 1, 2, 3, 4, 5, 6, 7, 8);
	expect(d, r, "be", (double)0x0102030405060708ULL);
	r = DECODE(d, 3, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE);
	expect(d, r, "s", -2);
	r = DECODE(d, 2, 7, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->invalid[DEC_INV_SHORT_DLC], 1);
	decoder_destroy(d);
}

static void test_extended_id_and_val(void **state)
{
	struct dbc db;
	/* 2566844926 = 0x98FEF1FE: bit 31 set -> 29-bit id 0x18FEF1FE */
	struct decoder *d = compile("BO_ 2566844926 CCVS: 8 Vector__XXX\n"
				    " SG_ speed : 8|16@1+ (0.00390625,0) [0|250.996] \"km/h\" Vector__XXX\n"
				    " SG_ state : 0|2@1+ (1,0) [0|3] \"\" Vector__XXX\n"
				    "BO_ 2684354559 MAXID: 1 N\n"
				    " SG_ x : 0|8@1+ (1,0) [0|0] \"\" N\n"
				    "BO_ 100 SMALL: 1 N\n"
				    " SG_ y : 0|8@1+ (1,0) [0|0] \"\" N\n"
				    "VAL_ 2566844926 state 0 \"off\" 1 \"on\" 2 \"error\" 3 \"n/a\" ;\n"
				    "VAL_ 100 y -1 \"minus one\" 18446744073709551615 \"all ones\";\n",
				    &db);
	assert_int_equal(db.msgs[0].id, 0x18FEF1FEu | CAN_EFF_FLAG);
	assert_int_equal(db.msgs[1].id, 0x1FFFFFFFu | CAN_EFF_FLAG);
	assert_int_equal(db.msgs[0].sigs[1].n_vals, 4);
	assert_int_equal(db.msgs[0].sigs[1].vals[2].raw, 2);
	assert_string_equal(db.msgs[0].sigs[1].vals[2].text, "error");
	assert_int_equal(db.msgs[2].sigs[0].vals[0].raw, -1);
	assert_int_equal((uint64_t)db.msgs[2].sigs[0].vals[1].raw, UINT64_MAX);
	dbc_fini(&db);

	assert_true(decoder_knows_id(d, 0x18FEF1FEu | CAN_EFF_FLAG));
	assert_true(decoder_knows_id(d, 0x1FFFFFFFu | CAN_EFF_FLAG));
	assert_false(decoder_knows_id(d, 0x18FEF1FEu));          /* without the flag: an 11-bit id (out of range) */
	assert_false(decoder_knows_id(d, 0x0FEF1FEu | CAN_EFF_FLAG));
	assert_false(decoder_knows_id(d, 100 | CAN_EFF_FLAG));
	assert_true(decoder_knows_id(d, 100));
	const struct decode_result *r = DECODE(d, 0x18FEF1FEu | CAN_EFF_FLAG, 8, 0x02, 0x00, 0x19, 0, 0, 0, 0, 0);
	assert_true(r->known_id);
	expect(d, r, "speed", 25);        /* 0x1900 = 6400 / 256 */
	expect(d, r, "state", 2);
	assert_string_equal(decoder_value_label(d, (size_t)decoder_signal_find(d, "state"), 2), "error");
	assert_null(decoder_value_label(d, (size_t)decoder_signal_find(d, "speed"), 25));
	decoder_destroy(d);
}

static void test_scaling_rounding_and_ranges(void **state)
{
	struct decoder *d = compile("BO_ 16 R: 4 N\n"
				    " SG_ tenth : 0|8@1+ (0.1,0) [0|0] \"V\" N\n"
				    " SG_ quarter : 8|8@1+ (0.25,-10) [-9|50] \"A\" N\n"
				    " SG_ neg : 16|8@1+ (-2,0) [-100|0] \"\" N\n"
				    " SG_ odd : 24|8@1+ (0.3,1) [0|0] \"\" N\n",
				    NULL);
	const struct decode_result *r = DECODE(d, 16, 4, 3, 4, 50, 10, 0, 0, 0, 0);
	expect(d, r, "tenth", 0.3);       /* 3 / 10 (3 * 0.1 would be 0.30000000000000004) */
	expect(d, r, "quarter", -9);      /* 4 * 0.25 - 10: the minimum itself is valid */
	expect(d, r, "neg", -100);        /* factor -2: 1 / -2 = -2 -> 50 / -2 */
	expect(d, r, "odd", 4);           /* 10 * 0.3 + 1 */
	assert_int_equal(r->invalid[DEC_INV_RANGE], 0);
	r = DECODE(d, 16, 4, 0, 3, 51, 0, 0, 0, 0, 0);
	assert_int_equal(r->invalid[DEC_INV_RANGE], 2); /* 3 * 0.25 - 10 = -9.25 < -9; -102 < -100 */
	assert_int_equal(r->n, 2);
	assert_string_equal(decoder_signal_unit(d, (size_t)decoder_signal_find(d, "tenth")), "V");
	assert_int_equal(decoder_signal_canon(d, (size_t)decoder_signal_find(d, "tenth")), -1);
	decoder_destroy(d);
}

static void test_skipped_sections_crlf(void **state)
{
	static const char text[] =
		"VERSION \"\"\r\n"
		"\r\n"
		"NS_ : \r\n"
		"\tNS_DESC_\r\n"
		"\tCM_\r\n"
		"\tBA_DEF_\r\n"
		"\r\n"
		"BS_:\r\n"
		"BU_: A B\r\n"
		"VAL_TABLE_ tbl 1 \"one\" 0 \"zero\" ;\r\n"
		"BO_ 1 M: 8 A\r\n"
		" SG_ s : 0|8@1+ (1,0) [0|255] \"\" B\r\n"
		"\r\n"
		"BO_ 3221225472 VECTOR__INDEPENDENT_SIG_MSG: 0 Vector__XXX\r\n"
		" SG_ orphan : 0|8@1+ (1,0) [0|0] \"\" Vector__XXX\r\n"
		"\r\n"
		"BO_TX_BU_ 1 : A,B;\r\n"
		"CM_ \"a comment\r\nover two lines; with a semicolon\";\r\n"
		"CM_ SG_ 1 s \"say \\\"hi\\\"\";\r\n"
		"BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 10000;\r\n"
		"BA_DEF_DEF_ \"GenMsgCycleTime\" 100;\r\n"
		"BA_ \"GenMsgCycleTime\" BO_ 1 10;\r\n"
		"SIG_GROUP_ 1 g 1 : s;\r\n"
		"VAL_ 3221225472 orphan 1 \"x\" ;\r\n"
		"VAL_ 1 s 1 \"one\" ;\r\n";
	struct dbc db;
	struct dbc_error err;
	int rc = parse(&db, text, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(db.n_msgs, 1);
	assert_int_equal(db.msgs[0].n_sigs, 1);
	assert_int_equal(db.msgs[0].sigs[0].n_vals, 1);
	assert_string_equal(db.msgs[0].sigs[0].unit, "");
	assert_string_equal(db.version, "");
	dbc_fini(&db);
	dbc_fini(&db); /* safe twice */
}

static void test_multiplexing_and_float(void **state)
{
	struct decoder *d = compile("BO_ 200 MUX: 8 N\n"
				    " SG_ sel M : 0|8@1+ (1,0) [0|0] \"\" N\n"
				    " SG_ a m0 : 8|16@1+ (1,0) [0|0] \"\" N\n"
				    " SG_ b m1 : 8|16@1+ (1,0) [0|0] \"\" N\n"
				    " SG_ always : 24|8@1+ (1,0) [0|0] \"\" N\n"
				    "BO_ 201 F: 8 N\n"
				    " SG_ f : 0|32@1- (1,0) [0|0] \"\" N\n"
				    " SG_ dd : 32|32@1- (2,0) [0|0] \"\" N\n"
				    "BO_ 202 D: 8 N\n"
				    " SG_ d : 0|64@1- (1,0) [0|0] \"\" N\n"
				    "SIG_VALTYPE_ 201 f : 1;\n"
				    "SIG_VALTYPE_ 201 dd : 1;\n"
				    "SIG_VALTYPE_ 202 d : 2;\n",
				    NULL);
	const struct decode_result *r = DECODE(d, 200, 8, 0, 0x34, 0x12, 7, 0, 0, 0, 0);
	expect(d, r, "sel", 0);
	expect(d, r, "a", 0x1234);
	expect(d, r, "always", 7);
	double v;
	assert_false(value_of(d, r, "b", &v));
	r = DECODE(d, 200, 8, 1, 0x34, 0x12, 7, 0, 0, 0, 0);
	expect(d, r, "b", 0x1234);
	assert_false(value_of(d, r, "a", &v));
	r = DECODE(d, 200, 8, 2, 0x34, 0x12, 7, 0, 0, 0, 0);
	assert_int_equal(r->n, 2);        /* sel and always */

	float f = -1.5f;
	uint8_t b[8] = {0};
	memcpy(b, &f, 4);                 /* this test assumes a little-endian host, as Intel byte order is */
	f = 3.25f;
	memcpy(b + 4, &f, 4);
	r = decode(d, 201, 8, b);
	expect(d, r, "f", -1.5);
	expect(d, r, "dd", 6.5);          /* 3.25 * 2 */
	double dv = 1e300;
	memcpy(b, &dv, 8);
	r = decode(d, 202, 8, b);
	expect(d, r, "d", 1e300);
	decoder_destroy(d);
}

/* ---- the bit numbering of interop.md, walked bit by bit ---- */

static double signed_value(uint64_t raw, unsigned len, bool is_signed)
{
	if (is_signed && len < 64 && (raw >> (len - 1)) & 1)
		raw |= ~0ULL << len;
	return is_signed ? (double)(int64_t)raw : (double)raw;
}

static void test_bit_numbering_every_start_and_length(void **state)
{
	/* one 29-bit message per (byte order, start bit, length) that fits 8 bytes; also exercises the id hash */
	size_t cap = 1 << 20, n = 0;
	char *text = malloc(cap);
	unsigned count = 0;
	for (int motorola = 0; motorola <= 1; motorola++)
		for (unsigned s = 0; s < 64; s++)
			for (unsigned len = 1; len <= 64; len++) {
				unsigned last = motorola ? (s / 8) * 8 + (7 - s % 8) + len - 1 : s + len - 1;
				if (last >= 64)
					continue;
				bool sg = (s + len) % 2;
				n += (size_t)snprintf(text + n, cap - n,
						      "BO_ %u M%u: 8 N\n SG_ s%u : %u|%u@%d%c (1,0) [0|0] \"\" N\n",
						      0x80000000u | (count * 7919u), count, count, s, len, motorola ? 0 : 1,
						      sg ? '-' : '+');
				assert_true(n < cap);
				count++;
			}
	assert_int_equal(count, 2 * 2080);
	struct dbc db;
	struct dbc_error err;
	int rc = dbc_parse(&db, text, n, &err);
	if (rc)
		fail_msg("%s", err.msg);
	free(text);
	struct decoder *d;
	assert_int_equal(decoder_create(&d, &db), 0);
	decode(d, 0x7FF, 0, (const uint8_t[8]){0}); /* the first frame also brings bus_online = 1: out of the way */
	uint64_t x = 0x0123456789ABCDEFULL;
	for (int round = 0; round < 4; round++) {
		uint8_t b[8];
		for (int i = 0; i < 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[i] = (uint8_t)x;
		}
		for (size_t m = 0; m < db.n_msgs; m++) {
			const struct dbc_signal *s = &db.msgs[m].sigs[0];
			uint64_t raw = s->motorola ? walk_motorola(b, s->start_bit, s->length_bits)
						   : walk_intel(b, s->start_bit, s->length_bits);
			double want = signed_value(raw, s->length_bits, s->is_signed);
			const struct decode_result *r = decode(d, db.msgs[m].id, 8, b);
			assert_true(r->known_id);
			assert_int_equal(r->n, 1);
			if (r->v[0].value != want)
				fail_msg("%s start %u length %u %s: %.17g, want %.17g", s->motorola ? "Motorola" : "Intel",
					 s->start_bit, s->length_bits, s->is_signed ? "signed" : "unsigned", r->v[0].value, want);
		}
	}
	/* interop.md's example numbering: Motorola start bit 15 is the MSB of byte 1 */
	const struct dbc_message *m = NULL;
	for (size_t i = 0; i < db.n_msgs && !m; i++)
		if (db.msgs[i].sigs[0].motorola && db.msgs[i].sigs[0].start_bit == 15 && db.msgs[i].sigs[0].length_bits == 8)
			m = &db.msgs[i];
	if (!m)
		fail_msg("no Motorola 15|8 signal");
	const struct decode_result *r = DECODE(d, m->id, 8, 0x00, 0xA5, 0, 0, 0, 0, 0, 0);
	assert_int_equal(r->n, 1);
	assert_true(r->v[0].value == (m->sigs[0].is_signed ? -91 : 0xA5)); /* 0xA5 = 165, as int8 -91 */
	decoder_destroy(d);
	dbc_fini(&db);
}

/* ---- malformed input: error and line ---- */

struct bad_case {
	const char *text;
	unsigned line;
	const char *msg_part;
};

#define HEAD "VERSION \"x\"\nCM_ \"two\nlines\";\nBO_ 10 A: 2 N\n" /* lines 1..4; the next line is 5 */

static void test_malformed_files(void **state)
{
	static const struct bad_case cases[] = {
		{HEAD " SG_ s : 0|0@1+ (1,0) [0|0] \"\" N\n", 5, "length 0 (must be 1..64)"},
		{HEAD " SG_ s : 0|65@1+ (1,0) [0|0] \"\" N\n", 5, "length 65 (must be 1..64)"},
		{HEAD " SG_ s : 16|1@1+ (1,0) [0|0] \"\" N\n", 5, "start bit 16 out of range for DLC 2"},
		{HEAD " SG_ ok : 0|1@1+ (1,0) [0|0] \"\" N\n SG_ s : 8|9@1+ (1,0) [0|0] \"\" N\n", 6, "outside the message's DLC"},
		{HEAD " SG_ s : 15|9@0+ (1,0) [0|0] \"\" N\n", 5, "outside the message's DLC"},
		{HEAD " SG_ s : 0|8@1+ (0,0) [0|0] \"\" N\n", 5, "factor 0"},
		{HEAD " SG_ s : 0|8@1+ (1e999,0) [0|0] \"\" N\n", 5, "not a finite number"},
		{HEAD " SG_ s : 0|8@2+ (1,0) [0|0] \"\" N\n", 5, "byte order"},
		{HEAD " SG_ s : 0|8@1* (1,0) [0|0] \"\" N\n", 5, "sign"},
		{HEAD " SG_ s : 0|8@1+ (1,0 [0|0] \"\" N\n", 5, "expected ')'"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [5|1] \"\" N\n", 5, "above maximum"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"unit N\n\n", 5, "unterminated string"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\n SG_ s : 8|8@1+ (1,0) [0|0] \"\" N\n", 6, "duplicate signal name s"},
		{HEAD "\nBO_ 10 B: 8 N\n", 6, "duplicate message id 10"},
		{HEAD "VAL_ 11 s 1 \"x\";\n", 5, "VAL_ for unknown message 11"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\nVAL_ 10 t 1 \"x\";\n", 6, "VAL_ for unknown signal t"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\nVAL_ 10 s 1 \"x\"\n", 6, "not terminated by ';'"},
		{HEAD "CM_ \"never closed;\n\n", 5, "unterminated string"},
		{HEAD "CM_ BO_ 10 \"closed\"\n\n", 5, "not terminated by ';'"},
		{HEAD " SG_ a123456789a123456789a123456789a123456789a123456789a123456789abcde : 0|8@1+ (1,0) [0|0] \"\" N\n", 5,
		 "max 64"},
		{HEAD "FOO_ 1 2 3\n", 5, "unknown keyword 'FOO_'"},
		{"VERSION \"\"\n\n SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\n", 3, "SG_ outside a message"},
		{HEAD "BO_ 2048 B: 8 N\n", 5, "11-bit id out of range"},
		{HEAD "BO_ 2684354560 B: 8 N\n", 5, "29-bit id 0x20000000 out of range"},
		{HEAD "BO_ 11 B: 9 N\n", 5, "DLC 9 (must be 0..8"},
		{HEAD "BO_ 11 B 8 N\n", 5, "expected ':'"},
		{HEAD " SG_ s m1 : 0|8@1+ (1,0) [0|0] \"\" N\n", 5, "no multiplexor"},
		{HEAD " SG_ s m1M : 0|8@1+ (1,0) [0|0] \"\" N\n", 5, "extended multiplexing"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\nSIG_VALTYPE_ 10 s : 1;\n", 6, "needs length 32"},
		{HEAD " SG_ s : 0|8@1+ (1,0) [0|0] \"\" N junk!\n", 5, "expected SG_ receiver"},
		{"BO_ 1 A: 8 N\r\n SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\r\n\r\n SG_ t : 0|0@1+ (1,0) [0|0] \"\" N\r\n", 4,
		 "length 0"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct dbc db;
		struct dbc_error err;
		int rc = parse(&db, cases[i].text, &err);
		if (rc != -EINVAL)
			fail_msg("case %zu (%s): rc %d, want -EINVAL", i, cases[i].msg_part, rc);
		if (err.line != cases[i].line || !strstr(err.msg, cases[i].msg_part))
			fail_msg("case %zu: got line %u \"%s\", want line %u \"...%s...\"", i, err.line, err.msg, cases[i].line,
				 cases[i].msg_part);
		char prefix[32];
		snprintf(prefix, sizeof prefix, "line %u: ", cases[i].line);
		assert_true(strncmp(err.msg, prefix, strlen(prefix)) == 0);
	}
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_dbc_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "BO_ 5 A: 1 N\n SG_ s : 7|8@0+ (1,0) [0|0] \"\" N\n";
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	struct dbc db;
	struct dbc_error err;
	assert_int_equal(dbc_load(&db, path, &err), 0);
	assert_int_equal(db.n_msgs, 1);
	dbc_fini(&db);
	unlink(path);
	assert_int_equal(dbc_load(&db, path, &err), -ENOENT);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.msg, path));
	/* an empty file is an empty database */
	assert_int_equal(dbc_parse(&db, "", 0, &err), 0);
	assert_int_equal(db.n_msgs, 0);
	struct decoder *d;
	assert_int_equal(decoder_create(&d, &db), 0);
	assert_int_equal(decoder_signal_count(d), 1); /* bus_online only */
	assert_string_equal(decoder_signal_name(d, 0), "bus_online");
	decoder_destroy(d);
	dbc_fini(&db);
}

/* Regression, issue 13 defect 2 (`--dbc /dev/zero` grew memory without bound): anything but a regular file is refused
 * before a byte is read, whatever it is; the error names the path and the kind of file. */
static void test_regress_dbc_dev_zero(void **state)
{
	static const char *const devs[] = {"/dev/zero", "/dev/urandom", "/dev/null", "/tmp"};
	struct dbc db;
	struct dbc_error err;

	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		memset(&db, 0x5A, sizeof(db));
		assert_int_equal(dbc_load(&db, devs[i], &err), -EINVAL);
		assert_int_equal(err.line, 0);
		assert_non_null(strstr(err.msg, devs[i]));
		assert_non_null(strstr(err.msg, "not a regular file"));
	}
	/* A FIFO without a writer: refused at once instead of blocking in open(). */
	char dir[] = "/tmp/test_dbc_fifo_XXXXXX", fifo[64];
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof fifo, "%s/f", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(dbc_load(&db, fifo, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "FIFO"));
	unlink(fifo);
	rmdir(dir);
}

/* The size cap of dbc.h: a regular file of DBC_FILE_MAX + 1 bytes is refused without being read (sparse, so cheap);
 * one at the cap is read and parsed (here: a valid database padded with blank lines). */
static void test_load_size_cap(void **state)
{
	char path[] = "/tmp/test_dbc_XXXXXX";
	const char text[] = "BO_ 5 A: 1 N\n SG_ s : 7|8@0+ (1,0) [0|0] \"\" N\n";
	struct dbc db;
	struct dbc_error err;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)DBC_FILE_MAX + 1), 0);
	assert_int_equal(dbc_load(&db, path, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "4 MiB"));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, text, sizeof text - 1, 0), (ssize_t)(sizeof text - 1));
	static char pad[65536];
	memset(pad, '\n', sizeof pad);
	off_t off = (off_t)(sizeof text - 1);
	while (off < (off_t)DBC_FILE_MAX) {
		size_t k = (size_t)((off_t)DBC_FILE_MAX - off) < sizeof pad ? (size_t)((off_t)DBC_FILE_MAX - off) : sizeof pad;
		assert_int_equal(pwrite(fd, pad, k, off), (ssize_t)k);
		off += (off_t)k;
	}
	close(fd);
	assert_int_equal(dbc_load(&db, path, &err), 0);
	assert_int_equal(db.n_msgs, 1);
	dbc_fini(&db);
	unlink(path);
}

/* Regression, issue 13 defect 5 (`--dbc /dev/null` ran with every frame "unknown id"): a file that defines no message
 * is an error from the loader unless the caller allows it. */
static void test_regress_dbc_empty(void **state)
{
	static const char *const texts[] = {"", "VERSION \"1\"\n\nNS_ :\n\tCM_\n\nBS_:\n\nBU_: N\n"};
	struct dbc db;
	struct dbc_error err;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char path[] = "/tmp/test_dbc_XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		size_t len = strlen(texts[i]);
		assert_int_equal(write(fd, texts[i], len), (ssize_t)len);
		close(fd);
		assert_int_equal(dbc_load(&db, path, &err), -ENODATA);
		assert_int_equal(err.line, 0);
		assert_non_null(strstr(err.msg, path));
		assert_non_null(strstr(err.msg, "no message"));
		assert_int_equal(dbc_load_flags(&db, path, DBC_LOAD_ALLOW_EMPTY, &err), 0);
		assert_int_equal(db.n_msgs, 0);
		assert_non_null(db.version);
		dbc_fini(&db);
		unlink(path);
	}
}

/* Regression (fuzz_dbc): a message without signals made the decoder index a NULL signal table. */
static void test_message_without_signals(void **state)
{
	struct decoder *d = compile("BO_ 7 EMPTY: 8 N\nBO_ 8 ONE: 1 N\n SG_ s : 0|8@1+ (1,0) [0|0] \"\" N\n", NULL);
	const struct decode_result *r = DECODE(d, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8);
	assert_true(r->known_id);
	assert_int_equal(r->n, 1); /* bus_online */
	decoder_destroy(d);
	d = compile("BO_ 7 EMPTY: 0 N\n", NULL);
	r = DECODE(d, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	assert_true(r->known_id);
	decoder_destroy(d);
}

static void test_too_many_values_per_frame(void **state)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof text, "BO_ 1 A: 8 N\n");
	for (int i = 0; i < DECODE_MAX_VALUES; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, " SG_ s%d : %d|1@1+ (1,0) [0|0] \"\" N\n", i, i % 64);
	struct dbc db;
	struct dbc_error err;
	assert_int_equal(dbc_parse(&db, text, n, &err), 0);
	struct decoder *d = NULL;
	assert_int_equal(decoder_create(&d, &db), -E2BIG);
	assert_null(d);
	dbc_fini(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intel_motorola_signed),
		cmocka_unit_test(test_64bit_signals),
		cmocka_unit_test(test_extended_id_and_val),
		cmocka_unit_test(test_scaling_rounding_and_ranges),
		cmocka_unit_test(test_skipped_sections_crlf),
		cmocka_unit_test(test_multiplexing_and_float),
		cmocka_unit_test(test_bit_numbering_every_start_and_length),
		cmocka_unit_test(test_malformed_files),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_regress_dbc_dev_zero),
		cmocka_unit_test(test_load_size_cap),
		cmocka_unit_test(test_regress_dbc_empty),
		cmocka_unit_test(test_message_without_signals),
		cmocka_unit_test(test_too_many_values_per_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_sim_hot_path.c - the legacy SIM hot path: legacy_sim_fixed() (legacy_line.h) against the careful
 * legacy_sim_parse(), and the framer's in-place path (framer_set_sink) against its general path.
 *
 * Expected values come from the link-1 specification (../shared/facts/legacy-system.md, and legacy_line.h):
 * `SIM <id> <dlc> <b0> .. <b7>`, the id in hex (either case) padded to 3 digits, or 8 with the Linux flag bits
 * 0x80000000 (extended) and 0x40000000 (remote); 0x20000000 (error frame) is refused, and so is a standard id above
 * 0x7FF (-ERANGE, counted "sim_id"); dlc 0..8; always 8 two-digit bytes, of which those at or past the dlc (all of
 * them for a remote frame) are stored as 0.  The firmware's own layout has single spaces and nothing after the last
 * byte: 33 bytes with a 3-digit id, 38 with an 8-digit one.  The fixed parser must accept exactly the lines of that
 * layout the careful parser accepts, with the same frame, and refuse everything else (the careful parser then
 * decides); the framer must give the same events, rejects and records with or without a sink, whatever the split.
 * V2 CAN batch frames (v2x_proto.h, framer.h): one REC_CAN record per entry, REC_F_DEV_TIME, dev_seq = the frame's
 * seq, dev_time_us = the frame's device time unwrapped (+2^32 when it goes backwards while seq goes forwards) + the
 * entry's offset; with a sink they come through it too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "v2x_proto.h"
#include "stages/can_rx/framer.h"
#include "stages/can_rx/legacy_line.h"

/* --- legacy_sim_fixed() against the specification and legacy_sim_parse() ------------------------------------- */

struct sim_case {
	const char *line;
	int fixed_ok;  /* legacy_sim_fixed() takes it */
	int rc;        /* legacy_sim_parse() */
	uint32_t id;   /* when rc == 0 */
	uint8_t dlc;
	uint8_t data[8];
};

static const struct sim_case sim_cases[] = {
	/* The specification's example. */
	{"SIM 155 8 01 97 CE 54 9B 38 00 73", 1, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
	/* Bytes at or past the dlc are stored as 0, whatever the line says. */
	{"SIM 155 3 01 97 CE 54 9B 38 00 73", 1, 0, 0x155, 3, {0x01, 0x97, 0xCE}},
	{"SIM 7FF 0 FF FF FF FF FF FF FF FF", 1, 0, 0x7FF, 0, {0}},
	{"SIM 000 1 80 00 00 00 00 00 00 00", 1, 0, 0x000, 1, {0x80}},
	/* Either case. */
	{"SIM 5d7 7 0a bc De F0 12 34 56 78", 1, 0, 0x5D7, 7, {0x0A, 0xBC, 0xDE, 0xF0, 0x12, 0x34, 0x56}},
	/* Extended (flag 0x80000000), remote (0x40000000), both; a remote frame keeps no data. */
	{"SIM 98FF50E5 8 11 22 33 44 55 66 77 88", 1, 0, 0x18FF50E5 | CAN_EFF_FLAG, 8,
	 {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}},
	{"SIM 40000155 2 AA BB 00 00 00 00 00 00", 1, 0, 0x155 | CAN_RTR_FLAG, 2, {0}},
	{"SIM C0000155 8 AA BB CC DD EE FF 00 11", 1, 0, 0x155 | CAN_EFF_FLAG | CAN_RTR_FLAG, 8, {0}},
	{"SIM 9FFFFFFF 4 01 02 03 04 05 06 07 08", 1, 0, CAN_EFF_MASK | CAN_EFF_FLAG, 4, {1, 2, 3, 4}},
	{"SIM 00000155 8 01 02 03 04 05 06 07 08", 1, 0, 0x155, 8, {1, 2, 3, 4, 5, 6, 7, 8}},
	/* A standard id above 0x7FF: refused, -ERANGE (a corrupted line, not an extended frame). */
	{"SIM 800 8 01 97 CE 54 9B 38 00 73", 0, -ERANGE, 0, 0, {0}},
	{"SIM 00001558 7 01 97 CE 54 9B 38 00 73", 0, -ERANGE, 0, 0, {0}},
	{"SIM 40000800 0 00 00 00 00 00 00 00 00", 0, -ERANGE, 0, 0, {0}},
	/* The error flag, alone or with others. */
	{"SIM 20000155 8 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	{"SIM A0000155 8 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	/* Malformed in the firmware's lengths. */
	{"SIM 155 9 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},  /* dlc above 8 */
	{"SIM 155 8 01 97 CE 54 9B 38 00 7G", 0, -EINVAL, 0, 0, {0}},  /* not hex */
	{"SIM 1G5 8 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	{"SIN 155 8 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	{"sim 155 8 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00,73", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00\t73", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 0073 ", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00 -3", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 + 01 97 CE 54 9B 38 00 73", 0, -EINVAL, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00 73\x80\x80\x80\x80\x80", 0, -EINVAL, 0, 0, {0}},
	/* Valid, but not the firmware's layout: the fixed parser leaves them to the careful one. */
	{"SIM 155  8 01 97 CE 54 9B 38 00 73", 0, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
	{"SIM  55 8 01 97 CE 54 9B 38 00 73", 0, 0, 0x055, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
	{"SIM 0155 8 01 97 CE 54 9B 38 00 73", 0, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
	{"SIM 155 8 01 97 CE 54 9B 38 00 73 ", 0, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
	{"SIM 55 8 01 97 CE 54 9B 38 00 73", 0, 0, 0x055, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
};

static void test_fixed_parser_on_spec_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sim_cases) / sizeof(sim_cases[0]); i++) {
		const struct sim_case *c = &sim_cases[i];
		size_t n = strlen(c->line);
		struct can_frame_data fx, cp;
		memset(&fx, 0xA5, sizeof(fx));
		memset(&cp, 0x5A, sizeof(cp));
		int fixed = legacy_sim_fixed(c->line, n, &fx);
		int rc = legacy_sim_parse(c->line, n, &cp);
		if ((fixed == 0) != c->fixed_ok || rc != c->rc)
			fail_msg("'%s': fixed %d careful %d, want fixed %s careful %d", c->line, fixed, rc,
				 c->fixed_ok ? "ok" : "refused", c->rc);
		if (rc != 0)
			continue;
		assert_int_equal(cp.id, c->id);
		assert_int_equal(cp.dlc, c->dlc);
		assert_memory_equal(cp.data, c->data, 8);
		if (fixed == 0) {
			assert_int_equal(fx.id, c->id);
			assert_int_equal(fx.dlc, c->dlc);
			assert_memory_equal(fx.data, c->data, 8);
		}
	}
}

/*
 * Every single-byte change (all 256 values at every position) of lines in the firmware's layout.  Whatever the fixed
 * parser takes, the careful one takes with the same frame.  And it takes exactly what the layout allows, counted from
 * the specification: the identity at the 4 + 1 + 8 fixed bytes ("SIM ", the space before the dlc, the 8 spaces
 * before the bytes), 9 dlc digits, 22 hex digits (0-9 A-F a-f) at each of the 16 data digits, and at the id's digits
 * the hex digits that keep the id valid.
 */
static void mutate_all(const char *base, unsigned want_accepted)
{
	size_t n = strlen(base);
	unsigned accepted = 0;
	char line[64];

	assert_true(n < sizeof(line));
	for (size_t pos = 0; pos < n; pos++) {
		for (unsigned c = 0; c < 256; c++) {
			memcpy(line, base, n);
			line[pos] = (char)c;
			struct can_frame_data fx, cp;
			memset(&fx, 0xA5, sizeof(fx));
			memset(&cp, 0x5A, sizeof(cp));
			if (legacy_sim_fixed(line, n, &fx) != 0)
				continue;
			accepted++;
			if (legacy_sim_parse(line, n, &cp) != 0)
				fail_msg("'%.*s': fixed takes it, careful refuses it", (int)n, line);
			if (fx.id != cp.id || fx.dlc != cp.dlc || memcmp(fx.data, cp.data, 8) != 0)
				fail_msg("'%.*s': fixed and careful frames differ", (int)n, line);
		}
	}
	assert_int_equal(accepted, want_accepted);
}

static void test_fixed_parser_every_byte_change(void **state)
{
	(void)state;
	const unsigned fixed_bytes = 4 + 1 + 8, dlc = 9, data = 16 * 22;

	/* 3-digit id 155: its first digit may be 0..7 (8 values; 8 and up make it above 0x7FF), the others any of 22. */
	mutate_all("SIM 155 8 01 97 CE 54 9B 38 00 73", fixed_bytes + dlc + data + 8 + 22 + 22);
	/* 8-digit extended id 98FF50E5: its first digit holds the flags (8 extended, 4 remote, 2 error) and id bit 28;
	 * it must keep the extended flag (without it 0x?8FF50E5 is a standard id above 0x7FF, refused) and leave the
	 * error flag clear: 8, 9, C, D, c, d = 6 values.  The other seven digits are id bits: any of 22. */
	mutate_all("SIM 98FF50E5 8 01 97 CE 54 9B 38 00 73", fixed_bytes + dlc + data + 6 + 7 * 22);
}

/* --- the framer: with a sink, without, any split ---------------------------------------------------------------- */

/* A stream of legacy lines and what each must give (legacy_line.h, framer.h).  hot: in the firmware's layout. */
enum { E_REC, E_REJ, E_IGN };
struct line_case {
	const char *text; /* with its terminator */
	int what;
	int hot;
	enum rx_reject reason; /* E_REJ */
	uint16_t type;         /* E_REC */
	uint32_t id;           /* REC_CAN */
	uint8_t dlc;
	uint8_t data[8];
};

static const struct line_case stream[] = {
	{"SIM 155 8 01 97 CE 54 9B 38 00 73\r\n", E_REC, 1, 0, REC_CAN, 0x155, 8, {1, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0, 0x73}},
	{"SIM 196 2 0F 10 00 00 00 00 00 00\n", E_REC, 1, 0, REC_CAN, 0x196, 2, {0x0F, 0x10}},
	{"=== CAN + GPS Data Sniffer Ready ===\r\n", E_IGN, 0, 0, 0, 0, 0, {0}},
	{"SIM 98FF50E5 8 11 22 33 44 55 66 77 88\r\n", E_REC, 1, 0, REC_CAN, 0x18FF50E5 | CAN_EFF_FLAG, 8,
	 {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}},
	{"SIM 800 8 01 97 CE 54 9B 38 00 73\r\n", E_REJ, 0, RX_REJ_SIM_ID, 0, 0, 0, {0}},
	{"SIM 40000155 2 AA BB 00 00 00 00 00 00\r\n", E_REC, 1, 0, REC_CAN, 0x155 | CAN_RTR_FLAG, 2, {0}},
	{"SIM 155 9 01 97 CE 54 9B 38 00 73\r\n", E_REJ, 0, RX_REJ_SIM, 0, 0, 0, {0}},
	{"SIM 155  8 01 97 CE 54 9B 38 00 73\r\n", E_REC, 0, 0, REC_CAN, 0x155, 8, {1, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0, 0x73}},
	{"GPS 48.137154 11.576124 519.0 12.5 7 1.20 2024-3-5 13:4:5 1\r\n", E_REC, 0, 0, REC_GPS, 0, 0, {0}},
	/* One CR is dropped, not two: the other is a byte of the line, not printable. */
	{"SIM 155 8 01 97 CE 54 9B 38 00 73\r\r\n", E_REJ, 0, RX_REJ_BINARY, 0, 0, 0, {0}},
	{"SIM 5D7 7 0A BC DE F0 12 34 56 78\n", E_REC, 1, 0, REC_CAN, 0x5D7, 7, {0x0A, 0xBC, 0xDE, 0xF0, 0x12, 0x34, 0x56}},
	{"\r\n", E_IGN, 0, 0, 0, 0, 0, {0}}, /* an empty line: no event at all (counted out below) */
	{"SIM 155 8 01 97 CE 54 9B 38 00 73 11\r\n", E_REJ, 0, RX_REJ_SIM, 0, 0, 0, {0}},
	{"STATUS CAN:OK GPS:NO Sats:0 HDOP:99.9\r\n", E_REC, 0, 0, REC_STATUS, 0, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00 7\x01\r\n", E_REJ, 0, RX_REJ_BINARY, 0, 0, 0, {0}},
	{"SIM 7FF 0 00 00 00 00 00 00 00 00\r\n", E_REC, 1, 0, REC_CAN, 0x7FF, 0, {0}},
	{"SIM 155 8 01 97 CE 54 9B 38 00 73", E_REC, 0, 0, REC_CAN, 0x155, 8, {1, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0, 0x73}},
	/* (the last line has no LF: framer_finish() ends it, so it never takes the hot path) */
};
#define N_LINES (sizeof(stream) / sizeof(stream[0]))

struct got {
	int what;
	enum rx_reject reason;
	int committed; /* came through the sink */
	struct rx_record rec;
};

struct coll {
	struct got ev[64];
	unsigned n, commits;
	struct rx_record slot;       /* the sink's storage */
	struct rx_record *slot_ptr;
};

static void coll_add(struct coll *c, int what, enum rx_reject reason, int committed, const struct rx_record *rec)
{
	if (c->n >= sizeof(c->ev) / sizeof(c->ev[0]))
		fail_msg("too many events");
	struct got *g = &c->ev[c->n++];
	memset(g, 0, sizeof(*g));
	g->what = what;
	g->reason = reason;
	g->committed = committed;
	if (rec)
		g->rec = *rec;
}

static void on_emit(void *ctx, const struct rx_event *ev)
{
	struct coll *c = ctx;

	coll_add(c, ev->kind == RX_EV_RECORD ? E_REC : ev->kind == RX_EV_REJECT ? E_REJ : E_IGN, ev->reason, 0,
		 ev->kind == RX_EV_RECORD ? &ev->rec : NULL);
}

static void on_commit(void *ctx, struct rx_record *rec)
{
	struct coll *c = ctx;

	assert_ptr_equal(rec, c->slot_ptr);
	/* The caller's fields are the caller's: the framer left them as they were. */
	assert_int_equal(rec->seq, 0xA5A5A5A5A5A5A5A5ull);
	assert_int_equal(rec->link, 0xA5A5A5A5u);
	assert_int_equal(rec->line, 0xA5A5A5A5u);
	struct rx_record r;
	memset(&r, 0, sizeof(r));
	r.type = rec->type;
	r.flags = rec->flags;
	r.dev_seq = rec->dev_seq;
	r.dev_time_us = rec->dev_time_us;
	r.u.can = rec->u.can;
	coll_add(c, E_REC, 0, 1, &r);
	c->commits++;
	memset(rec, 0xA5, sizeof(*rec)); /* free storage again */
}

/* Feeds the whole stream in chunks of `chunk` bytes (0: at once) in the given mode, with or without a sink. */
static void run(struct coll *c, const char *s, size_t n, enum framer_mode mode, size_t chunk, int sink)
{
	struct framer f;

	memset(c, 0, sizeof(*c));
	memset(&c->slot, 0xA5, sizeof(c->slot));
	c->slot_ptr = &c->slot;
	framer_init(&f, mode);
	if (sink)
		framer_set_sink(&f, &c->slot_ptr, on_commit);
	if (chunk == 0)
		chunk = n;
	for (size_t i = 0; i < n; i += chunk)
		framer_feed(&f, s + i, n - i < chunk ? n - i : chunk, on_emit, c);
	framer_finish(&f, on_emit, c);
}

static size_t build_stream(char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < N_LINES; i++) {
		size_t k = strlen(stream[i].text);
		assert_true(n + k < size);
		memcpy(buf + n, stream[i].text, k);
		n += k;
	}
	return n;
}

static void expect_spec(const struct coll *c)
{
	unsigned k = 0;

	for (size_t i = 0; i < N_LINES; i++) {
		const struct line_case *l = &stream[i];
		if (strcmp(l->text, "\r\n") == 0)
			continue; /* an empty line gives no event */
		if (k >= c->n)
			fail_msg("line %zu: no event", i);
		const struct got *g = &c->ev[k++];
		if (g->what != l->what)
			fail_msg("line %zu '%s': event %d, want %d", i, l->text, g->what, l->what);
		if (l->what == E_REJ && g->reason != l->reason)
			fail_msg("line %zu: reject %s, want %s", i, rx_reject_name(g->reason), rx_reject_name(l->reason));
		if (l->what != E_REC)
			continue;
		assert_int_equal(g->rec.type, l->type);
		assert_int_equal(g->rec.flags, 0);
		assert_int_equal(g->rec.dev_seq, 0);
		assert_int_equal(g->rec.dev_time_us, 0);
		if (l->type == REC_CAN) {
			assert_int_equal(g->rec.u.can.id, l->id);
			assert_int_equal(g->rec.u.can.dlc, l->dlc);
			assert_memory_equal(g->rec.u.can.data, l->data, 8);
		} else if (l->type == REC_GPS) {
			assert_int_equal(g->rec.u.gps.hour, 12); /* printed 13: the firmware's hour + 1 */
			assert_int_equal(g->rec.u.gps.sats, 7);
		} else {
			assert_int_equal(g->rec.u.status.can_ok, 1);
			assert_int_equal(g->rec.u.status.gps_ok, 0);
		}
	}
	assert_int_equal(c->n, k);
}

static void same_events(const struct coll *a, const struct coll *b, const char *what)
{
	if (a->n != b->n)
		fail_msg("%s: %u events vs %u", what, a->n, b->n);
	for (unsigned i = 0; i < a->n; i++) {
		const struct got *x = &a->ev[i], *y = &b->ev[i];
		if (x->what != y->what || x->reason != y->reason)
			fail_msg("%s: event %u differs", what, i);
		if (x->what != E_REC)
			continue;
		if (x->rec.type != y->rec.type || x->rec.flags != y->rec.flags || x->rec.dev_seq != y->rec.dev_seq ||
		    x->rec.dev_time_us != y->rec.dev_time_us)
			fail_msg("%s: record %u header differs", what, i);
		const struct can_frame_data *p = &x->rec.u.can, *q = &y->rec.u.can;
		if (x->rec.type == REC_CAN ? p->id != q->id || p->dlc != q->dlc || memcmp(p->data, q->data, 8) != 0
					   : memcmp(&x->rec.u, &y->rec.u, sizeof(x->rec.u)) != 0)
			fail_msg("%s: record %u differs", what, i);
	}
}

static void test_framer_sink_same_events_any_split(void **state)
{
	(void)state;
	static char buf[2048];
	static struct coll plain, sunk;
	size_t n = build_stream(buf, sizeof(buf));
	unsigned hot = 0;

	for (size_t i = 0; i < N_LINES; i++)
		hot += (unsigned)stream[i].hot;
	for (int m = 0; m < 2; m++) {
		enum framer_mode mode = m ? FRAMER_TEXT : FRAMER_AUTO;
		run(&plain, buf, n, mode, 0, 0);
		expect_spec(&plain);
		assert_int_equal(plain.commits, 0);
		run(&sunk, buf, n, mode, 0, 1);
		expect_spec(&sunk);
		same_events(&plain, &sunk, "whole, sink");
		/* Fed whole, every line in the firmware's layout came through the sink, and only those. */
		assert_int_equal(sunk.commits, hot);
		for (unsigned i = 0, k = 0; i < N_LINES; i++) {
			if (strcmp(stream[i].text, "\r\n") == 0)
				continue;
			assert_int_equal(sunk.ev[k].committed, stream[i].hot);
			k++;
		}
		for (size_t chunk = 1; chunk <= 80; chunk++) {
			char what[64];
			run(&sunk, buf, n, mode, chunk, 1);
			snprintf(what, sizeof(what), "mode %d, %zu-byte reads, sink", (int)mode, chunk);
			same_events(&plain, &sunk, what);
			run(&sunk, buf, n, mode, chunk, 0);
			snprintf(what, sizeof(what), "mode %d, %zu-byte reads", (int)mode, chunk);
			same_events(&plain, &sunk, what);
		}
	}
}

/* Two lines in the layout, the stream cut into two reads at every point: a line cut by the end of a read, or held
 * with a partial unit before it, takes the general path and gives the same record. */
static void test_framer_sink_line_cut_by_reads(void **state)
{
	(void)state;
	static struct coll c;
	const char *s = "SIM 155 8 01 97 CE 54 9B 38 00 73\r\nSIM 196 2 0F 10 00 00 00 00 00 00\r\n";
	size_t n = strlen(s);

	for (size_t cut = 1; cut < n; cut++) {
		struct framer f;
		memset(&c, 0, sizeof(c));
		memset(&c.slot, 0xA5, sizeof(c.slot));
		c.slot_ptr = &c.slot;
		framer_init(&f, FRAMER_AUTO);
		framer_set_sink(&f, &c.slot_ptr, on_commit);
		framer_feed(&f, s, cut, on_emit, &c);
		framer_feed(&f, s + cut, n - cut, on_emit, &c);
		framer_finish(&f, on_emit, &c);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.ev[0].rec.u.can.id, 0x155);
		assert_int_equal(c.ev[1].rec.u.can.id, 0x196);
		assert_int_equal(c.ev[1].rec.u.can.dlc, 2);
		/* A line comes through the sink when it is whole, LF included, in one read: the first line's 35 bytes. */
		assert_int_equal(c.ev[0].committed, cut >= 35);
		assert_int_equal(c.ev[1].committed, cut <= 35);
		assert_int_equal(framer_detected(&f), FRAMER_TEXT);
	}
}

/* --- v2 CAN batch frames through the sink ------------------------------------------------------------------------ */

static size_t put_batch(uint8_t *out, size_t size, uint32_t seq, uint32_t t_us, uint32_t first_can,
			const struct v2x_can_entry *e, size_t n)
{
	uint8_t payload[V2X_MAX_PAYLOAD];
	int pl = v2x_can_batch_pack(first_can, e, n, payload, sizeof(payload));
	assert_true(pl > 0);
	int w = v2x_frame_encode(V2X_T_CAN_BATCH, seq, t_us, payload, (size_t)pl, out, size);
	assert_true(w > 0);
	return (size_t)w;
}

static void test_framer_sink_v2_batches(void **state)
{
	(void)state;
	static const struct v2x_can_entry b1[] = {
		{0, {0x155, 8, {1, 2, 3, 4, 5, 6, 7, 8}}},
		{250, {0x18FF50E5 | V2X_CAN_EFF_FLAG, 2, {0xAA, 0xBB}}},
		{500, {0x7FF, 0, {0}}},
	};
	static const struct v2x_can_entry b2[] = {
		{7, {0x196, 1, {0x0A}}}, /* an LF inside the frame */
		{65535, {0x5D7, 3, {9, 8, 7}}},
	};
	static uint8_t buf[1024];
	static struct coll plain, sunk;
	size_t n = 0;
	const char *sim = "SIM 155 8 01 97 CE 54 9B 38 00 73\r\n";

	memcpy(buf + n, sim, strlen(sim));
	n += strlen(sim);
	n += put_batch(buf + n, sizeof(buf) - n, 10, 0xFFFFFF00u, 100, b1, 3);
	memcpy(buf + n, sim, strlen(sim));
	n += strlen(sim);
	n += put_batch(buf + n, sizeof(buf) - n, 11, 0x100u, 103, b2, 2); /* the device clock wrapped */
	n += put_batch(buf + n, sizeof(buf) - n, 12, 0x200u, 105, b1, 1);

	/* What the specification says the stream holds, in order. */
	struct {
		uint16_t flags;
		uint32_t dev_seq;
		uint64_t dev_time_us;
		uint32_t id;
		uint8_t dlc;
		uint8_t data[8];
	} want[] = {
		{0, 0, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
		{REC_F_DEV_TIME, 10, 0xFFFFFF00u, 0x155, 8, {1, 2, 3, 4, 5, 6, 7, 8}},
		{REC_F_DEV_TIME, 10, 0xFFFFFF00ull + 250, 0x18FF50E5 | CAN_EFF_FLAG, 2, {0xAA, 0xBB}},
		{REC_F_DEV_TIME, 10, 0xFFFFFF00ull + 500, 0x7FF, 0, {0}},
		{0, 0, 0, 0x155, 8, {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73}},
		{REC_F_DEV_TIME, 11, (1ull << 32) + 0x100 + 7, 0x196, 1, {0x0A}},
		{REC_F_DEV_TIME, 11, (1ull << 32) + 0x100 + 65535, 0x5D7, 3, {9, 8, 7}},
		{REC_F_DEV_TIME, 12, (1ull << 32) + 0x200, 0x155, 8, {1, 2, 3, 4, 5, 6, 7, 8}},
	};
	const unsigned n_want = sizeof(want) / sizeof(want[0]);

	run(&sunk, (const char *)buf, n, FRAMER_AUTO, 0, 1);
	assert_int_equal(sunk.n, n_want);
	assert_int_equal(sunk.commits, n_want); /* every record came through the sink */
	for (unsigned i = 0; i < n_want; i++) {
		const struct rx_record *r = &sunk.ev[i].rec;
		assert_int_equal(sunk.ev[i].what, E_REC);
		assert_int_equal(r->type, REC_CAN);
		assert_int_equal(r->flags, want[i].flags);
		assert_int_equal(r->dev_seq, want[i].dev_seq);
		assert_int_equal(r->dev_time_us, want[i].dev_time_us);
		assert_int_equal(r->u.can.id, want[i].id);
		assert_int_equal(r->u.can.dlc, want[i].dlc);
		assert_memory_equal(r->u.can.data, want[i].data, 8);
	}
	run(&plain, (const char *)buf, n, FRAMER_AUTO, 0, 0);
	same_events(&plain, &sunk, "v2, whole");
	assert_int_equal(plain.commits, 0);
	for (size_t chunk = 1; chunk <= 96; chunk++) {
		char what[64];
		run(&sunk, (const char *)buf, n, FRAMER_AUTO, chunk, 1);
		snprintf(what, sizeof(what), "v2, %zu-byte reads, sink", chunk);
		same_events(&plain, &sunk, what);
		assert_true(sunk.commits >= 6); /* the batch entries always */
	}
	/* Fixed v2 mode: only 0x00 delimits, so each text line spoils the frame after it (one reject each); the last
	 * frame's single entry comes through the sink. */
	run(&sunk, (const char *)buf, n, FRAMER_V2, 0, 1);
	run(&plain, (const char *)buf, n, FRAMER_V2, 0, 0);
	same_events(&plain, &sunk, "v2 mode");
	assert_int_equal(sunk.n, 3);
	assert_int_equal(sunk.ev[0].what, E_REJ);
	assert_int_equal(sunk.ev[1].what, E_REJ);
	assert_int_equal(sunk.commits, 1);
	assert_int_equal(sunk.ev[2].rec.dev_seq, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_parser_on_spec_lines),
		cmocka_unit_test(test_fixed_parser_every_byte_change),
		cmocka_unit_test(test_framer_sink_same_events_any_split),
		cmocka_unit_test(test_framer_sink_line_cut_by_reads),
		cmocka_unit_test(test_framer_sink_v2_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_decode_stage.c - the decode stage's batch application (decode_stage_apply_batch, each of its paths: a batch's
 * CAN frames in one decoder call with GPS fixes and status after it, one call per run of one link, record by record)
 * against record-by-record application (decode_stage_apply), on batches that mix links, record types, unknown ids,
 * remote frames and refused values: the live vehicle state and the drop counters must end the same.  Expected values come from ../shared/facts/twizy-can.md (the built-in DBC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vehicle/signals.h"
#include "vehicle/vstate.h"
#include "stages/decode/decode_stage.h"
#include "stages/decode/decoder.h"

struct fixture {
	struct decoder *da, *db;
	struct decode_stage a, b;  /* a: batches; b: record by record */
	bool rotate;               /* a's path changes from batch to batch (else the path the test was given) */
};

/* *state: the enum decode_path for stage a, or NULL to rotate through them. */
static int setup(void **state)
{
	const enum decode_path *path = *state;
	/* the stage holds cache-line aligned rings (rt/ring.h): malloc's 16-byte alignment is not enough */
	size_t size = (sizeof(struct fixture) + 63) & ~(size_t)63;
	struct fixture *fx = aligned_alloc(64, size);
	if (!fx)
		return -1;
	memset(fx, 0, size);
	if (decode_load_decoder(NULL, false, &fx->da) || decode_load_decoder(NULL, false, &fx->db))
		return -1;
	if (decode_stage_init(&fx->a, fx->da, NULL, NULL, NULL) || decode_stage_init(&fx->b, fx->db, NULL, NULL, NULL))
		return -1;
	fx->rotate = !path;
	fx->a.path = path ? *path : DECODE_PATH_AUTO;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	decode_stage_fini(&fx->a);
	decode_stage_fini(&fx->b);
	decoder_destroy(fx->da);
	decoder_destroy(fx->db);
	free(fx);
	return 0;
}

static struct rx_record can_rec(uint32_t link, uint64_t seq, uint32_t id, uint8_t dlc, const uint8_t b[8])
{
	struct rx_record r;
	memset(&r, 0, sizeof r);
	r.type = REC_CAN;
	r.link = link;
	r.seq = seq;
	r.rx_mono_ns = 1000000000ULL + seq * 1000;
	r.rx_real_ns = 1700000000000000000LL + (int64_t)seq * 1000;
	r.u.can.id = id;
	r.u.can.dlc = dlc;
	for (unsigned i = 0; i < 8; i++)
		r.u.can.data[i] = i < dlc ? b[i] : 0;
	return r;
}

#define CAN(link, seq, id, dlc, ...) can_rec((link), (seq), (id), (dlc), (const uint8_t[8]){__VA_ARGS__})

static struct rx_record gps_rec(uint32_t link, uint64_t seq, double lat)
{
	struct rx_record r;
	memset(&r, 0, sizeof r);
	r.type = REC_GPS;
	r.link = link;
	r.seq = seq;
	r.rx_mono_ns = 1000000000ULL + seq * 1000;
	r.rx_real_ns = 1700000000000000000LL + (int64_t)seq * 1000;
	r.u.gps.lat_deg = lat;
	r.u.gps.lon_deg = 2.35;
	r.u.gps.sats = 9;
	r.u.gps.valid = 1;
	r.u.gps.have = GPS_HAVE_POS | GPS_HAVE_SATS;
	return r;
}

static struct rx_record status_rec(uint32_t link, uint64_t seq, uint16_t sats)
{
	struct rx_record r;
	memset(&r, 0, sizeof r);
	r.type = REC_STATUS;
	r.link = link;
	r.seq = seq;
	r.rx_mono_ns = 1000000000ULL + seq * 1000;
	r.rx_real_ns = 1700000000000000000LL + (int64_t)seq * 1000;
	r.u.status.can_ok = 1;
	r.u.status.sats = sats;
	return r;
}

static void expect_same_state(const struct decode_stage *a, const struct decode_stage *b)
{
	const struct vstate *x = &a->live, *y = &b->live;
	assert_memory_equal(x->value, y->value, sizeof x->value);
	assert_memory_equal(x->t_real_ns, y->t_real_ns, sizeof x->t_real_ns);
	assert_int_equal(x->last_seq, y->last_seq);
	assert_int_equal(x->updated_real_ns, y->updated_real_ns);
	assert_int_equal(x->frames, y->frames);
	assert_int_equal(x->gps_fixes, y->gps_fixes);
	assert_int_equal(x->invalid_values, y->invalid_values);
	assert_int_equal(x->unknown_ids, y->unknown_ids);
	assert_int_equal(x->last_frame_mono_ns, y->last_frame_mono_ns);
	assert_int_equal(x->gps_real_ns, y->gps_real_ns);
	assert_true(x->gps.lat_deg == y->gps.lat_deg);
	assert_int_equal(x->gps.sats, y->gps.sats);
	assert_int_equal(x->status_real_ns, y->status_real_ns);
	assert_int_equal(x->status.sats, y->status.sats);
	for (int i = 0; i < DECODE_DROP__COUNT; i++)
		assert_int_equal(rt_counter_get(&a->ctr.dropped[i]), rt_counter_get(&b->ctr.dropped[i]));
	assert_int_equal(a->dirty, b->dirty);
}

static void apply_both(struct fixture *fx, const struct rx_record *recs, size_t n)
{
	static const enum decode_path paths[] = {DECODE_PATH_AUTO, DECODE_PATH_BATCH, DECODE_PATH_RUNS,
						  DECODE_PATH_RECORDS};
	static unsigned turn;
	if (fx->rotate)
		fx->a.path = paths[turn++ % 4];
	decode_stage_apply_batch(&fx->a, recs, n);
	for (size_t i = 0; i < n; i++)
		decode_stage_apply(&fx->b, &recs[i]);
	expect_same_state(&fx->a, &fx->b);
}

static void test_mixed_batch_same_state(void **state)
{
	struct fixture *fx = *state;
	struct rx_record recs[] = {
		/* 0x155: current (0x7D0 = 2000 - 2000) / 4 = 0 A, soc 0x6D59 = 27993 / 400 = 69.9825 % */
		CAN(0, 1, 0x155, 8, 0x07, 0x07, 0xD0, 0x54, 0x6D, 0x59, 0x00, 0x00),
		gps_rec(0, 2, 48.85),
		/* 0x196 B5 = 0xFF: motor_temp refused (valid when 0 < B5 < 0xF0) */
		CAN(0, 3, 0x196, 8, 0, 0, 0, 0, 0, 0xFF, 0, 0),
		CAN(1, 1, 0x59B, 8, 0x80, 0x09, 0, 0xFD, 0, 0, 0, 0),   /* another link: gear D */
		CAN(0, 4, 0x7FF, 8, 0, 0, 0, 0, 0, 0, 0, 0),            /* unknown id */
		CAN(0, 5, 0x155 | CAN_RTR_FLAG, 0, 0),                  /* remote frame: known, nothing decoded */
		/* 0x155 B3 = 0x94: the BMS gates the frame; charge_power_req, current and soc refused */
		CAN(0, 6, 0x155, 8, 0x07, 0x07, 0xD0, 0x94, 0x6D, 0x59, 0x00, 0x00),
		CAN(0, 7, 0x599, 4, 0, 0, 0, 0, 0, 0, 0, 0),            /* DLC 4: range (B5) and speed (B6..B7) short */
		status_rec(0, 8, 7),
	};
	apply_both(fx, recs, sizeof recs / sizeof recs[0]);
	const struct vstate *s = &fx->a.live;
	assert_int_equal(s->frames, 7);
	assert_int_equal(s->unknown_ids, 1);
	assert_int_equal(s->invalid_values, 1 + 3 + 2);
	assert_int_equal(s->gps_fixes, 1);
	assert_int_equal(s->last_seq, 8);                            /* the status record, the batch's last */
	assert_int_equal(s->last_frame_mono_ns, recs[7].rx_mono_ns);
	assert_true(s->value[SIG_SOC] == 69.9825);
	assert_int_equal(s->t_real_ns[SIG_SOC], recs[0].rx_real_ns);
	assert_true(s->value[SIG_GEAR] == 1);
	assert_false(vstate_has(s, SIG_MOTOR_TEMP));
	assert_int_equal(rt_counter_get(&fx->a.ctr.dropped[DECODE_DROP_RANGE]), 1);
	assert_int_equal(rt_counter_get(&fx->a.ctr.dropped[DECODE_DROP_GATED]), 3);
	assert_int_equal(rt_counter_get(&fx->a.ctr.dropped[DECODE_DROP_SHORT_DLC]), 2);
	assert_int_equal(rt_counter_get(&fx->a.ctr.dropped[DECODE_DROP_UNKNOWN_ID]), 1);

	/* a batch ending in a CAN frame after a GPS fix: the frame is the last record */
	struct rx_record tail[] = {
		gps_rec(0, 9, 48.86),
		CAN(0, 10, 0x599, 8, 0, 0, 0, 0, 0, 0x64, 0x0F, 0xA0), /* range 100 km, speed 0x0FA0 = 4000 / 100 = 40 */
	};
	apply_both(fx, tail, 2);
	assert_int_equal(s->last_seq, 10);
	assert_int_equal(s->updated_real_ns, tail[1].rx_real_ns);
	assert_true(s->value[SIG_SPEED] == 40);
	assert_true(s->gps.lat_deg == 48.86);

	/* only GPS and a record of no known type */
	struct rx_record other[2] = {gps_rec(0, 11, 48.87)};
	other[1].type = REC_NONE;
	other[1].seq = 99;
	apply_both(fx, other, 2);
	assert_int_equal(s->last_seq, 11);                           /* REC_NONE is not applied */
	assert_int_equal(s->frames, 8);
}

/* Long batches of random Twizy frames (and every so often a fix or a status) in random batch sizes. */
static void test_random_batches_same_state(void **state)
{
	struct fixture *fx = *state;
	static const uint32_t ids[] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557, 0x55E, 0x55F,
				       0x597, 0x599, 0x59B, 0x59E, 0x5D7, 0x123};
	uint64_t x = 0x0123456789ABCDEFULL, seq[2] = {0, 0};
	struct rx_record recs[200];
	for (int round = 0; round < 200; round++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t n = 1 + x % 200;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint32_t link = (x >> 60) & 1;
			uint8_t b[8];
			memcpy(b, &x, 8);
			if ((x >> 40) % 97 == 0)
				recs[i] = gps_rec(link, ++seq[link], (double)(x % 9000) / 100);
			else if ((x >> 40) % 89 == 0)
				recs[i] = status_rec(link, ++seq[link], (uint16_t)(x % 13));
			else
				recs[i] = can_rec(link, ++seq[link], ids[(x >> 32) % 16], (x >> 48) % 11 == 0 ? (uint8_t)(x % 8) : 8,
						  b);
		}
		apply_both(fx, recs, n);
	}
	assert_true(fx->a.live.frames > 10000);
	assert_true(fx->a.live.invalid_values > 0);
	assert_true(fx->a.live.gps_fixes > 0);
}

int main(void)
{
	static const enum decode_path auto_path = DECODE_PATH_AUTO, batch = DECODE_PATH_BATCH, runs = DECODE_PATH_RUNS,
				      records = DECODE_PATH_RECORDS;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(test_mixed_batch_same_state, setup, teardown, (void *)&auto_path),
		cmocka_unit_test_prestate_setup_teardown(test_mixed_batch_same_state, setup, teardown, (void *)&batch),
		cmocka_unit_test_prestate_setup_teardown(test_mixed_batch_same_state, setup, teardown, (void *)&runs),
		cmocka_unit_test_prestate_setup_teardown(test_mixed_batch_same_state, setup, teardown, (void *)&records),
		cmocka_unit_test_setup_teardown(test_random_batches_same_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

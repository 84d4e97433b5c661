/*
 * test_mt_can_rx_replay.c - the can_rx stage on a replayed legacy log (a regular file, read once to its end), its
 * records built in their batch slots by two paths: the framer's hot path (SIM lines in the firmware's layout, through
 * the sink) and the general one (other valid lines, through events), mixed within batches and across batch ends.
 *
 * Expected values from the specification: legacy lines (facts/legacy-system.md, legacy_line.h): `SIM <id> <dlc>
 * <8 bytes>` with bytes at or past the dlc stored as 0, a standard id above 0x7FF refused as "sim_id", GPS lines
 * with the hour printed + 1; can_rx.h: every accepted record gets the link's next sequence number from 1, the link id,
 * line 0, both clocks of the read that completed it (a file is read CAN_RX_READ_SIZE bytes at a time); rejects are
 * counted per reason; in = records accepted, out = records the first output took.  V2 CAN batch frames (v2x_proto.h,
 * framer.h): one record per entry with REC_F_DEV_TIME, the frame's seq and unwrapped time + the entry's offset; frames
 * missing from the device's seq are counted in dev_frames_lost (a gap of k: k - 1), CAN frames missing from the
 * batches' first_can numbers in can_frames_lost.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "v2x_proto.h"
#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "tests/support/testutil.h"

#define LINES 3000 /* about 100 KiB: two reads */
#define LINK 7

enum kind { K_HOT, K_SPACED, K_SIM_ID, K_GPS, K_UNKNOWN };

/* Line i of the replay: mostly the firmware's layout, every few lines another kind. */
static enum kind kind_of(unsigned i)
{
	if (i % 7 == 3)
		return K_SPACED;
	if (i % 11 == 5)
		return K_SIM_ID;
	if (i % 13 == 6)
		return K_GPS;
	if (i % 97 == 50)
		return K_UNKNOWN;
	return K_HOT;
}

static uint32_t id_of(unsigned i)
{
	return i % 5 == 0 ? (0x18FF0000u + i) | CAN_EFF_FLAG : 0x100u + i % 0x700u;
}

static int format_line(char *buf, size_t size, unsigned i)
{
	unsigned dlc = i % 9, b0 = i & 0xFF, b1 = (i >> 8) & 0xFF;
	uint32_t id = id_of(i);
	char idtext[16];

	if (id & CAN_EFF_FLAG)
		snprintf(idtext, sizeof(idtext), "%08X", id);
	else
		snprintf(idtext, sizeof(idtext), "%03X", id);
	switch (kind_of(i)) {
	case K_HOT:
		return snprintf(buf, size, "SIM %s %u %02X %02X C3 D4 E5 F6 07 18\r\n", idtext, dlc, b0, b1);
	case K_SPACED:
		return snprintf(buf, size, "SIM  %s %u  %02X %02X C3 D4 E5 F6 07 18 \r\n", idtext, dlc, b0, b1);
	case K_SIM_ID:
		return snprintf(buf, size, "SIM %X %u %02X %02X C3 D4 E5 F6 07 18\r\n", 0x800 + i % 0x700, dlc, b0, b1);
	case K_GPS:
		return snprintf(buf, size, "GPS 48.137154 11.576124 519.0 12.5 %u 1.20 2024-3-5 13:4:5 1\r\n", i % 20);
	default:
		return snprintf(buf, size, "hello %u\r\n", i);
	}
}

/* Starts can_rx on the replay file at path with one output ring, waits for its end and stops it. */
static void replay(struct can_rx *rx, struct ring *out, struct rt_waiter *w, struct rt_stop *stop, const char *path)
{
	struct can_rx_conf conf;
	struct rt_thread t_rx;
	struct rt_thread_conf tc;

	rt_stop_init(stop);
	assert_int_equal(rt_waiter_init(w, RT_WAIT_EVENTFD, 0), 0);
	assert_int_equal(ring_init(out, "can_rx->test", sizeof(struct rx_record), 4096, NULL), 0);
	can_rx_conf_init(&conf, path);
	conf.link = LINK;
	struct ring *outs[1] = {out};
	assert_int_equal(can_rx_init(rx, &conf, outs, 1, w, stop), 0);
	rt_thread_conf_init(&tc, "t-rx");
	assert_int_equal(rt_thread_start(&t_rx, &tc, can_rx_thread, rx), 0);
	for (int i = 0; i < 30000 && !atomic_load(&rx->at_eof); i++)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_int_equal(atomic_load(&rx->at_eof), 1);
	rt_stop_request(stop);
	can_rx_wake(rx);
	rt_thread_join(&t_rx);
}

static void test_replay_records_seq_and_stamps(void **state)
{
	(void)state;
	char dir[256], path[300];
	struct rt_stop stop;
	struct can_rx *rx = test_zalloc_aligned(sizeof(*rx));
	struct ring *out = test_zalloc_aligned(sizeof(*out));
	struct rt_waiter *rx_w = test_zalloc_aligned(sizeof(*rx_w));
	static size_t line_end[LINES]; /* offset just past each line's LF */

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "rxreplay"), 0);
	snprintf(path, sizeof(path), "%s/replay.log", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	size_t off = 0;
	unsigned want_records = 0, want_sim_id = 0, want_unknown = 0;
	for (unsigned i = 0; i < LINES; i++) {
		char line[128];
		int n = format_line(line, sizeof(line), i);
		assert_true(n > 0 && (size_t)n < sizeof(line));
		assert_int_equal(fwrite(line, 1, (size_t)n, fp), (size_t)n);
		off += (size_t)n;
		line_end[i] = off;
		enum kind k = kind_of(i);
		want_records += k == K_HOT || k == K_SPACED || k == K_GPS;
		want_sim_id += k == K_SIM_ID;
		want_unknown += k == K_UNKNOWN;
	}
	assert_int_equal(fclose(fp), 0);
	assert_true(off > CAN_RX_READ_SIZE && off < 2 * CAN_RX_READ_SIZE);

	replay(rx, out, rx_w, &stop, path);
	assert_int_equal(rt_counter_get(&rx->reads), 2);
	assert_int_equal(rt_counter_get(&rx->ctr.in), want_records);
	assert_int_equal(rt_counter_get(&rx->ctr.out), want_records);
	assert_int_equal(rt_counter_get(&rx->ctr.dropped[RX_REJ_SIM_ID]), want_sim_id);
	assert_int_equal(rt_counter_get(&rx->ctr.dropped[RX_REJ_UNKNOWN]), want_unknown);
	assert_int_equal(rt_counters_dropped_total(&rx->ctr), want_sim_id + want_unknown);
	assert_int_equal(ring_count(out), want_records);

	uint64_t seq = 0, first_stamp = 0, second_stamp = 0;
	for (unsigned i = 0; i < LINES; i++) {
		enum kind k = kind_of(i);
		if (k == K_SIM_ID || k == K_UNKNOWN)
			continue;
		struct rx_record r;
		assert_true(ring_pop(out, &r));
		assert_int_equal(r.seq, ++seq);
		assert_int_equal(r.link, LINK);
		assert_int_equal(r.line, 0);
		assert_int_equal(r.flags, 0);
		assert_int_equal(r.dev_seq, 0);
		assert_int_equal(r.dev_time_us, 0);
		assert_true(r.rx_real_ns > 0);
		/* The read that completed the line stamped it: the first read holds CAN_RX_READ_SIZE bytes. */
		uint64_t *stamp = line_end[i] <= CAN_RX_READ_SIZE ? &first_stamp : &second_stamp;
		if (!*stamp)
			*stamp = r.rx_mono_ns;
		assert_int_equal(r.rx_mono_ns, *stamp);
		if (k == K_GPS) {
			assert_int_equal(r.type, REC_GPS);
			assert_int_equal(r.u.gps.sats, i % 20);
			assert_int_equal(r.u.gps.hour, 12);
			continue;
		}
		assert_int_equal(r.type, REC_CAN);
		unsigned dlc = i % 9;
		uint8_t want[8] = {(uint8_t)(i & 0xFF), (uint8_t)((i >> 8) & 0xFF), 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18};
		for (unsigned b = dlc; b < 8; b++)
			want[b] = 0;
		assert_int_equal(r.u.can.id, id_of(i));
		assert_int_equal(r.u.can.dlc, dlc);
		assert_memory_equal(r.u.can.data, want, 8);
	}
	assert_true(first_stamp > 0 && second_stamp > first_stamp);
	assert_int_equal(seq, want_records);

	can_rx_fini(rx);
	ring_fini(out);
	rt_waiter_fini(rx_w);
	test_rmtree(dir);
	free(rx);
	free(out);
	free(rx_w);
}

static void test_replay_v2_batches_and_loss(void **state)
{
	(void)state;
	char dir[256], path[300];
	struct rt_stop stop;
	struct can_rx *rx = test_zalloc_aligned(sizeof(*rx));
	struct ring *out = test_zalloc_aligned(sizeof(*out));
	struct rt_waiter *w = test_zalloc_aligned(sizeof(*w));
	/* Device seq 1, 2, 3, 6, 7 (frames 4 and 5 lost: 2); CAN frame numbers 0.., the batch of seq 6 starting 4
	 * numbers after the end of seq 3's (4 CAN frames lost); each batch of 3 entries; a legacy line in between. */
	static const uint32_t seqs[] = {1, 2, 3, 6, 7};
	static const uint32_t firsts[] = {0, 3, 6, 13, 16};
	const unsigned entries = 3, frames = sizeof(seqs) / sizeof(seqs[0]);

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "rxreplay2"), 0);
	snprintf(path, sizeof(path), "%s/replay.bin", dir);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	for (unsigned k = 0; k < frames; k++) {
		struct v2x_can_entry e[3];
		for (unsigned i = 0; i < entries; i++) {
			memset(&e[i], 0, sizeof(e[i]));
			e[i].offset_us = (uint16_t)(100 * i);
			e[i].can.id = 0x100 + k * 16 + i;
			e[i].can.dlc = (uint8_t)(i + 1);
			for (unsigned b = 0; b <= i; b++)
				e[i].can.data[b] = (uint8_t)(0x10 * k + b);
		}
		uint8_t payload[V2X_MAX_PAYLOAD], wire[V2X_WIRE_MAX];
		int pl = v2x_can_batch_pack(firsts[k], e, entries, payload, sizeof(payload));
		assert_true(pl > 0);
		int n = v2x_frame_encode(V2X_T_CAN_BATCH, seqs[k], 1000000u * (k + 1), payload, (size_t)pl, wire,
					 sizeof(wire));
		assert_true(n > 0);
		assert_int_equal(fwrite(wire, 1, (size_t)n, fp), (size_t)n);
		if (k == 2)
			fputs("SIM 155 8 01 97 CE 54 9B 38 00 73\r\n", fp);
	}
	assert_int_equal(fclose(fp), 0);

	replay(rx, out, w, &stop, path);
	assert_int_equal(rt_counter_get(&rx->ctr.in), frames * entries + 1);
	assert_int_equal(rt_counters_dropped_total(&rx->ctr), 0);
	assert_int_equal(rt_counter_get(&rx->dev_frames_lost), 2);
	assert_int_equal(rt_counter_get(&rx->can_frames_lost), 4);
	uint64_t seq = 0;
	for (unsigned k = 0; k < frames; k++) {
		for (unsigned i = 0; i < entries; i++) {
			struct rx_record r;
			assert_true(ring_pop(out, &r));
			assert_int_equal(r.seq, ++seq);
			assert_int_equal(r.link, LINK);
			assert_int_equal(r.type, REC_CAN);
			assert_int_equal(r.flags, REC_F_DEV_TIME);
			assert_int_equal(r.dev_seq, seqs[k]);
			assert_int_equal(r.dev_time_us, 1000000u * (k + 1) + 100 * i);
			assert_int_equal(r.u.can.id, 0x100 + k * 16 + i);
			assert_int_equal(r.u.can.dlc, i + 1);
			for (unsigned b = 0; b < 8; b++)
				assert_int_equal(r.u.can.data[b], b <= i ? 0x10 * k + b : 0);
		}
		if (k == 2) {
			struct rx_record r;
			assert_true(ring_pop(out, &r));
			assert_int_equal(r.seq, ++seq);
			assert_int_equal(r.flags, 0);
			assert_int_equal(r.dev_seq, 0);
			assert_int_equal(r.dev_time_us, 0);
			assert_int_equal(r.u.can.id, 0x155);
		}
	}
	assert_int_equal(ring_count(out), 0);

	can_rx_fini(rx);
	ring_fini(out);
	rt_waiter_fini(w);
	test_rmtree(dir);
	free(rx);
	free(out);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_records_seq_and_stamps),
		cmocka_unit_test(test_replay_v2_batches_and_loss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

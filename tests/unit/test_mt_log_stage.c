/*
 * test_mt_log_stage.c - the log stage with several producers: a receive stage's records (CAN frames and GPS fixes
 * in one ring) and a second producer's lines for two files it declares, each on its own thread.  Every row arrives
 * in its producer's order, the stage ends only when every input is drained (one producer closing early does not
 * end it), and each file holds exactly its rows.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/thread.h"
#include "stages/log/log_stage.h"
#include "tests/support/testutil.h"

#define FRAMES 20000
#define LINES 5000

static const struct log_line_sink line_files[] = {
	{.base = "alpha", .ext = ".csv", .naming = LOGFILE_FIXED, .header = "a,n\n"},
	{.base = "beta", .ext = ".csv", .naming = LOGFILE_FIXED, .header = "b,n\n"},
};
static const struct log_line_sinks line_sinks = {.sinks = line_files, .n = 2};

struct producers {
	struct ring *records, *lines;
	_Atomic int lines_closed;
};

static void *records_thread(void *arg)
{
	struct producers *p = arg;
	for (uint64_t i = 1; i <= FRAMES; i++) {
		struct rx_record r;
		memset(&r, 0, sizeof(r));
		r.seq = i;
		r.rx_mono_ns = rt_mono_ns();
		r.rx_real_ns = 1700000000LL * 1000000000LL + (int64_t)i * 1000000;
		r.type = REC_CAN;
		r.u.can.id = 0x155;
		r.u.can.dlc = 8;
		memcpy(r.u.can.data, &i, sizeof(i));
		ring_push_all(p->records, &r, 1, 60 * RT_NS_PER_SEC);
	}
	/* The records' producer keeps its ring open until the line producer has closed its own: "drained" must mean
	 * every input, not the first one to close. */
	while (!atomic_load(&p->lines_closed))
		rt_sleep_ns(RT_NS_PER_MS);
	rt_sleep_ns(20 * RT_NS_PER_MS);
	ring_close(p->records);
	return NULL;
}

static void *lines_thread(void *arg)
{
	struct producers *p = arg;
	for (int i = 1; i <= LINES; i++) {
		struct log_line l;
		memset(&l, 0, sizeof(l));
		l.sink = (uint16_t)(i % 2);
		int n = snprintf(l.text, sizeof(l.text), "%c,%d\n", i % 2 ? 'b' : 'a', i);
		l.len = (uint16_t)n;
		ring_push_all(p->lines, &l, 1, 60 * RT_NS_PER_SEC);
	}
	/* One malformed line (no newline) and one naming a file that does not exist: counted, not written. */
	struct log_line bad;
	memset(&bad, 0, sizeof(bad));
	bad.len = 3;
	memcpy(bad.text, "xyz", 3);
	ring_push_all(p->lines, &bad, 1, 60 * RT_NS_PER_SEC);
	bad.sink = 7;
	bad.len = 2;
	memcpy(bad.text, "q\n", 2);
	ring_push_all(p->lines, &bad, 1, 60 * RT_NS_PER_SEC);
	ring_close(p->lines);
	atomic_store(&p->lines_closed, 1);
	return NULL;
}

/* Checks that file holds header then rows whose second field increases by `step` from `first`. */
static void check_file(const char *path, const char *header, size_t want_rows, long first, long step)
{
	size_t len;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	assert_memory_equal(t, header, strlen(header));
	char *p = t + strlen(header);
	size_t rows = 0;
	long expect = first;
	while (p < t + len) {
		char *nl = memchr(p, '\n', (size_t)(t + len - p));
		assert_non_null(nl);
		char *comma = memchr(p, ',', (size_t)(nl - p));
		assert_non_null(comma);
		assert_int_equal(strtol(comma + 1, NULL, 10), expect);
		expect += step;
		rows++;
		p = nl + 1;
	}
	assert_int_equal(rows, want_rows);
	free(t);
}

static void test_two_producers_order_and_drain(void **st)
{
	(void)st;
	char dir[256], path[512];
	struct log_stage *ls = test_zalloc_aligned(sizeof(*ls));
	struct rt_waiter *w = test_zalloc_aligned(sizeof(*w));
	struct ring *rec_ring = test_zalloc_aligned(sizeof(*rec_ring));
	struct ring *line_ring = test_zalloc_aligned(sizeof(*line_ring));
	struct log_stage_conf conf;
	struct producers p = {.records = rec_ring, .lines = line_ring};

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "logmp"), 0);
	log_stage_conf_init(&conf);
	snprintf(conf.out_dir, sizeof(conf.out_dir), "%s", dir);
	conf.snapshot_rows = 50;
	assert_int_equal(rt_waiter_init(w, RT_WAIT_SLEEP, 0), 0);
	/* Small rings: the producers are held back, so the log thread interleaves the inputs many times. */
	assert_int_equal(ring_init(rec_ring, "can_rx->log", sizeof(struct rx_record), 256, w), 0);
	assert_int_equal(ring_init(line_ring, "v2g->log", sizeof(struct log_line), 64, w), 0);
	struct ring *ins[2] = {rec_ring, line_ring};
	const struct log_line_sinks *sinks[2] = {NULL, &line_sinks};
	assert_int_equal(log_stage_init(ls, &conf, ins, sinks, 2, w, NULL), 0);

	struct rt_thread t_log, t_rec, t_lines;
	struct rt_thread_conf tc;
	rt_thread_conf_init(&tc, "t-log");
	assert_int_equal(rt_thread_start(&t_log, &tc, log_stage_thread, ls), 0);
	rt_thread_conf_init(&tc, "t-rec");
	assert_int_equal(rt_thread_start(&t_rec, &tc, records_thread, &p), 0);
	rt_thread_conf_init(&tc, "t-lines");
	assert_int_equal(rt_thread_start(&t_lines, &tc, lines_thread, &p), 0);
	rt_thread_join(&t_lines);
	rt_thread_join(&t_rec);
	rt_thread_join(&t_log); /* ends only once both inputs are closed and empty */
	assert_true(ring_is_drained(rec_ring));
	assert_true(ring_is_drained(line_ring));
	assert_int_equal(rt_counter_get(&ls->inputs[1].bad_lines), 2);
	assert_int_equal(rt_counter_get(&ls->ctr.in), FRAMES + LINES + 2);
	assert_int_equal(log_stage_fini(ls), 0);

	/* Per producer order: lines 2, 4, ... in alpha, 1, 3, ... in beta; frames in seq order in candump and csv. */
	snprintf(path, sizeof(path), "%s/alpha.csv", dir);
	check_file(path, "a,n\n", LINES / 2, 2, 2);
	snprintf(path, sizeof(path), "%s/beta.csv", dir);
	check_file(path, "b,n\n", LINES / 2, 1, 2);
	size_t len;
	snprintf(path, sizeof(path), "%s/can_data.csv", dir);
	char *csv = test_read_file(path, &len);
	assert_non_null(csv);
	size_t rows = 0;
	for (size_t i = 0; i < len; i++)
		rows += csv[i] == '\n';
	assert_int_equal(rows, FRAMES + 1); /* header + one row per frame */
	free(csv);
	ring_fini(rec_ring);
	ring_fini(line_ring);
	rt_waiter_fini(w);
	free(rec_ring);
	free(line_ring);
	free(w);
	free(ls);
}

/*
 * Regression: one input closed and empty while another stays open made the log thread spin (its ready predicate
 * counted a closed ring as work): at a stop can_rx closes first, and with --rt on a shared CPU the spinning log
 * thread starved the stage that had yet to close its ring.  Proved by structure: while the open input is silent the
 * thread must go to sleep on its waiter (the waiter's sleep count grows), which a spinning thread never does.
 */
static void test_one_input_closed_does_not_spin(void **st)
{
	(void)st;
	char dir[256];
	struct log_stage *ls = test_zalloc_aligned(sizeof(*ls));
	struct rt_waiter *w = test_zalloc_aligned(sizeof(*w));
	struct ring *rec_ring = test_zalloc_aligned(sizeof(*rec_ring));
	struct ring *line_ring = test_zalloc_aligned(sizeof(*line_ring));
	struct log_stage_conf conf;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "logspin"), 0);
	log_stage_conf_init(&conf);
	snprintf(conf.out_dir, sizeof(conf.out_dir), "%s", dir);
	conf.snapshot_rows = 10;
	assert_int_equal(rt_waiter_init(w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(rec_ring, "can_rx->log", sizeof(struct rx_record), 64, w), 0);
	assert_int_equal(ring_init(line_ring, "v2g->log", sizeof(struct log_line), 64, w), 0);
	struct ring *ins[2] = {rec_ring, line_ring};
	const struct log_line_sinks *sinks[2] = {NULL, &line_sinks};
	assert_int_equal(log_stage_init(ls, &conf, ins, sinks, 2, w, NULL), 0);
	ring_close(rec_ring); /* the receiver has ended; the line producer has not */
	struct rt_thread t_log;
	struct rt_thread_conf tc;
	rt_thread_conf_init(&tc, "t-log");
	assert_int_equal(rt_thread_start(&t_log, &tc, log_stage_thread, ls), 0);
	uint64_t before = atomic_load(&w->sleeps);
	for (int i = 0; i < 3000 && atomic_load(&w->sleeps) < before + 3; i++)
		rt_sleep_ns(RT_NS_PER_MS);
	assert_true(atomic_load(&w->sleeps) >= before + 3); /* it waits; a spinning thread would never sleep */
	ring_close(line_ring);
	rt_thread_join(&t_log); /* and it still ends once every input is drained */
	assert_int_equal(log_stage_fini(ls), 0);
	ring_fini(rec_ring);
	ring_fini(line_ring);
	rt_waiter_fini(w);
	free(rec_ring);
	free(line_ring);
	free(w);
	free(ls);
}

/*
 * Records of two links, one long run then interleaved in short runs, remote frames among them and a GPS fix in the middle, all
 * queued before the log thread starts (so it takes them in large batches): can_data.csv and the candump log hold
 * every frame once, in ring order, and the GPS columns are empty up to the fix and the fix's from the next frame
 * on (facts: can_data's gps columns are the fix current when the frame arrived).  Once with the default buffers
 * (runs of up to 256 frames formatted in place at once) and once with 8 KiB buffers (runs cut to 8 frames, so a
 * run's reservation stays within a quarter of the buffer).  The frame-by-frame fallback, taken only while writes
 * fail and a buffer is full, is exercised by test_regress_outdir_removed's exact loss counts.
 */
#define RUN_RECS 1000
#define RUN_GPS_AT 500

/* Frame i's link: one long run of link 0, then runs of 3 frames alternating between links 0 and 1. */
static uint32_t link_of(int i)
{
	return i < 300 ? 0 : (uint32_t)(i / 3 % 2);
}

static void run_links_and_gps(size_t buffer_bytes)
{
	char dir[256], path[512];
	struct log_stage *ls = test_zalloc_aligned(sizeof(*ls));
	struct rt_waiter *w = test_zalloc_aligned(sizeof(*w));
	struct ring *rec_ring = test_zalloc_aligned(sizeof(*rec_ring));
	struct log_stage_conf conf;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "logruns"), 0);
	log_stage_conf_init(&conf);
	snprintf(conf.out_dir, sizeof(conf.out_dir), "%s", dir);
	snprintf(conf.ifname, sizeof(conf.ifname), "vcan3");
	conf.buffer_bytes = buffer_bytes;
	conf.snapshot_rows = 20;
	assert_int_equal(rt_waiter_init(w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(rec_ring, "can_rx->log", sizeof(struct rx_record), 1024, w), 0);
	struct ring *ins[1] = {rec_ring};
	assert_int_equal(log_stage_init(ls, &conf, ins, NULL, 1, w, NULL), 0);
	uint64_t seq[2] = {0, 0};
	for (int i = 0; i < RUN_RECS; i++) {
		struct rx_record r;
		memset(&r, 0, sizeof(r));
		r.rx_mono_ns = rt_mono_ns();
		r.rx_real_ns = 1700000000LL * 1000000000LL + (int64_t)i * 1000000;
		r.link = link_of(i);
		r.seq = ++seq[r.link];
		if (i == RUN_GPS_AT) {
			r.type = REC_GPS;
			r.u.gps.lat_deg = 48.1;
			r.u.gps.lon_deg = 11.5;
			r.u.gps.valid = 1;
			r.u.gps.have = GPS_HAVE_POS;
		} else {
			r.type = REC_CAN;
			r.u.can.id = 0x100 + (uint32_t)i % 0x100;
			if (i % 97 == 0)
				r.u.can.id |= CAN_RTR_FLAG;
			r.u.can.dlc = (uint8_t)(i % 9);
			for (int b = 0; b < r.u.can.dlc; b++)
				r.u.can.data[b] = (uint8_t)(i + b);
		}
		assert_int_equal(ring_push_all(rec_ring, &r, 1, RT_NS_PER_SEC), 1);
	}
	ring_close(rec_ring);
	struct rt_thread t_log;
	struct rt_thread_conf tc;
	rt_thread_conf_init(&tc, "t-log");
	assert_int_equal(rt_thread_start(&t_log, &tc, log_stage_thread, ls), 0);
	rt_thread_join(&t_log);
	assert_int_equal(rt_counter_get(&ls->ctr.in), RUN_RECS);
	assert_int_equal(log_stage_fini(ls), 0);

	/* can_data.csv: row k is frame k (the GPS record skipped): its id, its link's seq, the GPS columns */
	size_t len;
	snprintf(path, sizeof(path), "%s/can_data.csv", dir);
	char *csv = test_read_file(path, &len);
	assert_non_null(csv);
	char *p = csv + strlen(CSV_CAN_DATA_HEADER);
	assert_memory_equal(csv, CSV_CAN_DATA_HEADER, strlen(CSV_CAN_DATA_HEADER));
	uint64_t want_seq[2] = {0, 0};
	for (int i = 0; i < RUN_RECS; i++) {
		uint32_t link = link_of(i);
		++want_seq[link];
		if (i == RUN_GPS_AT)
			continue;
		char *nl = memchr(p, '\n', (size_t)(csv + len - p));
		assert_non_null(nl);
		*nl = '\0';
		char *f[16];
		int nf = 0;
		for (char *q = p; nf < 16; q++) {
			f[nf++] = q;
			q = strchr(q, ',');
			if (!q)
				break;
			*q = '\0';
		}
		assert_int_equal(nf, 12);
		assert_int_equal(strtoul(f[1], NULL, 16), 0x100 + (unsigned)i % 0x100);
		assert_int_equal(strtoull(f[10], NULL, 10), want_seq[link]);
		assert_string_equal(f[3], i % 97 == 0 ? "R" : f[4]);
		assert_string_equal(f[5], i < RUN_GPS_AT ? "" : "48.100000");
		assert_string_equal(f[6], i < RUN_GPS_AT ? "" : "11.500000");
		assert_string_equal(f[9], i < RUN_GPS_AT ? "0" : "1");
		p = nl + 1;
	}
	assert_ptr_equal(p, csv + len);
	free(csv);

	/* the candump log (can_<start>.log, the only .log file): one line per frame, in order, with the ifname */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls %s/can_*.log", dir);
	FILE *ls_out = popen(cmd, "r");
	assert_non_null(ls_out);
	assert_non_null(fgets(path, sizeof(path), ls_out));
	pclose(ls_out);
	path[strcspn(path, "\n")] = '\0';
	char *dump = test_read_file(path, &len);
	assert_non_null(dump);
	p = dump;
	for (int i = 0; i < RUN_RECS; i++) {
		if (i == RUN_GPS_AT)
			continue;
		char want[64];
		int n = snprintf(want, sizeof(want), "(1700000000.%06d) vcan3 %03X#", i * 1000 % 1000000,
				 0x100 + (unsigned)i % 0x100);
		char *nl = memchr(p, '\n', (size_t)(dump + len - p));
		assert_non_null(nl);
		assert_memory_equal(p, want, (size_t)n);
		p = nl + 1;
	}
	assert_ptr_equal(p, dump + len);
	free(dump);
	ring_fini(rec_ring);
	rt_waiter_fini(w);
	free(rec_ring);
	free(w);
	free(ls);
}

static void test_runs_of_links_and_gps_in_order(void **st)
{
	(void)st;
	run_links_and_gps(0);        /* default buffers: runs of up to 256 frames at once */
	run_links_and_gps(8u << 10); /* 8 KiB: runs of at most 8 frames */
}

/*
 * The frame-by-frame fallback: while the output directory is gone (rm -rf, facts: rows wait in memory and are
 * counted dropped once the buffer is full) an 8 KiB buffer fills, runs no longer fit their reservation, and each
 * frame's lines go in one by one until nothing fits: can_data.csv and the candump log then hold exactly the first
 * rows, in order, once the directory is back, and every other frame is counted dropped (none twice, none missed).
 */
#define DROP_RECS 1000

/* Returns the rows of a can_data.csv (after its header) or candump log, checking that row k is frame k's. */
static size_t count_prefix_rows(const char *path, int candump)
{
	size_t len, rows = 0;
	char *t = test_read_file(path, &len);
	assert_non_null(t);
	char *p = t, *end = t + len;
	if (!candump)
		p = (char *)memchr(t, '\n', len) + 1; /* header */
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		rows++;
		if (candump) { /* "(1700000000.<usec>) can0 155#<8 data bytes, the first the frame's seq>" */
			char want[64];
			int n = snprintf(want, sizeof(want), "(1700000000.%06zu) can0 155#%02zX", rows * 1000 % 1000000,
					 rows % 256);
			assert_memory_equal(p, want, (size_t)n);
		} else { /* seq is the 11th column */
			char *c = p;
			for (int i = 0; i < 10; i++)
				c = (char *)memchr(c, ',', (size_t)(nl - c)) + 1;
			assert_int_equal(strtoull(c, NULL, 10), rows);
		}
		p = nl + 1;
	}
	free(t);
	return rows;
}

static void test_full_buffer_drops_frame_by_frame(void **st)
{
	(void)st;
	char dir[256], out[300], path[600];
	struct log_stage *ls = test_zalloc_aligned(sizeof(*ls));
	struct rt_waiter *w = test_zalloc_aligned(sizeof(*w));
	struct ring *rec_ring = test_zalloc_aligned(sizeof(*rec_ring));
	struct log_stage_conf conf;

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "logdrop"), 0);
	snprintf(out, sizeof(out), "%s/out", dir);
	log_stage_conf_init(&conf);
	snprintf(conf.out_dir, sizeof(conf.out_dir), "%s", out);
	conf.buffer_bytes = 8u << 10;
	conf.flush_ns = 20 * RT_NS_PER_MS;
	conf.snapshot_rows = 10;
	assert_int_equal(rt_waiter_init(w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(rec_ring, "can_rx->log", sizeof(struct rx_record), 1024, w), 0);
	struct ring *ins[1] = {rec_ring};
	assert_int_equal(log_stage_init(ls, &conf, ins, NULL, 1, w, NULL), 0);
	struct logfile *csv = &ls->sinks[ls->can_csv].file, *dump = &ls->sinks[ls->candump].file;
	struct rt_thread t_log;
	struct rt_thread_conf tc;
	rt_thread_conf_init(&tc, "t-log");
	assert_int_equal(rt_thread_start(&t_log, &tc, log_stage_thread, ls), 0);

	test_rmtree(out);
	for (int i = 0; i < 5000 && !(rt_counter_get(&csv->stats.missing) && rt_counter_get(&dump->stats.missing)); i++)
		test_sleep_ms(1);
	assert_true(rt_counter_get(&csv->stats.missing) && rt_counter_get(&dump->stats.missing));
	for (uint64_t i = 1; i <= DROP_RECS; i++) {
		struct rx_record r;
		memset(&r, 0, sizeof(r));
		r.seq = i;
		r.rx_mono_ns = rt_mono_ns();
		r.rx_real_ns = 1700000000LL * 1000000000LL + (int64_t)i * 1000000;
		r.type = REC_CAN;
		r.u.can.id = 0x155;
		r.u.can.dlc = 8;
		memcpy(r.u.can.data, &i, sizeof(i)); /* little-endian: the first byte is seq % 256 */
		assert_int_equal(ring_push_all(rec_ring, &r, 1, RT_NS_PER_SEC), 1);
	}
	for (int i = 0; i < 5000 && rt_counter_get(&ls->ctr.in) < DROP_RECS; i++)
		test_sleep_ms(1);
	assert_int_equal(rt_counter_get(&ls->ctr.in), DROP_RECS);
	uint64_t csv_dropped = rt_counter_get(&csv->stats.rows_dropped);
	uint64_t dump_dropped = rt_counter_get(&dump->stats.rows_dropped);
	assert_true(csv_dropped > 0 && csv_dropped < DROP_RECS);
	assert_true(dump_dropped > 0 && dump_dropped < DROP_RECS);

	/* the directory comes back: the waiting rows are written to the reopened files */
	assert_int_equal(mkdir(out, 0755), 0);
	for (int i = 0; i < 5000 && (rt_counter_get(&csv->stats.missing) || rt_counter_get(&dump->stats.missing)); i++)
		test_sleep_ms(1);
	ring_close(rec_ring);
	rt_thread_join(&t_log);
	assert_int_equal(log_stage_fini(ls), -EIO); /* rows were lost */
	assert_int_equal(rt_counter_get(&csv->stats.rows_dropped), csv_dropped);
	assert_int_equal(rt_counter_get(&csv->stats.rows_lost) + rt_counter_get(&csv->stats.rows_unlinked), 0);
	snprintf(path, sizeof(path), "%s/can_data.csv", out);
	assert_int_equal(count_prefix_rows(path, 0) + csv_dropped, DROP_RECS);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "ls %s/can_*.log", out);
	FILE *ls_out = popen(cmd, "r");
	assert_non_null(ls_out);
	assert_non_null(fgets(path, sizeof(path), ls_out));
	pclose(ls_out);
	path[strcspn(path, "\n")] = '\0';
	assert_int_equal(count_prefix_rows(path, 1) + dump_dropped, DROP_RECS);
	ring_fini(rec_ring);
	rt_waiter_fini(w);
	free(rec_ring);
	free(w);
	free(ls);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_producers_order_and_drain),
		cmocka_unit_test(test_one_input_closed_does_not_spin),
		cmocka_unit_test(test_runs_of_links_and_gps_in_order),
		cmocka_unit_test(test_full_buffer_drops_frame_by_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

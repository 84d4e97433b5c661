/*
 * bench_csv_format.c - cost of the per-frame log formatting: one can_data.csv row plus one candump -l line per
 * CAN frame, three ways in the same run: csv_can_lines_run (what the log stage calls: a run of frames of one link
 * formatted back to back, both lines sharing the time, id and hex), csv_can_row + candump_line (one line at a
 * time, each on its own), and the same text made by snprintf.
 *
 *   build/bin/bench_csv_format [--long]
 *
 * The frames vary (11/29-bit ids, dlc 0..8, a remote frame every 64th, a new GPS fix every 100 frames, as the
 * pipeline sees them); every variant formats every frame into the same buffer.  The benchmark first checks that
 * all produce identical text for every frame, then times R rounds of N frames each, interleaved (run, lines,
 * snprintf, run, ...), and prints min / median / max ns per frame and the ratios of medians, ending with one
 * SUMMARY line.  Pin it (taskset -c 2) for stable numbers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "rt/clock.h"
#include "stages/log/csv_format.h"

#define NFRAMES 200000

static struct rx_record recs[NFRAMES];
static struct gps_fix fixes[NFRAMES / 100 + 1];
static char out[(CSV_CAN_ROW_MAX + CANDUMP_LINE_MAX + 16) * 64];

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void make_input(void)
{
	int64_t t = 1700000000LL * RT_NS_PER_SEC;

	for (int i = 0; i < NFRAMES; i++) {
		struct rx_record *r = &recs[i];
		memset(r, 0, sizeof(*r));
		r->type = REC_CAN;
		t += 200000 + (int64_t)(rng() % 1000);
		r->rx_real_ns = t;
		r->seq = (uint64_t)i + 1;
		uint64_t x = rng();
		r->u.can.id = (x & 7) == 0 ? (CAN_EFF_FLAG | (uint32_t)(x >> 8 & CAN_EFF_MASK)) : (uint32_t)(x >> 8 & 0x7FF);
		if (i % 64 == 63)
			r->u.can.id |= CAN_RTR_FLAG;
		r->u.can.dlc = (uint8_t)((x >> 40) % 9 == 0 ? 0 : 8 - (x >> 44) % 3);
		for (int b = 0; b < r->u.can.dlc; b++)
			r->u.can.data[b] = (uint8_t)rng();
		if (i % 3 == 0) {
			r->flags = REC_F_DEV_TIME;
			r->dev_time_us = (uint64_t)t / 1000u - 1234;
		}
	}
	for (int i = 0; i < NFRAMES / 100 + 1; i++) {
		struct gps_fix *g = &fixes[i];
		memset(g, 0, sizeof(*g));
		g->lat_deg = 37.5 + (double)(rng() % 1000000) / 1e7;
		g->lon_deg = -126.9 - (double)(rng() % 1000000) / 1e7;
		g->alt_m = (double)(rng() % 20000) / 100.0;
		g->speed_kmh = (double)(rng() % 9000) / 100.0;
		g->valid = 1;
		g->have = GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SPEED;
	}
}

/* ---- the snprintf variant: the same text ---- */

static size_t snp_hex(char *p, size_t size, const struct can_frame_data *f, const char *sep)
{
	size_t n = 0;

	p[0] = '\0';
	if (f->id & CAN_RTR_FLAG)
		return (size_t)snprintf(p, size, "R");
	for (int i = 0; i < f->dlc && i < 8; i++)
		n += (size_t)snprintf(p + n, size - n, i ? "%s%02X" : "%.0s%02X", sep, f->data[i]);
	return n;
}

static size_t snp_id(char *p, size_t size, uint32_t id)
{
	return (size_t)(id & CAN_EFF_FLAG ? snprintf(p, size, "%08X", id & CAN_EFF_MASK)
					  : snprintf(p, size, "%03X", id & CAN_SFF_MASK));
}

static size_t snp_can_row(char *buf, size_t size, const struct rx_record *r, const struct gps_fix *g)
{
	char id[16], hex[32];
	char dev[24] = "";

	snp_id(id, sizeof(id), r->u.can.id);
	snp_hex(hex, sizeof(hex), &r->u.can, " ");
	if (r->flags & REC_F_DEV_TIME)
		snprintf(dev, sizeof(dev), "%" PRIu64, r->dev_time_us);
	int n = snprintf(buf, size, "%" PRId64 ".%09" PRId64 ",%s,%u,%s,%s,%.6f,%.6f,%.1f,%.1f,%d,%" PRIu64 ",%s\n",
			 (int64_t)(r->rx_real_ns / RT_NS_PER_SEC), (int64_t)(r->rx_real_ns % RT_NS_PER_SEC), id, r->u.can.dlc, hex, hex,
			 g->lat_deg, g->lon_deg, g->alt_m, g->speed_kmh, g->valid, r->seq, dev);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static size_t snp_candump(char *buf, size_t size, const struct rx_record *r)
{
	char id[16], hex[32];

	snp_id(id, sizeof(id), r->u.can.id);
	if (r->u.can.id & CAN_RTR_FLAG) {
		if (r->u.can.dlc)
			snprintf(hex, sizeof(hex), "R%X", r->u.can.dlc);
		else
			snprintf(hex, sizeof(hex), "R");
	} else {
		snp_hex(hex, sizeof(hex), &r->u.can, "");
	}
	int n = snprintf(buf, size, "(%010" PRId64 ".%06" PRId64 ") %s %s#%s\n", (int64_t)(r->rx_real_ns / RT_NS_PER_SEC),
			 (int64_t)(r->rx_real_ns % RT_NS_PER_SEC / 1000), "can0", id, hex);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* ---- timing ---- */

static volatile uint64_t sink;

static uint64_t run_mine(void)
{
	struct csv_gps_suffix gs;
	uint64_t bytes = 0;
	size_t off = 0;

	csv_gps_suffix_init(&gs);
	uint64_t t0 = rt_mono_ns();
	for (int i = 0; i < NFRAMES; i++) {
		if (i % 100 == 0)
			csv_gps_suffix_update(&gs, &fixes[i / 100]);
		if (off > sizeof(out) - CSV_CAN_ROW_MAX - CANDUMP_LINE_MAX - 16)
			off = 0;
		size_t n = csv_can_row(out + off, sizeof(out) - off, &recs[i], &gs);
		off += n;
		size_t m = candump_line(out + off, sizeof(out) - off, recs[i].rx_real_ns, "can0", &recs[i].u.can);
		off += m;
		bytes += n + m;
	}
	uint64_t dt = rt_mono_ns() - t0;
	sink += bytes;
	return dt;
}

/* The log stage's way: runs of frames (here the frames between two GPS fixes) formatted back to back. */
#define RUN_MAX 100
static char run_rows[RUN_MAX * CSV_CAN_ROW_MAX], run_dumps[RUN_MAX * (CANDUMP_LINE_MAX + 16)];

static uint64_t run_runs(void)
{
	struct csv_gps_suffix gs;
	struct csv_can_ctx ctx;
	uint64_t bytes = 0;

	csv_gps_suffix_init(&gs);
	csv_can_ctx_init(&ctx, "can0");
	uint64_t t0 = rt_mono_ns();
	for (int i = 0; i < NFRAMES; i += RUN_MAX) {
		size_t rb, db;
		csv_gps_suffix_update(&gs, &fixes[i / 100]);
		csv_can_lines_run(&ctx, &recs[i], RUN_MAX, &gs, run_rows, &rb, run_dumps, &db);
		bytes += rb + db;
	}
	uint64_t dt = rt_mono_ns() - t0;
	sink += bytes;
	return dt;
}

static uint64_t run_snprintf(void)
{
	uint64_t bytes = 0;
	size_t off = 0;

	uint64_t t0 = rt_mono_ns();
	for (int i = 0; i < NFRAMES; i++) {
		if (off > sizeof(out) - CSV_CAN_ROW_MAX - CANDUMP_LINE_MAX - 16)
			off = 0;
		size_t n = snp_can_row(out + off, sizeof(out) - off, &recs[i], &fixes[i / 100]);
		off += n;
		size_t m = snp_candump(out + off, sizeof(out) - off, &recs[i]);
		off += m;
		bytes += n + m;
	}
	uint64_t dt = rt_mono_ns() - t0;
	sink += bytes;
	return dt;
}

/* Both variants must write the same text for every frame. */
static int verify(void)
{
	char a[512], b[512];
	struct csv_gps_suffix gs;

	csv_gps_suffix_init(&gs);
	for (int i = 0; i < NFRAMES; i++) {
		if (i % 100 == 0)
			csv_gps_suffix_update(&gs, &fixes[i / 100]);
		size_t n = csv_can_row(a, sizeof(a), &recs[i], &gs);
		size_t m = snp_can_row(b, sizeof(b), &recs[i], &fixes[i / 100]);
		if (n == 0 || n != m || memcmp(a, b, n) != 0) {
			fprintf(stderr, "can_data mismatch at frame %d:\n  %.*s  %.*s", i, (int)n, a, (int)m, b);
			return -1;
		}
		n = candump_line(a, sizeof(a), recs[i].rx_real_ns, "can0", &recs[i].u.can);
		m = snp_candump(b, sizeof(b), &recs[i]);
		if (n == 0 || n != m || memcmp(a, b, n) != 0) {
			fprintf(stderr, "candump mismatch at frame %d:\n  %.*s  %.*s", i, (int)n, a, (int)m, b);
			return -1;
		}
	}
	/* the runs: the same rows and lines, back to back */
	struct csv_can_ctx ctx;
	csv_gps_suffix_init(&gs);
	csv_can_ctx_init(&ctx, "can0");
	for (int i = 0; i < NFRAMES; i += RUN_MAX) {
		size_t rb, db, ro = 0, dof = 0;
		csv_gps_suffix_update(&gs, &fixes[i / 100]);
		csv_can_lines_run(&ctx, &recs[i], RUN_MAX, &gs, run_rows, &rb, run_dumps, &db);
		for (int j = i; j < i + RUN_MAX; j++) {
			size_t m = snp_can_row(b, sizeof(b), &recs[j], &fixes[j / 100]);
			if (ro + m > rb || memcmp(run_rows + ro, b, m) != 0) {
				fprintf(stderr, "can_data mismatch in a run at frame %d:\n  %.*s", j, (int)m, b);
				return -1;
			}
			ro += m;
			m = snp_candump(b, sizeof(b), &recs[j]);
			if (dof + m > db || memcmp(run_dumps + dof, b, m) != 0) {
				fprintf(stderr, "candump mismatch in a run at frame %d:\n  %.*s", j, (int)m, b);
				return -1;
			}
			dof += m;
		}
		if (ro != rb || dof != db) {
			fprintf(stderr, "a run wrote more than its frames' lines at frame %d\n", i);
			return -1;
		}
	}
	return 0;
}

#ifdef __OPTIMIZE__
#define BENCH_BUILD "optimized"
#else
#define BENCH_BUILD "debug"
#endif

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 && strcmp(argv[1], "--long") == 0 ? 31 : 9;
	uint64_t mine[31], snp[31], runs[31];
	struct utsname u;

	make_input();
	if (verify() < 0) {
		fprintf(stderr, "bench_csv_format: outputs differ: FAILED\n");
		return 1;
	}
	run_runs(); /* warm caches and branch predictors */
	run_mine();
	run_snprintf();
	for (int r = 0; r < rounds; r++) {
		runs[r] = run_runs();
		mine[r] = run_mine();
		snp[r] = run_snprintf();
	}
	qsort(runs, (size_t)rounds, sizeof(runs[0]), cmp_u64);
	qsort(mine, (size_t)rounds, sizeof(mine[0]), cmp_u64);
	qsort(snp, (size_t)rounds, sizeof(snp[0]), cmp_u64);
	double k = 1.0 / NFRAMES;
	double m_min = (double)mine[0] * k, m_med = (double)mine[rounds / 2] * k, m_max = (double)mine[rounds - 1] * k;
	double s_min = (double)snp[0] * k, s_med = (double)snp[rounds / 2] * k, s_max = (double)snp[rounds - 1] * k;
	double r_min = (double)runs[0] * k, r_med = (double)runs[rounds / 2] * k, r_max = (double)runs[rounds - 1] * k;
	printf("frames/round %d, rounds %d; ns per frame (can_data row + candump line)\n", NFRAMES, rounds);
	printf("  runs (log stage): min %.1f  median %.1f  max %.1f\n", r_min, r_med, r_max);
	printf("  one by one:       min %.1f  median %.1f  max %.1f\n", m_min, m_med, m_max);
	printf("  snprintf:         min %.1f  median %.1f  max %.1f\n", s_min, s_med, s_max);
	uname(&u);
	printf("SUMMARY bench=csv_format machine=%s kernel=%s build=%s frames=%d rounds=%d "
	       "csvfmt_ns_per_row=%.1f csvfmt_min=%.1f csvfmt_max=%.1f snprintf_ns_per_row=%.1f snprintf_min=%.1f "
	       "snprintf_max=%.1f ratio=%.1f frames_per_s=%.0f run_ns_per_row=%.1f run_min=%.1f run_max=%.1f "
	       "one_by_one_vs_run=%.2f snprintf_vs_run=%.1f run_frames_per_s=%.0f\n",
	       u.machine, u.release, BENCH_BUILD, NFRAMES, rounds, m_med, m_min, m_max, s_med,
	       s_min, s_max, s_med / m_med, 1e9 / m_med, r_med, r_min, r_max, m_med / r_med, s_med / r_med, 1e9 / r_med);
	return 0;
}

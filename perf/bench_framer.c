/*
 * bench_framer.c - throughput of the can_rx framing layer on legacy SIM lines, from memory, one thread.
 *
 * Builds a buffer of distinct SIM lines (CRLF, varied ids, dlc and data), feeds it to framer_feed() in 64 KiB
 * chunks (what can_rx reads at a time), and checks every line became a CAN record with the expected id sum.  As a
 * reference, the same lines are parsed with sscanf() in the same run; the ratio is reported.
 *
 * Usage: bench_framer [lines] [runs]   (default 2,000,000 lines, 7 runs; "short" tier: 200000 3)
 * Output: per-run lines/s, then one line
 *   SUMMARY framer_lines_per_s=<median> min=.. max=.. sscanf_lines_per_s=<median> ratio=.. lines=.. runs=.. machine=..
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "stages/can_rx/framer.h"

#define BENCH_CHUNK 65536

struct bench_sum {
	uint64_t records, id_sum, other;
};

static void bench__emit(void *ctx, const struct rx_event *ev)
{
	struct bench_sum *s = ctx;

	if (ev->kind == RX_EV_RECORD && ev->rec.type == REC_CAN) {
		s->records++;
		s->id_sum += ev->rec.u.can.id + ev->rec.u.can.data[0];
	} else {
		s->other++;
	}
}

static double bench__now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench__cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The reference: sscanf per line, as a straightforward parser would. */
static uint64_t bench__sscanf(const char *buf, size_t n, uint64_t *id_sum)
{
	const char *p = buf, *end = buf + n;
	uint64_t count = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		unsigned id, dlc, b[8];
		char line[128];
		if (!nl)
			break;
		size_t len = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) : sizeof(line) - 1;
		memcpy(line, p, len); /* sscanf would strlen() the whole remaining buffer */
		line[len] = 0;
		if (sscanf(line, "SIM %x %u %x %x %x %x %x %x %x %x", &id, &dlc, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			   &b[6], &b[7]) == 10) {
			count++;
			*id_sum += id + (dlc > 0 ? b[0] : 0);
		}
		p = nl + 1;
	}
	return count;
}

int main(int argc, char **argv)
{
	size_t lines = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000000;
	int runs = argc > 2 ? atoi(argv[2]) : 7;
	char *buf = malloc(lines * 40 + 1);
	size_t n = 0;
	uint64_t want_sum = 0;
	uint32_t x = 12345;

	if (!buf || runs < 1 || lines < 1)
		return 2;
	for (size_t i = 0; i < lines; i++) {
		x = x * 1664525u + 1013904223u;
		unsigned id = (x >> 8) % 0x7FF, dlc = (x >> 4) % 9;
		uint8_t d[8];
		for (int k = 0; k < 8; k++)
			d[k] = (uint8_t)(k < (int)dlc ? (x >> (k * 3)) : 0);
		n += (size_t)sprintf(buf + n, "SIM %03X %u %02X %02X %02X %02X %02X %02X %02X %02X\r\n", id, dlc, d[0], d[1],
				     d[2], d[3], d[4], d[5], d[6], d[7]);
		want_sum += id + (dlc > 0 ? d[0] : 0);
	}

	double *rate = calloc((size_t)runs, sizeof(double)), *ref = calloc((size_t)runs, sizeof(double));
	static struct framer f;
	for (int r = 0; r < runs; r++) {
		struct bench_sum s = {0};
		framer_init(&f, FRAMER_AUTO);
		double t0 = bench__now_s();
		for (size_t off = 0; off < n; off += BENCH_CHUNK)
			framer_feed(&f, buf + off, n - off < BENCH_CHUNK ? n - off : BENCH_CHUNK, bench__emit, &s);
		framer_finish(&f, bench__emit, &s);
		double dt = bench__now_s() - t0;
		if (s.records != lines || s.id_sum != want_sum || s.other) {
			fprintf(stderr, "bench_framer: wrong result: %llu records (want %zu), %llu other\n",
				(unsigned long long)s.records, lines, (unsigned long long)s.other);
			return 1;
		}
		rate[r] = (double)lines / dt;

		uint64_t sum = 0;
		t0 = bench__now_s();
		uint64_t got = bench__sscanf(buf, n, &sum);
		dt = bench__now_s() - t0;
		if (got != lines || sum != want_sum) {
			fprintf(stderr, "bench_framer: sscanf reference disagrees\n");
			return 1;
		}
		ref[r] = (double)lines / dt;
		printf("run %d: framer %.0f lines/s, sscanf %.0f lines/s\n", r, rate[r], ref[r]);
	}
	qsort(rate, (size_t)runs, sizeof(double), bench__cmp);
	qsort(ref, (size_t)runs, sizeof(double), bench__cmp);
	struct utsname u;
	uname(&u);
	printf("SUMMARY framer_lines_per_s=%.0f min=%.0f max=%.0f sscanf_lines_per_s=%.0f ratio=%.1f lines=%zu runs=%d "
	       "bytes_per_line=%.1f machine=%s kernel=%s build=%s\n",
	       rate[runs / 2], rate[0], rate[runs - 1], ref[runs / 2], rate[runs / 2] / ref[runs / 2], lines, runs,
	       (double)n / (double)lines, u.machine, u.release,
#ifdef __OPTIMIZE__
	       "optimized"
#else
	       "debug"
#endif
	);
	free(rate);
	free(ref);
	free(buf);
	return 0;
}

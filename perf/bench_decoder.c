/*
 * bench_decoder.c - decoder_frame() throughput on a mix of Twizy frames (the built-in twizy.dbc).
 *
 * The mix follows the car's rates: 0x155 every 10 ms (10 of 24 frames), the other known ids once each, plus a few
 * unknown ids and the odd 0xFF sentinel.  The frames are prepared up front (4096 of them, random data bytes), then
 * decoded in `runs` rounds of `count` frames; each round's per-frame time is recorded and the result is checked (at
 * least one value per frame, and the same number of values in every round to within the derived on-change ones).  As an alternative on the same frames,
 * the lookup alone (decoder_knows_id) gives the floor a decoder could reach; the ratio shows what the extraction
 * costs on top of it.
 *
 *   bench_decoder [--short | --long] [--count N] [--runs R]
 *
 * Last line: SUMMARY decode_frames_per_s=<median> decode_ns_min/median/max=... lookup_ns_median=... ratio=...
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "vehicle/builtin_dbc.h"
#include "stages/decode/decoder.h"

#define BENCH_FRAMES 4096

static uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint64_t count = 2000000;
	int runs = 7;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--short") == 0)
			count = 200000, runs = 5;
		else if (strcmp(argv[i], "--long") == 0)
			count = 20000000, runs = 9;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--short | --long] [--count N] [--runs R]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 99 || count == 0) {
		fprintf(stderr, "bench_decoder: bad --runs or --count\n");
		return 2;
	}

	struct dbc db;
	struct dbc_error err;
	struct decoder *d;
	int rc = dbc_parse(&db, twizy_dbc_text, twizy_dbc_len, &err);
	if (rc) {
		fprintf(stderr, "bench_decoder: twizy.dbc: %s\n", err.msg);
		return 1;
	}
	rc = decoder_create(&d, &db);
	dbc_fini(&db);
	if (rc) {
		fprintf(stderr, "bench_decoder: decoder_create: %d\n", rc);
		return 1;
	}

	static const uint32_t mix[24] = {0x155, 0x196, 0x155, 0x19F, 0x155, 0x424, 0x155, 0x425, 0x155, 0x554,
					 0x155, 0x556, 0x155, 0x557, 0x155, 0x55E, 0x155, 0x55F, 0x155, 0x597,
					 0x599, 0x59B, 0x59E, 0x5D7};
	static struct can_frame_data frames[BENCH_FRAMES];
	uint64_t x = 0x2545F4914F6CDD1DULL;
	for (int i = 0; i < BENCH_FRAMES; i++) {
		struct can_frame_data *f = &frames[i];
		f->id = (i % 97 == 0) ? 0x123 : mix[i % 24];
		f->dlc = 8;
		for (int k = 0; k < 8; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			f->data[k] = (uint8_t)(x >> 32);
		}
		if (f->id == 0x155)
			f->data[3] = (i % 50 == 0) ? 0x94 : 0x54;
	}

	double decode_ns[99], lookup_ns[99];
	uint64_t values_first = 0;
	struct decode_result r;
	int64_t t = 0;
	for (int run = 0; run < runs; run++) {
		uint64_t values = 0, t0 = bench_now_ns();
		for (uint64_t i = 0; i < count; i++) {
			t += 1000;
			values += decoder_frame(d, &frames[i & (BENCH_FRAMES - 1)], t, &r);
		}
		uint64_t t1 = bench_now_ns();
		decode_ns[run] = (double)(t1 - t0) / (double)count;
		if (run == 0)
			values_first = values;
		/* the same frames each round: the same values, but for derived ones emitted on change (charge_phase,
		   bus_online), which depend on where the previous round left the state */
		if (values < count || (double)values < 0.99 * (double)values_first ||
		    (double)values > 1.01 * (double)values_first) {
			fprintf(stderr, "bench_decoder: run %d decoded %" PRIu64 " values, run 0 %" PRIu64 "\n", run, values,
				values_first);
			return 1;
		}
		uint64_t known = 0;
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < count; i++)
			known += decoder_knows_id(d, frames[i & (BENCH_FRAMES - 1)].id);
		t1 = bench_now_ns();
		lookup_ns[run] = (double)(t1 - t0) / (double)count;
		if (known == 0 || known == count) {
			fprintf(stderr, "bench_decoder: lookup found %" PRIu64 " of %" PRIu64 "\n", known, count);
			return 1;
		}
	}
	decoder_destroy(d);

	qsort(decode_ns, (size_t)runs, sizeof decode_ns[0], bench_cmp);
	qsort(lookup_ns, (size_t)runs, sizeof lookup_ns[0], bench_cmp);
	double med = decode_ns[runs / 2], lmed = lookup_ns[runs / 2];
	struct utsname u;
	if (uname(&u) != 0)
		strcpy(u.machine, "?"), strcpy(u.release, "?");
	printf("decoder_frame: %" PRIu64 " frames x %d runs, values per frame %.2f\n", count, runs,
	       (double)values_first / (double)count);
	printf("  decode ns/frame min %.1f median %.1f max %.1f\n", decode_ns[0], med, decode_ns[runs - 1]);
	printf("  lookup ns/frame min %.1f median %.1f max %.1f\n", lookup_ns[0], lmed, lookup_ns[runs - 1]);
	printf("SUMMARY decode_frames_per_s=%.0f decode_ns_min=%.1f decode_ns_median=%.1f decode_ns_max=%.1f "
	       "lookup_ns_median=%.1f decode_vs_lookup=%.1f machine=%s kernel=%s build=\"%s%s\"\n",
	       1e9 / med, decode_ns[0], med, decode_ns[runs - 1], lmed, med / lmed, u.machine, u.release,
#ifdef __OPTIMIZE__
	       "optimized ",
#else
	       "-O0 ",
#endif
	       __VERSION__);
	return 0;
}

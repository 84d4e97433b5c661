/*
 * pty_feed - stands in for ESP32(1): creates a pseudo-terminal, links a stable path to its slave, and writes the
 * lines of a file (or generated Twizy SIM/GPS lines) into it, optionally paced.  For trace sessions, the demo and
 * manual tests:
 *
 *   pty_feed --link /tmp/ttyV2X [--rate LINES_PER_S] [--count N] [--hold-ms MS] [FILE]
 *
 * Without FILE it generates N (default 10000) lines: CAN frames of the Twizy's ids with one GPS line per 100.
 * After writing it waits until the reader took every byte, holds the line open for --hold-ms (default 500), then
 * closes (the reader sees an unplug) and exits 0.  Bounded: it gives up after 30 s without progress.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/testutil.h"

static size_t gen_line(char *buf, size_t size, unsigned long i)
{
	static const unsigned ids[] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557,
				       0x55E, 0x55F, 0x597, 0x599, 0x59B, 0x59E, 0x5D7};
	if (i % 100 == 99)
		return (size_t)snprintf(buf, size, "GPS 48.858370 2.294481 35.0 %.1f 9 0.90 2025-8-18 12:5:%lu 1\r\n",
					(double)(i % 50), (i / 100) % 60);
	unsigned id = ids[i % (sizeof(ids) / sizeof(ids[0]))];
	return (size_t)snprintf(buf, size, "SIM %03X 8 %02lX 97 CE 54 9B 38 %02lX 73\r\n", id, i & 0xFF,
				(i >> 8) & 0xFF);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"link", required_argument, NULL, 'l'}, {"rate", required_argument, NULL, 'r'},
		{"count", required_argument, NULL, 'n'}, {"hold-ms", required_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *link = NULL;
	double rate = 0;
	unsigned long count = 10000;
	int hold_ms = 500, opt;
	struct test_pty p;
	FILE *in = NULL;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': link = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'h': hold_ms = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: pty_feed --link PATH [--rate N] [--count N] [--hold-ms MS] [FILE]\n");
			return 2;
		}
	}
	if (!link) {
		fprintf(stderr, "pty_feed: --link PATH is required\n");
		return 2;
	}
	if (optind < argc && !(in = fopen(argv[optind], "rb"))) {
		fprintf(stderr, "pty_feed: %s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	int rc = test_pty_open(&p, link);
	if (rc < 0) {
		fprintf(stderr, "pty_feed: cannot create a pty at %s: %s\n", link, strerror(-rc));
		return 1;
	}
	/* Give the reader time to open the device before the first line. */
	test_sleep_ms(getenv("PTY_FEED_DELAY_MS") ? atoi(getenv("PTY_FEED_DELAY_MS")) : 300);
	int64_t t0 = test_now_ms();
	char buf[512], *line = NULL;
	size_t cap = 0, chunk_len = 0;
	static char chunk[1 << 16];
	unsigned long i = 0;
	for (;; i++) {
		size_t n;
		if (in) {
			ssize_t r = getline(&line, &cap, in);
			if (r <= 0)
				break;
			n = (size_t)r;
		} else {
			if (i >= count)
				break;
			n = gen_line(buf, sizeof(buf), i);
		}
		if (rate == 0 && n < sizeof(chunk)) {
			/* unpaced: gather lines into large writes */
			if (chunk_len + n > sizeof(chunk)) {
				if (test_pty_write_all(&p, chunk, chunk_len) < 0)
					goto write_failed;
				chunk_len = 0;
			}
			memcpy(chunk + chunk_len, in ? line : buf, n);
			chunk_len += n;
			continue;
		}
		if (test_pty_write_all(&p, in ? line : buf, n) < 0)
			goto write_failed;
		if (rate > 0) {
			int64_t due = t0 + (int64_t)((double)(i + 1) * 1000.0 / rate);
			int64_t now = test_now_ms();
			if (due > now)
				test_sleep_ms((int)(due - now));
		}
	}
	if (chunk_len && test_pty_write_all(&p, chunk, chunk_len) < 0)
		goto write_failed;
	free(line);
	if (in)
		fclose(in);
	if (test_pty_wait_drained(&p, 30000) < 0)
		fprintf(stderr, "pty_feed: the reader did not take every byte within 30 s\n");
	test_sleep_ms(hold_ms);
	test_pty_close(&p);
	fprintf(stderr, "pty_feed: %lu lines written\n", i);
	return 0;
write_failed:
	fprintf(stderr, "pty_feed: write failed after %lu lines\n", i);
	test_pty_close(&p);
	return 1;
}

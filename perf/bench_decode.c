/*
 * bench_decode - the first half of the CAN path: legacy SIM lines -> framing -> DBC decode.
 *
 *   bench_decode [--lines N] [--rounds R]
 *
 * memory: the framer and the decoder on one thread over an in-memory buffer of N lines (default 2,000,000), R rounds
 *         (default 7): lines/s min / median / max.
 * pty:    the real can_rx and decode stage threads reading a pseudo-terminal that this process writes N/4 lines
 *         into as fast as it takes them: lines/s, and loss (records decoded vs lines written).
 * Checks its own results (every line becomes one record with the expected signals) and ends with a SUMMARY line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "stages/can_rx/framer.h"
#include "vehicle/builtin_dbc.h"
#include "stages/decode/dbc.h"
#include "stages/decode/decode_stage.h"
#include "stages/decode/decoder.h"
#include "tests/support/testutil.h"

struct mem_ctx {
	struct decoder *dec;
	unsigned long records, values;
};

static void on_event(void *arg, const struct rx_event *ev)
{
	struct mem_ctx *c = arg;
	struct decode_result res;

	if (ev->kind != RX_EV_RECORD || ev->rec.type != REC_CAN)
		return;
	c->values += decoder_frame(c->dec, &ev->rec.u.can, 0, &res);
	c->records++;
}

static size_t gen(char *buf, unsigned long i)
{
	static const unsigned ids[] = {0x155, 0x196, 0x19F, 0x424, 0x425, 0x554, 0x556, 0x557,
				       0x55E, 0x55F, 0x597, 0x599, 0x59B, 0x59E, 0x5D7};
	return (size_t)sprintf(buf, "SIM %03X 8 %02lX 97 CE 54 9B 38 %02lX 73\r\n", ids[i % 15], i & 0xFF,
			       (i >> 8) & 0xFF);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned long lines = 2000000;
	int rounds = 7;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--lines"))
			lines = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
	}
	struct dbc dbc;
	struct dbc_error err;
	struct decoder *dec;
	if (dbc_parse(&dbc, twizy_dbc_text, twizy_dbc_len, &err) || decoder_create(&dec, &dbc))
		return 1;
	dbc_fini(&dbc);
	char *text = malloc(lines * 48);
	size_t len = 0;
	for (unsigned long i = 0; i < lines; i++)
		len += gen(text + len, i);

	/* memory */
	double rate[32];
	int ok = 1;
	struct framer *fr = malloc(sizeof(*fr));
	for (int r = 0; r < rounds && r < 32; r++) {
		struct mem_ctx c = {.dec = dec};
		framer_init(fr, FRAMER_AUTO);
		uint64_t t0 = rt_mono_ns();
		for (size_t off = 0; off < len; off += 65536)
			framer_feed(fr, text + off, len - off < 65536 ? len - off : 65536, on_event, &c);
		uint64_t t1 = rt_mono_ns();
		rate[r] = (double)lines / ((double)(t1 - t0) / 1e9);
		ok &= c.records == lines && c.values > lines; /* every line a record, several signals each */
	}
	qsort(rate, (size_t)rounds, sizeof(double), cmp_d);
	printf("memory: %lu lines x %d rounds: lines/s min %.0f median %.0f max %.0f\n", lines, rounds, rate[0],
	       rate[rounds / 2], rate[rounds - 1]);

	/* pty: the real stage threads */
	unsigned long pty_lines = lines / 4;
	char dir[256], link[300];
	struct test_pty p;
	struct ring rx_ring;
	struct rt_waiter w;
	struct rt_stop stop;
	struct can_rx *rx = test_zalloc_aligned(sizeof(*rx));
	struct decode_stage *ds = test_zalloc_aligned(sizeof(*ds));
	struct can_rx_conf conf;
	struct rt_thread t_rx, t_dec;
	struct rt_thread_conf tc;
	test_mkdtemp(dir, sizeof(dir), "bdec");
	snprintf(link, sizeof(link), "%s/tty", dir);
	rt_stop_init(&stop);
	rt_waiter_init(&w, RT_WAIT_HYBRID, 50000);
	ring_init(&rx_ring, "rx", sizeof(struct rx_record), 65536, &w);
	can_rx_conf_init(&conf, link);
	test_pty_open(&p, link);
	struct rt_waiter rx_waiter;
	struct ring *outs[1] = {&rx_ring};
	rt_waiter_init(&rx_waiter, RT_WAIT_EVENTFD, 0);
	can_rx_init(rx, &conf, outs, 1, &rx_waiter, &stop);
	decode_stage_init(ds, dec, &rx_ring, &w, NULL);
	rt_thread_conf_init(&tc, "b-decode");
	rt_thread_start(&t_dec, &tc, decode_stage_thread, ds);
	rt_thread_conf_init(&tc, "b-can-rx");
	rt_thread_start(&t_rx, &tc, can_rx_thread, rx);
	for (int i = 0; i < 200 && !atomic_load(&rx->link_up); i++)
		test_sleep_ms(10);
	size_t pty_len = 0;
	for (unsigned long i = 0; i < pty_lines; i++)
		pty_len += strlen(text + pty_len) > 0 ? (size_t)(strchr(text + pty_len, '\n') - (text + pty_len)) + 1 : 0;
	uint64_t t0 = rt_mono_ns();
	test_pty_write_all(&p, text, pty_len);
	while (rt_counter_get(&ds->ctr.in) < pty_lines && rt_mono_ns() - t0 < 60ull * RT_NS_PER_SEC)
		test_sleep_ms(1);
	uint64_t t1 = rt_mono_ns();
	unsigned long got = (unsigned long)rt_counter_get(&ds->ctr.in);
	rt_stop_request(&stop);
	can_rx_wake(rx);
	rt_thread_join(&t_rx);
	rt_thread_join(&t_dec);
	double pty_rate = (double)got / ((double)(t1 - t0) / 1e9);
	printf("pty: %lu lines written, %lu decoded, %.0f lines/s\n", pty_lines, got, pty_rate);
	ok &= got == pty_lines;
	test_pty_close(&p);
	decode_stage_fini(ds);
	can_rx_fini(rx);
	rt_waiter_fini(&rx_waiter);
	ring_fini(&rx_ring);
	test_rmtree(dir);

	struct utsname u;
	uname(&u);
	printf("SUMMARY mem_lines_per_s=%.0f mem_min=%.0f mem_max=%.0f pty_lines_per_s=%.0f pty_loss=%ld "
	       "mem_vs_pty=%.2f ok=%d machine=%s kernel=%s build=%s\n",
	       rate[rounds / 2], rate[0], rate[rounds - 1], pty_rate, (long)pty_lines - (long)got,
	       rate[rounds / 2] / pty_rate, ok, u.machine, u.release, __DATE__);
	decoder_destroy(dec);
	free(text);
	free(fr);
	free(rx);
	free(ds);
	return ok ? 0 : 1;
}

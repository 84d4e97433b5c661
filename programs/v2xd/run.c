/*
 * run.c - assembles and runs the vehicle pipeline (see main.c): rings, stages, threads, control loop, shutdown.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "stages/can_rx/tty.h"
#include "vehicle/builtin_dbc.h"
#include "stages/decode/dbc.h"
#include "stages/decode/decode_stage.h"
#include "stages/decode/decoder.h"
#include "stages/log/log_stage.h"
#include "programs/v2xd/v2xd.h"

void v2xd_conf_init(struct v2xd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->baud = 115200;
	c->framing = FRAMER_AUTO;
	log_stage_conf_init(&c->log, ".");
	c->policy = SCHED_OTHER;
	c->prio = 80;
	CPU_ZERO(&c->cpu_rx);
	CPU_ZERO(&c->cpu_decode);
	CPU_ZERO(&c->cpu_log);
	/* Measured (docs/performance.md): at bus rate a futex wake-up costs less CPU than spinning between frames that
	 * are 222 us apart; hybrid and spin pay off only with dedicated CPUs or far higher rates. */
	c->wait_mode = RT_WAIT_SLEEP;
	c->spin_ns = 50 * RT_NS_PER_US;
	c->ring_records = 65536;
	c->full_wait_ns = 2 * RT_NS_PER_SEC;
	c->status_ns = 10 * RT_NS_PER_SEC;
	c->log_level = RT_LOG_INFO;
}

int v2xd_baud_supported(unsigned baud)
{
	return baud == 115200 || baud == 230400 || baud == 460800 || baud == 921600 || baud == 2000000;
}

int v2xd_framing_parse(const char *s, enum framer_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = FRAMER_AUTO;
	else if (strcmp(s, "text") == 0)
		*out = FRAMER_TEXT;
	else if (strcmp(s, "v2") == 0)
		*out = FRAMER_V2;
	else
		return -EINVAL;
	return 0;
}

int v2xd_load_decoder(const char *path, struct decoder **out)
{
	struct dbc dbc;
	struct dbc_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	if (path)
		rc = dbc_load(&dbc, path, &err);
	else
		rc = dbc_parse(&dbc, twizy_dbc_text, twizy_dbc_len, &err);
	if (rc < 0) {
		rt_err("%s: %s", path ? path : "built-in twizy.dbc", err.msg[0] ? err.msg : strerror(-rc));
		return rc;
	}
	rc = decoder_create(out, &dbc);
	dbc_fini(&dbc);
	if (rc < 0)
		rt_err("cannot compile the DBC: %s", strerror(-rc));
	return rc;
}

struct pipeline {
	struct ring rx_ring, log_ring;
	struct rt_waiter decode_waiter, log_waiter;
	struct can_rx rx;
	struct decode_stage dec;
	struct log_stage log;
	struct rt_stop stop;
	struct rt_thread t_rx, t_dec, t_log;
	struct decoder *decoder;
	uint64_t start_mono_ns;
	uint64_t last_status_mono_ns;
	uint64_t last_frames;
};

static void thread_conf(struct rt_thread_conf *tc, const char *name, const struct v2xd_conf *c, const cpu_set_t *cpus,
			int prio_offset)
{
	rt_thread_conf_init(tc, name);
	tc->cpus = *cpus;
	tc->policy = c->policy;
	tc->priority = c->policy == SCHED_OTHER ? 0 : c->prio - prio_offset;
}

static void status_line(struct pipeline *p, const struct v2xd_conf *c, uint64_t now, int final)
{
	uint64_t frames = rt_counter_get(&p->dec.ctr.in);
	double secs = (double)(now - p->last_status_mono_ns) / 1e9;
	double rate = secs > 0 ? (double)(frames - p->last_frames) / secs : 0;
	struct log_stage_status ls;
	const struct vstate *vs = &p->dec.live; /* read-only summary; the exact values come from the files */
	char gps[96];

	(void)vs;
	log_stage_get_status(&p->log, &ls);
	if (ls.have_fix)
		snprintf(gps, sizeof(gps), "%s %.6f,%.6f sats %u", ls.fix_valid ? "fix" : "no-fix", ls.lat_deg,
			 ls.lon_deg, ls.sats);
	else
		snprintf(gps, sizeof(gps), "none");
	if (final && ls.close_errno)
		rt_err("finishing the output files failed: %s (see the lines above)", strerror(ls.close_errno));
	rt_info("%s: up %llus, link %s, %llu bytes, %llu records (%.0f/s), rejected %llu, dropped %llu, gps %s, disk %s, "
		"rows lost: can_data=%llu candump=%llu gps_data=%llu merged=%llu",
		final ? "final" : "status", (unsigned long long)((now - p->start_mono_ns) / RT_NS_PER_SEC),
		atomic_load(&p->rx.link_up) ? "up" : atomic_load(&p->rx.at_eof) ? "end of file" : "down", (unsigned long long)rt_counter_get(&p->rx.bytes),
		(unsigned long long)frames, rate,
		(unsigned long long)(rt_counters_dropped_total(&p->rx.ctr) -
				     rt_counter_get(&p->rx.ctr.dropped[CAN_RX_DROP_RING_FULL])),
		(unsigned long long)(rt_counter_get(&p->rx.ctr.dropped[CAN_RX_DROP_RING_FULL]) +
				     rt_counter_get(&p->dec.ctr.dropped[DECODE_DROP_RING_FULL])),
		gps, ls.disk_error ? "ERROR" : "ok", (unsigned long long)ls.rows_lost_can,
		(unsigned long long)ls.rows_lost_candump, (unsigned long long)ls.rows_lost_gps,
		(unsigned long long)ls.rows_lost_merged);
	p->last_status_mono_ns = now;
	p->last_frames = frames;
	(void)c;
}

/* The final latency summary: receive -> decoded, -> row in the writer's buffer, -> write() returned (ns). */
static void latency_line(struct pipeline *p)
{
	struct rt_hist_summary d, l, f;

	rt_hist_summarize(&p->dec.rx_to_decoded_ns, &d);
	rt_hist_summarize(&p->log.rx_to_logged_ns, &l);
	rt_hist_summarize(&p->log.rx_to_file_ns, &f);
	rt_info("latency ns: rx->decoded p50=%llu p99=%llu max=%llu; rx->logged n=%llu p50=%llu p99=%llu p99.9=%llu "
		"max=%llu; rx->file p50=%llu p99=%llu max=%llu; snapshots %llu written, %llu skipped, %llu..%llu ns",
		(unsigned long long)d.p50, (unsigned long long)d.p99, (unsigned long long)d.max,
		(unsigned long long)l.count, (unsigned long long)l.p50, (unsigned long long)l.p99,
		(unsigned long long)l.p999, (unsigned long long)l.max, (unsigned long long)f.p50,
		(unsigned long long)f.p99, (unsigned long long)f.max,
		(unsigned long long)rt_counter_get(&p->log.snapshots_written),
		(unsigned long long)rt_counter_get(&p->log.snapshots_skipped),
		(unsigned long long)rt_counter_get(&p->log.snapshot_min_ns),
		(unsigned long long)rt_counter_get(&p->log.snapshot_max_ns));
}

/* Reports problems the real-time threads only counted: once per episode. */
static void report_episodes(struct pipeline *p)
{
	static int link_was_up = -1;
	int up = atomic_load(&p->rx.link_up);

	if (up != link_was_up) {
		int err = atomic_load(&p->rx.last_errno);
		if (up)
			rt_info("%s: open", p->rx.conf.dev_path);
		else if (atomic_load(&p->rx.at_eof))
			rt_info("%s: end of file: every line read", p->rx.conf.dev_path);
		else if (link_was_up == 1 || link_was_up == -1)
			rt_warn("%s: not available (%s); retrying every %llu ms", p->rx.conf.dev_path,
				err ? strerror(err) : "closed by the other end",
				(unsigned long long)(p->rx.conf.reopen_ns / RT_NS_PER_MS));
		link_was_up = up;
	}
	log_stage_report(&p->log);
}

int v2xd_run(const struct v2xd_conf *c)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	struct can_rx_conf rxc;
	struct rt_thread_conf tc;
	int sfd = -1, rc = 1, rx_ok = 0, dec_ok = 0, log_ok = 0, t_rx = 0, t_dec = 0, t_log = 0;

	if (!p) {
		rt_err("out of memory");
		return 1;
	}
	/* The control thread reads the published vehicle state (status line): an RCU reader. */
	rcu_register_thread();
	sfd = rt_signals_block();
	if (sfd < 0) {
		rt_err("signalfd: %s", strerror(-sfd));
		goto out;
	}
	if (CPU_COUNT(&c->log.house_cpus) > 0 && rt_pin_self(&c->log.house_cpus) < 0)
		rt_warn("cannot pin the control thread to --cpu-house");
	if (mkdir(c->log.out_dir, 0755) < 0 && errno != EEXIST) {
		rt_err("cannot create output directory %s: %s", c->log.out_dir, strerror(errno));
		goto out;
	}
	if (v2xd_load_decoder(c->dbc_path, &p->decoder) < 0)
		goto out;
	rt_stop_init(&p->stop);
	rt_waiter_init(&p->decode_waiter, c->wait_mode, c->spin_ns);
	rt_waiter_init(&p->log_waiter, c->wait_mode, c->spin_ns);
	if (ring_init(&p->rx_ring, "can_rx->decode", sizeof(struct rx_record), c->ring_records, &p->decode_waiter) ||
	    ring_init(&p->log_ring, "decode->log", sizeof(struct rx_record), c->ring_records, &p->log_waiter)) {
		rt_err("cannot allocate the rings (%zu records)", c->ring_records);
		goto out;
	}
	can_rx_conf_init(&rxc, c->can_dev);
	rxc.baud = c->baud;
	rxc.mode = c->framing;
	rxc.full_wait_ns = c->full_wait_ns;
	if (can_rx_init(&p->rx, &rxc, &p->rx_ring, &p->stop) < 0) {
		rt_err("cannot prepare the receive stage");
		goto out;
	}
	rx_ok = 1;
	if (decode_stage_init(&p->dec, p->decoder, &p->rx_ring, &p->decode_waiter, &p->log_ring) < 0) {
		rt_err("cannot prepare the decode stage");
		goto out;
	}
	dec_ok = 1;
	p->dec.full_wait_ns = c->full_wait_ns;
	log_ok = 1; /* log_stage_fini() undoes whatever part of the init succeeded */
	int lrc = log_stage_init(&p->log, &c->log, &p->log_ring, &p->log_waiter, &p->dec.pub);
	if (lrc < 0) {
		rt_err("cannot open the output files in %s: %s", c->log.out_dir, strerror(-lrc));
		goto out;
	}
	if ((lrc = log_stage_start_io(&p->log)) < 0) {
		rt_err("cannot start the snapshot thread: %s", strerror(-lrc));
		goto out;
	}
	if (c->mlock)
		rt_mlockall();

	/* Back to front, so each consumer runs before its producer. */
	thread_conf(&tc, "v2x-log", c, &c->cpu_log, 10);
	if ((lrc = rt_thread_start(&p->t_log, &tc, log_stage_thread, &p->log)) < 0)
		goto thread_failed;
	t_log = 1;
	thread_conf(&tc, "v2x-decode", c, &c->cpu_decode, 5);
	if ((lrc = rt_thread_start(&p->t_dec, &tc, decode_stage_thread, &p->dec)) < 0)
		goto thread_failed;
	t_dec = 1;
	thread_conf(&tc, "v2x-can-rx", c, &c->cpu_rx, 0);
	if ((lrc = rt_thread_start(&p->t_rx, &tc, can_rx_thread, &p->rx)) < 0)
		goto thread_failed;
	t_rx = 1;
	p->start_mono_ns = p->last_status_mono_ns = rt_mono_ns();
	rt_info("running: %s at %u baud -> %s (stop with SIGINT or SIGTERM)", c->can_dev, c->baud, c->log.out_dir);

	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		int pr = poll(&pfd, 1, 1000);
		int sig = 0;

		if (pr > 0)
			sig = rt_signals_read(sfd);
		if (sig == SIGINT || sig == SIGTERM) {
			rt_info("%s: stopping: draining the pipeline", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		report_episodes(p);
		uint64_t now = rt_mono_ns();
		if (c->status_ns && now - p->last_status_mono_ns >= c->status_ns)
			status_line(p, c, now, 0);
	}
	rc = 0;
	goto stop;

thread_failed:
	rt_err("cannot start a stage thread: %s", strerror(-lrc));
stop:
	/* Front to back: the receiver stops and closes its ring; each stage drains its input, then closes its output.
	 * A stage that never started has its output ring closed here instead. */
	rt_stop_request(&p->stop);
	if (t_rx) {
		can_rx_wake(&p->rx);
		rt_thread_join(&p->t_rx);
	} else {
		ring_close(&p->rx_ring);
	}
	if (t_dec)
		rt_thread_join(&p->t_dec);
	else
		ring_close(&p->log_ring);
	if (t_log)
		rt_thread_join(&p->t_log);
out:
	if (log_ok) {
		/* Rows lost to a full disk were reported and counted; an orderly stop still exits 0. */
		(void)log_stage_fini(&p->log);
		report_episodes(p);
	}
	if (t_rx) {
		status_line(p, c, rt_mono_ns(), 1);
		latency_line(p);
	}
	if (dec_ok)
		decode_stage_fini(&p->dec);
	if (rx_ok)
		can_rx_fini(&p->rx);
	ring_fini(&p->rx_ring);
	ring_fini(&p->log_ring);
	if (p->decoder)
		decoder_destroy(p->decoder);
	if (sfd >= 0)
		close(sfd);
	rcu_unregister_thread();
	free(p);
	return rc;
}

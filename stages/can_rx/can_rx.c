/*
 * can_rx.c - the receive stage's thread: poll, read, stamp, frame, push (see can_rx.h).
 *
 * Runs on a real-time thread: it never logs or allocates after can_rx_init(); what happens is counted and traced,
 * and the control thread reports.
 */
#include "stages/can_rx/can_rx.h"

#include "rt/pipeline.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/clock.h"
#include "stages/can_rx/tty.h"
#include "trace/tp.h"

static const char *drop_names[RX_REJ__COUNT + 1];

static void can_rx__framer_init(struct can_rx *s);

const char *can_rx_drop_name(unsigned i)
{
	if (i < RX_REJ__COUNT)
		return rx_reject_name((enum rx_reject)i);
	return i == CAN_RX_DROP_RING_FULL ? "ring_full" : "?";
}

void can_rx_conf_init(struct can_rx_conf *conf, const char *dev_path)
{
	memset(conf, 0, sizeof(*conf));
	if (dev_path)
		snprintf(conf->dev_path, sizeof(conf->dev_path), "%s", dev_path);
	conf->baud = 115200;
	conf->mode = FRAMER_AUTO;
	conf->reopen_ns = 500 * RT_NS_PER_MS;
	conf->full_wait_ns = 2 * RT_NS_PER_SEC;
	/* Measured (docs/performance.md): at bus rate 2 ms halves the wake-ups of 1 ms and keeps v2xd under 3 % of a core. */
	conf->read_interval_ns = 2 * RT_NS_PER_MS;
	rt_sched_conf_init(&conf->sched, SCHED_OTHER, 80);
}

int can_rx_init(struct can_rx *s, const struct can_rx_conf *conf, struct ring *const *outs, unsigned n_outs,
		struct rt_waiter *waiter, const struct rt_stop *stop)
{
	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	s->fd = -1;
	if (n_outs < 1 || n_outs > 2 || rt_waiter_fd(waiter) < 0)
		return -EINVAL;
	s->outs[0] = outs[0];
	s->outs[1] = n_outs > 1 ? outs[1] : NULL;
	s->n_outs = n_outs;
	s->out = outs[0];
	s->waiter = waiter;
	s->stop = stop;
	for (unsigned i = 0; i <= RX_REJ__COUNT; i++)
		drop_names[i] = can_rx_drop_name(i);
	rt_counters_init(&s->ctr, "can_rx", drop_names, RX_REJ__COUNT + 1);
	can_rx__framer_init(s);
	s->rbuf = malloc(CAN_RX_READ_SIZE);
	if (!s->rbuf)
		return -ENOMEM;
	memset(s->rbuf, 0, CAN_RX_READ_SIZE);
	memset(s->batch, 0, sizeof(s->batch));
	s->next = s->batch;
	return 0;
}

void can_rx_fini(struct can_rx *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->rbuf);
	s->fd = -1;
	s->rbuf = NULL;
}

void can_rx_wake(struct can_rx *s)
{
	rt_waiter_kick(s->waiter);
}

/*
 * One can_batch_parsed event per read's part of the batch: records first_seq .. first_seq + count - 1 of the link,
 * all from the read stamped rx_mono_ns.  consume() pushes what it framed before the next read, so a batch holds one
 * read's records (or those framer_finish() stamps with the last read's time); the split keeps the event true if that
 * ever changes.  Only while a session enables the event.
 */
static void trace_batch(const struct can_rx *s)
{
	unsigned i = 0;

	while (i < s->batch_n) {
		unsigned k = i + 1;
		while (k < s->batch_n && s->batch[k].rx_mono_ns == s->batch[i].rx_mono_ns)
			k++;
		V2X_TP(can_batch_parsed, s->conf.link, s->batch[i].seq, k - i, s->batch[i].rx_mono_ns);
		i = k;
	}
}

/* The per-frame event of each CAN record in the batch (sessions that record can_frame_parsed: v2x-trace --per-frame),
 * with the fields it always had; tested once per batch, so the records' path holds no tracepoint. */
static void trace_frames(const struct can_rx *s)
{
	for (unsigned i = 0; i < s->batch_n; i++) {
		const struct rx_record *r = &s->batch[i];
		if (r->type == REC_CAN)
			V2X_TP(can_frame_parsed, r->link, r->u.can.id, r->seq, r->rx_mono_ns);
	}
}

/*
 * Pushes the batch to every output, waiting (bounded, full_wait_ns) while a ring is full: back-pressure that keeps a
 * replay or a burst lossless while a consumer is only briefly behind.  A later output (the log) that stays full for
 * the whole wait is taken as stuck (a stalled disk): from then on the receiver does not wait for it again until it
 * has drained to half, and drops what does not fit at once (counted `ring_full`), so the first output (decode, and
 * the published state) keeps being fed.  `out` counts records the first output took.
 */
static void flush_batch(struct can_rx *s)
{
	rt_count(&s->ctr.in, s->batch_n);
	if (V2X_TP_ENABLED(can_batch_parsed))
		trace_batch(s);
	if (V2X_TP_ENABLED(can_frame_parsed))
		trace_frames(s);
	for (unsigned o = 0; o < s->n_outs; o++) {
		struct ring *r = s->outs[o];
		size_t done;
		/* stuck[] is written here only; relaxed, as a single-writer counter (read by tests and statistics). */
		int stuck = atomic_load_explicit(&s->stuck[o], memory_order_relaxed);
		if (o > 0 && stuck && ring_count(r) <= ring_capacity(r) / 2) {
			stuck = 0; /* drained again: back-pressure again */
			atomic_store_explicit(&s->stuck[o], 0, memory_order_relaxed);
		}
		if (o > 0 && stuck) {
			done = ring_push_batch(r, s->batch, s->batch_n);
			ring_count_drops(r, s->batch_n - done);
		} else {
			done = ring_push_all(r, s->batch, s->batch_n, s->conf.full_wait_ns);
			if (o > 0 && done < s->batch_n)
				atomic_store_explicit(&s->stuck[o], 1, memory_order_relaxed);
		}
		if (done < s->batch_n)
			rt_count(&s->ctr.dropped[CAN_RX_DROP_RING_FULL], s->batch_n - done);
		if (o == 0)
			rt_count(&s->ctr.out, done);
	}
	s->batch_n = 0;
	s->next = s->batch;
}

/* The batch is full: push it.  After each record added at s->next. */
static inline void batch_added(struct can_rx *s)
{
	if (++s->batch_n == CAN_RX_BATCH)
		flush_batch(s);
	else
		s->next = &s->batch[s->batch_n];
}

/* A record from a v2 frame: frames of one batch share their seq; a gap of k means k - 1 frames never arrived; going
 * backwards means the device restarted. */
static void dev_seq_seen(struct can_rx *s, uint32_t dev_seq)
{
	uint32_t d = dev_seq - s->last_dev_seq;

	if (s->dev_seq_known && d > 1 && d < (1u << 31))
		rt_count(&s->dev_frames_lost, d - 1);
	s->last_dev_seq = dev_seq;
	s->dev_seq_known = 1;
}

/*
 * The record at s->next is framed: stamp it with the read's times (the real time unless the line brought its own:
 * may_have_time and REC_F_LOG_TIME), the link's next seq and the link, count device-seq loss, and add it to the batch.
 */
static inline __attribute__((always_inline)) void record_done(struct can_rx *s, struct rx_record *r, bool may_have_time)
{
	r->rx_mono_ns = s->read_mono_ns;
	if (!may_have_time || !(r->flags & REC_F_LOG_TIME))
		r->rx_real_ns = s->read_real_ns;
	r->seq = ++s->seq;
	r->line = 0;
	r->link = s->conf.link;
	if (r->flags & REC_F_DEV_TIME)
		dev_seq_seen(s, r->dev_seq);
	batch_added(s);
}

/* The framer's hot path built a REC_CAN record in place at s->next (framer_set_sink): a legacy SIM line, or an entry
 * of a v2 CAN batch frame. */
static void on_record(void *ctx, struct rx_record *r)
{
	record_done(ctx, r, false); /* SIM lines and v2 entries carry no time of day */
}

static void on_event(void *ctx, const struct rx_event *ev)
{
	struct can_rx *s = ctx;

	if (ev->kind == RX_EV_REJECT) {
		rt_count(&s->ctr.dropped[ev->reason], 1);
		V2X_TP(can_frame_rejected, s->conf.link, rx_reject_name(ev->reason));
		return;
	}
	if (ev->bad_fields)
		rt_count(&s->nmea_fields_left_out, ev->bad_fields);
	if (ev->kind != RX_EV_RECORD)
		return;
	*s->next = ev->rec;
	record_done(s, s->next, true);
}

static void can_rx__framer_init(struct can_rx *s)
{
	framer_init(&s->framer, s->conf.mode);
	framer_set_sink(&s->framer, &s->next, on_record);
}

/* One read()'s worth of bytes: stamp, count, trace, frame, push. */
static void consume(struct can_rx *s, size_t n)
{
	s->read_mono_ns = rt_mono_ns();
	s->read_real_ns = rt_real_ns();
	rt_count(&s->bytes, n);
	rt_count(&s->reads, 1);
	V2X_TP(can_bytes_read, s->conf.link, (uint32_t)n, s->read_mono_ns);
	framer_feed(&s->framer, s->rbuf, n, on_event, s);
	if (s->batch_n)
		flush_batch(s);
	if (s->can_lost_base + s->framer.can_lost != rt_counter_get(&s->can_frames_lost))
		atomic_store_explicit(&s->can_frames_lost, s->can_lost_base + s->framer.can_lost, memory_order_relaxed);
}

static void device_close(struct can_rx *s, int err)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	atomic_store_explicit(&s->link_up, 0, memory_order_relaxed);
	atomic_store_explicit(&s->last_errno, err, memory_order_relaxed);
	rt_count(&s->hangups, 1);
	/* A unit cut by the unplug is incomplete: start the next connection on a clean line. */
	s->can_lost_base += s->framer.can_lost;
	can_rx__framer_init(s);
	V2X_TP(link_state, s->conf.link, 0, err);
}

/*
 * Whether a read of n bytes leaves a backlog to read at once (FIONREAD; a failure counts as none).  At bus rate a
 * 2 ms read holds tens of bytes (legacy lines at 115,200 baud) to about 200 (v2 batches at 4,500 frames/s): below
 * CAN_RX_SHORT_READ nothing can be queued behind it worth a syscall, so the moderation sleep follows at once (three
 * syscalls per cycle).  Larger reads mean a fast writer: asking keeps reading while bytes keep coming.  (With 2 KiB
 * here a writer faster than the reader but in small pieces made short reads mid-stream, each followed by a 2 ms
 * sleep: bench_can_path's maximum rate fell from about 1 M to 0.2 M frames/s.)
 */
#define CAN_RX_SHORT_READ 256
static bool backlog_after(int fd, size_t n)
{
	int pending = 0;
	return n >= CAN_RX_SHORT_READ && ioctl(fd, FIONREAD, &pending) == 0 && pending > 0;
}

/*
 * Sleeps in one ppoll() until fd (when >= 0) is readable or hangs up, the waiter is kicked, or ns have passed
 * (CAN_RX_FOREVER: no limit).  Returns fd's revents (0 after a kick or the timeout), or -1 with errno.
 *
 * can_rx consumes no ring: its waiter carries only kicks (stop), and in RT_WAIT_EVENTFD mode a kick always writes the
 * eventfd, which then stays readable until drained.  So no rt_waiter_arm() handshake is needed before the wait (the
 * stop flag is checked after every wake-up), and the eventfd is drained (rt_waiter_disarm) only when it fired: a wait
 * costs one syscall, where arm + poll + disarm cost a read returning EAGAIN besides.
 */
#define CAN_RX_FOREVER UINT64_MAX
static int wait_io(struct can_rx *s, int fd, uint64_t ns)
{
	struct pollfd p[2] = {{.fd = rt_waiter_fd(s->waiter), .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	struct timespec ts = {.tv_sec = (time_t)(ns / RT_NS_PER_SEC), .tv_nsec = (long)(ns % RT_NS_PER_SEC)};

	int r = ppoll(p, fd >= 0 ? 2 : 1, ns == CAN_RX_FOREVER ? NULL : &ts, NULL);
	if (r < 0)
		return -1;
	if (p[0].revents)
		(void)rt_waiter_disarm(s->waiter); /* drain the kick; the caller re-checks the stop flag */
	return fd >= 0 ? p[1].revents : 0;
}

/*
 * After losing the device: wait reopen_ns before trying again, unless a stop is requested (the wait that found the
 * hang-up may also have drained the stop's kick from the eventfd, which would then not end this sleep early).
 */
static void reopen_wait(struct can_rx *s)
{
	if (!rt_stop_requested(s->stop))
		(void)wait_io(s, -1, s->conf.reopen_ns);
}

/* A regular file was read to its end: frame what is left, close it, and wait for the stop. */
static void end_of_file(struct can_rx *s)
{
	framer_finish(&s->framer, on_event, s);
	if (s->batch_n)
		flush_batch(s);
	close(s->fd);
	s->fd = -1;
	atomic_store_explicit(&s->link_up, 0, memory_order_relaxed);
	atomic_store_explicit(&s->at_eof, 1, memory_order_relaxed);
	V2X_TP(link_state, s->conf.link, 0, 0);
	while (!rt_stop_requested(s->stop))
		(void)wait_io(s, -1, 1000 * RT_NS_PER_MS);
}

/*
 * The loop reads first and waits only when a read finds nothing (EAGAIN): at bus rate a cycle is one read, one
 * moderation sleep and the wake-up of decode (three syscalls), and poll() runs only when the line goes quiet.
 */
void *can_rx_thread(void *arg)
{
	struct can_rx *s = arg;

	while (!rt_stop_requested(s->stop)) {
		if (s->fd < 0) {
			int fd = tty_open(s->conf.dev_path, s->conf.baud);
			if (fd < 0) {
				rt_count(&s->open_failures, 1);
				atomic_store_explicit(&s->last_errno, -fd, memory_order_relaxed);
				(void)wait_io(s, -1, s->conf.reopen_ns);
				continue;
			}
			struct stat st;
			s->is_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
			s->fd = fd;
			rt_count(&s->opens, 1);
			atomic_store_explicit(&s->link_up, 1, memory_order_relaxed);
			V2X_TP(link_state, s->conf.link, 1, 0);
		}
		ssize_t n = read(s->fd, s->rbuf, CAN_RX_READ_SIZE);
		if (n > 0) {
			consume(s, (size_t)n);
			s->cyc_bytes += (uint64_t)n;
			/* Read moderation: let bytes gather for read_interval_ns, so each read (and each wake-up of the
			 * stages after it) takes a batch.  A backlog is read again at once, and a fast writer gets
			 * shorter sleeps (can_rx_moderation_ns), so the moderation does not limit the rate. */
			if (s->conf.read_interval_ns && !s->is_file && !backlog_after(s->fd, (size_t)n)) {
				uint64_t ns = can_rx_moderation_ns(s->conf.read_interval_ns, s->cyc_bytes,
								   s->read_mono_ns - s->cyc_start_ns);
				/* the next cycle: this sleep and what it gathers */
				s->cyc_bytes = 0;
				s->cyc_start_ns = s->read_mono_ns;
				(void)wait_io(s, -1, ns);
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* Nothing to read: sleep until there is, or a hang-up, or the stop.  The line went quiet: the next
			 * moderation cycle counts from here, so the first bytes after a pause do not look like a fast
			 * writer. */
			s->cyc_bytes = 0;
			s->cyc_start_ns = rt_mono_ns();
			int ev = wait_io(s, s->fd, CAN_RX_FOREVER);
			if (ev < 0 && errno != EINTR) {
				device_close(s, errno);
				reopen_wait(s);
			} else if (ev > 0 && !(ev & POLLIN) && (ev & (POLLHUP | POLLERR | POLLNVAL))) {
				device_close(s, EIO);
				reopen_wait(s);
			}
			continue;
		}
		if (n == 0 && s->is_file) {
			/* A file (a replayed log) is read once: its last line counts even without a newline. */
			end_of_file(s);
			continue;
		}
		/* 0 (end of file) or EIO/ENXIO/ENODEV: the device or the pty's far end is gone. */
		device_close(s, n == 0 ? 0 : errno);
		reopen_wait(s);
	}
	/* Stop: what the kernel already received is taken too (non-blocking reads until it is empty), and a line cut
	 * by the stop is framed as it is (a reject, counted, unless it happens to be whole). */
	while (s->fd >= 0 && !s->is_file) { /* a file being replayed simply stops where it is */
		ssize_t n = read(s->fd, s->rbuf, CAN_RX_READ_SIZE);
		if (n <= 0)
			break;
		consume(s, (size_t)n);
	}
	framer_finish(&s->framer, on_event, s);
	if (s->batch_n)
		flush_batch(s);
	for (unsigned o = 0; o < s->n_outs; o++)
		ring_close(s->outs[o]);
	V2X_TP(stage_stop, "can_rx", rt_counter_get(&s->ctr.in), rt_counter_get(&s->ctr.out),
	       rt_counters_dropped_total(&s->ctr));
	return NULL;
}

static int can_rx_pipeline_init(void *self, const struct rt_stage_env *env)
{
	struct can_rx_conf *c = env->conf;
	c->full_wait_ns = env->full_wait_ns; /* the pipeline's back-pressure setting */
	return can_rx_init(self, c, env->out, (unsigned)env->n_out, env->waiter, env->stop);
}

static void can_rx_pipeline_fini(void *self)
{
	can_rx_fini(self);
}

static void can_rx_conf_defaults(void *conf)
{
	can_rx_conf_init(conf, NULL);
}

static const unsigned can_rx_bauds[] = {115200, 230400, 460800, 921600, 2000000};

static int baud_parse(const struct rt_config_key *key, const char *text, void *field, const char **why)
{
	(void)key;
	for (size_t i = 0; i < sizeof(can_rx_bauds) / sizeof(can_rx_bauds[0]); i++) {
		char b[16];
		snprintf(b, sizeof(b), "%u", can_rx_bauds[i]);
		if (strcmp(text, b) == 0) {
			*(unsigned *)field = can_rx_bauds[i];
			return 0;
		}
	}
	*why = "not a supported rate";
	return -EINVAL;
}

static int baud_format(const struct rt_config_key *key, const void *field, char *buf, size_t size)
{
	(void)key;
	return snprintf(buf, size, "%u", *(const unsigned *)field);
}

static const struct rt_config_custom baud_type = {
	.expects = "115200, 230400, 460800, 921600 or 2000000", .arg = "N", .parse = baud_parse, .format = baud_format};

static const struct rt_config_choice framing_names[] = {
	{"auto", FRAMER_AUTO}, {"text", FRAMER_TEXT}, {"v2", FRAMER_V2}, {NULL, 0}};

static const struct rt_config_key can_rx_keys[] = {
	{.section = "can_rx", .key = "dev", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct can_rx_conf, dev_path),
	 .opt = "can-dev", .flags = RT_CONFIG_REQUIRED,
	 .help = "serial device of ESP32(1) (tty, pseudo-terminal, or a log file read once); reopened while absent"},
	{.section = "can_rx", .key = "baud", .type = RT_CONFIG_CUSTOM, RT_CONFIG_FIELD(struct can_rx_conf, baud),
	 .opt = "baud", .custom = &baud_type, .help = "line rate (legacy firmware 115200; the project's 921600)"},
	{.section = "can_rx", .key = "framing", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct can_rx_conf, mode),
	 .opt = "framing", .choices = framing_names, .help = "legacy text lines or v2 frames (auto: detected)"},
	{.section = "can_rx", .key = "reopen_ms", .type = RT_CONFIG_DURATION,
	 RT_CONFIG_FIELD(struct can_rx_conf, reopen_ns), .unit = "ms", .umin = 10, .umax = 60000,
	 .help = "retry period while the device is absent"},
	{.section = "can_rx", .key = "read_interval_us", .type = RT_CONFIG_DURATION,
	 RT_CONFIG_FIELD(struct can_rx_conf, read_interval_ns), .unit = "us", .umin = 0, .umax = 100000,
	 .help = "least time between two reads: bytes gather into batches (0: read at once, the latency profile)"},
	{.section = "can_rx", .key = "link", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct can_rx_conf, link),
	 .umin = 0, .umax = 255, .flags = RT_CONFIG_NO_OPTION, .help = "link id in records and traces"},
	RT_CONFIG_SCHED_KEYS("can_rx", struct can_rx_conf, sched),
};

const struct rt_config_table can_rx_config = {
	.name = "can_rx",
	.keys = can_rx_keys,
	.n_keys = sizeof(can_rx_keys) / sizeof(can_rx_keys[0]),
	.conf_size = sizeof(struct can_rx_conf),
	.defaults = can_rx_conf_defaults,
};

const struct rt_stage_desc can_rx_stage = {
	.name = "can_rx",
	.size = sizeof(struct can_rx),
	.polls = true,
	.init = can_rx_pipeline_init,
	.thread = can_rx_thread,
	.fini = can_rx_pipeline_fini,
	.config = &can_rx_config,
	.sched_offset = offsetof(struct can_rx_conf, sched),
};

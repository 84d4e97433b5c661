/*
 * hub_io.c - the hub link stage's thread: poll, read, frame, pass on; drain v2g's queue, encode, write without
 * blocking (see hub_io.h).
 *
 * Runs on a pipeline thread: it never logs or allocates after hub_io_init(); what happens is counted and traced.
 */
#include "stages/hub_io/hub_io.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/registry.h"
#include "stages/can_rx/tty.h"
#include "trace/tp.h"

_Static_assert(HUB_REJ__COUNT + HUB_IO_DROP__COUNT <= RT_DROP_REASONS_MAX, "hub_io drop reasons fit the counters");

static const char *hub_io__drop_names[HUB_REJ__COUNT + HUB_IO_DROP__COUNT];

const char *hub_io_drop_name(unsigned i)
{
	static const char *const own[HUB_IO_DROP__COUNT] = { "ring_full", "tx_full", "tx_down", "stop_no_legacy" };

	if (i < HUB_REJ__COUNT)
		return hub_reject_name((enum hub_reject)i);
	if (i < HUB_REJ__COUNT + HUB_IO_DROP__COUNT)
		return own[i - HUB_REJ__COUNT];
	return "?";
}

void hub_io_conf_init(struct hub_io_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->baud = 115200;
	conf->mode = HUB_FMT_AUTO;
	conf->tx_format = HUB_TXF_AUTO;
	conf->reopen_ns = 500 * RT_NS_PER_MS;
	conf->full_wait_ns = 2 * RT_NS_PER_SEC;
	conf->link = 2;
	rt_sched_conf_init(&conf->sched, SCHED_OTHER, 70);
}

int hub_io_init(struct hub_io *s, const struct hub_io_conf *conf, struct ring *out, struct ring *in,
		struct rt_waiter *waiter, const struct rt_stop *stop)
{
	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	s->fd = -1;
	if (!out || !waiter || rt_waiter_fd(waiter) < 0 || out->rec_size != sizeof(struct hub_rx_rec) ||
	    (in && in->rec_size != sizeof(struct hub_tx_rec)))
		return -EINVAL;
	s->out = out;
	s->in = in;
	s->waiter = waiter;
	s->stop = stop;
	for (unsigned i = 0; i < HUB_REJ__COUNT + HUB_IO_DROP__COUNT; i++)
		hub_io__drop_names[i] = hub_io_drop_name(i);
	rt_counters_init(&s->ctr, "hub_io", hub_io__drop_names, HUB_REJ__COUNT + HUB_IO_DROP__COUNT);
	hub_parser_init(&s->parser, (enum hub_format)conf->mode);
	return 0;
}

void hub_io_fini(struct hub_io *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void hub_io__drop(struct hub_io *s, enum hub_io_drop d, uint64_t n)
{
	rt_count(&s->ctr.dropped[HUB_REJ__COUNT + d], n);
}

/* ---- receive ---- */

static void hub_io__on_event(void *ctx, const struct hub_event *ev)
{
	struct hub_io *s = ctx;
	struct hub_rx_rec r;

	switch (ev->kind) {
	case HUB_EV_REJECT:
		rt_count(&s->ctr.dropped[ev->reason], 1);
		V2X_TP(hub_frame_rejected, s->conf.link, hub_reject_name(ev->reason));
		return;
	case HUB_EV_IGNORED:
		rt_count(&s->ignored, 1);
		return;
	default:
		break;
	}
	memset(&r, 0, sizeof(r));
	r.rx_mono_ns = s->read_mono_ns;
	r.rx_real_ns = s->read_real_ns;
	r.link_seq = ++s->link_seq;
	r.has_seq = ev->has_seq;
	r.dev_seq = ev->seq;
	r.dev_time_us = ev->dev_time_us;
	switch (ev->kind) {
	case HUB_EV_ITEM:
		r.kind = HUB_RX_ITEM;
		r.item = ev->item;
		break;
	case HUB_EV_STATION:
		r.kind = HUB_RX_STATION;
		r.item = ev->item;
		break;
	case HUB_EV_SLOT:
		r.kind = HUB_RX_SLOT;
		r.slot = ev->slot;
		break;
	default: /* HUB_EV_ACK */
		r.kind = HUB_RX_ACK;
		r.ack_result = ev->ack_result;
		if (ev->ack_type == V2X_T_CMD)
			for (unsigned i = 0; i < HUB_IO_ACK_SLOTS; i++)
				if (s->acks[i].used && s->acks[i].seq == ev->ack_seq) {
					/* stopped or no session: the station is not charging; busy: a repeat of a pending
					 * stop, whose own answer comes later; other results: the stop did not get through */
					r.stop_acked = (uint8_t)(s->acks[i].stop && hub_stop_result_final(ev->ack_result));
					r.ack_session_id = s->acks[i].session_id;
					s->acks[i].used = 0;
					break;
				}
		break;
	}
	rt_count(&s->ctr.in, 1);
	V2X_TP(hub_item_in, s->conf.link, hub_event_kind_name(ev->kind), r.link_seq, r.dev_seq);
	if (ring_push_all(s->out, &r, 1, s->conf.full_wait_ns) == 1)
		rt_count(&s->ctr.out, 1);
	else
		hub_io__drop(s, HUB_IO_DROP_RING_FULL, 1);
}

static void hub_io__consume(struct hub_io *s, size_t n)
{
	s->read_mono_ns = rt_mono_ns();
	s->read_real_ns = rt_real_ns();
	rt_count(&s->bytes_in, n);
	hub_parser_feed(&s->parser, s->rbuf, n, hub_io__on_event, s);
	atomic_store_explicit(&s->v2_lost, s->parser.stats.v2_lost, memory_order_relaxed);
	atomic_store_explicit(&s->v2_restarts, s->parser.stats.v2_restarts, memory_order_relaxed);
}

/* ---- send ---- */

static int hub_io__tx_v2(const struct hub_io *s)
{
	if (s->conf.tx_format == HUB_TXF_V2)
		return 1;
	if (s->conf.tx_format == HUB_TXF_LEGACY)
		return 0;
	return hub_parser_format(&s->parser) == HUB_FMT_V2;
}

/* Encodes one queued record into the transmit buffer, or counts why not. */
static void hub_io__queue(struct hub_io *s, const struct hub_tx_rec *t)
{
	uint8_t frame[V2X_WIRE_MAX];
	const char *kind = t->kind == HUB_TX_V2G ? "stop" : "item";
	int n, v2 = hub_io__tx_v2(s);

	if (s->fd < 0) {
		hub_io__drop(s, HUB_IO_DROP_TX_DOWN, 1);
		V2X_TP(hub_item_out, s->conf.link, kind, 0, 0);
		return;
	}
	if (t->kind == HUB_TX_V2G) {
		if (!t->msg.stop_charging) {
			rt_count(&s->v2g_in_item, 1); /* desired SOC and ready travel in the own Item */
			return;
		}
		if (!v2) {
			hub_io__drop(s, HUB_IO_DROP_STOP_LEGACY, 1); /* the Item's ready_to_charge = 0 is all it gets */
			return;
		}
		n = hub_encode_stop(s->tx_seq + 1, (uint32_t)(rt_mono_ns() / 1000), frame, sizeof(frame));
	} else if (v2) {
		n = hub_encode_v2_item(&t->item, s->tx_seq + 1, (uint32_t)(rt_mono_ns() / 1000), frame, sizeof(frame));
	} else {
		n = hub_encode_legacy(&t->item, frame, sizeof(frame));
	}
	if (n <= 0)
		return; /* cannot happen: the records are built by v2g within the encoders' limits */
	if ((size_t)n > sizeof(s->tx) - s->tx_len) {
		hub_io__drop(s, HUB_IO_DROP_TX_FULL, 1);
		V2X_TP(hub_item_out, s->conf.link, kind, (uint32_t)n, 0);
		return;
	}
	if (v2) {
		s->tx_seq++;
		if (t->kind == HUB_TX_V2G) {
			unsigned i = s->ack_next++ % HUB_IO_ACK_SLOTS;
			s->acks[i].used = 1;
			s->acks[i].seq = s->tx_seq;
			s->acks[i].stop = t->msg.stop_charging;
			s->acks[i].session_id = t->msg.session_id;
		}
	}
	memcpy(s->tx + s->tx_len, frame, (size_t)n);
	s->tx_len += (size_t)n;
	rt_count(&s->frames_out, 1);
	V2X_TP(hub_item_out, s->conf.link, kind, (uint32_t)n, 1);
}

static void hub_io__drain_in(struct hub_io *s)
{
	struct hub_tx_rec t;

	if (!s->in)
		return;
	while (ring_pop(s->in, &t))
		hub_io__queue(s, &t);
}

/* Writes what the device takes now.  Returns 0, or a negative errno when the device is gone. */
static int hub_io__flush(struct hub_io *s)
{
	while (s->tx_len) {
		ssize_t n = write(s->fd, s->tx, s->tx_len);

		if (n > 0) {
			memmove(s->tx, s->tx + n, s->tx_len - (size_t)n);
			s->tx_len -= (size_t)n;
			rt_count(&s->bytes_out, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* ---- device ---- */

static void hub_io__close(struct hub_io *s, int err)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->tx_len) {
		hub_io__drop(s, HUB_IO_DROP_TX_DOWN, 1); /* a partly written frame and what followed it */
		s->tx_len = 0;
	}
	atomic_store_explicit(&s->link_up, 0, memory_order_relaxed);
	atomic_store_explicit(&s->last_errno, err, memory_order_relaxed);
	rt_count(&s->hangups, 1);
	hub_parser_finish(&s->parser, hub_io__on_event, s); /* the unit cut by the unplug is counted */
	hub_parser_init(&s->parser, (enum hub_format)s->conf.mode);
	V2X_TP(link_state, s->conf.link, 0, err);
}

/* Sleeps up to ns on the waiter (a stop or queued records wake it early); queued records are dropped, counted. */
static void hub_io__wait_absent(struct hub_io *s, uint64_t ns)
{
	if (rt_waiter_arm(s->waiter, s->in ? ring_ready : NULL, s->in) == 0) {
		struct pollfd p = { .fd = rt_waiter_fd(s->waiter), .events = POLLIN };
		int ms = (int)(ns / RT_NS_PER_MS);

		(void)poll(&p, 1, ms > 0 ? ms : 1);
		(void)rt_waiter_disarm(s->waiter);
	}
	hub_io__drain_in(s);
}

void *hub_io_thread(void *arg)
{
	struct hub_io *s = arg;
	struct pollfd pfd[2];

	while (!rt_stop_requested(s->stop)) {
		if (s->conf.dev_path[0] == '\0') {
			hub_io__wait_absent(s, RT_NS_PER_SEC); /* no hub link configured: drop (count) what v2g queues */
			continue;
		}
		if (s->fd < 0) {
			int fd = tty_open(s->conf.dev_path, s->conf.baud);

			if (fd < 0) {
				rt_count(&s->open_failures, 1);
				atomic_store_explicit(&s->last_errno, -fd, memory_order_relaxed);
				hub_io__wait_absent(s, s->conf.reopen_ns);
				continue;
			}
			s->fd = fd;
			rt_count(&s->opens, 1);
			atomic_store_explicit(&s->link_up, 1, memory_order_relaxed);
			V2X_TP(link_state, s->conf.link, 1, 0);
		}
		hub_io__drain_in(s);
		if (hub_io__flush(s) < 0) {
			hub_io__close(s, EIO);
			continue;
		}
		pfd[0] = (struct pollfd){ .fd = s->fd, .events = (short)(POLLIN | (s->tx_len ? POLLOUT : 0)) };
		pfd[1] = (struct pollfd){ .fd = rt_waiter_fd(s->waiter), .events = POLLIN };
		if (rt_waiter_arm(s->waiter, s->in ? ring_ready : NULL, s->in) != 0)
			continue; /* records queued or kicked: loop */
		int pr = poll(pfd, 2, -1);
		(void)rt_waiter_disarm(s->waiter);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			hub_io__close(s, errno);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(s->fd, s->rbuf, sizeof(s->rbuf));

			if (n > 0) {
				hub_io__consume(s, (size_t)n);
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			hub_io__close(s, n == 0 ? 0 : errno);
			hub_io__wait_absent(s, s->conf.reopen_ns);
			continue;
		}
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			hub_io__close(s, EIO);
			hub_io__wait_absent(s, s->conf.reopen_ns);
		}
	}
	/* Stop: take what the kernel holds, count a cut unit, and close the way to v2g. */
	while (s->fd >= 0) {
		ssize_t n = read(s->fd, s->rbuf, sizeof(s->rbuf));

		if (n <= 0)
			break;
		hub_io__consume(s, (size_t)n);
	}
	hub_parser_finish(&s->parser, hub_io__on_event, s);
	ring_close(s->out);
	V2X_TP(stage_stop, "hub_io", rt_counter_get(&s->ctr.in), rt_counter_get(&s->ctr.out),
	       rt_counters_dropped_total(&s->ctr));
	return NULL;
}

/* ---- pipeline and configuration ---- */

/* Status text (control thread): "up", "down (<reason>)" while the device is absent, "none" without one. */
static int hub_io__link_text(void *ctx, char *buf, size_t size)
{
	const struct hub_io *s = ctx;
	int err = atomic_load_explicit(&s->last_errno, memory_order_relaxed);

	if (s->conf.dev_path[0] == '\0')
		snprintf(buf, size, "none");
	else if (atomic_load_explicit(&s->link_up, memory_order_relaxed))
		snprintf(buf, size, "up");
	else
		snprintf(buf, size, "down (%s)", err ? strerror(err) : "closed by the other end");
	return 0;
}

static int hub_io__pipeline_init(void *self, const struct rt_stage_env *env)
{
	struct hub_io_conf *c = env->conf;
	struct hub_io *s = self;
	int rc;

	if (env->n_out != 1 || env->n_in > 1)
		return -EINVAL;
	c->full_wait_ns = env->full_wait_ns;
	rc = hub_io_init(s, c, env->out[0], env->n_in ? env->in[0] : NULL, env->waiter, env->stop);
	if (rc == 0 && env->registry) {
		/* Best effort: a metric the program registered already (-EEXIST) is not an error of the stage. */
		struct rt_registry *r = env->registry;

		(void)rt_registry_add_text(r, "hub_io", "link", hub_io__link_text, s);
		(void)rt_registry_add_counters(r, "hub_io", NULL, &s->ctr);
		(void)rt_registry_add_counter(r, "hub_io", "bytes_in", &s->bytes_in);
		(void)rt_registry_add_counter(r, "hub_io", "bytes_out", &s->bytes_out);
		(void)rt_registry_add_counter(r, "hub_io", "frames_out", &s->frames_out);
		(void)rt_registry_add_counter(r, "hub_io", "ignored", &s->ignored);
		(void)rt_registry_add_counter(r, "hub_io", "v2g_in_item", &s->v2g_in_item);
		(void)rt_registry_add_counter(r, "hub_io", "v2_lost", &s->v2_lost);
		(void)rt_registry_add_counter(r, "hub_io", "v2_restarts", &s->v2_restarts);
		(void)rt_registry_add_counter(r, "hub_io", "opens", &s->opens);
		(void)rt_registry_add_counter(r, "hub_io", "open_failures", &s->open_failures);
		(void)rt_registry_add_counter(r, "hub_io", "hangups", &s->hangups);
	}
	return rc;
}

static void hub_io__pipeline_fini(void *self)
{
	hub_io_fini(self);
}

static void hub_io__defaults(void *conf)
{
	hub_io_conf_init(conf);
}

static const struct rt_config_choice hub_io__framing[] = {
	{ "auto", HUB_FMT_AUTO }, { "legacy", HUB_FMT_LEGACY }, { "v2", HUB_FMT_V2 }, { NULL, 0 } };
static const struct rt_config_choice hub_io__tx_formats[] = {
	{ "auto", HUB_TXF_AUTO }, { "legacy", HUB_TXF_LEGACY }, { "v2", HUB_TXF_V2 }, { NULL, 0 } };

static const struct rt_config_key hub_io__keys[] = {
	{ .section = "hub", .key = "dev", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct hub_io_conf, dev_path),
	  .opt = "hub-dev", .flags = RT_CONFIG_EMPTY_OK,
	  .help = "serial device of ESP32(2), the radio hub; reopened while absent (empty: no hub link)" },
	{ .section = "hub", .key = "baud", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct hub_io_conf, baud),
	  .umin = 9600, .umax = 2000000, .help = "line rate (legacy hub 115200; the project's firmware 921600)" },
	{ .section = "hub", .key = "framing", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct hub_io_conf, mode),
	  .choices = hub_io__framing, .help = "legacy AA 55 frames or v2 frames on receive (auto: detected)" },
	{ .section = "hub", .key = "tx_format", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct hub_io_conf, tx_format),
	  .choices = hub_io__tx_formats, .help = "frames sent to the hub (auto: v2 once the hub spoke v2, else legacy)" },
	{ .section = "hub", .key = "reopen_ms", .type = RT_CONFIG_DURATION,
	  RT_CONFIG_FIELD(struct hub_io_conf, reopen_ns), .unit = "ms", .umin = 10, .umax = 60000,
	  .help = "retry period while the device is absent" },
	{ .section = "hub", .key = "link", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct hub_io_conf, link),
	  .umin = 0, .umax = 255, .flags = RT_CONFIG_NO_OPTION, .help = "link id in traces" },
	RT_CONFIG_SCHED_KEYS("hub", struct hub_io_conf, sched),
};

const struct rt_config_table hub_io_config = {
	.name = "hub",
	.keys = hub_io__keys,
	.n_keys = sizeof(hub_io__keys) / sizeof(hub_io__keys[0]),
	.conf_size = sizeof(struct hub_io_conf),
	.defaults = hub_io__defaults,
};

const struct rt_stage_desc hub_io_stage = {
	.name = "hub_io",
	.size = sizeof(struct hub_io),
	.polls = true,
	.init = hub_io__pipeline_init,
	.thread = hub_io_thread,
	.fini = hub_io__pipeline_fini,
	.config = &hub_io_config,
	.sched_offset = offsetof(struct hub_io_conf, sched),
};

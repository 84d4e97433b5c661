/*
 * can_rx.c - the receive stage's thread: poll, read, stamp, frame, push (see can_rx.h).
 *
 * Runs on a real-time thread: it never logs or allocates after can_rx_init(); what happens is counted and traced,
 * and the control thread reports.
 */
#include "stages/can_rx/can_rx.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/clock.h"
#include "stages/can_rx/tty.h"
#include "trace/tp.h"

static const char *drop_names[RX_REJ__COUNT + 1];

const char *can_rx_drop_name(unsigned i)
{
	if (i < RX_REJ__COUNT)
		return rx_reject_name((enum rx_reject)i);
	return i == CAN_RX_DROP_RING_FULL ? "ring_full" : "?";
}

void can_rx_conf_init(struct can_rx_conf *conf, const char *dev_path)
{
	memset(conf, 0, sizeof(*conf));
	conf->dev_path = dev_path;
	conf->baud = 115200;
	conf->mode = FRAMER_AUTO;
	conf->reopen_ns = 500 * RT_NS_PER_MS;
	conf->full_wait_ns = 2 * RT_NS_PER_SEC;
}

int can_rx_init(struct can_rx *s, const struct can_rx_conf *conf, struct ring *out, struct rt_stop *stop)
{
	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	s->out = out;
	s->stop = stop;
	s->fd = -1;
	s->wake_fd = -1;
	for (unsigned i = 0; i <= RX_REJ__COUNT; i++)
		drop_names[i] = can_rx_drop_name(i);
	rt_counters_init(&s->ctr, "can_rx", drop_names, RX_REJ__COUNT + 1);
	framer_init(&s->framer, conf->mode);
	s->rbuf = malloc(CAN_RX_READ_SIZE);
	if (!s->rbuf)
		return -ENOMEM;
	memset(s->rbuf, 0, CAN_RX_READ_SIZE);
	memset(s->batch, 0, sizeof(s->batch));
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		int err = -errno;
		free(s->rbuf);
		s->rbuf = NULL;
		return err;
	}
	return 0;
}

void can_rx_fini(struct can_rx *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->rbuf);
	s->fd = s->wake_fd = -1;
	s->rbuf = NULL;
}

void can_rx_wake(struct can_rx *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake_fd, &one, sizeof(one));
	(void)r; /* the counter cannot overflow in practice; a failed wake-up is retried by the caller's join timeout */
}

/* Pushes the batch; waits (bounded) while the ring is full, then drops what is left, counted. */
static void flush_batch(struct can_rx *s)
{
	size_t done = ring_push_all(s->out, s->batch, s->batch_n, s->conf.full_wait_ns);

	if (done < s->batch_n)
		rt_count(&s->ctr.dropped[CAN_RX_DROP_RING_FULL], s->batch_n - done);
	rt_count(&s->ctr.out, done);
	s->batch_n = 0;
}

static void on_event(void *ctx, const struct rx_event *ev)
{
	struct can_rx *s = ctx;

	if (ev->kind == RX_EV_REJECT) {
		rt_count(&s->ctr.dropped[ev->reason], 1);
		V2X_TP(can_frame_rejected, s->conf.link, rx_reject_name(ev->reason));
		return;
	}
	if (ev->kind != RX_EV_RECORD)
		return;
	struct rx_record *r = &s->batch[s->batch_n];
	*r = ev->rec;
	r->rx_mono_ns = s->read_mono_ns;
	if (!(r->flags & REC_F_LOG_TIME))
		r->rx_real_ns = s->read_real_ns;
	r->seq = ++s->seq;
	r->link = s->conf.link;
	r->line = 0;
	rt_count(&s->ctr.in, 1);
	if (r->type == REC_CAN)
		V2X_TP(can_frame_parsed, r->u.can.id, r->seq, r->rx_mono_ns);
	if (++s->batch_n == CAN_RX_BATCH)
		flush_batch(s);
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
	framer_init(&s->framer, s->conf.mode);
	V2X_TP(link_state, s->conf.link, 0, err);
}

/* Sleeps up to ns, returning early when woken for shutdown. */
static void wait_wake(struct can_rx *s, uint64_t ns)
{
	struct pollfd p = {.fd = s->wake_fd, .events = POLLIN};
	int ms = (int)(ns / RT_NS_PER_MS);
	(void)poll(&p, 1, ms > 0 ? ms : 1);
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
		wait_wake(s, 1000 * RT_NS_PER_MS);
}

void *can_rx_thread(void *arg)
{
	struct can_rx *s = arg;
	struct pollfd pfd[2];

	while (!rt_stop_requested(s->stop)) {
		if (s->fd < 0) {
			int fd = tty_open(s->conf.dev_path, s->conf.baud);
			if (fd < 0) {
				rt_count(&s->open_failures, 1);
				atomic_store_explicit(&s->last_errno, -fd, memory_order_relaxed);
				wait_wake(s, s->conf.reopen_ns);
				continue;
			}
			struct stat st;
			s->is_file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
			s->fd = fd;
			rt_count(&s->opens, 1);
			atomic_store_explicit(&s->link_up, 1, memory_order_relaxed);
			V2X_TP(link_state, s->conf.link, 1, 0);
		}
		pfd[0] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
		int pr = poll(pfd, 2, -1);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			device_close(s, errno);
			wait_wake(s, s->conf.reopen_ns);
			continue;
		}
		if (pfd[1].revents)
			continue; /* woken: re-check the stop flag */
		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(s->fd, s->rbuf, CAN_RX_READ_SIZE);
			if (n > 0) {
				consume(s, (size_t)n);
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n == 0 && s->is_file) {
				/* A file (a replayed log) is read once: its last line counts even without a newline. */
				end_of_file(s);
				continue;
			}
			/* 0 (end of file) or EIO/ENXIO/ENODEV: the device or the pty's far end is gone. */
			device_close(s, n == 0 ? 0 : errno);
			wait_wake(s, s->conf.reopen_ns);
			continue;
		}
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			device_close(s, EIO);
			wait_wake(s, s->conf.reopen_ns);
		}
	}
	/* Stop: what the kernel already received is taken too (non-blocking reads until it is empty), and a line cut
	 * by the stop is framed as it is (a reject, counted, unless it happens to be whole). */
	while (s->fd >= 0) {
		ssize_t n = read(s->fd, s->rbuf, CAN_RX_READ_SIZE);
		if (n <= 0)
			break;
		consume(s, (size_t)n);
	}
	framer_finish(&s->framer, on_event, s);
	if (s->batch_n)
		flush_batch(s);
	ring_close(s->out);
	V2X_TP(stage_stop, "can_rx", rt_counter_get(&s->ctr.in), rt_counter_get(&s->ctr.out),
	       rt_counters_dropped_total(&s->ctr));
	return NULL;
}

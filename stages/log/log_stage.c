/* log_stage.c - the logging stage's two threads (see log_stage.h). */
#include "stages/log/log_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "vehicle/vstate.h"
#include "stages/log/csv_format.h"
#include "trace/tp.h"

#define LOG_TICK_NS (10 * RT_NS_PER_MS)


void log_stage_conf_init(struct log_stage_conf *conf, const char *out_dir)
{
	memset(conf, 0, sizeof(*conf));
	conf->out_dir = out_dir;
	conf->flush_ns = 100 * RT_NS_PER_MS;
	conf->fsync_ns = 1000 * RT_NS_PER_MS;
	conf->snapshot_ns = 4 * RT_NS_PER_SEC;
	conf->snapshot_rows = 1000;
	conf->merged_ns = 1 * RT_NS_PER_SEC;
	conf->ifname = "can0";
	CPU_ZERO(&conf->house_cpus);
}

/* ---- windows of the latest rows ---- */

static int window_init(struct log_window *w, unsigned cap)
{
	w->cap = cap;
	w->head = w->count = 0;
	w->slots = calloc(cap, LOG_ROW_MAX);
	w->len = calloc(cap, sizeof(*w->len));
	return w->slots && w->len ? 0 : -ENOMEM;
}

static void window_fini(struct log_window *w)
{
	free(w->slots);
	free(w->len);
	w->slots = NULL;
	w->len = NULL;
}

static void window_add(struct log_window *w, const char *row, size_t len)
{
	if (len > LOG_ROW_MAX)
		len = LOG_ROW_MAX; /* cannot happen with the formatters' maxima; never overflow a slot */
	memcpy(w->slots + (size_t)w->head * LOG_ROW_MAX, row, len);
	w->len[w->head] = (uint16_t)len;
	w->head = w->head + 1 == w->cap ? 0 : w->head + 1;
	if (w->count < w->cap)
		w->count++;
}

/* Copies the window, oldest row first, into b.  Returns the bytes copied. */
static size_t window_copy(const struct log_window *w, struct log_snap_buf *b)
{
	unsigned idx = (w->head + w->cap - w->count) % w->cap;
	size_t off = 0;

	for (unsigned i = 0; i < w->count; i++) {
		memcpy(b->data + off, w->slots + (size_t)idx * LOG_ROW_MAX, w->len[idx]);
		off += w->len[idx];
		idx = idx + 1 == w->cap ? 0 : idx + 1;
	}
	b->rows = w->count;
	b->bytes = off;
	return off;
}

static int file_in_error(struct logfile *lf)
{
	return atomic_load_explicit(&lf->stats.in_error, memory_order_relaxed) != 0;
}

/* Rows that never reached the file: refused while the buffer was full, and still buffered at close. */
static uint64_t file_lost(struct logfile *lf)
{
	return rt_counter_get(&lf->stats.rows_dropped) + rt_counter_get(&lf->stats.rows_lost);
}

/* ---- the io thread: snapshots and fsyncs ---- */

static const char *snap_name(uint32_t kind)
{
	return kind == LOG_SNAP_CAN ? "can_data_snapshot.csv" : "gps_data_snapshot.csv";
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes a snapshot to <name>.tmp, fsyncs it and renames it over <name>: readers see the old or the new file. */
static void write_snapshot(struct log_stage *ls, const struct log_snap_buf *b)
{
	char path[4096], tmp[4120];
	const char *header = b->kind == LOG_SNAP_CAN ? CSV_CAN_DATA_HEADER : CSV_GPS_DATA_HEADER;
	uint64_t t0 = rt_mono_ns();
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", ls->conf.out_dir, snap_name(b->kind));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = write_all(fd, header, strlen(header));
	if (rc == 0)
		rc = write_all(fd, b->data, b->bytes);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		goto fail;
	}
	uint64_t t1 = rt_mono_ns();
	V2X_TP(snapshot_written, b->kind, (uint64_t)(strlen(header) + b->bytes), t1 - t0);
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		V2X_TP(snapshot_renamed, b->kind, -rc);
		goto fail;
	}
	V2X_TP(snapshot_renamed, b->kind, 0);
	uint64_t dur = rt_mono_ns() - t0;
	rt_count(&ls->snapshots_written, 1);
	atomic_store_explicit(&ls->snapshot_last_bytes, strlen(header) + b->bytes, memory_order_relaxed);
	uint64_t mn = atomic_load_explicit(&ls->snapshot_min_ns, memory_order_relaxed);
	if (mn == 0 || dur < mn)
		atomic_store_explicit(&ls->snapshot_min_ns, dur, memory_order_relaxed);
	rt_count_max(&ls->snapshot_max_ns, dur);
	return;
fail:
	rt_count(&ls->snapshot_errors, 1);
}

static bool io_ready(void *arg)
{
	struct log_stage *ls = arg;
	return ring_count(&ls->snap_full) > 0 || ring_count(&ls->sync_req) > 0 ||
	       atomic_load_explicit(&ls->io_stop, memory_order_acquire);
}

static void *io_thread(void *arg)
{
	struct log_stage *ls = arg;

	for (;;) {
		uint32_t idx;
		int fd;
		int did = 0;
		/* Read the stop flag before draining: whatever was queued before it was set is handled first. */
		int stopping = atomic_load_explicit(&ls->io_stop, memory_order_acquire);

		while (ring_pop(&ls->sync_req, &fd)) {
			if (fsync(fd) < 0)
				rt_count(&ls->fsync_errors, 1);
			else
				rt_count(&ls->fsyncs, 1);
			close(fd);
			did = 1;
		}
		while (ring_pop(&ls->snap_full, &idx)) {
			write_snapshot(ls, &ls->bufs[idx]);
			/* Cannot fail: the free ring holds every buffer index at most once. */
			ring_push(&ls->snap_free, &idx);
			did = 1;
		}
		if (did)
			continue;
		if (stopping)
			break;
		rt_waiter_wait(&ls->io_waiter, io_ready, ls, -1);
	}
	return NULL;
}

/* The log files' fsync hook: runs on the log thread, hands the dup()ed descriptor to the io thread. */
static int sync_hook(void *ctx, int dup_fd)
{
	struct log_stage *ls = ctx;

	/* The ring notifies the io thread.  When it is full the io thread is far behind: refuse, and the writer closes
	 * the descriptor (logfile.h's contract); the next interval's fsync covers this one. */
	return ring_push(&ls->sync_req, &dup_fd) ? 0 : -EAGAIN;
}

/* ---- the log thread ---- */

static int open_file(struct log_stage *ls, struct logfile *lf, const char *base, const char *ext,
		     enum logfile_naming naming, const char *header, int rotating, size_t buf)
{
	struct logfile_conf c;

	memset(&c, 0, sizeof(c));
	c.dir = ls->conf.out_dir;
	c.base = base; /* FIXED: rolled to <base>_YYYYMMDD_HHMMSS<ext>; STAMPED: a strftime pattern */
	c.ext = ext;
	c.naming = naming;
	c.header = header;
	c.buf_bytes = buf;
	/* The thread ticks at least every LOG_TICK_NS: flushing that much early puts every row in the file within
	 * flush_ns of its arrival. */
	c.flush_interval_ns = ls->conf.flush_ns > 2 * LOG_TICK_NS ? ls->conf.flush_ns - LOG_TICK_NS : ls->conf.flush_ns / 2;
	c.fsync_interval_ns = ls->conf.fsync_ns;
	if (rotating) {
		c.rotate_bytes = ls->conf.rotate_bytes;
		c.rotate_hourly = ls->conf.rotate_hourly;
	}
	c.sync_fn = sync_hook;
	c.sync_ctx = ls;
	return logfile_open(lf, &c, rt_real_ns());
}

int log_stage_init(struct log_stage *ls, const struct log_stage_conf *conf, struct ring *in, struct rt_waiter *waiter,
		   struct rcu_pub *state)
{
	/* 4 MiB holds 8 s of can_data rows at bus rate (rows wait there while the disk is full); at far higher
	 * rates a full buffer is simply written out early. */
	size_t big = conf->buffer_bytes ? conf->buffer_bytes : 4u << 20;
	size_t small = conf->buffer_bytes ? conf->buffer_bytes : 512u << 10;
	int rc;

	memset(ls, 0, sizeof(*ls));
	ls->conf = *conf;
	ls->in = in;
	ls->waiter = waiter;
	ls->state = state;
	/* Rows lost are counted once, per file, in each logfile's statistics (file_lost()). */
	rt_counters_init(&ls->ctr, "log", NULL, 0);
	rt_hist_init(&ls->rx_to_logged_ns);
	rt_hist_init(&ls->rx_to_file_ns);
	rt_waiter_init(&ls->io_waiter, RT_WAIT_SLEEP, 0);
	rc = window_init(&ls->can_win, conf->snapshot_rows);
	if (rc == 0)
		rc = window_init(&ls->gps_win, conf->snapshot_rows);
	for (unsigned i = 0; rc == 0 && i < LOG_SNAP_BUFFERS; i++) {
		ls->bufs[i].kind = i % 2;
		ls->bufs[i].cap = (size_t)conf->snapshot_rows * LOG_ROW_MAX;
		ls->bufs[i].data = malloc(ls->bufs[i].cap);
		if (!ls->bufs[i].data)
			rc = -ENOMEM;
		else
			memset(ls->bufs[i].data, 0, ls->bufs[i].cap);
	}
	if (rc == 0)
		rc = ring_init(&ls->snap_free, "snap_free", sizeof(uint32_t), LOG_SNAP_BUFFERS * 2, NULL);
	if (rc == 0)
		rc = ring_init(&ls->snap_full, "snap_full", sizeof(uint32_t), LOG_SNAP_BUFFERS * 2, &ls->io_waiter);
	if (rc == 0)
		rc = ring_init(&ls->sync_req, "sync_req", sizeof(int), 64, &ls->io_waiter);
	for (uint32_t i = 0; rc == 0 && i < LOG_SNAP_BUFFERS; i++)
		ring_push(&ls->snap_free, &i);
	if (rc == 0)
		rc = open_file(ls, &ls->can_csv, "can_data", ".csv", LOGFILE_FIXED, CSV_CAN_DATA_HEADER, 1, big);
	if (rc == 0)
		rc = open_file(ls, &ls->candump, "can_%Y%m%d_%H%M%S", ".log", LOGFILE_STAMPED, NULL, 1, big);
	if (rc == 0)
		rc = open_file(ls, &ls->gps_csv, "gps_data", ".csv", LOGFILE_FIXED, CSV_GPS_DATA_HEADER, 1, small);
	if (rc == 0 && state)
		rc = open_file(ls, &ls->merged, "merged_can_data_%Y%m%d_%H%M", ".csv", LOGFILE_STAMPED,
			       CSV_MERGED_HEADER, 1, small);
	return rc;
}

/* Hands the window of kind to the io thread if a buffer is free; never waits. */
static void snapshot(struct log_stage *ls, uint32_t kind)
{
	uint32_t idx;
	uint64_t t0 = rt_mono_ns();

	/* Free buffers are interchangeable: the kind is set on hand-over. */
	if (!ring_pop(&ls->snap_free, &idx)) {
		rt_count(&ls->snapshots_skipped, 1);
		return;
	}
	struct log_snap_buf *b = &ls->bufs[idx];
	b->kind = kind;
	window_copy(kind == LOG_SNAP_CAN ? &ls->can_win : &ls->gps_win, b);
	V2X_TP(snapshot_handoff, kind, b->rows, rt_mono_ns() - t0);
	ring_push(&ls->snap_full, &idx);
}

static void merged_row(struct log_stage *ls)
{
	char *dst = logfile_reserve(&ls->merged, CSV_MERGED_ROW_MAX);
	size_t len = 0;

	if (!dst) {
		logfile_count_dropped(&ls->merged, 1, 0);
		return;
	}
	rcu_read_lock();
	const struct vstate *s = rcu_pub_read(ls->state);
	if (s->updated_real_ns != 0)
		len = csv_merged_row(dst, CSV_MERGED_ROW_MAX, rt_real_ns(), s);
	rcu_read_unlock();
	if (len)
		logfile_commit(&ls->merged, len); /* nothing published yet: no row */
}

/* One record: rows into the file buffers and the windows. */
static void log_record(struct log_stage *ls, const struct rx_record *r, struct csv_gps_suffix *gps)
{
	char *dst;
	size_t len;

	if (r->type == REC_CAN) {
		dst = logfile_reserve(&ls->can_csv, CSV_CAN_ROW_MAX);
		if (dst) {
			len = csv_can_row(dst, CSV_CAN_ROW_MAX, r, gps);
			window_add(&ls->can_win, dst, len);
			logfile_commit(&ls->can_csv, len);
			if (ls->oldest_unflushed_rx_mono_ns == 0)
				ls->oldest_unflushed_rx_mono_ns = r->rx_mono_ns;
		} else {
			logfile_count_dropped(&ls->can_csv, 1, 0);
		}
		dst = logfile_reserve(&ls->candump, CANDUMP_LINE_MAX + 16);
		if (dst) {
			len = candump_line(dst, CANDUMP_LINE_MAX + 16, r->rx_real_ns, ls->conf.ifname, &r->u.can);
			logfile_commit(&ls->candump, len);
		} else {
			logfile_count_dropped(&ls->candump, 1, 0);
		}
		V2X_TP(log_row, r->seq, r->rx_mono_ns);
	} else if (r->type == REC_GPS) {
		ls->fix = r->u.gps;
		ls->have_fix = 1;
		csv_gps_suffix_update(gps, &ls->fix);
		dst = logfile_reserve(&ls->gps_csv, CSV_GPS_ROW_MAX);
		if (dst) {
			len = csv_gps_row(dst, CSV_GPS_ROW_MAX, r->rx_real_ns, &r->u.gps);
			window_add(&ls->gps_win, dst, len);
			logfile_commit(&ls->gps_csv, len);
		} else {
			logfile_count_dropped(&ls->gps_csv, 1, 0);
		}
	}
}

static void tick(struct log_stage *ls, uint64_t now)
{
	int64_t real = rt_real_ns();
	uint64_t before = rt_counter_get(&ls->can_csv.stats.flushes);

	logfile_tick(&ls->can_csv, now, real);
	if (rt_counter_get(&ls->can_csv.stats.flushes) != before && ls->oldest_unflushed_rx_mono_ns) {
		/* Every row of that buffer is in the file now: record the oldest row's wait. */
		rt_hist_record(&ls->rx_to_file_ns, rt_mono_ns() - ls->oldest_unflushed_rx_mono_ns);
		ls->oldest_unflushed_rx_mono_ns = 0;
	}
	logfile_tick(&ls->candump, now, real);
	logfile_tick(&ls->gps_csv, now, real);
	if (ls->state)
		logfile_tick(&ls->merged, now, real);
	if (now >= ls->next_snapshot_mono_ns) {
		snapshot(ls, LOG_SNAP_CAN);
		snapshot(ls, LOG_SNAP_GPS);
		ls->next_snapshot_mono_ns = now + ls->conf.snapshot_ns;
	}
	if (ls->state && now >= ls->next_merged_mono_ns) {
		merged_row(ls);
		ls->next_merged_mono_ns = now + ls->conf.merged_ns;
	}
}

void *log_stage_thread(void *arg)
{
	struct log_stage *ls = arg;
	struct csv_gps_suffix gps;
	uint64_t now = rt_mono_ns();

	rcu_register_thread();
	csv_gps_suffix_init(&gps);
	ls->next_snapshot_mono_ns = now + ls->conf.snapshot_ns;
	ls->next_merged_mono_ns = now + ls->conf.merged_ns;
	/* Wake at least every LOG_TICK_NS for flushes and snapshots when no record comes. */
	const int64_t idle_ns = LOG_TICK_NS;

	for (;;) {
		size_t n;
		const struct rx_record *recs = ring_peek(ls->in, &n);

		if (n == 0) {
			if (ring_is_drained(ls->in))
				break;
			tick(ls, rt_mono_ns());
			(void)ring_wait(ls->in, idle_ns);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			log_record(ls, &recs[i], &gps);
		now = rt_mono_ns();
		for (size_t i = 0; i < n; i++)
			rt_hist_record(&ls->rx_to_logged_ns, now - recs[i].rx_mono_ns);
		rt_count(&ls->ctr.in, n);
		rt_count(&ls->ctr.out, n);
		ring_release(ls->in, n);
		tick(ls, now);
	}
	/* Drained: the last snapshots show the final rows; then every file is flushed and fsynced. */
	snapshot(ls, LOG_SNAP_CAN);
	snapshot(ls, LOG_SNAP_GPS);
	if (ls->state)
		merged_row(ls);
	struct logfile *files[4] = {&ls->can_csv, &ls->candump, &ls->gps_csv, &ls->merged};
	for (int i = 0; i < (ls->state ? 4 : 3); i++) {
		int rc = logfile_close(files[i]);
		int none = 0;
		if (rc < 0)
			atomic_compare_exchange_strong(&ls->close_errno, &none, -rc);
	}
	if (ls->oldest_unflushed_rx_mono_ns) {
		rt_hist_record(&ls->rx_to_file_ns, rt_mono_ns() - ls->oldest_unflushed_rx_mono_ns);
		ls->oldest_unflushed_rx_mono_ns = 0;
	}
	/* The io thread writes what was handed over, then ends; log_stage_fini() joins it. */
	atomic_store_explicit(&ls->io_stop, 1, memory_order_release);
	rt_waiter_kick(&ls->io_waiter);
	V2X_TP(stage_stop, "log", rt_counter_get(&ls->ctr.in), rt_counter_get(&ls->ctr.out),
	       file_lost(&ls->can_csv) + file_lost(&ls->candump) + file_lost(&ls->gps_csv) + file_lost(&ls->merged));
	rcu_unregister_thread();
	return NULL;
}

int log_stage_start_io(struct log_stage *ls)
{
	struct rt_thread_conf tc;

	rt_thread_conf_init(&tc, "v2x-log-io");
	tc.cpus = ls->conf.house_cpus; /* empty: any online CPU */
	int rc = rt_thread_start(&ls->io_thread, &tc, io_thread, ls);
	if (rc == 0)
		ls->io_started = 1;
	return rc;
}

int log_stage_fini(struct log_stage *ls)
{
	if (ls->io_started) {
		/* normally set by the log thread when it finished; set here too for the paths where it never ran */
		atomic_store_explicit(&ls->io_stop, 1, memory_order_release);
		rt_waiter_kick(&ls->io_waiter);
		rt_thread_join(&ls->io_thread);
		ls->io_started = 0;
	}
	/* Files the log thread did not close (it never ran): flushed and closed here.  Safe on closed files. */
	logfile_close(&ls->can_csv);
	logfile_close(&ls->candump);
	logfile_close(&ls->gps_csv);
	logfile_close(&ls->merged);
	uint64_t lost = file_lost(&ls->can_csv) + file_lost(&ls->candump) + file_lost(&ls->gps_csv) +
			(ls->state ? file_lost(&ls->merged) : 0);
	int fd;

	while (ls->sync_req.slots && ring_pop(&ls->sync_req, &fd))
		close(fd);
	window_fini(&ls->can_win);
	window_fini(&ls->gps_win);
	for (unsigned i = 0; i < LOG_SNAP_BUFFERS; i++) {
		free(ls->bufs[i].data);
		ls->bufs[i].data = NULL;
	}
	ring_fini(&ls->snap_free);
	ring_fini(&ls->snap_full);
	ring_fini(&ls->sync_req);
	return lost || atomic_load(&ls->close_errno) ? -EIO : 0;
}

void log_stage_get_status(struct log_stage *ls, struct log_stage_status *st)
{
	memset(st, 0, sizeof(*st));
	/* The fix is the log thread's; the published vehicle state carries the same fix for readers. */
	if (ls->state) {
		rcu_read_lock();
		const struct vstate *s = rcu_pub_read(ls->state);
		if (s->gps_real_ns) {
			st->have_fix = 1;
			st->fix_valid = s->gps.valid;
			st->lat_deg = s->gps.lat_deg;
			st->lon_deg = s->gps.lon_deg;
			st->sats = s->gps.sats;
		}
		rcu_read_unlock();
	}
	st->disk_error = file_in_error(&ls->can_csv) || file_in_error(&ls->candump) ||
			 file_in_error(&ls->gps_csv) || (ls->state && file_in_error(&ls->merged));
	st->rows_lost_can = file_lost(&ls->can_csv);
	st->rows_lost_candump = file_lost(&ls->candump);
	st->rows_lost_gps = file_lost(&ls->gps_csv);
	st->rows_lost_merged = ls->state ? file_lost(&ls->merged) : 0;
	st->rows_lost = st->rows_lost_can + st->rows_lost_candump + st->rows_lost_gps + st->rows_lost_merged;
	st->close_errno = atomic_load_explicit(&ls->close_errno, memory_order_relaxed);
	st->snapshots_written = rt_counter_get(&ls->snapshots_written);
	st->snapshots_skipped = rt_counter_get(&ls->snapshots_skipped);
}

void log_stage_report(struct log_stage *ls)
{
	static const char *const names[4] = {"can_data.csv", "candump log", "gps_data.csv", "merged_can_data"};
	struct logfile *files[4] = {&ls->can_csv, &ls->candump, &ls->gps_csv, &ls->merged};

	for (int i = 0; i < 4; i++) {
		if (i == 3 && !ls->state)
			break;
		unsigned ev = logfile_events_take(files[i]);
		if (ev & LOGFILE_EV_ERROR)
			rt_err("%s: write failed: %s; rows are kept in memory and retried, and counted when lost", names[i],
			       strerror((int)rt_counter_get(&files[i]->stats.last_errno)));
		if (ev & LOGFILE_EV_RECOVERED)
			rt_warn("%s: writing again; %llu rows lost so far", names[i],
				(unsigned long long)file_lost(files[i]));
	}
}

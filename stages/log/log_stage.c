/* log_stage.c - the logging stage's thread and its table of sinks (see log_stage.h). */
#include "stages/log/log_stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "stages/can_rx/candump.h"
#include "stages/log/csv_format.h"
#include "trace/tp.h"
#include "vehicle/vstate.h"

#define LOG_PEEK_MAX 256 /* records or lines handled per input before looking at the others */
#define LOG_DUMP_MAX (CANDUMP_LINE_MAX + 16) /* a candump line with the longest ifname (15) */

void log_stage_conf_init(struct log_stage_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	strcpy(conf->out_dir, ".");
	conf->flush_ns = 100 * RT_NS_PER_MS;
	conf->fsync_ns = 1000 * RT_NS_PER_MS;
	conf->snapshot_ns = 4 * RT_NS_PER_SEC;
	conf->snapshot_rows = 1000;
	conf->merged_ns = 1 * RT_NS_PER_SEC;
	strcpy(conf->ifname, "can0");
	CPU_ZERO(&conf->house_cpus);
	/* Measured (docs/performance.md): rows reach the writer's buffer within 10 ms, and at bus rate the thread
	 * wakes about 100 times a second instead of once per batch of the receiver. */
	conf->budget_ns = 10 * RT_NS_PER_MS;
	conf->wake_records = 1024;
	rt_sched_conf_init(&conf->sched, SCHED_OTHER, 70);
}

static int file_in_error(struct logfile *lf)
{
	return atomic_load_explicit(&lf->stats.in_error, memory_order_relaxed) != 0;
}

/* Rows that are in no file: refused while the buffer was full, still buffered at close, and written to a file that
 * someone else then removed. */
static uint64_t file_lost(struct logfile *lf)
{
	return rt_counter_get(&lf->stats.rows_dropped) + rt_counter_get(&lf->stats.rows_lost) +
	       rt_counter_get(&lf->stats.rows_unlinked);
}

/* Opens sink i's file.  Returns 0 or -errno. */
static int sink_open(struct log_stage *ls, struct log_sink *sk, const char *base, const char *ext,
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
	/* A row waits up to one budget in its ring before it is buffered, and a due flush waits for the next tick (the
	 * thread ticks at least every budget_ns): flushing two budgets early puts every row in the file within flush_ns
	 * of its arrival (a write that takes long aside).  With one budget early, rx->file p99 was 92 to 107 ms at
	 * --flush-ms 100. */
	uint64_t tick = ls->conf.budget_ns;
	c.flush_interval_ns = ls->conf.flush_ns > 4 * tick ? ls->conf.flush_ns - 2 * tick : ls->conf.flush_ns / 2;
	c.fsync_interval_ns = ls->conf.fsync_ns;
	if (rotating) {
		c.rotate_bytes = ls->conf.rotate_bytes;
		c.rotate_hourly = ls->conf.rotate_hourly;
	}
	c.sync_fn = rt_snap_sync_hook;
	c.sync_ctx = &ls->snaps;
	int rc = logfile_open(&sk->file, &c, rt_real_ns());
	if (rc == 0)
		sk->active = 1;
	return rc;
}

/* Adds a sink to the table.  Returns its index or -errno. */
static int sink_add(struct log_stage *ls, const char *name, enum log_sink_kind kind, const char *base, const char *ext,
		    enum logfile_naming naming, const char *header, int rotating, size_t buf, const char *snapshot,
		    size_t row_max)
{
	if (ls->n_sinks == LOG_MAX_SINKS)
		return -ENOSPC;
	int i = (int)ls->n_sinks++;
	struct log_sink *sk = &ls->sinks[i];
	sk->name = name;
	sk->kind = kind;
	sk->snap = -1;
	if (snapshot) {
		int k = rt_snap_add(&ls->snaps, snapshot, header, ls->conf.snapshot_rows, row_max);
		if (k < 0)
			return k;
		sk->snap = k;
		/* A restarted daemon's first snapshot still shows the recent past (a missing file seeds nothing). */
		(void)rt_snap_seed(&ls->snaps, k);
	}
	int rc = sink_open(ls, sk, base, ext, naming, header, rotating, buf);
	return rc < 0 ? rc : i;
}

int log_stage_init(struct log_stage *ls, const struct log_stage_conf *conf, struct ring *const *in,
		   const struct log_line_sinks *const *in_sinks, size_t n_in, struct rt_waiter *waiter,
		   struct rcu_pub *state)
{
	/* 4 MiB holds 8 s of can_data rows at bus rate (rows wait there while the disk is full); at far higher
	 * rates a full buffer is simply written out early. */
	size_t big = conf->buffer_bytes ? conf->buffer_bytes : 4u << 20;
	size_t small = conf->buffer_bytes ? conf->buffer_bytes : 512u << 10;
	int rc, has_records = 0;

	memset(ls, 0, sizeof(*ls));
	ls->conf = *conf;
	ls->waiter = waiter;
	ls->state = state;
	ls->can_csv = ls->candump = ls->gps_csv = ls->merged = -1;
	rt_counters_init(&ls->ctr, "log", NULL, 0);
	rt_hist_init(&ls->rx_to_logged_ns);
	rt_hist_init(&ls->rx_to_file_ns);
	csv_gps_suffix_init(&ls->gps);
	csv_can_ctx_init(&ls->can_ctx, conf->ifname);
	if (n_in > RT_PIPELINE_MAX_PORTS)
		return -EINVAL;
	rc = rt_snap_init(&ls->snaps, conf->out_dir);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n_in; i++) {
		ls->inputs[i].ring = in[i];
		ls->inputs[i].lines = in_sinks && in_sinks[i];
		has_records |= !ls->inputs[i].lines;
		/* Coalesced wake-ups: the thread wakes every budget_ns anyway; producers wake it early only when many
		 * records wait, well before a ring could fill. */
		ring_set_wake_batch(in[i], conf->wake_records < ring_capacity(in[i]) / 2 ? conf->wake_records
											 : (uint32_t)(ring_capacity(in[i]) / 2));
	}
	ls->n_inputs = n_in;
	if (has_records) {
		if ((rc = sink_add(ls, "can_data.csv", LOG_SINK_CAN_CSV, "can_data", ".csv", LOGFILE_FIXED,
				   CSV_CAN_DATA_HEADER, 1, big, "can_data_snapshot.csv", CSV_CAN_ROW_MAX)) < 0)
			return rc;
		ls->can_csv = rc;
		if ((rc = sink_add(ls, "candump log", LOG_SINK_CANDUMP, "can_%Y%m%d_%H%M%S", ".log", LOGFILE_STAMPED, NULL,
				   1, big, NULL, 0)) < 0)
			return rc;
		ls->candump = rc;
		if ((rc = sink_add(ls, "gps_data.csv", LOG_SINK_GPS_CSV, "gps_data", ".csv", LOGFILE_FIXED,
				   CSV_GPS_DATA_HEADER, 1, small, "gps_data_snapshot.csv", CSV_GPS_ROW_MAX)) < 0)
			return rc;
		ls->gps_csv = rc;
		/* Runs reserve their longest lines at once: a quarter of a buffer at most, so that a small buffer
		 * (buffer_kb) still takes runs whole instead of falling back to frame by frame. */
		size_t run = ls->sinks[ls->can_csv].file.cap / (4 * CSV_CAN_ROW_MAX);
		if (ls->sinks[ls->candump].file.cap / (4 * LOG_DUMP_MAX) < run)
			run = ls->sinks[ls->candump].file.cap / (4 * LOG_DUMP_MAX);
		ls->can_run_max = run < 1 ? 1 : run > LOG_PEEK_MAX ? LOG_PEEK_MAX : run;
	}
	if (state) {
		if ((rc = sink_add(ls, "merged_can_data", LOG_SINK_MERGED, "merged_can_data_%Y%m%d_%H%M", ".csv",
				   LOGFILE_STAMPED, CSV_MERGED_HEADER, 1, small, NULL, 0)) < 0)
			return rc;
		ls->merged = rc;
	}
	for (size_t i = 0; i < n_in; i++) {
		if (!ls->inputs[i].lines)
			continue;
		ls->inputs[i].first_sink = (int)ls->n_sinks;
		ls->inputs[i].n_sinks = (int)in_sinks[i]->n;
		for (size_t k = 0; k < in_sinks[i]->n; k++) {
			const struct log_line_sink *d = &in_sinks[i]->sinks[k];
			if ((rc = sink_add(ls, d->base, LOG_SINK_LINES, d->base, d->ext, d->naming, d->header, d->rotating,
					   small, NULL, 0)) < 0)
				return rc;
		}
	}
	rc = rt_snap_start_io(&ls->snaps, &conf->house_cpus);
	if (rc == 0)
		ls->io_started = 1;
	return rc;
}

static void merged_row(struct log_stage *ls)
{
	struct logfile *lf = &ls->sinks[ls->merged].file;
	char *dst = logfile_reserve(lf, CSV_MERGED_ROW_MAX);
	size_t len = 0;

	if (!dst) {
		logfile_count_dropped(lf, 1, 0);
		return;
	}
	rcu_read_lock();
	const struct vstate *s = rcu_pub_read(ls->state);
	if (s->updated_real_ns != 0)
		len = csv_merged_row(dst, CSV_MERGED_ROW_MAX, rt_real_ns(), s);
	rcu_read_unlock();
	if (len)
		logfile_commit(lf, len); /* nothing published yet: no row */
}

/* Formats one row into sink i's buffer (and its snapshot window).  fmt returns the row's length. */
#define LOG_ROW(ls, i, max, fmt_expr)                                                                               \
	do {                                                                                                        \
		struct log_sink *sk_ = &(ls)->sinks[(i)];                                                           \
		char *dst = logfile_reserve(&sk_->file, (max));                                                     \
		if (dst) {                                                                                          \
			size_t len_ = (fmt_expr);                                                                   \
			if (sk_->snap >= 0)                                                                         \
				rt_snap_rows(&(ls)->snaps, sk_->snap, dst, len_);                                   \
			logfile_commit(&sk_->file, len_);                                                           \
		} else {                                                                                            \
			logfile_count_dropped(&sk_->file, 1, 0);                                                    \
		}                                                                                                   \
	} while (0)

/*
 * One CAN frame, each line straight into its file's buffer; a file whose buffer is full gets the line formatted into
 * scratch space and counted dropped.  Returns 1 when the can_data row was buffered.
 */
static int log_can_one(struct log_stage *ls, const struct rx_record *r)
{
	struct log_sink *cs = &ls->sinks[ls->can_csv], *ds = &ls->sinks[ls->candump];
	char row_tmp[CSV_CAN_ROW_MAX], dump_tmp[LOG_DUMP_MAX];
	char *row = logfile_reserve(&cs->file, CSV_CAN_ROW_MAX);
	char *dump = logfile_reserve(&ds->file, LOG_DUMP_MAX);
	size_t row_len, dump_len;

	csv_can_lines(&ls->can_ctx, r, &ls->gps, row ? row : row_tmp, &row_len, dump ? dump : dump_tmp, &dump_len);
	if (row) {
		rt_snap_rows(&ls->snaps, cs->snap, row, row_len);
		logfile_commit(&cs->file, row_len);
	} else {
		logfile_count_dropped(&cs->file, 1, 0);
	}
	if (dump)
		logfile_commit(&ds->file, dump_len);
	else
		logfile_count_dropped(&ds->file, 1, 0);
	if (ls->oldest_unflushed_rx_mono_ns == 0)
		ls->oldest_unflushed_rx_mono_ns = r->rx_mono_ns;
	V2X_TP(log_row, r->link, r->seq, r->rx_mono_ns);
	return row != NULL;
}

/*
 * A run of n CAN frames of one link: when both buffers take n lines of the longest length, every line is formatted
 * in place in one pass and committed (and the rows appended to the snapshot window) at once; otherwise frame by
 * frame, so a full buffer loses exactly the lines it cannot take.  Ends with one log_batch event for the rows
 * buffered (count below last_seq - first_seq + 1 when some were refused).
 */
static void log_can_run(struct log_stage *ls, const struct rx_record *recs, size_t n)
{
	struct log_sink *cs = &ls->sinks[ls->can_csv], *ds = &ls->sinks[ls->candump];
	char *row = logfile_reserve(&cs->file, n * CSV_CAN_ROW_MAX);
	char *dump = row ? logfile_reserve(&ds->file, n * LOG_DUMP_MAX) : NULL;

	if (!dump) {
		uint64_t first = 0, last = 0;
		uint32_t count = 0;
		for (size_t k = 0; k < n; k++) {
			if (log_can_one(ls, &recs[k])) {
				if (count++ == 0)
					first = recs[k].seq;
				last = recs[k].seq;
			}
		}
		if (count)
			V2X_TP(log_batch, recs[0].link, first, last, count);
		return;
	}
	size_t row_bytes, dump_bytes;
	csv_can_lines_run(&ls->can_ctx, recs, n, &ls->gps, row, &row_bytes, dump, &dump_bytes);
	rt_snap_rows(&ls->snaps, cs->snap, row, row_bytes);
	logfile_commit_rows(&cs->file, row_bytes, n);
	logfile_commit_rows(&ds->file, dump_bytes, n);
	if (ls->oldest_unflushed_rx_mono_ns == 0)
		ls->oldest_unflushed_rx_mono_ns = recs[0].rx_mono_ns;
	if (V2X_TP_ENABLED(log_row))
		for (size_t k = 0; k < n; k++)
			V2X_TP(log_row, recs[k].link, recs[k].seq, recs[k].rx_mono_ns);
	V2X_TP(log_batch, recs[0].link, recs[0].seq, recs[n - 1].seq, (uint32_t)n);
}

/* Records in ring order: runs of CAN frames of one link go through log_can_run, GPS fixes one by one. */
static void log_records(struct log_stage *ls, const struct rx_record *recs, size_t n)
{
	size_t k = 0;

	while (k < n) {
		const struct rx_record *r = &recs[k];
		if (r->type == REC_CAN) {
			size_t j = k + 1, end = n - k > ls->can_run_max ? k + ls->can_run_max : n;
			while (j < end && recs[j].type == REC_CAN && recs[j].link == r->link)
				j++;
			log_can_run(ls, r, j - k);
			k = j;
			continue;
		}
		if (r->type == REC_GPS) {
			csv_gps_suffix_update(&ls->gps, &r->u.gps);
			LOG_ROW(ls, ls->gps_csv, CSV_GPS_ROW_MAX,
				csv_gps_row(dst, CSV_GPS_ROW_MAX, r->rx_real_ns, &r->u.gps));
		}
		k++;
	}
}

/* One line from a producer: appended whole to the file it names. */
static void log_line(struct log_stage *ls, struct log_input *in, const struct log_line *l)
{
	if (l->sink >= in->n_sinks || l->len == 0 || l->len > LOG_LINE_MAX || l->text[l->len - 1] != '\n') {
		rt_count(&in->bad_lines, 1);
		return;
	}
	(void)logfile_append(&ls->sinks[in->first_sink + l->sink].file, l->text, l->len); /* -ENOBUFS: counted */
}

static void tick(struct log_stage *ls, uint64_t now)
{
	int64_t real = rt_real_ns();

	for (size_t i = 0; i < ls->n_sinks; i++) {
		struct log_sink *sk = &ls->sinks[i];
		if ((int)i == ls->can_csv) {
			uint64_t before = rt_counter_get(&sk->file.stats.flushes);
			logfile_tick(&sk->file, now, real);
			if (rt_counter_get(&sk->file.stats.flushes) != before && ls->oldest_unflushed_rx_mono_ns) {
				/* Every row of that buffer is in the file now: record the oldest row's wait. */
				rt_hist_record(&ls->rx_to_file_ns, rt_mono_ns() - ls->oldest_unflushed_rx_mono_ns);
				ls->oldest_unflushed_rx_mono_ns = 0;
			}
		} else {
			logfile_tick(&sk->file, now, real);
		}
	}
	if (now >= ls->next_snapshot_mono_ns) {
		for (size_t i = 0; i < ls->n_sinks; i++)
			if (ls->sinks[i].snap >= 0)
				rt_snap_take(&ls->snaps, ls->sinks[i].snap);
		ls->next_snapshot_mono_ns = now + ls->conf.snapshot_ns;
	}
	if (ls->merged >= 0 && now >= ls->next_merged_mono_ns) {
		merged_row(ls);
		ls->next_merged_mono_ns = now + ls->conf.merged_ns;
	}
}

/*
 * Ready when an input holds a wake batch, or a closed input still holds records, or every input is drained.  A closed
 * and empty input alone is not a reason to wake: one producer ending early (can_rx at a stop, before v2g) must not
 * turn the wait into a busy loop (regression: test_mt_log_stage's one_input_closed_does_not_spin).
 */
static bool any_ready_batch(void *arg)
{
	struct log_stage *ls = arg;
	bool all_drained = true;
	for (size_t i = 0; i < ls->n_inputs; i++) {
		struct ring *r = ls->inputs[i].ring;
		size_t n = ring_count(r);
		bool closed = atomic_load_explicit(&r->closed, memory_order_acquire);
		if (n >= r->wake_batch || (closed && n > 0))
			return true;
		all_drained &= closed && n == 0;
	}
	return all_drained;
}

/* Takes up to LOG_PEEK_MAX units from input i.  Returns how many. */
static size_t drain_input(struct log_stage *ls, struct log_input *in)
{
	size_t n;
	const void *p = ring_peek(in->ring, &n);

	if (n == 0)
		return 0;
	if (n > LOG_PEEK_MAX)
		n = LOG_PEEK_MAX;
	uint64_t now;
	if (in->lines) {
		const struct log_line *lines = p;
		for (size_t k = 0; k < n; k++)
			log_line(ls, in, &lines[k]);
		now = rt_mono_ns();
		for (size_t k = 0; k < n; k++)
			if (lines[k].rx_mono_ns)
				rt_hist_record(&ls->rx_to_logged_ns, now - lines[k].rx_mono_ns);
	} else {
		const struct rx_record *recs = p;
		log_records(ls, recs, n);
		now = rt_mono_ns();
		rt_hist_record_since(&ls->rx_to_logged_ns, now, &recs[0].rx_mono_ns, sizeof(recs[0]), n);
	}
	rt_count(&ls->ctr.in, n);
	rt_count(&ls->ctr.out, n);
	ring_release(in->ring, n);
	return n;
}

void *log_stage_thread(void *arg)
{
	struct log_stage *ls = arg;
	uint64_t now = rt_mono_ns();

	rcu_register_thread();
	ls->next_snapshot_mono_ns = now + ls->conf.snapshot_ns;
	ls->next_merged_mono_ns = now + ls->conf.merged_ns;
	for (;;) {
		size_t got = 0;
		bool drained = true;

		for (size_t i = 0; i < ls->n_inputs; i++) {
			got += drain_input(ls, &ls->inputs[i]);
			drained &= ring_is_drained(ls->inputs[i].ring);
		}
		tick(ls, rt_mono_ns());
		if (got)
			continue;
		if (drained)
			break;
		/* Wake at least every budget_ns for rows below the producers' wake threshold, flushes and snapshots. */
		(void)rt_waiter_wait(ls->waiter, any_ready_batch, ls, (int64_t)ls->conf.budget_ns);
	}
	/* Drained: the last snapshots show the final rows (the stream has ended, so the hand-off may now wait for the
	 * io thread, bounded); then every file is flushed and fsynced. */
	for (size_t i = 0; i < ls->n_sinks; i++)
		if (ls->sinks[i].snap >= 0)
			rt_snap_take_wait(&ls->snaps, ls->sinks[i].snap, 2 * RT_NS_PER_SEC);
	if (ls->merged >= 0)
		merged_row(ls);
	uint64_t lost = 0;
	for (size_t i = 0; i < ls->n_sinks; i++) {
		int rc = logfile_close(&ls->sinks[i].file);
		int none = 0;
		if (rc < 0)
			atomic_compare_exchange_strong(&ls->close_errno, &none, -rc);
		lost += file_lost(&ls->sinks[i].file);
	}
	if (ls->oldest_unflushed_rx_mono_ns) {
		rt_hist_record(&ls->rx_to_file_ns, rt_mono_ns() - ls->oldest_unflushed_rx_mono_ns);
		ls->oldest_unflushed_rx_mono_ns = 0;
	}
	/* The io thread writes what was handed over, then ends; log_stage_fini() joins it. */
	rt_snap_finish(&ls->snaps);
	V2X_TP(stage_stop, "log", rt_counter_get(&ls->ctr.in), rt_counter_get(&ls->ctr.out), lost);
	rcu_unregister_thread();
	return NULL;
}

int log_stage_fini(struct log_stage *ls)
{
	uint64_t lost = 0;

	/* Joins the io thread first: the fsyncs it still runs use descriptors of files closed below. */
	rt_snap_fini(&ls->snaps);
	ls->io_started = 0;
	/* Files the log thread did not close (it never ran): flushed and closed here.  Safe on closed files. */
	for (size_t i = 0; i < ls->n_sinks; i++) {
		logfile_close(&ls->sinks[i].file);
		lost += file_lost(&ls->sinks[i].file);
	}
	return lost || atomic_load(&ls->close_errno) ? -EIO : 0;
}

void log_stage_join_io(struct log_stage *ls)
{
	if (ls->io_started) {
		rt_snap_finish(&ls->snaps);
		rt_thread_join(&ls->snaps.io_thread);
		ls->snaps.io_started = 0;
		ls->io_started = 0;
	}
}

static uint64_t sink_lost(struct log_stage *ls, int i)
{
	return i >= 0 ? file_lost(&ls->sinks[i].file) : 0;
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
	for (size_t i = 0; i < ls->n_sinks; i++) {
		st->disk_error |= file_in_error(&ls->sinks[i].file);
		st->files_missing += rt_counter_get(&ls->sinks[i].file.stats.missing) != 0;
		st->missing_episodes += rt_counter_get(&ls->sinks[i].file.stats.missing_episodes);
		st->rows_lost += file_lost(&ls->sinks[i].file);
		st->rotate_errors += rt_counter_get(&ls->sinks[i].file.stats.rotate_errors);
	}
	st->rows_lost_can = sink_lost(ls, ls->can_csv);
	st->rows_lost_candump = sink_lost(ls, ls->candump);
	st->rows_lost_gps = sink_lost(ls, ls->gps_csv);
	st->rows_lost_merged = sink_lost(ls, ls->merged);
	st->close_errno = atomic_load_explicit(&ls->close_errno, memory_order_relaxed);
	st->snapshots_written = rt_counter_get(&ls->snaps.written);
	st->snapshots_skipped = rt_counter_get(&ls->snaps.skipped);
	st->snapshot_errors = rt_counter_get(&ls->snaps.errors);
	st->snapshot_error = rt_snap_in_error(&ls->snaps);
}

void log_stage_report(struct log_stage *ls)
{
	for (size_t i = 0; i < ls->n_sinks; i++) {
		struct log_sink *sk = &ls->sinks[i];
		unsigned ev = logfile_events_take(&sk->file);
		if (ev & LOGFILE_EV_ERROR)
			rt_err("%s: write failed: %s; rows are kept in memory and retried, and counted when lost", sk->name,
			       strerror((int)rt_counter_get(&sk->file.stats.last_errno)));
		if (ev & LOGFILE_EV_RECOVERED)
			rt_warn("%s: writing again; %llu rows lost so far", sk->name,
				(unsigned long long)file_lost(&sk->file));
		if (ev & LOGFILE_EV_MISSING)
			rt_err("%s: removed or moved away by someone else (or its directory %s was); %llu rows written to "
			       "removed files are lost; new rows wait in memory until the file can be opened again there",
			       sk->name, ls->conf.out_dir,
			       (unsigned long long)rt_counter_get(&sk->file.stats.rows_unlinked));
		if (ev & LOGFILE_EV_ROTATE_ERROR)
			rt_err("%s: rotation failed: %s; the file grows on, retried every %llu ms", sk->name,
			       strerror((int)rt_counter_get(&sk->file.stats.rotate_errno)),
			       (unsigned long long)(sk->file.conf.flush_interval_ns / RT_NS_PER_MS));
		if (ev & LOGFILE_EV_ROTATE_RECOVERED)
			rt_warn("%s: rotated again (%llu rotations failed so far)", sk->name,
				(unsigned long long)rt_counter_get(&sk->file.stats.rotate_errors));
		if (ev & LOGFILE_EV_REOPENED)
			rt_warn("%s: opened again in %s, with its header; %llu rows lost so far", sk->name,
				ls->conf.out_dir, (unsigned long long)file_lost(&sk->file));
	}
	unsigned sev = rt_snap_events_take(&ls->snaps);
	if (sev & RT_SNAP_EV_ERROR)
		rt_err("snapshots in %s: writing failed: %s; the previous snapshot files stay as they were, retried every "
		       "%llu s", ls->conf.out_dir, strerror((int)rt_counter_get(&ls->snaps.last_errno)),
		       (unsigned long long)(ls->conf.snapshot_ns / RT_NS_PER_SEC));
	if (sev & RT_SNAP_EV_RECOVERED)
		rt_warn("snapshots in %s: written again (%llu failed so far)", ls->conf.out_dir,
			(unsigned long long)rt_counter_get(&ls->snaps.errors));
}

static int log_stage_pipeline_init(void *self, const struct rt_stage_env *env)
{
	const struct log_line_sinks *sinks[RT_PIPELINE_MAX_PORTS];
	char key[64];

	for (size_t i = 0; i < env->n_in; i++) {
		snprintf(key, sizeof(key), "log_sinks.%s", env->in_from[i]);
		sinks[i] = rt_pipeline_lookup(env->pipeline, key);
	}
	return log_stage_init(self, env->conf, env->in, sinks, env->n_in, env->waiter,
			      rt_pipeline_lookup(env->pipeline, "vstate"));
}

static void log_stage_pipeline_fini(void *self)
{
	(void)log_stage_fini(self);
}

static void log_conf_defaults(void *conf)
{
	log_stage_conf_init(conf);
}

static const struct rt_config_key log_keys[] = {
	{.section = "log", .key = "out", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct log_stage_conf, out_dir),
	 .opt = "out", .help = "output directory (created if missing)"},
	{.section = "log", .key = "flush_ms", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct log_stage_conf, flush_ns),
	 .unit = "ms", .umin = 1, .umax = 60000, .opt = "flush-ms", .help = "write buffered rows at least this often"},
	{.section = "log", .key = "fsync_ms", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct log_stage_conf, fsync_ns),
	 .unit = "ms", .umin = 1, .umax = 3600000, .opt = "fsync-ms", .help = "fsync the files this often"},
	{.section = "log", .key = "rotate_mb", .type = RT_CONFIG_SIZE, RT_CONFIG_FIELD(struct log_stage_conf, rotate_bytes),
	 .unit = "MiB", .umin = 0, .umax = 1u << 20, .opt = "rotate-mb",
	 .help = "roll can_data.csv, gps_data.csv and the candump log at this size (0: never)"},
	{.section = "log", .key = "rotate_hourly", .type = RT_CONFIG_BOOL,
	 RT_CONFIG_FIELD(struct log_stage_conf, rotate_hourly), .opt = "rotate-hourly", .help = "roll them every hour"},
	{.section = "log", .key = "snapshot_s", .type = RT_CONFIG_DURATION,
	 RT_CONFIG_FIELD(struct log_stage_conf, snapshot_ns), .unit = "s", .umin = 1, .umax = 86400, .opt = "snapshot-s",
	 .help = "rewrite can_data_snapshot.csv and gps_data_snapshot.csv this often"},
	{.section = "log", .key = "snapshot_rows", .type = RT_CONFIG_UINT,
	 RT_CONFIG_FIELD(struct log_stage_conf, snapshot_rows), .umin = 1, .umax = 1000000, .unit = "rows",
	 .opt = "snapshot-rows", .help = "rows in a snapshot"},
	{.section = "log", .key = "merged_s", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct log_stage_conf, merged_ns),
	 .unit = "s", .umin = 1, .umax = 86400, .opt = "merged-s", .help = "one merged_can_data row this often"},
	{.section = "log", .key = "buffer_kb", .type = RT_CONFIG_SIZE, RT_CONFIG_FIELD(struct log_stage_conf, buffer_bytes),
	 .unit = "KiB", .umin = 0, .umax = 1u << 20, .opt = "log-buffer-kb",
	 .help = "memory buffer per file (0: 4096 for the CAN files, 512 others); rows wait there while the disk is full"},
	{.section = "log", .key = "ifname", .type = RT_CONFIG_STRING, RT_CONFIG_FIELD(struct log_stage_conf, ifname),
	 .umax = 15, .opt = "ifname", .help = "interface name written in the candump log"},
	{.section = "log", .key = "budget_ms", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct log_stage_conf, budget_ns),
	 .unit = "ms", .umin = 1, .umax = 1000, .help = "latency budget: rows reach the writer's buffer within it"},
	{.section = "log", .key = "wake_records", .type = RT_CONFIG_UINT,
	 RT_CONFIG_FIELD(struct log_stage_conf, wake_records), .umin = 1, .umax = 1u << 20, .unit = "records",
	 .help = "records waiting that wake the log thread before its budget (1: every push, the latency profile)"},
	{.section = "log", .key = "io_cpus", .type = RT_CONFIG_CPUSET, RT_CONFIG_FIELD(struct log_stage_conf, house_cpus),
	 .help = "CPUs of the snapshot and fsync thread (empty: those of [control] cpus)"},
	RT_CONFIG_SCHED_KEYS("log", struct log_stage_conf, sched),
};

const struct rt_config_table log_config = {
	.name = "log",
	.keys = log_keys,
	.n_keys = sizeof(log_keys) / sizeof(log_keys[0]),
	.conf_size = sizeof(struct log_stage_conf),
	.defaults = log_conf_defaults,
};

const struct rt_stage_desc log_stage = {
	.name = "log",
	.size = sizeof(struct log_stage),
	.init = log_stage_pipeline_init,
	.thread = log_stage_thread,
	.fini = log_stage_pipeline_fini,
	.config = &log_config,
	.sched_offset = offsetof(struct log_stage_conf, sched),
};

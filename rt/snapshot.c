/* snapshot.c - windows of the latest rows and the io thread that rewrites them (see snapshot.h). */
#include "rt/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/thread.h"
#include "rt/counters.h"
#include "trace/tp.h"

int rt_snap_init(struct rt_snapshots *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	if (strlen(dir) >= sizeof(s->dir))
		return -ENAMETOOLONG;
	strcpy(s->dir, dir);
	return rt_waiter_init(&s->io_waiter, RT_WAIT_SLEEP, 0);
}

static int window_init(struct rt_snap_window *w, unsigned cap, size_t row_max)
{
	w->cap = cap;
	w->row_max = row_max;
	w->size = (size_t)cap * row_max;
	w->pos = 0;
	w->wrapped = 0;
	w->ring = calloc(w->size, 1);
	return w->ring ? 0 : -ENOMEM;
}

static void window_fini(struct rt_snap_window *w)
{
	free(w->ring);
	w->ring = NULL;
}

int rt_snap_add(struct rt_snapshots *s, const char *file, const char *header, unsigned rows, size_t row_max)
{
	if (s->n_kinds == RT_SNAP_MAX_KINDS || rows == 0 || row_max < 2 || row_max > UINT16_MAX ||
	    strlen(file) >= RT_SNAP_NAME_MAX)
		return -EINVAL;
	struct rt_snap_kind *k = &s->kinds[s->n_kinds];
	strcpy(k->file, file);
	k->header = header;
	int rc = window_init(&k->win, rows, row_max);
	if (rc < 0) {
		window_fini(&k->win);
		return rc;
	}
	return (int)s->n_kinds++;
}

/*
 * memcpy in pieces of at most 2 KiB: glibc copies larger blocks with `rep movsb`, which is as fast on the CPU but
 * counts one instruction per byte under callgrind (make callgrind), hiding the real cost of everything else.
 */
static inline void snap__copy(char *dst, const char *src, size_t n)
{
	while (n > 2048) {
		memcpy(dst, src, 2048);
		dst += 2048;
		src += 2048;
		n -= 2048;
	}
	memcpy(dst, src, n);
}

/* Appends len bytes to the ring (only the last size bytes matter when len is larger). */
static inline void window_append(struct rt_snap_window *w, const char *src, size_t len)
{
	size_t room = w->size - w->pos;

	if (len < room) {
		snap__copy(w->ring + w->pos, src, len);
		w->pos += len;
		return;
	}
	if (len >= w->size) {
		snap__copy(w->ring, src + (len - w->size), w->size);
		w->pos = 0;
	} else {
		snap__copy(w->ring + w->pos, src, room);
		snap__copy(w->ring, src + room, len - room);
		w->pos = len - room;
	}
	w->wrapped = 1;
}

void rt_snap_row(struct rt_snapshots *s, int kind, const char *row, size_t len)
{
	struct rt_snap_window *w = &s->kinds[kind].win;

	if (len > w->row_max) { /* cannot happen with bounded formatters; keep every row within row_max */
		window_append(w, row, w->row_max - 1);
		window_append(w, "\n", 1);
		return;
	}
	window_append(w, row, len);
}

void rt_snap_rows(struct rt_snapshots *s, int kind, const char *rows, size_t len)
{
	window_append(&s->kinds[kind].win, rows, len);
}

int rt_snap_seed(struct rt_snapshots *s, int kind)
{
	struct rt_snap_kind *k = &s->kinds[kind];
	char path[4096 + RT_SNAP_NAME_MAX + 2];
	size_t want = (size_t)k->win.cap * k->win.row_max;
	int taken = 0;

	snprintf(path, sizeof(path), "%s/%s", s->dir, k->file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	off_t start = st.st_size > (off_t)want ? st.st_size - (off_t)want : 0;
	char *buf = malloc(want + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t n = pread(fd, buf, want, start);
	close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	size_t len = (size_t)n, pos = 0;
	/* Only whole lines: skip a line cut by the start of the read window, drop a partial last line. */
	if (start > 0) {
		char *nl = memchr(buf, '\n', len);
		pos = nl ? (size_t)(nl - buf) + 1 : len;
	} else if (k->header) {
		/* The header line, even one of another version of the format: never a data row. */
		char *nl = memchr(buf, '\n', len);
		pos = nl ? (size_t)(nl - buf) + 1 : len;
	}
	while (pos < len) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			break;
		size_t l = (size_t)(nl - (buf + pos)) + 1;
		if (l <= k->win.row_max) {
			rt_snap_row(s, kind, buf + pos, l);
			taken++;
		}
		pos += l;
	}
	free(buf);
	return taken < (int)k->win.cap ? taken : (int)k->win.cap;
}

/*
 * Finds the latest (up to cap) rows in the part [base, base + len) of the ring, newest part first: counts their
 * '\n' from the end in *found and returns where the oldest wanted row starts, or NULL when it lies further back.
 */
static const char *window_scan(const char *base, size_t len, unsigned need, unsigned *found)
{
	const char *e = base + len;

	while (*found < need) {
		const char *nl = memrchr(base, '\n', (size_t)(e - base));
		if (!nl)
			return NULL;
		if (++*found == need)
			return nl + 1;
		e = nl;
	}
	return NULL;
}

/* Copies the window's latest (up to cap) whole rows, oldest first, into b. */
static void window_copy(const struct rt_snap_window *w, struct rt_snap_buf *b)
{
	/* The ring in time order: older part [pos, size) (only once wrapped), then newer part [0, pos).  A row's end is
	 * its '\n', so the oldest wanted row starts after the (cap + 1)-th '\n' from the end; with fewer, the window
	 * starts at the oldest byte: a row start, unless the ring wrapped, where the latest cap rows fill it exactly
	 * (rows are at most row_max): the first row is whole when cap '\n' were found, else it is a cut tail. */
	const char *older = w->ring + w->pos, *newer = w->ring;
	size_t older_len = w->wrapped ? w->size - w->pos : 0, newer_len = w->pos;
	unsigned need = w->cap + 1, found = 0;
	const char *start = window_scan(newer, newer_len, need, &found);
	size_t off = 0;

	if (start) {
		older_len = 0;
		newer_len -= (size_t)(start - newer);
		newer = start;
	} else if (older_len > 0 && (start = window_scan(older, older_len, need, &found)) != NULL) {
		older_len -= (size_t)(start - older);
		older = start;
	} else if (w->wrapped && found < w->cap) {
		/* a cut row at the start (only when rows broke the row_max contract): from after its end */
		const char *nl = older_len ? memchr(older, '\n', older_len) : NULL;
		if (nl) {
			older_len -= (size_t)(nl + 1 - older);
			older = nl + 1;
		} else {
			nl = memchr(newer, '\n', newer_len);
			older_len = 0;
			newer_len = nl ? newer_len - (size_t)(nl + 1 - newer) : 0;
			newer = nl ? nl + 1 : newer;
		}
		found = found ? found - 1 : 0;
	}
	memcpy(b->data, older, older_len);
	off += older_len;
	memcpy(b->data + off, newer, newer_len);
	off += newer_len;
	b->rows = found < w->cap ? found : w->cap;
	b->bytes = off;
}

void rt_snap_take(struct rt_snapshots *s, int kind)
{
	uint32_t idx;
	uint64_t t0 = rt_mono_ns();

	/* Free buffers are interchangeable (each holds the largest window): the kind is set on hand-over. */
	if (!ring_pop(&s->snap_free, &idx)) {
		rt_count(&s->skipped, 1);
		return;
	}
	struct rt_snap_buf *b = &s->bufs[idx];
	b->kind = (uint32_t)kind;
	window_copy(&s->kinds[kind].win, b);
	uint64_t dt = rt_mono_ns() - t0;
	V2X_TP(snapshot_handoff, (uint32_t)kind, b->rows, dt);
	/* Cannot fail: the full ring has room for every buffer index. */
	ring_push(&s->snap_full, &idx);
	rt_count(&s->handoffs, 1);
	rt_count(&s->handoff_total_ns, dt);
	rt_count_max(&s->handoff_max_ns, dt);
}

void rt_snap_take_wait(struct rt_snapshots *s, int kind, uint64_t max_wait_ns)
{
	uint64_t deadline = rt_mono_ns() + max_wait_ns;

	while (ring_count(&s->snap_free) == 0 && s->io_started && rt_mono_ns() < deadline)
		rt_sleep_ns(RT_NS_PER_MS);
	rt_snap_take(s, kind);
}

int rt_snap_sync_hook(void *ctx, int dup_fd)
{
	struct rt_snapshots *s = ctx;

	/* The ring notifies the io thread.  When it is full the io thread is far behind: refuse, and the writer closes
	 * the descriptor (rt/logfile.h's contract); the next interval's fsync covers this one. */
	return ring_push(&s->sync_req, &dup_fd) ? 0 : -EAGAIN;
}

/* ---- the io thread ---- */

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

static void snap_failed(struct rt_snapshots *s, int err)
{
	rt_count(&s->errors, 1);
	atomic_store_explicit(&s->last_errno, (uint64_t)err, memory_order_relaxed);
	if (!s->in_error) {
		s->in_error = 1;
		atomic_fetch_or_explicit(&s->events, RT_SNAP_EV_ERROR, memory_order_release);
	}
}

/* Writes a snapshot to <file>.tmp, fsyncs it and renames it over <file>: readers see the old or the new file. */
static void write_snapshot(struct rt_snapshots *s, const struct rt_snap_buf *b)
{
	const struct rt_snap_kind *k = &s->kinds[b->kind];
	char path[4096 + RT_SNAP_NAME_MAX + 2], tmp[4096 + RT_SNAP_NAME_MAX + 8];
	size_t hlen = k->header ? strlen(k->header) : 0;
	uint64_t t0 = rt_mono_ns();
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", s->dir, k->file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snap_failed(s, errno);
		return;
	}
	rc = write_all(fd, k->header ? k->header : "", hlen);
	if (rc == 0)
		rc = write_all(fd, b->data, b->bytes);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		snap_failed(s, -rc);
		return;
	}
	V2X_TP(snapshot_written, b->kind, (uint64_t)(hlen + b->bytes), rt_mono_ns() - t0);
	if (rename(tmp, path) < 0) {
		rc = errno;
		unlink(tmp);
		V2X_TP(snapshot_renamed, b->kind, rc);
		snap_failed(s, rc);
		return;
	}
	V2X_TP(snapshot_renamed, b->kind, 0);
	uint64_t dur = rt_mono_ns() - t0;
	rt_count(&s->written, 1);
	atomic_store_explicit(&s->last_bytes, hlen + b->bytes, memory_order_relaxed);
	uint64_t mn = atomic_load_explicit(&s->min_ns, memory_order_relaxed);
	if (mn == 0 || dur < mn)
		atomic_store_explicit(&s->min_ns, dur, memory_order_relaxed);
	rt_count_max(&s->max_ns, dur);
	if (s->in_error) {
		s->in_error = 0;
		atomic_fetch_or_explicit(&s->events, RT_SNAP_EV_RECOVERED, memory_order_release);
	}
}

static bool io_ready(void *arg)
{
	struct rt_snapshots *s = arg;
	if (atomic_load_explicit(&s->io_paused, memory_order_acquire) &&
	    !atomic_load_explicit(&s->io_stop, memory_order_acquire))
		return false;
	return ring_count(&s->snap_full) > 0 || ring_count(&s->sync_req) > 0 ||
	       atomic_load_explicit(&s->io_stop, memory_order_acquire);
}

void rt_snap_pause_io(struct rt_snapshots *s, int paused)
{
	atomic_store_explicit(&s->io_paused, paused, memory_order_release);
	rt_waiter_kick(&s->io_waiter);
}

static void *io_thread(void *arg)
{
	struct rt_snapshots *s = arg;

	for (;;) {
		uint32_t idx;
		int fd, did = 0;
		/* Read the stop flag before draining: whatever was queued before it was set is handled first. */
		int stopping = atomic_load_explicit(&s->io_stop, memory_order_acquire);

		if (!stopping && atomic_load_explicit(&s->io_paused, memory_order_acquire)) {
			rt_waiter_wait(&s->io_waiter, io_ready, s, 10 * (int64_t)RT_NS_PER_MS);
			continue;
		}
		while (ring_pop(&s->sync_req, &fd)) {
			if (fsync(fd) < 0)
				rt_count(&s->fsync_errors, 1);
			else
				rt_count(&s->fsyncs, 1);
			close(fd);
			did = 1;
		}
		while (ring_pop(&s->snap_full, &idx)) {
			write_snapshot(s, &s->bufs[idx]);
			/* Cannot fail: the free ring holds every buffer index at most once. */
			ring_push(&s->snap_free, &idx);
			did = 1;
		}
		if (did)
			continue;
		if (stopping)
			break;
		rt_waiter_wait(&s->io_waiter, io_ready, s, -1);
	}
	return NULL;
}

int rt_snap_start_io(struct rt_snapshots *s, const cpu_set_t *cpus)
{
	size_t biggest = 0;
	int rc;

	for (unsigned k = 0; k < s->n_kinds; k++)
		if ((size_t)s->kinds[k].win.cap * s->kinds[k].win.row_max > biggest)
			biggest = (size_t)s->kinds[k].win.cap * s->kinds[k].win.row_max;
	s->n_bufs = s->n_kinds ? 2 * s->n_kinds : 2;
	s->bufs = calloc(s->n_bufs, sizeof(*s->bufs));
	if (!s->bufs)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_bufs; i++) {
		s->bufs[i].cap = biggest;
		s->bufs[i].data = malloc(biggest ? biggest : 1);
		if (!s->bufs[i].data)
			return -ENOMEM;
		rt_prefault(s->bufs[i].data, biggest ? biggest : 1); /* no page fault at a hand-off */
	}
	size_t ring_cap = 2;
	while (ring_cap < 2 * (size_t)s->n_bufs)
		ring_cap *= 2;
	if ((rc = ring_init(&s->snap_free, "snap_free", sizeof(uint32_t), ring_cap, NULL)) < 0 ||
	    (rc = ring_init(&s->snap_full, "snap_full", sizeof(uint32_t), ring_cap, &s->io_waiter)) < 0 ||
	    (rc = ring_init(&s->sync_req, "sync_req", sizeof(int), 64, &s->io_waiter)) < 0)
		return rc;
	for (uint32_t i = 0; i < s->n_bufs; i++)
		ring_push(&s->snap_free, &i);

	struct rt_thread_conf tc;
	rt_thread_conf_init(&tc, "v2x-io");
	if (cpus)
		tc.cpus = *cpus; /* empty: any online CPU */
	rc = rt_thread_start(&s->io_thread, &tc, io_thread, s);
	if (rc == 0)
		s->io_started = 1;
	return rc;
}

void rt_snap_finish(struct rt_snapshots *s)
{
	atomic_store_explicit(&s->io_stop, 1, memory_order_release);
	rt_waiter_kick(&s->io_waiter);
}

void rt_snap_fini(struct rt_snapshots *s)
{
	int fd;

	if (s->io_started) {
		rt_snap_finish(s);
		rt_thread_join(&s->io_thread);
		s->io_started = 0;
	}
	while (s->sync_req.slots && ring_pop(&s->sync_req, &fd))
		close(fd);
	for (unsigned k = 0; k < s->n_kinds; k++)
		window_fini(&s->kinds[k].win);
	for (unsigned i = 0; s->bufs && i < s->n_bufs; i++)
		free(s->bufs[i].data);
	free(s->bufs);
	s->bufs = NULL;
	ring_fini(&s->snap_free);
	ring_fini(&s->snap_full);
	ring_fini(&s->sync_req);
	rt_waiter_fini(&s->io_waiter);
}

unsigned rt_snap_events_take(struct rt_snapshots *s)
{
	return atomic_exchange_explicit(&s->events, 0, memory_order_acquire);
}

int rt_snap_in_error(struct rt_snapshots *s)
{
	return atomic_load_explicit(&s->in_error, memory_order_relaxed);
}

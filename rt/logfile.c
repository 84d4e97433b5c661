/*
 * logfile.c - durable buffered line writer (see logfile.h for the contract).
 *
 * The buffer is one flat array: [0, head) is written, [head, end) waits for write(), [end, cap) is free.  Rows are
 * committed whole, so [head, end) always ends with '\n'; only a short write leaves head inside a line, and the
 * rest of that line is written first next time, so the file never keeps a partial line once writing works.  The
 * writer tracks the file's size and the size at its last '\n' (file_whole): close and open cut back to it.
 *
 * The header of a new file is written through the same path (hdr_off..hdr_len before the buffer), so a disk that
 * is full when a file starts delays the header exactly like rows, never loses or splits it.
 *
 * Statistics have one writer (this thread): plain load + store with relaxed order, no read-modify-write needed;
 * readers on other threads see each counter monotonic.  `events` is the only field written by two threads
 * (fetch_or here with release, exchange by the reader with acquire, so last_errno/counters set before an event
 * are visible with it).
 */
#include "rt/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/thread.h"
#include "trace/tp.h"

#define LOGFILE_DEFAULT_BUF (1u << 20)

static inline void st_add(_Atomic uint64_t *c, uint64_t v)
{
	/* single writer: a relaxed load + store is enough and avoids a locked instruction */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

static inline void st_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static void logfile__event(struct logfile *lf, unsigned ev)
{
	/* release: pairs with the acquire exchange in logfile_events_take(); the stats written before are visible */
	atomic_fetch_or_explicit(&lf->events, ev, memory_order_release);
}

unsigned logfile_events_take(struct logfile *lf)
{
	return atomic_exchange_explicit(&lf->events, 0, memory_order_acquire);
}

/* ---- names ---- */

static int logfile__strftime(const struct logfile *lf, char *out, size_t size, const char *fmt, int64_t t_real_ns)
{
	time_t t = (time_t)(t_real_ns >= 0 ? t_real_ns / RT_NS_PER_SEC : -((-t_real_ns + RT_NS_PER_SEC - 1) / RT_NS_PER_SEC));
	struct tm tm;

	if (lf->conf.utc_names ? !gmtime_r(&t, &tm) : !localtime_r(&t, &tm))
		return -EOVERFLOW;
	if (fmt[0] == '\0') {
		out[0] = '\0';
		return 0;
	}
	/* the pattern is configuration (a file name), not user data reaching a printf */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	size_t n = strftime(out, size, fmt, &tm);
#pragma GCC diagnostic pop
	return n > 0 ? 0 : -ENAMETOOLONG;
}

/* out = stem [_i] ext, the first i (none, 1, 2, ...) whose name does not exist and is not the current file. */
static int logfile__unique(const struct logfile *lf, const char *stem, char *out, size_t size)
{
	const char *ext = lf->conf.ext ? lf->conf.ext : "";
	struct stat st;

	for (int i = 0; i < 10000; i++) {
		int n = i ? snprintf(out, size, "%s_%d%s", stem, i, ext) : snprintf(out, size, "%s%s", stem, ext);
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		if (strcmp(out, lf->name) == 0)
			continue;
		if (fstatat(lf->dirfd, out, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			return 0;
	}
	return -EEXIST;
}

/* Renames `from` to `to` in dir without replacing an existing `to`. */
static int logfile__rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* file system without RENAME_NOREPLACE: link + unlink never replaces either */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -errno;
	if (unlinkat(dirfd, from, 0) < 0)
		return -errno;
	return 0;
}

/* ---- opening a file ---- */

/* Cuts fd (size bytes) after its last '\n'; returns the new size or a negative errno. */
static int64_t logfile__cut_partial(int fd, uint64_t size)
{
	char chunk[4096];
	uint64_t pos = size;

	while (pos > 0) {
		size_t n = pos < sizeof(chunk) ? (size_t)pos : sizeof(chunk);
		ssize_t r = pread(fd, chunk, n, (off_t)(pos - n));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((size_t)r != n)
			return -EIO;
		const char *nl = memrchr(chunk, '\n', n);
		if (nl) {
			pos = pos - n + (uint64_t)(nl - chunk) + 1;
			break;
		}
		pos -= n;
	}
	if (pos != size && ftruncate(fd, (off_t)pos) < 0)
		return -errno;
	return (int64_t)pos;
}

/* Returns 1 when fd's first line is the header (or there is no header to check), 0 when not, or a negative errno. */
static int logfile__has_header(const struct logfile *lf, int fd)
{
	char first[4096];

	if (lf->hdr_len == 0)
		return 1;
	if (lf->hdr_len > sizeof(first))
		return 1; /* too long to check cheaply: trust it */
	ssize_t r = pread(fd, first, lf->hdr_len, 0);
	if (r < 0)
		return -errno;
	return (size_t)r == lf->hdr_len && memcmp(first, lf->conf.header, lf->hdr_len) == 0;
}

/* Start time of an existing file: its birth time when the file system records it, else its last change. */
static int64_t logfile__file_start_ns(int fd, const struct stat *st)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) == 0 && (stx.stx_mask & STATX_BTIME))
		return (int64_t)stx.stx_btime.tv_sec * RT_NS_PER_SEC + stx.stx_btime.tv_nsec;
	return (int64_t)st->st_mtim.tv_sec * RT_NS_PER_SEC + st->st_mtim.tv_nsec;
}

/*
 * Opens name in dir for appending (creating it when create_only or when missing), repairs a trailing partial
 * line and reports a foreign first line.  On success sets fd, size state and file start; returns 0, or 1 when the
 * existing file is not ours (fd not kept), or a negative errno.
 */
static int logfile__open_name(struct logfile *lf, const char *name, int create_only, int64_t now_real_ns)
{
	/* read access too: the crash repair and the header check read the file */
	int flags = O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | (create_only ? O_EXCL : 0);
	struct stat st;
	int rc;
	int fd = openat(lf->dirfd, name, flags, 0644);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail_close;
	}
	int64_t size = logfile__cut_partial(fd, (uint64_t)st.st_size);
	if (size < 0) {
		rc = (int)size;
		goto fail_close;
	}
	if (size > 0) {
		rc = logfile__has_header(lf, fd);
		if (rc < 0)
			goto fail_close;
		if (rc == 0) {
			close(fd);
			return 1;
		}
	}
	if (strlen(name) >= sizeof(lf->name)) {
		rc = -ENAMETOOLONG;
		goto fail_close;
	}
	strcpy(lf->name, name);
	lf->fd = fd;
	lf->file_size = (uint64_t)size;
	lf->file_whole = (uint64_t)size;
	lf->hdr_off = size > 0 ? lf->hdr_len : 0;
	lf->rows_in_file = 0; /* rows of an earlier run are not this writer's to account for */
	lf->bytes_in_file = 0;
	lf->file_start_real_ns = size > 0 ? logfile__file_start_ns(fd, &st) : now_real_ns;
	if (st.st_size == 0)
		lf->dir_unsynced = 1; /* probably created just now */
	return 0;

fail_close:
	close(fd);
	return rc;
}

static void logfile__update_gmtoff(struct logfile *lf, int64_t now_real_ns)
{
	time_t t = (time_t)(now_real_ns / RT_NS_PER_SEC);
	struct tm tm;

	lf->gmtoff_s = 0;
	if (!lf->conf.utc_names && localtime_r(&t, &tm))
		lf->gmtoff_s = tm.tm_gmtoff;
}

static int64_t logfile__hour_index(const struct logfile *lf, int64_t t_real_ns)
{
	int64_t s = t_real_ns / RT_NS_PER_SEC + lf->gmtoff_s;
	return s >= 0 ? s / 3600 : -((-s + 3599) / 3600);
}

/* The name a FIXED file gets when moved aside: base + stamp of its start + ext, made unique. */
static int logfile__rotated_name(const struct logfile *lf, char *out, size_t size)
{
	char stem[LOGFILE_NAME_MAX], stamp[64];
	const char *fmt = lf->conf.rotated_stamp ? lf->conf.rotated_stamp : "_%Y%m%d_%H%M%S";
	int rc = logfile__strftime(lf, stamp, sizeof(stamp), fmt, lf->file_start_real_ns);

	if (rc < 0)
		return rc;
	int n = snprintf(stem, sizeof(stem), "%s%s", lf->conf.base, stamp);
	if (n < 0 || (size_t)n >= sizeof(stem))
		return -ENAMETOOLONG;
	return logfile__unique(lf, stem, out, size);
}

/* The current name of a STAMPED file started at t: strftime(base) + ext, made unique against the current file. */
static int logfile__stamped_name(const struct logfile *lf, char *out, size_t size, int64_t t_real_ns, int unique)
{
	char stem[LOGFILE_NAME_MAX];
	int rc = logfile__strftime(lf, stem, sizeof(stem), lf->conf.base, t_real_ns);

	if (rc < 0)
		return rc;
	if (unique)
		return logfile__unique(lf, stem, out, size);
	int n = snprintf(out, size, "%s%s", stem, lf->conf.ext ? lf->conf.ext : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int logfile__mkdir_p(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -EINVAL;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/*
 * Opens the file the configuration names now (FIXED: <base><ext>; STAMPED: strftime(base) of now_real_ns), in
 * lf->dirfd; an existing file with another first line is kept under another name.  Returns 0 or a negative errno.
 */
static int logfile__open_current(struct logfile *lf, int64_t now_real_ns)
{
	char name[LOGFILE_NAME_MAX], aside[LOGFILE_NAME_MAX];
	int rc;

	if (lf->conf.naming == LOGFILE_FIXED) {
		int n = snprintf(name, sizeof(name), "%s%s", lf->conf.base, lf->conf.ext ? lf->conf.ext : "");
		rc = n < 0 || (size_t)n >= sizeof(name) ? -ENAMETOOLONG : 0;
	} else {
		rc = logfile__stamped_name(lf, name, sizeof(name), now_real_ns, 0);
	}
	if (rc < 0)
		return rc;
	rc = logfile__open_name(lf, name, 0, now_real_ns);
	if (rc == 1) {
		/* an existing file with another first line (an older format): keep it under another name */
		if (lf->conf.naming == LOGFILE_FIXED) {
			struct stat st;
			int64_t start = now_real_ns;
			if (fstatat(lf->dirfd, name, &st, 0) == 0)
				start = (int64_t)st.st_mtim.tv_sec * RT_NS_PER_SEC;
			lf->file_start_real_ns = start;
			rc = logfile__rotated_name(lf, aside, sizeof(aside));
			if (rc == 0)
				rc = logfile__rename_noreplace(lf->dirfd, name, aside);
			if (rc == 0)
				rc = logfile__open_name(lf, name, 1, now_real_ns);
		} else {
			char stem[LOGFILE_NAME_MAX];
			rc = logfile__strftime(lf, stem, sizeof(stem), lf->conf.base, now_real_ns);
			if (rc == 0) {
				strcpy(lf->name, name); /* so unique() skips it */
				rc = logfile__unique(lf, stem, aside, sizeof(aside));
				lf->name[0] = '\0';
			}
			if (rc == 0)
				rc = logfile__open_name(lf, aside, 1, now_real_ns);
		}
		lf->dir_unsynced = 1;
		if (rc == 1)
			rc = -EEXIST;
	}
	return rc;
}

int logfile_open(struct logfile *lf, const struct logfile_conf *conf, int64_t now_real_ns)
{
	int rc;

	memset(lf, 0, sizeof(*lf));
	lf->fd = -1;
	lf->dirfd = -1;
	if (!conf || !conf->dir || !conf->base || !conf->base[0])
		return -EINVAL;
	lf->conf = *conf;
	if (!lf->conf.buf_bytes)
		lf->conf.buf_bytes = LOGFILE_DEFAULT_BUF;
	if (!lf->conf.flush_interval_ns)
		lf->conf.flush_interval_ns = LOGFILE_FLUSH_INTERVAL_NS_DEFAULT;
	if (!lf->conf.fsync_interval_ns)
		lf->conf.fsync_interval_ns = LOGFILE_FSYNC_INTERVAL_NS_DEFAULT;
	lf->hdr_len = conf->header ? strlen(conf->header) : 0;
	if (lf->hdr_len && conf->header[lf->hdr_len - 1] != '\n')
		return -EINVAL;

	rc = logfile__mkdir_p(conf->dir);
	if (rc < 0)
		return rc;
	lf->dirfd = open(conf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lf->dirfd < 0)
		return -errno;
	lf->cap = lf->conf.buf_bytes;
	lf->buf = malloc(lf->cap);
	if (!lf->buf) {
		rc = -ENOMEM;
		goto fail_dir;
	}
	rt_prefault(lf->buf, lf->cap); /* every page now, not on the real-time path */
	logfile__update_gmtoff(lf, now_real_ns);

	rc = logfile__open_current(lf, now_real_ns);
	if (rc < 0)
		goto fail_buf;
	lf->open = 1;
	return 0;

fail_buf:
	free(lf->buf);
	lf->buf = NULL;
fail_dir:
	close(lf->dirfd);
	lf->dirfd = -1;
	return rc;
}

/* ---- writing ---- */

/* Accounts n bytes just appended to the file from p. */
static void logfile__file_grew(struct logfile *lf, const char *p, size_t n)
{
	lf->file_size += n;
	if (p[n - 1] == '\n') {
		lf->file_whole = lf->file_size;
		return;
	}
	const char *nl = memrchr(p, '\n', n);
	if (nl)
		lf->file_whole = lf->file_size - n + (uint64_t)(nl - p) + 1;
}

static void logfile__rows_written(struct logfile *lf, size_t n)
{
	uint64_t rows;

	if (lf->head + n == lf->end) {
		rows = lf->pending_rows;
	} else {
		rows = 0;
		for (const char *p = lf->buf + lf->head, *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
			rows++;
	}
	lf->pending_rows -= rows;
	lf->rows_in_file += rows;
	lf->bytes_in_file += n;
	st_add(&lf->stats.rows_written, rows);
	st_add(&lf->stats.bytes_written, n);
}

static void logfile__write_failed(struct logfile *lf, int err)
{
	uint64_t pending = (uint64_t)(lf->end - lf->head) + (lf->hdr_len - lf->hdr_off);

	st_add(&lf->stats.write_errors, 1);
	st_set(&lf->stats.last_errno, (uint64_t)err);
	V2X_TP(log_write_error, lf->name, err, pending);
	if (lf->in_error)
		return;
	lf->in_error = 1;
	st_set(&lf->stats.in_error, 1);
	st_add(&lf->stats.error_episodes, 1);
	if (err == ENOSPC || err == EDQUOT)
		st_add(&lf->stats.enospc_episodes, 1);
	logfile__event(lf, LOGFILE_EV_ERROR);
}

/* write() loop; returns 0 with the buffer empty, or a negative errno with the rest kept. */
static int logfile__write_out(struct logfile *lf)
{
	uint64_t t0 = rt_mono_ns();
	uint64_t written = 0;
	int err = 0;

	if (lf->missing)
		return -ENOENT; /* rows wait until the file is opened again (logfile__check) */
	if (lf->fd < 0)
		return -EBADF;
	while (lf->hdr_off < lf->hdr_len) {
		ssize_t n = write(lf->fd, lf->conf.header + lf->hdr_off, lf->hdr_len - lf->hdr_off);
		if (n > 0) {
			logfile__file_grew(lf, lf->conf.header + lf->hdr_off, (size_t)n);
			lf->hdr_off += (size_t)n;
			written += (uint64_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			err = n < 0 ? errno : EIO;
			break;
		}
	}
	while (!err && lf->head < lf->end) {
		ssize_t n = write(lf->fd, lf->buf + lf->head, lf->end - lf->head);
		if (n > 0) {
			logfile__file_grew(lf, lf->buf + lf->head, (size_t)n);
			logfile__rows_written(lf, (size_t)n);
			lf->head += (size_t)n;
			written += (uint64_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			err = n < 0 ? errno : EIO; /* 0 from a regular file: treat as an I/O error, never spin */
			break;
		}
	}
	if (lf->head == lf->end)
		lf->head = lf->end = 0;
	if (written) {
		uint64_t dt = rt_mono_ns() - t0;
		lf->unsynced = 1;
		st_add(&lf->stats.flushes, 1);
		if (dt > atomic_load_explicit(&lf->stats.max_flush_ns, memory_order_relaxed))
			st_set(&lf->stats.max_flush_ns, dt);
		V2X_TP(log_flush, lf->name, written, dt);
	}
	if (err) {
		logfile__write_failed(lf, err);
		return -err;
	}
	if (lf->in_error) {
		lf->in_error = 0;
		st_set(&lf->stats.in_error, 0);
		logfile__event(lf, LOGFILE_EV_RECOVERED);
	}
	return 0;
}

int logfile_flush(struct logfile *lf)
{
	if (!lf->open)
		return -EBADF;
	return logfile__write_out(lf);
}

char *logfile__reserve_slow(struct logfile *lf, size_t max)
{
	if (!lf->open || max > lf->cap)
		return NULL;
	if (!lf->in_error)
		(void)logfile__write_out(lf); /* while writes fail, retrying is the tick's job: never a syscall per row */
	if (lf->head > 0) {
		memmove(lf->buf, lf->buf + lf->head, lf->end - lf->head);
		lf->end -= lf->head;
		lf->head = 0;
	}
	return lf->cap - lf->end >= max ? lf->buf + lf->end : NULL;
}

void logfile_count_dropped(struct logfile *lf, uint64_t rows, uint64_t bytes)
{
	st_add(&lf->stats.rows_dropped, rows);
	st_add(&lf->stats.bytes_dropped, bytes);
}

int logfile_append(struct logfile *lf, const char *line, size_t len)
{
	uint64_t rows = 0;

	if (len == 0)
		return 0;
	if (line[len - 1] != '\n')
		return -EINVAL;
	for (const char *p = line, *e = line + len; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		rows++;
	char *dst = logfile_reserve(lf, len);
	if (!dst) {
		logfile_count_dropped(lf, rows, len);
		return -ENOBUFS;
	}
	memcpy(dst, line, len);
	logfile_commit_rows(lf, len, rows);
	return 0;
}

/* ---- fsync ---- */

static void logfile__sync_fd(struct logfile *lf, int fd, int is_dir, int inline_only)
{
	if (lf->conf.sync_fn && !inline_only) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (d < 0) {
			st_add(&lf->stats.sync_errors, 1);
			st_set(&lf->stats.last_errno, (uint64_t)errno);
			return;
		}
		if (lf->conf.sync_fn(lf->conf.sync_ctx, d) < 0) {
			close(d);
			st_add(&lf->stats.sync_errors, 1);
			return;
		}
		st_add(&lf->stats.fsyncs, 1);
		return;
	}
	if ((is_dir ? fsync(fd) : fdatasync(fd)) < 0) {
		if (is_dir && errno == EINVAL)
			return; /* a file system that cannot sync directories */
		st_add(&lf->stats.sync_errors, 1);
		st_set(&lf->stats.last_errno, (uint64_t)errno);
		return;
	}
	st_add(&lf->stats.fsyncs, 1);
}

static void logfile__sync(struct logfile *lf, int inline_only)
{
	if (lf->unsynced && lf->fd >= 0) {
		logfile__sync_fd(lf, lf->fd, 0, inline_only);
		lf->unsynced = 0;
	}
	if (lf->dir_unsynced) {
		logfile__sync_fd(lf, lf->dirfd, 1, inline_only);
		lf->dir_unsynced = 0;
	}
}

/* ---- rotation ---- */

static int logfile__rotate(struct logfile *lf, int64_t now_real_ns)
{
	char old_name[LOGFILE_NAME_MAX], next[LOGFILE_NAME_MAX];
	int old_fd = lf->fd;
	int rc;

	strcpy(old_name, lf->name);
	if (lf->conf.naming == LOGFILE_FIXED) {
		char fixed[LOGFILE_NAME_MAX];
		int n = snprintf(fixed, sizeof(fixed), "%s%s", lf->conf.base, lf->conf.ext ? lf->conf.ext : "");
		if (n < 0 || (size_t)n >= sizeof(fixed))
			return -ENAMETOOLONG;
		if (strcmp(lf->name, fixed) == 0) {
			rc = logfile__rotated_name(lf, next, sizeof(next));
			if (rc < 0)
				return rc;
			rc = logfile__rename_noreplace(lf->dirfd, lf->name, next);
			if (rc < 0)
				return rc;
			strcpy(old_name, next);
			lf->dir_unsynced = 1;
		} /* else: moved aside already, only the new file's open failed last time */
		/* the old descriptor now names old_name; the fixed name is free for the new file */
		rc = logfile__open_name(lf, fixed, 0, now_real_ns);
	} else {
		rc = logfile__stamped_name(lf, next, sizeof(next), now_real_ns, 1);
		if (rc < 0)
			return rc;
		rc = logfile__open_name(lf, next, 1, now_real_ns);
	}
	if (rc != 0) {
		if (lf->conf.naming == LOGFILE_FIXED) {
			strcpy(lf->name, old_name); /* keep writing to the renamed file; retried at the next tick */
			lf->reopen_pending = 1;
		}
		lf->fd = old_fd;
		return rc == 1 ? -EEXIST : rc;
	}
	/* lf->fd is the new file: hand the finished one to fsync, then close it */
	int new_fd = lf->fd;
	lf->fd = old_fd;
	if (lf->unsynced)
		logfile__sync_fd(lf, old_fd, 0, 0);
	close(old_fd);
	lf->fd = new_fd;
	lf->reopen_pending = 0;
	lf->unsynced = 0;
	lf->dir_unsynced = 1;
	lf->file_start_real_ns = now_real_ns;
	logfile__update_gmtoff(lf, now_real_ns);
	st_add(&lf->stats.rotations, 1);
	V2X_TP(log_rotated, old_name);
	return 0;
}

static int logfile__rotation_due(const struct logfile *lf, int64_t now_real_ns)
{
	if (lf->missing)
		return 0; /* reopening starts a new file anyway */
	if (lf->conf.naming == LOGFILE_FIXED && lf->reopen_pending)
		return 1;
	if (lf->file_size <= lf->hdr_len)
		return 0; /* nothing but the header: no file worth starting anew */
	if (lf->conf.rotate_bytes && lf->file_size >= lf->conf.rotate_bytes)
		return 1;
	if (lf->conf.rotate_hourly && logfile__hour_index(lf, now_real_ns) != logfile__hour_index(lf, lf->file_start_real_ns))
		return 1;
	return 0;
}

/* ---- the file removed or moved by someone else ---- */

/*
 * Returns 1 when lf->fd can no longer be reached as <dir>/<name>, the directory resolved by path (the file was
 * removed or moved, or its directory was), with *unlinked = 1 when no name reaches it any more; 0 when it still can;
 * a negative errno when that cannot be told (a transient failure: nothing is done, the next check tries again).
 */
static int logfile__detached(struct logfile *lf, int *unlinked)
{
	char path[4096 + LOGFILE_NAME_MAX + 2];
	struct stat fst, pst;

	*unlinked = 0;
	if (fstat(lf->fd, &fst) < 0)
		return -errno;
	if (fst.st_nlink == 0) {
		*unlinked = 1;
		return 1;
	}
	int n = snprintf(path, sizeof(path), "%s/%s", lf->conf.dir, lf->name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &pst) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : -errno;
	return pst.st_dev != fst.st_dev || pst.st_ino != fst.st_ino;
}

/* Lets go of a file someone else removed or moved: its rows are lost when nothing names it any more. */
static void logfile__detach(struct logfile *lf, int unlinked)
{
	/* after a short write the file holds the start of a row: that row can only be lost, never split */
	int partial_row = lf->hdr_off == lf->hdr_len && lf->file_size != lf->file_whole && lf->head < lf->end;

	if (unlinked) {
		st_add(&lf->stats.rows_unlinked, lf->rows_in_file);
		st_add(&lf->stats.bytes_unlinked, lf->bytes_in_file);
	} else {
		/* moved away: it keeps its rows; leave it with whole lines, synced */
		if (lf->file_size != lf->file_whole && ftruncate(lf->fd, (off_t)lf->file_whole) < 0)
			st_set(&lf->stats.last_errno, (uint64_t)errno); /* a partial last line stays in the moved file */
		if (lf->unsynced)
			logfile__sync_fd(lf, lf->fd, 0, 0);
	}
	if (partial_row) {
		const char *start = lf->buf + lf->head;
		const char *nl = memchr(start, '\n', lf->end - lf->head);
		size_t k = (size_t)(nl - start) + 1; /* [head, end) ends with '\n': nl is never NULL */
		lf->head += k;
		lf->pending_rows--;
		st_add(&lf->stats.rows_lost, 1);
		st_add(&lf->stats.bytes_lost, k);
		if (lf->head == lf->end)
			lf->head = lf->end = 0;
	}
	V2X_TP(log_write_error, lf->name, unlinked ? ENOENT : EXDEV, lf->end - lf->head);
	close(lf->fd);
	lf->fd = -1;
	lf->unsynced = 0;
	lf->reopen_pending = 0;
	lf->rows_in_file = lf->bytes_in_file = 0;
	lf->file_size = lf->file_whole = 0;
	lf->missing = 1;
	st_set(&lf->stats.missing, 1);
	st_add(&lf->stats.missing_episodes, 1);
	logfile__event(lf, LOGFILE_EV_MISSING);
}

/* Opens the file again, the directory looked up by path (it may be a new one).  Returns 0 or a negative errno. */
static int logfile__reopen(struct logfile *lf, int64_t now_real_ns)
{
	char old_name[LOGFILE_NAME_MAX];
	int dfd = open(lf->conf.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	close(lf->dirfd);
	lf->dirfd = dfd;
	strcpy(old_name, lf->name);
	lf->name[0] = '\0';
	int rc = logfile__open_current(lf, now_real_ns);
	if (rc < 0) {
		strcpy(lf->name, old_name);
		return rc;
	}
	lf->missing = 0;
	lf->dir_unsynced = 1;
	logfile__update_gmtoff(lf, now_real_ns);
	st_set(&lf->stats.missing, 0);
	st_add(&lf->stats.reopens, 1);
	logfile__event(lf, LOGFILE_EV_REOPENED);
	return 0;
}

/* Notices a removed or moved file, and reopens it once its directory exists. */
static void logfile__check(struct logfile *lf, int64_t now_real_ns)
{
	int unlinked;

	if (!lf->missing && lf->fd >= 0 && logfile__detached(lf, &unlinked) == 1)
		logfile__detach(lf, unlinked);
	if (lf->missing)
		(void)logfile__reopen(lf, now_real_ns); /* the directory is still gone: next interval */
}

void logfile_tick(struct logfile *lf, uint64_t now_mono_ns, int64_t now_real_ns)
{
	if (!lf->open)
		return;
	int pending = lf->end > lf->head || lf->hdr_off < lf->hdr_len;
	int flush_due = pending && now_mono_ns - lf->last_flush_mono_ns >= lf->conf.flush_interval_ns;

	/* before each timed flush, and every interval while idle: two system calls per file and interval */
	if (flush_due || now_mono_ns - lf->last_check_mono_ns >= lf->conf.flush_interval_ns) {
		lf->last_check_mono_ns = now_mono_ns;
		logfile__check(lf, now_real_ns);
	}

	if (flush_due) {
		lf->last_flush_mono_ns = now_mono_ns; /* also paces the retries while writes fail */
		if (logfile__write_out(lf) == 0)
			pending = 0;
	}
	int rotate = logfile__rotation_due(lf, now_real_ns);
	if (rotate && pending && !lf->in_error && logfile__write_out(lf) == 0)
		pending = 0; /* finish this file's rows before starting the next */
	if ((lf->unsynced || lf->dir_unsynced) && now_mono_ns - lf->last_sync_mono_ns >= lf->conf.fsync_interval_ns) {
		lf->last_sync_mono_ns = now_mono_ns;
		logfile__sync(lf, 0);
	}
	/* rotate only between whole lines, with everything of this file written */
	if (rotate && !pending && lf->file_whole == lf->file_size && now_mono_ns >= lf->next_rotate_mono_ns) {
		int rc = logfile__rotate(lf, now_real_ns);
		if (rc < 0) {
			st_add(&lf->stats.rotate_errors, 1);
			st_set(&lf->stats.rotate_errno, (uint64_t)-rc);
			lf->next_rotate_mono_ns = now_mono_ns + lf->conf.flush_interval_ns; /* never a retry per tick */
			if (!lf->rotate_failing) {
				lf->rotate_failing = 1;
				logfile__event(lf, LOGFILE_EV_ROTATE_ERROR);
			}
		} else if (lf->rotate_failing) {
			lf->rotate_failing = 0;
			logfile__event(lf, LOGFILE_EV_ROTATE_RECOVERED);
		}
	} else if (!rotate && lf->conf.rotate_hourly && lf->file_size <= lf->hdr_len &&
		   logfile__hour_index(lf, now_real_ns) != logfile__hour_index(lf, lf->file_start_real_ns)) {
		lf->file_start_real_ns = now_real_ns; /* an empty file simply starts in the new hour */
	}
}

int logfile_close(struct logfile *lf)
{
	int rc = 0;

	if (!lf->open)
		return 0;
	logfile__check(lf, rt_real_ns());
	rc = logfile__write_out(lf);
	if (lf->end > lf->head) {
		st_add(&lf->stats.rows_lost, lf->pending_rows);
		st_add(&lf->stats.bytes_lost, lf->end - lf->head);
		lf->pending_rows = 0;
		lf->head = lf->end = 0;
	}
	if (lf->fd >= 0 && lf->file_size != lf->file_whole) {
		if (ftruncate(lf->fd, (off_t)lf->file_whole) < 0 && rc == 0)
			rc = -errno;
		else
			lf->file_size = lf->file_whole;
		lf->unsynced = 1;
	}
	logfile__sync(lf, 1);
	if (lf->fd >= 0 && close(lf->fd) < 0 && rc == 0)
		rc = -errno;
	close(lf->dirfd);
	free(lf->buf);
	lf->buf = NULL;
	lf->fd = -1;
	lf->dirfd = -1;
	lf->open = 0;
	return rc;
}

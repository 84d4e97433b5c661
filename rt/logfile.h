/*
 * logfile.h - a durable, buffered line writer for one output file of the log stage.
 *
 * Rows are formatted straight into an in-memory buffer (logfile_reserve / logfile_commit), written out with
 * write() on a short interval and fdatasync()ed on a longer one.  Only whole lines ever stay in a file: a crash
 * leaves at most a trailing partial line, which the next logfile_open() cuts off; a short write (disk filled up
 * mid-way) keeps the unwritten tail at the front of the buffer, so the line completes when space returns; close
 * cuts a file back to its last whole line.  A write error (ENOSPC, EIO, ...) never blocks and never prints: it is
 * counted, traced (V2X_TP log_write_error), flagged once per episode for the control thread
 * (logfile_events_take), and retried at the next flush interval.  While writes fail the buffer keeps filling;
 * once it is full logfile_reserve() returns NULL and the caller counts the row dropped, so the loss is exact.
 * Writing resumes by itself when space returns.
 *
 * Someone else removing or moving the file or its directory (`rm -rf out/`, `mv can_data.csv x`) is noticed in
 * logfile_tick() at most one flush interval later, before the flush: the descriptor's link count is 0, or
 * <dir>/<name> no longer names the open file (or the directory is gone).  The rows this writer had written to a
 * file that is now unlinked are counted lost (rows_unlinked: their bytes went to an inode no name reaches; a moved
 * file keeps its rows and none is counted); the episode is flagged once (LOGFILE_EV_MISSING, stats.missing = 1);
 * the old descriptor is let go, and new rows wait in the buffer (counted dropped when it is full, as with a full
 * disk).  Every flush interval the writer reopens the file by path, <dir> resolved anew (never through the
 * directory descriptor of the start, so a recreated directory works, rotation included), with its header, as soon
 * as the directory exists again (the writer does not recreate a removed directory: it may be an unmounted
 * volume), then writes the waiting rows and flags LOGFILE_EV_REOPENED.  A row whose start reached the old file
 * after a short write is counted lost rather than split across two files.  Traced as log_write_error with err
 * ENOENT (removed) or EXDEV (moved away).
 *
 * Naming: LOGFILE_FIXED keeps one name (`can_data.csv`); on rotation the file is renamed to
 * `<base><stamp><ext>` (default stamp `_%Y%m%d_%H%M%S`, of the time the file was started) and a new one begins with
 * its header.  LOGFILE_STAMPED puts the start time in the name through a strftime pattern
 * (`can_%Y%m%d_%H%M%S` + `.log`); rotation starts a new stamped file.  A name that already exists is never
 * overwritten: `_1`, `_2`, ... is appended before the extension.  Rotation happens by size (rotate_bytes) and/or at
 * each hour boundary (rotate_hourly, local time unless utc_names), checked in logfile_tick().  A failed rotation
 * (a read-only directory, say) is counted, flagged once per episode like a write error, and retried every flush
 * interval; the file meanwhile grows on.
 *
 * Threads: one writer thread calls every function except logfile_events_take() and reads of `stats`, which any
 * thread may do at any time (relaxed atomic loads of monotonic counters, or of in_error/last_errno).  No function
 * allocates after logfile_open().  write() of a regular file can wait for page-cache writeback; fsync is handed to
 * conf.sync_fn when set (the log stage passes one that queues the fd to a low-priority thread) so the writer never
 * waits for the disk itself.
 */
#ifndef V2X_RT_LOGFILE_H
#define V2X_RT_LOGFILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum logfile_naming {
	LOGFILE_FIXED = 0,   /* <dir>/<base><ext>, renamed aside on rotation */
	LOGFILE_STAMPED = 1, /* <dir>/strftime(<base>)<ext>, a new name on rotation */
};

#define LOGFILE_FLUSH_INTERVAL_NS_DEFAULT 100000000ull  /* 100 ms */
#define LOGFILE_FSYNC_INTERVAL_NS_DEFAULT 1000000000ull /* 1 s */
#define LOGFILE_NAME_MAX 256

struct logfile_conf {
	const char *dir;          /* output directory; created (with parents) when missing */
	const char *base;         /* FIXED: "can_data"; STAMPED: strftime pattern, e.g. "merged_can_data_%Y%m%d_%H%M" */
	const char *ext;          /* ".csv", ".log"; NULL = none */
	const char *header;       /* header line ending in '\n', written to each new/empty file; NULL = none */
	enum logfile_naming naming;
	const char *rotated_stamp; /* FIXED: strftime suffix for rotated names; NULL = "_%Y%m%d_%H%M%S" */
	int utc_names;            /* stamps and hour boundaries in UTC instead of local time */
	size_t buf_bytes;         /* write buffer; 0 = 1 MiB */
	uint64_t rotate_bytes;    /* rotate when the file reached this size; 0 = never */
	int rotate_hourly;        /* rotate at each hour boundary */
	uint64_t flush_interval_ns; /* 0 = LOGFILE_FLUSH_INTERVAL_NS_DEFAULT */
	uint64_t fsync_interval_ns; /* 0 = LOGFILE_FSYNC_INTERVAL_NS_DEFAULT */
	/*
	 * When set, the writer does not fsync: it hands a dup() of its descriptor (file, or directory after a
	 * create/rename) to sync_fn, which must fdatasync/fsync and close it, typically on a low-priority thread.
	 * Returns 0 when it took the descriptor, a negative errno when not (the writer then closes it).  Called on the
	 * writer thread: must not block.
	 */
	int (*sync_fn)(void *ctx, int dup_fd);
	void *sync_ctx;
};

/* Counters: written by the writer thread, read by any thread with relaxed loads. */
struct logfile_stats {
	_Atomic uint64_t rows_written;    /* rows whose last byte reached the file */
	_Atomic uint64_t bytes_written;   /* row bytes written (headers not counted) */
	_Atomic uint64_t rows_dropped;    /* rows refused because the buffer was full (logfile_count_dropped) */
	_Atomic uint64_t bytes_dropped;
	_Atomic uint64_t rows_lost;       /* rows still buffered at close that could not be written, and a row cut by
					   a short write when its file was removed or moved */
	_Atomic uint64_t bytes_lost;
	_Atomic uint64_t write_errors;    /* failed write() calls (each retry counts) */
	_Atomic uint64_t error_episodes;  /* times writing went from working to failing */
	_Atomic uint64_t enospc_episodes; /* ... of which because the disk was full (ENOSPC, EDQUOT) */
	_Atomic uint64_t in_error;        /* 1 while writes fail, 0 once the buffer drained again */
	_Atomic uint64_t last_errno;      /* errno of the last failure (positive), 0 = none yet */
	_Atomic uint64_t flushes;         /* write-outs that wrote something */
	_Atomic uint64_t fsyncs;          /* fdatasync()s done or handed to sync_fn */
	_Atomic uint64_t sync_errors;     /* failed fdatasync / dup / sync_fn refusals */
	_Atomic uint64_t rotations;
	_Atomic uint64_t rotate_errors;   /* failed rotations (retried after a flush interval) */
	_Atomic uint64_t rotate_errno;    /* errno of the last failed rotation (positive) */
	_Atomic uint64_t max_flush_ns;    /* longest write-out */
	_Atomic uint64_t rows_unlinked;   /* rows written to a file that someone else then removed (lost) */
	_Atomic uint64_t bytes_unlinked;
	_Atomic uint64_t missing;         /* 1 while the file or its directory is gone (rows wait in the buffer) */
	_Atomic uint64_t missing_episodes; /* times the file was found removed or moved by someone else */
	_Atomic uint64_t reopens;         /* times it was opened again after that */
};

/* logfile_events_take() bits */
enum logfile_event {
	LOGFILE_EV_ERROR = 1u << 0,     /* an error episode began (stats.last_errno says why) */
	LOGFILE_EV_RECOVERED = 1u << 1, /* writing works again (stats say how much was dropped) */
	LOGFILE_EV_MISSING = 1u << 2,   /* the file or its directory was removed or moved by someone else */
	LOGFILE_EV_REOPENED = 1u << 3,  /* the file was opened again (logfile_name() says under which name) */
	LOGFILE_EV_ROTATE_ERROR = 1u << 4,     /* a rotation failed after the previous one worked (stats.rotate_errno) */
	LOGFILE_EV_ROTATE_RECOVERED = 1u << 5, /* a rotation worked again after failures */
};

/* Caller-owned; fields are private to logfile.c except `stats` and `events`. */
struct logfile {
	struct logfile_conf conf;
	struct logfile_stats stats;
	_Atomic unsigned events; /* enum logfile_event bits not yet taken */
	int fd;
	int dirfd;
	char *buf;
	size_t cap;
	size_t head;             /* first byte not yet written */
	size_t end;              /* end of committed rows */
	uint64_t pending_rows;   /* rows whose end is in [head, end) */
	size_t hdr_len;
	size_t hdr_off;          /* header bytes of the current file already written (hdr_len = done) */
	uint64_t file_size;      /* bytes in the current file */
	uint64_t file_whole;     /* file size at its last complete line */
	int64_t file_start_real_ns; /* start time of the current file (names, hour boundaries) */
	int64_t gmtoff_s;        /* local time offset at open (hour boundaries) */
	uint64_t last_flush_mono_ns;
	uint64_t last_sync_mono_ns;
	int unsynced;            /* bytes written since the last fsync */
	int dir_unsynced;        /* a name was created or renamed since the last directory fsync */
	int in_error;            /* writer's copy of stats.in_error */
	int reopen_pending;      /* FIXED: moved aside, but the new file could not be opened yet */
	int missing;             /* writer's copy of stats.missing: fd is -1 until the file is opened again */
	int rotate_failing;      /* the last rotation failed (episode flagged) */
	uint64_t next_rotate_mono_ns; /* after a failed rotation: not retried before this */
	uint64_t last_check_mono_ns; /* last check that the file is still at its path */
	uint64_t rows_in_file;   /* rows this writer wrote to the current file (lost if someone removes it) */
	uint64_t bytes_in_file;
	int open;
	char name[LOGFILE_NAME_MAX]; /* current file name, relative to dir */
};

/*
 * Opens (creating dir and file as needed) the file conf describes; now_real_ns is CLOCK_REALTIME, used for
 * stamped names and hour boundaries.  An existing file is appended to: a trailing partial line is cut off (a file
 * holding only part of a line, such as a partial header, counts as empty and gets the header); an existing file
 * whose first line is not conf->header is moved aside like a rotation.  conf's strings must outlive lf.  Allocates
 * and touches the buffer.  Returns 0 or a negative errno (lf is then closed).  Blocks (file system calls).
 */
int logfile_open(struct logfile *lf, const struct logfile_conf *conf, int64_t now_real_ns);

/* Slow path of logfile_reserve(). */
char *logfile__reserve_slow(struct logfile *lf, size_t max);

/*
 * Returns where up to max bytes of whole rows may be formatted, or NULL when the buffer cannot take max more bytes
 * even after a flush (or while writes fail: no retry here, that waits for the next tick); the caller then counts
 * the row with logfile_count_dropped().  The pointer is valid until the next call on lf.  Writer thread.
 */
static inline char *logfile_reserve(struct logfile *lf, size_t max)
{
	if (lf->cap - lf->end >= max)
		return lf->buf + lf->end;
	return logfile__reserve_slow(lf, max);
}

/* Commits len bytes (one row, ending in '\n') formatted at the pointer logfile_reserve() returned.  Writer thread. */
static inline void logfile_commit(struct logfile *lf, size_t len)
{
	lf->end += len;
	lf->pending_rows++;
}

/* As logfile_commit(), for len bytes holding `rows` whole rows. */
static inline void logfile_commit_rows(struct logfile *lf, size_t len, uint64_t rows)
{
	lf->end += len;
	lf->pending_rows += rows;
}

/* Counts rows the caller could not buffer; bytes = their size when known (else 0).  Writer thread. */
void logfile_count_dropped(struct logfile *lf, uint64_t rows, uint64_t bytes);

/*
 * Copies len bytes of whole lines (each ending in '\n') into the buffer.  Returns 0, or -ENOBUFS when they do not
 * fit (they are then counted dropped), or -EINVAL when line does not end in '\n'.  Writer thread.
 */
int logfile_append(struct logfile *lf, const char *line, size_t len);

/*
 * Periodic work; call at least every few ms from the writer thread with both clocks: every flush_interval_ns it
 * checks that the file is still at its path (reopening it when it was removed or moved and its directory exists),
 * writes out the buffer (this is also the retry after an error), fsyncs when fsync_interval_ns passed, rotates
 * when due (only between whole lines and once the buffer is written out).  Never returns an error: see stats.
 */
void logfile_tick(struct logfile *lf, uint64_t now_mono_ns, int64_t now_real_ns);

/* Writes out the buffer now.  Returns 0 when it is empty afterwards, else the negative errno of the failure. */
int logfile_flush(struct logfile *lf);

/*
 * Checks the file is still at its path (as logfile_tick() does: a removed file's rows are counted lost, a last
 * reopen is tried), writes out what it can, fsyncs (inline, even with sync_fn), counts whatever could not be
 * written as lost, cuts
 * the file back to its last whole line, closes it and frees the buffer.  Returns 0 or the first negative errno.
 * Safe on a closed or zeroed lf.  Blocks.
 */
int logfile_close(struct logfile *lf);

/* Returns and clears the enum logfile_event bits raised since the last call.  Any thread (acquire exchange). */
unsigned logfile_events_take(struct logfile *lf);

/* Returns the current file's name (relative to conf.dir).  Writer thread. */
static inline const char *logfile_name(const struct logfile *lf)
{
	return lf->name;
}

#endif

/*
 * snapshot.h - windows of the latest rows, rewritten as whole files by a low-priority io thread that the writer
 * never waits for; the same io thread runs the writer's fsyncs.  No vehicle knowledge: the log stage, the station
 * daemon and the uplink's spool use it.
 *
 * The writer thread (real-time) keeps, per snapshot file, a window of the latest `rows` rows (rt_snap_row,
 * rt_snap_rows: a memcpy into a byte ring).  At each tick it hands a window over (rt_snap_take): it takes a free buffer from the
 * free ring, copies the window into it (microseconds), and pushes the buffer's index to the io thread.  The io
 * thread writes the header and the rows to <dir>/<file>.tmp, fsyncs it and renames it over <dir>/<file>, so a
 * reader sees the old file or the new one, never a partial one.  If the io thread still holds every buffer, the
 * hand-off is skipped and counted (`skipped`): the writer never waits.  `handoff_waits` counts hand-offs that had
 * to wait for the io thread; the code has no such path, so it stays 0, which tests assert.  `handoff_max_ns` and
 * `handoff_total_ns` measure the hand-off's own cost.
 *
 * Failed snapshot writes are counted (`errors`, `last_errno`) and flagged once per episode (rt_snap_events_take:
 * an error episode begins at the first failure after a success, and ends at the next success), so the control
 * thread can report them.
 *
 * At start, rt_snap_seed() fills a window from the last rows of an existing file (the previous run's snapshot), so
 * a restarted writer's first snapshot still shows the recent past instead of a header-only file.
 *
 * Synchronization: rt_snap_init / rt_snap_add / rt_snap_seed / rt_snap_start_io from the control thread before the
 * writer starts; rt_snap_row, rt_snap_rows, rt_snap_take, rt_snap_sync_hook from the writer thread only; rt_snap_finish from the
 * writer when it ends (the io thread writes what was handed over, then exits); rt_snap_fini after the writer was
 * joined (joins the io thread); statistics and rt_snap_events_take from any thread (relaxed loads).
 * Nothing allocates after rt_snap_start_io.
 */
#ifndef V2X_RT_SNAPSHOT_H
#define V2X_RT_SNAPSHOT_H

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/ring.h"
#include "rt/thread.h"
#include "rt/wait.h"

#define RT_SNAP_MAX_KINDS 8
#define RT_SNAP_NAME_MAX 128

/*
 * A window of the latest rows: their text back to back in a byte ring of cap * row_max bytes, which therefore always
 * holds the latest cap rows whole (each is at most row_max bytes and ends in '\n'); the hand-off finds them by their
 * '\n' (about 10 us for 1000 rows, once per snapshot), so appending is a plain copy, one per batch of rows.
 */
struct rt_snap_window {
	char *ring;
	size_t size;            /* cap * row_max */
	size_t pos;             /* where the next byte goes */
	int wrapped;            /* the ring was filled once: the oldest bytes may be the tail of an overwritten row */
	size_t row_max;
	unsigned cap;
};

struct rt_snap_kind {
	char file[RT_SNAP_NAME_MAX]; /* name inside dir, e.g. "can_data_snapshot.csv" */
	const char *header;          /* header line (with '\n'), static storage; may be NULL */
	struct rt_snap_window win;
};

struct rt_snap_buf {
	uint32_t kind;
	uint32_t rows;
	size_t bytes;
	char *data;                  /* rows back to back, oldest first */
	size_t cap;
};

/* rt_snap_events_take() bits */
enum rt_snap_event {
	RT_SNAP_EV_ERROR = 1u << 0,     /* a snapshot write failed after the previous one worked */
	RT_SNAP_EV_RECOVERED = 1u << 1, /* a snapshot was written again after failures */
};

struct rt_snapshots {
	char dir[4096];
	struct rt_snap_kind kinds[RT_SNAP_MAX_KINDS];
	unsigned n_kinds;
	struct rt_snap_buf *bufs;    /* two per kind */
	unsigned n_bufs;
	struct ring snap_free, snap_full; /* uint32_t buffer indices */
	struct ring sync_req;        /* int descriptors to fsync and close */
	struct rt_waiter io_waiter;
	struct rt_thread io_thread;
	_Atomic int io_stop;
	_Atomic int io_paused;       /* test seam: while set, the io thread takes no work (stands for a busy disk) */
	int io_started;
	_Atomic int in_error;        /* the last snapshot write failed (io thread writes) */
	/* statistics: writer thread (handoffs, skipped, handoff_*), io thread (the rest) */
	_Atomic uint64_t handoffs, skipped, handoff_waits, handoff_max_ns, handoff_total_ns;
	_Atomic uint64_t written, errors, last_errno, min_ns, max_ns, last_bytes;
	_Atomic uint64_t fsyncs, fsync_errors;
	_Atomic unsigned events;     /* enum rt_snap_event bits not yet taken */
};

/* Prepares s for snapshots in dir (copied).  Returns 0 or -errno. */
int rt_snap_init(struct rt_snapshots *s, const char *dir);

/*
 * Adds a snapshot file: the latest `rows` rows of at most row_max bytes each (longer rows are cut, which a caller
 * with bounded formatters never causes).  header must outlive s.  Returns the kind (>= 0) or -errno.  Allocates.
 */
int rt_snap_add(struct rt_snapshots *s, const char *file, const char *header, unsigned rows, size_t row_max);

/*
 * Fills kind's window from the last rows of <dir>/<file> when it exists (skipping its header line and any partial
 * last line).  Returns the number of rows taken, or -errno (a missing file is 0).  Reads at most the last
 * rows * row_max bytes.  Control thread, before the writer starts.
 */
int rt_snap_seed(struct rt_snapshots *s, int kind);

/* Allocates the hand-off buffers and rings, and starts the io thread on cpus (empty: any CPU).  Returns 0 or -errno. */
int rt_snap_start_io(struct rt_snapshots *s, const cpu_set_t *cpus);

/* Writer: appends one row (with its '\n') to kind's window.  A memcpy; never blocks.  A row longer than row_max
 * (which a caller with bounded formatters never passes) is cut to row_max - 1 bytes and a '\n'. */
void rt_snap_row(struct rt_snapshots *s, int kind, const char *row, size_t len);

/* Writer: appends len bytes of whole rows (each at most row_max bytes, each ending in '\n') to kind's window, as
 * that many rt_snap_row calls would.  One or two memcpy; never blocks. */
void rt_snap_rows(struct rt_snapshots *s, int kind, const char *rows, size_t len);

/* Writer: hands kind's window to the io thread if a buffer is free, else counts it skipped.  Never waits. */
void rt_snap_take(struct rt_snapshots *s, int kind);

/* Writer, when the stream has ended (stop): as rt_snap_take, but waits up to max_wait_ns for a free buffer, so the
 * last rows reach the snapshot file even behind a slow disk. */
void rt_snap_take_wait(struct rt_snapshots *s, int kind, uint64_t max_wait_ns);

/* A struct logfile_conf.sync_fn (ctx = s): queues the writer's dup()ed descriptor for fsync on the io thread. */
int rt_snap_sync_hook(void *ctx, int dup_fd);

/* Writer, when it ends: the io thread writes what was handed over, runs the queued fsyncs, then exits. */
void rt_snap_finish(struct rt_snapshots *s);

/* Joins the io thread (telling it to finish if the writer never did), closes queued descriptors, frees.  Safe on a
 * zeroed or partly initialised s. */
void rt_snap_fini(struct rt_snapshots *s);

/* Returns and clears the enum rt_snap_event bits raised since the last call.  Any thread. */
unsigned rt_snap_events_take(struct rt_snapshots *s);

/* Test seam: pause (1) or resume (0) the io thread, standing for an io thread stuck on a slow disk.  Any thread. */
void rt_snap_pause_io(struct rt_snapshots *s, int paused);

/* True while the last snapshot write failed.  Any thread. */
int rt_snap_in_error(struct rt_snapshots *s);

#endif

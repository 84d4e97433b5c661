/*
 * log_stage.h - the logging stage: every record reaches disk, in receive order, and snapshots never stall it.
 *
 * Two threads:
 *   - the log thread (real-time) takes records from decode's ring and formats them straight into the buffers of
 *     can_data.csv, the candump log can_<start>.log and gps_data.csv (rt/logfile.h: whole lines, flush every
 *     flush_ns, rotation, crash repair, disk-full accounting).  Every CAN row carries the GPS fix that was current
 *     when its frame arrived (GPS records flow through the same ring, in order).  It keeps the latest snapshot_rows
 *     rows of each CSV in a window of fixed-size slots; every snapshot_ns it copies a window into a free snapshot
 *     buffer (a memcpy, microseconds) and hands it over; every merged_ns it reads the RCU-published vehicle state and
 *     appends a merged_can_data row.
 *   - the io thread (low priority, on the housekeeping CPUs when given, else any CPU; started by the control thread
 *     with log_stage_start_io()) writes each handed-over snapshot to a temporary file, fsyncs it
 *     and renames it over can_data_snapshot.csv / gps_data_snapshot.csv (a reader never sees a partial file), and
 *     runs the fsyncs the log thread asks for (the log files' fsyncs happen here, on dup()ed descriptors, because an
 *     fsync can block for long).
 * The hand-over uses two SPSC rings of buffer indices (free: io -> log, full: log -> io) and a fixed set of buffers:
 * no allocation and no lock after start-up.  If the io thread still holds every buffer at a tick, that snapshot is
 * skipped and counted; the CAN path never waits for it.
 *
 * Synchronization: log_stage_init, log_stage_start_io and log_stage_fini from the control thread, before the log
 * thread starts / after it was joined (fini also stops and joins the io thread); log_stage_get_status and
 * log_stage_report from the control thread at any time (relaxed reads of single-writer counters; get_status also
 * reads the published state, so the calling thread must be registered with RCU).
 */
#ifndef V2X_STAGES_LOG_LOG_STAGE_H
#define V2X_STAGES_LOG_LOG_STAGE_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt/counters.h"
#include "rt/histogram.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/thread.h"
#include "rt/wait.h"
#include "vehicle/record.h"
#include "stages/log/csv_format.h"
#include "rt/logfile.h"

#define LOG_ROW_MAX CSV_CAN_ROW_MAX /* a window slot: the longest can_data / gps_data row, with its newline */
_Static_assert(CSV_GPS_ROW_MAX <= LOG_ROW_MAX, "a gps_data row must fit a window slot");
#define LOG_SNAP_BUFFERS 4  /* two per snapshot kind in flight */

enum log_snap_kind { LOG_SNAP_CAN = 0, LOG_SNAP_GPS = 1 };

struct log_stage_conf {
	const char *out_dir;
	uint64_t flush_ns, fsync_ns;
	uint64_t rotate_bytes;
	int rotate_hourly;
	uint64_t snapshot_ns;
	unsigned snapshot_rows;
	uint64_t merged_ns;
	const char *ifname;
	cpu_set_t house_cpus;   /* where the io thread runs (empty: anywhere) */
	size_t buffer_bytes;    /* per log file buffer (default 4 MiB for the CAN files, 512 KiB others) */
};

/* A window of the latest rows, as fixed-size slots. */
struct log_window {
	char *slots;            /* cap * LOG_ROW_MAX */
	uint16_t *len;
	unsigned cap, head, count;
};

struct log_snap_buf {
	uint32_t kind;
	uint32_t rows;
	size_t bytes;
	char *data;             /* rows back to back, oldest first */
	size_t cap;
};

struct log_stage_status {
	int have_fix, fix_valid;
	double lat_deg, lon_deg;
	unsigned sats;
	int disk_error;
	uint64_t rows_lost; /* the sum of the four below */
	uint64_t rows_lost_can, rows_lost_candump, rows_lost_gps, rows_lost_merged;
	uint64_t snapshots_written, snapshots_skipped;
	int close_errno;  /* the final flush/fsync/close of a file failed (errno) */
};

struct log_stage {
	struct log_stage_conf conf;
	struct ring *in;
	struct rt_waiter *waiter;
	struct rcu_pub *state;            /* decode's published struct vstate (merged rows) */
	struct logfile can_csv, candump, gps_csv, merged;
	struct gps_fix fix;
	int have_fix;
	struct log_window can_win, gps_win;
	struct log_snap_buf bufs[LOG_SNAP_BUFFERS];
	struct ring snap_free, snap_full; /* uint32_t buffer indices */
	struct ring sync_req;             /* int descriptors to fsync and close */
	struct rt_waiter io_waiter;
	struct rt_thread io_thread;
	_Atomic int io_stop;
	uint64_t next_snapshot_mono_ns, next_merged_mono_ns;
	uint64_t oldest_unflushed_rx_mono_ns; /* of the rows in can_data.csv's buffer; 0 = none */
	uint64_t can_flushes_seen;
	struct rt_counters ctr;           /* in = records, out = records logged; rows lost: each logfile's stats */
	struct rt_hist rx_to_logged_ns;   /* receive -> row in the writer's buffer */
	struct rt_hist rx_to_file_ns;     /* receive -> write() returned, worst row of each flush */
	/* snapshot statistics (io thread writes, control thread reads) */
	_Atomic uint64_t snapshots_written, snapshots_skipped, snapshot_errors;
	_Atomic uint64_t snapshot_min_ns, snapshot_max_ns, snapshot_last_bytes;
	_Atomic uint64_t fsyncs, fsync_errors;
	_Atomic int close_errno;          /* first error of the final flush/fsync/close of a file; 0 = none */
	int io_started;
};

/* Fills conf with the defaults (100 ms flush, 1 s fsync, no rotation, 4 s / 1000 rows snapshots, 1 s merged). */
void log_stage_conf_init(struct log_stage_conf *conf, const char *out_dir);

/*
 * Opens every file (repairing a partial last line), allocates windows, snapshot buffers and rings.  state may be
 * NULL (no merged file).  Returns 0 or -errno.  Control thread, before the log thread starts.
 */
int log_stage_init(struct log_stage *ls, const struct log_stage_conf *conf, struct ring *in, struct rt_waiter *waiter,
		   struct rcu_pub *state);

/* Starts the io thread (control thread; after init, before the log thread).  Returns 0 or -errno. */
int log_stage_start_io(struct log_stage *ls);

/* The log thread (arg: struct log_stage *): runs until its input ring is drained, hands over the last snapshots,
 * closes the files (flush + fsync) and tells the io thread to finish.  Registers with RCU.  Returns NULL. */
void *log_stage_thread(void *arg);

/* Joins the io thread, closes any file still open, frees everything (after the log thread was joined, or when it
 * never started).  Safe on a zeroed or partly initialised stage.  Returns 0, or -EIO when rows were lost or a file
 * could not be finished. */
int log_stage_fini(struct log_stage *ls);

/* Control thread: a summary for the status line. */
void log_stage_get_status(struct log_stage *ls, struct log_stage_status *st);

/* Control thread: logs disk errors once per episode, and their end with what was lost. */
void log_stage_report(struct log_stage *ls);

#endif

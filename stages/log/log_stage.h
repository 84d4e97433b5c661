/*
 * log_stage.h - the logging stage: every record reaches disk, in receive order per producer, and snapshots never
 * stall it.
 *
 * Inputs: several rings, one per producer (rings are single-producer), all waking the stage's one waiter.  "Drained"
 * means every input is closed and empty.  Two kinds of input:
 *   - records (struct rx_record) from a receive stage: CAN frames and GPS fixes in one ring, in arrival order, so
 *     every CAN row carries the GPS fix that was current when its frame arrived;
 *   - lines (struct log_line) from any other stage, each naming one of the files the producer declared: a producer
 *     declares its files by providing a struct log_line_sinks under "log_sinks.<producer name>"
 *     (rt_pipeline_provide) during its init.  An input whose producer declared nothing carries records.
 * Files are a table of sinks: a durable file (rt/logfile.h: whole lines, flush, fsync on the io thread, rotation,
 * crash repair, exact loss accounting), a row formatter, and an optional snapshot window (rt/snapshot.h: the latest
 * rows rewritten every snapshot_ns by the io thread, which the log thread never waits for).  The record sinks are
 * can_data.csv (+ can_data_snapshot.csv), the candump log can_<start>.log, gps_data.csv (+ gps_data_snapshot.csv)
 * and, when the vehicle state is published ("vstate" provided by decode), one merged_can_data row every merged_ns.
 * At start the snapshot windows are seeded from the previous run's snapshot files.
 *
 * The CAN frames of a batch taken from a ring go in runs (consecutive frames of one link): when both files' buffers
 * can take the run's longest lines, the can_data row and candump line of every frame are formatted in place in one
 * pass (csv_can_lines_run), committed at once and appended to the snapshot window at once; otherwise frame by frame,
 * so a full buffer loses exactly the lines it cannot take.  Tracepoints: one log_batch per run (link, first and last
 * seq, count of rows buffered), and log_row per frame, cheap when disabled (tested once per run).  The latency
 * histogram rx_to_logged_ns gets one sample per record, stored once per batch.
 *
 * Synchronization: log_stage_init and log_stage_fini from the control thread, before the log thread starts / after
 * it was joined (fini also stops and joins the io thread); log_stage_get_status and log_stage_report from the
 * control thread at any time (relaxed reads of single-writer counters; get_status also reads the published state,
 * so the calling thread must be registered with RCU).
 */
#ifndef V2X_STAGES_LOG_LOG_STAGE_H
#define V2X_STAGES_LOG_LOG_STAGE_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rt/config.h"
#include "rt/counters.h"
#include "rt/histogram.h"
#include "rt/logfile.h"
#include "rt/pipeline.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/snapshot.h"
#include "rt/wait.h"
#include "stages/log/csv_format.h"
#include "vehicle/record.h"

#define LOG_MAX_SINKS 16
#define LOG_LINE_MAX 480 /* a struct log_line's text, with its '\n' */

/* One row for a file a producer declared.  Fixed size, copied by value through the producer's ring. */
struct log_line {
	uint64_t rx_mono_ns;     /* when the data arrived (latency), 0 = unknown */
	uint16_t sink;           /* index into the producer's struct log_line_sinks */
	uint16_t len;            /* bytes of text, the last one '\n' */
	char text[LOG_LINE_MAX];
};

/* A file a line producer writes. */
struct log_line_sink {
	const char *base;        /* LOGFILE_FIXED name or LOGFILE_STAMPED strftime pattern, e.g. "ESP_now_data_%Y%m%d_%H%M" */
	const char *ext;         /* ".csv" */
	enum logfile_naming naming;
	const char *header;      /* header line with '\n' */
	int rotating;            /* follows the [log] rotation settings */
};

struct log_line_sinks {
	const struct log_line_sink *sinks;
	size_t n;
};

struct log_stage_conf {
	char out_dir[1024];
	uint64_t flush_ns, fsync_ns;
	uint64_t rotate_bytes;
	int rotate_hourly;
	uint64_t snapshot_ns;
	unsigned snapshot_rows;
	uint64_t merged_ns;
	char ifname[16];
	cpu_set_t house_cpus;   /* where the io thread runs (empty: anywhere) */
	size_t buffer_bytes;    /* per log file buffer (0: 4 MiB for the CAN files, 512 KiB others) */
	uint64_t budget_ns;     /* latency budget: the thread wakes at least this often (flushes, snapshots, rows) */
	unsigned wake_records;  /* a producer wakes the sleeping thread only once this many records wait (1: always) */
	struct rt_sched_conf sched; /* [log] cpus, policy, priority of the log thread */
};

/* What a sink does with input records.  Line sinks have kind LOG_SINK_LINES. */
enum log_sink_kind { LOG_SINK_CAN_CSV, LOG_SINK_CANDUMP, LOG_SINK_GPS_CSV, LOG_SINK_MERGED, LOG_SINK_LINES };

struct log_sink {
	const char *name;        /* for messages: "can_data.csv" */
	enum log_sink_kind kind;
	struct logfile file;
	int snap;                /* snapshot kind, or -1 */
	int active;              /* the file was opened */
};

struct log_input {
	struct ring *ring;
	int lines;               /* carries struct log_line (else struct rx_record) */
	int first_sink;          /* lines: index of the producer's first sink in log_stage.sinks */
	int n_sinks;
	_Atomic uint64_t bad_lines; /* lines naming an unknown sink or malformed (counted, dropped) */
};

struct log_stage_status {
	int have_fix, fix_valid;
	double lat_deg, lon_deg;
	unsigned sats;
	int disk_error;
	int snapshot_error;
	unsigned files_missing;  /* files now removed or moved away by someone else (waiting to be opened again) */
	uint64_t missing_episodes; /* times a file was found removed or moved, over every sink */
	uint64_t rows_lost;      /* over every sink */
	uint64_t rows_lost_can, rows_lost_candump, rows_lost_gps, rows_lost_merged;
	uint64_t snapshots_written, snapshots_skipped, snapshot_errors, rotate_errors;
	int close_errno;         /* the final flush/fsync/close of a file failed (errno) */
};

struct log_stage {
	struct log_stage_conf conf;
	struct log_input inputs[RT_PIPELINE_MAX_PORTS];
	size_t n_inputs;
	struct rt_waiter *waiter;
	struct rcu_pub *state;            /* decode's published struct vstate (merged rows), or NULL */
	struct log_sink sinks[LOG_MAX_SINKS];
	size_t n_sinks;
	int can_csv, candump, gps_csv, merged; /* indices of the record sinks (-1 when absent) */
	struct rt_snapshots snaps;
	struct csv_gps_suffix gps;
	struct csv_can_ctx can_ctx;       /* can_data row and candump line formatted together */
	size_t can_run_max;               /* frames formatted at once: their longest lines fit a quarter of a buffer */
	uint64_t next_snapshot_mono_ns, next_merged_mono_ns;
	uint64_t oldest_unflushed_rx_mono_ns; /* of the rows in can_data.csv's buffer; 0 = none */
	struct rt_counters ctr;           /* in = records and lines, out = the same once formatted; rows lost: per file */
	struct rt_hist rx_to_logged_ns;   /* receive -> row in the writer's buffer */
	struct rt_hist rx_to_file_ns;     /* receive -> write() returned, worst row of each flush */
	_Atomic int close_errno;          /* first error of the final flush/fsync/close of a file; 0 = none */
	int io_started;
};

/* Fills conf with the defaults (out ".", 100 ms flush, 1 s fsync, no rotation, 4 s / 1000 rows snapshots, 1 s
 * merged, ifname can0). */
void log_stage_conf_init(struct log_stage_conf *conf);

/*
 * Prepares the stage for inputs in[0..n_in-1] (in_sinks[i]: the files of a line input, or NULL for a record
 * input), waking waiter.  state may be NULL (no merged file).  Opens every file (repairing a partial last line),
 * seeds the snapshot windows from the previous run's snapshots, and starts the io thread.  Returns 0 or -errno.
 * Control thread, before the log thread starts.
 */
int log_stage_init(struct log_stage *ls, const struct log_stage_conf *conf, struct ring *const *in,
		   const struct log_line_sinks *const *in_sinks, size_t n_in, struct rt_waiter *waiter,
		   struct rcu_pub *state);

/* The log thread (arg: struct log_stage *): runs until every input is drained, hands over the last snapshots,
 * closes the files (flush + fsync) and tells the io thread to finish.  Registers with RCU.  Returns NULL. */
void *log_stage_thread(void *arg);

/* Joins the io thread, closes any file still open, frees everything (after the log thread was joined, or when it
 * never started).  Safe on a zeroed or partly initialised stage.  Returns 0, or -EIO when rows were lost or a file
 * could not be finished. */
int log_stage_fini(struct log_stage *ls);

/* Control thread, after the log thread was joined: waits until the io thread wrote the last snapshots and ran the
 * last fsyncs, so the statistics are final.  Idempotent; log_stage_fini does it too. */
void log_stage_join_io(struct log_stage *ls);

/* Control thread: a summary for the status line. */
void log_stage_get_status(struct log_stage *ls, struct log_stage_status *st);

/* Control thread: logs disk, snapshot and rotation errors, and files removed or moved by someone else, once per
 * episode, and their end with what was lost. */
void log_stage_report(struct log_stage *ls);

/* The pipeline entry (rt/pipeline.h): the [log] configuration (struct log_stage_conf); inputs as described above. */
extern const struct rt_stage_desc log_stage;
extern const struct rt_config_table log_config;

#endif

/*
 * decode_stage.h - the decode stage: records from can_rx become signals and the published vehicle state.
 *
 * The thread takes records from its input ring in place (ring_peek), a batch at a time: it decodes the batch's CAN
 * frames with the compiled DBC (stages/decode/decoder.h) straight into its live struct vstate in one decoder call,
 * applies GPS fixes and status, counts refused values once per batch, emits can_batch_decoded once per run of one
 * link's records, forwards every record unchanged to the logging stage's ring (when it has one), and publishes the
 * vehicle state through RCU (rt/rcu_state.h) after each batch, at most once per publish_ns.  Readers of the state
 * never block it.  On shutdown it drains its input ring, publishes a last time and closes its output ring.
 * Real-time thread: counts and traces, never logs.
 */
#ifndef V2X_STAGES_DECODE_DECODE_STAGE_H
#define V2X_STAGES_DECODE_DECODE_STAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rt/config.h"
#include "rt/counters.h"
#include "rt/histogram.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/wait.h"
#include "vehicle/vstate.h"
#include "stages/decode/decoder.h"

enum decode_drop {
	DECODE_DROP_RING_FULL = 0, /* the log ring stayed full: record not forwarded */
	DECODE_DROP_RANGE,         /* signal values outside the DBC's [min|max] (sentinels) */
	DECODE_DROP_SHORT_DLC,     /* signal values beyond the frame's DLC */
	DECODE_DROP_GATED,         /* signal values of frames the BMS marked invalid */
	DECODE_DROP_UNKNOWN_ID,    /* frames the DBC does not describe (not an error; counted) */
	DECODE_DROP__COUNT
};

/* How decode_stage_apply_batch() goes through a batch (the same end state each way). */
enum decode_path {
	DECODE_PATH_AUTO = 0,  /* per batch, from the tracepoints a session enables (the default) */
	DECODE_PATH_BATCH,     /* the batch's CAN frames in one decoder call */
	DECODE_PATH_RUNS,      /* one decoder call per run of one link, then can_batch_decoded */
	DECODE_PATH_RECORDS,   /* record by record, with can_signals_decoded and can_batch_decoded */
};

struct decode_stage {
	struct ring *in;
	struct ring *out;            /* to log (may be NULL in tests) */
	struct rt_waiter *waiter;    /* the stage's waiter, attached to `in` */
	struct decoder *dec;         /* not owned */
	struct rcu_pub pub;          /* publishes struct vstate */
	struct vstate live;
	uint64_t publish_ns;         /* minimum time between publications (default 1 ms) */
	uint64_t last_publish_mono_ns;
	uint64_t tick_ns;            /* decoder_tick period (bus_online), default 100 ms */
	uint64_t last_tick_mono_ns;
	uint64_t full_wait_ns;
	int dirty;
	struct rt_counters ctr;      /* in = records, out = forwarded, dropped by enum decode_drop */
	struct rt_hist rx_to_decoded_ns; /* CLOCK_MONOTONIC read -> signals applied, per CAN frame batch */
	struct decoder *owned_dec;   /* the decoder the pipeline entry loaded (destroyed by its fini) */
	char dbc_name[64];           /* the DBC's file name ("twizy.dbc" when built in), provided as "dbc_name" */
	enum decode_path path;       /* DECODE_PATH_AUTO; tests force the others to compare them */
};

/* [decode] configuration. */
struct decode_conf {
	char dbc[1024];              /* signal database; "" = the built-in twizy.dbc */
	bool allow_empty_dbc;        /* accept a database without messages (every frame then "unknown id") */
	uint64_t publish_ns;         /* minimum time between publications of the vehicle state */
	struct rt_sched_conf sched;
};

/*
 * Loads the DBC at path ("" or NULL: the built-in one) into a new decoder, logging a clear error (control thread).
 * Refuses what cannot be a database (rt: dbc_load_flags) and, unless allow_empty, one without messages.
 * Returns 0 or -errno.
 */
int decode_load_decoder(const char *path, bool allow_empty, struct decoder **out);

/* The pipeline entry (rt/pipeline.h): loads the DBC, provides the published state as "vstate" (struct rcu_pub *) and
 * the DBC's file name as "dbc_name" (const char *),
 * forwards nothing (the log stage reads can_rx directly). */
struct rt_stage_desc;
extern const struct rt_stage_desc decode_stage;
extern const struct rt_config_table decode_config;

/* Prepares the stage (caller-owned st): sets up the RCU publisher.  Returns 0 or -errno. */
int decode_stage_init(struct decode_stage *st, struct decoder *dec, struct ring *in, struct rt_waiter *waiter,
		      struct ring *out);

/* Releases the publisher (after the thread was joined and every reader stopped). */
void decode_stage_fini(struct decode_stage *st);

/* The thread body (arg: struct decode_stage *).  Registers itself with RCU.  Returns NULL. */
void *decode_stage_thread(void *arg);

/* Applies n records (a batch popped from the input ring) to the live state: decoded signals straight into it, the
   drop counters once per batch, the tracepoint can_batch_decoded once per run of records of one link and
   can_signals_decoded per frame.  The CAN frames of the batch (or, while a session enables can_batch_decoded, of
   each run) take one decoder call; record by record while can_signals_decoded is enabled.  The state ends as
   applying the records one by one in order leaves it.  No publication.  The stage's thread (or a test owning st). */
void decode_stage_apply_batch(struct decode_stage *st, const struct rx_record *recs, size_t n);

/* Applies one record, always by the record-by-record path (the reference for decode_stage_apply_batch). */
void decode_stage_apply(struct decode_stage *st, const struct rx_record *rec);

#endif

/*
 * v2g_stage.h - the v2g stage: the V2X tables, the charging-session machine and the outbound messages.
 *
 * Inputs: hub_io's ring (struct hub_rx_rec), and the vehicle state decode publishes ("vstate", RCU), sampled
 * whenever it changed.  Every received vehicle or station item updates the tables (v2x_tables.h) and becomes an
 * ESP_now_data row; station messages that are not duplicates or out of order, stop acknowledgements, new vehicle
 * signals, control commands and a periodic tick go to the machine (session.h).  Its actions are executed here: V2G
 * messages go to hub_io's ring, session rows to the log stage's ring, and the session is saved atomically (temporary
 * file, fsync, rename, directory fsync) in the state directory on every transition and every save period; it is
 * restored at init.  The vehicle's own Item (v2g_rows.h, from the published state) goes to hub_io every item period:
 * a timer, never an answer to a received item.
 *
 * Outputs never wait: a full ring is counted (`tx_full`, `rows_full`).  Saving the state blocks this thread for the
 * fsyncs (a few ms per transition); nothing on the CAN path waits for it.
 *
 * Files (declared to the log stage as "log_sinks.v2g"): ESP_now_data_YYYYMMDD_HHMM.csv and
 * v2g_sessions_YYYYMMDD_HHMM.csv, both created with their header at start.
 *
 * Control: the v2g_cmd_* functions are rt_control command handlers (ctx: the struct v2g_stage) for `sessions`,
 * `neighbours`, `stations`, `stop-charging`, `set-desired-soc` (args {"soc": N}) and `set-max-cost` (args
 * {"cost": X}); they run on the control thread.  Commands reach the v2g thread through a mailbox of atomics; views
 * come back as a copy published under a mutex the v2g thread only try-locks (it never waits for the control thread).
 *
 * Threads: init/fini on the control thread; the thread body on its own thread (registered with RCU); the v2g_cmd_*
 * handlers on the control thread, at any time between init and fini.
 */
#ifndef V2X_STAGES_V2G_V2G_STAGE_H
#define V2X_STAGES_V2G_V2G_STAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rt/config.h"
#include "rt/counters.h"
#include "rt/pipeline.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "stages/hub_io/hub_io.h"
#include "stages/v2g/session.h"
#include "stages/v2g/v2x_tables.h"

#define V2G_RECENT_MAX 8
#define V2G_STATE_FILE "v2g_session.state"

struct v2g_stage_conf {
	char state_dir[1024];
	uint64_t item_period_ns;     /* own Item to the hub (V2V broadcast), 2 s */
	uint64_t tick_ns;            /* machine tick, 200 ms */
	uint64_t expiry_ns;          /* neighbours and stations forgotten after this silence, 60 s */
	double desired_soc;          /* initial desired SOC, 100 */
	double max_cost;             /* initial cost cap, 0 = none */
	/* the machine (session.h), in the units the keys use */
	double match_radius_m, depart_radius_m, current_on_a, current_off_a, nearer_margin_m;
	uint64_t match_window_ns, off_hold_ns, negotiate_timeout_ns, station_timeout_ns, msg_period_ns;
	uint64_t stop_retry_ns, fall_timeout_ns, sample_gap_max_ns, save_period_ns;
	unsigned stop_retries;
	bool ack_by_current;
	struct rt_sched_conf sched;
};

/* What the control thread sees (copied under the mutex). */
struct v2g_view {
	enum v2g_state state;
	int active;
	struct v2g_record current;   /* the open session so far (when active) */
	double desired_soc, max_cost;
	struct v2g_record recent[V2G_RECENT_MAX]; /* the last finished sessions, oldest first */
	unsigned n_recent;
	struct v2x_neighbour neigh[V2X_NEIGH_MAX];
	struct v2x_station_entry station[V2X_STATION_MAX];
	uint64_t updated_mono_ns;
};

enum v2g_drop {
	V2G_DROP_TX_FULL = 0,   /* hub_io's ring full */
	V2G_DROP_ROWS_FULL,     /* the log's ring full */
	V2G_DROP_ROW_FORMAT,    /* a row did not fit a log line */
	V2G_DROP_SAVE_FAILED,   /* the state could not be saved */
	V2G_DROP_DUPLICATE,     /* station message not applied: duplicate */
	V2G_DROP_STALE,         /* station message not applied: out of order */
	V2G_DROP__COUNT
};

struct v2g_stage {
	struct v2g_stage_conf conf;
	struct ring *in;             /* from hub_io */
	struct ring *to_hub;         /* to hub_io, or NULL */
	struct ring *to_log;         /* to the log stage, or NULL */
	struct ring *cmd_in;         /* RPC commands from the uplink (struct rpc_cmd), or NULL */
	struct ring *to_uplink;      /* session start/end events to the uplink (struct telem_session_event), or NULL */
	int was_active;              /* a session was open after the last step (start events) */
	_Atomic uint64_t events_full; /* session events the uplink's ring could not take */
	struct rt_waiter *waiter;
	struct rcu_pub *vstate;      /* decode's published state, or NULL */
	uint64_t vstate_gen;
	struct v2g_session m;
	struct v2x_tables tab;
	uint64_t next_item_ns, next_publish_ns;
	int restored;                /* a saved session was restored at init (1), refused (-1), none (0) */
	/* mailbox: control thread -> v2g thread (release stores, acquire loads) */
	_Atomic uint64_t cmd_stop_gen, cmd_soc_gen, cmd_cost_gen;
	_Atomic uint64_t cmd_soc_bits, cmd_cost_bits;
	uint64_t seen_stop_gen, seen_soc_gen, seen_cost_gen;
	/* view: v2g thread -> control thread */
	pthread_mutex_t view_lock;
	int view_lock_ok;
	struct v2g_view view;        /* under view_lock */
	struct v2g_view scratch;     /* v2g thread's copy being built */
	struct rt_counters ctr;      /* in: hub records; out: rows and messages queued; dropped by enum v2g_drop */
	_Atomic uint64_t transitions, sessions, saves, items_out, v2g_out, view_skipped;
};

/* Fills conf with the defaults (state_dir ".", and session.h's defaults). */
void v2g_stage_conf_init(struct v2g_stage_conf *conf);

/* The machine's configuration from the stage's. */
void v2g_stage_session_conf(const struct v2g_stage_conf *c, struct v2g_conf *out);

/*
 * Prepares the stage: in from hub_io (required), to_hub and to_log (may be NULL), the published vehicle state (may be
 * NULL), and restores a saved session from conf->state_dir (a blob that does not parse is moved aside as
 * "<file>.bad" and counted, never trusted).  Returns 0 or -errno.  Control thread.
 */
int v2g_stage_init(struct v2g_stage *s, const struct v2g_stage_conf *conf, struct ring *in, struct ring *to_hub,
		   struct ring *to_log, struct rt_waiter *waiter, struct rcu_pub *vstate);

/* After the thread was joined, or when it never started. */
void v2g_stage_fini(struct v2g_stage *s);

/* The thread body (arg: struct v2g_stage *): runs until its input is drained and closed, then closes its outputs. */
void *v2g_stage_thread(void *arg);

/* Control-thread command handlers (rt_control_cmd_fn; ctx: struct v2g_stage *). */
int v2g_cmd_sessions(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);
int v2g_cmd_neighbours(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);
int v2g_cmd_stations(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);
int v2g_cmd_stop_charging(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);
int v2g_cmd_set_desired_soc(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);
int v2g_cmd_set_max_cost(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);

/* Copies the current view (control thread). */
void v2g_stage_view(struct v2g_stage *s, struct v2g_view *out);

/* Writes the blob to dir/name atomically: dir/name.tmp, fsync, rename, fsync of dir.  Returns 0 or -errno.  Blocks. */
int v2g_state_write(const char *dir, const char *name, const char *blob, size_t len);

/* The pipeline entry: [v2g] configuration; input from hub_io; outputs to hub_io (struct hub_tx_rec) and to log
 * (struct log_line), told apart by record size. */
extern const struct rt_stage_desc v2g_stage;
extern const struct rt_config_table v2g_config;

#endif

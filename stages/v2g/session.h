/*
 * session.h - the V2G charging-session state machine (issue 8 items 4 and 5): pure logic, no I/O, time passed in.
 *
 * The v2g stage feeds inputs (decoded vehicle signals, station messages, acknowledgements, user commands, ticks) to
 * v2g_step() with CLOCK_MONOTONIC (every duration and timeout) and CLOCK_REALTIME (only the start and end times of
 * the session row).  v2g_step() updates the machine's view, then walks the transition table (session.c): rows of
 * (state, event, guard, action, next state), the first row of the current state whose guard holds fires, and the
 * walk repeats from the new state (a bounded cascade).  What the stage must do comes back as actions: send a V2G
 * message, emit a session row, save the state.
 *
 * States: idle; plugged (mains detected, no station matched); negotiating (matched the nearest station within the
 * match radius heard within the match window); charging; topoff (charge_power_req dropped below its highest level
 * in this session); finishing (stop requested or power request reached 0: the stop request is sent and retried,
 * waiting for the station's acknowledgement and for the current to fall, both bounded); ended (a session ended
 * normally, still plugged); fault (a session ended with a fault reason, still plugged); departing (unplugged: battery
 * data still goes to the station while it is heard and within the departure radius).
 *
 * Charging is the car's `charging` flag with `current` above current_on_a; it stays on while the flag holds and the
 * current is above current_off_a, and goes off only after off_hold_ns below that (amplitude and time hysteresis, so
 * noise does not split a session).  Sign convention (../shared/facts/twizy-can.md): current is positive INTO the
 * battery, so charging current is positive; energy into the battery integrates positive current x pack_voltage
 * between consecutive signal samples (left Riemann sum; a gap longer than sample_gap_max_ns or a bus-offline sample
 * is not integrated).
 *
 * Every fault goes through finishing: the stop request is sent (again every stop_retry_ns, stop_retries times), the
 * session ends once the current fell and the stop was acknowledged (or no acknowledgement can come: station lost or
 * refused), or ends stop_not_acknowledged when the retries ran out (a fault reason such as bus_offline is kept), or
 * station_lost when the station falls silent while an acknowledgement is awaited, or after fall_timeout_ns whatever
 * happened.  Unplugging ends a session at once (the current cannot flow).  Charging that stops by itself ends the
 * session `done` (the car's BMS ended it), or `station_refused` when the station says it is not available.  A
 * nearer station (by nearer_margin_m) takes over a negotiation; the one given up gets a stop request.
 *
 * Energy into the battery closes its integral at the end (and in a save) with the last sample's current up to that
 * instant.  On a legacy hub no acknowledgement exists: conf.ack_by_current takes a fallen current for one.
 *
 * Station accounting: station energy = sum over the station's counter segments (a restart of the station, seen as a
 * different session id or an energy counter going back, starts a new segment; the counter at match time is the
 * zero); cost = station energy x the station's price.  The station's own session id is kept when known.
 *
 * Threads: a session is owned by one thread (the v2g stage).  Nothing blocks or allocates.
 */
#ifndef V2X_STAGES_V2G_SESSION_H
#define V2X_STAGES_V2G_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "stages/hub_io/hub_frame.h"

#define V2G_STATES(X)                                                                                              \
	X(IDLE, "idle")                                                                                            \
	X(PLUGGED, "plugged")                                                                                      \
	X(NEGOTIATING, "negotiating")                                                                              \
	X(CHARGING, "charging")                                                                                    \
	X(TOPOFF, "topoff")                                                                                        \
	X(FINISHING, "finishing")                                                                                  \
	X(ENDED, "ended")                                                                                          \
	X(FAULT, "fault")                                                                                          \
	X(DEPARTING, "departing")

#define V2G_ENDS(X)                                                                                                \
	X(NONE, "none")                                                                                            \
	X(DONE, "done")                                                                                            \
	X(STOPPED_BY_USER, "stopped_by_user")                                                                      \
	X(DESIRED_SOC, "desired_soc")                                                                              \
	X(MAX_COST, "max_cost")                                                                                    \
	X(UNPLUGGED, "unplugged")                                                                                  \
	X(STATION_LOST, "station_lost")                                                                            \
	X(STATION_REFUSED, "station_refused")                                                                      \
	X(BUS_OFFLINE, "bus_offline")                                                                              \
	X(STOP_NOT_ACKNOWLEDGED, "stop_not_acknowledged")

/* The table's events: conditions derived from the inputs, named in traces and tests. */
#define V2G_EVENTS(X)                                                                                              \
	X(PLUG, "plug")                     /* plug = 1 */                                                         \
	X(UNPLUG, "unplug")                 /* plug = 0 */                                                         \
	X(MATCH, "match")                   /* a station within the radius heard within the window */              \
	X(NEARER, "nearer_station")         /* negotiating: another station is nearer */                           \
	X(REFUSED, "station_refused")       /* the matched station says it is not available */                     \
	X(STATION_SILENT, "station_silent") /* the matched station was not heard for its timeout */                \
	X(BUS_OFFLINE, "bus_offline")       /* bus_online = 0 */                                                   \
	X(USER_STOP, "user_stop")                                                                                  \
	X(CURRENT_ON, "current_on")                                                                                \
	X(CURRENT_OFF, "current_off")       /* after the hold time */                                              \
	X(POWER_DROP, "power_drop")         /* charge_power_req below its session maximum */                       \
	X(POWER_ZERO, "power_zero")                                                                                \
	X(SOC_REACHED, "soc_reached")                                                                              \
	X(COST_REACHED, "cost_reached")                                                                            \
	X(FINISHED, "finished")             /* finishing: current fell and stop acknowledged (or none expected) */ \
	X(STOP_TIMEOUT, "stop_timeout")     /* finishing: retries exhausted without acknowledgement */             \
	X(FALL_TIMEOUT, "fall_timeout")     /* finishing: the bound on waiting for the current */                  \
	X(OUT_OF_RANGE, "out_of_range")     /* departing: station beyond the radius or silent */

enum v2g_state {
#define V2G__ENUM(e, n) V2G_ST_##e,
	V2G_STATES(V2G__ENUM)
#undef V2G__ENUM
	V2G_ST__COUNT
};

enum v2g_end {
#define V2G__ENUM(e, n) V2G_END_##e,
	V2G_ENDS(V2G__ENUM)
#undef V2G__ENUM
	V2G_END__COUNT
};

enum v2g_event {
#define V2G__ENUM(e, n) V2G_E_##e,
	V2G_EVENTS(V2G__ENUM)
#undef V2G__ENUM
	V2G_E__COUNT
};

/* Stable names ("charging", "station_lost", "current_on"); "invalid" out of range.  Static storage. */
const char *v2g_state_name(enum v2g_state s);
const char *v2g_end_name(enum v2g_end e);
const char *v2g_event_name(enum v2g_event e);
/* Lookup by name; -1 when unknown. */
int v2g_state_lookup(const char *name);
int v2g_end_lookup(const char *name);

struct v2g_conf {
	double match_radius_m;         /* 10 */
	uint64_t match_window_ns;      /* 10 s: a station must have been heard this recently to be matched */
	double depart_radius_m;        /* 105 */
	double current_on_a;           /* 0.5 */
	double current_off_a;          /* 0.3 */
	uint64_t off_hold_ns;          /* 10 s below current_off_a before charging counts as off */
	uint64_t negotiate_timeout_ns; /* 10 s: matched station silent while negotiating */
	uint64_t station_timeout_ns;   /* 15 s: matched station silent while charging or departing */
	uint64_t msg_period_ns;        /* 5 s between V2G messages */
	uint64_t stop_retry_ns;        /* 2 s between stop requests */
	unsigned stop_retries;         /* 3 retries after the first request */
	uint64_t fall_timeout_ns;      /* 30 s bound on finishing */
	uint64_t sample_gap_max_ns;    /* 2 s: longer gaps between signal samples are not integrated */
	int ack_by_current;            /* legacy hubs: a fallen current counts as the acknowledgement */
	double nearer_margin_m;        /* 1 m: how much nearer another station must be to take over a negotiation */
	uint64_t save_period_ns;       /* 10 s: also ask for a save this often while a session is open */
};

/* Fills *c with the defaults above. */
void v2g_conf_defaults(struct v2g_conf *c);

/* Decoded vehicle signals (NaN = no valid value; flags -1 = unknown). */
struct v2g_signals {
	int plug, charging, bus_online;
	double current_a, soc_pct, power_req, pack_v, energy_avail_kwh;
};

/* One station message (a validated station Item), with the distance the tables computed. */
struct v2g_station_msg {
	uint8_t mac[6];
	double distance_m;
	uint32_t session_id;
	double energy_kwh;    /* energy delivered in the station's session */
	double price_per_kwh;
	double session_cost;
	double max_current_a;
	int available;
	int restart;          /* the tables saw the station's uptime go back */
};

/* The nearest eligible station (v2x_tables_match_station), offered on every step. */
struct v2g_candidate {
	struct v2g_station_msg msg;
	uint64_t last_heard_mono_ns;
};

enum v2g_input_kind {
	V2G_IN_TICK,            /* time only */
	V2G_IN_SIGNALS,         /* sig */
	V2G_IN_STATION,         /* station */
	V2G_IN_STOP_ACK,        /* session_id: the station confirmed the stop (0 = any) */
	V2G_IN_USER_STOP,
	V2G_IN_SET_DESIRED_SOC, /* value: 1..100 % */
	V2G_IN_SET_MAX_COST,    /* value: >= 0, 0 = no cap */
};

struct v2g_input {
	enum v2g_input_kind kind;
	struct v2g_signals sig;
	struct v2g_station_msg station;
	uint32_t session_id;
	double value;
	const struct v2g_candidate *nearest; /* any kind: the match rule's current answer, or NULL */
};

/* A finished session: one row of v2g_sessions_*.csv. */
struct v2g_record {
	uint32_t station_session_id; /* valid when have_station_id */
	int have_station_id;
	uint32_t local_id;           /* start time in seconds, when the station's id is unknown */
	uint8_t mac[6];
	double distance_m;           /* at match time */
	int64_t start_real_ns, end_real_ns;
	uint64_t duration_ns;        /* monotonic, across restarts */
	double soc_start, soc_end;
	double energy_avail_start_kwh, energy_avail_end_kwh;
	double energy_batt_kwh;      /* integrated current x pack_voltage */
	double energy_station_kwh;
	double price_per_kwh;
	double cost;
	double max_current_a;
	enum v2g_end reason;
};

struct v2g_transition {
	enum v2g_state from, to;
	enum v2g_event event;
};

#define V2G_MAX_CASCADE 6

/* What the stage must do after a step. */
struct v2g_actions {
	unsigned n_send;          /* send msg[0..n_send) (to msg[i].station_mac) */
	struct hub_v2g_msg msg[2]; /* at most a stop to a station given up, then one to the matched station */
	int row;                  /* a session ended: emit rec */
	struct v2g_record rec;
	int save;                 /* a transition, or save_period_ns passed in a session: save it (v2g_save) */
	unsigned n_trans;
	struct v2g_transition trans[V2G_MAX_CASCADE];
};

/* The machine.  Caller-owned; fields are private to session.c except the read-only view below. */
struct v2g_session {
	struct v2g_conf conf;
	enum v2g_state state;
	double desired_soc;          /* 100 = full */
	double max_cost;             /* 0 = no cap */
	int user_stop;
	/* vehicle view */
	struct v2g_signals sig;
	int charging_on;
	uint64_t below_since_ns;     /* 0 = not below */
	double power_req_max;
	/* matched station */
	int matched;
	uint8_t mac[6];
	double distance_m;
	uint64_t last_heard_ns;
	uint32_t st_session_id;
	double st_energy_last;
	double st_energy_base;
	int st_available;
	uint64_t st_restarts;
	/* session */
	int active;
	struct v2g_record rec;
	uint64_t start_mono_ns;
	uint64_t restored_ns;        /* duration carried over a restart */
	enum v2g_end pending;
	uint64_t stop_first_ns, stop_last_ns;
	unsigned stop_sent;
	int acked;
	uint64_t last_msg_ns;
	int msg_sent;
	uint64_t last_save_ns;
	/* integration */
	int int_valid;
	uint64_t last_int_ns;
	double last_i, last_v;
	/* statistics */
	uint64_t transitions, sessions, ignored_acks;
};

/* A machine in idle with conf (NULL = defaults).  Never fails. */
void v2g_init(struct v2g_session *s, const struct v2g_conf *conf);

/*
 * Applies one input at now_mono_ns / now_real_ns and runs the transitions it enables; fills *out (zeroed first).
 * Returns the number of transitions taken (0..V2G_MAX_CASCADE), or -EINVAL for a bad input (kind or value).
 */
int v2g_step(struct v2g_session *s, const struct v2g_input *in, uint64_t now_mono_ns, int64_t now_real_ns,
	     struct v2g_actions *out);

/* Energy delivered by the station in the current session (kWh), and its cost. */
double v2g_station_energy_kwh(const struct v2g_session *s);

#define V2G_SAVE_MAX 2048

/*
 * Serializes the machine (state, matched station, accounting, timers) as "key value" text lines, with the times
 * of the save, into buf.  Returns the length or -ENOBUFS.  The conf is not saved (it comes from the configuration).
 */
int v2g_save(const struct v2g_session *s, uint64_t now_mono_ns, int64_t now_real_ns, char *buf, size_t size);

/*
 * Restores a machine saved by v2g_save into s (which must be v2g_init'ed with the conf to use).  Monotonic times are
 * rebased: the time the daemon was down is taken from the wall clock (clamped to 0..24 h) and counts in the
 * session's duration; energy is not integrated across it.  Returns 0, or -EPROTO for a blob that does not parse
 * (s is then left as it was).
 */
int v2g_restore(struct v2g_session *s, const char *buf, size_t len, uint64_t now_mono_ns, int64_t now_real_ns);

#endif

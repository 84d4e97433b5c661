/*
 * uplink.h - telemetry to ThingsBoard over MQTT (libmosquitto), through the write-ahead spool (spool.h).
 *
 * Flow: the stage thread samples the vehicle state at conf.sample_interval_ns and hands each sample to
 * uplink_add_sample(), which builds it (telemetry.h) and appends it to the spool; uplink_process() publishes the
 * spool's oldest unsent records as QoS 1 batches ("[s1,s2,...]" on v1/devices/me/telemetry), at most
 * conf.max_inflight_msgs batches unacknowledged, one batch per 1/conf.publish_rate_hz seconds at most (a backlog
 * drains paced, oldest first, before any newer sample: the spool is in order), and acknowledges a batch's records in
 * the spool on its PUBACK (the on_publish callback).  Session events go the same way (uplink_add_session).
 *
 * Connection: client id, keepalive, the access token as MQTT username (password optional), TLS when a CA file is
 * set (optional client certificate and key, TLS 1.2 or later, the broker's certificate verified against the CA and
 * its name against conf.host; conf.tls_insecure skips only the name check, and only when set explicitly).
 * Connecting is non-blocking (mosquitto_connect_async; a host name costs one blocking DNS lookup on this thread);
 * a failure or a lost connection waits a capped exponential backoff with jitter (reconnect_min_ns doubling to
 * reconnect_max_ns, each wait drawn uniformly from [b/2, b]), reset by a successful CONNACK.  On every disconnect
 * the client object is reinitialised (its queued messages dropped) and the spool rewound to the last acknowledged
 * record, so the spool is the only copy of unacknowledged data and every sample is sent again until acknowledged
 * (duplicates only for batches whose PUBACK was lost: QoS 1, which ThingsBoard overwrites by ts).
 * On each CONNACK the client attributes are published (v1/devices/me/attributes) and RPC requests subscribed
 * (v1/devices/me/rpc/request/+, QoS 1); each request is parsed (rpc.h), answered, counted and traced; commands go to
 * conf.cmd_fn (the program routes them to the V2G stage's ring), getState is answered from conf.state_fn.
 *
 * The token is never printed, logged or traced (nothing here prints; uplink_status_json masks it).
 *
 * Threads: one thread (the uplink stage thread) calls every function except uplink_stats reads (relaxed atomics,
 * any thread).  uplink_init allocates and opens the spool; uplink_process never blocks on the network (only the
 * spool's file system calls and a DNS lookup on connect).  The thread polls uplink_pollfd() beside its eventfd and
 * calls uplink_process() when it is ready or uplink_timeout_ns() passed.
 */
#ifndef V2X_STAGES_UPLINK_UPLINK_H
#define V2X_STAGES_UPLINK_UPLINK_H

#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define UPLINK_FRAME_MAP 256 /* recent samples whose frame seq a trace can follow to the publish */

#include "stages/uplink/rpc.h"
#include "stages/uplink/spool.h"
#include "stages/uplink/telemetry.h"
#include "vehicle/vstate.h"

#define UPLINK_STR_MAX 256
#define UPLINK_PATH_MAX 512
#define UPLINK_TOKEN_MAX 512

struct uplink_conf {
	char host[UPLINK_STR_MAX];          /* broker host name or address; "" = uplink disabled */
	unsigned port;                      /* 0 = 1883, or 8883 with TLS */
	unsigned keepalive_s;               /* 0 = 60 */
	char client_id[UPLINK_STR_MAX];     /* "" = "v2xd-<vehicle_id>" (or "v2xd" without one) */
	char token[UPLINK_TOKEN_MAX];       /* ThingsBoard access token = MQTT username; secret */
	char token_file[UPLINK_PATH_MAX];   /* read at init when token is empty (mqtt_read_token_file) */
	char password[UPLINK_STR_MAX];      /* "" = none (ThingsBoard token auth uses none) */
	char ca_file[UPLINK_PATH_MAX];      /* TLS on when set */
	char cert_file[UPLINK_PATH_MAX];    /* optional client certificate ... */
	char key_file[UPLINK_PATH_MAX];     /* ... and its key (refused when others can read it) */
	int tls_insecure;                   /* skip the host name check (never the CA check); explicit only */
	uint64_t sample_interval_ns;        /* 0 = 1 s */
	uint64_t reconnect_min_ns;          /* 0 = 1 s */
	uint64_t reconnect_max_ns;          /* 0 = 60 s */
	uint64_t connect_timeout_ns;        /* CONNACK wait; 0 = 15 s */
	unsigned max_inflight_msgs;         /* batches unacknowledged; 0 = 10 */
	unsigned batch_max_samples;         /* samples per publish; 0 = 50 */
	unsigned batch_max_bytes;           /* payload bytes per publish (a single larger sample still goes); 0 = 32768 */
	double publish_rate_hz;             /* publishes per second at most; 0 = 5 */
	/* spool */
	char spool_dir[UPLINK_PATH_MAX];
	uint64_t spool_max_bytes;           /* 0 = SPOOL_MAX_BYTES_DEFAULT */
	uint32_t spool_seg_bytes;           /* 0 = SPOOL_SEG_BYTES_DEFAULT */
	uint64_t spool_fsync_interval_ns;   /* UINT64_MAX = 1 s; 0 = every record */
	/* attributes and samples */
	char vehicle_id[UPLINK_STR_MAX];
	char sw_version[64];
	char dbc_name[UPLINK_STR_MAX];
	struct telem_conf telem;
	/* hooks (set by the program, not configuration) */
	int (*cmd_fn)(void *ctx, const struct rpc_cmd *cmd); /* 0 = queued, -EAGAIN = ring full (answered busy) */
	int (*state_fn)(void *ctx, struct vstate *out);      /* latest state for getState; 0 or -ENODATA */
	void *hook_ctx;
	uint64_t rng_seed;                  /* jitter; 0 = from the clock */
};

/* Fills c with the defaults above (host empty: the caller sets it). */
void uplink_conf_defaults(struct uplink_conf *c);

enum uplink_conn_state {
	UPLINK_DOWN = 0,       /* waiting for the next attempt */
	UPLINK_CONNECTING = 1, /* connect sent, waiting for CONNACK */
	UPLINK_UP = 2,
};

/* Counters and gauges: written by the uplink thread, read by any thread with relaxed loads. */
struct uplink_stats {
	_Atomic uint64_t state;              /* enum uplink_conn_state */
	_Atomic uint64_t connects;           /* successful CONNACKs */
	_Atomic uint64_t connect_failures;   /* attempts that failed (refused, timeout, TLS, CONNACK != 0) */
	_Atomic uint64_t disconnects;        /* established connections lost */
	_Atomic int64_t last_error;          /* last mosquitto error (MOSQ_ERR_*), 0 = none */
	_Atomic int64_t last_connack;        /* last CONNACK code (4 bad user, 5 not authorised), -1 = none */
	_Atomic uint64_t samples_built;      /* samples appended to the spool */
	_Atomic uint64_t samples_unchanged;  /* sampling found no new data: nothing appended */
	_Atomic uint64_t sample_errors;      /* a sample could not be built or spooled */
	_Atomic uint64_t events_built;       /* session events appended */
	_Atomic uint64_t published_msgs;     /* batches handed to libmosquitto */
	_Atomic uint64_t published_samples;
	_Atomic uint64_t acked_msgs;         /* PUBACKs */
	_Atomic uint64_t acked_samples;
	_Atomic uint64_t publish_errors;
	_Atomic uint64_t resent_samples;     /* samples sent again after a reconnect */
	_Atomic uint64_t attrs_published;
	_Atomic uint64_t inflight_msgs;
	_Atomic uint64_t drain_rate_sps;     /* samples acknowledged in the last full second */
	_Atomic uint64_t next_retry_ms;      /* ms until the next connect attempt (DOWN) */
	struct rpc_stats rpc;
};

struct mosquitto;

struct uplink_batch {
	int mid;
	unsigned n;
	uint64_t *seqs;                      /* batch_max_samples entries */
};

/* Caller-owned; fields other than stats and spool.stats are private to uplink.c. */
struct uplink {
	struct uplink_conf conf;
	struct uplink_stats stats;
	struct spool spool;
	struct mosquitto *mosq;
	enum uplink_conn_state state;
	int lost;                            /* set by callbacks: the connection is gone */
	int connack_rc;                      /* from on_connect, -1 = none yet */
	uint64_t next_attempt_ns, connect_started_ns, backoff_ns, next_pub_ns;
	uint64_t last_drain_ns, drain_acked_at;
	uint64_t max_sent_seq;               /* highest spool seq ever published (resent_samples) */
	uint64_t sample_seq;                 /* samples built (carried as sample_seq, continued across restarts) */
	/* For tracing (mqtt_publish): the last CAN-path frame seq each recent spool record's sample covered. */
	struct { uint64_t spool_seq, frame_seq; } frame_of[UPLINK_FRAME_MAP];
	int64_t last_sample_data_ns;
	uint64_t rng;
	struct uplink_batch *batches;        /* max_inflight_msgs slots (n == 0: free) */
	uint64_t *batch_seqs;
	char *pub_buf;                       /* one batch */
	size_t pub_cap;
	char *sample_buf;                    /* one sample */
	uint64_t now_ns;                     /* clock of the current uplink_process call (callbacks use it) */
	int open;
};

/*
 * Reads the token file when needed, checks the key file's permissions, opens the spool (recovering it) and
 * prepares the MQTT client; the first connect is attempted by the first uplink_process().  Returns 0 or a negative
 * errno with a one-line reason in err (never the token).
 */
int uplink_init(struct uplink *u, const struct uplink_conf *conf, uint64_t now_mono_ns, char *err, size_t errsize);

/* Disconnects, closes the spool (position saved), frees.  Safe on a zeroed or finished u. */
void uplink_fini(struct uplink *u);

/* Builds a sample from s (when it holds data newer than the last sample) and spools it.  Returns 0, -ENODATA
 * (nothing new: counted in samples_unchanged) or a negative errno (counted in sample_errors). */
int uplink_add_sample(struct uplink *u, const struct vstate *s, uint64_t now_mono_ns);

/* Spools a session event.  Returns 0 or a negative errno (counted). */
int uplink_add_session(struct uplink *u, const struct telem_session_event *ev, uint64_t now_mono_ns);

/* The descriptor to poll and its events (POLLIN, plus POLLOUT while libmosquitto has data to send).  Returns 1
 * when pfd was filled, 0 when there is no socket now. */
int uplink_pollfd(struct uplink *u, struct pollfd *pfd);

/* How long the thread may sleep before uplink_process() has work (ns; at most 100 ms). */
uint64_t uplink_timeout_ns(const struct uplink *u, uint64_t now_mono_ns);

/* Network and spool work: reads, writes, keepalive, reconnects, publishes, spool fsync window.  Never blocks on
 * the network. */
void uplink_process(struct uplink *u, uint64_t now_mono_ns);

/* Writes a one-object JSON status (state, broker, spool depth and errors, drain rate, in-flight, last error; the
 * token masked) into (buf, size).  Any thread (reads stats only).  Returns the length or a negative errno. */
int uplink_status_json(const struct uplink *u, char *buf, size_t size);

/* Name of a connection state: "down", "connecting", "up". */
const char *uplink_state_name(enum uplink_conn_state s);

#endif

/*
 * uplink_stage.h - the uplink stage of v2xd: a thread that samples the published vehicle state, spools every
 * sample and sends it to ThingsBoard (uplink.h), answers RPC and reports its state.
 *
 * Pipeline entry (rt/pipeline.h): uplink_stage (desc), configuration table uplink_config ([uplink] section).  The
 * stage polls (desc.polls = true: an RT_WAIT_EVENTFD waiter): the thread waits in poll() on the waiter's eventfd and
 * the MQTT socket, so a ring record, a stop or the network wakes it; the rest of the pipeline never waits for it.
 *   - the vehicle state: looked up at init as "vstate" (struct rcu_pub *, provided by decode); read under
 *     rcu_read_lock() and copied once per sample_interval (default 1 s);
 *   - input ring (optional, the first one): session events from the V2G stage, records of struct
 *     telem_session_event by value; each is spooled as a telemetry event;
 *   - output ring (optional, the first one): RPC commands for the V2G stage, records of struct rpc_cmd by value; a
 *     full ring answers the request "busy" (counted);
 *   - registry (when the program has one): group "uplink" with its counters, the spool gauges and a "state" text.
 * Stop: the stage closes its command ring at once (so a V2G stage waiting for it to drain can end), then drains
 * the event ring until V2G closed it, spools those events and ends; fini closes the spool (synced, position saved).
 * With host empty the stage is disabled: its thread only waits for the stop (nothing is spooled).
 * Configuration: uplink_stage_conf below; `--mqtt-config FILE` (key mqtt_config) reads the legacy
 * mqtt_config.txt (mqtt_conf.h), whose broker_ip, broker_port, device_token, check_interval, use_location,
 * latitude and longitude then replace the [uplink] values of the same meaning.  The token (key token, a secret:
 * "***" in --print-config) may instead come from token_file.  With spool_dir empty the spool goes to
 * $STATE_DIRECTORY/spool (systemd's StateDirectory=; the first one when several are listed).
 *
 * Threads: init/fini on the control thread (init opens the spool and may block on the file system); the thread
 * body on its own thread; uplink_stage_status (a v2xctl command handler) on the control thread, reading atomics.
 */
#ifndef V2X_STAGES_UPLINK_UPLINK_STAGE_H
#define V2X_STAGES_UPLINK_UPLINK_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/config.h"
#include "stages/uplink/uplink.h"

struct rcu_pub;
struct ring;
struct rt_waiter;
struct rt_stop;
struct cJSON;

/* [uplink] configuration (every field a key of uplink_config). */
struct uplink_stage_conf {
	char host[UPLINK_STR_MAX];          /* "" = disabled */
	uint64_t port;                      /* 0 = 1883, 8883 with TLS */
	uint64_t keepalive_ns;
	char client_id[UPLINK_STR_MAX];
	char token[UPLINK_TOKEN_MAX];       /* secret */
	char token_file[UPLINK_PATH_MAX];
	char password[UPLINK_STR_MAX];      /* secret */
	char ca_file[UPLINK_PATH_MAX];
	char cert_file[UPLINK_PATH_MAX];
	char key_file[UPLINK_PATH_MAX];
	bool tls_insecure;
	uint64_t sample_interval_ns;
	uint64_t reconnect_min_ns, reconnect_max_ns, connect_timeout_ns;
	uint64_t max_inflight;
	uint64_t batch_max_samples;
	uint64_t batch_max_bytes;
	double publish_rate_hz;
	char spool_dir[UPLINK_PATH_MAX];
	uint64_t spool_max_bytes;
	uint64_t spool_segment_bytes;
	uint64_t spool_fsync_ns;            /* 0 = after every record */
	char vehicle_id[UPLINK_STR_MAX];
	bool use_location;
	double latitude, longitude;         /* fallback position; both 0 = none */
	char mqtt_config[UPLINK_PATH_MAX];  /* legacy mqtt_config.txt; "" = none */
	struct rt_sched_conf sched;
};

struct uplink_stage {
	struct uplink up;
	int enabled;
	struct rcu_pub *vstate;              /* not owned */
	struct ring *events_in;              /* struct telem_session_event records, or NULL */
	struct ring *cmd_out;                /* struct rpc_cmd records, or NULL */
	int cmd_closed;                      /* closed at the stop, before the event ring is drained */
	struct rt_waiter *waiter;
	const struct rt_stop *stop;
	struct rt_registry *registry;
	uint64_t interval_ns;
	struct vstate snap;                  /* the thread's copy of the state (sampling, getState) */
	int have_snap;
};

struct rt_stage_desc;
extern const struct rt_stage_desc uplink_stage;
extern const struct rt_config_table uplink_config;

/* Fills an uplink_conf from the stage configuration (and the legacy file when set).  Returns 0 or a negative errno
 * with the reason in err (never the token). */
int uplink_stage_make_conf(const struct uplink_stage_conf *sc, struct uplink_conf *out, char *err, size_t errsize);

/* A control command handler (rt_control_cmd_fn; ctx = the struct uplink_stage *): the status object of
 * uplink_status_json (state, broker, spool depth, drain rate, evictions, in-flight, last error, token masked). */
int uplink_stage_status(void *ctx, const struct cJSON *args, struct cJSON *result, char *err, size_t errsz);

#endif

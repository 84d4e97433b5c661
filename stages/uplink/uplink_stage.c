/* uplink_stage.c - the uplink stage's thread, its pipeline entry and its [uplink] table (see uplink_stage.h). */
#include "stages/uplink/uplink_stage.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/pipeline.h"
#include "rt/rcu_state.h"
#include "rt/registry.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/wait.h"
#include "stages/uplink/mqtt_conf.h"
#include "trace/tp.h"

/* The software version sent as a client attribute; the build may define it (-DV2X_SW_VERSION='"1.2.3"'). */
#ifndef V2X_SW_VERSION
#define V2X_SW_VERSION "0.1.0"
#endif

#define S_NS RT_NS_PER_SEC
#define MS_NS RT_NS_PER_MS

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

int uplink_stage_make_conf(const struct uplink_stage_conf *sc, struct uplink_conf *c, char *err, size_t errsize)
{
	uplink_conf_defaults(c);
	copy_str(c->host, sizeof(c->host), sc->host);
	c->port = (unsigned)sc->port;
	c->keepalive_s = (unsigned)(sc->keepalive_ns / (uint64_t)S_NS);
	copy_str(c->client_id, sizeof(c->client_id), sc->client_id);
	copy_str(c->token, sizeof(c->token), sc->token);
	copy_str(c->token_file, sizeof(c->token_file), sc->token_file);
	copy_str(c->password, sizeof(c->password), sc->password);
	copy_str(c->ca_file, sizeof(c->ca_file), sc->ca_file);
	copy_str(c->cert_file, sizeof(c->cert_file), sc->cert_file);
	copy_str(c->key_file, sizeof(c->key_file), sc->key_file);
	c->tls_insecure = sc->tls_insecure;
	c->sample_interval_ns = sc->sample_interval_ns;
	c->reconnect_min_ns = sc->reconnect_min_ns;
	c->reconnect_max_ns = sc->reconnect_max_ns;
	c->connect_timeout_ns = sc->connect_timeout_ns;
	c->max_inflight_msgs = (unsigned)sc->max_inflight;
	c->batch_max_samples = (unsigned)sc->batch_max_samples;
	c->batch_max_bytes = (unsigned)sc->batch_max_bytes;
	c->publish_rate_hz = sc->publish_rate_hz;
	copy_str(c->spool_dir, sizeof(c->spool_dir), sc->spool_dir);
	c->spool_max_bytes = sc->spool_max_bytes;
	c->spool_seg_bytes = (uint32_t)sc->spool_segment_bytes;
	c->spool_fsync_interval_ns = sc->spool_fsync_ns;
	copy_str(c->vehicle_id, sizeof(c->vehicle_id), sc->vehicle_id);
	snprintf(c->sw_version, sizeof(c->sw_version), "%s", V2X_SW_VERSION);
	copy_str(c->dbc_name, sizeof(c->dbc_name), "twizy.dbc");
	c->telem.use_location = sc->use_location;
	if (sc->latitude != 0 || sc->longitude != 0) {
		c->telem.fallback_lat_deg = sc->latitude;
		c->telem.fallback_lon_deg = sc->longitude;
	}
	if (sc->mqtt_config[0]) {
		struct mqtt_legacy lg;
		int rc = mqtt_legacy_load(sc->mqtt_config, &lg, err, errsize);
		if (rc < 0)
			return rc;
		if (lg.broker_ip)
			copy_str(c->host, sizeof(c->host), lg.broker_ip);
		if (lg.broker_port)
			c->port = lg.broker_port;
		if (lg.device_token) {
			if (strlen(lg.device_token) >= sizeof(c->token)) {
				snprintf(err, errsize, "%s: device_token longer than %zu characters", sc->mqtt_config,
					 sizeof(c->token) - 1);
				mqtt_legacy_free(&lg);
				return -EINVAL;
			}
			copy_str(c->token, sizeof(c->token), lg.device_token);
		}
		if (lg.check_interval_ns)
			c->sample_interval_ns = lg.check_interval_ns;
		if (lg.use_location >= 0)
			c->telem.use_location = lg.use_location;
		if (lg.have_latitude && lg.have_longitude) {
			c->telem.fallback_lat_deg = lg.latitude;
			c->telem.fallback_lon_deg = lg.longitude;
		}
		if (lg.notice)
			rt_info("%s", lg.notice);
		mqtt_legacy_free(&lg);
	}
	return 0;
}

/* ---- hooks called by the uplink on this stage's thread ---- */

static int stage_cmd(void *ctx, const struct rpc_cmd *cmd)
{
	struct uplink_stage *st = ctx;
	if (!st->cmd_out || st->cmd_closed || !ring_push(st->cmd_out, cmd))
		return -EAGAIN;
	return 0;
}

static int stage_state(void *ctx, struct vstate *out)
{
	struct uplink_stage *st = ctx;
	if (!st->have_snap)
		return -ENODATA;
	*out = st->snap;
	return 0;
}

/* ---- registry ---- */

static int64_t g_spool_records(void *ctx)
{
	return (int64_t)atomic_load_explicit(&((struct uplink_stage *)ctx)->up.spool.stats.depth_records,
					     memory_order_relaxed);
}

static int64_t g_spool_bytes(void *ctx)
{
	return (int64_t)atomic_load_explicit(&((struct uplink_stage *)ctx)->up.spool.stats.depth_bytes,
					     memory_order_relaxed);
}

static int64_t g_inflight(void *ctx)
{
	return (int64_t)atomic_load_explicit(&((struct uplink_stage *)ctx)->up.stats.inflight_msgs,
					     memory_order_relaxed);
}

static int64_t g_drain(void *ctx)
{
	return (int64_t)atomic_load_explicit(&((struct uplink_stage *)ctx)->up.stats.drain_rate_sps,
					     memory_order_relaxed);
}

static int64_t g_oldest_age(void *ctx)
{
	int64_t t = atomic_load_explicit(&((struct uplink_stage *)ctx)->up.spool.stats.oldest_data_ms,
					 memory_order_relaxed);
	return t ? (rt_real_ns() / RT_NS_PER_MS - t) / 1000 : 0;
}

static int t_state(void *ctx, char *buf, size_t size)
{
	struct uplink_stage *st = ctx;
	uint64_t s = atomic_load_explicit(&st->up.stats.state, memory_order_relaxed);
	snprintf(buf, size, "%s", st->enabled ? uplink_state_name((enum uplink_conn_state)s) : "disabled");
	return 0;
}

static void stage_register(struct uplink_stage *st, struct rt_registry *reg)
{
	struct uplink_stats *u = &st->up.stats;
	struct spool_stats *s = &st->up.spool.stats;
	const struct {
		const char *name;
		const _Atomic uint64_t *c;
	} ctr[] = {
		{"connects", &u->connects}, {"connect_failures", &u->connect_failures},
		{"disconnects", &u->disconnects}, {"samples", &u->samples_built},
		{"published", &u->published_samples}, {"acked", &u->acked_samples},
		{"resent", &u->resent_samples}, {"publish_errors", &u->publish_errors},
		{"rpc_requests", &u->rpc.requests}, {"spool_evicted", &s->evicted_records},
		{"spool_dropped", &s->dropped_records}, {"spool_corrupt", &s->corrupt_records},
		{"spool_write_errors", &s->write_errors},
	};
	int rc = 0;
	rc |= rt_registry_add_text(reg, "uplink", "state", t_state, st);
	for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++)
		rc |= rt_registry_add_counter(reg, "uplink", ctr[i].name, ctr[i].c);
	rc |= rt_registry_add_gauge_int(reg, "uplink", "spool_records", NULL, g_spool_records, st);
	rc |= rt_registry_add_gauge_int(reg, "uplink", "spool_bytes", "B", g_spool_bytes, st);
	rc |= rt_registry_add_gauge_int(reg, "uplink", "spool_oldest_age", "s", g_oldest_age, st);
	rc |= rt_registry_add_gauge_int(reg, "uplink", "inflight", NULL, g_inflight, st);
	rc |= rt_registry_add_gauge_int(reg, "uplink", "drain_rate", "1/s", g_drain, st);
	if (rc)
		rt_warn("uplink: some metrics could not be registered");
}

int uplink_stage_status(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct uplink_stage *st = ctx;
	char buf[4096];
	(void)args;

	if (!st->enabled) {
		cJSON_AddStringToObject(result, "state", "disabled");
		return 0;
	}
	int n = uplink_status_json(&st->up, buf, sizeof(buf));
	if (n < 0) {
		snprintf(err, errsz, "uplink status: %s", strerror(-n));
		return n;
	}
	cJSON *o = cJSON_Parse(buf);
	if (!o)
		return -ENOMEM;
	cJSON *it;
	cJSON_ArrayForEach(it, o)
		cJSON_AddItemToObject(result, it->string, cJSON_Duplicate(it, 1));
	cJSON_Delete(o);
	return 0;
}

/* ---- pipeline entry ---- */

static int uplink_pipeline_init(void *self, const struct rt_stage_env *env)
{
	struct uplink_stage *st = self;
	const struct uplink_stage_conf *sc = env->conf;
	struct uplink_conf c;
	char err[512] = "";
	int rc;

	st->waiter = env->waiter;
	st->stop = env->stop;
	st->events_in = env->n_in ? env->in[0] : NULL;
	st->cmd_out = env->n_out ? env->out[0] : NULL;
	st->vstate = rt_pipeline_lookup(env->pipeline, "vstate");
	rc = uplink_stage_make_conf(sc, &c, err, sizeof(err));
	if (rc < 0) {
		rt_err("%s", err);
		return rc;
	}
	/* The signal database the decode stage loaded (a client attribute), when there is one. */
	const char *dbc = rt_pipeline_lookup(env->pipeline, "dbc_name");
	if (dbc)
		copy_str(c.dbc_name, sizeof(c.dbc_name), dbc);
	if (!c.host[0]) {
		rt_info("uplink: no broker host configured: telemetry disabled");
		return 0;
	}
	if (!c.spool_dir[0]) {
		/* under systemd (StateDirectory=): the first state directory's spool/ */
		const char *sd = getenv("STATE_DIRECTORY");
		size_t n = sd ? strcspn(sd, ":") : 0;
		if (!n || n + sizeof("/spool") > sizeof(c.spool_dir)) {
			rt_err("uplink: spool_dir is required when host is set (or run with $STATE_DIRECTORY)");
			return -EINVAL;
		}
		snprintf(c.spool_dir, sizeof(c.spool_dir), "%.*s/spool", (int)n, sd);
	}
	c.cmd_fn = stage_cmd;
	c.state_fn = stage_state;
	c.hook_ctx = st;
	rc = uplink_init(&st->up, &c, rt_mono_ns(), err, sizeof(err));
	explicit_bzero(c.token, sizeof(c.token));
	explicit_bzero(c.password, sizeof(c.password));
	if (rc < 0) {
		rt_err("%s", err);
		return rc;
	}
	st->enabled = 1;
	st->interval_ns = st->up.conf.sample_interval_ns;
	if (env->registry)
		stage_register(st, env->registry);
	return 0;
}

static void uplink_pipeline_fini(void *self)
{
	struct uplink_stage *st = self;
	if (st->enabled)
		uplink_fini(&st->up);
	st->enabled = 0;
}

static void stage_sample(struct uplink_stage *st, uint64_t now)
{
	if (!st->vstate)
		return;
	rcu_read_lock();
	const struct vstate *s = rcu_pub_read(st->vstate);
	st->snap = *s;
	rcu_read_unlock();
	st->have_snap = st->snap.updated_real_ns != 0;
	(void)uplink_add_sample(&st->up, &st->snap, now); /* counted inside */
}

static void stage_events(struct uplink_stage *st, uint64_t now)
{
	struct telem_session_event ev;
	if (!st->events_in)
		return;
	while (ring_pop(st->events_in, &ev))
		(void)uplink_add_session(&st->up, &ev, now);
}

static bool events_ready(void *arg)
{
	struct uplink_stage *st = arg;
	return st->events_in && ring_count(st->events_in) > 0;
}

static void *uplink_stage_thread(void *self)
{
	struct uplink_stage *st = self;

	rcu_register_thread();
	uint64_t next_sample = rt_mono_ns();
	/* a source without inputs ends on the stop; with the V2G ring it also drains it until V2G closed it */
	while (!rt_stop_requested(st->stop) || (st->events_in && !ring_is_drained(st->events_in))) {
		if (rt_stop_requested(st->stop) && st->cmd_out && !st->cmd_closed) {
			/* stopping: no more commands for V2G, so V2G can end and close the event ring we drain */
			ring_close(st->cmd_out);
			st->cmd_closed = 1;
		}
		if (!st->enabled) {
			rt_waiter_wait(st->waiter, events_ready, st, (int64_t)S_NS);
			if (st->events_in) {
				struct telem_session_event ev;
				while (ring_pop(st->events_in, &ev))
					; /* disabled: nothing is sent */
			}
			continue;
		}
		uint64_t now = rt_mono_ns();
		if (now >= next_sample) {
			stage_sample(st, now);
			next_sample += st->interval_ns;
			if (next_sample <= now) /* late (a long DNS lookup): no burst of identical samples */
				next_sample = now + st->interval_ns;
		}
		stage_events(st, now);
		uplink_process(&st->up, now);
		now = rt_mono_ns();
		uint64_t t = uplink_timeout_ns(&st->up, now);
		if (next_sample > now && next_sample - now < t)
			t = next_sample - now;
		else if (next_sample <= now)
			t = 0;
		struct pollfd p[2];
		nfds_t n = 0;
		p[n].fd = rt_waiter_fd(st->waiter);
		p[n].events = POLLIN;
		n += p[n].fd >= 0;
		n += (nfds_t)uplink_pollfd(&st->up, &p[n]);
		if (rt_waiter_arm(st->waiter, events_ready, st) == 0) {
			poll(p, n, (int)((t + 999999) / 1000000));
			rt_waiter_disarm(st->waiter);
		}
	}
	/* stop: spool what is queued; the spool is synced and its position saved by fini */
	if (st->enabled) {
		uint64_t now = rt_mono_ns();
		stage_events(st, now);
		uplink_process(&st->up, now);
	}
	if (st->cmd_out && !st->cmd_closed)
		ring_close(st->cmd_out);
	V2X_TP(stage_stop, "uplink", atomic_load(&st->up.stats.samples_built), atomic_load(&st->up.stats.acked_samples),
	       atomic_load(&st->up.spool.stats.evicted_records));
	rcu_unregister_thread();
	return NULL;
}

/* ---- configuration ---- */

static void uplink_conf_defaults_fn(void *conf)
{
	struct uplink_stage_conf *c = conf;
	memset(c, 0, sizeof(*c));
	c->keepalive_ns = 60 * (uint64_t)S_NS;
	c->sample_interval_ns = (uint64_t)S_NS;
	c->reconnect_min_ns = (uint64_t)S_NS;
	c->reconnect_max_ns = 60 * (uint64_t)S_NS;
	c->connect_timeout_ns = 15 * (uint64_t)S_NS;
	c->max_inflight = 10;
	c->batch_max_samples = 50;
	c->batch_max_bytes = 32768;
	c->publish_rate_hz = 5;
	c->spool_max_bytes = SPOOL_MAX_BYTES_DEFAULT;
	c->spool_segment_bytes = SPOOL_SEG_BYTES_DEFAULT;
	c->spool_fsync_ns = SPOOL_FSYNC_INTERVAL_NS_DEFAULT;
	rt_sched_conf_init(&c->sched, SCHED_OTHER, 10);
}

#define UK(k) .section = "uplink", .key = k
#define UF(m) RT_CONFIG_FIELD(struct uplink_stage_conf, m)
static const struct rt_config_key uplink_keys[] = {
	{UK("host"), .type = RT_CONFIG_STRING, UF(host), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "ThingsBoard MQTT broker host name or address (empty: no telemetry)"},
	{UK("port"), .type = RT_CONFIG_UINT, UF(port), .umin = 0, .umax = 65535,
	 .help = "broker port (0: 1883, or 8883 with TLS)"},
	{UK("keepalive_s"), .type = RT_CONFIG_DURATION, UF(keepalive_ns), .unit = "s", .umin = 5, .umax = 3600,
	 .help = "MQTT keepalive"},
	{UK("client_id"), .type = RT_CONFIG_STRING, UF(client_id), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "MQTT client id (empty: v2xd-<vehicle_id>)"},
	{UK("token"), .type = RT_CONFIG_SECRET, UF(token), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "ThingsBoard device access token, sent as the MQTT user name (prefer token_file)"},
	{UK("token_file"), .type = RT_CONFIG_PATH, UF(token_file), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "file holding the token (refused when others can read it)"},
	{UK("password"), .type = RT_CONFIG_SECRET, UF(password), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "MQTT password (ThingsBoard token authentication uses none)"},
	{UK("ca_file"), .type = RT_CONFIG_PATH, UF(ca_file), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "CA certificate(s) of the broker: TLS on (empty: plain TCP)"},
	{UK("cert_file"), .type = RT_CONFIG_PATH, UF(cert_file), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "client certificate for TLS (X.509 device authentication)"},
	{UK("key_file"), .type = RT_CONFIG_PATH, UF(key_file), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "client private key (refused when others can read it)"},
	{UK("tls_insecure"), .type = RT_CONFIG_BOOL, UF(tls_insecure),
	 .help = "do not check the broker's host name against its certificate (the CA is still checked)"},
	{UK("sample_interval_ms"), .type = RT_CONFIG_DURATION, UF(sample_interval_ns), .unit = "ms", .umin = 10,
	 .umax = 3600000, .help = "one telemetry sample of the vehicle state this often"},
	{UK("reconnect_min_ms"), .type = RT_CONFIG_DURATION, UF(reconnect_min_ns), .unit = "ms", .umin = 10,
	 .umax = 600000, .help = "first reconnect wait (doubles, with jitter)"},
	{UK("reconnect_max_s"), .type = RT_CONFIG_DURATION, UF(reconnect_max_ns), .unit = "s", .umin = 1, .umax = 3600,
	 .help = "longest reconnect wait"},
	{UK("connect_timeout_s"), .type = RT_CONFIG_DURATION, UF(connect_timeout_ns), .unit = "s", .umin = 1,
	 .umax = 600, .help = "wait for the broker's CONNACK"},
	{UK("max_inflight"), .type = RT_CONFIG_UINT, UF(max_inflight), .umin = 1, .umax = 1000,
	 .help = "telemetry publishes awaiting their PUBACK"},
	{UK("batch_max_samples"), .type = RT_CONFIG_UINT, UF(batch_max_samples), .umin = 1, .umax = 1000,
	 .help = "samples per publish at most (backlog drain)"},
	{UK("batch_max_kb"), .type = RT_CONFIG_SIZE, UF(batch_max_bytes), .unit = "KiB", .umin = 1, .umax = 1024,
	 .help = "payload per publish at most (one larger sample still goes alone)"},
	{UK("publish_rate_hz"), .type = RT_CONFIG_DOUBLE, UF(publish_rate_hz), .dmin = 0.01, .dmax = 10000,
	 .help = "publishes per second at most (ThingsBoard rate limits)"},
	{UK("spool_dir"), .type = RT_CONFIG_PATH, UF(spool_dir), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "the store-and-forward spool's directory (empty: $STATE_DIRECTORY/spool under systemd)"},
	{UK("spool_max_mb"), .type = RT_CONFIG_SIZE, UF(spool_max_bytes), .unit = "MiB", .umin = 1, .umax = 1048576,
	 .help = "spool size bound: the oldest samples are evicted (counted) beyond it"},
	{UK("spool_segment_kb"), .type = RT_CONFIG_SIZE, UF(spool_segment_bytes), .unit = "KiB", .umin = 4,
	 .umax = 1048576, .help = "spool segment file size (at most half of spool_max_mb)"},
	{UK("spool_fsync_ms"), .type = RT_CONFIG_DURATION, UF(spool_fsync_ns), .unit = "ms", .umin = 0, .umax = 60000,
	 .help = "fdatasync the spool this often (0: after every sample)"},
	{UK("vehicle_id"), .type = RT_CONFIG_STRING, UF(vehicle_id), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "vehicle id, sent as a client attribute"},
	{UK("use_location"), .type = RT_CONFIG_BOOL, UF(use_location),
	 .help = "add latitude/longitude to the telemetry (legacy keys)"},
	{UK("latitude"), .type = RT_CONFIG_DOUBLE, UF(latitude), .dmin = -90, .dmax = 90,
	 .help = "fallback latitude without a GPS fix (0 with longitude 0: none)"},
	{UK("longitude"), .type = RT_CONFIG_DOUBLE, UF(longitude), .dmin = -180, .dmax = 180,
	 .help = "fallback longitude without a GPS fix"},
	{UK("mqtt_config"), .type = RT_CONFIG_PATH, UF(mqtt_config), .flags = RT_CONFIG_EMPTY_OK, .opt = "mqtt-config",
	 .help = "the legacy mqtt_config.txt (its keys replace these)"},
	RT_CONFIG_SCHED_KEYS("uplink", struct uplink_stage_conf, sched),
};
#undef UK
#undef UF

const struct rt_config_table uplink_config = {
	.name = "uplink",
	.keys = uplink_keys,
	.n_keys = sizeof(uplink_keys) / sizeof(uplink_keys[0]),
	.conf_size = sizeof(struct uplink_stage_conf),
	.defaults = uplink_conf_defaults_fn,
};

const struct rt_stage_desc uplink_stage = {
	.name = "uplink",
	.size = sizeof(struct uplink_stage),
	.polls = true,
	.init = uplink_pipeline_init,
	.thread = uplink_stage_thread,
	.fini = uplink_pipeline_fini,
	.config = &uplink_config,
	.sched_offset = offsetof(struct uplink_stage_conf, sched),
};

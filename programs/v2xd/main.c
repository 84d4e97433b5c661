/*
 * main.c - v2xd, the vehicle daemon: `v2xd [--config FILE] [options]` runs the vehicle pipeline (stages.c) until
 * SIGINT/SIGTERM; `v2xd decode ...` decodes logs offline (decode_cmd.c).
 *
 * The main thread is the control thread (rt/control.h): it loads the configuration (rt/config.h: every stage's
 * table plus the [pipeline] and [control] tables below), blocks the signals before any other thread exists,
 * prepares the pipeline (every stage's init: all memory the stages touch is allocated here), starts the stage
 * threads, then serves the control socket, the status line and the once-per-episode reports until a stop signal.
 * On a stop it stops the pipeline front to back; each stage drains its inputs, so every accepted record reaches the
 * files before the process exits 0.  Exit status: 0 after an orderly stop, 1 when the pipeline cannot start, 2 for a
 * configuration error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include <cjson/cJSON.h>
#include <systemd/sd-daemon.h>

#include "programs/v2xd/v2xd.h"
#include "rt/clock.h"
#include "rt/config.h"
#include "rt/control.h"
#include "rt/log.h"
#include "rt/pipeline.h"
#include "rt/registry.h"
#include "rt/thread.h"
#include "stages/can_rx/can_rx.h"
#include "stages/decode/decode_stage.h"
#include "stages/hub_io/hub_io.h"
#include "stages/log/log_stage.h"
#include "stages/uplink/uplink_stage.h"
#include "stages/v2g/v2g_stage.h"
#include "vehicle/signals.h"
#include "vehicle/vstate.h"

#define V2XD_MAX_BINDS (RT_PIPELINE_MAX_STAGES + 2)

/* [pipeline] and [control]: the program's own configuration. */
struct v2xd_conf {
	size_t ring_records;
	int wait_mode;
	uint64_t spin_ns;
	uint64_t full_wait_ns;
	bool realtime;
	bool mlock;
	int profile;
	char socket[108];
	unsigned socket_mode;
	uint64_t status_ns;
	int log_level;
	cpu_set_t house_cpus;
};

static void v2xd_conf_defaults(void *conf)
{
	struct v2xd_conf *c = conf;
	struct rt_pipeline_conf pc;

	memset(c, 0, sizeof(*c));
	rt_pipeline_conf_init(&pc);
	c->ring_records = pc.ring_records;
	c->wait_mode = (int)pc.wait_mode;
	c->spin_ns = pc.spin_ns;
	c->full_wait_ns = pc.full_wait_ns;
	c->socket_mode = 0660;
	c->status_ns = 10 * RT_NS_PER_SEC;
	c->log_level = RT_LOG_INFO;
	CPU_ZERO(&c->house_cpus);
}

static const struct rt_config_choice wait_names[] = {
	{"sleep", RT_WAIT_SLEEP}, {"hybrid", RT_WAIT_HYBRID}, {"spin", RT_WAIT_SPIN}, {NULL, 0}};
enum { V2XD_COALESCED = 0, V2XD_LATENCY = 1 };
static const struct rt_config_choice profile_names[] = {{"coalesced", V2XD_COALESCED}, {"latency", V2XD_LATENCY},
							{NULL, 0}};
static const struct rt_config_choice level_names[] = {
	{"error", RT_LOG_ERR}, {"warn", RT_LOG_WARN}, {"info", RT_LOG_INFO}, {"debug", RT_LOG_DEBUG}, {NULL, 0}};

static const struct rt_config_key v2xd_keys[] = {
	{.section = "pipeline", .key = "ring", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct v2xd_conf, ring_records),
	 .umin = 64, .umax = 1u << 24, .flags = RT_CONFIG_POW2, .unit = "records", .opt = "ring",
	 .help = "capacity of rings without one of their own (the receiver's ring to the log stage), a power of two "
		 "(65536: 14 s at bus rate)"},
	{.section = "pipeline", .key = "wait", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct v2xd_conf, wait_mode),
	 .choices = wait_names, .opt = "wait",
	 .help = "how ring consumers wait: sleep (futex), hybrid (spin, then sleep), spin (a CPU each)"},
	{.section = "pipeline", .key = "spin_us", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct v2xd_conf, spin_ns),
	 .unit = "us", .umin = 0, .umax = 1000000, .opt = "spin-us", .help = "spin time before sleeping (hybrid)"},
	{.section = "pipeline", .key = "full_wait_ms", .type = RT_CONFIG_DURATION,
	 RT_CONFIG_FIELD(struct v2xd_conf, full_wait_ns), .unit = "ms", .umin = 0, .umax = 60000, .opt = "full-wait-ms",
	 .help = "how long a stage waits on a full ring before dropping (counted)"},
	{.section = "pipeline", .key = "profile", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct v2xd_conf, profile),
	 .choices = profile_names, .opt = "profile",
	 .help = "coalesced: batched reads and wake-ups (least CPU); latency: a wake-up per record (overrides "
		 "[can_rx] read_interval_us and [log] wake_records)"},
	{.section = "pipeline", .key = "rt", .type = RT_CONFIG_BOOL, RT_CONFIG_FIELD(struct v2xd_conf, realtime),
	 .opt = "rt", .help = "SCHED_FIFO at each stage's priority for stages whose policy is other"},
	{.section = "pipeline", .key = "mlock", .type = RT_CONFIG_BOOL, RT_CONFIG_FIELD(struct v2xd_conf, mlock),
	 .opt = "mlock", .help = "lock all memory (mlockall)"},
	{.section = "control", .key = "socket", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct v2xd_conf, socket),
	 .flags = RT_CONFIG_EMPTY_OK, .opt = "socket", .help = "control socket for v2xctl (empty: none)"},
	{.section = "control", .key = "socket_mode", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct v2xd_conf, socket_mode),
	 .umin = 0, .umax = 0777, .flags = RT_CONFIG_NO_OPTION, .help = "permission bits of the socket (decimal: 432 = 0660)"},
	{.section = "control", .key = "status_s", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct v2xd_conf, status_ns),
	 .unit = "s", .umin = 0, .umax = 86400, .opt = "status-s", .help = "status line on stderr this often (0: never)"},
	{.section = "control", .key = "log_level", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct v2xd_conf, log_level),
	 .choices = level_names, .opt = "log-level", .help = "messages at this level and above"},
	{.section = "control", .key = "cpus", .type = RT_CONFIG_CPUSET, RT_CONFIG_FIELD(struct v2xd_conf, house_cpus),
	 .opt = "cpu-house", .help = "housekeeping CPUs: the control, snapshot and library threads"},
};

static const struct rt_config_table v2xd_table = {
	.name = "v2xd",
	.keys = v2xd_keys,
	.n_keys = sizeof(v2xd_keys) / sizeof(v2xd_keys[0]),
	.conf_size = sizeof(struct v2xd_conf),
	.defaults = v2xd_conf_defaults,
};

static const struct rt_config_alias v2xd_aliases[] = {
	{.opt = "verbose", .target = "log-level", .value = "debug", .help = "more logging"},
	{.opt = "quiet", .target = "log-level", .value = "warn", .help = "warnings and errors only"},
	{.opt = NULL},
};

static const char v2xd_usage[] =
	"usage: v2xd --can-dev PATH [--config FILE] [options]   run the vehicle pipeline until SIGINT/SIGTERM\n"
	"       v2xd decode [--dbc FILE] [--strict] [FILE|-]      decode logs to JSON lines (v2xd decode --help)\n"
	"Every option is also a key of the configuration file (--config): [section] key = value; the command line\n"
	"wins over the file.  --print-config prints the effective configuration.\n";

/* Everything the control thread's callbacks need. */
struct v2xd {
	struct v2xd_conf conf;
	struct rt_pipeline *pipe;
	struct rt_registry reg;
	struct rt_control ctl;
	struct rt_config_bind binds[V2XD_MAX_BINDS];
	size_t n_binds;
	struct can_rx *rx;
	struct decode_stage *dec;
	struct log_stage *log;
	struct hub_io *hub;
	int link_was_up;
	int hub_was_up;
	int stalled_ring;    /* the ring whose consumer the watchdog found stuck, or -1 */
};

/* ---- metrics and reports ---- */

static int link_text(void *ctx, char *buf, size_t size)
{
	struct can_rx *rx = ctx;
	const char *s = atomic_load(&rx->link_up) ? "up" : atomic_load(&rx->at_eof) ? "end of file" : "down";
	return snprintf(buf, size, "%s", s);
}

static int disk_text(void *ctx, char *buf, size_t size)
{
	struct log_stage_status st;
	log_stage_get_status(ctx, &st);
	return snprintf(buf, size, "%s%s%s", st.disk_error || st.files_missing ? "ERROR" : "ok",
			st.files_missing ? ", output files removed (waiting for the directory)" : "",
			st.snapshot_error ? ", snapshots failing" : "");
}

static int64_t rows_lost(void *ctx)
{
	struct log_stage_status st;
	log_stage_get_status(ctx, &st);
	return (int64_t)st.rows_lost;
}

static int64_t rotate_errors(void *ctx)
{
	struct log_stage_status st;
	log_stage_get_status(ctx, &st);
	return (int64_t)st.rotate_errors;
}

static int register_metrics(struct v2xd *d)
{
	struct rt_registry *r = &d->reg;
	int rc = 0;

	rc |= rt_registry_add_text(r, "can_rx", "link", link_text, d->rx);
	rc |= rt_registry_add_counters(r, "can_rx", NULL, &d->rx->ctr);
	rc |= rt_registry_add_counter(r, "can_rx", "bytes", &d->rx->bytes);
	rc |= rt_registry_add_counter(r, "can_rx", "opens", &d->rx->opens);
	rc |= rt_registry_add_counter(r, "can_rx", "hangups", &d->rx->hangups);
	rc |= rt_registry_add_counter(r, "can_rx", "dev_frames_lost", &d->rx->dev_frames_lost);
	rc |= rt_registry_add_counter(r, "can_rx", "can_frames_lost", &d->rx->can_frames_lost);
	rc |= rt_registry_add_counter(r, "can_rx", "nmea_fields_left_out", &d->rx->nmea_fields_left_out);
	rc |= rt_registry_add_counters(r, "decode", NULL, &d->dec->ctr);
	rc |= rt_registry_add_hist(r, "decode", "rx_to_decoded", "ns", &d->dec->rx_to_decoded_ns);
	rc |= rt_registry_add_counter(r, "decode", "published", &d->dec->pub.generation);
	rc |= rt_registry_add_counters(r, "log", NULL, &d->log->ctr);
	rc |= rt_registry_add_hist(r, "log", "rx_to_logged", "ns", &d->log->rx_to_logged_ns);
	rc |= rt_registry_add_hist(r, "log", "rx_to_file", "ns", &d->log->rx_to_file_ns);
	rc |= rt_registry_add_text(r, "log", "disk", disk_text, d->log);
	rc |= rt_registry_add_gauge_int(r, "log", "rows_lost", "rows", rows_lost, d->log);
	rc |= rt_registry_add_gauge_int(r, "log", "rotate_errors", "", rotate_errors, d->log);
	rc |= rt_registry_add_counter(r, "log", "snapshots_written", &d->log->snaps.written);
	rc |= rt_registry_add_counter(r, "log", "snapshots_skipped", &d->log->snaps.skipped);
	rc |= rt_registry_add_counter(r, "log", "snapshot_errors", &d->log->snaps.errors);
	rc |= rt_registry_add_counter(r, "log", "snapshot_handoff_waits", &d->log->snaps.handoff_waits);
	rc |= rt_registry_add_counter(r, "log", "snapshot_handoff_max_ns", &d->log->snaps.handoff_max_ns);
	for (size_t i = 0; i < rt_pipeline_ring_count(d->pipe); i++)
		rc |= rt_registry_add_ring(r, "rings", NULL, rt_pipeline_ring(d->pipe, i));
	return rc ? -EINVAL : 0;
}

/* Reports problems the real-time threads only counted: once per episode (a control timer, every second). */
static void report_episodes(void *ctx, uint64_t now)
{
	struct v2xd *d = ctx;
	int up = atomic_load(&d->rx->link_up);

	(void)now;
	if (up != d->link_was_up) {
		int err = atomic_load(&d->rx->last_errno);
		if (up)
			rt_info("%s: open", d->rx->conf.dev_path);
		else if (atomic_load(&d->rx->at_eof))
			rt_info("%s: end of file: every line read", d->rx->conf.dev_path);
		else if (d->link_was_up == 1 || d->link_was_up == -1)
			rt_warn("%s: not available (%s); retrying every %llu ms", d->rx->conf.dev_path,
				err ? strerror(err) : "closed by the other end",
				(unsigned long long)(d->rx->conf.reopen_ns / RT_NS_PER_MS));
		d->link_was_up = up;
	}
	/* The hub link, when configured: the same once-per-episode messages. */
	if (d->hub && d->hub->conf.dev_path[0]) {
		int hup = atomic_load(&d->hub->link_up);
		if (hup != d->hub_was_up) {
			int err = atomic_load(&d->hub->last_errno);
			if (hup)
				rt_info("%s: open (hub link)", d->hub->conf.dev_path);
			else if (d->hub_was_up == 1 || d->hub_was_up == -1)
				rt_warn("%s: hub link not available (%s); retrying every %llu ms", d->hub->conf.dev_path,
					err ? strerror(err) : "closed by the other end",
					(unsigned long long)(d->hub->conf.reopen_ns / RT_NS_PER_MS));
			d->hub_was_up = hup;
		}
	}
	log_stage_report(d->log);
}

/* The final lines: what came in, what was lost where, latency. */
static void final_lines(struct v2xd *d)
{
	struct log_stage_status ls;
	struct rt_hist_summary dh, lh, fh;

	log_stage_get_status(d->log, &ls);
	if (ls.close_errno)
		rt_err("finishing the output files failed: %s (see the lines above)", strerror(ls.close_errno));
	rt_info("final: %llu bytes, %llu records, lost on the link %llu frames / %llu CAN frames, rejected %llu, "
		"dropped %llu, disk %s, snapshots %llu written, %llu "
		"skipped, %llu failed, rotations failed %llu, files removed %llu, rows lost: can_data=%llu candump=%llu "
		"gps_data=%llu merged=%llu",
		(unsigned long long)rt_counter_get(&d->rx->bytes), (unsigned long long)rt_counter_get(&d->rx->ctr.in),
		(unsigned long long)rt_counter_get(&d->rx->dev_frames_lost),
		(unsigned long long)rt_counter_get(&d->rx->can_frames_lost),
		(unsigned long long)(rt_counters_dropped_total(&d->rx->ctr) -
				     rt_counter_get(&d->rx->ctr.dropped[CAN_RX_DROP_RING_FULL])),
		(unsigned long long)(rt_counter_get(&d->rx->ctr.dropped[CAN_RX_DROP_RING_FULL]) +
				     rt_counter_get(&d->dec->ctr.dropped[DECODE_DROP_RING_FULL])),
		ls.disk_error || ls.files_missing ? "ERROR" : "ok", (unsigned long long)ls.snapshots_written,
		(unsigned long long)ls.snapshots_skipped, (unsigned long long)ls.snapshot_errors,
		(unsigned long long)ls.rotate_errors, (unsigned long long)ls.missing_episodes,
		(unsigned long long)ls.rows_lost_can,
		(unsigned long long)ls.rows_lost_candump, (unsigned long long)ls.rows_lost_gps,
		(unsigned long long)ls.rows_lost_merged);
	rt_hist_summarize(&d->dec->rx_to_decoded_ns, &dh);
	rt_hist_summarize(&d->log->rx_to_logged_ns, &lh);
	rt_hist_summarize(&d->log->rx_to_file_ns, &fh);
	rt_info("latency ns: rx->decoded p50=%llu p99=%llu max=%llu; rx->logged n=%llu p50=%llu p99=%llu p99.9=%llu "
		"max=%llu; rx->file p50=%llu p99=%llu max=%llu; snapshot hand-off max %llu ns, waits %llu",
		(unsigned long long)dh.p50, (unsigned long long)dh.p99, (unsigned long long)dh.max,
		(unsigned long long)lh.count, (unsigned long long)lh.p50, (unsigned long long)lh.p99,
		(unsigned long long)lh.p999, (unsigned long long)lh.max, (unsigned long long)fh.p50,
		(unsigned long long)fh.p99, (unsigned long long)fh.max,
		(unsigned long long)rt_counter_get(&d->log->snaps.handoff_max_ns),
		(unsigned long long)rt_counter_get(&d->log->snaps.handoff_waits));
}

/*
 * The systemd watchdog (WatchdogSec= in the unit): fed by the control thread, but only while every stage makes
 * progress (no ring whose records wait untouched for a whole period): a stuck stage stops the feeding, and systemd
 * restarts the daemon.  A stall is reported once, and its end too.
 */
static void watchdog_tick(void *ctx, uint64_t now)
{
	struct v2xd *d = ctx;
	int r = rt_pipeline_stalled_ring(d->pipe);

	(void)now;
	if (r < 0) {
		if (d->stalled_ring >= 0)
			rt_info("ring %s moves again: feeding the watchdog", rt_pipeline_ring(d->pipe, (size_t)d->stalled_ring)->name);
		d->stalled_ring = -1;
		sd_notify(0, "WATCHDOG=1");
		return;
	}
	if (d->stalled_ring != r)
		rt_err("ring %s: its consumer took nothing for a whole watchdog period; not feeding the watchdog",
		       rt_pipeline_ring(d->pipe, (size_t)r)->name);
	d->stalled_ring = r;
}

/* ---- control commands ---- */

/* `state`: the published vehicle state, every signal with its value, unit and age, and the GPS fix. */
static int cmd_state(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct v2xd *d = ctx;
	int64_t now = rt_real_ns();
	cJSON *sigs = cJSON_AddObjectToObject(result, "signals");

	(void)args;
	(void)err;
	(void)errsz;
	if (!sigs)
		return -ENOMEM;
	rcu_read_lock();
	const struct vstate *s = rcu_pub_read(&d->dec->pub);
	for (unsigned i = 0; i < SIG__COUNT; i++) {
		if (!s->t_real_ns[i])
			continue; /* never received a valid value */
		cJSON *o = cJSON_AddObjectToObject(sigs, canon_sig_name((enum canon_sig)i));
		if (!o)
			break;
		cJSON_AddNumberToObject(o, "value", s->value[i]);
		cJSON_AddStringToObject(o, "unit", canon_sig_unit((enum canon_sig)i));
		cJSON_AddNumberToObject(o, "age_s", (double)(now - s->t_real_ns[i]) / 1e9);
	}
	if (s->gps_real_ns) {
		cJSON *g = cJSON_AddObjectToObject(result, "gps");
		if (g) {
			cJSON_AddBoolToObject(g, "valid", s->gps.valid);
			cJSON_AddNumberToObject(g, "lat_deg", s->gps.lat_deg);
			cJSON_AddNumberToObject(g, "lon_deg", s->gps.lon_deg);
			cJSON_AddNumberToObject(g, "alt_m", s->gps.alt_m);
			cJSON_AddNumberToObject(g, "speed_kmh", s->gps.speed_kmh);
			cJSON_AddNumberToObject(g, "sats", s->gps.sats);
			cJSON_AddNumberToObject(g, "age_s", (double)(now - s->gps_real_ns) / 1e9);
		}
	}
	cJSON_AddNumberToObject(result, "last_seq", (double)s->last_seq);
	cJSON_AddNumberToObject(result, "generation", (double)rcu_pub_generation(&d->dec->pub));
	rcu_read_unlock();
	return 0;
}

/* `config`: the effective configuration, secrets masked. */
static int cmd_config(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct v2xd *d = ctx;
	(void)args;
	(void)err;
	(void)errsz;
	return rt_config_to_json(result, d->binds, d->n_binds);
}

/* The V2G stage's commands (stages/v2g/v2g_stage.h), served by the control thread. */
static int register_v2g_commands(struct v2xd *d)
{
	static const struct {
		const char *name, *help;
		rt_control_cmd_fn fn;
	} cmds[] = {
		{"sessions", "the charging session in progress and the recent ones", v2g_cmd_sessions},
		{"neighbours", "other vehicles heard on the radio", v2g_cmd_neighbours},
		{"stations", "charging stations heard on the radio", v2g_cmd_stations},
		{"stop-charging", "ask the station to stop the session", v2g_cmd_stop_charging},
		{"set-desired-soc", "stop charging at this SOC (args: soc, %)", v2g_cmd_set_desired_soc},
		{"set-max-cost", "stop charging at this cost (args: cost)", v2g_cmd_set_max_cost},
	};
	void *v2g = rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "v2g"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (rt_control_add_command(&d->ctl, cmds[i].name, cmds[i].help, cmds[i].fn, v2g) < 0)
			return -1;
	return rt_control_add_command(&d->ctl, "uplink", "broker, spool and drain state of the telemetry uplink",
				      uplink_stage_status, rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "uplink")));
}

/* ---- main ---- */

static int run(struct v2xd *d)
{
	struct rt_control_conf cc;
	struct rt_pipeline_conf pc;
	int rc, sig;

	rt_control_conf_init(&cc, "v2xd");
	cc.socket_path = d->conf.socket[0] ? d->conf.socket : NULL;
	cc.socket_mode = d->conf.socket_mode;
	cc.status_period_ns = d->conf.status_ns;
	cc.registry = &d->reg;
	/* Before any other thread exists: every thread inherits the blocked stop signals.  A signal that arrives
	 * during start-up waits in the signalfd and stops the daemon as soon as the loop runs. */
	rc = rt_control_init(&d->ctl, &cc);
	if (rc < 0)
		return 1;
	if (CPU_COUNT(&d->conf.house_cpus) > 0 && rt_pin_self(&d->conf.house_cpus) < 0)
		rt_warn("cannot pin the control thread to --cpu-house");
	struct log_stage_conf *lc = rt_pipeline_conf(d->pipe, rt_pipeline_find(d->pipe, "log"));
	struct can_rx_conf *rxc = rt_pipeline_conf(d->pipe, rt_pipeline_find(d->pipe, "can_rx"));
	if (CPU_COUNT(&lc->house_cpus) == 0)
		lc->house_cpus = d->conf.house_cpus;
	struct v2g_stage_conf *vc = rt_pipeline_conf(d->pipe, rt_pipeline_find(d->pipe, "v2g"));
	if (strcmp(vc->state_dir, ".") == 0)
		snprintf(vc->state_dir, sizeof(vc->state_dir), "%s", lc->out_dir); /* the session state beside the logs */
	if (d->conf.profile == V2XD_LATENCY) {
		rxc->read_interval_ns = 0; /* every read at once */
		lc->wake_records = 1;      /* every push wakes the log thread */
	}
	rt_pipeline_conf_init(&pc);
	pc.ring_records = d->conf.ring_records;
	pc.wait_mode = (enum rt_wait_mode)d->conf.wait_mode;
	pc.spin_ns = d->conf.spin_ns;
	pc.full_wait_ns = d->conf.full_wait_ns;
	pc.realtime = d->conf.realtime;
	rc = rt_pipeline_init(d->pipe, &pc, &d->reg);
	if (rc < 0)
		goto out_control;
	d->rx = rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "can_rx"));
	d->dec = rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "decode"));
	d->log = rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "log"));
	d->hub = rt_pipeline_stage(d->pipe, rt_pipeline_find(d->pipe, "hub_io"));
	d->link_was_up = -1;
	d->hub_was_up = -1;
	if (register_metrics(d) < 0 ||
	    rt_control_add_command(&d->ctl, "state", "the published vehicle state: signals with their age, GPS fix",
				   cmd_state, d) < 0 ||
	    rt_control_add_command(&d->ctl, "config", "the effective configuration (secrets masked)", cmd_config, d) < 0 ||
	    register_v2g_commands(d) < 0 ||
	    rt_control_add_timer(&d->ctl, "episodes", RT_NS_PER_SEC, report_episodes, d) < 0) {
		rt_err("cannot register the control commands");
		rc = -ENOMEM;
		goto out_control;
	}
	if (d->conf.mlock)
		rt_mlockall();
	rc = rt_pipeline_start(d->pipe);
	if (rc < 0)
		goto out_control;
	/* Under systemd (Type=notify): ready once every stage runs; the watchdog fed at half its period. */
	uint64_t wd_usec = 0;
	d->stalled_ring = -1;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		(void)rt_pipeline_stalled_ring(d->pipe); /* the first look only records the positions */
		if (rt_control_add_timer(&d->ctl, "watchdog", wd_usec * 1000 / 2, watchdog_tick, d) < 0)
			rt_warn("cannot feed the systemd watchdog");
	}
	sd_notifyf(0, "READY=1\nSTATUS=running: %s -> %s\nMAINPID=%lu", d->rx->conf.dev_path, d->log->conf.out_dir,
		   (unsigned long)getpid());
	rt_info("running: %s at %u baud -> %s (stop with SIGINT or SIGTERM)", d->rx->conf.dev_path, d->rx->conf.baud,
		d->log->conf.out_dir);
	sig = rt_control_run(&d->ctl);
	if (sig == SIGINT || sig == SIGTERM)
		rt_info("%s: stopping: draining the pipeline", sig == SIGINT ? "SIGINT" : "SIGTERM");
	else
		rt_err("control loop ended (%s): stopping", strerror(-sig));
	sd_notify(0, "STOPPING=1\nSTATUS=draining the pipeline");
	rt_pipeline_stop(d->pipe);
	log_stage_join_io(d->log); /* the last snapshots are written: the counts below are final */
	report_episodes(d, rt_mono_ns());
	final_lines(d);
	rc = 0;
out_control:
	rt_control_fini(&d->ctl);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct v2xd *d;
	int rc;

	rt_log_setup("v2xd", RT_LOG_INFO);
	if (argc > 1 && strcmp(argv[1], "decode") == 0)
		return decode_cmd_main(argc - 1, argv + 1);
	d = calloc(1, sizeof(*d));
	if (!d) {
		rt_err("out of memory");
		return 1;
	}
	rc = rt_pipeline_create(&d->pipe, v2xd_stages, v2xd_n_stages, v2xd_rings, v2xd_n_rings);
	if (rc < 0) {
		rt_err("cannot assemble the pipeline: %s", strerror(-rc));
		free(d);
		return 1;
	}
	d->binds[0].table = &v2xd_table;
	d->binds[0].conf = &d->conf;
	d->n_binds = 1 + rt_pipeline_config_binds(d->pipe, d->binds + 1, V2XD_MAX_BINDS - 1);
	struct rt_config_program prog = {
		.name = "v2xd",
		.usage = v2xd_usage,
		.binds = d->binds,
		.n_binds = d->n_binds,
		.aliases = v2xd_aliases,
	};
	rc = rt_config_load(&prog, argc, argv);
	if (rc != 0) {
		rt_pipeline_destroy(d->pipe);
		free(d);
		return rc == RT_CONFIG_DONE ? 0 : 2;
	}
	rt_log_setup("v2xd", (enum rt_log_level)d->conf.log_level);
	rt_registry_init(&d->reg);
	/* The control thread reads the published vehicle state (state command, status): an RCU reader. */
	rcu_register_thread();
	rc = run(d);
	rt_pipeline_destroy(d->pipe);
	rt_registry_fini(&d->reg);
	rcu_unregister_thread();
	free(d);
	return rc;
}

/*
 * test_uplink_stage.c - the uplink stage inside a real rt/pipeline, against a real mosquitto broker: a fake
 * "decode" stage publishes the vehicle state through RCU as "vstate", a fake "v2g" stage sends a session event to
 * the uplink and receives the RPC commands; the uplink samples the state once per interval, spools, publishes and
 * drains, and the pipeline stops with everything acknowledged; the broker, its port, the token and the sampling
 * interval come from a legacy mqtt_config.txt (--mqtt-config).  Also the [uplink] configuration table: an INI file
 * and the command line through rt_config_load, --mqtt-config (the legacy file), and --print-config with the token
 * masked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/config.h"
#include "rt/pipeline.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "stages/uplink/uplink_stage.h"
#include "tests/support/testutil.h"

#define TOKEN "stage-tok-SECRET-42"

/* ---- config ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_config_table_file_options_and_mask(void **state)
{
	(void)state;
	char dir[128], ini[256], legacy[256], text[2048];
	struct uplink_stage_conf sc;
	struct uplink_conf c;
	char err[512], errbuf[2048] = "";

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "uplink-conf"), 0);
	snprintf(ini, sizeof(ini), "%s/v2xd.ini", dir);
	snprintf(text, sizeof(text),
		 "[uplink]\nhost = tb.example.com\nport = 8883\ntoken = " TOKEN "\nca_file = /etc/ssl/ca.pem\n"
		 "sample_interval_ms = 500\nspool_dir = %s/spool\nspool_max_mb = 16\nspool_fsync_ms = 0\n"
		 "publish_rate_hz = 2.5\nbatch_max_kb = 16\nvehicle_id = twizy-7\n", dir);
	write_file(ini, text, 0600);
	struct rt_config_bind bind = {.table = &uplink_config, .conf = &sc};
	struct rt_config_program prog = {.name = "v2xd", .usage = "v2xd\n", .binds = &bind, .n_binds = 1,
					 .errbuf = errbuf, .errbuf_size = sizeof(errbuf)};
	char a0[] = "v2xd", a1[] = "--config", a3[] = "--uplink-keepalive-s", a4[] = "30";
	char *argv[] = {a0, a1, ini, a3, a4, NULL};
	assert_int_equal(rt_config_load(&prog, 5, argv), 0);
	assert_string_equal(sc.host, "tb.example.com");
	assert_int_equal(sc.port, 8883);
	assert_string_equal(sc.token, TOKEN);
	assert_int_equal(sc.sample_interval_ns, 500 * 1000000ull);
	assert_int_equal(sc.keepalive_ns, 30 * 1000000000ull); /* the command line over the file */
	assert_int_equal(sc.spool_max_bytes, 16ull << 20);
	assert_int_equal(sc.spool_fsync_ns, 0);
	assert_int_equal(sc.batch_max_bytes, 16384);
	assert_true(sc.publish_rate_hz == 2.5);
	/* defaults of what the file did not set */
	assert_int_equal(sc.max_inflight, 10);
	assert_int_equal(sc.reconnect_max_ns, 60 * 1000000000ull);

	/* --print-config: the token masked */
	char *out = NULL;
	size_t outlen = 0;
	FILE *m = open_memstream(&out, &outlen);
	assert_int_equal(rt_config_print_ini(m, &bind, 1), 0);
	fclose(m);
	assert_null(strstr(out, "SECRET"));
	assert_non_null(strstr(out, "token = ***"));
	free(out);

	assert_int_equal(uplink_stage_make_conf(&sc, &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "tb.example.com");
	assert_int_equal(c.port, 8883);
	assert_int_equal(c.keepalive_s, 30);
	assert_int_equal(c.spool_fsync_interval_ns, 0);
	assert_int_equal(c.batch_max_bytes, 16384);

	/* --mqtt-config: the legacy file replaces host, port, token, interval, location */
	snprintf(legacy, sizeof(legacy), "%s/mqtt_config.txt", dir);
	write_file(legacy,
		   "broker_ip=192.168.1.20\nbroker_port=1884\ndevice_token=LEGACY-SECRET\ncheck_interval=5\n"
		   "use_location=true\nlatitude=45.5\nlongitude=-73.25\ncsv_pattern=*.csv\n",
		   0600);
	char a5[] = "--mqtt-config";
	char *argv2[] = {a0, a1, ini, a5, legacy, NULL};
	assert_int_equal(rt_config_load(&prog, 5, argv2), 0);
	assert_int_equal(uplink_stage_make_conf(&sc, &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "192.168.1.20");
	assert_int_equal(c.port, 1884);
	assert_string_equal(c.token, "LEGACY-SECRET");
	assert_int_equal(c.sample_interval_ns, 5000000000ull);
	assert_int_equal(c.telem.use_location, 1);
	assert_true(c.telem.fallback_lat_deg == 45.5 && c.telem.fallback_lon_deg == -73.25);
	/* a legacy file others can read, holding a token: refused with the reason, never the token */
	assert_int_equal(chmod(legacy, 0644), 0);
	assert_int_equal(uplink_stage_make_conf(&sc, &c, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "mqtt_config.txt: mode 0644"));
	assert_null(strstr(err, "SECRET"));
	/* a bad value in [uplink]: refused with file and line */
	write_file(ini, "[uplink]\nport = 70000\n", 0600);
	char *argv3[] = {a0, a1, ini, NULL};
	errbuf[0] = '\0';
	assert_int_equal(rt_config_load(&prog, 3, argv3), -EINVAL);
	assert_non_null(strstr(errbuf, "v2xd.ini:2"));
	test_rmtree(dir);
}

/* ---- a pipeline: fake decode (vstate), fake v2g (events out, commands in), uplink ---- */

struct fake_decode {
	struct rcu_pub pub;
	const struct rt_stop *stop;
	_Atomic uint64_t published;
};

static int fd_init(void *self, const struct rt_stage_env *env)
{
	struct fake_decode *d = self;
	d->stop = env->stop;
	int rc = rcu_pub_init(&d->pub, sizeof(struct vstate), 8);
	if (rc < 0)
		return rc;
	return rt_pipeline_provide(env->pipeline, "vstate", &d->pub);
}

static void *fd_thread(void *self)
{
	struct fake_decode *d = self;
	uint64_t k = 0;
	rcu_register_thread();
	while (!rt_stop_requested(d->stop)) {
		struct vstate *s = rcu_pub_begin(&d->pub);
		if (s) {
			k++;
			memset(s, 0, sizeof(*s));
			s->updated_real_ns = (1704106800000LL + (int64_t)k * 10) * 1000000LL;
			s->value[SIG_SOC] = 50 + (double)(k % 50);
			s->t_real_ns[SIG_SOC] = s->updated_real_ns;
			rcu_pub_commit(&d->pub, s);
			atomic_store(&d->published, k);
		}
		test_sleep_ms(10); /* a new state every 10 ms; the uplink samples every 100 ms */
	}
	rcu_unregister_thread();
	return NULL;
}

static void fd_fini(void *self)
{
	struct fake_decode *d = self;
	if (d->pub.pool)
		rcu_pub_fini(&d->pub);
}

static const struct rt_stage_desc fake_decode_desc = {
	.name = "decode", .size = sizeof(struct fake_decode), .init = fd_init, .thread = fd_thread, .fini = fd_fini};

struct fake_v2g {
	struct ring *events_out, *cmds_in;
	const struct rt_stop *stop;
	_Atomic int ncmds;
	struct rpc_cmd cmds[8];
};

static int fv_init(void *self, const struct rt_stage_env *env)
{
	struct fake_v2g *v = self;
	v->events_out = env->out[0];
	v->cmds_in = env->in[0];
	v->stop = env->stop;
	return 0;
}

static void *fv_thread(void *self)
{
	struct fake_v2g *v = self;
	struct telem_session_event ev = {.kind = TELEM_SESSION_START, .t_real_ns = 1704106800123LL * 1000000LL,
					  .session_id = 77, .soc_pct = 51, .energy_kwh = __builtin_nan(""),
					  .cost = __builtin_nan(""), .duration_s = __builtin_nan(""),
					  .max_current_a = __builtin_nan("")};
	ring_push(v->events_out, &ev);
	while (!ring_is_drained(v->cmds_in)) {
		struct rpc_cmd c;
		while (ring_pop(v->cmds_in, &c)) {
			int n = atomic_load(&v->ncmds);
			if (n < 8) {
				v->cmds[n] = c;
				atomic_store(&v->ncmds, n + 1);
			}
		}
		ring_wait(v->cmds_in, 50 * 1000000LL);
	}
	ring_close(v->events_out);
	return NULL;
}

static void fv_fini(void *self)
{
	(void)self;
}

static const struct rt_stage_desc fake_v2g_desc = {
	.name = "v2g", .size = sizeof(struct fake_v2g), .init = fv_init, .thread = fv_thread, .fini = fv_fini};

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void test_stage_in_pipeline_with_broker(void **state)
{
	(void)state;
	char dir[128], conf[256], log[256], cmd[512];
	int port = free_port();

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "uplink-stage"), 0);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	snprintf(log, sizeof(log), "%s/mosquitto.log", dir);
	snprintf(cmd, sizeof(cmd), "user root\nlistener %d 127.0.0.1\nallow_anonymous true\nlog_type all\n", port);
	write_file(conf, cmd, 0644);
	char prog[] = "/usr/sbin/mosquitto", opt[] = "-c";
	char *av[] = {prog, opt, conf, NULL};
	pid_t broker = test_spawn(av, log);
	assert_true(broker > 0);
	for (int i = 0; i < 500 && !port_open(port); i++)
		test_sleep_ms(10);
	assert_true(port_open(port));

	const struct rt_stage_desc *stages[] = {&fake_decode_desc, &fake_v2g_desc, &uplink_stage};
	const struct rt_ring_desc rings[] = {
		{.from = "v2g", .to = "uplink", .rec_size = sizeof(struct telem_session_event), .capacity = 64},
		{.from = "uplink", .to = "v2g", .rec_size = sizeof(struct rpc_cmd), .capacity = 64},
	};
	struct rt_pipeline *p;
	assert_int_equal(rt_pipeline_create(&p, stages, 3, rings, 2), 0);
	struct uplink_stage_conf *uc = rt_pipeline_conf(p, rt_pipeline_find(p, "uplink"));
	assert_non_null(uc);
	/* the broker and the token come from the legacy mqtt_config.txt, as a deployed vehicle has it */
	char legacy[256], ltext[256];
	snprintf(legacy, sizeof(legacy), "%s/mqtt_config.txt", dir);
	snprintf(ltext, sizeof(ltext), "broker_ip=127.0.0.1\nbroker_port=%d\ndevice_token=" TOKEN "\ncheck_interval=0.1\n",
		 port);
	write_file(legacy, ltext, 0600);
	snprintf(uc->mqtt_config, sizeof(uc->mqtt_config), "%s", legacy);
	/* spool_dir left empty: under systemd the spool goes to $STATE_DIRECTORY/spool */
	char state_dir[192], spool_path[256];
	snprintf(state_dir, sizeof(state_dir), "%s/state", dir);
	assert_int_equal(mkdir(state_dir, 0700), 0);
	setenv("STATE_DIRECTORY", state_dir, 1);
	uc->publish_rate_hz = 50;
	uc->reconnect_min_ns = 100 * 1000000ull;
	struct rt_pipeline_conf pc;
	rt_pipeline_conf_init(&pc);
	pc.ring_records = 64;
	assert_int_equal(rt_pipeline_init(p, &pc, NULL), 0);
	unsetenv("STATE_DIRECTORY");
	struct stat sst;
	snprintf(spool_path, sizeof(spool_path), "%s/spool/pos", state_dir);
	assert_int_equal(stat(spool_path, &sst), 0);
	struct uplink_stage *st = rt_pipeline_stage(p, rt_pipeline_find(p, "uplink"));
	struct fake_v2g *v = rt_pipeline_stage(p, rt_pipeline_find(p, "v2g"));
	assert_int_equal(st->enabled, 1);
	assert_int_equal(rt_pipeline_start(p), 0);

	/* wait for the connection, then send an RPC command through the broker */
	for (int i = 0; i < 300 && atomic_load(&st->up.stats.connects) == 0; i++)
		test_sleep_ms(10);
	assert_int_equal(atomic_load(&st->up.stats.connects), 1);
	snprintf(cmd, sizeof(cmd),
		 "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t v1/devices/me/rpc/request/5 "
		 "-m '{\"method\":\"setDesiredSoc\",\"params\":{\"soc\":90}}'", port);
	assert_int_equal(system(cmd), 0);
	test_sleep_ms(1500); /* ~15 samples */
	for (int i = 0; i < 200 && atomic_load(&v->ncmds) == 0; i++)
		test_sleep_ms(10);
	rt_pipeline_stop(p);

	/* one sample per interval, not one per state update (the fake decode published ~10x more) */
	struct fake_decode *d = rt_pipeline_stage(p, rt_pipeline_find(p, "decode"));
	uint64_t samples = atomic_load(&st->up.stats.samples_built);
	assert_true(samples >= 8 && samples <= 20);
	assert_true(atomic_load(&d->published) > 3 * samples);
	assert_int_equal(atomic_load(&st->up.stats.events_built), 1);
	assert_int_equal(atomic_load(&v->ncmds), 1);
	assert_int_equal(v->cmds[0].method, RPC_SET_DESIRED_SOC);
	assert_true(v->cmds[0].soc_pct == 90);
	assert_int_equal(v->cmds[0].request_id, 5);
	/* everything sent before the stop was acknowledged, except what the stop interrupted (still spooled) */
	uint64_t acked = atomic_load(&st->up.stats.acked_samples);
	uint64_t depth = atomic_load(&st->up.spool.stats.depth_records);
	assert_int_equal(acked + depth, samples + 1);
	char status[4096];
	assert_true(uplink_status_json(&st->up, status, sizeof(status)) > 0);
	assert_null(strstr(status, "SECRET"));
	rt_pipeline_destroy(p);

	kill(broker, SIGTERM);
	test_wait_exit(broker, 5000);
	/* the legacy file's token was the MQTT user name */
	char *blog = test_read_file(log, NULL);
	assert_non_null(blog);
	assert_non_null(strstr(blog, "u'" TOKEN "'"));
	free(blog);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_table_file_options_and_mask),
		cmocka_unit_test_teardown(test_stage_in_pipeline_with_broker, test_kill_spawned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

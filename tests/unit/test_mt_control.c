/*
 * test_mt_control.c - the control loop on a real UNIX socket in a temporary directory, run on its own thread while
 * the test's clients talk to it: every built-in command and a program command, malformed requests (the connection
 * stays usable), 20 clients at once, the client limit, a client that never reads (disconnected and counted while the
 * others are served), the socket's mode, a stale socket file removed, a second instance refused, a non-socket path
 * kept, stop by signal and by rt_control_stop, timers, and a half-closed client.
 * Every wait is bounded; nothing asserts on wall-clock time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/control.h"
#include "rt/registry.h"
#include "tests/support/testutil.h"

#define WAIT_MS 10000

struct env {
	char dir[64];
	char path[96]; /* fits a sockaddr_un */
	struct rt_registry reg;
	struct rt_counters demo;
	struct rt_hist *lat;
	struct rt_control ctl;
	pthread_t thread;
	int running;
	int run_rc;
	_Atomic int timer_calls;
	_Atomic int hook_signal;
};

static const char *const demo_reasons[] = {"bad_crc", "ring_full"};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(test_mkdtemp(e->dir, sizeof(e->dir), "control"), 0);
	snprintf(e->path, sizeof(e->path), "%s/ctl.sock", e->dir);
	rt_registry_init(&e->reg);
	rt_counters_init(&e->demo, "demo", demo_reasons, 2);
	e->lat = aligned_alloc(64, (sizeof(struct rt_hist) + 63) / 64 * 64);
	assert_non_null(e->lat);
	rt_hist_init(e->lat);
	assert_int_equal(rt_registry_add_counters(&e->reg, "demo", NULL, &e->demo), 0);
	assert_int_equal(rt_registry_add_hist(&e->reg, "demo", "latency", "ns", e->lat), 0);
	*state = e;
	return 0;
}

static void *run_thread(void *arg)
{
	struct env *e = arg;
	e->run_rc = rt_control_run(&e->ctl);
	return NULL;
}

static void start(struct env *e)
{
	assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
	e->running = 1;
}

static int stop(struct env *e)
{
	if (!e->running)
		return 0;
	rt_control_stop(&e->ctl);
	pthread_join(e->thread, NULL);
	e->running = 0;
	rt_control_fini(&e->ctl);
	return e->run_rc;
}

static int teardown(void **state)
{
	struct env *e = *state;
	stop(e);
	rt_registry_fini(&e->reg);
	free(e->lat);
	test_rmtree(e->dir);
	free(e);
	return 0;
}

static void conf_for(struct env *e, struct rt_control_conf *c)
{
	rt_control_conf_init(c, "testd");
	c->socket_path = e->path;
	c->signals = false;
	c->registry = &e->reg;
}

/* A program command: echoes its args back, or fails with the message args.fail. */
static int cmd_echo(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	const cJSON *fail = cJSON_GetObjectItemCaseSensitive(args, "fail");
	if (cJSON_IsString(fail)) {
		snprintf(err, errsz, "%s", fail->valuestring);
		return -EINVAL;
	}
	if (args)
		cJSON_AddItemToObject(result, "args", cJSON_Duplicate(args, 1));
	cJSON_AddNumberToObject(result, "ctx", *(int *)ctx);
	return 0;
}

/* ---- a small blocking client ---- */

static int client_connect(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Reads one line (bounded wait); returns it (malloc'd, without the newline) or NULL at end of stream. */
static char *read_line(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	int64_t deadline = test_now_ms() + WAIT_MS;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - test_now_ms());
		assert_true(left > 0); /* no answer within WAIT_MS: fail rather than hang */
		if (poll(&p, 1, left) <= 0)
			continue;
		char ch;
		ssize_t n = recv(fd, &ch, 1, 0);
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		if (ch == '\n') {
			buf[len] = '\0';
			return buf;
		}
		if (len + 2 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		buf[len++] = ch;
	}
}

/* Sends one request line and parses the answer line. */
static cJSON *ask(int fd, const char *line)
{
	send_all(fd, line, strlen(line));
	send_all(fd, "\n", 1);
	char *ans = read_line(fd);
	assert_non_null(ans);
	cJSON *j = cJSON_Parse(ans);
	if (!j)
		fail_msg("answer is not JSON: %s", ans);
	free(ans);
	assert_true(cJSON_IsObject(j));
	return j;
}

static const cJSON *get(const cJSON *o, const char *path)
{
	/* "a.b.c" */
	char key[128];
	const char *p = path;
	while (o && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		assert_true(n < sizeof(key));
		memcpy(key, p, n);
		key[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		p += n + (dot ? 1 : 0);
	}
	return o;
}

static double get_num(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);
	if (!cJSON_IsNumber(v))
		fail_msg("%s is not a number", path);
	return v->valuedouble;
}

static void expect_ok(const cJSON *ans, const char *cmd)
{
	assert_true(cJSON_IsTrue(get(ans, "ok")));
	assert_string_equal(get(ans, "cmd")->valuestring, cmd);
	assert_true(cJSON_IsObject(get(ans, "result")));
}

static void expect_error(const cJSON *ans, const char *needle)
{
	assert_true(cJSON_IsFalse(get(ans, "ok")));
	const cJSON *err = get(ans, "error");
	assert_true(cJSON_IsString(err));
	if (!strstr(err->valuestring, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err->valuestring, needle);
	assert_null(get(ans, "result"));
}

static void start_default(struct env *e, int *echo_ctx)
{
	struct rt_control_conf c;
	conf_for(e, &c);
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	assert_int_equal(rt_control_add_command(&e->ctl, "echo", "echoes args", cmd_echo, echo_ctx), 0);
	start(e);
}

/* ---- tests ---- */

static void test_commands(void **state)
{
	struct env *e = *state;
	int echo_ctx = 42;
	rt_count(&e->demo.in, 7);
	rt_count(&e->demo.out, 6);
	rt_count(&e->demo.dropped[1], 1);
	rt_hist_record(e->lat, 10);
	rt_hist_record(e->lat, 20);
	start_default(e, &echo_ctx);
	int fd = client_connect(e->path);
	assert_true(fd >= 0);

	cJSON *a = ask(fd, "{\"cmd\":\"ping\"}");
	expect_ok(a, "ping");
	assert_string_equal(get(a, "result.program")->valuestring, "testd");
	assert_true(get_num(a, "result.pid") == (double)getpid());
	assert_true(get_num(a, "result.uptime_s") >= 0);
	cJSON_Delete(a);

	a = ask(fd, "{\"cmd\":\"status\"}");
	expect_ok(a, "status");
	assert_string_equal(get(a, "result.stages.demo.records.type")->valuestring, "counters");
	assert_true(get_num(a, "result.stages.demo.records.in") == 7);
	assert_true(get_num(a, "result.stages.demo.records.out") == 6);
	assert_true(get_num(a, "result.stages.demo.records.dropped") == 1);
	assert_true(get_num(a, "result.stages.demo.records.drops.ring_full") == 1);
	assert_null(get(a, "result.stages.demo.latency")); /* histograms are in stats */
	/* The control socket's own counters: this connection, and the two requests so far. */
	assert_true(get_num(a, "result.stages.control.accepted.value") == 1);
	assert_true(get_num(a, "result.stages.control.requests.value") == 2);
	assert_true(get_num(a, "result.stages.control.clients.value") == 1);
	cJSON_Delete(a);

	a = ask(fd, "{\"cmd\":\"stats\"}");
	expect_ok(a, "stats");
	assert_true(get_num(a, "result.histograms.demo.latency.count") == 2);
	assert_true(get_num(a, "result.histograms.demo.latency.min") == 10);
	assert_true(get_num(a, "result.histograms.demo.latency.max") == 20);
	assert_true(get_num(a, "result.histograms.demo.latency.p50") == 10); /* rank 1 of 2: the bucket of 10 */
	assert_null(get(a, "result.histograms.control"));
	cJSON_Delete(a);

	a = ask(fd, "{\"cmd\":\"help\"}");
	expect_ok(a, "help");
	const cJSON *list = get(a, "result.commands");
	assert_true(cJSON_IsArray(list));
	int found = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, list) found += strcmp(cJSON_GetObjectItem(it, "name")->valuestring, "echo") == 0;
	assert_int_equal(found, 1);
	assert_int_equal(cJSON_GetArraySize(list), 5); /* ping status stats help echo */
	cJSON_Delete(a);

	a = ask(fd, "{\"cmd\":\"echo\",\"args\":{\"soc\":80,\"name\":\"x\"},\"id\":17}");
	expect_ok(a, "echo");
	assert_true(get_num(a, "result.args.soc") == 80);
	assert_string_equal(get(a, "result.args.name")->valuestring, "x");
	assert_true(get_num(a, "result.ctx") == 42);
	assert_true(get_num(a, "id") == 17);
	cJSON_Delete(a);

	/* A handler's error is the answer's error, with its command. */
	a = ask(fd, "{\"cmd\":\"echo\",\"args\":{\"fail\":\"no charger connected\"}}");
	expect_error(a, "no charger connected");
	assert_string_equal(get(a, "cmd")->valuestring, "echo");
	cJSON_Delete(a);
	close(fd);
	assert_int_equal(stop(e), -ECANCELED);
}

static void test_malformed_requests(void **state)
{
	struct env *e = *state;
	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	int fd = client_connect(e->path);
	assert_true(fd >= 0);
	static const struct {
		const char *line, *error;
	} bad[] = {
		{"this is not json", "not JSON"},
		{"{\"cmd\":\"ping\"", "not JSON"},
		{"[1,2,3]", "not a JSON object"},
		{"\"status\"", "not a JSON object"},
		{"{}", "no \"cmd\""},
		{"{\"cmd\":42}", "no \"cmd\""},
		{"{\"cmd\":\"\"}", "no \"cmd\""},
		{"{\"cmd\":\"nope\"}", "unknown command \"nope\""},
		{"{\"cmd\":\"ping\",\"args\":[1]}", "\"args\" must be an object"},
		{"{\"cmd\":\"ping\"} {\"cmd\":\"ping\"}", "after the JSON value"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *a = ask(fd, bad[i].line);
		expect_error(a, bad[i].error);
		cJSON_Delete(a);
		/* ... and the connection still works. */
		a = ask(fd, "{\"cmd\":\"ping\"}");
		expect_ok(a, "ping");
		cJSON_Delete(a);
	}
	/* A line over the 64 KiB cap: one error, the rest of the line discarded, the connection usable. */
	size_t big = 70 * 1024;
	char *line = malloc(big + 1);
	assert_non_null(line);
	memset(line, 'x', big);
	line[big] = '\0';
	cJSON *a = ask(fd, line);
	expect_error(a, "longer than 65536 bytes");
	cJSON_Delete(a);
	a = ask(fd, "{\"cmd\":\"ping\"}");
	expect_ok(a, "ping");
	cJSON_Delete(a);
	free(line);
	/* Blank lines are not requests; a CRLF line is one. */
	send_all(fd, "\n   \n", 5);
	a = ask(fd, "{\"cmd\":\"ping\"}\r");
	expect_ok(a, "ping");
	cJSON_Delete(a);
	/* The errors were counted. */
	a = ask(fd, "{\"cmd\":\"status\"}");
	assert_true(get_num(a, "result.stages.control.errors.value") == 11);
	cJSON_Delete(a);
	close(fd);
}

struct many_arg {
	const char *path;
	int fd;
	int ok;
};

static void *many_client(void *arg)
{
	struct many_arg *m = arg;
	for (int i = 0; i < 10; i++) {
		const char *req = i % 2 ? "{\"cmd\":\"status\"}\n" : "{\"cmd\":\"ping\"}\n";
		if (send(m->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			return NULL;
		char *ans = read_line(m->fd);
		if (!ans)
			return NULL;
		cJSON *j = cJSON_Parse(ans);
		free(ans);
		if (j && cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")))
			m->ok++;
		cJSON_Delete(j);
	}
	return NULL;
}

static void test_twenty_clients(void **state)
{
	struct env *e = *state;
	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	enum { N = 20 };
	struct many_arg m[N];
	pthread_t t[N];
	/* All connected before any speaks: 20 connections open at once. */
	for (int i = 0; i < N; i++) {
		m[i] = (struct many_arg){.path = e->path, .fd = client_connect(e->path), .ok = 0};
		assert_true(m[i].fd >= 0);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, many_client, &m[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++)
		assert_int_equal(m[i].ok, 10);
	int fd = client_connect(e->path);
	cJSON *a = ask(fd, "{\"cmd\":\"status\"}");
	assert_true(get_num(a, "result.stages.control.clients.value") == N + 1);
	assert_true(get_num(a, "result.stages.control.accepted.value") == N + 1);
	assert_true(get_num(a, "result.stages.control.requests.value") == N * 10 + 1);
	cJSON_Delete(a);
	close(fd);
	for (int i = 0; i < N; i++)
		close(m[i].fd);
}

static void test_client_limit(void **state)
{
	struct env *e = *state;
	struct rt_control_conf c;
	conf_for(e, &c);
	c.max_clients = 4;
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	start(e);
	int fds[4];
	for (int i = 0; i < 4; i++) {
		fds[i] = client_connect(e->path);
		assert_true(fds[i] >= 0);
		cJSON *a = ask(fds[i], "{\"cmd\":\"ping\"}"); /* each is accepted before the next connects */
		expect_ok(a, "ping");
		cJSON_Delete(a);
	}
	/* The fifth gets one error line, then end of stream. */
	int extra = client_connect(e->path);
	assert_true(extra >= 0);
	char *line = read_line(extra);
	assert_non_null(line);
	cJSON *j = cJSON_Parse(line);
	free(line);
	expect_error(j, "too many clients (at most 4)");
	cJSON_Delete(j);
	assert_null(read_line(extra));
	close(extra);
	/* A freed slot is usable again (once the loop has seen the close: a refused try is retried). */
	close(fds[0]);
	int64_t deadline = test_now_ms() + WAIT_MS;
	for (;;) {
		assert_true(test_now_ms() < deadline);
		int fd = client_connect(e->path);
		assert_true(fd >= 0);
		cJSON *a = ask(fd, "{\"cmd\":\"ping\"}");
		int ok = cJSON_IsTrue(get(a, "ok"));
		cJSON_Delete(a);
		fds[0] = fd;
		if (ok)
			break;
		close(fd);
		test_sleep_ms(10);
	}
	/* Ask on a live connection for the counters. */
	cJSON *a = ask(fds[1], "{\"cmd\":\"status\"}");
	assert_true(get_num(a, "result.stages.control.refused.value") >= 1);
	assert_true(get_num(a, "result.stages.control.clients.value") == 4);
	cJSON_Delete(a);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

static void test_stuck_client_dropped(void **state)
{
	struct env *e = *state;
	struct rt_control_conf c;
	conf_for(e, &c);
	c.out_max = 16 * 1024;
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	start(e);
	int good = client_connect(e->path);
	int stuck = client_connect(e->path);
	assert_true(good >= 0 && stuck >= 0);
	assert_int_equal(fcntl(stuck, F_SETFL, O_NONBLOCK), 0);

	/* The stuck client sends status requests and never reads; the good one keeps being served meanwhile. */
	static const char req[] = "{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n{\"cmd\":\"status\"}\n";
	int64_t deadline = test_now_ms() + WAIT_MS;
	int served = 0, gone = 0;
	while (!gone) {
		assert_true(test_now_ms() < deadline);
		for (int i = 0; i < 50 && !gone; i++) {
			ssize_t n = send(stuck, req, sizeof(req) - 1, MSG_NOSIGNAL);
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
				gone = 1;
			else if (n < 0 && errno != EAGAIN)
				fail_msg("send: %s", strerror(errno));
		}
		cJSON *a = ask(good, "{\"cmd\":\"status\"}");
		expect_ok(a, "status");
		if (get_num(a, "result.stages.control.dropped_slow.value") == 1)
			gone = 1;
		cJSON_Delete(a);
		served++;
	}
	assert_true(served >= 1);
	cJSON *a = ask(good, "{\"cmd\":\"status\"}");
	assert_true(get_num(a, "result.stages.control.dropped_slow.value") == 1);
	assert_true(get_num(a, "result.stages.control.clients.value") == 1);
	cJSON_Delete(a);
	close(stuck);
	close(good);
}

static void test_socket_mode_and_removal(void **state)
{
	struct env *e = *state;
	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	struct stat st;
	assert_int_equal(lstat(e->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(stop(e), -ECANCELED);
	assert_int_equal(lstat(e->path, &st), -1); /* fini removed its socket file */
	assert_int_equal(errno, ENOENT);

	/* Another mode is applied as configured, whatever the umask. */
	struct rt_control_conf c;
	conf_for(e, &c);
	c.socket_mode = 0600;
	mode_t old = umask(0);
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	umask(old);
	assert_int_equal(lstat(e->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	rt_control_fini(&e->ctl);
}

static void test_stale_socket_removed(void **state)
{
	struct env *e = *state;
	/* A crashed daemon's socket: bound, then closed without unlinking, so nothing listens. */
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(e->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, e->path, strlen(e->path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct stat st;
	assert_int_equal(lstat(e->path, &st), 0);
	assert_int_equal(client_connect(e->path), -ECONNREFUSED);

	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	int c = client_connect(e->path);
	assert_true(c >= 0);
	cJSON *a = ask(c, "{\"cmd\":\"ping\"}");
	expect_ok(a, "ping");
	cJSON_Delete(a);
	close(c);
}

static void test_second_instance_refused(void **state)
{
	struct env *e = *state;
	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	struct rt_control second;
	struct rt_control_conf c;
	conf_for(e, &c);
	c.registry = NULL;
	assert_int_equal(rt_control_init(&second, &c), -EADDRINUSE);
	/* The first one's socket is untouched and still answers. */
	int fd = client_connect(e->path);
	assert_true(fd >= 0);
	cJSON *a = ask(fd, "{\"cmd\":\"ping\"}");
	expect_ok(a, "ping");
	cJSON_Delete(a);
	close(fd);
}

static void test_non_socket_path_kept(void **state)
{
	struct env *e = *state;
	FILE *f = fopen(e->path, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	struct rt_control ctl;
	struct rt_control_conf c;
	conf_for(e, &c);
	size_t before = rt_registry_count(&e->reg);
	assert_int_equal(rt_control_init(&ctl, &c), -EEXIST);
	assert_int_equal(rt_registry_count(&e->reg), before); /* a failed init leaves the registry as it was */
	size_t len = 0;
	char *text = test_read_file(e->path, &len);
	assert_non_null(text);
	assert_string_equal(text, "precious\n");
	free(text);
	/* A path too long for sockaddr_un. */
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	c.socket_path = longp;
	assert_int_equal(rt_control_init(&ctl, &c), -ENAMETOOLONG);
}

static void tick(void *ctx, uint64_t now_ns)
{
	struct env *e = ctx;
	atomic_fetch_add(&e->timer_calls, 1);
}

static void on_signal(void *ctx, int signo)
{
	struct env *e = ctx;
	atomic_store(&e->hook_signal, signo);
}

static void test_timers_and_run_once(void **state)
{
	struct env *e = *state;
	struct rt_control_conf c;
	conf_for(e, &c);
	c.socket_path = NULL; /* no socket: timers and the stop hook only */
	c.status_period_ns = 20 * RT_NS_PER_MS;
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	assert_int_equal(rt_control_add_timer(&e->ctl, "tick", 0, tick, e), -EINVAL);
	assert_int_equal(rt_control_add_timer(&e->ctl, "tick", 5 * RT_NS_PER_MS, tick, e), 0);
	assert_int_equal(rt_control_add_command(&e->ctl, "ping", "dup", cmd_echo, NULL), -EEXIST);
	assert_int_equal(rt_control_add_command(&e->ctl, "bad name", "x", cmd_echo, NULL), -EINVAL);
	int64_t deadline = test_now_ms() + WAIT_MS;
	while (atomic_load(&e->timer_calls) < 3) {
		assert_true(test_now_ms() < deadline);
		assert_int_equal(rt_control_run_once(&e->ctl, 100), 0);
	}
	rt_control_stop(&e->ctl);
	assert_int_equal(rt_control_run_once(&e->ctl, 1000), -ECANCELED);
	rt_control_fini(&e->ctl);
}

static void test_signals(void **state)
{
	struct env *e = *state;
	struct rt_control_conf c;
	conf_for(e, &c);
	c.signals = true;
	/* Blocks the signals in this thread; the loop's thread inherits the mask, and a process-directed signal
	 * waits in the signalfd. */
	assert_int_equal(rt_control_init(&e->ctl, &c), 0);
	rt_control_set_signal_hook(&e->ctl, on_signal, e);
	start(e);
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	int64_t deadline = test_now_ms() + WAIT_MS;
	while (atomic_load(&e->hook_signal) != SIGHUP) {
		assert_true(test_now_ms() < deadline);
		test_sleep_ms(5);
	}
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	pthread_join(e->thread, NULL);
	e->running = 0;
	assert_int_equal(e->run_rc, SIGTERM);
	rt_control_fini(&e->ctl);
}

static void test_half_close(void **state)
{
	struct env *e = *state;
	int echo_ctx = 0;
	start_default(e, &echo_ctx);
	int fd = client_connect(e->path);
	assert_true(fd >= 0);
	/* Two requests, the last without its newline, then the write side closed (like `printf ... | socat`). */
	send_all(fd, "{\"cmd\":\"ping\"}\n{\"cmd\":\"status\"}", strlen("{\"cmd\":\"ping\"}\n{\"cmd\":\"status\"}"));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	char *l1 = read_line(fd), *l2 = read_line(fd);
	assert_non_null(l1);
	assert_non_null(l2);
	cJSON *a1 = cJSON_Parse(l1), *a2 = cJSON_Parse(l2);
	expect_ok(a1, "ping");
	expect_ok(a2, "status");
	cJSON_Delete(a1);
	cJSON_Delete(a2);
	free(l1);
	free(l2);
	assert_null(read_line(fd)); /* then the daemon closes */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_twenty_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_client_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode_and_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_instance_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_socket_path_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_and_run_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

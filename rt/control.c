/*
 * control.c - the control thread's loop: signals, timers, status line, and the JSON-lines control socket
 * (see control.h).
 *
 * One poll(2) per iteration over: the stop eventfd, the signalfd, the listening socket and every client slot (a free
 * slot has fd -1, which poll ignores), so slot i is always pfds[CONTROL_FIXED_FDS + i].  A client is read one chunk
 * per iteration (fairness: a flooding client cannot starve the others), every complete line is answered into its
 * output buffer, and the buffer is written as far as the socket takes it; the rest waits for POLLOUT.  Nothing here
 * blocks: the sockets are non-blocking and an answer that would push a client's unsent output past out_max
 * disconnects that client instead.
 */
#include "rt/control.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/shutdown.h"

#define CONTROL_FIXED_FDS 3 /* stop eventfd, signalfd, listening socket */
#define CONTROL_READ_CHUNK 16384
#define CONTROL_ACCEPT_BURST 16
#define CONTROL_ERR_MAX 256
#define CONTROL_LOG_LINE 900 /* rt_log cuts lines at 1023 bytes: longer status lines are split at group bounds */

struct rt_control_client {
	int fd;             /* -1: free slot */
	char *in;           /* the request line being received */
	size_t in_len, in_cap;
	bool skipping;      /* discarding the rest of an overlong line */
	bool eof;           /* the peer half-closed: close once the output is sent */
	char *out;          /* unsent answers: out[out_off .. out_len) */
	size_t out_off, out_len, out_cap;
};

void rt_control_conf_init(struct rt_control_conf *conf, const char *program)
{
	memset(conf, 0, sizeof(*conf));
	conf->program = program;
	conf->socket_mode = 0660;
	conf->rate_period_ns = RT_NS_PER_SEC;
	conf->max_clients = 64;
	conf->max_line = 64 * 1024;
	conf->out_max = 1024 * 1024;
	conf->signals = true;
}

/* ---- clients ---- */

static void control__client_close(struct rt_control *ctl, struct rt_control_client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	ctl->n_clients--;
}

/* Writes as much pending output as the socket takes.  Returns 0, or -errno when the client is gone. */
static int control__client_flush(struct rt_control_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return 0;
}

/*
 * Queues text + '\n' for the client.  Returns 0, -ENOBUFS when the unsent output would exceed out_max (the caller
 * disconnects the client), or -ENOMEM.
 */
static int control__client_queue(struct rt_control *ctl, struct rt_control_client *c, const char *text, size_t len)
{
	size_t pending = c->out_len - c->out_off;
	if (pending + len + 1 > ctl->conf.out_max)
		return -ENOBUFS;
	if (c->out_off > 0 && c->out_len + len + 1 > c->out_cap) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len + 1)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

/* ---- requests ---- */

static const struct rt_control_command *control__find(const struct rt_control *ctl, const char *name)
{
	for (unsigned i = 0; i < ctl->n_commands; i++)
		if (strcmp(ctl->commands[i].name, name) == 0)
			return &ctl->commands[i];
	return NULL;
}

/*
 * Answers one request line into an answer object.  Never fails to produce an answer unless out of memory (NULL).
 */
static cJSON *control__answer(struct rt_control *ctl, const char *line, size_t len)
{
	char err[CONTROL_ERR_MAX] = "";
	cJSON *req = NULL, *ans = cJSON_CreateObject(), *result = NULL;
	const char *cmd = NULL;
	const char *end = NULL;

	if (!ans)
		return NULL;
	rt_count(&ctl->requests, 1);
	req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!req) {
		snprintf(err, sizeof(err), "request is not JSON (syntax error at byte %zu)",
			 end && end >= line ? (size_t)(end - line) : (size_t)0);
		goto error;
	}
	while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
		end++;
	if (end && end < line + len) {
		snprintf(err, sizeof(err), "request has characters after the JSON value (at byte %zu)",
			 (size_t)(end - line));
		goto error;
	}
	if (!cJSON_IsObject(req)) {
		snprintf(err, sizeof(err), "request is not a JSON object");
		goto error;
	}
	cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	if (id) {
		cJSON *dup = cJSON_Duplicate(id, 1);
		if (!dup)
			goto nomem;
		cJSON_AddItemToObject(ans, "id", dup);
	}
	const cJSON *jcmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	if (!cJSON_IsString(jcmd) || !jcmd->valuestring[0]) {
		snprintf(err, sizeof(err), "request has no \"cmd\" string");
		goto error;
	}
	cmd = jcmd->valuestring;
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(req, "args");
	if (args && !cJSON_IsObject(args)) {
		snprintf(err, sizeof(err), "\"args\" must be an object");
		goto error;
	}
	const struct rt_control_command *c = control__find(ctl, cmd);
	if (!c) {
		snprintf(err, sizeof(err), "unknown command \"%.64s\" (\"help\" lists the commands)", cmd);
		goto error;
	}
	result = cJSON_CreateObject();
	if (!result)
		goto nomem;
	int rc = c->fn(c->ctx, args, result, err, sizeof(err));
	if (rc < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-rc));
		goto error;
	}
	if (!cJSON_AddTrueToObject(ans, "ok") || !cJSON_AddStringToObject(ans, "cmd", cmd))
		goto nomem;
	cJSON_AddItemToObject(ans, "result", result);
	cJSON_Delete(req);
	return ans;

nomem:
	snprintf(err, sizeof(err), "out of memory");
error:
	rt_count(&ctl->errors, 1);
	cJSON_Delete(result);
	/* The answer may already hold "id"; ok, cmd and error follow it. */
	if (!cJSON_AddFalseToObject(ans, "ok") || (cmd && !cJSON_AddStringToObject(ans, "cmd", cmd)) ||
	    !cJSON_AddStringToObject(ans, "error", err)) {
		cJSON_Delete(ans);
		ans = NULL;
	}
	cJSON_Delete(req);
	return ans;
}

char *rt_control_answer(struct rt_control *ctl, const char *line, size_t len)
{
	cJSON *ans = control__answer(ctl, line, len);
	char *text = ans ? cJSON_PrintUnformatted(ans) : NULL;
	cJSON_Delete(ans);
	return text;
}

/* Answers one line.  Returns 0, or a negative errno when the client must be disconnected. */
static int control__request(struct rt_control *ctl, struct rt_control_client *c, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t skip = 0;
	while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
		skip++;
	if (skip == len)
		return 0; /* an empty line is not a request */
	char *text = rt_control_answer(ctl, line + skip, len - skip);
	if (!text)
		return -ENOMEM;
	int rc = control__client_queue(ctl, c, text, strlen(text));
	cJSON_free(text);
	return rc;
}

/* Queues a ready-made error answer (used where no request could be parsed). */
static int control__error_line(struct rt_control *ctl, struct rt_control_client *c, const char *msg)
{
	cJSON *ans = cJSON_CreateObject();
	char *text = NULL;
	rt_count(&ctl->requests, 1);
	rt_count(&ctl->errors, 1);
	if (ans && cJSON_AddFalseToObject(ans, "ok") && cJSON_AddStringToObject(ans, "error", msg))
		text = cJSON_PrintUnformatted(ans);
	cJSON_Delete(ans);
	if (!text)
		return -ENOMEM;
	int rc = control__client_queue(ctl, c, text, strlen(text));
	cJSON_free(text);
	return rc;
}

/* Splits received bytes into lines and answers them.  Returns 0, or a negative errno to disconnect the client. */
static int control__client_input(struct rt_control *ctl, struct rt_control_client *c, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		size_t used = nl ? seg + 1 : seg;
		if (c->skipping) {
			if (nl)
				c->skipping = false;
		} else if (c->in_len + seg > ctl->conf.max_line) {
			char msg[96];
			snprintf(msg, sizeof(msg), "request line longer than %zu bytes", ctl->conf.max_line);
			c->in_len = 0;
			c->skipping = nl == NULL;
			int rc = control__error_line(ctl, c, msg);
			if (rc < 0)
				return rc;
		} else {
			if (c->in_len + seg > c->in_cap) {
				size_t cap = c->in_cap ? c->in_cap : 1024;
				while (cap < c->in_len + seg)
					cap *= 2;
				char *q = realloc(c->in, cap);
				if (!q)
					return -ENOMEM;
				c->in = q;
				c->in_cap = cap;
			}
			memcpy(c->in + c->in_len, p, seg);
			c->in_len += seg;
			if (nl) {
				size_t len = c->in_len;
				c->in_len = 0;
				int rc = control__request(ctl, c, c->in, len);
				if (rc < 0)
					return rc;
			}
		}
		p += used;
		n -= used;
	}
	return 0;
}

static void control__client_drop(struct rt_control *ctl, struct rt_control_client *c, int why)
{
	if (why == -ENOBUFS) {
		rt_count(&ctl->dropped_slow, 1);
		rt_warn("control: a client that does not read its answers was disconnected (%zu bytes unsent)",
			c->out_len - c->out_off);
	} else if (why != 0 && why != -ECONNRESET && why != -EPIPE) {
		rt_warn("control: client disconnected: %s", strerror(-why));
	}
	control__client_close(ctl, c);
}

/* Serves one client's poll events. */
static void control__client_event(struct rt_control *ctl, struct rt_control_client *c, short revents)
{
	int rc = 0;
	if (revents & POLLNVAL) {
		control__client_close(ctl, c);
		return;
	}
	if (!c->eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = recv(c->fd, ctl->rbuf, CONTROL_READ_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			rc = control__client_input(ctl, c, (const char *)ctl->rbuf, (size_t)n);
		} else if (n == 0) {
			c->eof = true;
			/* A last line without its newline is still a request. */
			if (c->in_len > 0 && !c->skipping) {
				size_t len = c->in_len;
				c->in_len = 0;
				rc = control__request(ctl, c, c->in, len);
			}
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			rc = -errno;
		}
	}
	if (rc == 0)
		rc = control__client_flush(c);
	if (rc < 0 || (c->eof && c->out_len == c->out_off))
		control__client_drop(ctl, c, rc);
}

static void control__accept(struct rt_control *ctl)
{
	for (int i = 0; i < CONTROL_ACCEPT_BURST; i++) {
		int fd = accept4(ctl->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				rt_warn("control: accept: %s", strerror(errno));
			return;
		}
		if (ctl->n_clients >= ctl->conf.max_clients) {
			char line[128];
			int len = snprintf(line, sizeof(line),
					   "{\"ok\":false,\"error\":\"too many clients (at most %u)\"}\n",
					   ctl->conf.max_clients);
			(void)!send(fd, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			rt_count(&ctl->refused, 1);
			continue;
		}
		for (unsigned s = 0; s < ctl->conf.max_clients; s++) {
			if (ctl->clients[s].fd < 0) {
				ctl->clients[s].fd = fd;
				ctl->n_clients++;
				break;
			}
		}
		rt_count(&ctl->accepted, 1);
	}
}

/* ---- built-in commands ---- */

static int control__identity(struct rt_control *ctl, cJSON *result)
{
	double up = (double)(rt_mono_ns() - ctl->start_ns) / 1e9;
	if (!cJSON_AddStringToObject(result, "program", ctl->conf.program ? ctl->conf.program : "") ||
	    !cJSON_AddNumberToObject(result, "pid", (double)getpid()) || !cJSON_AddNumberToObject(result, "uptime_s", up))
		return -ENOMEM;
	return 0;
}

static int control__cmd_ping(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	return control__identity(ctx, result);
}

/* The program's identity, then the registry's metrics of kinds under key. */
static int control__registry_answer(struct rt_control *ctl, cJSON *result, const char *key, unsigned kinds)
{
	int rc = control__identity(ctl, result);
	if (rc < 0)
		return rc;
	cJSON *obj = cJSON_AddObjectToObject(result, key);
	if (!obj)
		return -ENOMEM;
	return rt_registry_json(ctl->reg, obj, kinds);
}

static int control__cmd_status(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	return control__registry_answer(ctx, result, "stages", RT_METRICS_STATUS);
}

static int control__cmd_stats(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	return control__registry_answer(ctx, result, "histograms", RT_METRICS_STATS);
}

static int control__cmd_help(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz)
{
	struct rt_control *ctl = ctx;
	cJSON *list = cJSON_AddArrayToObject(result, "commands");
	if (!list)
		return -ENOMEM;
	for (unsigned i = 0; i < ctl->n_commands; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			return -ENOMEM;
		cJSON_AddItemToArray(list, o);
		if (!cJSON_AddStringToObject(o, "name", ctl->commands[i].name) ||
		    !cJSON_AddStringToObject(o, "help", ctl->commands[i].help ? ctl->commands[i].help : ""))
			return -ENOMEM;
	}
	return 0;
}

static int64_t control__gauge_clients(void *ctx)
{
	const struct rt_control *ctl = ctx;
	return (int64_t)ctl->n_clients;
}

/* ---- timers and status ---- */

void rt_control_log_status(struct rt_control *ctl, const char *label)
{
	char line[8192];
	int n = rt_registry_format_status(ctl->reg, line, sizeof(line));
	unsigned long long up = (unsigned long long)((rt_mono_ns() - ctl->start_ns) / RT_NS_PER_SEC);
	const char *prog = ctl->conf.program ? ctl->conf.program : "";
	if (n < CONTROL_LOG_LINE) {
		rt_info("%s: up %llus%s%s", label, up, n > 0 ? "; " : "", line);
		return;
	}
	/* Too long for one log line: one line per group, each marked with the label. */
	rt_info("%s: up %llus (%s status in several lines)", label, up, prog);
	for (char *p = line; p && *p;) {
		char *next = strstr(p, "; ");
		if (next) {
			*next = '\0';
			next += 2;
		}
		rt_info("%s: %s", label, p);
		p = next;
	}
}

static void control__status_timer(void *ctx, uint64_t now_ns)
{
	rt_control_log_status(ctx, "status");
}

static void control__rate_timer(void *ctx, uint64_t now_ns)
{
	struct rt_control *ctl = ctx;
	rt_registry_sample(ctl->reg, now_ns);
}

static void control__run_timers(struct rt_control *ctl)
{
	uint64_t now = rt_mono_ns();
	for (unsigned i = 0; i < ctl->n_timers; i++) {
		struct rt_control_timer *t = &ctl->timers[i];
		if (now < t->next_ns)
			continue;
		t->next_ns += t->period_ns;
		if (t->next_ns <= now) /* late by more than a period: skip the missed ones */
			t->next_ns = now + t->period_ns;
		t->fn(t->ctx, now);
	}
}

/* Milliseconds to the next timer (rounded up), or -1 without timers. */
static int control__timer_wait_ms(const struct rt_control *ctl)
{
	if (ctl->n_timers == 0)
		return -1;
	uint64_t now = rt_mono_ns(), next = UINT64_MAX;
	for (unsigned i = 0; i < ctl->n_timers; i++)
		if (ctl->timers[i].next_ns < next)
			next = ctl->timers[i].next_ns;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + RT_NS_PER_MS - 1) / RT_NS_PER_MS;
	return ms > 60000 ? 60000 : (int)ms;
}

/* ---- the socket ---- */

/*
 * The path exists: decides whether it is a stale socket of a crashed run.  Returns 0 after removing a stale socket
 * (or when the path vanished), -EADDRINUSE when something accepts connections on it, -EEXIST for a non-socket.
 */
static int control__probe_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(fd);
	if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
		return -EADDRINUSE; /* accepted, or a listener whose backlog is full: alive either way */
	if (err != ECONNREFUSED)
		return -err;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	rt_info("control: removed the stale socket %s (nothing listened on it)", path);
	return 0;
}

static int control__listen(struct rt_control *ctl)
{
	const char *path = ctl->conf.socket_path;
	struct sockaddr_un sa;
	struct stat st;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rt_err("control socket path too long (at most %zu bytes): %s", sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		rt_err("control socket: %s", strerror(-rc));
		return rc;
	}
	for (int attempt = 0;; attempt++) {
		if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		rc = -errno;
		if (rc != -EADDRINUSE || attempt == 2)
			goto bind_failed;
		rc = control__probe_stale(path, &sa);
		if (rc < 0)
			goto bind_failed;
	}
	/* Before listen(): until then a connect is refused, so no one connects under the umask's mode. */
	if (chmod(path, ctl->conf.socket_mode & 07777) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		rt_err("control socket %s: chmod: %s", path, strerror(-rc));
		goto unlink_path;
	}
	if (listen(fd, 64) < 0) {
		rc = -errno;
		rt_err("control socket %s: listen: %s", path, strerror(-rc));
		goto unlink_path;
	}
	ctl->sock_dev = st.st_dev;
	ctl->sock_ino = st.st_ino;
	ctl->lfd = fd;
	return 0;

unlink_path:
	unlink(path);
	close(fd);
	return rc;
bind_failed:
	if (rc == -EADDRINUSE)
		rt_err("control socket %s: another process is listening on it (is the daemon already running?)", path);
	else if (rc == -EEXIST)
		rt_err("control socket %s: the path exists and is not a socket; not removing it", path);
	else
		rt_err("control socket %s: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

/* ---- public ---- */

static bool control__name_ok(const char *name)
{
	if (!name || !*name || strlen(name) >= RT_CONTROL_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

int rt_control_add_command(struct rt_control *ctl, const char *name, const char *help, rt_control_cmd_fn fn,
			   void *ctx)
{
	if (!control__name_ok(name) || !fn)
		return -EINVAL;
	if (control__find(ctl, name))
		return -EEXIST;
	if (ctl->n_commands == RT_CONTROL_COMMANDS_MAX)
		return -ENOSPC;
	struct rt_control_command *c = &ctl->commands[ctl->n_commands++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->help = help;
	c->fn = fn;
	c->ctx = ctx;
	return 0;
}

int rt_control_add_timer(struct rt_control *ctl, const char *name, uint64_t period_ns, rt_control_timer_fn fn,
			 void *ctx)
{
	if (period_ns == 0 || !fn)
		return -EINVAL;
	if (ctl->n_timers == RT_CONTROL_TIMERS_MAX)
		return -ENOSPC;
	struct rt_control_timer *t = &ctl->timers[ctl->n_timers++];
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
	t->period_ns = period_ns;
	t->next_ns = rt_mono_ns() + period_ns;
	t->fn = fn;
	t->ctx = ctx;
	return 0;
}

void rt_control_set_signal_hook(struct rt_control *ctl, rt_control_signal_fn fn, void *ctx)
{
	ctl->on_signal = fn;
	ctl->on_signal_ctx = ctx;
}

int rt_control_init(struct rt_control *ctl, const struct rt_control_conf *conf)
{
	int rc = -ENOMEM;
	size_t reg_n = 0;

	memset(ctl, 0, sizeof(*ctl));
	ctl->conf = *conf;
	ctl->sfd = ctl->stopfd = ctl->lfd = -1;
	if (ctl->conf.max_clients == 0 || ctl->conf.max_line == 0 || ctl->conf.out_max == 0 ||
	    ctl->conf.rate_period_ns == 0) {
		rt_err("control: max_clients, max_line, out_max and rate_period_ns must be positive");
		return -EINVAL;
	}
	rt_registry_init(&ctl->own_registry);
	ctl->reg = conf->registry ? conf->registry : &ctl->own_registry;
	reg_n = ctl->reg->n;
	ctl->start_ns = rt_mono_ns();
	atomic_init(&ctl->accepted, 0);
	atomic_init(&ctl->refused, 0);
	atomic_init(&ctl->dropped_slow, 0);
	atomic_init(&ctl->requests, 0);
	atomic_init(&ctl->errors, 0);

	ctl->clients = calloc(ctl->conf.max_clients, sizeof(*ctl->clients));
	ctl->pfds = calloc(ctl->conf.max_clients + CONTROL_FIXED_FDS, sizeof(*ctl->pfds));
	ctl->rbuf = malloc(CONTROL_READ_CHUNK);
	if (!ctl->clients || !ctl->pfds || !ctl->rbuf) {
		rt_err("control: out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < ctl->conf.max_clients; i++)
		ctl->clients[i].fd = -1;
	ctl->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctl->stopfd < 0) {
		rc = -errno;
		rt_err("control: eventfd: %s", strerror(-rc));
		goto fail;
	}
	if (ctl->conf.signals) {
		ctl->sfd = rt_signals_block();
		if (ctl->sfd < 0) {
			rc = ctl->sfd;
			rt_err("control: signalfd: %s", strerror(-rc));
			goto fail;
		}
	}
	if ((rc = rt_control_add_command(ctl, "ping", "is the daemon alive: program, pid, uptime",
					 control__cmd_ping, ctl)) < 0 ||
	    (rc = rt_control_add_command(ctl, "status", "uptime, per-stage counters and rates, drops, rings, links",
					 control__cmd_status, ctl)) < 0 ||
	    (rc = rt_control_add_command(ctl, "stats", "every histogram: count, min, p50, p90, p99, p99.9, max",
					 control__cmd_stats, ctl)) < 0 ||
	    (rc = rt_control_add_command(ctl, "help", "the commands this daemon answers", control__cmd_help, ctl)) < 0)
		goto fail;
	if ((rc = rt_control_add_timer(ctl, "rates", ctl->conf.rate_period_ns, control__rate_timer, ctl)) < 0 ||
	    (ctl->conf.status_period_ns &&
	     (rc = rt_control_add_timer(ctl, "status", ctl->conf.status_period_ns, control__status_timer, ctl)) < 0))
		goto fail;
	if ((rc = rt_registry_add_counter(ctl->reg, "control", "requests", &ctl->requests)) < 0 ||
	    (rc = rt_registry_add_counter(ctl->reg, "control", "errors", &ctl->errors)) < 0 ||
	    (rc = rt_registry_add_counter(ctl->reg, "control", "accepted", &ctl->accepted)) < 0 ||
	    (rc = rt_registry_add_counter(ctl->reg, "control", "refused", &ctl->refused)) < 0 ||
	    (rc = rt_registry_add_counter(ctl->reg, "control", "dropped_slow", &ctl->dropped_slow)) < 0 ||
	    (rc = rt_registry_add_gauge_int(ctl->reg, "control", "clients", NULL, control__gauge_clients, ctl)) < 0) {
		rt_err("control: cannot register its counters: %s", strerror(-rc));
		goto fail;
	}
	if (ctl->conf.socket_path && ctl->conf.socket_path[0] && (rc = control__listen(ctl)) < 0)
		goto fail;
	rt_registry_sample(ctl->reg, rt_mono_ns());
	return 0;

fail:
	if (ctl->reg)
		ctl->reg->n = reg_n; /* forget what this init registered: the pointers lead into ctl */
	if (ctl->sfd >= 0)
		close(ctl->sfd);
	if (ctl->stopfd >= 0)
		close(ctl->stopfd);
	free(ctl->clients);
	free(ctl->pfds);
	free(ctl->rbuf);
	rt_registry_fini(&ctl->own_registry);
	memset(ctl, 0, sizeof(*ctl));
	ctl->sfd = ctl->stopfd = ctl->lfd = -1;
	return rc;
}

int rt_control_run_once(struct rt_control *ctl, int timeout_ms)
{
	int wait_ms = control__timer_wait_ms(ctl);
	if (timeout_ms >= 0 && (wait_ms < 0 || timeout_ms < wait_ms))
		wait_ms = timeout_ms;

	struct pollfd *pfds = ctl->pfds;
	pfds[0] = (struct pollfd){.fd = ctl->stopfd, .events = POLLIN};
	pfds[1] = (struct pollfd){.fd = ctl->sfd, .events = POLLIN};
	pfds[2] = (struct pollfd){.fd = ctl->lfd, .events = POLLIN};
	for (unsigned i = 0; i < ctl->conf.max_clients; i++) {
		struct rt_control_client *c = &ctl->clients[i];
		short ev = 0;
		if (c->fd >= 0) {
			ev = c->eof ? 0 : POLLIN;
			if (c->out_len > c->out_off)
				ev |= POLLOUT;
		}
		pfds[CONTROL_FIXED_FDS + i] = (struct pollfd){.fd = c->fd, .events = ev};
	}
	int n = poll(pfds, CONTROL_FIXED_FDS + ctl->conf.max_clients, wait_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	int stop = 0;
	if (pfds[0].revents & POLLIN) {
		uint64_t v;
		(void)!read(ctl->stopfd, &v, sizeof(v));
		stop = -ECANCELED;
	}
	if (pfds[1].revents & POLLIN) {
		int sig;
		while ((sig = rt_signals_read(ctl->sfd)) > 0) {
			if (sig == SIGINT || sig == SIGTERM) {
				stop = sig;
			} else if (ctl->on_signal) {
				ctl->on_signal(ctl->on_signal_ctx, sig);
			} else {
				rt_info("control: signal %d (%s) ignored", sig, strsignal(sig));
			}
		}
	}
	for (unsigned i = 0; i < ctl->conf.max_clients; i++) {
		struct rt_control_client *c = &ctl->clients[i];
		short rev = pfds[CONTROL_FIXED_FDS + i].revents;
		if (c->fd >= 0 && rev)
			control__client_event(ctl, c, rev);
	}
	/* After the clients: a slot freed above is ready for a waiting connection. */
	if (pfds[2].revents & POLLIN)
		control__accept(ctl);
	control__run_timers(ctl);
	return stop;
}

int rt_control_run(struct rt_control *ctl)
{
	for (;;) {
		int rc = rt_control_run_once(ctl, -1);
		if (rc != 0)
			return rc;
	}
}

void rt_control_stop(struct rt_control *ctl)
{
	uint64_t one = 1;
	(void)!write(ctl->stopfd, &one, sizeof(one));
}

void rt_control_fini(struct rt_control *ctl)
{
	if (ctl->reg)
		rt_registry_remove_group(ctl->reg, "control");
	if (ctl->clients)
		for (unsigned i = 0; i < ctl->conf.max_clients; i++)
			control__client_close(ctl, &ctl->clients[i]);
	if (ctl->lfd >= 0) {
		struct stat st;
		/* Remove the file only if it is still ours (not a successor's socket bound after a forced restart). */
		if (stat(ctl->conf.socket_path, &st) == 0 && st.st_dev == ctl->sock_dev && st.st_ino == ctl->sock_ino)
			unlink(ctl->conf.socket_path);
		close(ctl->lfd);
	}
	if (ctl->sfd >= 0)
		close(ctl->sfd);
	if (ctl->stopfd >= 0)
		close(ctl->stopfd);
	free(ctl->clients);
	free(ctl->pfds);
	free(ctl->rbuf);
	rt_registry_fini(&ctl->own_registry);
	memset(ctl, 0, sizeof(*ctl));
	ctl->sfd = ctl->stopfd = ctl->lfd = -1;
}

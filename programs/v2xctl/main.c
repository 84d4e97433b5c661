/*
 * v2xctl - talks to a running V2X-RT daemon (v2xd, later evcsd) over its control socket (rt/control.h): one JSON
 * request line, one JSON answer line.  Human tables by default, the raw result with --json, a live view with watch.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "programs/v2xctl/v2xctl.h"

static const char usage_text[] =
	"usage: v2xctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
	"\n"
	"Talks to a running daemon (v2xd) over its control socket.\n"
	"\n"
	"commands:\n"
	"  status                 uptime, per-stage records and rates, drops by reason, rings, links, disk\n"
	"  stats                  latency percentiles of every histogram (count, min, p50, p90, p99, p99.9, max)\n"
	"  state                  the vehicle state: each signal's value, unit and age; the GPS fix\n"
	"  config                 the daemon's effective configuration\n"
	"  ping                   is the daemon alive (program, pid, uptime)\n"
	"  help                   the commands this daemon answers\n"
	"  watch [--count N] [--interval S]\n"
	"                         status and stats refreshed every second, like top (q or Ctrl-C stops)\n"
	"  set-desired-soc N      sends {\"soc\":N}\n"
	"  set-max-cost X         sends {\"cost\":X}\n"
	"  CMD [KEY=VALUE ...]    any other command, with its arguments (numbers, true, false and null are sent as\n"
	"                         JSON values, anything else as a string)\n"
	"\n"
	"options:\n"
	"  --socket PATH          the daemon's socket (default: $V2X_SOCKET, else " V2XCTL_DEFAULT_SOCKET ")\n"
	"  --json                 print the answer's result as one JSON object (watch: one object per line)\n"
	"  --timeout SECONDS      wait at most this long for an answer (default 5)\n"
	"  --count N              watch: stop after N refreshes\n"
	"  --interval SECONDS     watch: time between refreshes (default 1)\n"
	"\n"
	"exit status: 0 ok, 1 the daemon answered with an error, 2 usage error, 3 cannot connect or no answer\n"
	"\n"
	"examples:\n"
	"  v2xctl status\n"
	"  v2xctl stats --json | jq '.histograms'\n"
	"  v2xctl --socket /tmp/v2xd.sock watch --count 3\n"
	"  v2xctl set-desired-soc 80\n";

/* Verbs taking one positional number: the argument's key. */
static const struct {
	const char *verb, *key;
} positional_verbs[] = {
	{"set-desired-soc", "soc"},
	{"set-max-cost", "cost"},
};

struct opts {
	const char *socket;
	bool json;
	int timeout_ms;
	long count;        /* watch: refreshes; 0 = until stopped */
	double interval_s; /* watch */
	const char *cmd;
	char **args; /* positional arguments after the command */
	int nargs;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "v2xctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(v2xctl --help shows the usage)\n");
	return V2XCTL_ERR_USAGE;
}

/* A strict number: what JSON would accept as one (no hex, inf or nan, which strtod takes). */
static bool parse_number(const char *s, double *out)
{
	if (!*s || strspn(s, "+-0123456789.eE") != strlen(s))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool parse_positive(const char *s, double *out)
{
	return parse_number(s, out) && *out > 0;
}

/* Builds the args object from KEY=VALUE words (or the positional verb's number).  Returns 0 or exit status 2. */
static int build_args(const struct opts *o, cJSON **out)
{
	*out = NULL;
	if (o->nargs == 0)
		return 0;
	cJSON *args = cJSON_CreateObject();
	if (!args) {
		fprintf(stderr, "v2xctl: out of memory\n");
		return V2XCTL_ERR_USAGE;
	}
	for (size_t i = 0; i < sizeof(positional_verbs) / sizeof(positional_verbs[0]); i++) {
		if (strcmp(o->cmd, positional_verbs[i].verb) != 0)
			continue;
		double v;
		if (o->nargs != 1 || strchr(o->args[0], '=')) {
			cJSON_Delete(args);
			return usage_error("%s takes exactly one number", o->cmd);
		}
		if (!parse_number(o->args[0], &v)) {
			cJSON_Delete(args);
			fprintf(stderr, "v2xctl: %s: not a number: %s\n", o->cmd, o->args[0]);
			return V2XCTL_ERR_USAGE;
		}
		cJSON_AddNumberToObject(args, positional_verbs[i].key, v);
		*out = args;
		return 0;
	}
	for (int i = 0; i < o->nargs; i++) {
		const char *eq = strchr(o->args[i], '=');
		if (!eq || eq == o->args[i]) {
			cJSON_Delete(args);
			return usage_error("arguments are KEY=VALUE, not \"%s\"", o->args[i]);
		}
		char key[128];
		size_t klen = (size_t)(eq - o->args[i]);
		if (klen >= sizeof(key)) {
			cJSON_Delete(args);
			return usage_error("argument name too long: %s", o->args[i]);
		}
		memcpy(key, o->args[i], klen);
		key[klen] = '\0';
		if (cJSON_GetObjectItemCaseSensitive(args, key)) {
			cJSON_Delete(args);
			return usage_error("argument given twice: %s", key);
		}
		const char *val = eq + 1;
		double v;
		cJSON *item;
		if (parse_number(val, &v))
			item = cJSON_CreateNumber(v);
		else if (strcmp(val, "true") == 0)
			item = cJSON_CreateTrue();
		else if (strcmp(val, "false") == 0)
			item = cJSON_CreateFalse();
		else if (strcmp(val, "null") == 0)
			item = cJSON_CreateNull();
		else
			item = cJSON_CreateString(val);
		if (!item) {
			cJSON_Delete(args);
			fprintf(stderr, "v2xctl: out of memory\n");
			return V2XCTL_ERR_USAGE;
		}
		cJSON_AddItemToObject(args, key, item);
	}
	*out = args;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = 5000;
	o->interval_s = 1.0;
	o->args = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->args)
		return V2XCTL_ERR_USAGE;
	bool opts_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!opts_done && strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (!opts_done && (strcmp(a, "--socket") == 0 || strcmp(a, "--timeout") == 0 ||
					  strcmp(a, "--count") == 0 || strcmp(a, "--interval") == 0)) {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", a);
			const char *v = argv[++i];
			double d;
			if (strcmp(a, "--socket") == 0) {
				if (!*v)
					return usage_error("%s", "--socket needs a path");
				o->socket = v;
			} else if (!parse_positive(v, &d)) {
				return usage_error("not a positive number: %s", v);
			} else if (strcmp(a, "--timeout") == 0) {
				o->timeout_ms = d * 1000 > 3600000 ? 3600000 : (int)ceil(d * 1000);
			} else if (strcmp(a, "--count") == 0) {
				if (d != floor(d))
					return usage_error("--count takes a whole number: %s", v);
				o->count = (long)d;
			} else {
				o->interval_s = d;
			}
		} else if (!opts_done && a[0] == '-' && a[1] == '-') {
			return usage_error("unknown option %s", a);
		} else if (!o->cmd) {
			o->cmd = a;
		} else {
			o->args[o->nargs++] = argv[i];
		}
	}
	if (!o->cmd)
		return usage_error("%s", "no command given");
	if (!o->socket) {
		const char *env = getenv("V2X_SOCKET");
		o->socket = env && *env ? env : V2XCTL_DEFAULT_SOCKET;
	}
	return 0;
}

static int connect_or_report(struct v2xctl_conn *c, const struct opts *o)
{
	int rc = v2xctl_connect(c, o->socket, o->timeout_ms);
	if (rc < 0) {
		fprintf(stderr, "v2xctl: cannot connect to %s: %s\n", o->socket, strerror(-rc));
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			fprintf(stderr, "v2xctl: is the daemon running? (another socket: --socket PATH or V2X_SOCKET)\n");
		else if (rc == -EACCES)
			fprintf(stderr, "v2xctl: the socket is mode 0660: run as its owner or a member of its group\n");
		return V2XCTL_ERR_CONNECT;
	}
	return 0;
}

/* Sends one request; on success *result points into *answer (delete the answer).  Returns an exit status. */
static int ask(struct v2xctl_conn *c, const char *cmd, const cJSON *args, cJSON **answer, const cJSON **result)
{
	char err[512];
	*answer = v2xctl_request(c, cmd, args, err, sizeof(err));
	*result = NULL;
	if (!*answer) {
		fprintf(stderr, "v2xctl: %s\n", err);
		return V2XCTL_ERR_CONNECT;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*answer, "ok"))) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(*answer, "error");
		fprintf(stderr, "v2xctl: %s: %s\n", cmd, cJSON_IsString(e) ? e->valuestring : "error (no message)");
		return V2XCTL_ERR_ANSWER;
	}
	*result = cJSON_GetObjectItemCaseSensitive(*answer, "result");
	return V2XCTL_OK;
}

static void print_json(const cJSON *result)
{
	char *text = result ? cJSON_PrintUnformatted(result) : NULL;
	puts(text ? text : "{}");
	cJSON_free(text);
}

static void render(const char *cmd, const cJSON *result)
{
	if (strcmp(cmd, "status") == 0)
		v2xctl_render_status(stdout, result);
	else if (strcmp(cmd, "stats") == 0)
		v2xctl_render_stats(stdout, result);
	else if (strcmp(cmd, "state") == 0)
		v2xctl_render_state(stdout, result);
	else if (strcmp(cmd, "config") == 0)
		v2xctl_render_config(stdout, result);
	else if (strcmp(cmd, "ping") == 0)
		v2xctl_render_ping(stdout, result);
	else if (strcmp(cmd, "help") == 0)
		v2xctl_render_help(stdout, result);
	else
		v2xctl_render_generic(stdout, result);
}

/* ---- watch ---- */

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* Waits interval_s, returning true when the user asked to stop (q, Ctrl-C, SIGTERM). */
static bool watch_wait(double interval_s, bool read_keys)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (stop_requested)
			return true;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double left = interval_s - ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
		if (left <= 0)
			return false;
		struct pollfd p = {.fd = read_keys ? STDIN_FILENO : -1, .events = POLLIN};
		int pr = poll(&p, 1, (int)ceil(left * 1000));
		if (pr > 0 && (p.revents & POLLIN)) {
			char ch;
			ssize_t n = read(STDIN_FILENO, &ch, 1);
			if (n == 1 && (ch == 'q' || ch == 'Q' || ch == 3 /* Ctrl-C in raw mode */))
				return true;
			if (n <= 0)
				read_keys = false; /* end of input: keep refreshing until count or a signal */
		}
	}
}

static int watch(const struct opts *o)
{
	struct v2xctl_conn c;
	int rc = connect_or_report(&c, o);
	if (rc)
		return rc;
	bool tty_out = isatty(STDOUT_FILENO) && !o->json;
	bool read_keys = isatty(STDIN_FILENO);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (read_keys && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keys without Enter; ISIG kept, so Ctrl-C is SIGINT */
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
		atexit(restore_tty);
	}
	for (long n = 0; !o->count || n < o->count; n++) {
		if (n > 0 && watch_wait(o->interval_s, read_keys))
			break;
		cJSON *sa_ans = NULL, *st_ans = NULL;
		const cJSON *status = NULL, *stats = NULL;
		rc = ask(&c, "status", NULL, &sa_ans, &status);
		if (rc == V2XCTL_OK)
			rc = ask(&c, "stats", NULL, &st_ans, &stats);
		if (rc != V2XCTL_OK) {
			cJSON_Delete(sa_ans);
			cJSON_Delete(st_ans);
			if (stop_requested)
				rc = V2XCTL_OK;
			break;
		}
		if (o->json) {
			print_json(status);
		} else {
			char when[32];
			time_t t = time(NULL);
			struct tm tm;
			strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
			if (tty_out)
				fputs("\033[H\033[2J", stdout); /* cursor home, clear screen */
			printf("--- v2xctl watch %s  %s%s\n", o->socket, when, tty_out ? "  (q to quit)" : "");
			v2xctl_render_status(stdout, status);
			fputc('\n', stdout);
			v2xctl_render_stats(stdout, stats);
			fputc('\n', stdout);
		}
		fflush(stdout);
		cJSON_Delete(sa_ans);
		cJSON_Delete(st_ans);
	}
	restore_tty();
	v2xctl_close(&c);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		goto out;
	if (strcmp(o.cmd, "watch") == 0) {
		rc = o.nargs ? usage_error("watch takes no arguments (got \"%s\")", o.args[0]) : watch(&o);
		goto out;
	}
	cJSON *args = NULL;
	if ((rc = build_args(&o, &args)))
		goto out;
	struct v2xctl_conn c;
	if ((rc = connect_or_report(&c, &o))) {
		cJSON_Delete(args);
		goto out;
	}
	cJSON *answer = NULL;
	const cJSON *result = NULL;
	rc = ask(&c, o.cmd, args, &answer, &result);
	if (rc == V2XCTL_OK) {
		if (o.json)
			print_json(result);
		else
			render(o.cmd, result);
	}
	cJSON_Delete(answer);
	cJSON_Delete(args);
	v2xctl_close(&c);
out:
	free(o.args);
	return rc;
}

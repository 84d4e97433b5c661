/*
 * control.h - the control thread's loop, shared by every program: stop signals, timers, the status line and a UNIX
 * control socket speaking one JSON object per line.
 *
 * The control thread is never a pipeline thread, and it never blocks: one poll(2) over the signalfd, a stop
 * eventfd, the listening socket and every client, with a timeout to the next timer.  Clients are non-blocking; each
 * has an input line buffer (at most max_line bytes) and an output buffer (at most out_max bytes).  A client whose
 * answers would overflow its output buffer (it sends requests and never reads) is disconnected and counted, so a
 * slow or stuck client costs memory up to out_max and nothing else.
 *
 * Protocol (newline-delimited JSON, parsed and built with cJSON):
 *   request  {"cmd":"status"}  or  {"cmd":"name","args":{...}}  (an optional "id" is echoed in the answer)
 *   answer   {"ok":true,"cmd":"status","result":{...}}  or  {"ok":false,"cmd":"name","error":"text"}
 * A malformed request (not JSON, not an object, no "cmd" string, "args" not an object, unknown command, a line over
 * max_line) gets an error answer and the connection stays usable.  A client beyond max_clients gets one error line
 * and is closed.  When a client half-closes, its last unterminated line is taken as a request.
 *
 * Built-in commands:
 *   ping    {"program":..,"pid":..,"uptime_s":..}
 *   status  {"program":..,"pid":..,"uptime_s":..,"stages":{<group>:{<metric>:{...}}}} (every non-histogram metric
 *           of the registry, see rt/registry.h for each type's fields; the control socket's own counters are the
 *           group "control")
 *   stats   {"uptime_s":..,"histograms":{<group>:{<name>:{"type":"histogram","count":..,"p50":..,...}}}}
 *   help    {"commands":[{"name":..,"help":..},...]}
 *
 * The socket is created with the configured mode (0660 by default: chmod happens between bind and listen, so no
 * client can connect while the umask's mode applies).  A socket file left by a crashed run is removed only when
 * nothing accepts a connection on it; if another process listens, init fails with -EADDRINUSE; a path that exists
 * and is not a socket is never removed (-EEXIST).  fini removes the socket file if it is still the one init made.
 *
 * Synchronization table:
 *   rt_control_init, _add_command, _add_timer, _set_signal_hook, _fini    the control thread (or before it runs);
 *                                                                  init and add_* allocate; init binds the socket
 *   rt_control_run, _run_once, _answer       the control thread only (the loop; handlers and timers run here)
 *   rt_control_stop                          any thread, any time between init and fini (async-signal-safe)
 * Handlers and timer callbacks run on the control thread: they may allocate and log, and must not block.
 */
#ifndef V2X_RT_CONTROL_H
#define V2X_RT_CONTROL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "rt/registry.h"

#define RT_CONTROL_COMMANDS_MAX 32
#define RT_CONTROL_TIMERS_MAX 16
#define RT_CONTROL_NAME_MAX 32

/*
 * A command handler: fills result (an empty object it owns) from args (the request's "args" object, or NULL when
 * absent).  Returns 0 (answer ok with result), or a negative errno with a message in err (errsz bytes; when left
 * empty, strerror is used).  Runs on the control thread.
 */
typedef int (*rt_control_cmd_fn)(void *ctx, const cJSON *args, cJSON *result, char *err, size_t errsz);

/* A periodic callback; now_ns is CLOCK_MONOTONIC.  Runs on the control thread. */
typedef void (*rt_control_timer_fn)(void *ctx, uint64_t now_ns);

/* Called for SIGHUP and SIGUSR1 (the stop signals SIGINT and SIGTERM end rt_control_run instead). */
typedef void (*rt_control_signal_fn)(void *ctx, int signo);

struct rt_control_conf {
	const char *program;       /* shown in answers and the status line ("v2xd"); kept, not copied */
	const char *socket_path;   /* NULL or "": no socket; kept, not copied */
	unsigned socket_mode;      /* permission bits of the socket file; default 0660 */
	uint64_t status_period_ns; /* the status line every so often; 0: none */
	uint64_t rate_period_ns;   /* the registry's rate sampling window; default 1 s */
	unsigned max_clients;      /* clients at once; default 64 */
	size_t max_line;           /* longest request line in bytes; default 64 KiB */
	size_t out_max;            /* largest unsent output per client before it is dropped; default 1 MiB */
	bool signals;              /* block SIGINT/SIGTERM/SIGHUP/SIGUSR1 and read them from a signalfd (default) */
	struct rt_registry *registry; /* read by status, stats and the status line; NULL: an empty one */
};

struct rt_control_client;

struct rt_control_command {
	char name[RT_CONTROL_NAME_MAX];
	const char *help; /* kept, not copied */
	rt_control_cmd_fn fn;
	void *ctx;
};

struct rt_control_timer {
	char name[RT_CONTROL_NAME_MAX];
	uint64_t period_ns, next_ns;
	rt_control_timer_fn fn;
	void *ctx;
};

struct rt_control {
	struct rt_control_conf conf;
	struct rt_registry own_registry; /* used when conf.registry is NULL */
	struct rt_registry *reg;
	int sfd;    /* signalfd, or -1 */
	int stopfd; /* eventfd written by rt_control_stop */
	int lfd;    /* listening socket, or -1 */
	dev_t sock_dev;
	ino_t sock_ino; /* the socket file init created (fini removes only that one) */
	struct rt_control_client *clients; /* max_clients slots */
	unsigned n_clients;
	struct rt_control_command commands[RT_CONTROL_COMMANDS_MAX];
	unsigned n_commands;
	struct rt_control_timer timers[RT_CONTROL_TIMERS_MAX];
	unsigned n_timers;
	rt_control_signal_fn on_signal;
	void *on_signal_ctx;
	struct pollfd *pfds; /* max_clients + 3 */
	unsigned char *rbuf; /* read scratch */
	uint64_t start_ns;
	/* the control socket's own counters (written and read on the control thread; registered as group "control") */
	_Atomic uint64_t accepted, refused, dropped_slow, requests, errors;
};

/* Fills conf with the defaults above (no socket, no status line). */
void rt_control_conf_init(struct rt_control_conf *conf, const char *program);

/*
 * Prepares the loop: blocks the signals (conf->signals; so call it before starting any other thread, which then
 * inherits the mask), creates the socket (see above) and registers the built-in commands and the status timer.
 * Returns 0, -EADDRINUSE (another process listens on the path), -EEXIST (the path is not a socket),
 * -ENAMETOOLONG (the path does not fit a sockaddr_un), -EINVAL, -ENOMEM, or another negative errno from the
 * socket calls; logs the reason.  On failure nothing is left to undo.
 */
int rt_control_init(struct rt_control *ctl, const struct rt_control_conf *conf);

/*
 * Adds a command (name: letters, digits, '-' and '_', up to RT_CONTROL_NAME_MAX - 1 bytes; help kept, not copied).
 * Returns 0, -EEXIST (a command of that name, built-ins included), -EINVAL, or -ENOSPC.
 */
int rt_control_add_command(struct rt_control *ctl, const char *name, const char *help, rt_control_cmd_fn fn,
			   void *ctx);

/*
 * Calls fn(ctx, now) every period_ns (first call one period after rt_control_run starts or the timer is added,
 * whichever is later); a late loop skips missed periods instead of calling fn several times.  name is for logs.
 * Returns 0, -EINVAL (period 0, no fn), or -ENOSPC.
 */
int rt_control_add_timer(struct rt_control *ctl, const char *name, uint64_t period_ns, rt_control_timer_fn fn,
			 void *ctx);

/* Sets the hook for SIGHUP and SIGUSR1 (without one they are logged and ignored). */
void rt_control_set_signal_hook(struct rt_control *ctl, rt_control_signal_fn fn, void *ctx);

/*
 * Runs one iteration: waits at most timeout_ms (-1: until something happens, but no longer than the next timer),
 * then serves the socket, signals and due timers.  Returns the stop signal (SIGINT or SIGTERM) when one arrived,
 * -ECANCELED when rt_control_stop() was called, 0 otherwise, or a negative errno when poll itself failed.
 */
int rt_control_run_once(struct rt_control *ctl, int timeout_ms);

/* Runs the loop until a stop: returns the signal number, -ECANCELED after rt_control_stop(), or a negative errno. */
int rt_control_run(struct rt_control *ctl);

/*
 * Answers one request line (len bytes, without its newline) exactly as a socket client would be answered, without
 * a socket: returns the answer's JSON text (free it with cJSON_free), or NULL when out of memory.  Control thread
 * (handlers run here).  For in-process callers, tests and the fuzz target.
 */
char *rt_control_answer(struct rt_control *ctl, const char *line, size_t len);

/* Asks the loop to return (-ECANCELED).  Any thread; async-signal-safe (one write to an eventfd). */
void rt_control_stop(struct rt_control *ctl);

/* Logs the status line now ("<program>: <label>: up Ns; <registry status>").  Control thread. */
void rt_control_log_status(struct rt_control *ctl, const char *label);

/* Disconnects every client, closes the socket and removes its file (if it is still ours), closes the descriptors
 * and frees.  Does not unblock the signals.  Control thread, after the loop returned. */
void rt_control_fini(struct rt_control *ctl);

#endif

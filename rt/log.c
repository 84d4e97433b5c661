/*
 * log.c - leveled logging to stderr: each line is formatted into a stack buffer and written with one write(2), so
 * lines from different threads never interleave.  Not for real-time stage threads (asserted in debug builds).
 */
#include "rt/log.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt/thread.h"

#define LOG_LINE_MAX 1024

static const char *_Atomic log_progname = "v2x";
static _Atomic int log_level = RT_LOG_INFO;

static const char *const log_level_names[] = {"error", "warning", "info", "debug"};

void rt_log_setup(const char *progname, enum rt_log_level level)
{
	atomic_store_explicit(&log_progname, progname ? progname : "v2x", memory_order_relaxed);
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

static void log__write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report it */
		}
		buf += n;
		len -= (size_t)n;
	}
}

void rt_vlog(enum rt_log_level level, const char *fmt, va_list ap)
{
#ifndef NDEBUG
	assert(!rt_thread_is_rt() && "rt_log() called from a real-time stage thread");
#endif
	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	int saved_errno = errno; /* callers may log with %m */
	char line[LOG_LINE_MAX];
	const size_t room = sizeof(line) - 1; /* the last byte is kept for the newline */
	int idx = (int)level < RT_LOG_ERR ? 0 : (int)level > RT_LOG_DEBUG ? 3 : (int)level;
	int n = snprintf(line, room, "%s: %s: ", atomic_load_explicit(&log_progname, memory_order_relaxed),
			 log_level_names[idx]);
	if (n < 0)
		return;
	size_t len = (size_t)n < room - 1 ? (size_t)n : room - 1;
	errno = saved_errno;
	int m = vsnprintf(line + len, room - len, fmt, ap);
	if (m > 0 && (size_t)m >= room - len) {
		len = room - 1;
		memcpy(line + len - 3, "...", 3); /* mark the truncation */
	} else if (m > 0) {
		len += (size_t)m;
	}
	line[len++] = '\n';
	log__write_all(line, len);
	errno = saved_errno;
}

void rt_log(enum rt_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_vlog(level, fmt, ap);
	va_end(ap);
}

_Noreturn void rt_bug(const char *file, int line, const char *what)
{
	char buf[LOG_LINE_MAX];
	int n = snprintf(buf, sizeof(buf), "%s: BUG at %s:%d: %s\n",
			 atomic_load_explicit(&log_progname, memory_order_relaxed), file, line, what);
	if (n > 0)
		log__write_all(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	abort();
}

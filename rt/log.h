/*
 * log.h - leveled logging to stderr for the control thread and start-up code.
 *
 * Real-time stage threads never call these (they count and trace; the control thread reports): debug builds
 * assert it.  Lines look like "v2xd: warning: message".  Thread-safe (one write(2) per line).
 */
#ifndef V2X_RT_LOG_H
#define V2X_RT_LOG_H

#include <stdarg.h>

enum rt_log_level {
	RT_LOG_ERR = 0,
	RT_LOG_WARN = 1,
	RT_LOG_INFO = 2,
	RT_LOG_DEBUG = 3,
};

/*
 * Sets the program name shown in front of every line (kept, not copied) and the most verbose level printed.
 * Until called: "v2x" and RT_LOG_INFO.  Any thread (the settings are atomics).
 */
void rt_log_setup(const char *progname, enum rt_log_level level);

/*
 * Logs one line at level (a trailing newline is added; lines longer than 1023 bytes are cut and end in "...").
 * Formats on the stack, no allocation; one write(2) to stderr, which may block.  errno is preserved (%m works).
 * Not from real-time stage threads (an assertion in builds without NDEBUG).
 */
void rt_log(enum rt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_vlog(enum rt_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define rt_err(...) rt_log(RT_LOG_ERR, __VA_ARGS__)
#define rt_warn(...) rt_log(RT_LOG_WARN, __VA_ARGS__)
#define rt_info(...) rt_log(RT_LOG_INFO, __VA_ARGS__)
#define rt_debug(...) rt_log(RT_LOG_DEBUG, __VA_ARGS__)

/* "Cannot happen" failures: print file, line and message, then abort. */
#define RT_BUG_ON(cond)                                                                                             \
	do {                                                                                                       \
		if (__builtin_expect(!!(cond), 0))                                                                 \
			rt_bug(__FILE__, __LINE__, #cond);                                                         \
	} while (0)
_Noreturn void rt_bug(const char *file, int line, const char *what);

#endif

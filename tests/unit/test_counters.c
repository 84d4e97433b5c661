/* test_counters.c - counters arithmetic and the status-line format; the log line format and level filter. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/counters.h"
#include "rt/log.h"

static const char *const reasons[] = {"full", "crc"};

static void test_counters_format(void **st)
{
	(void)st;
	struct rt_counters c;
	rt_counters_init(&c, "decode", reasons, 2);
	rt_count(&c.in, 10);
	rt_count(&c.in, 5);
	rt_count(&c.out, 12);
	rt_count(&c.dropped[0], 2);
	rt_count(&c.dropped[1], 1);
	rt_count_max(&c.ring_hwm, 7);
	rt_count_max(&c.ring_hwm, 3); /* lower: ignored */
	assert_int_equal(rt_counters_dropped_total(&c), 3);
	char buf[128];
	const char *expect = "decode in=15 out=12 dropped=3 (full=2 crc=1) hwm=7";
	assert_int_equal(rt_counters_format(&c, buf, sizeof(buf)), (int)strlen(expect));
	assert_string_equal(buf, expect);
	/* Truncated: always terminated, returns the full length. */
	char small[10];
	assert_int_equal(rt_counters_format(&c, small, sizeof(small)), (int)strlen(expect));
	assert_string_equal(small, "decode in");
	assert_int_equal(rt_counters_format(&c, NULL, 0), (int)strlen(expect));
	/* No reasons: no parentheses. */
	rt_counters_init(&c, "log", NULL, 0);
	assert_int_equal(rt_counters_format(&c, buf, sizeof(buf)), (int)strlen("log in=0 out=0 dropped=0 hwm=0"));
	assert_string_equal(buf, "log in=0 out=0 dropped=0 hwm=0");
}

/* Runs fn with stderr redirected to a pipe and returns what it wrote. */
static void capture_stderr(void (*fn)(void), char *out, size_t size)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = read(p[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
}

static void log_levels(void)
{
	rt_log_setup("v2xd", RT_LOG_WARN);
	rt_err("disk %s", "full");
	rt_warn("ring %d", 3);
	rt_info("not shown");
	rt_debug("not shown");
	rt_log_setup("v2xd", RT_LOG_DEBUG);
	rt_debug("d");
}

static void log_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rt_log_setup("p", RT_LOG_INFO);
	rt_info("%s", big);
}

static void test_log(void **st)
{
	(void)st;
	char out[4096];
	capture_stderr(log_levels, out, sizeof(out));
	assert_string_equal(out, "v2xd: error: disk full\nv2xd: warning: ring 3\nv2xd: debug: d\n");
	capture_stderr(log_long, out, sizeof(out));
	size_t len = strlen(out);
	assert_true(len > 100 && len <= 1024); /* one bounded line */
	assert_int_equal(out[len - 1], '\n');
	assert_memory_equal(out + len - 4, "...", 3); /* marked as truncated */
	assert_memory_equal(out, "p: info: xxx", 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_format),
		cmocka_unit_test(test_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_config.c - the configuration module (rt/config.h) on a fake stage's table: every key type with good and bad
 * values, strict numbers (" 7", "7 ", "", "-1", overflow, out of range), INI files written to a temporary directory
 * (good, and every kind of bad file with its line number in the message), command line over file, --no-flag,
 * --print-config round trip, secrets masked in print-config, JSON and messages, the generated help, table errors.
 *
 * Expected values come from the key definitions below and the module's contract (units: 1 ms = 1000000 ns,
 * 1 KiB = 1024 bytes, 1 MiB = 1048576 bytes), never from the code's output.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "rt/config.h"
#include "rt/thread.h"

/* ---- a fake stage ---- */

enum fake_framing { FAKE_AUTO = 10, FAKE_TEXT = 11, FAKE_V2 = 12 };

struct fake_conf {
	char dev[64];
	unsigned baud;
	int framing;
	bool flag;
	int iflag;
	int level;
	unsigned count;
	uint8_t small;
	uint64_t big;
	size_t ring;
	uint64_t flush_ns;
	uint64_t spin_ns;
	uint64_t period_ns;
	size_t buffer_bytes;
	uint64_t rotate_bytes;
	double gain;
	char name[16];
	char out[256];
	char dbc[256];
	char token[64];
	int hidden;
	struct rt_sched_conf sched;
};

static const unsigned fake_bauds[] = {115200, 230400, 460800, 921600, 2000000};

static int fake_baud_parse(const struct rt_config_key *k, const char *text, void *field, const char **why)
{
	uint64_t v;
	if (rt_config_parse_u64(text, &v)) {
		*why = "not a number";
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(fake_bauds) / sizeof(fake_bauds[0]); i++)
		if (v == fake_bauds[i]) {
			unsigned u = (unsigned)v;
			memcpy(field, &u, sizeof(u));
			return 0;
		}
	*why = "not a supported rate";
	return -EINVAL;
}

static int fake_baud_format(const struct rt_config_key *k, const void *field, char *buf, size_t size)
{
	unsigned u;
	memcpy(&u, field, sizeof(u));
	return snprintf(buf, size, "%u", u);
}

static const struct rt_config_custom fake_baud = {
	.expects = "115200, 230400, 460800, 921600 or 2000000",
	.arg = "RATE",
	.parse = fake_baud_parse,
	.format = fake_baud_format,
};

static const struct rt_config_choice fake_framings[] = {
	{"auto", FAKE_AUTO}, {"text", FAKE_TEXT}, {"v2", FAKE_V2}, {NULL, 0},
};

#define F(m) RT_CONFIG_FIELD(struct fake_conf, m)
static const struct rt_config_key fake_keys[] = {
	{.section = "rx", .key = "dev", .type = RT_CONFIG_PATH, F(dev), .opt = "can-dev", .flags = RT_CONFIG_REQUIRED,
	 .help = "serial device"},
	{.section = "rx", .key = "baud", .type = RT_CONFIG_CUSTOM, F(baud), .opt = "baud", .custom = &fake_baud,
	 .unit = "bit/s", .help = "line rate"},
	{.section = "rx", .key = "framing", .type = RT_CONFIG_ENUM, F(framing), .choices = fake_framings,
	 .help = "frame format"},
	{.section = "rx", .key = "flag", .type = RT_CONFIG_BOOL, F(flag), .help = "a bool flag"},
	{.section = "rx", .key = "iflag", .type = RT_CONFIG_BOOL, F(iflag), .help = "an int flag"},
	{.section = "rx", .key = "level", .type = RT_CONFIG_INT, F(level), .imin = -10, .imax = 10, .help = "signed"},
	{.section = "rx", .key = "count", .type = RT_CONFIG_UINT, F(count), .umin = 1, .umax = 1000, .unit = "rows",
	 .help = "unsigned"},
	{.section = "rx", .key = "small", .type = RT_CONFIG_UINT, F(small), .help = "a byte, whole range"},
	{.section = "rx", .key = "big", .type = RT_CONFIG_UINT, F(big), .help = "64 bits, whole range"},
	{.section = "rx", .key = "ring", .type = RT_CONFIG_UINT, F(ring), .umin = 64, .umax = 16777216,
	 .flags = RT_CONFIG_POW2, .unit = "records", .help = "ring size"},
	RT_CONFIG_SCHED_KEYS("rx", struct fake_conf, sched),
	{.section = "log", .key = "flush_ms", .type = RT_CONFIG_DURATION, F(flush_ns), .umin = 1, .umax = 60000,
	 .unit = "ms", .help = "flush period"},
	{.section = "log", .key = "spin_us", .type = RT_CONFIG_DURATION, F(spin_ns), .umax = 1000000, .unit = "us",
	 .help = "spin time"},
	{.section = "log", .key = "period_s", .type = RT_CONFIG_DURATION, F(period_ns), .umin = 1, .umax = 86400,
	 .unit = "s", .help = "a period in seconds"},
	{.section = "log", .key = "buffer_kb", .type = RT_CONFIG_SIZE, F(buffer_bytes), .umin = 16, .umax = 1048576,
	 .unit = "KiB", .opt = "log-buffer-kb", .help = "buffer"},
	{.section = "log", .key = "rotate_mb", .type = RT_CONFIG_SIZE, F(rotate_bytes), .umax = 1048576, .unit = "MiB",
	 .help = "rotation size (0: never)"},
	{.section = "log", .key = "gain", .type = RT_CONFIG_DOUBLE, F(gain), .dmin = 0.5, .dmax = 2.0, .help = "a double"},
	{.section = "log", .key = "name", .type = RT_CONFIG_STRING, F(name), .help = "a short name"},
	{.section = "log", .key = "out", .type = RT_CONFIG_PATH, F(out), .opt = "out", .help = "output directory"},
	{.section = "log", .key = "dbc", .type = RT_CONFIG_PATH, F(dbc), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "database (empty: built in)"},
	{.section = "log", .key = "token", .type = RT_CONFIG_SECRET, F(token), .flags = RT_CONFIG_EMPTY_OK,
	 .help = "an access token"},
	{.section = "log", .key = "hidden", .type = RT_CONFIG_INT, F(hidden), .imin = 0, .imax = 5,
	 .flags = RT_CONFIG_NO_OPTION, .help = "file only"},
};
#undef F

static void fake_defaults(void *p)
{
	struct fake_conf *c = p;
	c->baud = 115200;
	c->framing = FAKE_AUTO;
	c->flag = false;
	c->iflag = 1;
	c->level = 0;
	c->count = 5;
	c->small = 200;
	c->big = 0;
	c->ring = 65536;
	rt_sched_conf_init(&c->sched, SCHED_OTHER, 80);
	c->flush_ns = 100 * 1000000ull;
	c->spin_ns = 50 * 1000ull;
	c->period_ns = 4 * 1000000000ull;
	c->buffer_bytes = 4096 * 1024;
	c->rotate_bytes = 0;
	c->gain = 1.0;
	strcpy(c->name, "can0");
	strcpy(c->out, ".");
	c->dbc[0] = '\0';
	c->token[0] = '\0';
}

static const struct rt_config_table fake_table = {
	.name = "fake",
	.keys = fake_keys,
	.n_keys = sizeof(fake_keys) / sizeof(fake_keys[0]),
	.conf_size = sizeof(struct fake_conf),
	.defaults = fake_defaults,
};

/* A second stage, to load several tables at once. */
enum { CTL_ERR = 0, CTL_WARN = 1, CTL_INFO = 2, CTL_DEBUG = 3 };
struct ctl_conf {
	char socket[108];
	uint64_t status_ns;
	int log_level;
	cpu_set_t cpus;
};

static const struct rt_config_choice ctl_levels[] = {
	{"error", CTL_ERR}, {"warning", CTL_WARN}, {"info", CTL_INFO}, {"debug", CTL_DEBUG}, {NULL, 0},
};

static const struct rt_config_key ctl_keys[] = {
	{.section = "control", .key = "socket", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct ctl_conf, socket),
	 .help = "control socket"},
	{.section = "control", .key = "status_s", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct ctl_conf, status_ns),
	 .umax = 86400, .unit = "s", .help = "status period (0: never)"},
	{.section = "control", .key = "log_level", .type = RT_CONFIG_ENUM, RT_CONFIG_FIELD(struct ctl_conf, log_level),
	 .choices = ctl_levels, .help = "log level"},
	{.section = "control", .key = "cpus", .type = RT_CONFIG_CPUSET, RT_CONFIG_FIELD(struct ctl_conf, cpus),
	 .help = "house CPUs"},
};

static void ctl_defaults(void *p)
{
	struct ctl_conf *c = p;
	strcpy(c->socket, "/run/fake.sock");
	c->status_ns = 10 * 1000000000ull;
	c->log_level = CTL_INFO;
	CPU_ZERO(&c->cpus);
}

static const struct rt_config_table ctl_table = {
	.name = "ctl",
	.keys = ctl_keys,
	.n_keys = sizeof(ctl_keys) / sizeof(ctl_keys[0]),
	.conf_size = sizeof(struct ctl_conf),
	.defaults = ctl_defaults,
};

static const struct rt_config_alias fake_aliases[] = {
	{"verbose", "control-log-level", "debug", "more logging"},
	{"quiet", "control-log-level", "warning", "less logging"},
	{NULL, NULL, NULL, NULL},
};

/* ---- fixture ---- */

struct fx {
	char dir[64];
	struct fake_conf fake;
	struct ctl_conf ctl;
	struct rt_config_bind binds[2];
	struct rt_config_program prog;
	char err[8192];
	char *out;
	size_t out_len;
	FILE *outf;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/test_config.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->binds[0] = (struct rt_config_bind){.table = &fake_table, .conf = &f->fake};
	f->binds[1] = (struct rt_config_bind){.table = &ctl_table, .conf = &f->ctl};
	f->outf = open_memstream(&f->out, &f->out_len);
	f->prog = (struct rt_config_program){
		.name = "faked",
		.usage = "usage: faked --can-dev PATH [options]\n",
		.binds = f->binds,
		.n_binds = 2,
		.aliases = fake_aliases,
		.out = f->outf,
		.errbuf = f->err,
		.errbuf_size = sizeof(f->err),
	};
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fclose(f->outf);
	free(f->out);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Loads with argv given as a NULL-terminated list after the program name. */
static int load_argv(struct fx *f, const char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	fflush(f->outf);
	return rt_config_load(&f->prog, argc, (char **)argv);
}

#define LOAD(f, ...) load_argv((f), (const char *[]){"faked", __VA_ARGS__, NULL})

/* Writes text to <dir>/name and returns the path (static buffer). */
static const char *write_file(struct fx *f, const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	return path;
}

/* The output written to prog.out since the last call. */
static const char *take_out(struct fx *f)
{
	static char buf[65536];
	fflush(f->outf);
	snprintf(buf, sizeof(buf), "%s", f->out ? f->out : "");
	fclose(f->outf);
	free(f->out);
	f->out = NULL;
	f->outf = open_memstream(&f->out, &f->out_len);
	f->prog.out = f->outf;
	return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* ---- values, one key at a time ---- */

static const struct rt_config_key *key_of(const char *section, const char *key)
{
	for (size_t i = 0; i < fake_table.n_keys; i++)
		if (strcmp(fake_keys[i].section, section) == 0 && strcmp(fake_keys[i].key, key) == 0)
			return &fake_keys[i];
	for (size_t i = 0; i < ctl_table.n_keys; i++)
		if (strcmp(ctl_keys[i].section, section) == 0 && strcmp(ctl_keys[i].key, key) == 0)
			return &ctl_keys[i];
	fail_msg("no key [%s] %s", section, key);
	return NULL;
}

/* Parses text into a fresh fake_conf holding the defaults; returns the result, and why in why. */
static int parse_one(struct fake_conf *c, const char *section, const char *key, const char *text, char *why,
		     size_t size)
{
	memset(c, 0, sizeof(*c));
	fake_defaults(c);
	why[0] = '\0';
	return rt_config_parse_value(key_of(section, key), c, text, why, size);
}

/* A refused value leaves the field as it was and gives the expected reason. */
static void expect_bad(const char *section, const char *key, const char *text, const char *reason)
{
	struct fake_conf c, d;
	char why[512];
	memset(&d, 0, sizeof(d));
	fake_defaults(&d);
	assert_int_equal(parse_one(&c, section, key, text, why, sizeof(why)), -EINVAL);
	if (strstr(why, reason) == NULL)
		fail_msg("[%s] %s = '%s': expected \"%s\" in \"%s\"", section, key, text, reason, why);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_bool_values(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"}, *no[] = {"false", "no", "off", "0", "OFF"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(parse_one(&c, "rx", "flag", yes[i], why, sizeof(why)), 0);
		assert_true(c.flag);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(parse_one(&c, "rx", "iflag", no[i], why, sizeof(why)), 0);
		assert_int_equal(c.iflag, 0);
	}
	expect_bad("rx", "flag", "maybe", "not a boolean (true or false)");
	expect_bad("rx", "flag", "", "not a boolean");
	expect_bad("rx", "flag", " true", "not a boolean");
	expect_bad("rx", "flag", "2", "not a boolean");
}

static void test_uint_strict(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "rx", "count", "7", why, sizeof(why)), 0);
	assert_int_equal(c.count, 7);
	assert_int_equal(parse_one(&c, "rx", "count", "1000", why, sizeof(why)), 0);
	assert_int_equal(c.count, 1000);
	assert_int_equal(parse_one(&c, "rx", "count", "007", why, sizeof(why)), 0); /* decimal, not octal */
	assert_int_equal(c.count, 7);
	/* Issue 13 defect 5: " 7" was accepted. */
	expect_bad("rx", "count", " 7", "not a number");
	expect_bad("rx", "count", "7 ", "not a number");
	expect_bad("rx", "count", "", "empty");
	expect_bad("rx", "count", "-1", "a sign is not allowed");
	expect_bad("rx", "count", "+1", "a sign is not allowed");
	expect_bad("rx", "count", "7a", "not a number");
	expect_bad("rx", "count", "0x10", "not a number");
	expect_bad("rx", "count", "1.5", "not a number");
	expect_bad("rx", "count", "0", "out of range (1..1000 rows)");
	expect_bad("rx", "count", "1001", "out of range (1..1000 rows)");
	/* 2^32 + 7 would wrap to 7 in an unsigned int. */
	expect_bad("rx", "count", "4294967303", "out of range");
	/* The whole range of a uint8_t and a uint64_t when the key gives none. */
	assert_int_equal(parse_one(&c, "rx", "small", "255", why, sizeof(why)), 0);
	assert_int_equal(c.small, 255);
	expect_bad("rx", "small", "256", "out of range (0..255)");
	assert_int_equal(parse_one(&c, "rx", "big", "18446744073709551615", why, sizeof(why)), 0);
	assert_true(c.big == UINT64_MAX);
	expect_bad("rx", "big", "18446744073709551616", "out of range");
	expect_bad("rx", "big", "99999999999999999999999", "out of range");
}

static void test_int_values(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "rx", "level", "-10", why, sizeof(why)), 0);
	assert_int_equal(c.level, -10);
	assert_int_equal(parse_one(&c, "rx", "level", "10", why, sizeof(why)), 0);
	assert_int_equal(c.level, 10);
	expect_bad("rx", "level", "-11", "out of range (-10..10)");
	expect_bad("rx", "level", "11", "out of range (-10..10)");
	expect_bad("rx", "level", "--1", "not a number");
	expect_bad("rx", "level", "- 1", "not a number");
	expect_bad("rx", "level", "+1", "not a number");
	expect_bad("rx", "level", " 7", "not a number");
	expect_bad("rx", "level", "-", "not a number");
	expect_bad("rx", "level", "99999999999999999999", "out of range");

	int64_t v;
	assert_int_equal(rt_config_parse_s64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(rt_config_parse_s64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(rt_config_parse_s64("9223372036854775808", &v), -ERANGE);
	assert_int_equal(rt_config_parse_s64("-9223372036854775809", &v), -ERANGE);
	uint64_t u;
	assert_int_equal(rt_config_parse_u64("", &u), -EINVAL);
	assert_int_equal(rt_config_parse_u64("1 ", &u), -EINVAL);
	assert_int_equal(rt_config_parse_u64("18446744073709551616", &u), -ERANGE);
}

static void test_durations_and_sizes(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "log", "flush_ms", "100", why, sizeof(why)), 0);
	assert_true(c.flush_ns == 100000000ull);
	assert_int_equal(parse_one(&c, "log", "flush_ms", "60000", why, sizeof(why)), 0);
	assert_true(c.flush_ns == 60000000000ull);
	assert_int_equal(parse_one(&c, "log", "spin_us", "0", why, sizeof(why)), 0);
	assert_true(c.spin_ns == 0);
	assert_int_equal(parse_one(&c, "log", "spin_us", "75", why, sizeof(why)), 0);
	assert_true(c.spin_ns == 75000ull);
	assert_int_equal(parse_one(&c, "log", "period_s", "86400", why, sizeof(why)), 0);
	assert_true(c.period_ns == 86400000000000ull);
	expect_bad("log", "flush_ms", "abc", "not a number (1..60000 ms)");
	expect_bad("log", "flush_ms", "0", "out of range (1..60000 ms)");
	expect_bad("log", "flush_ms", "60001", "out of range (1..60000 ms)");
	expect_bad("log", "flush_ms", "100ms", "not a number");
	assert_int_equal(parse_one(&c, "log", "buffer_kb", "16", why, sizeof(why)), 0);
	assert_true(c.buffer_bytes == 16 * 1024);
	assert_int_equal(parse_one(&c, "log", "rotate_mb", "2", why, sizeof(why)), 0);
	assert_true(c.rotate_bytes == 2 * 1048576ull);
	expect_bad("log", "buffer_kb", "15", "out of range (16..1048576 KiB)");
	expect_bad("log", "rotate_mb", "1048577", "out of range (0..1048576 MiB)");
}

static void test_pow2(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "rx", "ring", "64", why, sizeof(why)), 0);
	assert_int_equal(c.ring, 64);
	assert_int_equal(parse_one(&c, "rx", "ring", "16777216", why, sizeof(why)), 0);
	assert_int_equal(c.ring, 16777216);
	expect_bad("rx", "ring", "96", "not a power of two (a power of two, 64..16777216 records)");
	expect_bad("rx", "ring", "32", "out of range");
	expect_bad("rx", "ring", "33554432", "out of range");
}

static void test_double_values(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "log", "gain", "1.5", why, sizeof(why)), 0);
	assert_true(c.gain == 1.5);
	assert_int_equal(parse_one(&c, "log", "gain", "0.5", why, sizeof(why)), 0);
	assert_true(c.gain == 0.5);
	assert_int_equal(parse_one(&c, "log", "gain", "2e0", why, sizeof(why)), 0);
	assert_true(c.gain == 2.0);
	expect_bad("log", "gain", "2.5", "out of range (0.5..2)");
	expect_bad("log", "gain", "nan", "not a number");
	expect_bad("log", "gain", "inf", "not a number");
	expect_bad("log", "gain", "0x1p0", "not a number");
	expect_bad("log", "gain", " 1", "not a number");
	expect_bad("log", "gain", "1 ", "not a number");
	expect_bad("log", "gain", "1.5x", "not a number");
	expect_bad("log", "gain", "", "empty");
}

static void test_text_values(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "log", "name", "123456789012345", why, sizeof(why)), 0); /* 15: fits [16] */
	assert_string_equal(c.name, "123456789012345");
	expect_bad("log", "name", "1234567890123456", "too long (1..15 characters)");
	expect_bad("log", "name", "", "empty");
	expect_bad("log", "out", "", "empty");
	assert_int_equal(parse_one(&c, "log", "dbc", "", why, sizeof(why)), 0); /* EMPTY_OK */
	assert_string_equal(c.dbc, "");
	assert_int_equal(parse_one(&c, "log", "out", "/var/log/v2x dir", why, sizeof(why)), 0);
	assert_string_equal(c.out, "/var/log/v2x dir");
	expect_bad("log", "out", " /tmp", "starts or ends with a space");
	expect_bad("log", "out", "/tmp ", "starts or ends with a space");
	expect_bad("log", "out", "/tmp\n/x", "control character");
	expect_bad("log", "out", "/a ;b", "INI comment");
	expect_bad("log", "out", ";b", "INI comment");
}

static void test_secret_never_shown(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256], buf[64];
	assert_int_equal(parse_one(&c, "log", "token", "hunter2", why, sizeof(why)), 0);
	assert_string_equal(c.token, "hunter2");
	assert_int_equal(rt_config_format_value(key_of("log", "token"), &c, true, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "***");
	rt_config_format_value(key_of("log", "token"), &c, false, buf, sizeof(buf));
	assert_string_equal(buf, "hunter2");
	/* The reason for a refused secret never repeats it. */
	assert_int_equal(parse_one(&c, "log", "token", " hunter2", why, sizeof(why)), -EINVAL);
	assert_null(strstr(why, "hunter2"));
}

static void test_enum_lists_names(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "rx", "framing", "v2", why, sizeof(why)), 0);
	assert_int_equal(c.framing, FAKE_V2);
	assert_int_equal(parse_one(&c, "rx", "framing", "text", why, sizeof(why)), 0);
	assert_int_equal(c.framing, FAKE_TEXT);
	expect_bad("rx", "framing", "binary", "unknown name (one of auto, text, v2)");
	expect_bad("rx", "framing", "V2", "one of auto, text, v2");
	expect_bad("rx", "framing", "", "one of auto, text, v2");
}

static void test_cpuset_policy_sched(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256], buf[64];
	assert_int_equal(parse_one(&c, "rx", "cpus", "0-2,5", why, sizeof(why)), 0);
	assert_int_equal(CPU_COUNT(&c.sched.cpus), 4);
	assert_true(CPU_ISSET(0, &c.sched.cpus) && CPU_ISSET(1, &c.sched.cpus) && CPU_ISSET(2, &c.sched.cpus));
	assert_true(CPU_ISSET(5, &c.sched.cpus));
	rt_config_format_value(key_of("rx", "cpus"), &c, true, buf, sizeof(buf));
	assert_string_equal(buf, "0-2,5");
	assert_int_equal(parse_one(&c, "rx", "cpus", "", why, sizeof(why)), 0); /* not pinned */
	assert_int_equal(CPU_COUNT(&c.sched.cpus), 0);
	expect_bad("rx", "cpus", "a", "not a CPU list");
	expect_bad("rx", "cpus", " 1", "not a CPU list");
	expect_bad("rx", "cpus", "3-1", "not a CPU list");
	assert_int_equal(parse_one(&c, "rx", "policy", "fifo", why, sizeof(why)), 0);
	assert_int_equal(c.sched.policy, SCHED_FIFO);
	assert_int_equal(parse_one(&c, "rx", "policy", "rr", why, sizeof(why)), 0);
	assert_int_equal(c.sched.policy, SCHED_RR);
	expect_bad("rx", "policy", "batch", "unknown policy (fifo, rr or other)");
	assert_int_equal(parse_one(&c, "rx", "priority", "99", why, sizeof(why)), 0);
	assert_int_equal(c.sched.priority, 99);
	expect_bad("rx", "priority", "0", "out of range (1..99)");
	expect_bad("rx", "priority", "100", "out of range (1..99)");

	/* With SCHED_OTHER the priority is ignored: the thread gets 0. */
	struct rt_sched_conf s;
	struct rt_thread_conf t;
	rt_sched_conf_init(&s, SCHED_OTHER, 80);
	rt_sched_conf_to_thread(&s, &t);
	assert_int_equal(t.policy, SCHED_OTHER);
	assert_int_equal(t.priority, 0);
	s.policy = SCHED_FIFO;
	rt_sched_conf_to_thread(&s, &t);
	assert_int_equal(t.priority, 80);
}

static void test_custom_type(void **state)
{
	(void)state;
	struct fake_conf c;
	char why[256];
	assert_int_equal(parse_one(&c, "rx", "baud", "921600", why, sizeof(why)), 0);
	assert_int_equal(c.baud, 921600);
	expect_bad("rx", "baud", "9600", "not a supported rate (115200, 230400, 460800, 921600 or 2000000 bit/s)");
	expect_bad("rx", "baud", " 115200", "not a number");
}

/* ---- the loader ---- */

static void test_defaults_and_required(void **state)
{
	struct fx *f = *state;
	assert_int_equal(LOAD(f, "--can-dev", "/dev/ttyUSB0"), 0);
	assert_string_equal(f->err, "");
	assert_string_equal(f->fake.dev, "/dev/ttyUSB0");
	assert_int_equal(f->fake.baud, 115200);
	assert_int_equal(f->fake.framing, FAKE_AUTO);
	assert_true(f->fake.flush_ns == 100000000ull);
	assert_int_equal(f->fake.sched.policy, SCHED_OTHER);
	assert_int_equal(f->fake.sched.priority, 80);
	assert_string_equal(f->ctl.socket, "/run/fake.sock");
	assert_int_equal(f->ctl.log_level, CTL_INFO);

	assert_int_equal(load_argv(f, (const char *[]){"faked", NULL}), -EINVAL);
	assert_contains(f->err, "[rx] dev is required: set it in the configuration file or with --can-dev PATH");
}

static const char good_ini[] =
	"; a comment\n"
	"# another comment\n"
	"[rx]\n"
	"dev = /dev/ttyACM0\n"
	"baud = 2000000\n"
	"framing = v2\n"
	"flag = yes\n"
	"  iflag = off\n"       /* indented: an ordinary line */
	"level = -3\n"
	"count = 12 ; inline comment\n"
	"ring = 1024\n"
	"cpus = 1\n"
	"policy = fifo\n"
	"priority = 70\n"
	"\n"
	"[log]\n"
	"flush_ms = 250\n"
	"spin_us = 10\n"
	"buffer_kb = 512\n"
	"rotate_mb = 64\n"
	"gain = 0.75\n"
	"name = can1\n"
	"out = /var/log/v2x\n"
	"token = s3cret\n"
	"hidden = 4\n"
	"flush_ms = 300\n"      /* given twice: the last wins */
	"[control]\n"
	"socket = /tmp/x.sock\n"
	"status_s = 0\n"
	"log_level = debug\n"
	"cpus = 0,1\n";

static void test_good_file(void **state)
{
	struct fx *f = *state;
	const char *path = write_file(f, "good.ini", good_ini);
	assert_int_equal(LOAD(f, "--config", path), 0);
	assert_string_equal(f->err, "");
	assert_string_equal(f->fake.dev, "/dev/ttyACM0");
	assert_int_equal(f->fake.baud, 2000000);
	assert_int_equal(f->fake.framing, FAKE_V2);
	assert_true(f->fake.flag);
	assert_int_equal(f->fake.iflag, 0);
	assert_int_equal(f->fake.level, -3);
	assert_int_equal(f->fake.count, 12);
	assert_int_equal(f->fake.ring, 1024);
	assert_true(CPU_COUNT(&f->fake.sched.cpus) == 1 && CPU_ISSET(1, &f->fake.sched.cpus));
	assert_int_equal(f->fake.sched.policy, SCHED_FIFO);
	assert_int_equal(f->fake.sched.priority, 70);
	assert_true(f->fake.flush_ns == 300000000ull);
	assert_true(f->fake.spin_ns == 10000ull);
	assert_true(f->fake.buffer_bytes == 512 * 1024);
	assert_true(f->fake.rotate_bytes == 64ull << 20);
	assert_true(f->fake.gain == 0.75);
	assert_string_equal(f->fake.name, "can1");
	assert_string_equal(f->fake.out, "/var/log/v2x");
	assert_string_equal(f->fake.token, "s3cret");
	assert_int_equal(f->fake.hidden, 4);
	assert_string_equal(f->ctl.socket, "/tmp/x.sock");
	assert_true(f->ctl.status_ns == 0);
	assert_int_equal(f->ctl.log_level, CTL_DEBUG);
	assert_true(CPU_COUNT(&f->ctl.cpus) == 2);
	/* Keys not in the file keep their defaults. */
	assert_true(f->fake.period_ns == 4000000000ull);
	assert_int_equal(f->fake.small, 200);

	/* --config=FILE works too. */
	char opt[300];
	snprintf(opt, sizeof(opt), "--config=%s", path);
	assert_int_equal(LOAD(f, opt), 0);
	assert_int_equal(f->fake.baud, 2000000);
}

/* Loads a file with text; expects failure with rc and the message "<path>:<line>: <what>" (or "<path>: <what>"). */
static void expect_bad_file(struct fx *f, const char *text, int rc, int line, const char *what)
{
	const char *path = write_file(f, "bad.ini", text);
	char expect[512];
	if (line)
		snprintf(expect, sizeof(expect), "%s:%d: %s", path, line, what);
	else
		snprintf(expect, sizeof(expect), "%s: %s", path, what);
	assert_int_equal(LOAD(f, "--config", path), rc);
	assert_contains(f->err, expect);
}

static void test_bad_files(void **state)
{
	struct fx *f = *state;
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[bogus]\nkey = 1\n", -EINVAL, 3,
			"unknown section [bogus] (sections: rx, log, control)");
	/* An empty unknown section is refused as well. */
	expect_bad_file(f, "[rx]\ndev = /dev/x\n\n[bogus]\n", -EINVAL, 4, "unknown section [bogus]");
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[log]\nflush = 5\n", -EINVAL, 4,
			"[log] unknown key 'flush' (did you mean 'flush_ms'?)");
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[log]\nwhatever = 5\n", -EINVAL, 4, "[log] unknown key 'whatever'");
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[log]\n\nflush_ms = abc\n", -EINVAL, 5,
			"[log] flush_ms = abc: not a number (1..60000 ms)");
	/* Spaces around an INI value are part of the syntax (trimmed); inside it a number stays strict. */
	expect_bad_file(f, "[rx]\ndev = /dev/x\ncount = 7 7\n", -EINVAL, 3, "[rx] count = 7 7: not a number (1..1000 rows)");
	expect_bad_file(f, "[rx]\ndev = /dev/x\ncount =\n", -EINVAL, 3, "[rx] count = : empty (1..1000 rows)");
	expect_bad_file(f, "[rx]\ndev = /dev/x\nthis line has no equals sign\n", -EINVAL, 3,
			"cannot parse this line");
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[log\nflush_ms = 5\n", -EINVAL, 3, "a section line without ']'");
	expect_bad_file(f, "[rx] count = 5\ndev = /dev/x\n", -EINVAL, 1, "text after the section name [rx]");
	expect_bad_file(f, "dev = /dev/x\n[rx]\n", -EINVAL, 1, "'dev' is outside any section");
	expect_bad_file(f, "[rx]\ndev = /dev/x\n[log]\ntoken = bad\x01token\n", -EINVAL, 4,
			"[log] token = ***: contains a control character");
	assert_null(strstr(f->err, "bad\x01"));

	/* Several errors: all reported, each with its line. */
	expect_bad_file(f, "[rx]\ndev = /dev/x\ncount = 0\nlevel = 99\n", -EINVAL, 3, "[rx] count = 0: out of range");
	assert_contains(f->err, ":4: [rx] level = 99: out of range (-10..10)");

	/* A line longer than the limit, and a NUL byte. */
	char *longline = malloc(RT_CONFIG_LINE_MAX + 64);
	assert_non_null(longline);
	int n = snprintf(longline, 64, "[rx]\ndev = /dev/x\nname = ");
	memset(longline + n, 'x', RT_CONFIG_LINE_MAX);
	strcpy(longline + n + RT_CONFIG_LINE_MAX, "\n[log]\n");
	expect_bad_file(f, longline, -EINVAL, 3, "line longer than 4096 characters");
	free(longline);
	const char *path = write_file(f, "nul.ini", "");
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("[rx]\ndev = /dev/x\nname = a\0b\n", 1, 29, fp);
	fclose(fp);
	assert_int_equal(LOAD(f, "--config", path), -EINVAL);
	char expect[300];
	snprintf(expect, sizeof(expect), "%s:3: a NUL byte in the line", path);
	assert_contains(f->err, expect);
}

static void test_unreadable_files(void **state)
{
	struct fx *f = *state;
	char path[256], expect[400];
	snprintf(path, sizeof(path), "%s/missing.ini", f->dir);
	assert_int_equal(LOAD(f, "--config", path), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: cannot open the configuration file: No such file or directory", path);
	assert_contains(f->err, expect);

	assert_int_equal(LOAD(f, "--config", f->dir), -EINVAL);
	snprintf(expect, sizeof(expect), "%s: not a regular file (a directory)", f->dir);
	assert_contains(f->err, expect);

	assert_int_equal(LOAD(f, "--config", "/dev/zero"), -EINVAL);
	assert_contains(f->err, "/dev/zero: not a regular file (a character device)");

	/* Larger than 1 MiB (sparse). */
	snprintf(path, sizeof(path), "%s/big.ini", f->dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RT_CONFIG_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(LOAD(f, "--config", path), -EFBIG);
	snprintf(expect, sizeof(expect), "%s: 1048577 bytes, more than the 1048576", path);
	assert_contains(f->err, expect);

	/* Exactly 1 MiB of comments is accepted. */
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char line[1024];
	memset(line, '#', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < RT_CONFIG_FILE_MAX / 1024; i++)
		assert_int_equal(write(fd, line, sizeof(line)), (ssize_t)sizeof(line));
	close(fd);
	assert_int_equal(LOAD(f, "--config", path, "--can-dev", "/dev/x"), 0);

	/* Unreadable (skipped as root, who reads anything). */
	if (geteuid() != 0) {
		const char *p = write_file(f, "noperm.ini", "[rx]\n");
		chmod(p, 0);
		assert_int_equal(LOAD(f, "--config", p), -EACCES);
		assert_contains(f->err, "Permission denied");
	}
}

static void test_command_line_over_file(void **state)
{
	struct fx *f = *state;
	const char *path = write_file(f, "base.ini", "[rx]\ndev = /dev/file\nflag = true\ncount = 9\n[log]\nflush_ms = 500\n");
	/* The command line wins wherever it appears relative to --config. */
	assert_int_equal(LOAD(f, "--log-flush-ms", "20", "--config", path, "--can-dev", "/dev/cli", "--no-rx-flag"),
			 0);
	assert_string_equal(f->err, "");
	assert_true(f->fake.flush_ns == 20000000ull);
	assert_string_equal(f->fake.dev, "/dev/cli");
	assert_false(f->fake.flag);
	assert_int_equal(f->fake.count, 9); /* from the file */

	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-flag"), 0);
	assert_true(f->fake.flag);
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-flag", "--no-rx-flag"), 0);
	assert_false(f->fake.flag);
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-iflag=no"), 0);
	assert_int_equal(f->fake.iflag, 0);
	assert_int_equal(LOAD(f, "--can-dev=/dev/y", "--log-buffer-kb", "64", "--verbose", "--rx-cpus", "1-2"), 0);
	assert_string_equal(f->fake.dev, "/dev/y");
	assert_true(f->fake.buffer_bytes == 64 * 1024);
	assert_int_equal(f->ctl.log_level, CTL_DEBUG);
	assert_int_equal(CPU_COUNT(&f->fake.sched.cpus), 2);
}

static void test_command_line_errors(void **state)
{
	struct fx *f = *state;
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-flush-ms", "abc"), -EINVAL);
	assert_contains(f->err, "--log-flush-ms abc: not a number (1..60000 ms)");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-count", " 7"), -EINVAL);
	assert_contains(f->err, "--rx-count  7: not a number");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--baud", "9600"), -EINVAL);
	assert_contains(f->err, "--baud 9600: not a supported rate (115200, 230400, 460800, 921600 or 2000000 bit/s)");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-token", "a\tb"), -EINVAL);
	assert_contains(f->err, "--log-token ***: contains a control character");
	assert_null(strstr(f->err, "a\tb"));
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-flush", "5"), -EINVAL);
	assert_contains(f->err, "abbreviated");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-flush-mss", "5"), -EINVAL);
	assert_contains(f->err, "unknown option '--log-flush-mss' (did you mean '--log-flush-ms'?)");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-flush-ms"), -EINVAL);
	assert_contains(f->err, "option '--log-flush-ms' needs a value");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "extra"), -EINVAL);
	assert_contains(f->err, "unexpected argument 'extra'");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--", "extra"), -EINVAL);
	assert_contains(f->err, "unexpected argument 'extra'");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "-x"), -EINVAL);
	assert_contains(f->err, "unknown option '-x'");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--no-rx-flag=1"), -EINVAL);
	assert_contains(f->err, "option '--no-rx-flag' takes no value");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-flag=maybe"), -EINVAL);
	assert_contains(f->err, "--rx-flag maybe: not a boolean");
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-hidden", "1"), -EINVAL); /* file only */
	assert_contains(f->err, "unknown option '--log-hidden'");
	/* A bad file and a bad option: both reported. */
	const char *path = write_file(f, "a.ini", "[rx]\ncount = 0\n");
	assert_int_equal(LOAD(f, "--config", path, "--rx-level", "11", "--can-dev", "/dev/x"), -EINVAL);
	assert_contains(f->err, "a.ini:2: [rx] count = 0: out of range (1..1000 rows)\n--rx-level 11: out of range");
	path = write_file(f, "a.ini", "[rx]\n");
	assert_int_equal(LOAD(f, "--config", path, "--config", path), -EINVAL);
	assert_contains(f->err, "--config given twice");
}

static void test_print_config_round_trip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(LOAD(f, "--can-dev", "/dev/ttyUSB1", "--baud", "460800", "--rx-framing", "text", "--rx-flag",
			      "--no-rx-iflag", "--rx-level", "-7", "--rx-count", "999", "--rx-small", "0", "--rx-big",
			      "18446744073709551615", "--rx-ring", "128", "--rx-cpus", "0,2-3", "--rx-policy", "rr",
			      "--rx-priority", "1", "--log-flush-ms", "7", "--log-spin-us", "0", "--log-period-s", "3",
			      "--log-buffer-kb", "1048576", "--log-rotate-mb", "5", "--log-gain", "0.6", "--log-name",
			      "x y", "--out", "/o", "--log-dbc", "/d.dbc", "--control-status-s", "1", "--quiet",
			      "--print-config"),
			 RT_CONFIG_DONE);
	assert_string_equal(f->err, "");
	struct fake_conf printed = f->fake;
	struct ctl_conf printed_ctl = f->ctl;
	const char *ini = take_out(f);
	assert_contains(ini, "[rx]\n");
	assert_contains(ini, "\nflush_ms = 7\n");
	assert_contains(ini, "\ntoken = \n");
	const char *path = write_file(f, "printed.ini", ini);
	assert_int_equal(LOAD(f, "--config", path), 0);
	assert_string_equal(f->err, "");
	assert_memory_equal(&f->fake, &printed, sizeof(printed));
	assert_memory_equal(&f->ctl, &printed_ctl, sizeof(printed_ctl));
	assert_true(f->fake.gain == 0.6);
	assert_int_equal(f->ctl.log_level, CTL_WARN);

	/* A secret is masked, so it is the one value that does not come back. */
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-token", "hunter2", "--print-config"), RT_CONFIG_DONE);
	ini = take_out(f);
	assert_contains(ini, "\ntoken = ***\n");
	assert_null(strstr(ini, "hunter2"));

	/* Without the required key, print-config still prints, showing it unset. */
	assert_int_equal(load_argv(f, (const char *[]){"faked", "--print-config", NULL}), RT_CONFIG_DONE);
	ini = take_out(f);
	assert_contains(ini, "# dev =  (required: not set)\n");
}

static void test_json(void **state)
{
	struct fx *f = *state;
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--log-token", "hunter2", "--log-flush-ms", "250", "--rx-flag",
			      "--rx-cpus", "1"),
			 0);
	cJSON *o = cJSON_CreateObject();
	assert_int_equal(rt_config_to_json(o, f->binds, 2), 0);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	assert_non_null(text);
	assert_null(strstr(text, "hunter2"));
	cJSON *back = cJSON_Parse(text);
	free(text);
	assert_non_null(back);
	cJSON *log = cJSON_GetObjectItemCaseSensitive(back, "log"), *rx = cJSON_GetObjectItemCaseSensitive(back, "rx");
	cJSON *ctl = cJSON_GetObjectItemCaseSensitive(back, "control");
	assert_non_null(log);
	assert_non_null(rx);
	assert_non_null(ctl);
	cJSON *it = cJSON_GetObjectItemCaseSensitive(log, "flush_ms");
	assert_true(cJSON_IsNumber(it) && it->valuedouble == 250);
	it = cJSON_GetObjectItemCaseSensitive(log, "token");
	assert_true(cJSON_IsString(it));
	assert_string_equal(it->valuestring, "***");
	it = cJSON_GetObjectItemCaseSensitive(rx, "flag");
	assert_true(cJSON_IsTrue(it));
	it = cJSON_GetObjectItemCaseSensitive(rx, "cpus");
	assert_true(cJSON_IsString(it));
	assert_string_equal(it->valuestring, "1");
	it = cJSON_GetObjectItemCaseSensitive(rx, "framing");
	assert_string_equal(it->valuestring, "auto");
	it = cJSON_GetObjectItemCaseSensitive(rx, "big"); /* 0 */
	assert_true(cJSON_IsNumber(it) && it->valuedouble == 0);
	it = cJSON_GetObjectItemCaseSensitive(ctl, "socket");
	assert_string_equal(it->valuestring, "/run/fake.sock");
	/* Every key is there. */
	assert_int_equal(cJSON_GetArraySize(rx) + cJSON_GetArraySize(log), (int)fake_table.n_keys);
	assert_int_equal(cJSON_GetArraySize(ctl), (int)ctl_table.n_keys);
	cJSON_Delete(back);

	/* 2^64 - 1 cannot be a JSON number exactly: it is a string. */
	assert_int_equal(LOAD(f, "--can-dev", "/dev/x", "--rx-big", "18446744073709551615"), 0);
	o = cJSON_CreateObject();
	assert_int_equal(rt_config_to_json(o, f->binds, 2), 0);
	it = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "rx"), "big");
	assert_true(cJSON_IsString(it));
	assert_string_equal(it->valuestring, "18446744073709551615");
	cJSON_Delete(o);
}

static void test_help(void **state)
{
	struct fx *f = *state;
	/* The option names the rule gives: key->opt, else "<section>-<key>" with '_' as '-'. */
	static const char *const opts[] = {
		"--can-dev PATH", "--baud RATE", "--rx-framing NAME", "--rx-flag, --no-rx-flag",
		"--rx-iflag, --no-rx-iflag", "--rx-level N", "--rx-count N", "--rx-small N", "--rx-big N", "--rx-ring N",
		"--rx-cpus CPUS", "--rx-policy POLICY", "--rx-priority N", "--log-flush-ms N", "--log-spin-us N",
		"--log-period-s N", "--log-buffer-kb N", "--log-rotate-mb N", "--log-gain X", "--log-name TEXT",
		"--out PATH", "--log-dbc PATH", "--log-token SECRET", "hidden = N (file only)", "--control-socket PATH",
		"--control-status-s N", "--control-log-level NAME", "--control-cpus CPUS", "--verbose", "--quiet",
		"--config FILE", "--print-config", "--help",
	};
	assert_int_equal(load_argv(f, (const char *[]){"faked", "--help", NULL}), RT_CONFIG_DONE);
	const char *help = take_out(f);
	assert_true(strncmp(help, "usage: faked --can-dev PATH [options]\n", 38) == 0);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		assert_contains(help, opts[i]);
	for (size_t i = 0; i < fake_table.n_keys; i++)
		assert_contains(help, fake_keys[i].help);
	assert_contains(help, "(flush_ms: 1..60000 ms; default 100)");
	assert_contains(help, "(dev: 1..63 characters; required)");
	assert_contains(help, "(framing: one of auto, text, v2; default auto)");
	assert_contains(help, "(ring: a power of two, 64..16777216 records; default 65536)");
	assert_contains(help, "(priority: 1..99; default 80)");
	assert_contains(help, "[control]\n");
	/* Help is printed even with a bad option after it, and applies nothing. */
	assert_int_equal(load_argv(f, (const char *[]){"faked", "--help", "--bogus", NULL}), RT_CONFIG_DONE);
}

static struct fake_conf bad_conf;
static void bad_defaults(void *p)
{
	fake_defaults(p);
	((struct fake_conf *)p)->count = 5000; /* outside its own 1..1000 */
	((struct fake_conf *)p)->flush_ns = 1500000; /* 1.5 ms: not a whole number of ms */
}

static void test_table_errors(void **state)
{
	struct fx *f = *state;
	struct rt_config_table t = fake_table;
	struct rt_config_bind b = {.table = &t, .conf = &bad_conf};
	struct rt_config_program p = f->prog;
	p.binds = &b;
	p.n_binds = 1;
	p.aliases = NULL;
	t.defaults = bad_defaults;
	assert_int_equal(rt_config_load(&p, 3, (char **)(const char *[]){"faked", "--can-dev", "/dev/x", NULL}), -EINVAL);
	assert_contains(f->err, "configuration table error: [rx] count: the default '5000' out of range (1..1000 rows)");
	assert_contains(f->err, "configuration table error: [log] flush_ms: the default '1'");

	/* A key defined twice, a field of the wrong size, an unknown unit. */
	struct rt_config_key keys[4] = {
		{.section = "a", .key = "x", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct fake_conf, count)},
		{.section = "a", .key = "x", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct fake_conf, count)},
		{.section = "a", .key = "y", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct fake_conf, count),
		 .unit = "ms"},
		{.section = "a", .key = "z", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct fake_conf, flush_ns),
		 .unit = "minutes"},
	};
	struct rt_config_table t2 = {.name = "t2", .keys = keys, .n_keys = 4, .conf_size = sizeof(struct fake_conf)};
	b.table = &t2;
	assert_int_equal(rt_config_load(&p, 1, (char **)(const char *[]){"faked", NULL}), -EINVAL);
	assert_contains(f->err, "t2: [a] x: the key is defined twice");
	assert_contains(f->err, "t2: [a] y: field size does not fit the type");
	assert_contains(f->err, "t2: [a] z: unknown unit");

	/* Two keys with the same option name. */
	struct rt_config_key k2[2] = {
		{.section = "a", .key = "x", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct fake_conf, count), .opt = "same"},
		{.section = "a", .key = "y", .type = RT_CONFIG_UINT, RT_CONFIG_FIELD(struct fake_conf, small), .opt = "same"},
	};
	struct rt_config_table t3 = {.name = "t3", .keys = k2, .n_keys = 2, .conf_size = sizeof(struct fake_conf)};
	b.table = &t3;
	assert_int_equal(rt_config_load(&p, 1, (char **)(const char *[]){"faked", NULL}), -EINVAL);
	assert_contains(f->err, "option --same is defined twice");
}



int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool_values),
		cmocka_unit_test(test_uint_strict),
		cmocka_unit_test(test_int_values),
		cmocka_unit_test(test_durations_and_sizes),
		cmocka_unit_test(test_pow2),
		cmocka_unit_test(test_double_values),
		cmocka_unit_test(test_text_values),
		cmocka_unit_test(test_secret_never_shown),
		cmocka_unit_test(test_enum_lists_names),
		cmocka_unit_test(test_cpuset_policy_sched),
		cmocka_unit_test(test_custom_type),
		cmocka_unit_test_setup_teardown(test_defaults_and_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_line_over_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_line_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_config_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

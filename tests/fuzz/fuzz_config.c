/*
 * fuzz_config.c - the configuration loader (rt/config.h) on arbitrary INI files, and every key type's parser on
 * arbitrary text: no crash, no leak, and a value that is accepted is formatted back to text the parser reads to the
 * same value.  The input is written to a memfd (a regular file) and loaded through /proc/self/fd.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt/config.h"

struct fz_conf {
	bool flag;
	int level;
	unsigned count;
	size_t ring;
	uint64_t flush_ns;
	size_t buffer_bytes;
	double gain;
	char name[16];
	char out[128];
	char token[32];
	int mode;
	struct rt_sched_conf sched;
};

static const struct rt_config_choice fz_modes[] = {{"a", 1}, {"bb", 2}, {"ccc", 3}, {NULL, 0}};

#define F(m) RT_CONFIG_FIELD(struct fz_conf, m)
static const struct rt_config_key fz_keys[] = {
	{.section = "s", .key = "flag", .type = RT_CONFIG_BOOL, F(flag)},
	{.section = "s", .key = "level", .type = RT_CONFIG_INT, F(level), .imin = -5, .imax = 5},
	{.section = "s", .key = "count", .type = RT_CONFIG_UINT, F(count), .umin = 1, .umax = 1000},
	{.section = "s", .key = "ring", .type = RT_CONFIG_UINT, F(ring), .umin = 64, .umax = 1u << 24,
	 .flags = RT_CONFIG_POW2},
	{.section = "t", .key = "flush_ms", .type = RT_CONFIG_DURATION, F(flush_ns), .umin = 1, .umax = 60000,
	 .unit = "ms"},
	{.section = "t", .key = "buffer_kb", .type = RT_CONFIG_SIZE, F(buffer_bytes), .umax = 1048576, .unit = "KiB"},
	{.section = "t", .key = "gain", .type = RT_CONFIG_DOUBLE, F(gain), .dmin = -1e6, .dmax = 1e6},
	{.section = "t", .key = "name", .type = RT_CONFIG_STRING, F(name)},
	{.section = "t", .key = "out", .type = RT_CONFIG_PATH, F(out), .flags = RT_CONFIG_EMPTY_OK},
	{.section = "t", .key = "token", .type = RT_CONFIG_SECRET, F(token), .flags = RT_CONFIG_EMPTY_OK},
	{.section = "t", .key = "mode", .type = RT_CONFIG_ENUM, F(mode), .choices = fz_modes},
	RT_CONFIG_SCHED_KEYS("u", struct fz_conf, sched),
};
#undef F

static void fz_defaults(void *p)
{
	struct fz_conf *c = p;
	c->count = 1;
	c->ring = 64;
	c->flush_ns = 1000000;
	c->mode = 1;
	strcpy(c->name, "x");
	rt_sched_conf_init(&c->sched, SCHED_OTHER, 1);
}

static const struct rt_config_table fz_table = {
	.name = "fuzz", .keys = fz_keys, .n_keys = sizeof(fz_keys) / sizeof(fz_keys[0]),
	.conf_size = sizeof(struct fz_conf), .defaults = fz_defaults,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static char err[4096];
	static struct fz_conf conf, back;
	if (fd < 0) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	struct rt_config_bind b = {.table = &fz_table, .conf = &conf};
	struct rt_config_program p = {.name = "fuzz", .binds = &b, .n_binds = 1, .errbuf = err, .errbuf_size = sizeof(err)};
	char *argv[] = {"fuzz", "--config", path, NULL};
	int rc = rt_config_load(&p, 3, argv);
	if (rc != 0 && rc != -EINVAL && rc != -EFBIG)
		abort();

	/* Every key's parser on the input as one value; accepted values format back to the same value. */
	char text[256];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	for (size_t i = 0; i < fz_table.n_keys; i++) {
		const struct rt_config_key *k = &fz_keys[i];
		char why[256], out[256];
		memset(&conf, 0, sizeof(conf));
		fz_defaults(&conf);
		if (rt_config_parse_value(k, &conf, text, why, sizeof(why)) != 0)
			continue;
		int len = rt_config_format_value(k, &conf, false, out, sizeof(out));
		if (len < 0 || (size_t)len >= sizeof(out))
			abort();
		memset(&back, 0, sizeof(back));
		fz_defaults(&back);
		if (rt_config_parse_value(k, &back, out, why, sizeof(why)) != 0)
			abort();
		char again[256];
		rt_config_format_value(k, &back, false, again, sizeof(again));
		if (strcmp(out, again) != 0)
			abort();
	}
	return 0;
}

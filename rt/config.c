/*
 * config.c - configuration values: the strict parsers and the formatter every output shares (--print-config,
 * --help defaults, JSON), per key type.  The loader (INI file, command line, help) is config_load.c.
 *
 * Parsing goes through a local value first and writes the field only when the whole text was accepted, so a refused
 * value leaves the configuration untouched.  The formatter writes exactly what the parser reads back: --print-config
 * re-loads to the same values, and the loader checks that every default does (a table whose default cannot be
 * written in its unit is a program bug found at start).
 */
#include "rt/config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "rt/config_internal.h"
#include "rt/thread.h"

/* ---- strict decimal numbers ---- */

int rt_config_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int rt_config_parse_s64(const char *s, int64_t *out)
{
	if (s == NULL)
		return -EINVAL;
	bool neg = *s == '-';
	uint64_t mag;
	int rc = rt_config_parse_u64(s + neg, &mag);
	if (rc)
		return rc;
	if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
	return 0;
}

/* ---- fields ---- */

static void *config__field(void *conf, const struct rt_config_key *k)
{
	return (char *)conf + k->offset;
}

static const void *config__cfield(const void *conf, const struct rt_config_key *k)
{
	return (const char *)conf + k->offset;
}

uint64_t config__load_u(const void *f, size_t size)
{
	switch (size) {
	case 1: { uint8_t v; memcpy(&v, f, 1); return v; }
	case 2: { uint16_t v; memcpy(&v, f, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, f, 4); return v; }
	default: { uint64_t v; memcpy(&v, f, 8); return v; }
	}
}

static void config__store_u(void *f, size_t size, uint64_t v)
{
	switch (size) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(f, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(f, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(f, &x, 4); break; }
	default: memcpy(f, &v, 8); break;
	}
}

int64_t config__load_i(const void *f, size_t size)
{
	switch (size) {
	case 1: { int8_t v; memcpy(&v, f, 1); return v; }
	case 2: { int16_t v; memcpy(&v, f, 2); return v; }
	case 4: { int32_t v; memcpy(&v, f, 4); return v; }
	default: { int64_t v; memcpy(&v, f, 8); return v; }
	}
}

static void config__store_i(void *f, size_t size, int64_t v)
{
	switch (size) {
	case 1: { int8_t x = (int8_t)v; memcpy(f, &x, 1); break; }
	case 2: { int16_t x = (int16_t)v; memcpy(f, &x, 2); break; }
	case 4: { int32_t x = (int32_t)v; memcpy(f, &x, 4); break; }
	default: memcpy(f, &v, 8); break;
	}
}

static uint64_t config__umax_of(size_t size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

/* The multiplier from the key's unit to the stored unit (ns, bytes); 0 for an unknown unit. */
uint64_t config__unit_mult(const struct rt_config_key *k)
{
	static const struct { const char *name; uint64_t mult; } durations[] = {
		{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000},
	}, sizes[] = {
		{"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024},
	};
	if (k->type != RT_CONFIG_DURATION && k->type != RT_CONFIG_SIZE)
		return 1;
	const bool dur = k->type == RT_CONFIG_DURATION;
	for (size_t i = 0; i < 4; i++) {
		const char *name = dur ? durations[i].name : sizes[i].name;
		if (k->unit && strcmp(k->unit, name) == 0)
			return dur ? durations[i].mult : sizes[i].mult;
	}
	return 0;
}

/* The accepted range of an UINT, DURATION or SIZE key, in the key's unit. */
void config__urange(const struct rt_config_key *k, uint64_t *lo, uint64_t *hi)
{
	uint64_t mult = config__unit_mult(k);
	*lo = k->umin;
	*hi = k->umin == 0 && k->umax == 0 ? config__umax_of(k->size) / (mult ? mult : 1) : k->umax;
}

void config__irange(const struct rt_config_key *k, int64_t *lo, int64_t *hi)
{
	if (k->imin == 0 && k->imax == 0) {
		*hi = k->size >= 8 ? INT64_MAX : (INT64_C(1) << (8 * k->size - 1)) - 1;
		*lo = -*hi - 1;
	} else {
		*lo = k->imin;
		*hi = k->imax;
	}
}

/* The longest text a STRING, PATH or SECRET key accepts. */
size_t config__strmax(const struct rt_config_key *k)
{
	size_t cap = k->size ? k->size - 1 : 0;
	return k->umax && k->umax < cap ? (size_t)k->umax : cap;
}

bool config__is_text(enum rt_config_type t)
{
	return t == RT_CONFIG_STRING || t == RT_CONFIG_PATH || t == RT_CONFIG_SECRET;
}

/* ---- what a key accepts ---- */

/* Appends to buf (size bytes, terminated) like snprintf at *len. */
static void config__cat(char *buf, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void config__cat(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	if (*len >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

void config__expects(const struct rt_config_key *k, char *buf, size_t size)
{
	size_t len = 0;
	const char *unit = k->unit && *k->unit ? k->unit : NULL;
	buf[0] = '\0';
	switch (k->type) {
	case RT_CONFIG_BOOL:
		config__cat(buf, size, &len, "true or false");
		return;
	case RT_CONFIG_INT: {
		int64_t lo, hi;
		config__irange(k, &lo, &hi);
		config__cat(buf, size, &len, "%" PRId64 "..%" PRId64, lo, hi);
		break;
	}
	case RT_CONFIG_UINT:
	case RT_CONFIG_DURATION:
	case RT_CONFIG_SIZE: {
		uint64_t lo, hi;
		config__urange(k, &lo, &hi);
		config__cat(buf, size, &len, "%s%" PRIu64 "..%" PRIu64, k->flags & RT_CONFIG_POW2 ? "a power of two, " : "",
			    lo, hi);
		break;
	}
	case RT_CONFIG_DOUBLE:
		if (k->dmin == 0 && k->dmax == 0)
			config__cat(buf, size, &len, "a decimal number");
		else
			config__cat(buf, size, &len, "%g..%g", k->dmin, k->dmax);
		break;
	case RT_CONFIG_STRING:
	case RT_CONFIG_PATH:
	case RT_CONFIG_SECRET:
		config__cat(buf, size, &len, "%s..%zu characters", k->flags & RT_CONFIG_EMPTY_OK ? "0" : "1",
			    config__strmax(k));
		return;
	case RT_CONFIG_ENUM:
		config__cat(buf, size, &len, "one of");
		for (const struct rt_config_choice *c = k->choices; c && c->name; c++)
			config__cat(buf, size, &len, "%s %s", c == k->choices ? "" : ",", c->name);
		return;
	case RT_CONFIG_CPUSET:
		config__cat(buf, size, &len, "a CPU list such as 1, 0-1 or 0,2-3; empty: not pinned");
		return;
	case RT_CONFIG_POLICY:
		config__cat(buf, size, &len, "fifo, rr or other");
		return;
	case RT_CONFIG_CUSTOM:
		config__cat(buf, size, &len, "%s", k->custom && k->custom->expects ? k->custom->expects : "see --help");
		break;
	}
	if (unit)
		config__cat(buf, size, &len, " %s", unit);
}

/* ---- parsing ---- */

static const char *config__number_why(const char *text, int rc, bool is_unsigned)
{
	if (*text == '\0')
		return "empty";
	if (text[0] == ' ' || text[0] == '\t' || text[strlen(text) - 1] == ' ' || text[strlen(text) - 1] == '\t')
		return "not a number (spaces)";
	if (is_unsigned && (text[0] == '-' || text[0] == '+'))
		return "a sign is not allowed";
	return rc == -ERANGE ? "out of range" : "not a number";
}

static int config__parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int config__parse_double(const char *s, double *out)
{
	if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

/* Why text is not acceptable for a STRING/PATH/SECRET key, or NULL. */
static const char *config__text_why(const struct rt_config_key *k, const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return k->flags & RT_CONFIG_EMPTY_OK ? NULL : "empty";
	if (n > config__strmax(k))
		return "too long";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	if (s[0] == ' ' || s[n - 1] == ' ')
		return "starts or ends with a space";
	if (s[0] == ';' || strstr(s, " ;"))
		return "contains an INI comment (\";\" first or after a space)";
	return NULL;
}

int rt_config_parse_value(const struct rt_config_key *k, void *conf, const char *text, char *why, size_t why_size)
{
	void *f = config__field(conf, k);
	const char *reason = NULL;
	int rc;

	if (text == NULL)
		text = "";
	switch (k->type) {
	case RT_CONFIG_BOOL: {
		bool v;
		if (config__parse_bool(text, &v)) {
			reason = "not a boolean";
			break;
		}
		if (k->size == sizeof(bool))
			memcpy(f, &v, sizeof(v));
		else
			config__store_i(f, k->size, v);
		break;
	}
	case RT_CONFIG_INT: {
		int64_t v, lo, hi;
		config__irange(k, &lo, &hi);
		if ((rc = rt_config_parse_s64(text, &v))) {
			reason = config__number_why(text, rc, false);
			break;
		}
		if (v < lo || v > hi) {
			reason = "out of range";
			break;
		}
		config__store_i(f, k->size, v);
		break;
	}
	case RT_CONFIG_UINT:
	case RT_CONFIG_DURATION:
	case RT_CONFIG_SIZE: {
		uint64_t v, lo, hi, mult = config__unit_mult(k);
		config__urange(k, &lo, &hi);
		if ((rc = rt_config_parse_u64(text, &v))) {
			reason = config__number_why(text, rc, true);
			break;
		}
		if (v < lo || v > hi) {
			reason = "out of range";
			break;
		}
		if ((k->flags & RT_CONFIG_POW2) && (v == 0 || (v & (v - 1)))) {
			reason = "not a power of two";
			break;
		}
		config__store_u(f, k->size, v * mult); /* hi * mult fits: checked with the table */
		break;
	}
	case RT_CONFIG_DOUBLE: {
		double v;
		if ((rc = config__parse_double(text, &v))) {
			reason = config__number_why(text, rc, false);
			break;
		}
		if (!(k->dmin == 0 && k->dmax == 0) && (v < k->dmin || v > k->dmax)) {
			reason = "out of range";
			break;
		}
		memcpy(f, &v, sizeof(v));
		break;
	}
	case RT_CONFIG_STRING:
	case RT_CONFIG_PATH:
	case RT_CONFIG_SECRET:
		if ((reason = config__text_why(k, text)) == NULL)
			memcpy(f, text, strlen(text) + 1);
		break;
	case RT_CONFIG_ENUM: {
		const struct rt_config_choice *c = k->choices;
		while (c && c->name && strcmp(c->name, text) != 0)
			c++;
		if (c == NULL || c->name == NULL) {
			reason = *text ? "unknown name" : "empty";
			break;
		}
		memcpy(f, &c->value, sizeof(int));
		break;
	}
	case RT_CONFIG_CPUSET: {
		cpu_set_t set;
		CPU_ZERO(&set);
		if (*text && rt_cpuset_parse(text, &set)) {
			reason = "not a CPU list";
			break;
		}
		memcpy(f, &set, sizeof(set));
		break;
	}
	case RT_CONFIG_POLICY: {
		int policy;
		if (rt_policy_parse(text, &policy)) {
			reason = *text ? "unknown policy" : "empty";
			break;
		}
		memcpy(f, &policy, sizeof(policy));
		break;
	}
	case RT_CONFIG_CUSTOM:
		if (k->custom == NULL || k->custom->parse == NULL) {
			reason = "no parser (table error)";
			break;
		}
		if (k->custom->parse(k, text, f, &reason) != 0 && reason == NULL)
			reason = "not accepted";
		break;
	}
	if (reason == NULL)
		return 0;
	if (why && why_size) {
		char expects[256];
		config__expects(k, expects, sizeof(expects));
		snprintf(why, why_size, "%s (%s)", reason, expects);
	}
	return -EINVAL;
}

/* ---- formatting ---- */

static int config__format_cpuset(const cpu_set_t *set, char *buf, size_t size)
{
	size_t len = 0;
	bool first = true;
	if (size)
		buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int hi = c;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, set))
			hi++;
		int n = hi == c ? snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%d", first ? "" : ",", c)
				: snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%d-%d", first ? "" : ",", c, hi);
		len += (size_t)n;
		first = false;
		c = hi;
	}
	return (int)len;
}

/* The shortest of %.15g, %.16g, %.17g that reads back exactly. */
static int config__format_double(double v, char *buf, size_t size)
{
	char tmp[64];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return snprintf(buf, size, "%s", tmp);
}

int rt_config_format_value(const struct rt_config_key *k, const void *conf, bool mask, char *buf, size_t size)
{
	const void *f = config__cfield(conf, k);
	char dummy[1];
	if (buf == NULL || size == 0) {
		buf = dummy;
		size = sizeof(dummy);
	}
	switch (k->type) {
	case RT_CONFIG_BOOL: {
		bool v;
		if (k->size == sizeof(bool))
			memcpy(&v, f, sizeof(v));
		else
			v = config__load_i(f, k->size) != 0;
		return snprintf(buf, size, "%s", v ? "true" : "false");
	}
	case RT_CONFIG_INT:
		return snprintf(buf, size, "%" PRId64, config__load_i(f, k->size));
	case RT_CONFIG_UINT:
	case RT_CONFIG_DURATION:
	case RT_CONFIG_SIZE: {
		uint64_t v = config__load_u(f, k->size), mult = config__unit_mult(k);
		if (mult == 0)
			return -EDOM;
		int n = snprintf(buf, size, "%" PRIu64, v / mult);
		return v % mult ? -EDOM : n;
	}
	case RT_CONFIG_DOUBLE: {
		double v;
		memcpy(&v, f, sizeof(v));
		return config__format_double(v, buf, size);
	}
	case RT_CONFIG_STRING:
	case RT_CONFIG_PATH:
		return snprintf(buf, size, "%.*s", (int)(k->size ? k->size - 1 : 0), (const char *)f);
	case RT_CONFIG_SECRET:
		if (mask && *(const char *)f)
			return snprintf(buf, size, "***");
		return snprintf(buf, size, "%.*s", (int)(k->size ? k->size - 1 : 0), (const char *)f);
	case RT_CONFIG_ENUM: {
		int v;
		memcpy(&v, f, sizeof(v));
		for (const struct rt_config_choice *c = k->choices; c && c->name; c++)
			if (c->value == v)
				return snprintf(buf, size, "%s", c->name);
		snprintf(buf, size, "%d", v);
		return -EDOM;
	}
	case RT_CONFIG_CPUSET: {
		cpu_set_t set;
		memcpy(&set, f, sizeof(set));
		return config__format_cpuset(&set, buf, size);
	}
	case RT_CONFIG_POLICY: {
		int v;
		memcpy(&v, f, sizeof(v));
		const char *name = v == SCHED_FIFO ? "fifo" : v == SCHED_RR ? "rr" : v == SCHED_OTHER ? "other" : NULL;
		if (name == NULL) {
			snprintf(buf, size, "%d", v);
			return -EDOM;
		}
		return snprintf(buf, size, "%s", name);
	}
	case RT_CONFIG_CUSTOM:
		if (k->custom == NULL || k->custom->format == NULL)
			return -EDOM;
		return k->custom->format(k, f, buf, size);
	}
	return -EDOM;
}

bool config__equal(const struct rt_config_key *k, const void *a, const void *b)
{
	const void *fa = config__cfield(a, k), *fb = config__cfield(b, k);
	switch (k->type) {
	case RT_CONFIG_BOOL:
		if (k->size == sizeof(bool))
			return *(const bool *)fa == *(const bool *)fb;
		return (config__load_i(fa, k->size) != 0) == (config__load_i(fb, k->size) != 0);
	case RT_CONFIG_DOUBLE: {
		double x, y;
		memcpy(&x, fa, sizeof(x));
		memcpy(&y, fb, sizeof(y));
		return x == y;
	}
	case RT_CONFIG_STRING:
	case RT_CONFIG_PATH:
	case RT_CONFIG_SECRET:
		return strncmp(fa, fb, k->size) == 0;
	case RT_CONFIG_CPUSET:
		return CPU_EQUAL((const cpu_set_t *)fa, (const cpu_set_t *)fb);
	default:
		return memcmp(fa, fb, k->size) == 0;
	}
}

/* ---- whole configurations ---- */

/* Calls fn(section) once per section, in the order sections first appear. */
void config__each_section(const struct rt_config_bind *binds, size_t n, void (*fn)(const char *section, void *arg),
			  void *arg)
{
	for (size_t b = 0; b < n; b++) {
		const struct rt_config_table *t = binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const char *sec = t->keys[i].section;
			bool seen = false;
			for (size_t b2 = 0; b2 <= b && !seen; b2++) {
				const struct rt_config_table *t2 = binds[b2].table;
				size_t end = b2 == b ? i : t2->n_keys;
				for (size_t j = 0; j < end && !seen; j++)
					seen = strcmp(t2->keys[j].section, sec) == 0;
			}
			if (!seen)
				fn(sec, arg);
		}
	}
}

struct config__ini_ctx {
	FILE *f;
	const struct rt_config_bind *binds;
	size_t n;
	int rc;
};

static void config__ini_section(const char *section, void *arg)
{
	struct config__ini_ctx *c = arg;
	char value[RT_CONFIG_LINE_MAX + 1], expects[256];
	fprintf(c->f, "\n[%s]\n", section);
	for (size_t b = 0; b < c->n; b++) {
		const struct rt_config_table *t = c->binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			if (strcmp(k->section, section) != 0)
				continue;
			config__expects(k, expects, sizeof(expects));
			fprintf(c->f, "# %s (%s)\n", k->help ? k->help : "", expects);
			if (rt_config_format_value(k, c->binds[b].conf, true, value, sizeof(value)) < 0)
				c->rc = -EDOM;
			if ((k->flags & RT_CONFIG_REQUIRED) && config__is_text(k->type) && value[0] == '\0')
				fprintf(c->f, "# %s =  (required: not set)\n", k->key);
			else
				fprintf(c->f, "%s = %s\n", k->key, value);
		}
	}
}

int rt_config_print_ini(FILE *f, const struct rt_config_bind *binds, size_t n_binds)
{
	struct config__ini_ctx c = {.f = f, .binds = binds, .n = n_binds, .rc = 0};
	fprintf(f, "# Effective configuration: every key with its value (secrets shown as ***).\n");
	config__each_section(binds, n_binds, config__ini_section, &c);
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return c.rc;
}

int rt_config_to_json(struct cJSON *obj, const struct rt_config_bind *binds, size_t n_binds)
{
	char value[RT_CONFIG_LINE_MAX + 1];
	const double exact = 9007199254740992.0; /* 2^53: larger integers are written as strings */
	if (obj == NULL || !cJSON_IsObject(obj))
		return -EINVAL;
	for (size_t b = 0; b < n_binds; b++) {
		const struct rt_config_table *t = binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			const void *f = config__cfield(binds[b].conf, k);
			cJSON *sec = cJSON_GetObjectItemCaseSensitive(obj, k->section);
			if (sec == NULL && (sec = cJSON_AddObjectToObject(obj, k->section)) == NULL)
				return -ENOMEM;
			cJSON_DeleteItemFromObjectCaseSensitive(sec, k->key); /* a key listed twice: one entry */
			rt_config_format_value(k, binds[b].conf, true, value, sizeof(value));
			cJSON *item = NULL;
			switch (k->type) {
			case RT_CONFIG_BOOL:
				item = cJSON_AddBoolToObject(sec, k->key, strcmp(value, "true") == 0);
				break;
			case RT_CONFIG_INT: {
				int64_t v = config__load_i(f, k->size);
				if ((double)v < exact && (double)v > -exact)
					item = cJSON_AddNumberToObject(sec, k->key, (double)v);
				break;
			}
			case RT_CONFIG_UINT:
			case RT_CONFIG_DURATION:
			case RT_CONFIG_SIZE: {
				uint64_t mult = config__unit_mult(k), v = config__load_u(f, k->size) / (mult ? mult : 1);
				if ((double)v < exact)
					item = cJSON_AddNumberToObject(sec, k->key, (double)v);
				break;
			}
			case RT_CONFIG_DOUBLE: {
				double v;
				memcpy(&v, f, sizeof(v));
				item = cJSON_AddNumberToObject(sec, k->key, v);
				break;
			}
			default:
				break;
			}
			if (item == NULL && (item = cJSON_AddStringToObject(sec, k->key, value)) == NULL)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- scheduling sections ---- */

void rt_sched_conf_init(struct rt_sched_conf *s, int policy, int priority)
{
	memset(s, 0, sizeof(*s));
	CPU_ZERO(&s->cpus);
	s->policy = policy;
	s->priority = priority;
}

void rt_sched_conf_to_thread(const struct rt_sched_conf *s, struct rt_thread_conf *t)
{
	t->cpus = s->cpus;
	t->policy = s->policy;
	t->priority = s->policy == SCHED_OTHER ? 0 : s->priority;
}

/*
 * render.c - v2xctl's human output: tables for status, stats and state, an INI-like listing for config, indented
 * "key: value" lines for anything else.  The shapes read here are those of rt/control.h and rt/registry.h; a field
 * that is missing prints as "-" rather than failing, so an older or newer daemon still gets a readable answer.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "programs/v2xctl/v2xctl.h"

static const cJSON *render__get(const cJSON *o, const char *key)
{
	return o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* A number or string field with a default (also keeps the compiler's null-dereference analysis satisfied). */
static double render__dbl(const cJSON *v, double dflt)
{
	return v && cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *render__str(const cJSON *v, const char *dflt)
{
	return v && cJSON_IsString(v) ? v->valuestring : dflt;
}

static const char *render__type(const cJSON *metric)
{
	const cJSON *t = render__get(metric, "type");
	return render__str(t, "");
}

/* A JSON number as an integer when it is one, else with up to 3 significant decimals; "-" when not a number. */
static void render__num(const cJSON *v, char *buf, size_t size)
{
	if (!cJSON_IsNumber(v)) {
		snprintf(buf, size, "-");
		return;
	}
	double d = v->valuedouble;
	if (d == floor(d) && fabs(d) < 1e15)
		snprintf(buf, size, "%.0f", d);
	else
		snprintf(buf, size, "%.4g", d);
}

/* Any scalar as text (strings unquoted); objects and arrays printed as compact JSON. */
static void render__scalar(const cJSON *v, char *buf, size_t size)
{
	if (cJSON_IsNumber(v))
		render__num(v, buf, size);
	else if (cJSON_IsString(v))
		snprintf(buf, size, "%s", v->valuestring);
	else if (cJSON_IsTrue(v))
		snprintf(buf, size, "true");
	else if (cJSON_IsFalse(v))
		snprintf(buf, size, "false");
	else if (!v || cJSON_IsNull(v))
		snprintf(buf, size, "-");
	else {
		char *t = cJSON_PrintUnformatted(v);
		snprintf(buf, size, "%s", t ? t : "?");
		cJSON_free(t);
	}
}

static void render__field(const cJSON *o, const char *key, char *buf, size_t size)
{
	render__scalar(render__get(o, key), buf, size);
}

void v2xctl_format_duration(double secs, char *buf, size_t size)
{
	if (!(secs >= 0)) {
		snprintf(buf, size, "-");
		return;
	}
	if (secs < 60) {
		snprintf(buf, size, "%.1fs", secs);
		return;
	}
	unsigned long long s = (unsigned long long)secs;
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	if (d)
		snprintf(buf, size, "%llud%02lluh%02llum%02llus", d, h, m, s % 60);
	else if (h)
		snprintf(buf, size, "%lluh%02llum%02llus", h, m, s % 60);
	else
		snprintf(buf, size, "%llum%02llus", m, s % 60);
}

static void render__header(FILE *out, const cJSON *result)
{
	char up[32], pid[32];
	const cJSON *prog = render__get(result, "program");
	const cJSON *upv = render__get(result, "uptime_s");
	v2xctl_format_duration(render__dbl(upv, -1), up, sizeof(up));
	render__field(result, "pid", pid, sizeof(pid));
	fprintf(out, "%s  pid %s  up %s\n", render__str(prog, "?"), pid, up);
}

void v2xctl_render_ping(FILE *out, const cJSON *result)
{
	fputs("pong: ", out);
	render__header(out, result);
}

/* The drops of a "counters" metric as "reason=n ..." (non-zero only), or "-". */
static void render__drops(const cJSON *metric, char *buf, size_t size)
{
	size_t len = 0;
	const cJSON *r;
	buf[0] = '\0';
	cJSON_ArrayForEach(r, render__get(metric, "drops"))
	{
		if (!cJSON_IsNumber(r) || r->valuedouble == 0 || len >= size)
			continue;
		char n[32];
		render__num(r, n, sizeof(n));
		int w = snprintf(buf + len, size - len, "%s%s=%s", len ? " " : "", r->string, n);
		if (w > 0)
			len += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

void v2xctl_render_status(FILE *out, const cJSON *result)
{
	const cJSON *stages = render__get(result, "stages");
	const cJSON *g, *m;
	char a[32], b[32], c[32], d[32], e[32], name[96], drops[512];
	int any;

	render__header(out, result);

	any = 0;
	cJSON_ArrayForEach(g, stages) cJSON_ArrayForEach(m, g)
	{
		if (strcmp(render__type(m), "counters") != 0)
			continue;
		if (!any++)
			fprintf(out, "\n%-22s %12s %12s %10s %10s  %s\n", "STAGE", "IN", "OUT", "RATE/s", "DROPPED",
				"DROPS BY REASON");
		if (strcmp(m->string, "records") == 0)
			snprintf(name, sizeof(name), "%s", g->string);
		else
			snprintf(name, sizeof(name), "%s/%s", g->string, m->string);
		render__field(m, "in", a, sizeof(a));
		render__field(m, "out", b, sizeof(b));
		const cJSON *rate = render__get(m, "in_rate");
		snprintf(c, sizeof(c), "%.0f", render__dbl(rate, 0.0));
		render__field(m, "dropped", d, sizeof(d));
		render__drops(m, drops, sizeof(drops));
		fprintf(out, "%-22s %12s %12s %10s %10s  %s\n", name, a, b, c, d, drops);
	}

	any = 0;
	cJSON_ArrayForEach(g, stages) cJSON_ArrayForEach(m, g)
	{
		if (strcmp(render__type(m), "ring") != 0)
			continue;
		if (!any++)
			fprintf(out, "\n%-24s %-14s %10s %10s %7s %10s %10s\n", "RING", "STAGE", "FILL", "CAPACITY",
				"FILL%", "HIGH-WATER", "FULL-DROPS");
		const cJSON *fill = render__get(m, "fill"), *cap = render__get(m, "capacity");
		render__field(m, "fill", a, sizeof(a));
		render__field(m, "capacity", b, sizeof(b));
		if (cJSON_IsNumber(fill) && render__dbl(cap, 0) > 0)
			snprintf(c, sizeof(c), "%.1f%%", 100.0 * fill->valuedouble / cap->valuedouble);
		else
			snprintf(c, sizeof(c), "-");
		render__field(m, "high_water", d, sizeof(d));
		render__field(m, "full_drops", e, sizeof(e));
		fprintf(out, "%-24s %-14s %10s %10s %7s %10s %10s\n", m->string, g->string, a, b, c, d, e);
	}

	/* Everything else (links, disk, single counters): per stage, wrapped at about 100 columns. */
	any = 0;
	cJSON_ArrayForEach(g, stages)
	{
		int n = 0, col = 0;
		cJSON_ArrayForEach(m, g)
		{
			const char *t = render__type(m);
			if (strcmp(t, "counters") == 0 || strcmp(t, "ring") == 0 || strcmp(t, "histogram") == 0)
				continue;
			if (!any++)
				fputc('\n', out);
			if (!n++)
				col = fprintf(out, "%-12s", g->string);
			char item[256], rate_text[40] = "";
			const char *unit = render__str(render__get(m, "unit"), "");
			const cJSON *rate = render__get(m, "rate");
			render__field(m, "value", a, sizeof(a));
			if (render__dbl(rate, 0) > 0)
				snprintf(rate_text, sizeof(rate_text), " (%.0f/s)", render__dbl(rate, 0));
			int len = snprintf(item, sizeof(item), "  %s %s%s%s%s", m->string, a, unit[0] ? " " : "", unit,
					   rate_text);
			if (col > 12 && col + len > 100)
				col = fprintf(out, "\n%-12s", "") - 1;
			fputs(item, out);
			col += len;
		}
		if (n)
			fputc('\n', out);
	}
}

void v2xctl_render_stats(FILE *out, const cJSON *result)
{
	static const char *const cols[] = {"count", "min", "p50", "p90", "p99", "p999", "max"};
	const cJSON *g, *m;
	char name[96], v[32];
	int any = 0;

	cJSON_ArrayForEach(g, render__get(result, "histograms")) cJSON_ArrayForEach(m, g)
	{
		if (!any++)
			fprintf(out, "%-32s %-5s %10s %10s %10s %10s %10s %10s %10s\n", "HISTOGRAM", "UNIT", "COUNT", "MIN",
				"P50", "P90", "P99", "P99.9", "MAX");
		snprintf(name, sizeof(name), "%s/%s", g->string, m->string);
		const cJSON *unit = render__get(m, "unit");
		fprintf(out, "%-32s %-5s", name, (render__str(unit, "")[0] ? render__str(unit, "") : "-"));
		bool empty = render__dbl(render__get(m, "count"), 0) == 0;
		for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
			if (empty && i > 0) /* no sample: no percentile, rather than zeros that read as measurements */
				snprintf(v, sizeof(v), "-");
			else
				render__field(m, cols[i], v, sizeof(v));
			fprintf(out, " %10s", v);
		}
		const cJSON *ovf = render__get(m, "overflow");
		if (render__dbl(ovf, 0) > 0)
			fprintf(out, "  (%.0f over range)", ovf->valuedouble);
		fputc('\n', out);
	}
	if (!any)
		fprintf(out, "no histograms\n");
}

/* One signal row; sig is {"value":..,"unit":..,"age_ms":..|"age_s":..} (name from key or "name"). */
static void render__signal(FILE *out, const char *key, const cJSON *sig)
{
	char value[64], age[32];
	const cJSON *nm = render__get(sig, "name"), *unit = render__get(sig, "unit");
	const cJSON *age_ms = render__get(sig, "age_ms"), *age_s = render__get(sig, "age_s");
	const char *name = key ? key : render__str(nm, "?");

	if (cJSON_IsObject(sig))
		render__field(sig, "value", value, sizeof(value));
	else
		render__scalar(sig, value, sizeof(value));
	if (cJSON_IsNumber(age_ms))
		v2xctl_format_duration(age_ms->valuedouble / 1000.0, age, sizeof(age));
	else if (cJSON_IsNumber(age_s))
		v2xctl_format_duration(age_s->valuedouble, age, sizeof(age));
	else
		snprintf(age, sizeof(age), "-");
	fprintf(out, "%-28s %14s %-8s %10s\n", name, value,
		(render__str(unit, "")[0] ? render__str(unit, "") : "-"), age);
}

static void render__tree(FILE *out, const cJSON *o, int depth);

void v2xctl_render_state(FILE *out, const cJSON *result)
{
	const cJSON *signals = render__get(result, "signals"), *it;
	int rows = 0;

	if (cJSON_IsObject(signals) || cJSON_IsArray(signals)) {
		fprintf(out, "%-28s %14s %-8s %10s\n", "SIGNAL", "VALUE", "UNIT", "AGE");
		cJSON_ArrayForEach(it, signals)
		{
			render__signal(out, cJSON_IsObject(signals) ? it->string : NULL, it);
			rows++;
		}
		if (!rows)
			fprintf(out, "(no signal received yet)\n");
	}
	/* The rest (GPS fix, links, publication time) as key: value lines. */
	int other = 0;
	cJSON_ArrayForEach(it, result)
	{
		if (it == signals)
			continue;
		if (!other++ && rows)
			fputc('\n', out);
		if (cJSON_IsObject(it)) {
			fprintf(out, "%s:\n", it->string);
			render__tree(out, it, 1);
		} else {
			char v[256];
			render__scalar(it, v, sizeof(v));
			fprintf(out, "%s: %s\n", it->string, v);
		}
	}
}

/* config: top-level scalars first as key = value, then each object as [section]; deeper levels as dotted keys. */
static void render__ini_keys(FILE *out, const cJSON *o, const char *prefix)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		char key[256];
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", it->string ? it->string : "?");
		if (cJSON_IsObject(it)) {
			render__ini_keys(out, it, key);
		} else {
			char v[1024];
			render__scalar(it, v, sizeof(v));
			fprintf(out, "%s = %s\n", key, v);
		}
	}
}

void v2xctl_render_config(FILE *out, const cJSON *result)
{
	const cJSON *it;
	int printed = 0;
	cJSON_ArrayForEach(it, result)
	{
		if (!cJSON_IsObject(it)) {
			char v[1024];
			render__scalar(it, v, sizeof(v));
			fprintf(out, "%s = %s\n", it->string, v);
			printed++;
		}
	}
	cJSON_ArrayForEach(it, result)
	{
		if (cJSON_IsObject(it)) {
			fprintf(out, "%s[%s]\n", printed++ ? "\n" : "", it->string);
			render__ini_keys(out, it, "");
		}
	}
}

void v2xctl_render_help(FILE *out, const cJSON *result)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, render__get(result, "commands"))
	{
		const cJSON *n = render__get(it, "name"), *h = render__get(it, "help");
		fprintf(out, "  %-20s %s\n", render__str(n, "?"), render__str(h, ""));
	}
}

static void render__tree(FILE *out, const cJSON *o, int depth)
{
	const cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, o)
	{
		char label[64];
		if (it->string)
			snprintf(label, sizeof(label), "%s", it->string);
		else
			snprintf(label, sizeof(label), "[%d]", i);
		i++;
		if ((cJSON_IsObject(it) || cJSON_IsArray(it)) && cJSON_GetArraySize(it) > 0) {
			fprintf(out, "%*s%s:\n", depth * 2, "", label);
			render__tree(out, it, depth + 1);
		} else {
			char v[1024];
			render__scalar(it, v, sizeof(v));
			fprintf(out, "%*s%s: %s\n", depth * 2, "", label, v);
		}
	}
}

void v2xctl_render_generic(FILE *out, const cJSON *result)
{
	if (!result || cJSON_GetArraySize(result) == 0) {
		fprintf(out, "ok\n");
		return;
	}
	render__tree(out, result, 0);
}

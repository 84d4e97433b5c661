/*
 * registry.c - named metrics read by the control thread (see registry.h).
 *
 * A flat array in registration order; readers walk it once per group (groups are few, metrics tens), so the output
 * keeps each group's metrics together in the order the stage registered them, with no allocation when formatting.
 */
#include "rt/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const registry__type_names[RT_METRIC_KINDS] = {
	[RT_METRIC_COUNTER] = "counter", [RT_METRIC_COUNTERS] = "counters",  [RT_METRIC_HIST] = "histogram",
	[RT_METRIC_RING] = "ring",       [RT_METRIC_GAUGE_INT] = "gauge",    [RT_METRIC_GAUGE_DOUBLE] = "gauge",
	[RT_METRIC_TEXT] = "text",
};

void rt_registry_init(struct rt_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void rt_registry_fini(struct rt_registry *reg)
{
	free(reg->metrics);
	free(reg->scratch);
	memset(reg, 0, sizeof(*reg));
}

size_t rt_registry_remove_group(struct rt_registry *reg, const char *group)
{
	size_t kept = 0, removed = 0;
	for (size_t i = 0; i < reg->n; i++) {
		if (strcmp(reg->metrics[i].group, group) == 0)
			removed++;
		else
			reg->metrics[kept++] = reg->metrics[i];
	}
	reg->n = kept;
	return removed;
}

size_t rt_registry_count(const struct rt_registry *reg)
{
	return reg->n;
}

/* Letters, digits and "_-.>/:" only: names print unquoted in the status line and need no escaping anywhere. */
static int registry__check_name(const char *s, size_t max)
{
	if (!s || !*s)
		return -EINVAL;
	size_t len = strlen(s);
	if (len >= max)
		return -ENAMETOOLONG;
	for (const char *p = s; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr("_-.>/:", ch)))
			return -EINVAL;
	}
	return 0;
}

/* Validates the names, grows the array and returns the new zeroed slot (not yet counted in n), or NULL with *rc. */
static struct rt_metric *registry__new(struct rt_registry *reg, enum rt_metric_kind kind, const char *group,
				       const char *name, const char *unit, int *rc)
{
	if ((*rc = registry__check_name(group, RT_REGISTRY_GROUP_MAX)) < 0 ||
	    (*rc = registry__check_name(name, RT_REGISTRY_NAME_MAX)) < 0)
		return NULL;
	if (unit && strlen(unit) >= RT_REGISTRY_UNIT_MAX) {
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	for (size_t i = 0; i < reg->n; i++) {
		if (strcmp(reg->metrics[i].group, group) == 0 && strcmp(reg->metrics[i].name, name) == 0) {
			*rc = -EEXIST;
			return NULL;
		}
	}
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 16;
		struct rt_metric *m = realloc(reg->metrics, cap * sizeof(*m));
		if (!m) {
			*rc = -ENOMEM;
			return NULL;
		}
		reg->metrics = m;
		reg->cap = cap;
	}
	struct rt_metric *m = &reg->metrics[reg->n];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	snprintf(m->group, sizeof(m->group), "%s", group);
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->unit, sizeof(m->unit), "%s", unit ? unit : "");
	*rc = 0;
	return m;
}

int rt_registry_add_counter(struct rt_registry *reg, const char *group, const char *name, const _Atomic uint64_t *c)
{
	int rc;
	if (!c)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_COUNTER, group, name, NULL, &rc);
	if (!m)
		return rc;
	m->u.counter = c;
	reg->n++;
	return 0;
}

int rt_registry_add_counters(struct rt_registry *reg, const char *group, const char *name,
			     const struct rt_counters *c)
{
	int rc;
	if (!c)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_COUNTERS, group, name ? name : "records", NULL, &rc);
	if (!m)
		return rc;
	m->u.counters = c;
	reg->n++;
	return 0;
}

int rt_registry_add_hist(struct rt_registry *reg, const char *group, const char *name, const char *unit,
			 const struct rt_hist *h)
{
	int rc;
	if (!h)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_HIST, group, name, unit, &rc);
	if (!m)
		return rc;
	if (!reg->scratch) {
		reg->scratch = aligned_alloc(RT_CACHE_LINE, (sizeof(struct rt_hist) + RT_CACHE_LINE - 1) /
								 RT_CACHE_LINE * RT_CACHE_LINE);
		if (!reg->scratch)
			return -ENOMEM;
		rt_hist_init(reg->scratch);
	}
	m->u.hist = h;
	reg->n++;
	return 0;
}

int rt_registry_add_ring(struct rt_registry *reg, const char *group, const char *name, struct ring *r)
{
	int rc;
	if (!r)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_RING, group, name ? name : r->name, NULL, &rc);
	if (!m)
		return rc;
	m->u.ring = r;
	reg->n++;
	return 0;
}

int rt_registry_add_gauge_int(struct rt_registry *reg, const char *group, const char *name, const char *unit,
			      rt_gauge_int_fn fn, void *ctx)
{
	int rc;
	if (!fn)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_GAUGE_INT, group, name, unit, &rc);
	if (!m)
		return rc;
	m->u.gauge_int = fn;
	m->ctx = ctx;
	reg->n++;
	return 0;
}

int rt_registry_add_gauge_double(struct rt_registry *reg, const char *group, const char *name, const char *unit,
				 rt_gauge_double_fn fn, void *ctx)
{
	int rc;
	if (!fn)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_GAUGE_DOUBLE, group, name, unit, &rc);
	if (!m)
		return rc;
	m->u.gauge_double = fn;
	m->ctx = ctx;
	reg->n++;
	return 0;
}

int rt_registry_add_text(struct rt_registry *reg, const char *group, const char *name, rt_text_fn fn, void *ctx)
{
	int rc;
	if (!fn)
		return -EINVAL;
	struct rt_metric *m = registry__new(reg, RT_METRIC_TEXT, group, name, NULL, &rc);
	if (!m)
		return rc;
	m->u.text = fn;
	m->ctx = ctx;
	reg->n++;
	return 0;
}

static double registry__rate(uint64_t cur, uint64_t prev, uint64_t window_ns)
{
	/* A counter never goes back; if it seems to (a stage re-initialized it), report no rate rather than garbage. */
	if (cur < prev || window_ns == 0)
		return 0.0;
	return (double)(cur - prev) * 1e9 / (double)window_ns;
}

void rt_registry_sample(struct rt_registry *reg, uint64_t now_ns)
{
	bool first = reg->sample_ns == 0;
	if (!first && now_ns <= reg->sample_ns)
		return;
	uint64_t window = first ? 0 : now_ns - reg->sample_ns;
	for (size_t i = 0; i < reg->n; i++) {
		struct rt_metric *m = &reg->metrics[i];
		uint64_t cur[2];
		if (m->kind == RT_METRIC_COUNTER) {
			cur[0] = rt_counter_get(m->u.counter);
			cur[1] = 0;
		} else if (m->kind == RT_METRIC_COUNTERS) {
			cur[0] = rt_counter_get(&m->u.counters->in);
			cur[1] = rt_counter_get(&m->u.counters->out);
		} else {
			continue;
		}
		for (int k = 0; k < 2; k++) {
			m->rate[k] = first ? 0.0 : registry__rate(cur[k], m->prev[k], window);
			m->prev[k] = cur[k];
		}
	}
	reg->sample_ns = now_ns ? now_ns : 1; /* 0 means "no sample yet" */
	reg->window_ns = window;
}

/* Reads a histogram as rt/histogram.h prescribes for another thread: merged into a private copy, then summarized. */
static void registry__hist_read(struct rt_registry *reg, const struct rt_hist *h, struct rt_hist_summary *s)
{
	rt_hist_init(reg->scratch);
	rt_hist_merge(reg->scratch, h);
	rt_hist_summarize(reg->scratch, s);
}

static void registry__text_read(const struct rt_metric *m, char *buf, size_t size)
{
	buf[0] = '\0';
	if (m->u.text(m->ctx, buf, size) < 0)
		snprintf(buf, size, "?");
	buf[size - 1] = '\0';
}

/* Builds one metric's object; returns it or NULL (out of memory). */
static cJSON *registry__metric_json(struct rt_registry *reg, const struct rt_metric *m)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "type", registry__type_names[m->kind]))
		goto fail;
	switch (m->kind) {
	case RT_METRIC_COUNTER:
		if (!cJSON_AddNumberToObject(o, "value", (double)rt_counter_get(m->u.counter)) ||
		    !cJSON_AddNumberToObject(o, "rate", m->rate[0]))
			goto fail;
		break;
	case RT_METRIC_COUNTERS: {
		const struct rt_counters *c = m->u.counters;
		if (!cJSON_AddNumberToObject(o, "in", (double)rt_counter_get(&c->in)) ||
		    !cJSON_AddNumberToObject(o, "out", (double)rt_counter_get(&c->out)) ||
		    !cJSON_AddNumberToObject(o, "in_rate", m->rate[0]) ||
		    !cJSON_AddNumberToObject(o, "out_rate", m->rate[1]) ||
		    !cJSON_AddNumberToObject(o, "dropped", (double)rt_counters_dropped_total(c)))
			goto fail;
		cJSON *drops = cJSON_AddObjectToObject(o, "drops");
		if (!drops)
			goto fail;
		for (unsigned i = 0; i < c->n_reasons; i++)
			if (!cJSON_AddNumberToObject(drops, c->reason_names[i], (double)rt_counter_get(&c->dropped[i])))
				goto fail;
		if (!cJSON_AddNumberToObject(o, "hwm", (double)rt_counter_get(&c->ring_hwm)))
			goto fail;
		break;
	}
	case RT_METRIC_HIST: {
		struct rt_hist_summary s;
		registry__hist_read(reg, m->u.hist, &s);
		if (!cJSON_AddStringToObject(o, "unit", m->unit) ||
		    !cJSON_AddNumberToObject(o, "count", (double)s.count) ||
		    !cJSON_AddNumberToObject(o, "min", (double)s.min) || !cJSON_AddNumberToObject(o, "mean", s.mean) ||
		    !cJSON_AddNumberToObject(o, "p50", (double)s.p50) ||
		    !cJSON_AddNumberToObject(o, "p90", (double)s.p90) ||
		    !cJSON_AddNumberToObject(o, "p99", (double)s.p99) ||
		    !cJSON_AddNumberToObject(o, "p999", (double)s.p999) ||
		    !cJSON_AddNumberToObject(o, "max", (double)s.max) ||
		    !cJSON_AddNumberToObject(o, "overflow", (double)s.overflow))
			goto fail;
		break;
	}
	case RT_METRIC_RING: {
		struct ring *r = m->u.ring;
		if (!cJSON_AddNumberToObject(o, "fill", (double)ring_count(r)) ||
		    !cJSON_AddNumberToObject(o, "capacity", (double)ring_capacity(r)) ||
		    !cJSON_AddNumberToObject(o, "high_water", (double)rt_counter_get(&r->high_water)) ||
		    !cJSON_AddNumberToObject(o, "full_drops", (double)rt_counter_get(&r->full_drops)))
			goto fail;
		break;
	}
	case RT_METRIC_GAUGE_INT:
	case RT_METRIC_GAUGE_DOUBLE: {
		double v = m->kind == RT_METRIC_GAUGE_INT ? (double)m->u.gauge_int(m->ctx) : m->u.gauge_double(m->ctx);
		/* JSON has no NaN or infinity: a gauge that cannot be read reports null. */
		cJSON *val = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
		if (!val)
			goto fail;
		cJSON_AddItemToObject(o, "value", val);
		if (!cJSON_AddStringToObject(o, "unit", m->unit))
			goto fail;
		break;
	}
	case RT_METRIC_TEXT: {
		char buf[RT_REGISTRY_TEXT_MAX];
		registry__text_read(m, buf, sizeof(buf));
		if (!cJSON_AddStringToObject(o, "value", buf))
			goto fail;
		break;
	}
	case RT_METRIC_KINDS:
		goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* True when metrics[i] is the first of its group among the kinds asked for. */
static bool registry__first_of_group(const struct rt_registry *reg, size_t i, unsigned kinds)
{
	for (size_t j = 0; j < i; j++)
		if ((kinds & RT_METRIC_MASK(reg->metrics[j].kind)) &&
		    strcmp(reg->metrics[j].group, reg->metrics[i].group) == 0)
			return false;
	return true;
}

int rt_registry_json(struct rt_registry *reg, cJSON *parent, unsigned kinds)
{
	for (size_t i = 0; i < reg->n; i++) {
		if (!(kinds & RT_METRIC_MASK(reg->metrics[i].kind)) || !registry__first_of_group(reg, i, kinds))
			continue;
		cJSON *g = cJSON_AddObjectToObject(parent, reg->metrics[i].group);
		if (!g)
			return -ENOMEM;
		for (size_t j = i; j < reg->n; j++) {
			const struct rt_metric *m = &reg->metrics[j];
			if (!(kinds & RT_METRIC_MASK(m->kind)) || strcmp(m->group, reg->metrics[i].group) != 0)
				continue;
			cJSON *o = registry__metric_json(reg, m);
			if (!o)
				return -ENOMEM;
			cJSON_AddItemToObject(g, m->name, o);
		}
	}
	return 0;
}

/* snprintf into what is left of buf; keeps counting the full length after buf is full. */
__attribute__((format(printf, 4, 5))) static void registry__append(char *buf, size_t size, size_t *len,
								    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = *len < size ? size - *len : 0;
	int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

static void registry__metric_status(const struct rt_metric *m, char *buf, size_t size, size_t *len)
{
	switch (m->kind) {
	case RT_METRIC_COUNTER:
		registry__append(buf, size, len, " %s=%" PRIu64, m->name, rt_counter_get(m->u.counter));
		break;
	case RT_METRIC_COUNTERS: {
		const struct rt_counters *c = m->u.counters;
		uint64_t dropped = rt_counters_dropped_total(c);
		if (strcmp(m->name, "records") != 0)
			registry__append(buf, size, len, " %s", m->name);
		registry__append(buf, size, len, " in=%" PRIu64 " out=%" PRIu64 " %.0f/s", rt_counter_get(&c->in),
				 rt_counter_get(&c->out), m->rate[0]);
		if (dropped) {
			registry__append(buf, size, len, " drop=%" PRIu64, dropped);
			const char *sep = " (";
			for (unsigned i = 0; i < c->n_reasons; i++) {
				uint64_t n = rt_counter_get(&c->dropped[i]);
				if (n) {
					registry__append(buf, size, len, "%s%s=%" PRIu64, sep, c->reason_names[i], n);
					sep = " ";
				}
			}
			registry__append(buf, size, len, ")");
		}
		if (rt_counter_get(&c->ring_hwm))
			registry__append(buf, size, len, " hwm=%" PRIu64, rt_counter_get(&c->ring_hwm));
		break;
	}
	case RT_METRIC_RING: {
		struct ring *r = m->u.ring;
		registry__append(buf, size, len, " ring %s %zu/%zu hwm=%" PRIu64, m->name, ring_count(r),
				 ring_capacity(r), rt_counter_get(&r->high_water));
		if (rt_counter_get(&r->full_drops))
			registry__append(buf, size, len, " full=%" PRIu64, rt_counter_get(&r->full_drops));
		break;
	}
	case RT_METRIC_GAUGE_INT:
		registry__append(buf, size, len, " %s=%" PRId64 "%s", m->name, m->u.gauge_int(m->ctx), m->unit);
		break;
	case RT_METRIC_GAUGE_DOUBLE:
		registry__append(buf, size, len, " %s=%g%s", m->name, m->u.gauge_double(m->ctx), m->unit);
		break;
	case RT_METRIC_TEXT: {
		char text[RT_REGISTRY_TEXT_MAX];
		registry__text_read(m, text, sizeof(text));
		registry__append(buf, size, len, " %s=%s", m->name, text);
		break;
	}
	case RT_METRIC_HIST:
	case RT_METRIC_KINDS:
		break;
	}
}

int rt_registry_format_status(struct rt_registry *reg, char *buf, size_t size)
{
	size_t len = 0;
	bool any = false;
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < reg->n; i++) {
		if (!(RT_METRICS_STATUS & RT_METRIC_MASK(reg->metrics[i].kind)) ||
		    !registry__first_of_group(reg, i, RT_METRICS_STATUS))
			continue;
		registry__append(buf, size, &len, "%s%s:", any ? "; " : "", reg->metrics[i].group);
		any = true;
		for (size_t j = i; j < reg->n; j++) {
			const struct rt_metric *m = &reg->metrics[j];
			if ((RT_METRICS_STATUS & RT_METRIC_MASK(m->kind)) && strcmp(m->group, reg->metrics[i].group) == 0)
				registry__metric_status(m, buf, size, &len);
		}
	}
	return (int)len;
}

/* counters.c - per-stage counters (single writer, relaxed readers; see counters.h). */
#include "rt/counters.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt/log.h"

void rt_counters_init(struct rt_counters *c, const char *stage, const char *const *reason_names, unsigned n_reasons)
{
	RT_BUG_ON(n_reasons > RT_DROP_REASONS_MAX);
	RT_BUG_ON(n_reasons > 0 && reason_names == NULL);
	memset(c, 0, sizeof(*c));
	c->stage = stage;
	c->reason_names = reason_names;
	c->n_reasons = n_reasons;
	atomic_init(&c->in, 0);
	atomic_init(&c->out, 0);
	atomic_init(&c->ring_hwm, 0);
	for (unsigned i = 0; i < RT_DROP_REASONS_MAX; i++)
		atomic_init(&c->dropped[i], 0);
}

uint64_t rt_counters_dropped_total(const struct rt_counters *c)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < c->n_reasons; i++)
		sum += rt_counter_get(&c->dropped[i]);
	return sum;
}

/* snprintf into what is left of buf; keeps counting the full length after buf is full. */
__attribute__((format(printf, 4, 5))) static void counters__append(char *buf, size_t size, size_t *len,
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

int rt_counters_format(const struct rt_counters *c, char *buf, size_t size)
{
	size_t len = 0;
	if (size)
		buf[0] = '\0';
	counters__append(buf, size, &len, "%s in=%" PRIu64 " out=%" PRIu64 " dropped=%" PRIu64, c->stage,
			 rt_counter_get(&c->in), rt_counter_get(&c->out), rt_counters_dropped_total(c));
	if (c->n_reasons) {
		for (unsigned i = 0; i < c->n_reasons; i++)
			counters__append(buf, size, &len, "%s%s=%" PRIu64, i ? " " : " (", c->reason_names[i],
					 rt_counter_get(&c->dropped[i]));
		counters__append(buf, size, &len, ")");
	}
	counters__append(buf, size, &len, " hwm=%" PRIu64, rt_counter_get(&c->ring_hwm));
	return (int)len;
}

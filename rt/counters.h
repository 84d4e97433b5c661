/*
 * counters.h - per-stage counters: records in, out, dropped with a reason, ring high-water mark.
 *
 * Each counter has one writer (the stage's thread), which updates it with a relaxed load and a relaxed store (no
 * locked instruction); any thread may read it with a relaxed load (a monotonic, possibly slightly old, value).
 * Readers (the control thread's status line and socket) need no ordering with the data path.
 */
#ifndef V2X_RT_COUNTERS_H
#define V2X_RT_COUNTERS_H

#include <stddef.h>

#include <stdatomic.h>
#include <stdint.h>

#define RT_DROP_REASONS_MAX 32

struct rt_counters {
	const char *stage;
	const char *const *reason_names; /* n_reasons names, static storage */
	unsigned n_reasons;
	_Atomic uint64_t in;
	_Atomic uint64_t out;
	_Atomic uint64_t ring_hwm;
	_Atomic uint64_t dropped[RT_DROP_REASONS_MAX];
};

/* Initializes c for stage with reason_names[0..n_reasons-1] (n_reasons <= RT_DROP_REASONS_MAX). */
void rt_counters_init(struct rt_counters *c, const char *stage, const char *const *reason_names, unsigned n_reasons);

/* Single-writer add: relaxed load + relaxed store.  Only the counter's owning thread may call it. */
static inline void rt_count(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

/* Single-writer maximum. */
static inline void rt_count_max(_Atomic uint64_t *counter, uint64_t v)
{
	if (v > atomic_load_explicit(counter, memory_order_relaxed))
		atomic_store_explicit(counter, v, memory_order_relaxed);
}

/* Any thread: relaxed read. */
static inline uint64_t rt_counter_get(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit((_Atomic uint64_t *)counter, memory_order_relaxed);
}

/* Returns the sum of all drop reasons. */
uint64_t rt_counters_dropped_total(const struct rt_counters *c);

/*
 * Formats "stage in=.. out=.. dropped=.. (reason=n ...) hwm=.." into buf (size bytes, always terminated).
 * Returns the length that would have been written (like snprintf).
 */
int rt_counters_format(const struct rt_counters *c, char *buf, size_t size);

#endif

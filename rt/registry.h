/*
 * registry.h - named metrics that stages register at start-up and the control thread reads: counters, a stage's
 * struct rt_counters, histograms, rings, gauges and text fields, each under a group (the stage) and a name.
 *
 * The status line, the control socket's `status` and `stats` answers and (later) the watchdog read the registry
 * instead of hand-listed fields, so a new stage shows up everywhere by registering its metrics in its init.
 *
 * Writers never see the registry: a stage keeps updating its own atomics (rt/counters.h, rt/histogram.h, rt/ring.h)
 * exactly as before; the registry only holds pointers to them.  Readers (the control thread) load them relaxed, as
 * those headers allow, so a reading is a slightly old but never torn value.  A histogram is read the way
 * rt/histogram.h prescribes for another thread: merged into the registry's private copy (rt_hist_merge), and that
 * copy is summarized, so all its percentiles come from one pass over the writer's buckets.
 *
 * Rates (records per second) come from two samples: rt_registry_sample() (a control timer, every second) keeps each
 * counter's previous value and time in the registry's reader state and computes (now - prev) / elapsed.  The JSON
 * and the status line report current values with the rates of the last sampling window.
 *
 * Counter values are reported as JSON numbers (doubles): exact up to 2^53.
 *
 * Synchronization table:
 *   rt_registry_init / rt_registry_fini      one thread, before any reader runs / after the last one stopped
 *   rt_registry_add_*, _remove_group         the control thread (or before it runs), before the stages start;
 *                                            allocates; never concurrently with a reader
 *   rt_registry_sample, _json, _format_status, rt_registry_count
 *                                            the control thread only (they update the reader state); no
 *                                            allocation except the cJSON nodes _json creates
 *   the registered counters, histograms, rings         their own writers, concurrently with the readers above
 *   gauge and text callbacks                 called on the reader's thread; they must not block and must read
 *                                            the stage's data with atomics (they run while the stage writes)
 * Registered objects must outlive the registry's readers, or be removed first (rt_registry_remove_group).
 */
#ifndef V2X_RT_REGISTRY_H
#define V2X_RT_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rt/counters.h"
#include "rt/histogram.h"
#include "rt/ring.h"

#define RT_REGISTRY_GROUP_MAX 32 /* bytes of a group name, with its terminator */
#define RT_REGISTRY_NAME_MAX 48  /* bytes of a metric name, with its terminator */
#define RT_REGISTRY_UNIT_MAX 16  /* bytes of a unit, with its terminator */
#define RT_REGISTRY_TEXT_MAX 128 /* bytes a text callback may fill, with its terminator */

enum rt_metric_kind {
	RT_METRIC_COUNTER = 0,  /* one single-writer counter; value and rate */
	RT_METRIC_COUNTERS,     /* a stage's struct rt_counters: in, out, drops by reason, hwm; in/out rates */
	RT_METRIC_HIST,         /* a histogram: count, min, percentiles, max */
	RT_METRIC_RING,         /* a ring: fill, capacity, high-water mark, full drops */
	RT_METRIC_GAUGE_INT,    /* a callback returning int64 */
	RT_METRIC_GAUGE_DOUBLE, /* a callback returning double */
	RT_METRIC_TEXT,         /* a callback filling a short string */
	RT_METRIC_KINDS
};

/* Masks for the readers: which kinds to include. */
#define RT_METRIC_MASK(kind) (1u << (kind))
#define RT_METRICS_STATUS                                                                                          \
	(RT_METRIC_MASK(RT_METRIC_COUNTER) | RT_METRIC_MASK(RT_METRIC_COUNTERS) | RT_METRIC_MASK(RT_METRIC_RING) |  \
	 RT_METRIC_MASK(RT_METRIC_GAUGE_INT) | RT_METRIC_MASK(RT_METRIC_GAUGE_DOUBLE) |                           \
	 RT_METRIC_MASK(RT_METRIC_TEXT))
#define RT_METRICS_STATS RT_METRIC_MASK(RT_METRIC_HIST)
#define RT_METRICS_ALL ((1u << RT_METRIC_KINDS) - 1)

/* Gauge and text callbacks: run on the reader's thread; must not block.  A text callback fills buf (size bytes,
 * terminated) and returns 0, or a negative errno (the field then reads "?"). */
typedef int64_t (*rt_gauge_int_fn)(void *ctx);
typedef double (*rt_gauge_double_fn)(void *ctx);
typedef int (*rt_text_fn)(void *ctx, char *buf, size_t size);

/* One registered metric, with the reader's state for its rates.  Internal to the registry; shown for sizing. */
struct rt_metric {
	enum rt_metric_kind kind;
	char group[RT_REGISTRY_GROUP_MAX];
	char name[RT_REGISTRY_NAME_MAX];
	char unit[RT_REGISTRY_UNIT_MAX];
	union {
		const _Atomic uint64_t *counter;
		const struct rt_counters *counters;
		const struct rt_hist *hist;
		struct ring *ring;
		rt_gauge_int_fn gauge_int;
		rt_gauge_double_fn gauge_double;
		rt_text_fn text;
	} u;
	void *ctx;
	/* reader state (control thread): values at the last sample and the rates over the last window */
	uint64_t prev[2]; /* COUNTER: value; COUNTERS: in, out */
	double rate[2];
};

struct rt_registry {
	struct rt_metric *metrics; /* n in registration order (groups keep the order of their first metric) */
	size_t n, cap;
	struct rt_hist *scratch;   /* the reader's copy of a histogram (allocated with the first histogram) */
	uint64_t sample_ns;        /* time of the last sample; 0 before the first */
	uint64_t window_ns;        /* length of the last sampling window; 0 until two samples were taken */
};

/* Initializes an empty registry (caller-owned storage).  No allocation. */
void rt_registry_init(struct rt_registry *reg);

/* Frees what the registry allocated; the registered objects are the stages' and are not touched. */
void rt_registry_fini(struct rt_registry *reg);

/*
 * Registration.  group and name are copied (at most RT_REGISTRY_GROUP_MAX - 1 and RT_REGISTRY_NAME_MAX - 1 bytes,
 * letters, digits and any of "_-.>/:" only, so they print in the status line and as JSON keys unchanged); the
 * object must outlive the readers.  Each returns 0, -EINVAL (NULL object or callback, empty or bad name),
 * -ENAMETOOLONG, -EEXIST (the group already has a metric of that name), or -ENOMEM.  Allocates; not concurrently
 * with a reader.
 */
int rt_registry_add_counter(struct rt_registry *reg, const char *group, const char *name, const _Atomic uint64_t *c);
/* A whole struct rt_counters; name NULL means "records".  In/out rates, drops by the counters' reason names. */
int rt_registry_add_counters(struct rt_registry *reg, const char *group, const char *name,
			     const struct rt_counters *c);
/* unit may be NULL (""), e.g. "ns". */
int rt_registry_add_hist(struct rt_registry *reg, const char *group, const char *name, const char *unit,
			 const struct rt_hist *h);
/* name NULL means the ring's own name. */
int rt_registry_add_ring(struct rt_registry *reg, const char *group, const char *name, struct ring *r);
int rt_registry_add_gauge_int(struct rt_registry *reg, const char *group, const char *name, const char *unit,
			      rt_gauge_int_fn fn, void *ctx);
int rt_registry_add_gauge_double(struct rt_registry *reg, const char *group, const char *name, const char *unit,
				 rt_gauge_double_fn fn, void *ctx);
int rt_registry_add_text(struct rt_registry *reg, const char *group, const char *name, rt_text_fn fn, void *ctx);

/* Forgets every metric of group (e.g. before the objects it points to go away).  Returns how many were removed.
 * Not concurrently with a reader. */
size_t rt_registry_remove_group(struct rt_registry *reg, const char *group);

/* Returns how many metrics are registered. */
size_t rt_registry_count(const struct rt_registry *reg);

/*
 * Takes a sample at now_ns (CLOCK_MONOTONIC): each counter's rate becomes (value - previous) / (now - previous
 * sample), and the values are kept for the next sample.  The first sample only records values (rates stay 0); a
 * sample at the same time as the previous one, or earlier, changes nothing.  Control thread; no allocation.
 */
void rt_registry_sample(struct rt_registry *reg, uint64_t now_ns);

/*
 * Adds one object per group to parent (a cJSON object), in registration order, holding the metrics whose kind is in
 * kinds (a mask of RT_METRIC_MASK bits); groups with no such metric are left out.  Each metric is an object with a
 * "type" ("counter", "counters", "histogram", "ring", "gauge", "text") and its values:
 *   counter   {"type":"counter","value":N,"rate":R}
 *   counters  {"type":"counters","in":N,"out":N,"in_rate":R,"out_rate":R,"dropped":N,"drops":{"reason":N,...},
 *              "hwm":N}
 *   histogram {"type":"histogram","unit":"ns","count":N,"min":N,"mean":X,"p50":N,"p90":N,"p99":N,"p999":N,
 *              "max":N,"overflow":N}
 *   ring      {"type":"ring","fill":N,"capacity":N,"high_water":N,"full_drops":N}
 *   gauge     {"type":"gauge","value":X,"unit":"..."}
 *   text      {"type":"text","value":"..."}
 * Rates are per second over the last sampling window.  Returns 0 or -ENOMEM (parent may then hold part of the
 * tree; the caller deletes it).  Control thread.
 */
int rt_registry_json(struct rt_registry *reg, cJSON *parent, unsigned kinds);

/*
 * Formats the compact status line into buf (size bytes, always terminated), one clause per group, e.g.
 *   "can_rx: in=120 out=118 4500/s drop=2 (crc=2) bytes=4096 link=up ring can_rx->decode 3/65536 hwm=40; decode: ..."
 * (the rate is the in rate).
 * Drop reasons with a zero count are left out; histograms are not shown.  Returns the length that would have been
 * written (like snprintf).  Control thread; no allocation.
 */
int rt_registry_format_status(struct rt_registry *reg, char *buf, size_t size);

#endif

/*
 * histogram.h - lock-free latency histogram with log-linear buckets (HDR-style), per thread, mergeable.
 *
 * Values (nanoseconds, or any unsigned quantity) below 2^RT_HIST_SUB_BITS get one bucket each; above, every power
 * of two is split into 2^RT_HIST_SUB_BITS equal buckets, so a bucket's width is at most 1/32 of its value: a
 * percentile is reported as its bucket's upper bound, at most 3.2 % above the true value.  Values at or above
 * 2^RT_HIST_MAX_BITS go to `overflow` (reported, never lost), like cyclictest's overflow count.
 *
 * One writer per histogram (the thread that measures): rt_hist_record() uses relaxed load/store pairs, no locked
 * instruction.  Readers on other threads merge a copy (rt_hist_merge) with relaxed loads; a merged copy taken while
 * the writer runs may miss the last few samples but never sees a torn counter.
 */
#ifndef V2X_RT_HISTOGRAM_H
#define V2X_RT_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RT_HIST_SUB_BITS 5
#define RT_HIST_MAX_BITS 40 /* 2^40 ns = about 18 minutes */
#define RT_HIST_BUCKETS ((RT_HIST_MAX_BITS - RT_HIST_SUB_BITS + 1) << RT_HIST_SUB_BITS)

struct rt_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t sum;
	_Atomic uint64_t min;
	_Atomic uint64_t max;
	_Atomic uint64_t overflow;
	_Atomic uint64_t bucket[RT_HIST_BUCKETS];
};

struct rt_hist_summary {
	uint64_t count, min, max, overflow;
	double mean;
	uint64_t p50, p90, p99, p999;
};

/* Zeroes h (caller-owned; about 9 KiB, so not on a small stack). */
void rt_hist_init(struct rt_hist *h);

/* Records one value.  Owning thread only; wait-free. */
void rt_hist_record(struct rt_hist *h, uint64_t value);

/*
 * Records now - t for n stamps t (uint64_t), the k-th at (const char *)stamps + k * stride: a field of an array of
 * records, e.g. rt_hist_record_since(h, now, &recs[0].rx_mono_ns, sizeof(recs[0]), n).  The same counts as n
 * rt_hist_record calls, with count, sum, min and max stored once.  Owning thread only; wait-free.
 */
void rt_hist_record_since(struct rt_hist *h, uint64_t now, const uint64_t *stamps, size_t stride, size_t n);

/* Adds src's counts into dst (dst must not be written concurrently; src may be). */
void rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src);

/*
 * Returns the value at percentile pct (0 < pct <= 100): the upper bound of the bucket holding rank
 * ceil(pct/100 * count), clamped to the recorded max; the max itself when that rank is among the overflowed values;
 * 0 for an empty histogram.  count, sum, min and max include overflowed values.  Any thread; no allocation.
 */
uint64_t rt_hist_percentile(const struct rt_hist *h, double pct);

/* Fills s from h (all zero when empty).  Any thread. */
void rt_hist_summarize(const struct rt_hist *h, struct rt_hist_summary *s);

/* Bucket index of a value, and the inclusive upper bound of a bucket (exposed for tests). */
size_t rt_hist_bucket_of(uint64_t value);
uint64_t rt_hist_bucket_upper(size_t bucket);

#endif

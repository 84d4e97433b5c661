/*
 * histogram.c - log-linear latency histogram (see histogram.h).
 *
 * Bucket layout, with S = RT_HIST_SUB_BITS: values below 2^(S+1) map to themselves (groups 0 and 1, width 1).  A value
 * whose highest set bit is b >= S falls in group g = b - S + 1, sub-bucket (v >> (b - S)) & (2^S - 1): each group
 * covers [2^b, 2^(b+1)) in 2^S buckets of width 2^(b-S), i.e. at most 1/2^S of the bucket's lowest value.
 */
#include "rt/histogram.h"

#include <math.h>
#include <string.h>

#define HIST_SUB_COUNT (1u << RT_HIST_SUB_BITS)
#define HIST_LIMIT (UINT64_C(1) << RT_HIST_MAX_BITS)

static inline uint64_t hist__get(const _Atomic uint64_t *a)
{
	return atomic_load_explicit((_Atomic uint64_t *)a, memory_order_relaxed);
}

/* Single-writer update: a relaxed load and store, no locked instruction (readers may see an old value, never a torn one). */
static inline void hist__set(_Atomic uint64_t *a, uint64_t v)
{
	atomic_store_explicit(a, v, memory_order_relaxed);
}

void rt_hist_init(struct rt_hist *h)
{
	memset(h, 0, sizeof(*h));
	atomic_init(&h->count, 0);
	atomic_init(&h->sum, 0);
	atomic_init(&h->min, 0);
	atomic_init(&h->max, 0);
	atomic_init(&h->overflow, 0);
	for (size_t i = 0; i < RT_HIST_BUCKETS; i++)
		atomic_init(&h->bucket[i], 0);
}

/*
 * Without a branch: with shift = max(0, b - S) (b the highest set bit), value >> shift lies in [2^S, 2^(S+1)) for
 * b >= S, so (group << S) + ((value >> shift) & (2^S - 1)) = ((shift + 1) << S) + (value >> shift) - 2^S =
 * (shift << S) + (value >> shift); and for value < 2^(S+1) shift is 0 and that is value itself.  Or-ing in 2^S
 * before counting leading zeros gives shift 0 below 2^(S+1) and leaves larger values' highest bit alone.
 */
static inline size_t hist__bucket_of(uint64_t value)
{
	unsigned shift = 63u - RT_HIST_SUB_BITS - (unsigned)__builtin_clzll(value | HIST_SUB_COUNT);
	return ((size_t)shift << RT_HIST_SUB_BITS) + (size_t)(value >> shift);
}

size_t rt_hist_bucket_of(uint64_t value)
{
	return hist__bucket_of(value);
}

uint64_t rt_hist_bucket_upper(size_t bucket)
{
	size_t group = bucket >> RT_HIST_SUB_BITS;
	uint64_t sub = bucket & (HIST_SUB_COUNT - 1);
	if (group == 0)
		return sub;
	unsigned shift = (unsigned)group - 1;
	uint64_t lower = (HIST_SUB_COUNT + sub) << shift;
	return lower + (UINT64_C(1) << shift) - 1;
}

void rt_hist_record(struct rt_hist *h, uint64_t value)
{
	uint64_t n = hist__get(&h->count);
	if (n == 0 || value < hist__get(&h->min))
		hist__set(&h->min, value);
	if (value > hist__get(&h->max))
		hist__set(&h->max, value);
	hist__set(&h->sum, hist__get(&h->sum) + value);
	if (value >= HIST_LIMIT)
		hist__set(&h->overflow, hist__get(&h->overflow) + 1);
	else {
		_Atomic uint64_t *b = &h->bucket[hist__bucket_of(value)];
		hist__set(b, hist__get(b) + 1);
	}
	hist__set(&h->count, n + 1);
}

void rt_hist_record_since(struct rt_hist *h, uint64_t now, const uint64_t *stamps, size_t stride, size_t n)
{
	if (n == 0)
		return;
	uint64_t count = hist__get(&h->count);
	uint64_t mn = count ? hist__get(&h->min) : UINT64_MAX, mx = hist__get(&h->max), sum = hist__get(&h->sum);
	uint64_t over = 0;
	const char *p = (const char *)stamps;

	for (size_t k = 0; k < n; k++, p += stride) {
		uint64_t t;
		memcpy(&t, p, sizeof(t));
		uint64_t v = now - t;
		mn = v < mn ? v : mn;
		mx = v > mx ? v : mx;
		sum += v;
		if (v >= HIST_LIMIT) {
			over++;
		} else {
			_Atomic uint64_t *b = &h->bucket[hist__bucket_of(v)];
			hist__set(b, hist__get(b) + 1);
		}
	}
	hist__set(&h->min, mn);
	hist__set(&h->max, mx);
	hist__set(&h->sum, sum);
	if (over)
		hist__set(&h->overflow, hist__get(&h->overflow) + over);
	hist__set(&h->count, count + n);
}

void rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src)
{
	uint64_t n = hist__get(&src->count);
	if (n == 0)
		return;
	uint64_t smin = hist__get(&src->min), smax = hist__get(&src->max);
	if (hist__get(&dst->count) == 0 || smin < hist__get(&dst->min))
		hist__set(&dst->min, smin);
	if (smax > hist__get(&dst->max))
		hist__set(&dst->max, smax);
	hist__set(&dst->sum, hist__get(&dst->sum) + hist__get(&src->sum));
	hist__set(&dst->overflow, hist__get(&dst->overflow) + hist__get(&src->overflow));
	for (size_t i = 0; i < RT_HIST_BUCKETS; i++) {
		uint64_t c = hist__get(&src->bucket[i]);
		if (c)
			hist__set(&dst->bucket[i], hist__get(&dst->bucket[i]) + c);
	}
	hist__set(&dst->count, hist__get(&dst->count) + n);
}

uint64_t rt_hist_percentile(const struct rt_hist *h, double pct)
{
	uint64_t count = hist__get(&h->count);
	if (count == 0 || !(pct > 0.0))
		return 0;
	if (pct > 100.0)
		pct = 100.0;
	uint64_t max = hist__get(&h->max);
	/* rank = ceil(pct/100 * count); the small relative slack absorbs pct's binary representation error. */
	double x = pct * (double)count / 100.0;
	uint64_t rank = (uint64_t)ceil(x - x * 1e-12);
	if (rank < 1)
		rank = 1;
	if (rank > count)
		rank = count;
	uint64_t seen = 0;
	for (size_t i = 0; i < RT_HIST_BUCKETS; i++) {
		seen += hist__get(&h->bucket[i]);
		if (seen >= rank) {
			uint64_t upper = rt_hist_bucket_upper(i);
			return upper < max ? upper : max;
		}
	}
	return max; /* the rank lies among the overflowed values (>= 2^RT_HIST_MAX_BITS): their max is exact */
}

void rt_hist_summarize(const struct rt_hist *h, struct rt_hist_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->count = hist__get(&h->count);
	if (s->count == 0)
		return;
	s->min = hist__get(&h->min);
	s->max = hist__get(&h->max);
	s->overflow = hist__get(&h->overflow);
	s->mean = (double)hist__get(&h->sum) / (double)s->count;
	s->p50 = rt_hist_percentile(h, 50.0);
	s->p90 = rt_hist_percentile(h, 90.0);
	s->p99 = rt_hist_percentile(h, 99.0);
	s->p999 = rt_hist_percentile(h, 99.9);
}

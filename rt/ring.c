/*
 * ring.c - the bounded SPSC ring of fixed-size records (contract and memory orders in ring.h).
 *
 * Each side owns one index and keeps a cached copy of the other side's index; it reloads the other index (an acquire
 * load, the only access to the other side's cache line) only when its cached view says the ring is full (producer)
 * or empty (consumer).  Indices never wrap in practice (2^64 records), so `head - tail` is always the fill level.
 */
#include "rt/ring.h"

#include "rt/clock.h"
#include "rt/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt/counters.h"
#include "trace/tp.h"

static inline unsigned char *ring__slot(const struct ring *r, uint64_t index)
{
	return r->slots + (size_t)(index & r->mask) * r->rec_size;
}

int ring_init(struct ring *r, const char *name, size_t rec_size, size_t capacity, struct rt_waiter *waiter)
{
	memset(r, 0, sizeof(*r));
	/* A misplaced ring would share its index lines with neighbours (false sharing) and is undefined behaviour for
	 * the _Alignas members: refuse it in every build, not only under UBSan. */
	if ((uintptr_t)r % RT_CACHE_LINE != 0)
		return -EINVAL;
	if (rec_size == 0 || capacity < 2 || (capacity & (capacity - 1)) != 0 || capacity > SIZE_MAX / rec_size)
		return -EINVAL;
	void *slots;
	if (posix_memalign(&slots, RT_CACHE_LINE, capacity * rec_size) != 0)
		return -ENOMEM;
	rt_prefault(slots, capacity * rec_size); /* every page now: no page fault on the data path */
	atomic_init(&r->head, 0);
	atomic_init(&r->full_drops, 0);
	atomic_init(&r->high_water, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->closed, 0);
	r->tail_cache = 0;
	r->head_cache = 0;
	r->slots = slots;
	r->rec_size = rec_size;
	r->mask = (uint64_t)capacity - 1;
	r->name = name ? name : "ring";
	r->waiter = waiter;
	r->wake_batch = 1;
	return 0;
}

void ring_fini(struct ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

/*
 * After publishing up to new_head: wakes the consumer if it sleeps, unless the ring coalesces wake-ups and fewer
 * than wake_batch records wait (the consumer then wakes by its own timeout, its latency budget).  The count starts
 * from the producer's cached tail, which is never newer than the real one (an overestimate); once that crosses the
 * threshold the tail is reloaded (acquire, as in ring__free): while the consumer keeps up that is one cross-core
 * read per wake_batch records.  Once wake_batch or more records really wait, every push reloads the tail and pays
 * rt_waiter_notify's fence (as without coalescing), which wakes a sleeping consumer: the saving is for a consumer
 * that keeps up, which is the steady state the budget is chosen for.
 */
static inline void ring__notify(struct ring *r, uint64_t new_head)
{
	if (!r->waiter || r->waiter->mode == RT_WAIT_SPIN)
		return;
	if (r->wake_batch > 1) {
		if (new_head - r->tail_cache < r->wake_batch)
			return;
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (new_head - r->tail_cache < r->wake_batch)
			return;
	}
	rt_waiter_notify(r->waiter);
}

void ring_set_wake_batch(struct ring *r, uint32_t n)
{
	/* At most the capacity: a threshold the ring cannot reach would leave only the consumer's timeout. */
	if (n > r->mask + 1)
		n = (uint32_t)(r->mask + 1);
	r->wake_batch = n == 0 ? 1 : n;
}

/* Producer: free slots as far as it knows, reloading tail when its cached view has fewer than `want`. */
static inline uint64_t ring__free(struct ring *r, uint64_t head, uint64_t want)
{
	uint64_t cap = r->mask + 1;
	uint64_t free_slots = cap - (head - r->tail_cache);
	if (free_slots < want) {
		/* Acquire pairs with the consumer's release store of tail: it has finished reading those slots. */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		uint64_t used = head - r->tail_cache;
		/* The fill level is exact here; the high-water mark is sampled at these reloads (see ring.h). */
		rt_count_max(&r->high_water, used);
		free_slots = cap - used;
	}
	return free_slots;
}

bool ring_push(struct ring *r, const void *rec)
{
	/* Relaxed: the producer is the only writer of head. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (ring__free(r, head, 1) == 0) {
		rt_count(&r->full_drops, 1);
		V2X_TP(ring_overflow, r->name, rt_counter_get(&r->full_drops));
		return false;
	}
	memcpy(ring__slot(r, head), rec, r->rec_size);
	/* Release pairs with the consumer's acquire load of head: the record's bytes are visible before the index. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	ring__notify(r, head + 1);
	return true;
}

size_t ring_push_batch(struct ring *r, const void *recs, size_t n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t free_slots = ring__free(r, head, n);
	size_t k = n < free_slots ? n : (size_t)free_slots;
	if (k == 0)
		return 0;
	size_t first = (size_t)(r->mask + 1 - (head & r->mask)); /* slots before the end of the array */
	if (first > k)
		first = k;
	memcpy(ring__slot(r, head), recs, first * r->rec_size);
	if (k > first)
		memcpy(r->slots, (const unsigned char *)recs + first * r->rec_size, (k - first) * r->rec_size);
	/* Release: as in ring_push, one store publishes the whole batch. */
	atomic_store_explicit(&r->head, head + k, memory_order_release);
	ring__notify(r, head + k);
	return k;
}

size_t ring_push_all(struct ring *r, const void *recs, size_t n, uint64_t max_wait_ns)
{
	size_t done = 0;
	uint64_t deadline = 0;

	while (done < n) {
		done += ring_push_batch(r, (const unsigned char *)recs + done * r->rec_size, n - done);
		if (done == n)
			break;
		uint64_t now = rt_mono_ns();
		if (deadline == 0)
			deadline = now + max_wait_ns;
		if (now >= deadline) {
			ring_count_drops(r, n - done);
			break;
		}
		rt_sleep_ns(20 * RT_NS_PER_US);
	}
	return done;
}

void ring_count_drops(struct ring *r, uint64_t n)
{
	if (n == 0)
		return;
	rt_count(&r->full_drops, n);
	V2X_TP(ring_overflow, r->name, rt_counter_get(&r->full_drops));
}

/* Consumer: records queued as far as it knows, reloading head when its cached view has fewer than `want`. */
static inline uint64_t ring__avail(struct ring *r, uint64_t tail, uint64_t want)
{
	uint64_t avail = r->head_cache - tail;
	if (avail < want) {
		/* Acquire pairs with the producer's release store of head: the records' bytes are visible. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->head_cache - tail;
	}
	return avail;
}

bool ring_pop(struct ring *r, void *rec)
{
	/* Relaxed: the consumer is the only writer of tail. */
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (ring__avail(r, tail, 1) == 0)
		return false;
	/* If the next record is already published, start pulling its line from the producer's cache now: it overlaps
	 * with this copy and the caller's work (measured: about 2.5x the throughput of a ring that stays full).  No
	 * prefetch for write on the producer side: it steals lines the consumer is about to read. */
	if (r->head_cache - tail > 1)
		__builtin_prefetch(ring__slot(r, tail + 1), 0);
	memcpy(rec, ring__slot(r, tail), r->rec_size);
	/* Release pairs with the producer's acquire load of tail: the slot is read before the producer reuses it. */
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

size_t ring_pop_batch(struct ring *r, void *recs, size_t max)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t avail = ring__avail(r, tail, max);
	size_t k = max < avail ? max : (size_t)avail;
	if (k == 0)
		return 0;
	size_t first = (size_t)(r->mask + 1 - (tail & r->mask));
	if (first > k)
		first = k;
	memcpy(recs, ring__slot(r, tail), first * r->rec_size);
	if (k > first)
		memcpy((unsigned char *)recs + first * r->rec_size, r->slots, (k - first) * r->rec_size);
	/* Release: as in ring_pop. */
	atomic_store_explicit(&r->tail, tail + k, memory_order_release);
	return k;
}

const void *ring_peek(struct ring *r, size_t *n)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t contiguous = r->mask + 1 - (tail & r->mask); /* slots before the end of the array */
	/* Reload head unless the cached view already covers the whole contiguous run. */
	uint64_t avail = ring__avail(r, tail, contiguous);
	if (avail == 0) {
		*n = 0;
		return NULL;
	}
	*n = (size_t)(avail < contiguous ? avail : contiguous);
	return ring__slot(r, tail);
}

void ring_release(struct ring *r, size_t n)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Release: the caller's reads of the peeked slots happen before the producer may overwrite them. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

void ring_close(struct ring *r)
{
	/* Release pairs with the acquire load in ring_is_drained/ring_ready: the final head is visible with the flag. */
	atomic_store_explicit(&r->closed, 1, memory_order_release);
	if (r->waiter && r->waiter->mode != RT_WAIT_SPIN)
		rt_waiter_notify(r->waiter); /* always: the consumer must see the end at once */
}

bool ring_is_drained(struct ring *r)
{
	if (!atomic_load_explicit(&r->closed, memory_order_acquire))
		return false;
	/* The producer stored its last head before closed: after the acquire above, this head is final. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	return atomic_load_explicit(&r->tail, memory_order_acquire) == head;
}

bool ring_ready(void *ring)
{
	struct ring *r = ring;
	/* Acquire: pairs with the producer's release store of head (and of closed).  Called after the waiter's fence. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (head != atomic_load_explicit(&r->tail, memory_order_relaxed))
		return true;
	return atomic_load_explicit(&r->closed, memory_order_acquire) != 0;
}

int ring_wait(struct ring *r, int64_t timeout_ns)
{
	if (r->waiter)
		return rt_waiter_wait(r->waiter, ring_ready, r, timeout_ns);
	/* No waiter attached: nobody would wake a sleeper, so spin. */
	struct rt_waiter spin;
	rt_waiter_init(&spin, RT_WAIT_SPIN, 0);
	return rt_waiter_wait(&spin, ring_ready, r, timeout_ns);
}

size_t ring_count(struct ring *r)
{
	/* tail first: head only grows, so head - tail never underflows even when read from a third thread. */
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	return (size_t)(head - tail);
}

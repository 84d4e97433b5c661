/*
 * ring_mutex.c - rt/ring.h implemented as a mutex + condition variable queue, for comparison (`make RING=mutex`).
 *
 * The textbook bounded queue: one mutex guards the slots and both indices, a consumer without a waiter sleeps on a
 * `not_empty` condition variable, a producer in ring_push_all() sleeps on `not_full`.  Every operation, on either
 * side, takes the lock; nothing is lock-free.  The Makefile compiles this file instead of rt/ring.c when RING=mutex
 * (and never both), so the whole program, its tests and perf/bench_pipeline.sh run unchanged on either queue.
 *
 * The contract of ring.h holds, with these differences (docs/performance.md, "bench_pipeline"):
 *   - waiting: a consumer whose ring has a waiter (every pipeline stage: one waiter serves several rings, timers and
 *     the stop kick) still sleeps on that waiter, and a producer wakes it with rt_waiter_notify() as in ring.c;
 *     only a ring without a waiter uses its own `not_empty` condition variable (ring.c spins there instead);
 *   - ring_push_all() sleeps on `not_full` until the consumer frees a slot (ring.c polls every 20 us);
 *   - high_water is exact (the fill level is known under the lock at every push), not sampled;
 *   - ring_count() and ring_ready() take the lock, so they are exact from any thread, and they block while another
 *     thread holds it (for a copy of at most one batch);
 *   - the mutex uses priority inheritance where the system offers it (a SCHED_FIFO consumer holding the lock would
 *     otherwise be the textbook priority inversion); the condition variables wait on CLOCK_MONOTONIC.
 * The mutex and the two condition variables live in the same allocation as the slots, just before them, so struct
 * ring (ring.h) is the same for both implementations and code reading its atomics (head, tail, closed, full_drops,
 * high_water, wake_batch) keeps working: they are written under the lock with release stores.
 *
 * Lock order: only the ring's own mutex is taken, and no other lock or syscall happens while it is held except
 * pthread_cond_signal/broadcast; rt_waiter_notify() (which may issue a futex wake) runs after the unlock.
 */
#include "rt/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt/clock.h"
#include "rt/counters.h"
#include "rt/thread.h"
#include "trace/tp.h"

struct ring__lock {
	pthread_mutex_t mu;
	pthread_cond_t not_empty; /* a consumer without a waiter sleeps here (ring_wait) */
	pthread_cond_t not_full;  /* a producer in ring_push_all sleeps here */
	unsigned empty_sleepers;  /* under mu: consumers in ring_wait's cond wait (0 or 1) */
	unsigned full_sleepers;   /* under mu: producers in ring_push_all's cond wait (0 or 1) */
};

/* The lock area precedes the slots, rounded up to a cache line so the slots stay aligned. */
#define RING__LOCK_AREA ((sizeof(struct ring__lock) + RT_CACHE_LINE - 1) / RT_CACHE_LINE * RT_CACHE_LINE)

static inline struct ring__lock *ring__lk(const struct ring *r)
{
	return (struct ring__lock *)(void *)(r->slots - RING__LOCK_AREA);
}

static inline unsigned char *ring__slot(const struct ring *r, uint64_t index)
{
	return r->slots + (size_t)(index & r->mask) * r->rec_size;
}

/* Aborts on a failed lock operation: with a valid mutex they cannot fail (no error checking type, no robust). */
static inline void ring__lock(struct ring__lock *lk)
{
	if (pthread_mutex_lock(&lk->mu) != 0)
		abort();
}

static inline void ring__unlock(struct ring__lock *lk)
{
	if (pthread_mutex_unlock(&lk->mu) != 0)
		abort();
}

/* Head and tail are only written under the lock; relaxed loads of them under the lock are exact. */
static inline uint64_t ring__head(const struct ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed);
}

static inline uint64_t ring__tail(const struct ring *r)
{
	return atomic_load_explicit(&r->tail, memory_order_relaxed);
}

static int ring__lock_init(struct ring__lock *lk)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	int rc;

	memset(lk, 0, sizeof(*lk));
	if ((rc = pthread_mutexattr_init(&ma)) != 0)
		return -rc;
	/* Priority inheritance where available; a system without it gets a plain mutex (same semantics). */
	(void)pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	rc = pthread_mutex_init(&lk->mu, &ma);
	if (rc != 0) {
		(void)pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_NONE);
		rc = pthread_mutex_init(&lk->mu, &ma);
	}
	pthread_mutexattr_destroy(&ma);
	if (rc != 0)
		return -rc;
	if ((rc = pthread_condattr_init(&ca)) != 0)
		goto fail_mutex;
	if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0)
		goto fail_attr;
	if ((rc = pthread_cond_init(&lk->not_empty, &ca)) != 0)
		goto fail_attr;
	if ((rc = pthread_cond_init(&lk->not_full, &ca)) != 0)
		goto fail_not_empty;
	pthread_condattr_destroy(&ca);
	return 0;

fail_not_empty:
	pthread_cond_destroy(&lk->not_empty);
fail_attr:
	pthread_condattr_destroy(&ca);
fail_mutex:
	pthread_mutex_destroy(&lk->mu);
	return -rc;
}

int ring_init(struct ring *r, const char *name, size_t rec_size, size_t capacity, struct rt_waiter *waiter)
{
	memset(r, 0, sizeof(*r));
	if ((uintptr_t)r % RT_CACHE_LINE != 0)
		return -EINVAL;
	if (rec_size == 0 || capacity < 2 || (capacity & (capacity - 1)) != 0 ||
	    capacity > (SIZE_MAX - RING__LOCK_AREA) / rec_size)
		return -EINVAL;
	void *base;
	if (posix_memalign(&base, RT_CACHE_LINE, RING__LOCK_AREA + capacity * rec_size) != 0)
		return -ENOMEM;
	rt_prefault(base, RING__LOCK_AREA + capacity * rec_size);
	int rc = ring__lock_init(base);
	if (rc < 0) {
		free(base);
		return rc;
	}
	atomic_init(&r->head, 0);
	atomic_init(&r->full_drops, 0);
	atomic_init(&r->high_water, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->closed, 0);
	r->slots = (unsigned char *)base + RING__LOCK_AREA;
	r->rec_size = rec_size;
	r->mask = (uint64_t)capacity - 1;
	r->name = name ? name : "ring";
	r->waiter = waiter;
	r->wake_batch = 1;
	return 0;
}

void ring_set_wake_batch(struct ring *r, uint32_t n)
{
	/* At most the capacity, as in ring.c: a threshold the ring cannot reach would leave only the consumer's timeout. */
	if (n > r->mask + 1)
		n = (uint32_t)(r->mask + 1);
	r->wake_batch = n == 0 ? 1 : n;
}

void ring_fini(struct ring *r)
{
	if (!r->slots)
		return;
	struct ring__lock *lk = ring__lk(r);
	pthread_cond_destroy(&lk->not_full);
	pthread_cond_destroy(&lk->not_empty);
	pthread_mutex_destroy(&lk->mu);
	free(lk);
	r->slots = NULL;
}

/*
 * Under the lock, after publishing up to head: whether the consumer must be woken (wake_batch reached, the count
 * exact here).  A condition-variable sleeper is signalled at once (still under the lock, so it cannot miss it);
 * the return value tells the caller to notify the waiter after the unlock.
 */
static inline bool ring__wake_locked(struct ring *r, struct ring__lock *lk, uint64_t head)
{
	if (head - ring__tail(r) < (r->wake_batch > 1 ? r->wake_batch : 1))
		return false;
	if (lk->empty_sleepers)
		pthread_cond_signal(&lk->not_empty);
	return r->waiter && r->waiter->mode != RT_WAIT_SPIN;
}

/* Under the lock: copies k records in at head and publishes them.  The caller checked the room. */
static inline void ring__put_locked(struct ring *r, uint64_t head, const void *recs, size_t k)
{
	size_t first = (size_t)(r->mask + 1 - (head & r->mask)); /* slots before the end of the array */
	if (first > k)
		first = k;
	memcpy(ring__slot(r, head), recs, first * r->rec_size);
	if (k > first)
		memcpy(r->slots, (const unsigned char *)recs + first * r->rec_size, (k - first) * r->rec_size);
	uint64_t used = head + k - ring__tail(r);
	if (used > atomic_load_explicit(&r->high_water, memory_order_relaxed))
		atomic_store_explicit(&r->high_water, used, memory_order_relaxed);
	/* Release: for the lock-free readers of head outside this file (rt_pipeline_stalled_ring, statistics). */
	atomic_store_explicit(&r->head, head + k, memory_order_release);
}

/* Under the lock: copies k records out at tail and frees their slots. */
static inline void ring__get_locked(struct ring *r, uint64_t tail, void *recs, size_t k)
{
	size_t first = (size_t)(r->mask + 1 - (tail & r->mask));
	if (first > k)
		first = k;
	memcpy(recs, ring__slot(r, tail), first * r->rec_size);
	if (k > first)
		memcpy((unsigned char *)recs + first * r->rec_size, r->slots, (k - first) * r->rec_size);
	atomic_store_explicit(&r->tail, tail + k, memory_order_release);
}

bool ring_push(struct ring *r, const void *rec)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	uint64_t head = ring__head(r);
	if (head - ring__tail(r) > r->mask) {
		ring__unlock(lk);
		rt_count(&r->full_drops, 1);
		V2X_TP(ring_overflow, r->name, rt_counter_get(&r->full_drops));
		return false;
	}
	ring__put_locked(r, head, rec, 1);
	bool notify = ring__wake_locked(r, lk, head + 1);
	ring__unlock(lk);
	if (notify)
		rt_waiter_notify(r->waiter);
	return true;
}

size_t ring_push_batch(struct ring *r, const void *recs, size_t n)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	uint64_t head = ring__head(r);
	uint64_t free_slots = r->mask + 1 - (head - ring__tail(r));
	size_t k = n < free_slots ? n : (size_t)free_slots;
	bool notify = false;
	if (k > 0) {
		ring__put_locked(r, head, recs, k);
		notify = ring__wake_locked(r, lk, head + k);
	}
	ring__unlock(lk);
	if (notify)
		rt_waiter_notify(r->waiter);
	return k;
}

size_t ring_push_all(struct ring *r, const void *recs, size_t n, uint64_t max_wait_ns)
{
	struct ring__lock *lk = ring__lk(r);
	size_t done = 0;
	uint64_t deadline = 0;
	bool notify = false;

	ring__lock(lk);
	while (done < n) {
		uint64_t head = ring__head(r);
		uint64_t free_slots = r->mask + 1 - (head - ring__tail(r));
		size_t k = n - done < free_slots ? n - done : (size_t)free_slots;
		if (k > 0) {
			ring__put_locked(r, head, (const unsigned char *)recs + done * r->rec_size, k);
			notify |= ring__wake_locked(r, lk, head + k);
			done += k;
			continue;
		}
		/* Full: the consumer must run, so wake it now rather than after the whole batch. */
		if (notify) {
			ring__unlock(lk);
			rt_waiter_notify(r->waiter);
			notify = false;
			ring__lock(lk);
			continue;
		}
		uint64_t now = rt_mono_ns();
		if (deadline == 0)
			deadline = now + max_wait_ns;
		if (now >= deadline)
			break;
		struct timespec ts = {.tv_sec = (time_t)(deadline / (uint64_t)RT_NS_PER_SEC),
				      .tv_nsec = (long)(deadline % (uint64_t)RT_NS_PER_SEC)};
		lk->full_sleepers++;
		(void)pthread_cond_timedwait(&lk->not_full, &lk->mu, &ts); /* the loop re-checks room and deadline */
		lk->full_sleepers--;
	}
	ring__unlock(lk);
	if (notify)
		rt_waiter_notify(r->waiter);
	if (done < n)
		ring_count_drops(r, n - done);
	return done;
}

void ring_count_drops(struct ring *r, uint64_t n)
{
	if (n == 0)
		return;
	rt_count(&r->full_drops, n);
	V2X_TP(ring_overflow, r->name, rt_counter_get(&r->full_drops));
}

/* Under the lock, after freeing slots: a producer waiting for room in ring_push_all may go on. */
static inline void ring__freed_locked(struct ring__lock *lk)
{
	if (lk->full_sleepers)
		pthread_cond_signal(&lk->not_full);
}

bool ring_pop(struct ring *r, void *rec)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	uint64_t tail = ring__tail(r);
	bool got = ring__head(r) != tail;
	if (got) {
		ring__get_locked(r, tail, rec, 1);
		ring__freed_locked(lk);
	}
	ring__unlock(lk);
	return got;
}

size_t ring_pop_batch(struct ring *r, void *recs, size_t max)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	uint64_t tail = ring__tail(r);
	uint64_t avail = ring__head(r) - tail;
	size_t k = max < avail ? max : (size_t)avail;
	if (k > 0) {
		ring__get_locked(r, tail, recs, k);
		ring__freed_locked(lk);
	}
	ring__unlock(lk);
	return k;
}

/* The peeked slots stay valid without the lock: the producer writes a slot only once tail has passed it, and only
 * ring_release moves tail. */
const void *ring_peek(struct ring *r, size_t *n)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	uint64_t tail = ring__tail(r);
	uint64_t avail = ring__head(r) - tail;
	ring__unlock(lk);
	uint64_t contiguous = r->mask + 1 - (tail & r->mask);
	if (avail == 0) {
		*n = 0;
		return NULL;
	}
	*n = (size_t)(avail < contiguous ? avail : contiguous);
	return ring__slot(r, tail);
}

void ring_release(struct ring *r, size_t n)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	atomic_store_explicit(&r->tail, ring__tail(r) + n, memory_order_release);
	ring__freed_locked(lk);
	ring__unlock(lk);
}

void ring_close(struct ring *r)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	atomic_store_explicit(&r->closed, 1, memory_order_release);
	pthread_cond_broadcast(&lk->not_empty);
	ring__unlock(lk);
	if (r->waiter && r->waiter->mode != RT_WAIT_SPIN)
		rt_waiter_notify(r->waiter); /* always: the consumer must see the end at once */
}

bool ring_is_drained(struct ring *r)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	bool drained = atomic_load_explicit(&r->closed, memory_order_relaxed) && ring__head(r) == ring__tail(r);
	ring__unlock(lk);
	return drained;
}

static inline bool ring__ready_locked(const struct ring *r)
{
	return ring__head(r) != ring__tail(r) || atomic_load_explicit(&r->closed, memory_order_relaxed);
}

bool ring_ready(void *ring)
{
	struct ring *r = ring;
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	bool ready = ring__ready_locked(r);
	ring__unlock(lk);
	return ready;
}

int ring_wait(struct ring *r, int64_t timeout_ns)
{
	if (r->waiter)
		return rt_waiter_wait(r->waiter, ring_ready, r, timeout_ns);

	/* No waiter: the ring's own condition variable (ring.c spins here). */
	struct ring__lock *lk = ring__lk(r);
	uint64_t deadline = timeout_ns > 0 ? rt_mono_ns() + (uint64_t)timeout_ns : 0;
	int rc = 0;
	ring__lock(lk);
	while (!ring__ready_locked(r)) {
		if (timeout_ns == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		lk->empty_sleepers++;
		int w;
		if (timeout_ns < 0) {
			w = pthread_cond_wait(&lk->not_empty, &lk->mu);
		} else {
			struct timespec ts = {.tv_sec = (time_t)(deadline / (uint64_t)RT_NS_PER_SEC),
					      .tv_nsec = (long)(deadline % (uint64_t)RT_NS_PER_SEC)};
			w = pthread_cond_timedwait(&lk->not_empty, &lk->mu, &ts);
		}
		lk->empty_sleepers--;
		if (w == ETIMEDOUT) {
			/* A last look, as in rt_waiter_wait: work that raced with the timeout is not a timeout. */
			rc = ring__ready_locked(r) ? 0 : -ETIMEDOUT;
			break;
		}
	}
	ring__unlock(lk);
	return rc;
}

size_t ring_count(struct ring *r)
{
	struct ring__lock *lk = ring__lk(r);
	ring__lock(lk);
	size_t n = (size_t)(ring__head(r) - ring__tail(r));
	ring__unlock(lk);
	return n;
}

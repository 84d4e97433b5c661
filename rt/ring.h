/*
 * ring.h - bounded single-producer single-consumer ring of fixed-size records, copied by value.
 *
 * Built on C11 <stdatomic.h>: liburcu 0.13 offers full barriers (cmm_smp_mb) and relaxed CMM_LOAD/STORE_SHARED but
 * no acquire/release operations, and an SPSC ring needs exactly one release store and one acquire load per
 * operation; on x86 those compile to plain moves.
 *
 * Layout: the producer's index (head) and the consumer's index (tail) live on separate cache lines, each next to the
 * owner's cached copy of the other side's index, so in the steady state each side touches the other's line only
 * when its cache runs out.  Indices are free-running 64-bit counters; capacity is a power of two; slot = index & mask.
 * ring_pop prefetches the next published slot, so the cross-core transfer of its line overlaps the current copy.
 *
 * Memory orders:
 *   producer: copies the record into the slot, then stores head with release, pairing with the consumer's acquire
 *             load of head (the consumer sees the record's bytes before the new head);
 *   consumer: copies the record out, then stores tail with release, pairing with the producer's acquire load of
 *             tail (the producer does not overwrite a slot until the consumer has finished reading it).
 *
 * high_water is exact when the ring fills (it then reads the capacity) and otherwise sampled: the producer records
 * the fill level each time it reloads tail, which it does only when its cached view runs out of free slots.
 *
 * struct ring is cache-line aligned: place it statically, on the stack, or in aligned_alloc(RT_CACHE_LINE, ...)
 * memory (malloc/calloc only guarantee 16 bytes, which lets the index lines share a line with their neighbours).
 *
 * Synchronization table:
 *   ring_push*, ring_close            producer thread only (one)
 *   ring_pop*, ring_peek, ring_wait   consumer thread only (one)
 *   ring_count, ring_is_drained, statistics   any thread (approximate while the ring is in use)
 *   ring_init / ring_fini             before the threads start / after they are joined
 * No operation allocates or blocks except ring_wait (which may sleep) and ring_init (which allocates and touches
 * every slot, so no page fault happens later).
 */
#ifndef V2X_RT_RING_H
#define V2X_RT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/wait.h"

#define RT_CACHE_LINE 64

struct ring {
	/* producer's cache line */
	_Alignas(RT_CACHE_LINE) _Atomic uint64_t head; /* next index to write */
	uint64_t tail_cache;                           /* producer's last view of tail */
	_Atomic uint64_t full_drops;                   /* pushes refused because the ring was full */
	_Atomic uint64_t high_water;                   /* most records queued at once, sampled by the producer */
	/* consumer's cache line */
	_Alignas(RT_CACHE_LINE) _Atomic uint64_t tail; /* next index to read */
	uint64_t head_cache;                           /* consumer's last view of head */
	/* read-only after init */
	_Alignas(RT_CACHE_LINE) unsigned char *slots;
	size_t rec_size;
	uint64_t mask;
	const char *name;
	struct rt_waiter *waiter; /* the consumer's waiter, or NULL (no one waits) */
	uint32_t wake_batch;      /* wake a sleeping consumer only once this many records wait (1: every push) */
	_Atomic int closed;       /* set by the producer: no more records */
};

/*
 * Initializes r with capacity records (a power of two, at least 2) of rec_size bytes each, allocated and touched
 * now.  waiter is the consumer's waiter (may be NULL).  name is kept (not copied) for statistics and tracing.
 * Returns 0, -EINVAL (capacity not a power of two, rec_size 0, or r not RT_CACHE_LINE-aligned), or -ENOMEM.
 */
int ring_init(struct ring *r, const char *name, size_t rec_size, size_t capacity, struct rt_waiter *waiter);

/*
 * Coalesced wake-ups (interrupt moderation): a push wakes a sleeping consumer only when at least n records wait
 * (n <= 1: at every push; ring_close always wakes it).  The consumer must then wait with a timeout no longer than its
 * latency budget, which bounds how long a record can wait below the threshold.  Before the threads start.
 */
void ring_set_wake_batch(struct ring *r, uint32_t n);

/* Frees the slots.  No thread may use r any more. */
void ring_fini(struct ring *r);

/*
 * Producer: copies one record in.  Returns true, or false when the ring is full (the record is not queued; counted in
 * full_drops and traced as ring_overflow).  Notifies the consumer's waiter.
 */
bool ring_push(struct ring *r, const void *rec);

/*
 * Producer: copies up to n contiguous records in, in order.  Returns how many were queued (fewer than n only when the
 * ring filled up; the rest are NOT counted as drops: the caller decides).  One notify for the whole batch.
 */
size_t ring_push_batch(struct ring *r, const void *recs, size_t n);

/*
 * Producer: queues all n records in order, waiting in 20 us sleeps while the ring is full, for at most max_wait_ns
 * in all (back-pressure); what still does not fit is counted as dropped (ring_count_drops).  Returns how many were
 * queued.  Blocks up to max_wait_ns only while the consumer is behind; never allocates.
 */
size_t ring_push_all(struct ring *r, const void *recs, size_t n, uint64_t max_wait_ns);

/* Producer: counts n records as dropped for a full ring (when the caller gives up on them) and traces it. */
void ring_count_drops(struct ring *r, uint64_t n);

/* Consumer: copies the oldest record out.  Returns true, or false when the ring is empty. */
bool ring_pop(struct ring *r, void *rec);

/* Consumer: copies up to max records out, oldest first.  Returns how many. */
size_t ring_pop_batch(struct ring *r, void *recs, size_t max);

/*
 * Consumer, zero-copy: returns a pointer to the oldest queued record and sets *n to how many contiguous records
 * follow it in the slot array (0 and NULL when empty).  The records stay valid until ring_release().
 */
const void *ring_peek(struct ring *r, size_t *n);

/* Consumer: releases the n oldest records obtained from ring_peek(). */
void ring_release(struct ring *r, size_t n);

/* Producer: no more records will come; wakes the consumer.  Idempotent. */
void ring_close(struct ring *r);

/* Returns true when the producer closed the ring and every record was consumed. */
bool ring_is_drained(struct ring *r);

/* Returns true when at least one record is queued, or the ring is closed (a ready predicate for rt_waiter). */
bool ring_ready(void *ring);

/*
 * Consumer: waits with the ring's waiter until a record is queued or the ring is closed (spins when the ring has no
 * waiter).  Returns 0, -ETIMEDOUT (timeout_ns >= 0 passed), or -EINTR (the waiter was kicked).
 */
int ring_wait(struct ring *r, int64_t timeout_ns);

/* Returns how many records are queued (exact from the producer or consumer thread, approximate elsewhere). */
size_t ring_count(struct ring *r);

/* Returns the capacity in records. */
static inline size_t ring_capacity(const struct ring *r)
{
	return (size_t)r->mask + 1;
}

#endif

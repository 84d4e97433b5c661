/*
 * bench_limits.h - what this machine allows right now, measured inside a benchmark's own run, so the benchmark can
 * report its figures as ratios to them (absolute figures on a shared 2-CPU VM swing by 2 to 7 times between runs).
 *
 *   limits_stream_mps      the ceiling of any bounded queue of 64-byte records between CPU 0 and CPU 1: 1024
 *                          one-line slots, each with its own full flag and no shared index (FastForward style),
 *                          so each record costs its cache line's trips between the CPUs and nothing else;
 *   limits_pingpong(SPIN)  the floor of a spinning hand-off: one cache line bounced between two threads pinned
 *                          to CPU 0 and CPU 1; one-way time = round trip / 2;
 *   limits_pingpong(FUTEX) the floor of a sleeping hand-off: the same two threads, each sleeping in FUTEX_WAIT
 *                          until the other's FUTEX_WAKE; one-way time = round trip / 2 (a wake-up by the kernel,
 *                          the scheduler and, if the CPU idled, its exit from idle).
 * Header-only (benchmarks are single files); every function blocks the calling thread while it measures, with two
 * threads pinned to CPU 0 and CPU 1 as the benchmarks' own.  They return < 0 when a thread cannot be started.
 */
#ifndef V2X_PERF_BENCH_LIMITS_H
#define V2X_PERF_BENCH_LIMITS_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/histogram.h"
#include "rt/ring.h"
#include "rt/thread.h"
#include "rt/wait.h"

/* ---- the cross-CPU streaming ceiling ---- */

/*
 * The least a bounded queue of 64-byte records between CPU 0 and CPU 1 can do: each slot is one cache line holding
 * its own full/empty flag (FastForward style: no shared head or tail index at all), so a record costs the line's
 * trip to the consumer and back, nothing else.  A queue with indices (the project's ring) can only approach it.
 */
struct limits_slot {
	_Alignas(64) _Atomic uint64_t full; /* seq + 1 when full, 0 when empty */
	unsigned char pad[56];
};

struct limits_stream {
	struct limits_slot slots[1024];
	_Alignas(64) _Atomic int go;
	uint64_t count;
	uint64_t t_end, errors;
};

static inline void *limits__stream_producer(void *arg)
{
	struct limits_stream *st = arg;
	while (!atomic_load_explicit(&st->go, memory_order_acquire))
		rt_cpu_relax();
	for (uint64_t i = 0; i < st->count; i++) {
		struct limits_slot *s = &st->slots[i & 1023];
		while (atomic_load_explicit(&s->full, memory_order_acquire)) /* pairs with the consumer's release */
			rt_cpu_relax();
		memset(s->pad, (int)(i & 0xff), sizeof(s->pad));
		atomic_store_explicit(&s->full, i + 1, memory_order_release); /* publishes pad; pairs below */
	}
	return NULL;
}

static inline void *limits__stream_consumer(void *arg)
{
	struct limits_stream *st = arg;
	uint64_t errors = 0, v;
	while (!atomic_load_explicit(&st->go, memory_order_acquire))
		rt_cpu_relax();
	for (uint64_t i = 0; i < st->count; i++) {
		struct limits_slot *s = &st->slots[i & 1023];
		while ((v = atomic_load_explicit(&s->full, memory_order_acquire)) == 0) /* pairs with the producer */
			rt_cpu_relax();
		errors += v != i + 1 || s->pad[i & 31] != (unsigned char)(i & 0xff);
		atomic_store_explicit(&s->full, 0, memory_order_release); /* the slot may be refilled */
	}
	st->t_end = rt_mono_ns();
	st->errors = errors;
	return NULL;
}

/* Messages per second through the slot-flag queue (producer on CPU 0, consumer on CPU 1), or < 0 on a failure. */
static inline double limits_stream_mps(uint64_t count)
{
	struct limits_stream *st = aligned_alloc(64, sizeof(*st));
	if (!st)
		return -1;
	memset(st, 0, sizeof(*st));
	st->count = count;
	struct rt_thread_conf pc, cc;
	rt_thread_conf_init(&pc, "lim-prod");
	rt_thread_conf_init(&cc, "lim-cons");
	CPU_SET(0, &pc.cpus);
	CPU_SET(1, &cc.cpus);
	struct rt_thread pt, ct;
	if (rt_thread_start(&ct, &cc, limits__stream_consumer, st) < 0) {
		free(st);
		return -1;
	}
	if (rt_thread_start(&pt, &pc, limits__stream_producer, st) < 0) {
		st->count = 0; /* the consumer has nothing to wait for */
		atomic_store_explicit(&st->go, 1, memory_order_release);
		rt_thread_join(&ct);
		free(st);
		return -1;
	}
	rt_sleep_ns(10 * RT_NS_PER_MS); /* both threads on their CPUs */
	uint64_t t0 = rt_mono_ns();
	atomic_store_explicit(&st->go, 1, memory_order_release);
	rt_thread_join(&pt);
	rt_thread_join(&ct);
	double mps = st->errors ? -1 : (double)count / ((double)(st->t_end - t0) / 1e9);
	free(st);
	return mps;
}

/* ---- ping-pong between CPU 0 and CPU 1 ---- */

enum limits_pp_mode { LIMITS_PP_SPIN, LIMITS_PP_FUTEX };

struct limits_pp {
	_Alignas(64) _Atomic uint32_t turn; /* 0: the initiator's turn, 1: the responder's, 2: stop */
	_Alignas(64) enum limits_pp_mode mode;
	uint64_t rounds;
	struct rt_hist *oneway;
};

static inline void limits__futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void limits__futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Waits until turn != val. Acquire: pairs with the other side's release store of its turn. */
static inline uint32_t limits__wait_change(struct limits_pp *pp, uint32_t val)
{
	uint32_t v;
	while ((v = atomic_load_explicit(&pp->turn, memory_order_acquire)) == val) {
		if (pp->mode == LIMITS_PP_FUTEX)
			limits__futex_wait(&pp->turn, val);
		else
			rt_cpu_relax();
	}
	return v;
}

static inline void limits__pass(struct limits_pp *pp, uint32_t to)
{
	atomic_store_explicit(&pp->turn, to, memory_order_release); /* pairs with the acquire in limits__wait_change */
	if (pp->mode == LIMITS_PP_FUTEX)
		limits__futex_wake(&pp->turn);
}

static inline void *limits__responder(void *arg)
{
	struct limits_pp *pp = arg;
	for (;;) {
		uint32_t v = limits__wait_change(pp, 0);
		if (v == 2)
			return NULL;
		limits__pass(pp, 0);
	}
}

static inline void *limits__initiator(void *arg)
{
	struct limits_pp *pp = arg;
	for (uint64_t i = 0; i < pp->rounds; i++) {
		uint64_t t0 = rt_mono_ns();
		limits__pass(pp, 1);
		limits__wait_change(pp, 1);
		rt_hist_record(pp->oneway, (rt_mono_ns() - t0) / 2);
	}
	limits__pass(pp, 2);
	return NULL;
}

/* Bounces a turn rounds times between a thread on CPU 0 and one on CPU 1; records one-way ns into oneway
 * (caller-owned, initialised).  Returns 0 or a negative errno. */
static inline int limits_pingpong(enum limits_pp_mode mode, uint64_t rounds, struct rt_hist *oneway)
{
	static struct limits_pp pp;
	atomic_store_explicit(&pp.turn, 0, memory_order_relaxed);
	pp.mode = mode;
	pp.rounds = rounds;
	pp.oneway = oneway;
	struct rt_thread_conf ic, rc;
	rt_thread_conf_init(&ic, "lim-init");
	rt_thread_conf_init(&rc, "lim-resp");
	CPU_SET(0, &ic.cpus);
	CPU_SET(1, &rc.cpus);
	struct rt_thread it, rt;
	int err = rt_thread_start(&rt, &rc, limits__responder, &pp);
	if (err < 0)
		return err;
	err = rt_thread_start(&it, &ic, limits__initiator, &pp);
	if (err < 0) {
		limits__pass(&pp, 2);
		rt_thread_join(&rt);
		return err;
	}
	rt_thread_join(&it);
	rt_thread_join(&rt);
	return 0;
}

#endif

/*
 * wait.h - how a consumer thread waits for work: spin for a while, then sleep on a futex.
 *
 * One struct rt_waiter belongs to one consumer thread and may serve several rings (the consumer sleeps until any of
 * them has work).  The protocol, a Dekker-style handshake:
 *   consumer: e = futex word; if ready() -> work.  Else sleeping = 1; seq_cst fence; if ready() -> sleeping = 0,
 *             work; else futex_wait(word, e, timeout); sleeping = 0.
 *   producer: publish the record (release); seq_cst fence; if sleeping -> claim it (exchange to 0; only the
 *             claimant goes on), word++, futex_wake.
 * The two fences order each side's store before its load, so either the consumer sees the record or the producer sees
 * `sleeping` and wakes it: no lost wake-up.  A producer therefore pays a fence per publish, and a syscall only while
 * the consumer sleeps.  In RT_WAIT_SPIN mode the consumer never sleeps and producers skip the fence and the check.
 *
 * Synchronization: rt_waiter_wait() only from the owning consumer thread; rt_waiter_notify() from any number of
 * producer threads, concurrently; neither allocates.  rt_waiter_wait() blocks (up to its timeout).
 */
#ifndef V2X_RT_WAIT_H
#define V2X_RT_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One iteration of a spin loop: tells the CPU we are spinning (x86 PAUSE, Arm YIELD).  Any thread. */
static inline void rt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

enum rt_wait_mode {
	RT_WAIT_HYBRID = 0, /* spin for spin_ns, then sleep (the default) */
	RT_WAIT_SPIN = 1,   /* spin only: lowest latency, burns the consumer's CPU */
	RT_WAIT_SLEEP = 2,  /* sleep at once: lowest CPU, a wake-up costs tens of microseconds */
};

struct rt_waiter {
	_Alignas(64) _Atomic uint32_t word;  /* futex word: bumped by a producer that wakes the consumer */
	_Atomic uint32_t sleeping;           /* 1 while the consumer is (about to be) asleep */
	_Atomic uint32_t kicked;             /* set by rt_waiter_kick(), consumed by the next rt_waiter_wait() */
	enum rt_wait_mode mode;
	uint64_t spin_ns;
	_Atomic uint64_t sleeps;             /* statistics: times the consumer went to sleep */
	_Atomic uint64_t wakes;              /* times a producer issued a futex wake */
};

/* Initializes w (caller-owned storage).  spin_ns is used by RT_WAIT_HYBRID. */
void rt_waiter_init(struct rt_waiter *w, enum rt_wait_mode mode, uint64_t spin_ns);

/* Returns true when the consumer has work (called repeatedly while waiting; must not block). */
typedef bool (*rt_ready_fn)(void *arg);

/*
 * Waits until ready(arg) is true, the timeout passes (timeout_ns < 0: none), or rt_waiter_kick() is called.
 * Returns 0 when ready, -ETIMEDOUT, or -EINTR after a kick (a pending kick wins over ready work).  Consumer thread
 * only.  RT_WAIT_SPIN spins until then; RT_WAIT_HYBRID spins up to spin_ns, then sleeps; RT_WAIT_SLEEP sleeps at once.
 * Signals do not end the wait (it restarts).
 */
int rt_waiter_wait(struct rt_waiter *w, rt_ready_fn ready, void *arg, int64_t timeout_ns);

/*
 * Producer side, after publishing work (with a release store): a seq_cst fence, then a futex wake only if the consumer
 * sleeps.  Any thread; lock-free; no allocation; no-op in RT_WAIT_SPIN mode.
 */
void rt_waiter_notify(struct rt_waiter *w);

/*
 * Wakes the consumer unconditionally (shutdown, timers): its current or next rt_waiter_wait() returns -EINTR (one
 * kick is consumed by one wait, even when work is also ready).  Any thread; one futex_wake syscall.
 */
void rt_waiter_kick(struct rt_waiter *w);

/* Returns a string for the mode ("hybrid", "spin", "sleep"); parses one (0, or -EINVAL). */
const char *rt_wait_mode_name(enum rt_wait_mode mode);
int rt_wait_mode_parse(const char *s, enum rt_wait_mode *out);

#endif

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
 * Eventfd mode (RT_WAIT_EVENTFD), for a consumer that also waits on descriptors of its own (a tty, a socket): the
 * same handshake, but the sleeping consumer is in poll() on its descriptors plus the waiter's eventfd
 * (rt_waiter_fd), and a producer that finds it sleeping writes 1 to the eventfd instead of a futex wake.  The
 * consumer brackets its poll() with rt_waiter_arm() (announce sleeping, fence, re-check ready and kicks) and
 * rt_waiter_disarm() (stop sleeping, drain the eventfd, take a kick).  rt_waiter_wait() works in this mode too
 * (it polls the eventfd alone), so a stage can switch between the two.
 *
 * Cost of each mode, per record on the producer side / per wake-up on the consumer side (measured in
 * perf/bench_ring and test_mt_wait on the 2-CPU VM; figures are orders of magnitude):
 *   spin     producer: nothing (no fence, no check).  Consumer: a CPU at 100 %; wake-up latency ~0.1-1 us.
 *   hybrid   producer: one seq_cst fence (~20 ns) + a load; a futex wake (~2-5 us) only if the consumer sleeps.
 *            Consumer: spins spin_ns after the last record, then sleeps; wake-up ~1 us while spinning, else ~10-50 us.
 *   sleep    as hybrid without the spin: lowest CPU; every wake-up is a syscall on both sides (~10-50 us latency).
 *   eventfd  as sleep, but the wake-up is a write(2) to the eventfd (~1-3 us) and the consumer returns from
 *            poll(2) and reads the eventfd (two syscalls, ~2-5 us more than a futex): the price of waiting on a ring
 *            and descriptors at once.  Stop and timers use the same path (rt_waiter_kick).
 *
 * Synchronization: rt_waiter_wait(), rt_waiter_arm() and rt_waiter_disarm() only from the owning consumer thread;
 * rt_waiter_notify() and rt_waiter_kick() from any number of threads, concurrently; none allocates.
 * rt_waiter_wait() blocks (up to its timeout); init creates the eventfd (EVENTFD mode), fini closes it.
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
	RT_WAIT_EVENTFD = 3, /* sleep in poll() on an eventfd, beside the consumer's own descriptors */
};

struct rt_waiter {
	_Alignas(64) _Atomic uint32_t word;  /* futex word: bumped by a producer that wakes the consumer */
	_Atomic uint32_t sleeping;           /* 1 while the consumer is (about to be) asleep */
	_Atomic uint32_t kicked;             /* set by rt_waiter_kick(), consumed by the next rt_waiter_wait() */
	enum rt_wait_mode mode;
	int efd;                             /* RT_WAIT_EVENTFD: the eventfd (else -1) */
	uint64_t spin_ns;
	_Atomic uint64_t sleeps;             /* statistics: times the consumer went to sleep */
	_Atomic uint64_t wakes;              /* times a producer issued a futex wake */
};

/*
 * Initializes w (caller-owned storage).  spin_ns is used by RT_WAIT_HYBRID.  RT_WAIT_EVENTFD creates a non-blocking
 * eventfd.  Returns 0 or -errno (only EVENTFD mode can fail).  Pair with rt_waiter_fini().
 */
int rt_waiter_init(struct rt_waiter *w, enum rt_wait_mode mode, uint64_t spin_ns);

/* Closes the eventfd, if any.  No thread may use w any more.  Safe on a zeroed or finished waiter. */
void rt_waiter_fini(struct rt_waiter *w);

/* RT_WAIT_EVENTFD: the descriptor to poll (POLLIN) beside the consumer's own; -1 in the other modes. */
static inline int rt_waiter_fd(const struct rt_waiter *w)
{
	return w->efd;
}

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

/*
 * Consumer, before blocking in its own poll() on rt_waiter_fd() and other descriptors: marks the consumer sleeping,
 * then re-checks.  Returns 0 when the caller may poll (it must then call rt_waiter_disarm() after poll returns),
 * 1 when ready(arg) is true, or -EINTR when a kick is pending (in both cases the caller must not poll; nothing to
 * disarm).  ready may be NULL (a consumer with no ring: only kicks wake it).
 */
int rt_waiter_arm(struct rt_waiter *w, rt_ready_fn ready, void *arg);

/* Consumer, after poll() returned (for any reason): stops sleeping and drains the eventfd.  Returns true when a kick
 * was pending (consumed here). */
bool rt_waiter_disarm(struct rt_waiter *w);

/* Returns a string for the mode ("hybrid", "spin", "sleep", "eventfd"); parses one (0, or -EINVAL). */
const char *rt_wait_mode_name(enum rt_wait_mode mode);
int rt_wait_mode_parse(const char *s, enum rt_wait_mode *out);

#endif

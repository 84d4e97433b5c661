/*
 * rcu_state.h - publish an immutable snapshot of some state with RCU; readers never block the publisher.
 *
 * Flavour: liburcu "memb" (<urcu.h>, pkg-config liburcu).  Its read-side lock costs about 2 ns and it asks nothing of
 * reader threads between reads: a thread registers once (rcu_register_thread), then brackets each read with
 * rcu_read_lock()/rcu_read_unlock().  QSBR reads cost 0.3 ns but would make every registered thread announce
 * quiescent states and go offline around every blocking call (poll, futex, write); our readers (v2g, uplink, the
 * log's merged rows, the control socket) read a few times per second, so memb's rules are the safer trade.
 *
 * Rules for threads:
 *   - a reader thread calls rcu_register_thread() before its first read and rcu_unregister_thread() before it exits;
 *   - so does the publisher thread: call_rcu() (inside rcu_pub_commit) must be called by a registered thread;
 *   - a reader must not block inside rcu_read_lock() (it would delay reclamation, never the publisher);
 *   - the pointer from rcu_pub_read() is valid only until rcu_read_unlock().
 *
 * Reclamation without allocation: all snapshots are allocated at init (a pool of pool_size objects).  The publisher
 * takes a free object (rcu_pub_begin), fills it, and commits it (rcu_xchg_pointer); the previous object goes to
 * call_rcu(), whose callback (after a grace period) returns it to the free list, an SPSC ring from the call_rcu
 * worker to the publisher.  For that ring to have a single producer, every callback of one rcu_pub must run on one
 * thread: each rcu_pub therefore owns a dedicated call_rcu worker (create_call_rcu_data(URCU_CALL_RCU_RT, -1),
 * created by rcu_pub_init, inheriting the caller's CPU affinity: call it from the housekeeping CPU), and
 * rcu_pub_commit routes its call_rcu() there, whatever per-CPU or default workers the process has.  RT mode means
 * call_rcu() never makes a wake-up syscall; the worker polls every 10 ms, so an object comes back about 10 ms plus a
 * grace period after its replacement was committed.  If every object is still awaiting its grace period,
 * rcu_pub_begin() returns NULL and the publisher simply publishes later (counted in `starved`): size the pool for
 * commit rate x 20 ms, plus two.
 *
 * Synchronization table:
 *   rcu_pub_begin / rcu_pub_commit    publisher thread only (one), no allocation, no blocking
 *   rcu_pub_read                      any registered thread inside rcu_read_lock()
 *   rcu_pub_last                      publisher thread only
 *   rcu_pub_generation                any thread
 *   rcu_pub_init / rcu_pub_fini       before readers start / after they stopped, any thread outside a read-side
 *                                     section (init allocates and starts a thread; fini waits for grace periods)
 */
#ifndef V2X_RT_RCU_STATE_H
#define V2X_RT_RCU_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/ring.h"

struct call_rcu_data;

struct rcu_pub_obj;

struct rcu_pub {
	struct rcu_pub_obj *current; /* RCU-protected: the published object */
	struct call_rcu_data *crdp;  /* the dedicated call_rcu worker: the free ring's only producer */
	struct ring free_ring;       /* pointers to free objects: call_rcu worker -> publisher */
	unsigned char *pool;         /* pool_size objects, each a header then obj_size bytes */
	size_t obj_size, stride;
	unsigned pool_size;
	_Atomic uint64_t generation; /* number of commits */
	_Atomic uint64_t starved;    /* rcu_pub_begin() found no free object */
};

/*
 * Allocates pool_size (>= 2) objects of obj_size bytes (aligned to 16), zeroed, publishes the first one (all zero),
 * and starts p's call_rcu worker thread.  Returns 0, -EINVAL or -ENOMEM.  p is caller-owned.
 */
int rcu_pub_init(struct rcu_pub *p, size_t obj_size, unsigned pool_size);

/* Waits for pending callbacks (rcu_barrier), stops p's worker and frees the pool.  Blocks (tens of ms). */
void rcu_pub_fini(struct rcu_pub *p);

/*
 * Publisher: returns a free object to fill, or NULL if none is free yet.  Its content is unspecified (copy what you
 * need, for example from the object you last committed, which rcu_pub_last() returns).
 */
void *rcu_pub_begin(struct rcu_pub *p);

/*
 * Publisher (a registered thread): makes obj (from rcu_pub_begin) the published snapshot; the
 * previous one is reclaimed after a grace period.  Never blocks, never allocates, no syscall.
 */
void rcu_pub_commit(struct rcu_pub *p, void *obj);

/* Publisher: returns the object it committed last (readable without a lock by the publisher only). */
const void *rcu_pub_last(struct rcu_pub *p);

/* Reader, inside rcu_read_lock(): returns the published snapshot (never NULL after init). */
const void *rcu_pub_read(struct rcu_pub *p);

/* Returns the number of commits so far (any thread). */
uint64_t rcu_pub_generation(struct rcu_pub *p);

#endif

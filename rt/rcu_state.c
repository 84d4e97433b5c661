/*
 * rcu_state.c - one publisher, many readers, snapshots recycled from a fixed pool (see rcu_state.h).
 *
 * The recycling path: commit -> call_rcu(old) -> [grace period] -> rcu_pub__reclaim() on the worker thread -> push
 * the object's pointer on free_ring -> rcu_pub_begin() pops it.  free_ring is single-producer single-consumer, so
 * the callback must always run on the same thread.  liburcu picks the worker for a call_rcu() as: the calling
 * thread's own call_rcu_data if set, else the per-CPU worker of the CPU the caller runs on (if anyone in the process
 * ever called create_all_cpu_call_rcu_data()), else the process-wide default.  Relying on the default would make
 * correctness depend on no other code creating per-CPU workers, and a publisher that migrates between CPUs would
 * then feed two workers: two producers on an SPSC ring.  So each rcu_pub owns a dedicated worker, and commit routes
 * its call_rcu() to it by setting the calling thread's call_rcu_data around the call (a thread-local pointer swap).
 *
 * The worker is created with URCU_CALL_RCU_RT: call_rcu() then never issues a futex wake (no syscall on the
 * publisher, a real-time thread); the worker polls its queue every 10 ms instead.  It inherits the affinity of the
 * thread calling rcu_pub_init(), which should therefore be the control thread on the housekeeping CPU.
 */
#include "rt/rcu_state.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>
#include <urcu/call-rcu.h>

#include "rt/counters.h"
#include "rt/log.h"

struct rcu_pub_obj {
	struct rcu_head head;  /* for call_rcu */
	struct rcu_pub *owner; /* whose free ring takes it back */
	_Alignas(16) unsigned char data[];
};

static inline struct rcu_pub_obj *rcu_pub__obj(struct rcu_pub *p, unsigned i)
{
	return (struct rcu_pub_obj *)(void *)(p->pool + (size_t)i * p->stride);
}

/* container_of through void *: the objects are 64-byte aligned (pool stride), so the cast is safe. */
static inline struct rcu_pub_obj *rcu_pub__of_data(void *data)
{
	return (struct rcu_pub_obj *)(void *)((unsigned char *)data - offsetof(struct rcu_pub_obj, data));
}

static inline struct rcu_pub_obj *rcu_pub__of_head(struct rcu_head *head)
{
	return (struct rcu_pub_obj *)(void *)((unsigned char *)head - offsetof(struct rcu_pub_obj, head));
}

/* Runs on p's dedicated call_rcu worker, after a grace period: nobody reads the object any more. */
static void rcu_pub__reclaim(struct rcu_head *head)
{
	struct rcu_pub_obj *o = rcu_pub__of_head(head);
	/* The worker is the free ring's only producer; the ring holds pool_size pointers, so it cannot be full. */
	bool ok = ring_push(&o->owner->free_ring, &o);
	RT_BUG_ON(!ok);
}

int rcu_pub_init(struct rcu_pub *p, size_t obj_size, unsigned pool_size)
{
	memset(p, 0, sizeof(*p));
	if (obj_size == 0 || pool_size < 2 || obj_size > SIZE_MAX / 2 / pool_size)
		return -EINVAL;
	size_t cap = 2;
	while (cap < pool_size)
		cap <<= 1;
	p->obj_size = obj_size;
	p->pool_size = pool_size;
	p->stride = (sizeof(struct rcu_pub_obj) + obj_size + RT_CACHE_LINE - 1) & ~(size_t)(RT_CACHE_LINE - 1);
	atomic_init(&p->generation, 0);
	atomic_init(&p->starved, 0);

	int rc = ring_init(&p->free_ring, "rcu_pub_free", sizeof(struct rcu_pub_obj *), cap, NULL);
	if (rc)
		return rc;
	void *pool;
	if (posix_memalign(&pool, RT_CACHE_LINE, p->stride * pool_size) != 0) {
		rc = -ENOMEM;
		goto undo_ring;
	}
	memset(pool, 0, p->stride * pool_size);
	p->pool = pool;
	for (unsigned i = 0; i < pool_size; i++)
		rcu_pub__obj(p, i)->owner = p;
	/* The initializing thread fills the free ring; the worker takes over as its producer from the first callback
	 * on (call_rcu's queue orders these pushes before the worker's). */
	for (unsigned i = 1; i < pool_size; i++) {
		struct rcu_pub_obj *o = rcu_pub__obj(p, i);
		ring_push(&p->free_ring, &o);
	}
	p->crdp = create_call_rcu_data(URCU_CALL_RCU_RT, -1);
	if (p->crdp == NULL) {
		rc = -ENOMEM;
		goto undo_pool;
	}
	rcu_set_pointer(&p->current, rcu_pub__obj(p, 0));
	return 0;

undo_pool:
	free(p->pool);
	p->pool = NULL;
undo_ring:
	ring_fini(&p->free_ring);
	return rc;
}

void rcu_pub_fini(struct rcu_pub *p)
{
	if (p->pool == NULL)
		return;
	/* Every callback queued so far has run: no object is referenced by the worker any more. */
	rcu_barrier();
	/* call_rcu_data_free() stops the worker but does not join it, and it was created joinable: join it here so
	 * its stack is released (the thread has set STOPPED and only unregisters and returns after that). */
	pthread_t worker = get_call_rcu_thread(p->crdp);
	call_rcu_data_free(p->crdp);
	p->crdp = NULL;
	pthread_join(worker, NULL);
	ring_fini(&p->free_ring);
	free(p->pool);
	p->pool = NULL;
	p->current = NULL;
}

void *rcu_pub_begin(struct rcu_pub *p)
{
	struct rcu_pub_obj *o;
	if (!ring_pop(&p->free_ring, &o)) {
		rt_count(&p->starved, 1);
		return NULL;
	}
	return o->data;
}

void rcu_pub_commit(struct rcu_pub *p, void *obj)
{
	struct rcu_pub_obj *o = rcu_pub__of_data(obj);
	RT_BUG_ON(o->owner != p);
	/* rcu_xchg_pointer orders the object's initialization before the pointer (a write barrier, then a full
	 * barrier xchg); readers pair with it through rcu_dereference in rcu_pub_read. */
	struct rcu_pub_obj *old = rcu_xchg_pointer(&p->current, o);
	rt_count(&p->generation, 1);
	/* Route the callback to p's own worker (see the top of this file), then restore the thread's choice. */
	struct call_rcu_data *prev = get_thread_call_rcu_data();
	set_thread_call_rcu_data(p->crdp);
	call_rcu(&old->head, rcu_pub__reclaim);
	set_thread_call_rcu_data(prev);
}

const void *rcu_pub_last(struct rcu_pub *p)
{
	/* The publisher is the only writer of current: its own plain read is exact. */
	return ((struct rcu_pub_obj *)p->current)->data;
}

const void *rcu_pub_read(struct rcu_pub *p)
{
	struct rcu_pub_obj *o = rcu_dereference(p->current);
	return o->data;
}

uint64_t rcu_pub_generation(struct rcu_pub *p)
{
	return rt_counter_get(&p->generation);
}

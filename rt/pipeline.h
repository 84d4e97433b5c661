/*
 * pipeline.h - a program declares its stages and the rings between them; the pipeline assembles and runs them.
 *
 * A program lists its stages (struct rt_stage_desc: name, object size, init / thread / fini, whether the stage
 * polls descriptors of its own, default scheduling) and its rings (struct rt_ring_desc: producer stage, consumer
 * stage, record size).  The pipeline then:
 *   - allocates every stage object and every ring cache-line aligned (rt/ring.h's requirement) and zeroed, and one
 *     waiter per stage: RT_WAIT_EVENTFD for a stage that polls (it polls rt_waiter_fd() beside its tty or socket),
 *     the configured mode for the others; every input ring of a stage notifies that stage's waiter;
 *   - initialises the stages front to back (list order), so a stage may look up what an earlier one provided
 *     (rt_pipeline_provide / rt_pipeline_lookup: e.g. decode provides the published vehicle state "vstate");
 *   - starts the threads back to front, so every consumer runs before its producer;
 *   - stops front to back: the stop flag is raised and every waiter kicked; then, in list order, a started stage is
 *     joined and a stage that never started has its output rings closed in its place.  A source stage (no input
 *     ring) ends on the stop flag; every other stage ends when all its input rings are drained and closes its
 *     outputs, so the pipeline empties front to back and no accepted record is lost.
 * One rule undoes everything: a failed start stops what started by the same stop procedure; a failed init finis
 * the stages already initialised, in reverse order; rt_pipeline_destroy finis every initialised stage.
 *
 * Stage contract: init(self, env) prepares everything the thread will touch (allocation, files, descriptors) and
 * returns 0 or -errno; thread(self) is the thread body; fini(self) undoes init (called once, after the thread was
 * joined or when it never started; also after a failed init, which must leave self finishable).  A stage closes
 * every output ring when its thread ends.
 *
 * Synchronization: every function here is for the control thread only.  rt_pipeline_stop is idempotent.
 * rt_pipeline_create allocates; nothing here runs on a stage thread.
 */
#ifndef V2X_RT_PIPELINE_H
#define V2X_RT_PIPELINE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/config.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/wait.h"

#define RT_PIPELINE_MAX_STAGES 16
#define RT_PIPELINE_MAX_RINGS 32
#define RT_PIPELINE_MAX_PORTS 8   /* input or output rings of one stage */
#define RT_PIPELINE_MAX_PROVIDED 16

struct rt_pipeline;
struct rt_registry;

/* What a stage's init receives.  Pointers stay valid until rt_pipeline_destroy. */
struct rt_stage_env {
	const char *name;
	void *conf;                    /* the stage's configuration struct (desc.conf_size bytes), or NULL */
	struct ring *in[RT_PIPELINE_MAX_PORTS];  /* input rings, in the order of the program's ring list */
	const char *in_from[RT_PIPELINE_MAX_PORTS]; /* the producer stage of each input */
	size_t n_in;
	struct ring *out[RT_PIPELINE_MAX_PORTS]; /* output rings, likewise */
	size_t n_out;
	struct rt_waiter *waiter;      /* the stage's waiter: its inputs notify it, the stop kicks it */
	const struct rt_stop *stop;    /* raised by rt_pipeline_stop */
	uint64_t full_wait_ns;         /* back-pressure: how long a producer may wait on a full ring, then drop */
	struct rt_pipeline *pipeline;  /* for rt_pipeline_provide / rt_pipeline_lookup during init */
	struct rt_registry *registry;  /* where the stage registers its counters and histograms (may be NULL) */
};

struct rt_stage_desc {
	const char *name;              /* also its configuration section; its thread is "v2x-<name>" with '_' as '-' */
	size_t size;                   /* bytes of the stage object (allocated by the pipeline, aligned, zeroed) */
	bool polls;                    /* waits in poll() on descriptors of its own: an RT_WAIT_EVENTFD waiter */
	int (*init)(void *self, const struct rt_stage_env *env);
	void *(*thread)(void *self);
	void (*fini)(void *self);
	/* Configuration (rt/config.h): the table (struct size, defaults, keys), or NULL; the stage's struct must hold a
	 * struct rt_sched_conf at sched_offset (RT_CONFIG_SCHED_KEYS gives it its [stage] cpus/policy/priority keys). */
	const struct rt_config_table *config;
	size_t sched_offset;
};

struct rt_ring_desc {
	const char *from, *to;         /* producer and consumer stage names */
	size_t rec_size;
	size_t capacity;               /* records, a power of two; 0: the pipeline's ring_records */
};

struct rt_pipeline_conf {
	size_t ring_records;           /* default ring capacity (power of two) */
	enum rt_wait_mode wait_mode;   /* for stages that do not poll: sleep, hybrid or spin */
	uint64_t spin_ns;              /* hybrid mode's spin */
	uint64_t full_wait_ns;         /* handed to the stages (struct rt_stage_env) */
	bool realtime;                 /* stages whose policy is `other` run SCHED_FIFO at their priority instead */
};

/* Fills conf with the defaults: 65536-record rings, sleeping consumers, 50 us spin, 2 s full wait, not real-time. */
void rt_pipeline_conf_init(struct rt_pipeline_conf *conf);

/*
 * Allocates a pipeline for *stages[0..n_stages-1] (front to back) and rings[0..n_rings-1]: stage objects and
 * configuration structs (filled with each table's defaults; rt_config_load fills them again through
 * rt_pipeline_config_binds).  Rings and waiters are allocated by
 * rt_pipeline_init (their sizes are configuration).  The arrays must outlive the pipeline.  Returns 0, -EINVAL (an
 * unknown stage name in a ring, too many stages/rings/ports, a ring from a stage to itself) or -ENOMEM.
 */
int rt_pipeline_create(struct rt_pipeline **out, const struct rt_stage_desc *const *stages, size_t n_stages,
		       const struct rt_ring_desc *rings, size_t n_rings);

/* Fills binds[0..] with every stage's configuration table and struct, for rt_config_load.  Returns how many (at
 * most max). */
size_t rt_pipeline_config_binds(struct rt_pipeline *p, struct rt_config_bind *binds, size_t max);

/* The stage called name: its index, or -1. */
int rt_pipeline_find(const struct rt_pipeline *p, const char *name);

/* Stage i's object, configuration struct (NULL without one), scheduling (in its configuration struct, else the
 * pipeline's default), descriptor, and thread state. */
void *rt_pipeline_stage(struct rt_pipeline *p, int i);
void *rt_pipeline_conf(struct rt_pipeline *p, int i);
struct rt_sched_conf *rt_pipeline_sched(struct rt_pipeline *p, int i);
const struct rt_stage_desc *rt_pipeline_desc(const struct rt_pipeline *p, int i);
size_t rt_pipeline_count(const struct rt_pipeline *p);
bool rt_pipeline_running(const struct rt_pipeline *p, int i); /* its thread was started and not yet joined */

/* Ring i of the program's list (valid after rt_pipeline_init), and how many there are. */
struct ring *rt_pipeline_ring(struct rt_pipeline *p, size_t i);
size_t rt_pipeline_ring_count(const struct rt_pipeline *p);

/*
 * Allocates rings and waiters as conf says, then initialises every stage front to back.  On a stage's failure the
 * stages already initialised are finished in reverse order and its error (-errno) is returned; the name of the
 * failing stage is logged (rt_err).  registry may be NULL.
 */
int rt_pipeline_init(struct rt_pipeline *p, const struct rt_pipeline_conf *conf, struct rt_registry *registry);

/* During a stage's init: makes ptr known under name to the stages initialised after it.  Returns 0, -EEXIST, -ENOSPC. */
int rt_pipeline_provide(struct rt_pipeline *p, const char *name, void *ptr);

/* During a stage's init: what an earlier stage provided under name, or NULL. */
void *rt_pipeline_lookup(struct rt_pipeline *p, const char *name);

/*
 * Starts the stage threads back to front with their scheduling.  On a failure, stops what started (the
 * rt_pipeline_stop rule) and returns the error (-errno, logged with the stage's name).
 */
int rt_pipeline_start(struct rt_pipeline *p);

/*
 * Stops front to back (see the top of this file) and returns when every thread was joined.  Blocks while the
 * stages drain their inputs.  Idempotent; a no-op before rt_pipeline_start.
 */
void rt_pipeline_stop(struct rt_pipeline *p);

/*
 * Liveness, for a watchdog: returns -1 when every consumer made progress since the previous call (a ring with
 * records waiting had some taken), else the index of a ring whose records waited the whole time untouched (its
 * consumer is stuck).  The first call only records the positions.  Control thread; reads ring indices.
 */
int rt_pipeline_stalled_ring(struct rt_pipeline *p);

/* Stops if needed, finishes every initialised stage (in reverse order), frees everything.  NULL is allowed. */
void rt_pipeline_destroy(struct rt_pipeline *p);

#endif

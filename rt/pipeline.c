/*
 * pipeline.c - assembling, starting and stopping a program's stages (contract in pipeline.h).
 *
 * Everything the pipeline owns is cache-line aligned: stage objects embed rings and waiters (_Alignas(64) members),
 * and a struct ring in memory from calloc() (16-byte alignment) is undefined behaviour and false sharing.
 */
#include "rt/pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/thread.h"

struct pipeline__stage {
	const struct rt_stage_desc *desc;
	void *obj;
	void *conf;
	struct rt_sched_conf *sched; /* in conf, or own_sched */
	struct rt_sched_conf own_sched;
	struct rt_stage_env env;
	struct rt_waiter *waiter;  /* aligned allocation */
	struct rt_thread thread;
	char thread_name[16];
	bool initialised, started, joined;
};

struct rt_pipeline {
	struct pipeline__stage stages[RT_PIPELINE_MAX_STAGES];
	size_t n_stages;
	const struct rt_ring_desc *ring_descs;
	struct ring *rings[RT_PIPELINE_MAX_RINGS]; /* aligned allocations */
	char ring_names[RT_PIPELINE_MAX_RINGS][48];
	size_t n_rings;
	struct rt_stop stop;
	struct rt_pipeline_conf conf;
	struct {
		const char *name;
		void *ptr;
	} provided[RT_PIPELINE_MAX_PROVIDED];
	size_t n_provided;
	bool inited, ready, stop_done; /* rings allocated; every stage initialised; stopped */
	uint64_t seen_tail[RT_PIPELINE_MAX_RINGS], seen_head[RT_PIPELINE_MAX_RINGS]; /* rt_pipeline_stalled_ring */
	bool seen;
};

/* Zeroed memory aligned for the _Alignas(RT_CACHE_LINE) members of rings, waiters and stage objects. */
static void *pipeline__zalloc(size_t size)
{
	size_t rounded = (size + RT_CACHE_LINE - 1) / RT_CACHE_LINE * RT_CACHE_LINE;
	void *p = aligned_alloc(RT_CACHE_LINE, rounded ? rounded : RT_CACHE_LINE);
	if (p)
		memset(p, 0, rounded ? rounded : RT_CACHE_LINE);
	return p;
}

void rt_pipeline_conf_init(struct rt_pipeline_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->ring_records = 65536;
	/* Measured (docs/performance.md): at bus rate a futex wake-up costs less CPU than spinning between frames. */
	conf->wait_mode = RT_WAIT_SLEEP;
	conf->spin_ns = 50 * RT_NS_PER_US;
	conf->full_wait_ns = 2 * RT_NS_PER_SEC;
	conf->realtime = false;
}

int rt_pipeline_find(const struct rt_pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n_stages; i++)
		if (strcmp(p->stages[i].desc->name, name) == 0)
			return (int)i;
	return -1;
}

int rt_pipeline_create(struct rt_pipeline **out, const struct rt_stage_desc *const *stages, size_t n_stages,
		       const struct rt_ring_desc *rings, size_t n_rings)
{
	struct rt_pipeline *p;
	int rc = -EINVAL;

	*out = NULL;
	if (n_stages == 0 || n_stages > RT_PIPELINE_MAX_STAGES || n_rings > RT_PIPELINE_MAX_RINGS)
		return -EINVAL;
	p = pipeline__zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n_stages = n_stages;
	p->ring_descs = rings;
	p->n_rings = n_rings;
	rt_stop_init(&p->stop);
	rt_pipeline_conf_init(&p->conf);
	for (size_t i = 0; i < n_stages; i++) {
		struct pipeline__stage *s = &p->stages[i];
		const struct rt_stage_desc *d = stages[i];
		s->desc = d;
		if (!d->name || !d->thread || rt_pipeline_find(p, d->name) != (int)i)
			goto fail; /* unnamed, no body, or a duplicate name */
		s->obj = pipeline__zalloc(d->size);
		if (!s->obj)
			goto nomem;
		rt_sched_conf_init(&s->own_sched, SCHED_OTHER, 50);
		s->sched = &s->own_sched;
		if (d->config) {
			if (d->sched_offset + sizeof(struct rt_sched_conf) > d->config->conf_size)
				goto fail;
			s->conf = pipeline__zalloc(d->config->conf_size);
			if (!s->conf)
				goto nomem;
			if (d->config->defaults)
				d->config->defaults(s->conf);
			s->sched = (struct rt_sched_conf *)(void *)((char *)s->conf + d->sched_offset);
		}
		snprintf(s->thread_name, sizeof(s->thread_name), "v2x-%s", d->name);
		for (char *c = s->thread_name; *c; c++)
			if (*c == '_')
				*c = '-'; /* "v2x-can-rx": thread names in ps, top and traces keep the old spelling */
		s->env.name = d->name;
		s->env.conf = s->conf;
		s->env.stop = &p->stop;
		s->env.pipeline = p;
	}
	for (size_t r = 0; r < n_rings; r++) {
		int from = rt_pipeline_find(p, rings[r].from), to = rt_pipeline_find(p, rings[r].to);
		if (from < 0 || to < 0 || from == to || rings[r].rec_size == 0)
			goto fail;
		struct rt_stage_env *pe = &p->stages[from].env, *ce = &p->stages[to].env;
		if (pe->n_out == RT_PIPELINE_MAX_PORTS || ce->n_in == RT_PIPELINE_MAX_PORTS)
			goto fail;
		pe->n_out++; /* the ring pointers are filled in by rt_pipeline_init */
		ce->n_in++;
		snprintf(p->ring_names[r], sizeof(p->ring_names[r]), "%s->%s", rings[r].from, rings[r].to);
	}
	*out = p;
	return 0;
nomem:
	rc = -ENOMEM;
fail:
	rt_pipeline_destroy(p);
	return rc;
}

void *rt_pipeline_stage(struct rt_pipeline *p, int i)
{
	return i >= 0 && (size_t)i < p->n_stages ? p->stages[i].obj : NULL;
}

void *rt_pipeline_conf(struct rt_pipeline *p, int i)
{
	return i >= 0 && (size_t)i < p->n_stages ? p->stages[i].conf : NULL;
}

struct rt_sched_conf *rt_pipeline_sched(struct rt_pipeline *p, int i)
{
	return i >= 0 && (size_t)i < p->n_stages ? p->stages[i].sched : NULL;
}

size_t rt_pipeline_config_binds(struct rt_pipeline *p, struct rt_config_bind *binds, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_stages && n < max; i++) {
		if (!p->stages[i].desc->config)
			continue;
		binds[n].table = p->stages[i].desc->config;
		binds[n].conf = p->stages[i].conf;
		n++;
	}
	return n;
}

const struct rt_stage_desc *rt_pipeline_desc(const struct rt_pipeline *p, int i)
{
	return i >= 0 && (size_t)i < p->n_stages ? p->stages[i].desc : NULL;
}

size_t rt_pipeline_count(const struct rt_pipeline *p)
{
	return p->n_stages;
}

bool rt_pipeline_running(const struct rt_pipeline *p, int i)
{
	return i >= 0 && (size_t)i < p->n_stages && p->stages[i].started && !p->stages[i].joined;
}

struct ring *rt_pipeline_ring(struct rt_pipeline *p, size_t i)
{
	return i < p->n_rings ? p->rings[i] : NULL;
}

size_t rt_pipeline_ring_count(const struct rt_pipeline *p)
{
	return p->n_rings;
}

int rt_pipeline_provide(struct rt_pipeline *p, const char *name, void *ptr)
{
	if (rt_pipeline_lookup(p, name))
		return -EEXIST;
	if (p->n_provided == RT_PIPELINE_MAX_PROVIDED)
		return -ENOSPC;
	p->provided[p->n_provided].name = name;
	p->provided[p->n_provided].ptr = ptr;
	p->n_provided++;
	return 0;
}

void *rt_pipeline_lookup(struct rt_pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n_provided; i++)
		if (strcmp(p->provided[i].name, name) == 0)
			return p->provided[i].ptr;
	return NULL;
}

/* Finishes stages [0, n) in reverse order. */
static void pipeline__fini_stages(struct rt_pipeline *p, size_t n)
{
	while (n-- > 0) {
		struct pipeline__stage *s = &p->stages[n];
		if (s->initialised && s->desc->fini)
			s->desc->fini(s->obj);
		s->initialised = false;
	}
}

int rt_pipeline_init(struct rt_pipeline *p, const struct rt_pipeline_conf *conf, struct rt_registry *registry)
{
	int rc;

	if (p->inited)
		return -EALREADY;
	p->conf = *conf;
	/* Waiters first (rings name their consumer's waiter). */
	for (size_t i = 0; i < p->n_stages; i++) {
		struct pipeline__stage *s = &p->stages[i];
		s->waiter = pipeline__zalloc(sizeof(*s->waiter));
		if (!s->waiter)
			return -ENOMEM;
		rc = rt_waiter_init(s->waiter, s->desc->polls ? RT_WAIT_EVENTFD : conf->wait_mode, conf->spin_ns);
		if (rc < 0) {
			rt_err("%s: cannot create its waiter: %s", s->desc->name, strerror(-rc));
			return rc;
		}
		s->env.waiter = s->waiter;
		s->env.full_wait_ns = conf->full_wait_ns;
		s->env.registry = registry;
		s->env.n_in = s->env.n_out = 0;
	}
	for (size_t r = 0; r < p->n_rings; r++) {
		const struct rt_ring_desc *d = &p->ring_descs[r];
		struct pipeline__stage *from = &p->stages[rt_pipeline_find(p, d->from)];
		struct pipeline__stage *to = &p->stages[rt_pipeline_find(p, d->to)];
		size_t cap = d->capacity ? d->capacity : conf->ring_records;

		p->rings[r] = pipeline__zalloc(sizeof(struct ring));
		if (!p->rings[r])
			return -ENOMEM;
		rc = ring_init(p->rings[r], p->ring_names[r], d->rec_size, cap, to->waiter);
		if (rc < 0) {
			rt_err("ring %s: cannot allocate %zu records of %zu bytes: %s", p->ring_names[r], cap, d->rec_size,
			       strerror(-rc));
			return rc;
		}
		from->env.out[from->env.n_out++] = p->rings[r];
		to->env.in_from[to->env.n_in] = d->from;
		to->env.in[to->env.n_in++] = p->rings[r];
	}
	p->inited = true;
	for (size_t i = 0; i < p->n_stages; i++) {
		struct pipeline__stage *s = &p->stages[i];
		rc = s->desc->init ? s->desc->init(s->obj, &s->env) : 0;
		/* A failed init leaves the object finishable: fini undoes whatever part succeeded. */
		s->initialised = true;
		if (rc < 0) {
			rt_err("%s: cannot prepare the stage: %s", s->desc->name, strerror(-rc));
			pipeline__fini_stages(p, i + 1);
			return rc;
		}
	}
	p->ready = true;
	return 0;
}

int rt_pipeline_start(struct rt_pipeline *p)
{
	int rc = 0;

	if (!p->ready)
		return -EINVAL;
	/* Back to front: every consumer runs before its producer. */
	for (size_t k = p->n_stages; k-- > 0;) {
		struct pipeline__stage *s = &p->stages[k];
		struct rt_thread_conf tc;

		rt_thread_conf_init(&tc, s->thread_name);
		rt_sched_conf_to_thread(s->sched, &tc);
		tc.name = s->thread_name;
		if (p->conf.realtime && tc.policy == SCHED_OTHER) {
			tc.policy = SCHED_FIFO;
			tc.priority = s->sched->priority;
		}
		rc = rt_thread_start(&s->thread, &tc, s->desc->thread, s->obj);
		if (rc < 0) {
			rt_err("%s: cannot start its thread: %s", s->desc->name, strerror(-rc));
			rt_pipeline_stop(p);
			return rc;
		}
		s->started = true;
	}
	return 0;
}

void rt_pipeline_stop(struct rt_pipeline *p)
{
	if (!p->inited || p->stop_done)
		return;
	p->stop_done = true;
	rt_stop_request(&p->stop);
	for (size_t i = 0; i < p->n_stages; i++)
		rt_waiter_kick(p->stages[i].waiter);
	/* Front to back: a started stage drains its inputs, closes its outputs and ends; a stage that never started
	 * has its outputs closed here, so the stages after it still see their inputs drained. */
	for (size_t i = 0; i < p->n_stages; i++) {
		struct pipeline__stage *s = &p->stages[i];
		if (s->started && !s->joined) {
			rt_thread_join(&s->thread);
			s->joined = true;
		} else if (!s->started) {
			for (size_t o = 0; o < s->env.n_out; o++)
				ring_close(s->env.out[o]);
		}
	}
}

int rt_pipeline_stalled_ring(struct rt_pipeline *p)
{
	int stalled = -1;

	for (size_t r = 0; r < p->n_rings && p->inited; r++) {
		/* Acquire pairs with the owners' release stores: relaxed would do for a heuristic, acquire costs nothing. */
		uint64_t tail = atomic_load_explicit(&p->rings[r]->tail, memory_order_acquire);
		uint64_t head = atomic_load_explicit(&p->rings[r]->head, memory_order_acquire);
		/* Stuck: records were waiting at the previous look and the consumer has taken none of them since. */
		if (p->seen && p->seen_head[r] != p->seen_tail[r] && tail == p->seen_tail[r] && stalled < 0)
			stalled = (int)r;
		p->seen_tail[r] = tail;
		p->seen_head[r] = head;
	}
	p->seen = true;
	return stalled;
}

void rt_pipeline_destroy(struct rt_pipeline *p)
{
	if (!p)
		return;
	if (p->inited) {
		bool any_started = false;
		for (size_t i = 0; i < p->n_stages; i++)
			any_started |= p->stages[i].started;
		if (any_started)
			rt_pipeline_stop(p);
	}
	pipeline__fini_stages(p, p->n_stages);
	for (size_t r = 0; r < p->n_rings; r++) {
		if (p->rings[r])
			ring_fini(p->rings[r]);
		free(p->rings[r]);
	}
	for (size_t i = 0; i < p->n_stages; i++) {
		struct pipeline__stage *s = &p->stages[i];
		if (s->waiter)
			rt_waiter_fini(s->waiter);
		free(s->waiter);
		free(s->obj);
		free(s->conf);
	}
	free(p);
}

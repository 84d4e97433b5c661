/* decode_stage.c - the decode stage's thread (see decode_stage.h). */
#include "stages/decode/decode_stage.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <urcu.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/pipeline.h"
#include "stages/decode/dbc.h"
#include "vehicle/builtin_dbc.h"
#include "stages/decode/vstate_update.h"
#include "trace/tp.h"

static const char *const decode_drop_names[DECODE_DROP__COUNT] = {
	[DECODE_DROP_RING_FULL] = "ring_full",
	[DECODE_DROP_RANGE] = "invalid_range",
	[DECODE_DROP_SHORT_DLC] = "short_dlc",
	[DECODE_DROP_GATED] = "bms_gated",
	[DECODE_DROP_UNKNOWN_ID] = "unknown_id",
};

int decode_stage_init(struct decode_stage *st, struct decoder *dec, struct ring *in, struct rt_waiter *waiter,
		      struct ring *out)
{
	memset(st, 0, sizeof(*st));
	st->in = in;
	st->out = out;
	st->waiter = waiter;
	st->dec = dec;
	st->publish_ns = 1 * RT_NS_PER_MS;
	st->tick_ns = 100 * RT_NS_PER_MS;
	st->full_wait_ns = 2 * RT_NS_PER_SEC;
	rt_counters_init(&st->ctr, "decode", decode_drop_names, DECODE_DROP__COUNT);
	rt_hist_init(&st->rx_to_decoded_ns);
	vstate_init(&st->live);
	/* Eight snapshots: readers hold one each for microseconds; the rest wait out their grace period. */
	return rcu_pub_init(&st->pub, sizeof(struct vstate), 8);
}

void decode_stage_fini(struct decode_stage *st)
{
	rcu_pub_fini(&st->pub);
}

/* What a batch did: its CAN frames' counts (added to the live state and the drop counters once per batch), and where
   the current run of one link's records started (can_batch_decoded, once per run). */
struct decode__batch {
	struct decode_tally t;
	uint64_t run_n, run_ninvalid;     /* t.n and t.ninvalid when the run started */
};

static inline void decode__record(struct decode_stage *st, const struct rx_record *rec, struct decode__batch *b)
{
	uint64_t ninvalid;
	unsigned n;

	switch (rec->type) {
	case REC_CAN:
		ninvalid = b->t.ninvalid;
		n = decoder_frame_apply(st->dec, &rec->u.can, (int64_t)rec->rx_mono_ns, &st->live, rec->rx_real_ns, &b->t);
		vstate_frame_applied(&st->live, rec->rx_real_ns, rec->rx_mono_ns, rec->seq);
		V2X_TP(can_signals_decoded, rec->link, rec->u.can.id, rec->seq, n, (uint32_t)(b->t.ninvalid - ninvalid));
		break;
	case REC_GPS:
		vstate_apply_gps(&st->live, &rec->u.gps, rec->rx_real_ns, rec->seq);
		V2X_TP(gps_fix, rec->seq, rec->u.gps.valid, rec->u.gps.sats);
		break;
	case REC_STATUS:
		vstate_apply_status(&st->live, &rec->u.status, rec->rx_real_ns, rec->seq);
		break;
	default:
		break;
	}
}

/* The run recs[first .. end - 1] of one link is applied. */
static inline void decode__run_end(const struct rx_record *recs, size_t first, size_t end, struct decode__batch *b)
{
	V2X_TP(can_batch_decoded, recs[first].link, recs[first].seq, recs[end - 1].seq, (uint32_t)(end - first),
	       (uint32_t)(b->t.n - b->run_n), (uint32_t)(b->t.ninvalid - b->run_ninvalid));
	b->run_n = b->t.n;
	b->run_ninvalid = b->t.ninvalid;
}

static const enum decode_drop decode_drop_of[DEC_INV__COUNT] = {
	[DEC_INV_RANGE] = DECODE_DROP_RANGE,
	[DEC_INV_SHORT_DLC] = DECODE_DROP_SHORT_DLC,
	[DEC_INV_GATED] = DECODE_DROP_GATED,
};

/* The batch's counts into the live state and the drop counters. */
static void decode__batch_done(struct decode_stage *st, const struct decode__batch *b)
{
	vstate_add_tally(&st->live, &b->t);
	if (b->t.ninvalid)
		for (int i = 0; i < DEC_INV__COUNT; i++)
			if (b->t.invalid[i])
				rt_count(&st->ctr.dropped[decode_drop_of[i]], b->t.invalid[i]);
	if (b->t.unknown_ids)
		rt_count(&st->ctr.dropped[DECODE_DROP_UNKNOWN_ID], b->t.unknown_ids);
	st->dirty = 1;
}

/*
 * The decoder takes the CAN frames of recs[0 .. n-1] in one call; GPS fixes and status (rare on the CAN link) are
 * applied after it, which ends in the same state as record by record: they touch other fields than the frames do,
 * except last_seq and updated_real_ns, which are then set from the last record applied.
 */
static void decode__run(struct decode_stage *st, const struct rx_record *recs, size_t n, struct decode__batch *b)
{
	if (decoder_records_apply(st->dec, recs, n, &st->live, &b->t) == 0)
		return;
	const struct rx_record *last = NULL;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].type == REC_GPS || recs[i].type == REC_STATUS)
			decode__record(st, &recs[i], b);
		if (recs[i].type == REC_CAN || recs[i].type == REC_GPS || recs[i].type == REC_STATUS)
			last = &recs[i];
	}
	if (last) {
		st->live.last_seq = last->seq;
		st->live.updated_real_ns = last->rx_real_ns;
	}
}

/*
 * Per run of one link's records, then its can_batch_decoded: each run in one decoder call, or record by record with
 * the per-frame tracepoint (per_record).
 */
static void decode__runs(struct decode_stage *st, const struct rx_record *recs, size_t n, struct decode__batch *b,
			 bool per_record)
{
	size_t run = 0;

	for (size_t i = 1; i <= n; i++) {
		if (i < n && recs[i].link == recs[run].link)
			continue;
		if (per_record)
			for (size_t j = run; j < i; j++)
				decode__record(st, &recs[j], b);
		else
			decode__run(st, &recs[run], i - run, b);
		decode__run_end(recs, run, i, b);
		run = i;
	}
}

void decode_stage_apply_batch(struct decode_stage *st, const struct rx_record *recs, size_t n)
{
	struct decode__batch b;

	if (n == 0)
		return;
	memset(&b, 0, sizeof(b));
	enum decode_path path = st->path;
	if (path == DECODE_PATH_AUTO)
		path = V2X_TP_ENABLED(can_signals_decoded) ? DECODE_PATH_RECORDS
		       : V2X_TP_ENABLED(can_batch_decoded) ? DECODE_PATH_RUNS
							   : DECODE_PATH_BATCH;
	if (path == DECODE_PATH_RECORDS || path == DECODE_PATH_RUNS)
		decode__runs(st, recs, n, &b, path == DECODE_PATH_RECORDS);
	else
		decode__run(st, recs, n, &b);
	decode__batch_done(st, &b);
}

void decode_stage_apply(struct decode_stage *st, const struct rx_record *rec)
{
	struct decode__batch b;

	memset(&b, 0, sizeof(b));
	decode__runs(st, rec, 1, &b, true);
	decode__batch_done(st, &b);
}

static void publish(struct decode_stage *st, uint64_t now)
{
	struct vstate *snap = rcu_pub_begin(&st->pub);

	if (!snap)
		return; /* every snapshot awaits its grace period: publish after the next batch (counted in starved) */
	memcpy(snap, &st->live, sizeof(*snap));
	rcu_pub_commit(&st->pub, snap);
	st->dirty = 0;
	st->last_publish_mono_ns = now;
	V2X_TP(state_published, rcu_pub_generation(&st->pub), st->live.last_seq);
}

static void tick(struct decode_stage *st, uint64_t now)
{
	struct decode_result res;

	if (now - st->last_tick_mono_ns < st->tick_ns)
		return;
	st->last_tick_mono_ns = now;
	if (decoder_tick(st->dec, (int64_t)now, &res) > 0) {
		vstate_apply_tick(&st->live, st->dec, &res, rt_real_ns());
		st->dirty = 1;
	}
}

/* Forwards n records to the log ring, waiting (bounded) while it is full. */
static void forward(struct decode_stage *st, const struct rx_record *recs, size_t n)
{
	if (!st->out)
		return;
	size_t done = ring_push_all(st->out, recs, n, st->full_wait_ns);
	if (done < n)
		rt_count(&st->ctr.dropped[DECODE_DROP_RING_FULL], n - done);
	rt_count(&st->ctr.out, done);
}

void *decode_stage_thread(void *arg)
{
	struct decode_stage *st = arg;

	rcu_register_thread();
	for (;;) {
		size_t n;
		const struct rx_record *recs = ring_peek(st->in, &n);
		uint64_t now;

		if (n == 0) {
			if (ring_is_drained(st->in))
				break;
			now = rt_mono_ns();
			if (st->dirty)
				publish(st, now);
			tick(st, now);
			(void)ring_wait(st->in, (int64_t)st->tick_ns);
			continue;
		}
		decode_stage_apply_batch(st, recs, n);
		rt_count(&st->ctr.in, n);
		now = rt_mono_ns();
		rt_hist_record(&st->rx_to_decoded_ns, now - recs[0].rx_mono_ns);
		/* Publish before forwarding: the state never waits behind a full output ring (and so never on disk). */
		if (st->dirty && now - st->last_publish_mono_ns >= st->publish_ns)
			publish(st, now);
		forward(st, recs, n);
		ring_release(st->in, n);
		tick(st, now);
	}
	/* The last state must be published even if every snapshot still awaits its grace period. */
	for (int tries = 0; tries < 3 && (st->dirty || tries == 0); tries++) {
		publish(st, rt_mono_ns());
		if (st->dirty)
			rcu_barrier();
	}
	if (st->out)
		ring_close(st->out);
	V2X_TP(stage_stop, "decode", rt_counter_get(&st->ctr.in), rt_counter_get(&st->ctr.out),
	       rt_counters_dropped_total(&st->ctr));
	rcu_unregister_thread();
	return NULL;
}

int decode_load_decoder(const char *path, bool allow_empty, struct decoder **out)
{
	struct dbc dbc;
	struct dbc_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	*out = NULL;
	if (path && path[0])
		rc = dbc_load_flags(&dbc, path, allow_empty ? DBC_LOAD_ALLOW_EMPTY : 0, &err);
	else
		rc = dbc_parse(&dbc, twizy_dbc_text, twizy_dbc_len, &err);
	if (rc < 0) {
		const char *name = path && path[0] ? path : "built-in twizy.dbc";
		size_t n = strlen(name);
		if (strncmp(err.msg, name, n) == 0 && err.msg[n] == ':')
			rt_err("%s", err.msg); /* a load error names the file already */
		else
			rt_err("%s: %s", name, err.msg[0] ? err.msg : strerror(-rc));
		return rc;
	}
	rc = decoder_create(out, &dbc);
	dbc_fini(&dbc);
	if (rc < 0)
		rt_err("cannot compile the DBC: %s", strerror(-rc));
	return rc;
}

static int decode_pipeline_init(void *self, const struct rt_stage_env *env)
{
	struct decode_stage *st = self;
	const struct decode_conf *c = env->conf;
	struct decoder *dec;
	int rc = decode_load_decoder(c->dbc, c->allow_empty_dbc, &dec);

	if (rc < 0)
		return rc;
	rc = decode_stage_init(st, dec, env->n_in ? env->in[0] : NULL, env->waiter, env->n_out ? env->out[0] : NULL);
	st->owned_dec = dec; /* after init's memset */
	if (rc < 0)
		return rc;
	st->publish_ns = c->publish_ns;
	st->full_wait_ns = env->full_wait_ns;
	const char *slash = strrchr(c->dbc, '/');
	snprintf(st->dbc_name, sizeof(st->dbc_name), "%.63s", c->dbc[0] ? (slash ? slash + 1 : c->dbc) : "twizy.dbc");
	rc = rt_pipeline_provide(env->pipeline, "dbc_name", st->dbc_name);
	if (rc < 0)
		return rc;
	return rt_pipeline_provide(env->pipeline, "vstate", &st->pub);
}

static void decode_pipeline_fini(void *self)
{
	struct decode_stage *st = self;
	if (st->pub.pool)
		decode_stage_fini(st);
	if (st->owned_dec)
		decoder_destroy(st->owned_dec);
	st->owned_dec = NULL;
}

static void decode_conf_defaults(void *conf)
{
	struct decode_conf *c = conf;
	memset(c, 0, sizeof(*c));
	c->publish_ns = 1 * RT_NS_PER_MS;
	rt_sched_conf_init(&c->sched, SCHED_OTHER, 75);
}

static const struct rt_config_key decode_keys[] = {
	{.section = "decode", .key = "dbc", .type = RT_CONFIG_PATH, RT_CONFIG_FIELD(struct decode_conf, dbc), .opt = "dbc",
	 .flags = RT_CONFIG_EMPTY_OK, .help = "signal database (empty: the built-in twizy.dbc)"},
	{.section = "decode", .key = "allow_empty_dbc", .type = RT_CONFIG_BOOL,
	 RT_CONFIG_FIELD(struct decode_conf, allow_empty_dbc), .opt = "allow-empty-dbc",
	 .help = "accept a database that defines no message"},
	{.section = "decode", .key = "publish_us", .type = RT_CONFIG_DURATION, RT_CONFIG_FIELD(struct decode_conf, publish_ns),
	 .unit = "us", .umin = 0, .umax = 1000000, .help = "least time between publications of the vehicle state"},
	RT_CONFIG_SCHED_KEYS("decode", struct decode_conf, sched),
};

const struct rt_config_table decode_config = {
	.name = "decode",
	.keys = decode_keys,
	.n_keys = sizeof(decode_keys) / sizeof(decode_keys[0]),
	.conf_size = sizeof(struct decode_conf),
	.defaults = decode_conf_defaults,
};

const struct rt_stage_desc decode_stage = {
	.name = "decode",
	.size = sizeof(struct decode_stage),
	.init = decode_pipeline_init,
	.thread = decode_stage_thread,
	.fini = decode_pipeline_fini,
	.config = &decode_config,
	.sched_offset = offsetof(struct decode_conf, sched),
};

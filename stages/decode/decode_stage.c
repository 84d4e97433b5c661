/* decode_stage.c - the decode stage's thread (see decode_stage.h). */
#include "stages/decode/decode_stage.h"

#include <errno.h>
#include <string.h>
#include <urcu.h>

#include "rt/clock.h"
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

static void count_result(struct decode_stage *st, const struct decode_result *res)
{
	if (res->invalid[DEC_INV_RANGE])
		rt_count(&st->ctr.dropped[DECODE_DROP_RANGE], res->invalid[DEC_INV_RANGE]);
	if (res->invalid[DEC_INV_SHORT_DLC])
		rt_count(&st->ctr.dropped[DECODE_DROP_SHORT_DLC], res->invalid[DEC_INV_SHORT_DLC]);
	if (res->invalid[DEC_INV_GATED])
		rt_count(&st->ctr.dropped[DECODE_DROP_GATED], res->invalid[DEC_INV_GATED]);
	if (!res->known_id)
		rt_count(&st->ctr.dropped[DECODE_DROP_UNKNOWN_ID], 1);
}

void decode_stage_apply(struct decode_stage *st, const struct rx_record *rec)
{
	struct decode_result res;

	switch (rec->type) {
	case REC_CAN:
		decoder_frame(st->dec, &rec->u.can, (int64_t)rec->rx_mono_ns, &res);
		vstate_apply(&st->live, st->dec, &res, rec->rx_real_ns, rec->rx_mono_ns, rec->seq);
		count_result(st, &res);
		V2X_TP(can_signals_decoded, rec->u.can.id, rec->seq, res.n,
		       res.invalid[DEC_INV_RANGE] + res.invalid[DEC_INV_SHORT_DLC] + res.invalid[DEC_INV_GATED]);
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
	st->dirty = 1;
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
		for (size_t i = 0; i < n; i++)
			decode_stage_apply(st, &recs[i]);
		rt_count(&st->ctr.in, n);
		now = rt_mono_ns();
		rt_hist_record(&st->rx_to_decoded_ns, now - recs[0].rx_mono_ns);
		forward(st, recs, n);
		ring_release(st->in, n);
		if (st->dirty && now - st->last_publish_mono_ns >= st->publish_ns)
			publish(st, now);
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

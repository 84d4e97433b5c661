/* vstate_update.c - decode results, fixes and status into struct vstate (see vstate_update.h). */
#include "stages/decode/vstate_update.h"

#include <string.h>

void vstate_init(struct vstate *s)
{
	memset(s, 0, sizeof *s);
}

static void vstate__values(struct vstate *s, const struct decoder *d, const struct decode_result *r,
			   int64_t rx_real_ns)
{
	for (unsigned i = 0; i < r->n && i < DECODE_MAX_VALUES; i++) {
		int canon = decoder_signal_canon(d, r->v[i].sig);
		if (canon < 0 || canon >= SIG__COUNT)
			continue;
		s->value[canon] = r->v[i].value;
		s->t_real_ns[canon] = rx_real_ns;
	}
}

void vstate_apply(struct vstate *s, const struct decoder *d, const struct decode_result *r, int64_t rx_real_ns,
		  uint64_t rx_mono_ns, uint64_t seq)
{
	struct decode_tally t = {.frames = 1, .n = r->n, .unknown_ids = !r->known_id};
	vstate__values(s, d, r, rx_real_ns);
	for (int i = 0; i < DEC_INV__COUNT; i++) {
		t.invalid[i] = r->invalid[i];
		t.ninvalid += r->invalid[i];
	}
	vstate_add_tally(s, &t);
	vstate_frame_applied(s, rx_real_ns, rx_mono_ns, seq);
}

void vstate_apply_tick(struct vstate *s, const struct decoder *d, const struct decode_result *r, int64_t rx_real_ns)
{
	if (r->n == 0)
		return;
	vstate__values(s, d, r, rx_real_ns);
	s->updated_real_ns = rx_real_ns;
}

void vstate_apply_gps(struct vstate *s, const struct gps_fix *fix, int64_t rx_real_ns, uint64_t seq)
{
	s->gps = *fix;
	s->gps_real_ns = rx_real_ns;
	s->gps_fixes++;
	s->last_seq = seq;
	s->updated_real_ns = rx_real_ns;
}

void vstate_apply_status(struct vstate *s, const struct link_status *st, int64_t rx_real_ns, uint64_t seq)
{
	s->status = *st;
	s->status_real_ns = rx_real_ns;
	s->last_seq = seq;
	s->updated_real_ns = rx_real_ns;
}

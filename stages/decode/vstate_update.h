/*
 * vstate_update.h - applying decode results, GPS fixes and link status to the vehicle state (vstate.h).
 *
 * The decode stage owns its working struct vstate and calls these on it before publishing a copy; they only write
 * the struct they are given.  Only canonical signals (signals.h) reach the state; other DBC signals (helpers, a user
 * DBC's extras) are left to `v2xd decode` and the logs.  No allocation, no blocking; the owner's thread only.
 */
#ifndef V2X_STAGES_DECODE_VSTATE_UPDATE_H
#define V2X_STAGES_DECODE_VSTATE_UPDATE_H

#include <stdint.h>

#include "vehicle/record.h"
#include "vehicle/vstate.h"
#include "stages/decode/decoder.h"

/* Zeroes s: no signal, no fix, no status, counters 0. */
void vstate_init(struct vstate *s);

/* Applies the result of decoder_frame() for one CAN frame received at rx_real_ns / rx_mono_ns with sequence number
   seq: canonical values and their times, frames + 1, invalid_values += the refusals, unknown_ids + 1 when the id is
   unknown, last_seq, updated_real_ns, last_frame_mono_ns.  rx_real_ns must be nonzero (0 means "never"). */
void vstate_apply(struct vstate *s, const struct decoder *d, const struct decode_result *r, int64_t rx_real_ns,
		  uint64_t rx_mono_ns, uint64_t seq);

/* The per-frame part of vstate_apply() for a frame decoder_frame_apply() decoded into s: last_seq, updated_real_ns,
   last_frame_mono_ns.  Inline: per frame. */
static inline void vstate_frame_applied(struct vstate *s, int64_t rx_real_ns, uint64_t rx_mono_ns, uint64_t seq)
{
	s->last_seq = seq;
	s->updated_real_ns = rx_real_ns;
	s->last_frame_mono_ns = rx_mono_ns;
}

/* The counters part of vstate_apply() for the frames decoder_frame_apply() decoded into s (t their sum, e.g. a
   batch's): frames, invalid_values and unknown_ids grow by t's counts. */
static inline void vstate_add_tally(struct vstate *s, const struct decode_tally *t)
{
	s->frames += t->frames;
	s->invalid_values += t->ninvalid;
	s->unknown_ids += t->unknown_ids;
}

/* Applies the result of decoder_tick() (no frame: values only, such as bus_online = 0) at rx_real_ns.  Counters,
   last_seq and last_frame_mono_ns are unchanged; updated_real_ns is set when r has values. */
void vstate_apply_tick(struct vstate *s, const struct decoder *d, const struct decode_result *r, int64_t rx_real_ns);

/* Stores fix as the latest GPS fix: gps, gps_real_ns, gps_fixes + 1, last_seq, updated_real_ns. */
void vstate_apply_gps(struct vstate *s, const struct gps_fix *fix, int64_t rx_real_ns, uint64_t seq);

/* Stores st as the latest link status: status, status_real_ns, last_seq, updated_real_ns. */
void vstate_apply_status(struct vstate *s, const struct link_status *st, int64_t rx_real_ns, uint64_t seq);

#endif

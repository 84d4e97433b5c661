/*
 * vstate.h - the vehicle state: the latest value and time of every canonical signal, the latest GPS fix, the
 * latest link status and link health.
 *
 * The decode stage owns the live copy and publishes it as an immutable snapshot through rt/rcu_state.h; readers
 * (log's merged rows, v2g, uplink, the control socket) read a snapshot under rcu_read_lock().  Plain data, fixed size.
 */
#ifndef V2X_VEHICLE_VSTATE_H
#define V2X_VEHICLE_VSTATE_H

#include <stdint.h>

#include "vehicle/record.h"
#include "vehicle/signals.h"

struct vstate {
	uint64_t last_seq;            /* seq of the last record applied */
	int64_t updated_real_ns;      /* receive time (CLOCK_REALTIME) of the last record applied; 0 = nothing yet */
	double value[SIG__COUNT];     /* latest valid value of each canonical signal */
	int64_t t_real_ns[SIG__COUNT]; /* receive time of that value; 0 = never received a valid value */
	struct gps_fix gps;           /* latest fix */
	int64_t gps_real_ns;          /* its receive time; 0 = none yet */
	struct link_status status;    /* latest link status */
	int64_t status_real_ns;       /* its receive time; 0 = none yet */
	/* link health */
	uint64_t frames;              /* CAN frames applied */
	uint64_t gps_fixes;           /* GPS fixes applied */
	uint64_t invalid_values;      /* signal values refused by the validity rules */
	uint64_t unknown_ids;         /* frames whose id the DBC does not describe */
	uint64_t last_frame_mono_ns;  /* CLOCK_MONOTONIC of the last frame; 0 = none */
};

/* Returns nonzero when sig has a valid value in s. */
static inline int vstate_has(const struct vstate *s, enum canon_sig sig)
{
	return s->t_real_ns[sig] != 0;
}

#endif

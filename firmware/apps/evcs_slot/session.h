/*
 * session.h - a charging slot's session logic: start and stop on a current threshold, energy from the meter's
 * counter, cost, and a stop requested by the vehicle.  Pure: readings and times come in as parameters.
 *
 * A session starts at the first reading whose current is above the threshold; its energy baseline is the meter's
 * counter at the reading before (the last one at or below the threshold), so the ramp-up between two reads is
 * counted.  It ends when the current stays at or below the threshold for stop_hold_ms (the car finished or was
 * unplugged), or at once on session_stop() (the vehicle's stop request).  Energy = counter now - baseline, in Wh; a
 * counter that goes backwards (meter reset) is counted and the baseline moves with it, so energy never decreases.
 * Cost = energy in kWh x cost_per_kwh.
 */
#ifndef V2X_FIRMWARE_APPS_EVCS_SLOT_SESSION_H
#define V2X_FIRMWARE_APPS_EVCS_SLOT_SESSION_H

#include <stdint.h>

#include "firmware/apps/evcs_slot/pzem.h"

enum session_end {
	SESSION_END_NONE = 0,
	SESSION_END_CURRENT = 1,      /* current at or below the threshold for stop_hold_ms */
	SESSION_END_VEHICLE_STOP = 2, /* the paired vehicle asked (V2G) */
};

/* Stable name ("none", "current", "vehicle_stop"). */
const char *session_end_name(enum session_end e);

struct session_record {
	uint32_t id;
	uint32_t start_ms, end_ms;
	uint32_t energy_wh;
	double cost;
	uint32_t max_current_ma;
	enum session_end end;
};

struct session_conf {
	uint32_t threshold_ma;
	uint32_t stop_hold_ms;
	double cost_per_kwh;
};

struct session {
	struct session_conf conf;
	uint8_t active;
	uint8_t have_prev;
	uint32_t prev_wh;       /* counter at the previous reading */
	uint32_t below_since_ms;
	uint8_t below;
	struct session_record cur;  /* the running session (when active) */
	struct session_record last; /* the last finished one */
	uint32_t next_id;
	uint32_t finished;
	uint32_t meter_resets;
};

enum session_event { SESSION_EV_NONE, SESSION_EV_STARTED, SESSION_EV_ENDED };

/* Start idle; sessions are numbered from first_id.  Never fails. */
void session_init(struct session *s, const struct session_conf *c, uint32_t first_id);

/* A good meter reading at now_ms.  Returns the event it caused; on SESSION_EV_ENDED s->last holds the session. */
enum session_event session_update(struct session *s, const struct pzem_reading *r, uint32_t now_ms);

/* End the running session now for reason e.  Returns SESSION_EV_ENDED, or SESSION_EV_NONE when none was running. */
enum session_event session_stop(struct session *s, uint32_t now_ms, enum session_end e);

#endif

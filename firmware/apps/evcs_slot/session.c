/*
 * session.c - start/stop on a current threshold, energy and cost (session.h).
 */
#include "firmware/apps/evcs_slot/session.h"

#include <string.h>

const char *session_end_name(enum session_end e)
{
	switch (e) {
	case SESSION_END_NONE:
		return "none";
	case SESSION_END_CURRENT:
		return "current";
	case SESSION_END_VEHICLE_STOP:
		return "vehicle_stop";
	}
	return "invalid";
}

void session_init(struct session *s, const struct session_conf *c, uint32_t first_id)
{
	memset(s, 0, sizeof(*s));
	s->conf = *c;
	s->next_id = first_id;
}

static void session__account(struct session *s, uint32_t wh)
{
	if (s->have_prev && wh < s->prev_wh) {
		/* meter counter reset: keep what was counted, continue from the new counter */
		s->meter_resets++;
		s->prev_wh = wh;
	}
	if (s->active) {
		s->cur.energy_wh += wh - s->prev_wh;
		s->cur.cost = (double)s->cur.energy_wh / 1000.0 * s->conf.cost_per_kwh;
	}
	s->prev_wh = wh;
	s->have_prev = 1;
}

static enum session_event session__end(struct session *s, uint32_t now_ms, enum session_end e)
{
	s->cur.end_ms = now_ms;
	s->cur.end = e;
	s->last = s->cur;
	s->active = 0;
	s->below = 0;
	s->finished++;
	return SESSION_EV_ENDED;
}

enum session_event session_update(struct session *s, const struct pzem_reading *r, uint32_t now_ms)
{
	int above = r->current_ma > s->conf.threshold_ma;

	if (!s->active) {
		if (!s->have_prev) {
			s->prev_wh = r->energy_wh;
			s->have_prev = 1;
		}
		if (!above) {
			session__account(s, r->energy_wh);
			return SESSION_EV_NONE;
		}
		memset(&s->cur, 0, sizeof(s->cur));
		s->cur.id = s->next_id++;
		s->cur.start_ms = now_ms;
		s->active = 1;
		s->below = 0;
		session__account(s, r->energy_wh); /* from the previous reading's counter */
		s->cur.max_current_ma = r->current_ma;
		return SESSION_EV_STARTED;
	}
	session__account(s, r->energy_wh);
	if (r->current_ma > s->cur.max_current_ma)
		s->cur.max_current_ma = r->current_ma;
	if (above) {
		s->below = 0;
		return SESSION_EV_NONE;
	}
	if (!s->below) {
		s->below = 1;
		s->below_since_ms = now_ms;
	}
	if ((uint32_t)(now_ms - s->below_since_ms) >= s->conf.stop_hold_ms)
		return session__end(s, now_ms, SESSION_END_CURRENT);
	return SESSION_EV_NONE;
}

enum session_event session_stop(struct session *s, uint32_t now_ms, enum session_end e)
{
	if (!s->active)
		return SESSION_EV_NONE;
	return session__end(s, now_ms, e);
}

/*
 * session.c - the V2G session state machine (session.h).
 *
 * One step: absorb the input into the machine's view (signals with energy integration and hysteresis, the matched
 * station's message with the restart-aware energy accounting, acknowledgements, user commands), then walk the
 * transition table below: for the current state, the first row whose guard holds fires its action and moves to its
 * next state; the walk repeats from there, at most V2G_MAX_CASCADE times.  Periodic sending comes last.  Guards
 * read only the view and the time; actions change only the session and the actions record.
 */
#include "stages/v2g/session.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2G__S 1000000000ull

static const char *const v2g__state_names[] = {
#define V2G__NAME(e, n) n,
	V2G_STATES(V2G__NAME)
};
static const char *const v2g__end_names[] = { V2G_ENDS(V2G__NAME) };
static const char *const v2g__event_names[] = { V2G_EVENTS(V2G__NAME) };
#undef V2G__NAME

const char *v2g_state_name(enum v2g_state s)
{
	return (unsigned)s < V2G_ST__COUNT ? v2g__state_names[s] : "invalid";
}

const char *v2g_end_name(enum v2g_end e)
{
	return (unsigned)e < V2G_END__COUNT ? v2g__end_names[e] : "invalid";
}

const char *v2g_event_name(enum v2g_event e)
{
	return (unsigned)e < V2G_E__COUNT ? v2g__event_names[e] : "invalid";
}

int v2g_state_lookup(const char *name)
{
	for (int i = 0; i < V2G_ST__COUNT; i++)
		if (!strcmp(name, v2g__state_names[i]))
			return i;
	return -1;
}

int v2g_end_lookup(const char *name)
{
	for (int i = 0; i < V2G_END__COUNT; i++)
		if (!strcmp(name, v2g__end_names[i]))
			return i;
	return -1;
}

void v2g_conf_defaults(struct v2g_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->match_radius_m = 10.0;
	c->match_window_ns = 10 * V2G__S;
	c->depart_radius_m = 105.0;
	c->current_on_a = 0.5;
	c->current_off_a = 0.3;
	c->off_hold_ns = 10 * V2G__S;
	c->negotiate_timeout_ns = 10 * V2G__S;
	c->station_timeout_ns = 15 * V2G__S;
	c->msg_period_ns = 5 * V2G__S;
	c->stop_retry_ns = 2 * V2G__S;
	c->stop_retries = 3;
	c->fall_timeout_ns = 30 * V2G__S;
	c->sample_gap_max_ns = 2 * V2G__S;
	c->ack_by_current = 0;
	c->nearer_margin_m = 1.0;
	c->save_period_ns = 10 * V2G__S;
}

static void v2g__sig_unknown(struct v2g_signals *g)
{
	g->plug = g->charging = g->bus_online = -1;
	g->current_a = g->soc_pct = g->power_req = g->pack_v = g->energy_avail_kwh = NAN;
}

void v2g_init(struct v2g_session *s, const struct v2g_conf *conf)
{
	memset(s, 0, sizeof(*s));
	if (conf)
		s->conf = *conf;
	else
		v2g_conf_defaults(&s->conf);
	s->state = V2G_ST_IDLE;
	s->desired_soc = 100.0;
	v2g__sig_unknown(&s->sig);
}

double v2g_station_energy_kwh(const struct v2g_session *s)
{
	double e = s->st_energy_base + s->st_energy_last;

	return e > 0 ? e : 0.0;
}

/* ---- helpers for guards ---- */

struct v2g__ctx {
	struct v2g_session *s;
	const struct v2g_input *in;
	uint64_t now;
	int64_t now_real;
	struct v2g_actions *out;
};

static uint64_t v2g__age(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static int v2g__is_fault(enum v2g_end r)
{
	return r == V2G_END_STATION_LOST || r == V2G_END_STATION_REFUSED || r == V2G_END_BUS_OFFLINE ||
	       r == V2G_END_STOP_NOT_ACKNOWLEDGED;
}

/* Whether the station can acknowledge a stop for this reason (it is there and listening). */
static int v2g__ack_expected(enum v2g_end r)
{
	return r != V2G_END_STATION_LOST && r != V2G_END_STATION_REFUSED;
}

/* The current is (still) above the off threshold with the charging flag; 0 when unknown. */
static int v2g__flowing(const struct v2g_session *s)
{
	return s->sig.charging == 1 && s->sig.current_a > s->conf.current_off_a;
}

static int v2g__candidate_ok(const struct v2g__ctx *c)
{
	const struct v2g_candidate *k = c->in->nearest;

	return k && k->msg.distance_m <= c->s->conf.match_radius_m &&
	       v2g__age(c->now, k->last_heard_mono_ns) <= c->s->conf.match_window_ns;
}

/* ---- guards ---- */

typedef int (*v2g_guard_fn)(const struct v2g__ctx *c);

static int g_plug(const struct v2g__ctx *c)
{
	return c->s->sig.plug == 1;
}

static int g_unplug(const struct v2g__ctx *c)
{
	return c->s->sig.plug == 0;
}

static int g_match(const struct v2g__ctx *c)
{
	return v2g__candidate_ok(c);
}

static int g_nearer(const struct v2g__ctx *c)
{
	const struct v2g_candidate *k = c->in->nearest;

	return v2g__candidate_ok(c) && memcmp(k->msg.mac, c->s->mac, 6) != 0 &&
	       k->msg.distance_m + c->s->conf.nearer_margin_m < c->s->distance_m;
}

static int g_refused(const struct v2g__ctx *c)
{
	return c->s->st_available == 0;
}

static int g_silent_neg(const struct v2g__ctx *c)
{
	return v2g__age(c->now, c->s->last_heard_ns) > c->s->conf.negotiate_timeout_ns;
}

static int g_silent(const struct v2g__ctx *c)
{
	return v2g__age(c->now, c->s->last_heard_ns) > c->s->conf.station_timeout_ns;
}

static int g_bus_offline(const struct v2g__ctx *c)
{
	return c->s->sig.bus_online == 0;
}

static int g_user_stop(const struct v2g__ctx *c)
{
	return c->s->user_stop;
}

static int g_current_on(const struct v2g__ctx *c)
{
	return c->s->charging_on;
}

static int g_current_off(const struct v2g__ctx *c)
{
	return !c->s->charging_on;
}

static int g_power_drop(const struct v2g__ctx *c)
{
	return c->s->sig.power_req < c->s->power_req_max;
}

static int g_power_zero(const struct v2g__ctx *c)
{
	return c->s->sig.power_req == 0;
}

static int g_soc_reached(const struct v2g__ctx *c)
{
	return c->s->desired_soc < 100.0 && c->s->sig.soc_pct >= c->s->desired_soc;
}

static int g_cost_reached(const struct v2g__ctx *c)
{
	return c->s->max_cost > 0 && c->s->rec.cost >= c->s->max_cost;
}

static int g_finished(const struct v2g__ctx *c)
{
	const struct v2g_session *s = c->s;
	int fell = s->sig.bus_online == 0 ? -1 : !v2g__flowing(s); /* -1: unknown (bus offline) */
	int acked = s->acked || (s->conf.ack_by_current && fell == 1);

	if (!v2g__ack_expected(s->pending))
		return fell == 1;
	if (!acked)
		return 0;
	return fell != 0; /* fell, or unknown while the bus is offline: the station's word is all there is */
}

/* Finishing, waiting for an acknowledgement from a station that fell silent. */
static int g_silent_unacked(const struct v2g__ctx *c)
{
	return v2g__ack_expected(c->s->pending) && !c->s->acked && g_silent(c);
}

static int g_stop_timeout(const struct v2g__ctx *c)
{
	const struct v2g_session *s = c->s;

	return v2g__ack_expected(s->pending) && !s->acked && s->stop_sent > s->conf.stop_retries &&
	       v2g__age(c->now, s->stop_last_ns) >= s->conf.stop_retry_ns;
}

static int g_fall_timeout(const struct v2g__ctx *c)
{
	return v2g__age(c->now, c->s->stop_first_ns) >= c->s->conf.fall_timeout_ns;
}

static int g_out_of_range(const struct v2g__ctx *c)
{
	return !c->s->matched || g_silent(c) || c->s->distance_m > c->s->conf.depart_radius_m;
}

/* ---- actions ---- */

typedef void (*v2g_action_fn)(struct v2g__ctx *c);

static void v2g__message(struct v2g__ctx *c, int stop);

static void v2g__take_station(struct v2g_session *s, const struct v2g_candidate *k)
{
	s->matched = 1;
	memcpy(s->mac, k->msg.mac, 6);
	s->distance_m = k->msg.distance_m;
	s->last_heard_ns = k->last_heard_mono_ns;
	s->st_session_id = k->msg.session_id;
	s->st_energy_last = k->msg.energy_kwh;
	s->st_energy_base = -k->msg.energy_kwh; /* the counter at match time is this session's zero */
	s->st_available = k->msg.available;
	s->rec.price_per_kwh = k->msg.price_per_kwh;
	memcpy(s->rec.mac, k->msg.mac, 6);
	s->rec.distance_m = k->msg.distance_m;
	s->msg_sent = 0;
}

static void a_begin(struct v2g__ctx *c)
{
	struct v2g_session *s = c->s;

	memset(&s->rec, 0, sizeof(s->rec));
	s->active = 1;
	s->start_mono_ns = c->now;
	s->restored_ns = 0;
	s->rec.start_real_ns = c->now_real;
	s->rec.local_id = (uint32_t)(c->now_real / (int64_t)V2G__S);
	s->rec.soc_start = s->sig.soc_pct;
	s->rec.energy_avail_start_kwh = s->sig.energy_avail_kwh;
	s->rec.max_current_a = 0;
	s->power_req_max = 0;
	s->pending = V2G_END_NONE;
	s->acked = 0;
	s->stop_sent = 0;
	s->int_valid = 0;
	s->st_restarts = 0;
	v2g__take_station(s, c->in->nearest);
}

/* A nearer station takes over the negotiation: the one given up gets a stop, so it keeps no session open. */
static void a_rematch(struct v2g__ctx *c)
{
	v2g__message(c, 1);
	v2g__take_station(c->s, c->in->nearest);
}

static void a_charge_start(struct v2g__ctx *c)
{
	struct v2g_session *s = c->s;

	if (s->st_session_id && !s->rec.have_station_id) {
		s->rec.station_session_id = s->st_session_id;
		s->rec.have_station_id = 1;
	}
	if (s->sig.power_req > s->power_req_max)
		s->power_req_max = s->sig.power_req;
}

/* Enter finishing for reason r: the first stop request goes out at once (retries: v2g__periodic). */
static void v2g__stop(struct v2g__ctx *c, enum v2g_end r)
{
	struct v2g_session *s = c->s;

	s->pending = r;
	s->stop_first_ns = c->now;
	s->acked = 0;
	s->user_stop = 0;
	v2g__message(c, 1);
	s->stop_sent = 1;
	s->stop_last_ns = c->now;
}

static void a_stop_bus(struct v2g__ctx *c) { v2g__stop(c, V2G_END_BUS_OFFLINE); }
static void a_stop_user(struct v2g__ctx *c) { v2g__stop(c, V2G_END_STOPPED_BY_USER); }
static void a_stop_lost(struct v2g__ctx *c) { v2g__stop(c, V2G_END_STATION_LOST); }
static void a_stop_refused(struct v2g__ctx *c) { v2g__stop(c, V2G_END_STATION_REFUSED); }
static void a_stop_soc(struct v2g__ctx *c) { v2g__stop(c, V2G_END_DESIRED_SOC); }
static void a_stop_cost(struct v2g__ctx *c) { v2g__stop(c, V2G_END_MAX_COST); }
static void a_stop_done(struct v2g__ctx *c) { v2g__stop(c, V2G_END_DONE); }

/* Charging went off by itself: the station cut it when it says it is unavailable, else the car ended it. */
static void a_stop_off(struct v2g__ctx *c)
{
	v2g__stop(c, c->s->st_available == 0 ? V2G_END_STATION_REFUSED : V2G_END_DONE);
}

/* Energy of the interval since the last sample, at the last sample's current (the open end of the Riemann sum). */
static double v2g__pending_kwh(const struct v2g_session *s, uint64_t now)
{
	if (!s->active || !s->int_valid || now <= s->last_int_ns || now - s->last_int_ns > s->conf.sample_gap_max_ns ||
	    s->last_i <= 0)
		return 0.0;
	return s->last_i * s->last_v * (double)(now - s->last_int_ns) / 3.6e15;
}

static void v2g__end(struct v2g__ctx *c, enum v2g_end r)
{
	struct v2g_session *s = c->s;
	struct v2g_record *rec = &s->rec;

	rec->energy_batt_kwh += v2g__pending_kwh(s, c->now); /* the current flowed until now */
	s->last_int_ns = c->now;
	rec->reason = r;
	rec->end_real_ns = c->now_real;
	rec->duration_ns = v2g__age(c->now, s->start_mono_ns) + s->restored_ns;
	rec->soc_end = s->sig.soc_pct;
	rec->energy_avail_end_kwh = s->sig.energy_avail_kwh;
	rec->energy_station_kwh = v2g_station_energy_kwh(s);
	rec->cost = rec->energy_station_kwh * rec->price_per_kwh;
	c->out->row = 1;
	c->out->rec = *rec;
	s->active = 0;
	s->pending = V2G_END_NONE;
	s->user_stop = 0;
	s->sessions++;
}

static void a_end_unplugged(struct v2g__ctx *c)
{
	v2g__end(c, V2G_END_UNPLUGGED);
}

/* Unplugged while finishing: the reason we were stopping for stands. */
static void a_end_pending(struct v2g__ctx *c)
{
	v2g__end(c, c->s->pending);
}

static void a_end_lost(struct v2g__ctx *c)
{
	v2g__end(c, V2G_END_STATION_LOST);
}

static void a_end_no_ack(struct v2g__ctx *c)
{
	enum v2g_end p = c->s->pending;

	v2g__end(c, v2g__is_fault(p) ? p : V2G_END_STOP_NOT_ACKNOWLEDGED);
}

static void a_end_fall_timeout(struct v2g__ctx *c)
{
	const struct v2g_session *s = c->s;
	enum v2g_end p = s->pending;

	if (v2g__ack_expected(p) && !s->acked && !v2g__is_fault(p))
		p = V2G_END_STOP_NOT_ACKNOWLEDGED;
	v2g__end(c, p);
}

static void a_forget(struct v2g__ctx *c)
{
	c->s->matched = 0;
	c->s->msg_sent = 0;
}

static void a_none(struct v2g__ctx *c)
{
}

/* ---- the table ---- */

/* next = V2G__BY_REASON: ended or fault, by the reason the action just recorded. */
#define V2G__BY_REASON V2G_ST__COUNT

struct v2g_row {
	enum v2g_state state;
	enum v2g_event event;
	v2g_guard_fn guard;
	v2g_action_fn action;
	enum v2g_state next;
};

/* Rows of one state in priority order. */
static const struct v2g_row v2g__table[] = {
	{ V2G_ST_IDLE, V2G_E_PLUG, g_plug, a_none, V2G_ST_PLUGGED },

	{ V2G_ST_PLUGGED, V2G_E_UNPLUG, g_unplug, a_none, V2G_ST_IDLE },
	{ V2G_ST_PLUGGED, V2G_E_MATCH, g_match, a_begin, V2G_ST_NEGOTIATING },

	{ V2G_ST_NEGOTIATING, V2G_E_UNPLUG, g_unplug, a_end_unplugged, V2G_ST_DEPARTING },
	{ V2G_ST_NEGOTIATING, V2G_E_BUS_OFFLINE, g_bus_offline, a_stop_bus, V2G_ST_FINISHING },
	{ V2G_ST_NEGOTIATING, V2G_E_USER_STOP, g_user_stop, a_stop_user, V2G_ST_FINISHING },
	{ V2G_ST_NEGOTIATING, V2G_E_NEARER, g_nearer, a_rematch, V2G_ST_NEGOTIATING },
	{ V2G_ST_NEGOTIATING, V2G_E_STATION_SILENT, g_silent_neg, a_stop_lost, V2G_ST_FINISHING },
	{ V2G_ST_NEGOTIATING, V2G_E_REFUSED, g_refused, a_stop_refused, V2G_ST_FINISHING },
	{ V2G_ST_NEGOTIATING, V2G_E_CURRENT_ON, g_current_on, a_charge_start, V2G_ST_CHARGING },

#define V2G__CHARGING_ROWS(st)                                                                                     \
	{ st, V2G_E_UNPLUG, g_unplug, a_end_unplugged, V2G_ST_DEPARTING },                                         \
	{ st, V2G_E_BUS_OFFLINE, g_bus_offline, a_stop_bus, V2G_ST_FINISHING },                                    \
	{ st, V2G_E_STATION_SILENT, g_silent, a_stop_lost, V2G_ST_FINISHING },                                     \
	{ st, V2G_E_USER_STOP, g_user_stop, a_stop_user, V2G_ST_FINISHING },                                       \
	{ st, V2G_E_SOC_REACHED, g_soc_reached, a_stop_soc, V2G_ST_FINISHING },                                    \
	{ st, V2G_E_COST_REACHED, g_cost_reached, a_stop_cost, V2G_ST_FINISHING },                                 \
	{ st, V2G_E_POWER_ZERO, g_power_zero, a_stop_done, V2G_ST_FINISHING },                                     \
	{ st, V2G_E_CURRENT_OFF, g_current_off, a_stop_off, V2G_ST_FINISHING }
	V2G__CHARGING_ROWS(V2G_ST_CHARGING),
	{ V2G_ST_CHARGING, V2G_E_POWER_DROP, g_power_drop, a_none, V2G_ST_TOPOFF },
	V2G__CHARGING_ROWS(V2G_ST_TOPOFF),
#undef V2G__CHARGING_ROWS

	{ V2G_ST_FINISHING, V2G_E_UNPLUG, g_unplug, a_end_pending, V2G_ST_DEPARTING },
	{ V2G_ST_FINISHING, V2G_E_FINISHED, g_finished, a_end_pending, V2G__BY_REASON },
	{ V2G_ST_FINISHING, V2G_E_STATION_SILENT, g_silent_unacked, a_end_lost, V2G_ST_FAULT },
	{ V2G_ST_FINISHING, V2G_E_STOP_TIMEOUT, g_stop_timeout, a_end_no_ack, V2G__BY_REASON },
	{ V2G_ST_FINISHING, V2G_E_FALL_TIMEOUT, g_fall_timeout, a_end_fall_timeout, V2G_ST_FAULT },

	{ V2G_ST_ENDED, V2G_E_UNPLUG, g_unplug, a_none, V2G_ST_DEPARTING },
	{ V2G_ST_FAULT, V2G_E_UNPLUG, g_unplug, a_none, V2G_ST_DEPARTING },

	{ V2G_ST_DEPARTING, V2G_E_PLUG, g_plug, a_forget, V2G_ST_PLUGGED },
	{ V2G_ST_DEPARTING, V2G_E_OUT_OF_RANGE, g_out_of_range, a_forget, V2G_ST_IDLE },
};

/* ---- input absorption ---- */

static void v2g__integrate(struct v2g_session *s, const struct v2g_signals *g, uint64_t now)
{
	int online = g->bus_online != 0;

	if (s->active && s->int_valid && online && now > s->last_int_ns &&
	    now - s->last_int_ns <= s->conf.sample_gap_max_ns && s->last_i > 0)
		s->rec.energy_batt_kwh += s->last_i * s->last_v * (double)(now - s->last_int_ns) / 3.6e15;
	if (online && isfinite(g->current_a) && isfinite(g->pack_v)) {
		s->int_valid = 1;
		s->last_int_ns = now;
		s->last_i = g->current_a;
		s->last_v = g->pack_v;
	} else {
		s->int_valid = 0;
	}
}

static void v2g__signals(struct v2g_session *s, const struct v2g_signals *g, uint64_t now)
{
	v2g__integrate(s, g, now);
	s->sig = *g;
	if (g->bus_online == 0)
		return; /* stale values: keep the hysteresis where it was */
	if (s->active && g->current_a > s->rec.max_current_a)
		s->rec.max_current_a = g->current_a;
	if (g->charging == 1 && g->current_a > s->conf.current_on_a) {
		s->charging_on = 1;
		s->below_since_ns = 0;
	} else if (s->charging_on && !v2g__flowing(s)) {
		if (!s->below_since_ns)
			s->below_since_ns = now;
		else if (now - s->below_since_ns >= s->conf.off_hold_ns)
			s->charging_on = 0;
	} else if (s->charging_on) {
		s->below_since_ns = 0;
	}
	if (s->charging_on && (s->state == V2G_ST_CHARGING || s->state == V2G_ST_NEGOTIATING) &&
	    g->power_req > s->power_req_max)
		s->power_req_max = g->power_req;
}

static void v2g__station(struct v2g_session *s, const struct v2g_station_msg *m, uint64_t now)
{
	if (!s->matched || memcmp(m->mac, s->mac, 6) != 0)
		return; /* other stations reach the machine only as match candidates */
	s->last_heard_ns = now;
	s->distance_m = m->distance_m;
	s->st_available = m->available;
	if (m->price_per_kwh > 0)
		s->rec.price_per_kwh = m->price_per_kwh;
	if (s->state == V2G_ST_FINISHING && s->stop_sent && s->st_session_id != 0 && m->session_id == 0)
		s->acked = 1; /* the station closed its session: the stop arrived */
	int id_changed = s->st_session_id != 0 && m->session_id != 0 && m->session_id != s->st_session_id;
	if (m->restart || id_changed || m->energy_kwh < s->st_energy_last - 0.0005) {
		s->st_energy_base += s->st_energy_last; /* a new counter segment */
		s->st_restarts++;
	}
	s->st_energy_last = m->energy_kwh;
	if (m->session_id)
		s->st_session_id = m->session_id;
	if (s->active && s->st_session_id && !s->rec.have_station_id && s->state != V2G_ST_NEGOTIATING) {
		s->rec.station_session_id = s->st_session_id;
		s->rec.have_station_id = 1;
	}
	s->rec.energy_station_kwh = v2g_station_energy_kwh(s);
	s->rec.cost = s->rec.energy_station_kwh * s->rec.price_per_kwh;
}

static int v2g__absorb(struct v2g_session *s, const struct v2g_input *in, uint64_t now)
{
	switch (in->kind) {
	case V2G_IN_TICK:
		break;
	case V2G_IN_SIGNALS:
		v2g__signals(s, &in->sig, now);
		break;
	case V2G_IN_STATION:
		v2g__station(s, &in->station, now);
		break;
	case V2G_IN_STOP_ACK:
		if (s->state == V2G_ST_FINISHING && s->stop_sent &&
		    (in->session_id == 0 || in->session_id == s->st_session_id))
			s->acked = 1;
		else
			s->ignored_acks++;
		break;
	case V2G_IN_USER_STOP:
		if (s->active)
			s->user_stop = 1;
		break;
	case V2G_IN_SET_DESIRED_SOC:
		if (!(in->value >= 1.0 && in->value <= 100.0))
			return -EINVAL;
		s->desired_soc = in->value;
		break;
	case V2G_IN_SET_MAX_COST:
		if (!(in->value >= 0.0) || !isfinite(in->value))
			return -EINVAL;
		s->max_cost = in->value;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static void v2g__message(struct v2g__ctx *c, int stop)
{
	struct v2g_session *s = c->s;
	struct hub_v2g_msg *m;

	if (c->out->n_send >= sizeof(c->out->msg) / sizeof(c->out->msg[0]))
		return; /* cannot happen: at most one cancel and one message per step */
	m = &c->out->msg[c->out->n_send++];
	memcpy(m->station_mac, s->mac, 6);
	m->desired_soc = (float)s->desired_soc;
	m->ready_to_charge = !stop && (s->state == V2G_ST_NEGOTIATING || s->state == V2G_ST_CHARGING ||
					s->state == V2G_ST_TOPOFF);
	m->stop_charging = (uint8_t)stop;
	m->session_id = s->st_session_id;
	m->soc = isfinite(s->sig.soc_pct) ? (float)s->sig.soc_pct : 0.0f;
	s->last_msg_ns = c->now;
	s->msg_sent = 1;
}

static void v2g__periodic(struct v2g__ctx *c)
{
	struct v2g_session *s = c->s;

	switch (s->state) {
	case V2G_ST_FINISHING:
		if (s->acked)
			break;
		if (s->stop_sent == 0 ||
		    (s->stop_sent <= s->conf.stop_retries && v2g__age(c->now, s->stop_last_ns) >= s->conf.stop_retry_ns)) {
			v2g__message(c, 1);
			s->stop_sent++;
			s->stop_last_ns = c->now;
		}
		break;
	case V2G_ST_NEGOTIATING:
	case V2G_ST_CHARGING:
	case V2G_ST_TOPOFF:
	case V2G_ST_DEPARTING:
		if (!s->msg_sent || v2g__age(c->now, s->last_msg_ns) >= s->conf.msg_period_ns)
			v2g__message(c, s->state == V2G_ST_DEPARTING);
		break;
	default:
		break;
	}
}

int v2g_step(struct v2g_session *s, const struct v2g_input *in, uint64_t now_mono_ns, int64_t now_real_ns,
	     struct v2g_actions *out)
{
	struct v2g__ctx c = { s, in, now_mono_ns, now_real_ns, out };
	int n = 0, rc;

	memset(out, 0, sizeof(*out));
	rc = v2g__absorb(s, in, now_mono_ns);
	if (rc < 0)
		return rc;
	while (n < V2G_MAX_CASCADE) {
		const struct v2g_row *hit = NULL;

		for (size_t i = 0; i < sizeof(v2g__table) / sizeof(v2g__table[0]); i++)
			if (v2g__table[i].state == s->state && v2g__table[i].guard(&c)) {
				hit = &v2g__table[i];
				break;
			}
		if (!hit)
			break;
		hit->action(&c);
		enum v2g_state next = hit->next;
		if (next == V2G__BY_REASON)
			next = v2g__is_fault(out->rec.reason) ? V2G_ST_FAULT : V2G_ST_ENDED;
		if (next == V2G_ST_DEPARTING && !s->matched)
			next = V2G_ST_IDLE;
		out->trans[n] = (struct v2g_transition){ s->state, next, hit->event };
		n++;
		out->n_trans = (unsigned)n;
		out->save = 1;
		s->transitions++;
		if (next != s->state)
			s->msg_sent = 0; /* a new state announces itself at once */
		s->state = next;
		if (hit->event == V2G_E_NEARER)
			break; /* same state: do not re-walk with the same candidate */
	}
	if (!s->active)
		s->user_stop = 0;
	v2g__periodic(&c);
	if (s->active && v2g__age(now_mono_ns, s->last_save_ns) >= s->conf.save_period_ns)
		out->save = 1;
	if (out->save)
		s->last_save_ns = now_mono_ns;
	return n;
}

/* ---- save / restore ---- */

enum v2g__ftype { F_U64, F_I64, F_U32, F_INT, F_DBL, F_MAC, F_STATE, F_END };

struct v2g__field {
	const char *key;
	enum v2g__ftype type;
	size_t off;
	int mono; /* a CLOCK_MONOTONIC time, rebased on restore (0 stays 0) */
};

#define V2G__F(key, type, member, mono) { key, type, offsetof(struct v2g_session, member), mono }
static const struct v2g__field v2g__fields[] = {
	V2G__F("state", F_STATE, state, 0),
	V2G__F("desired_soc", F_DBL, desired_soc, 0),
	V2G__F("max_cost", F_DBL, max_cost, 0),
	V2G__F("user_stop", F_INT, user_stop, 0),
	V2G__F("plug", F_INT, sig.plug, 0),
	V2G__F("charging", F_INT, sig.charging, 0),
	V2G__F("bus_online", F_INT, sig.bus_online, 0),
	V2G__F("current_a", F_DBL, sig.current_a, 0),
	V2G__F("soc_pct", F_DBL, sig.soc_pct, 0),
	V2G__F("power_req", F_DBL, sig.power_req, 0),
	V2G__F("pack_v", F_DBL, sig.pack_v, 0),
	V2G__F("energy_avail_kwh", F_DBL, sig.energy_avail_kwh, 0),
	V2G__F("charging_on", F_INT, charging_on, 0),
	V2G__F("below_since_ns", F_U64, below_since_ns, 1),
	V2G__F("power_req_max", F_DBL, power_req_max, 0),
	V2G__F("matched", F_INT, matched, 0),
	V2G__F("mac", F_MAC, mac, 0),
	V2G__F("distance_m", F_DBL, distance_m, 0),
	V2G__F("last_heard_ns", F_U64, last_heard_ns, 1),
	V2G__F("st_session_id", F_U32, st_session_id, 0),
	V2G__F("st_energy_last", F_DBL, st_energy_last, 0),
	V2G__F("st_energy_base", F_DBL, st_energy_base, 0),
	V2G__F("st_available", F_INT, st_available, 0),
	V2G__F("st_restarts", F_U64, st_restarts, 0),
	V2G__F("active", F_INT, active, 0),
	V2G__F("start_mono_ns", F_U64, start_mono_ns, 1),
	V2G__F("restored_ns", F_U64, restored_ns, 0),
	V2G__F("pending", F_END, pending, 0),
	V2G__F("stop_first_ns", F_U64, stop_first_ns, 1),
	V2G__F("stop_last_ns", F_U64, stop_last_ns, 1),
	V2G__F("stop_sent", F_INT, stop_sent, 0),
	V2G__F("acked", F_INT, acked, 0),
	V2G__F("last_msg_ns", F_U64, last_msg_ns, 1),
	V2G__F("rec.station_session_id", F_U32, rec.station_session_id, 0),
	V2G__F("rec.have_station_id", F_INT, rec.have_station_id, 0),
	V2G__F("rec.local_id", F_U32, rec.local_id, 0),
	V2G__F("rec.mac", F_MAC, rec.mac, 0),
	V2G__F("rec.distance_m", F_DBL, rec.distance_m, 0),
	V2G__F("rec.start_real_ns", F_I64, rec.start_real_ns, 0),
	V2G__F("rec.soc_start", F_DBL, rec.soc_start, 0),
	V2G__F("rec.energy_avail_start_kwh", F_DBL, rec.energy_avail_start_kwh, 0),
	V2G__F("rec.energy_batt_kwh", F_DBL, rec.energy_batt_kwh, 0),
	V2G__F("rec.energy_station_kwh", F_DBL, rec.energy_station_kwh, 0),
	V2G__F("rec.price_per_kwh", F_DBL, rec.price_per_kwh, 0),
	V2G__F("rec.cost", F_DBL, rec.cost, 0),
	V2G__F("rec.max_current_a", F_DBL, rec.max_current_a, 0),
};
#undef V2G__F
#define V2G__NFIELDS (sizeof(v2g__fields) / sizeof(v2g__fields[0]))

#define V2G__MAGIC "v2g-session 1\n"

int v2g_save(const struct v2g_session *s, uint64_t now_mono_ns, int64_t now_real_ns, char *buf, size_t size)
{
	size_t len = 0;
	int n;

#define V2G__PUT(...)                                                                                              \
	do {                                                                                                       \
		n = snprintf(buf + len, size - len, __VA_ARGS__);                                                  \
		if (n < 0 || (size_t)n >= size - len)                                                              \
			return -ENOBUFS;                                                                           \
		len += (size_t)n;                                                                                  \
	} while (0)
	if (size == 0)
		return -ENOBUFS;
	V2G__PUT("%s", V2G__MAGIC);
	V2G__PUT("saved_mono_ns %" PRIu64 "\nsaved_real_ns %" PRId64 "\n", now_mono_ns, now_real_ns);
	/* the saved energy runs up to the save instant, so a restart loses none of the interval already elapsed */
	struct v2g_session snap = *s;

	snap.rec.energy_batt_kwh += v2g__pending_kwh(s, now_mono_ns);
	for (size_t i = 0; i < V2G__NFIELDS; i++) {
		const struct v2g__field *f = &v2g__fields[i];
		const char *p = (const char *)&snap + f->off;

		switch (f->type) {
		case F_U64: V2G__PUT("%s %" PRIu64 "\n", f->key, *(const uint64_t *)(const void *)p); break;
		case F_I64: V2G__PUT("%s %" PRId64 "\n", f->key, *(const int64_t *)(const void *)p); break;
		case F_U32: V2G__PUT("%s %" PRIu32 "\n", f->key, *(const uint32_t *)(const void *)p); break;
		case F_INT: V2G__PUT("%s %d\n", f->key, *(const int *)(const void *)p); break;
		case F_DBL: V2G__PUT("%s %.17g\n", f->key, *(const double *)(const void *)p); break;
		case F_STATE: V2G__PUT("%s %s\n", f->key, v2g_state_name(*(const enum v2g_state *)(const void *)p)); break;
		case F_END: V2G__PUT("%s %s\n", f->key, v2g_end_name(*(const enum v2g_end *)(const void *)p)); break;
		case F_MAC: {
			const uint8_t *m = (const uint8_t *)p;
			V2G__PUT("%s %02X:%02X:%02X:%02X:%02X:%02X\n", f->key, m[0], m[1], m[2], m[3], m[4], m[5]);
			break;
		}
		}
	}
	V2G__PUT("end\n");
#undef V2G__PUT
	return (int)len;
}

/* Parses one value of type t from v (NUL-terminated) into dst.  Returns 0 or -EPROTO. */
static int v2g__parse(enum v2g__ftype t, const char *v, void *dst)
{
	char *end = NULL;

	errno = 0;
	switch (t) {
	case F_U64: {
		if (*v == '-')
			return -EPROTO;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || end == v || *end)
			return -EPROTO;
		*(uint64_t *)dst = x;
		return 0;
	}
	case F_I64: {
		long long x = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			return -EPROTO;
		*(int64_t *)dst = x;
		return 0;
	}
	case F_U32: {
		if (*v == '-')
			return -EPROTO;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || end == v || *end || x > UINT32_MAX)
			return -EPROTO;
		*(uint32_t *)dst = (uint32_t)x;
		return 0;
	}
	case F_INT: {
		long x = strtol(v, &end, 10);
		if (errno || end == v || *end || x < -1 || x > 1000000)
			return -EPROTO;
		*(int *)dst = (int)x;
		return 0;
	}
	case F_DBL: {
		double x = strtod(v, &end);
		if (end == v || *end)
			return -EPROTO;
		*(double *)dst = x;
		return 0;
	}
	case F_STATE: {
		int x = v2g_state_lookup(v);
		if (x < 0)
			return -EPROTO;
		*(enum v2g_state *)dst = (enum v2g_state)x;
		return 0;
	}
	case F_END: {
		int x = v2g_end_lookup(v);
		if (x < 0)
			return -EPROTO;
		*(enum v2g_end *)dst = (enum v2g_end)x;
		return 0;
	}
	case F_MAC: {
		unsigned m[6];
		int used = 0;
		if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%n", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &used) != 6 ||
		    v[used] != '\0')
			return -EPROTO;
		for (int i = 0; i < 6; i++)
			((uint8_t *)dst)[i] = (uint8_t)m[i];
		return 0;
	}
	}
	return -EPROTO;
}

int v2g_restore(struct v2g_session *s, const char *buf, size_t len, uint64_t now_mono_ns, int64_t now_real_ns)
{
	struct v2g_session t = *s;
	uint64_t saved_mono = 0;
	int64_t saved_real = 0;
	unsigned char seen[V2G__NFIELDS] = { 0 };
	int have_mono = 0, have_real = 0, have_end = 0;
	size_t pos, ml = strlen(V2G__MAGIC);
	char line[128];

	if (len < ml || memcmp(buf, V2G__MAGIC, ml) != 0)
		return -EPROTO;
	for (pos = ml; pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char *sp;

		if (!nl || n == 0 || n >= sizeof(line))
			return -EPROTO;
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (!strcmp(line, "end")) {
			have_end = 1;
			break;
		}
		sp = strchr(line, ' ');
		if (!sp)
			return -EPROTO;
		*sp = '\0';
		if (!strcmp(line, "saved_mono_ns")) {
			if (v2g__parse(F_U64, sp + 1, &saved_mono) < 0)
				return -EPROTO;
			have_mono = 1;
			continue;
		}
		if (!strcmp(line, "saved_real_ns")) {
			if (v2g__parse(F_I64, sp + 1, &saved_real) < 0)
				return -EPROTO;
			have_real = 1;
			continue;
		}
		size_t i;
		for (i = 0; i < V2G__NFIELDS; i++)
			if (!strcmp(line, v2g__fields[i].key))
				break;
		if (i == V2G__NFIELDS || seen[i])
			return -EPROTO; /* unknown or repeated key */
		if (v2g__parse(v2g__fields[i].type, sp + 1, (char *)&t + v2g__fields[i].off) < 0)
			return -EPROTO;
		seen[i] = 1;
	}
	if (!have_end || !have_mono || !have_real || pos != len)
		return -EPROTO;
	for (size_t i = 0; i < V2G__NFIELDS; i++)
		if (!seen[i])
			return -EPROTO;

	/* Rebase monotonic times: the saved instant maps to now minus the downtime measured on the wall clock. */
	int64_t down = now_real_ns - saved_real;
	if (down < 0)
		down = 0;
	if (down > (int64_t)(24 * 3600 * V2G__S))
		down = 0;
	for (size_t i = 0; i < V2G__NFIELDS; i++) {
		uint64_t *p, age;

		if (!v2g__fields[i].mono)
			continue;
		p = (uint64_t *)(void *)((char *)&t + v2g__fields[i].off);
		if (*p == 0)
			continue;
		age = (saved_mono > *p ? saved_mono - *p : 0) + (uint64_t)down; /* age at now */
		if (p == &t.start_mono_ns) {
			/* the session's duration so far is carried, so a rebooted (small) clock cannot shorten it */
			t.restored_ns += age;
			*p = now_mono_ns;
		} else {
			*p = now_mono_ns > age ? now_mono_ns - age : 1;
		}
	}
	t.int_valid = 0;
	t.msg_sent = 0;
	*s = t;
	return 0;
}

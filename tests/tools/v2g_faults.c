/*
 * v2g_faults.c - the fault-injection runner for the V2G session machine (issue 8 item 8).
 *
 * A scripted world at the logic level, one step per simulated second: a car (plug, charging flag, current, pack
 * voltage, SOC, charge_power_req, bus_online) that drives to a station, parks, charges and leaves; one or two
 * scripted stations that broadcast their state over the radio every second, open a session when they get a ready
 * V2G message, meter the AC energy they deliver, acknowledge a stop, and can be told to misbehave.  Station messages
 * go through the real tables (stages/v2g/v2x_tables.h: ordering, distances from the car's GPS position, the match
 * rule) into the real machine (stages/v2g/session.h); the machine's outbound messages go back to the stations.  Each
 * case injects one fault at a chosen step and checks the end state and reason, and the accounting against the
 * script's own ledgers: energy into the battery (the car's scripted current x pack voltage, per second observed),
 * energy the station metered (its counter, across a restart), cost = that energy x the station's price, the
 * maximum scripted current, and the duration from the plug-in to the end the specification times predict.
 *
 * Usage: v2g_faults [-v] [case-number ...]   Prints one line per case and a summary; exits 1 when a case fails.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/v2g/session.h"
#include "stages/v2g/v2g_rows.h"
#include "stages/v2g/v2x_tables.h"

#define S_NS 1000000000ull
#define T0_S 1000                         /* monotonic seconds at step 0 */
#define WALL0_NS (1764500000LL * 1000000000LL)
#define PACK_V 57.0                       /* scripted pack voltage */
#define CAPACITY_KWH 0.019                /* a small battery so that 12 A x 57 V adds 1 %/s */
#define CHARGER_EFF 0.9                   /* station meters AC: battery power / efficiency */
#define PRICE 1.5
#define TOPOFF_SOC 70.0
#define DONE_SOC 75.0
#define START_SOC 40.0
#define RADIO_RANGE_M 150.0
#define M_PER_DEG_LAT (V2X_EARTH_RADIUS_M * M_PI / 180.0)
#define MAX_STEPS 2000

enum fault {
	F_NONE,
	F_REFUSE,           /* station answers ready with available = 0 */
	F_SILENT_NEG,       /* station radio dies right after the match */
	F_LOST_RADIO,       /* station radio dies mid-charge, power stays on */
	F_LOST_ALL,         /* station radio and power die mid-charge */
	F_RESTART,          /* station restarts mid-charge: uptime, session id and energy counter reset */
	F_USER_STOP,        /* user stops; station acknowledges */
	F_STOP_IGNORED,     /* user stops; station never acknowledges and keeps delivering */
	F_DESIRED_SOC,
	F_COST_CAP,
	F_BUS_OFFLINE,      /* CAN silent mid-charge: bus_online = 0 after 10 s */
	F_UNPLUG_NEG,       /* unplugged while negotiating */
	F_UNPLUG_CHARGING,
	F_NOISE,            /* current dips under the thresholds for a few seconds, twice */
	F_DUP_REORDER,      /* every station message twice, and an old one now and then */
	F_SECOND_STATION,   /* station B nearer the approach road, heard first; A nearer the parking spot */
	F_CLOCK_STEP,       /* wall clock +1 h mid-session */
	F_DAEMON_RESTART,   /* the daemon restarts mid-charge: state restored from the last save */
	F_REFUSE_MID,       /* station withdraws availability mid-charge and cuts power */
};

struct station {
	uint8_t mac[6];
	double y_m;          /* position along the road (m north of A) */
	int radio, power;    /* alive */
	uint32_t uptime_ms;
	uint32_t session_id, next_id;
	int available;
	double meter_kwh;    /* energy counter of the current station session */
	double metered_total_kwh; /* every kWh metered while our session was open (ledger) */
	int ignore_stop;
	int refuse;
	int ack_due;         /* acknowledge the stop on the next step */
	int dup;             /* duplicate and reorder messages */
	int64_t open_after;  /* hears V2G messages only from this step on */
	double reported_kwh; /* metered_total_kwh as of the last message sent */
	struct hub_item last_sent;
	int have_last_sent;
	uint64_t ready_msgs, stop_msgs;
	uint64_t stop_msgs_at_end; /* stop requests received until the session ended */
};

struct world {
	int id;
	const char *name;
	enum fault fault;
	int verbose;
	struct v2g_conf conf;
	struct v2g_session m;
	struct v2x_tables tab;
	struct station st[2];
	int nst;
	int plugged_at;      /* station index the cable is in, -1 = none */
	/* car */
	double y_m;          /* car position */
	int plug;
	double soc;
	double current;      /* A, positive into the battery */
	int can_silent;
	int64_t can_silent_since;
	int64_t t;           /* step, seconds */
	int64_t wall_off_ns;
	/* ledgers (script truth, counted while the machine has a session open) */
	double led_batt_kwh, led_max_a;
	double led_batt_at_save;
	int prev_sample_ok;  /* the previous second's sample reached the machine */
	/* the machine's outputs */
	struct v2g_record rows[4];
	int nrows;
	int64_t row_t[4];
	char blob[V2G_SAVE_MAX];
	int have_blob;
	int64_t t_plug, t_trigger;
	int down_until;      /* daemon restart: the machine is not running before this step */
	char detail[256];
};

static uint64_t mono(const struct world *w)
{
	return (uint64_t)(T0_S + w->t) * S_NS;
}

static int64_t wall(const struct world *w)
{
	return WALL0_NS + w->t * (int64_t)S_NS + w->wall_off_ns;
}

static double lat_of(double y_m)
{
	return 48.0 + y_m / M_PER_DEG_LAT;
}

static double power_req(const struct world *w)
{
	return w->soc < TOPOFF_SOC ? 7 : w->soc < DONE_SOC ? 3 : 0;
}

static void apply_actions(struct world *w, const struct v2g_actions *a);

static void step(struct world *w, const struct v2g_input *in0)
{
	struct v2g_input in = *in0;
	struct v2g_candidate cand;
	struct v2g_actions a;
	const struct v2x_station_entry *e;

	if (w->t < w->down_until)
		return;
	e = v2x_tables_match_station(&w->tab, w->conf.match_radius_m, w->conf.match_window_ns, mono(w));
	if (e) {
		memset(&cand, 0, sizeof(cand));
		memcpy(cand.msg.mac, e->mac, 6);
		cand.msg.distance_m = e->distance_m;
		cand.msg.session_id = e->session_id;
		cand.msg.energy_kwh = e->energy_kwh;
		cand.msg.price_per_kwh = e->price_per_kwh;
		cand.msg.session_cost = e->session_cost;
		cand.msg.max_current_a = e->max_current_a;
		cand.msg.available = e->available;
		cand.last_heard_mono_ns = e->last_seen_mono_ns;
		in.nearest = &cand;
	}
	if (v2g_step(&w->m, &in, mono(w), wall(w), &a) < 0) {
		fprintf(stderr, "case %d: v2g_step refused an input\n", w->id);
		exit(2);
	}
	apply_actions(w, &a);
}

static struct station *station_by_mac(struct world *w, const uint8_t *mac)
{
	for (int i = 0; i < w->nst; i++)
		if (!memcmp(w->st[i].mac, mac, 6))
			return &w->st[i];
	return NULL;
}

static void apply_actions(struct world *w, const struct v2g_actions *a)
{
	if (w->verbose)
		for (unsigned i = 0; i < a->n_trans; i++)
			printf("    t=%3lld %s -> %s (%s)\n", (long long)w->t, v2g_state_name(a->trans[i].from),
			       v2g_state_name(a->trans[i].to), v2g_event_name(a->trans[i].event));
	for (unsigned k = 0; k < a->n_send; k++) {
		const struct hub_v2g_msg *msg = &a->msg[k];
		struct station *s = station_by_mac(w, msg->station_mac);

		if (s && s->radio && w->t >= s->open_after) {
			if (msg->stop_charging) {
				s->stop_msgs++;
				if (!s->ignore_stop && s->session_id) {
					s->ack_due = 1;
					s->session_id = 0; /* closes its session; the counter stays until the next one */
				}
			} else if (msg->ready_to_charge) {
				s->ready_msgs++;
				if (s->refuse) {
					s->available = 0;
				} else if (!s->session_id && s->available) {
					s->session_id = s->next_id++;
					s->meter_kwh = 0;
				}
			}
		}
	}
	if (a->row && w->nrows < 4) {
		w->rows[w->nrows] = a->rec;
		w->row_t[w->nrows] = w->t;
		w->nrows++;
	}
	if (a->save) {
		int n = v2g_save(&w->m, mono(w), wall(w), w->blob, sizeof(w->blob));

		if (n < 0) {
			fprintf(stderr, "case %d: save failed\n", w->id);
			exit(2);
		}
		w->have_blob = 1;
		w->led_batt_at_save = w->led_batt_kwh;
	}
}

static int delivering(const struct world *w, const struct station *s)
{
	return w->plugged_at >= 0 && &w->st[w->plugged_at] == s && s->power && s->session_id && s->available &&
	       power_req(w) > 0;
}

/* Physics of [t-1, t): the car takes the current decided at t-1, the station meters it. */
static void physics(struct world *w)
{
	int session_open = w->m.active && w->t - 1 >= w->down_until; /* the machine observes */
	int station_open = w->m.active;                               /* the session is open (daemon up or not) */

	if (w->current > 0) {
		double kwh = w->current * PACK_V / 3.6e6;

		w->soc += kwh / CAPACITY_KWH * 100.0;
		if (w->plugged_at >= 0) {
			struct station *s = &w->st[w->plugged_at];

			s->meter_kwh += kwh / CHARGER_EFF;
			if (station_open)
				s->metered_total_kwh += kwh / CHARGER_EFF;
		}
	}
	/* the machine sees the sample at t-1 and the one at t: the interval counts */
	if (session_open && w->prev_sample_ok && !w->can_silent && w->current > 0)
		w->led_batt_kwh += w->current * PACK_V / 3.6e6;
	if (session_open && w->current > w->led_max_a && !w->can_silent)
		w->led_max_a = w->current;
}

static void decide_current(struct world *w)
{
	struct station *s = w->plugged_at >= 0 ? &w->st[w->plugged_at] : NULL;

	if (!w->plug || !s || !delivering(w, s)) {
		w->current = 0;
		return;
	}
	w->current = power_req(w) >= 7 ? 12.0 : 4.5;
	if (w->fault == F_NOISE && w->t_trigger && ((w->t >= w->t_trigger && w->t < w->t_trigger + 4) ||
						     (w->t >= w->t_trigger + 8 && w->t < w->t_trigger + 11)))
		w->current = 0.2; /* a dip under both thresholds, shorter than the hold time */
	if (w->fault == F_NOISE && w->t_trigger && w->t >= w->t_trigger + 12 && w->t < w->t_trigger + 16)
		w->current = (w->t & 1) ? 0.45 : 0.55; /* noise around the on threshold */
}

static void station_item(const struct world *w, const struct station *s, struct hub_item *it)
{
	memset(it, 0, sizeof(*it));
	it->soc = HUB_SOC_STATION;
	it->battery_voltage = 230.0f;
	it->battery_current = 16.0f;
	it->available_energy = (float)s->meter_kwh;
	it->gps_latitude = (float)lat_of(s->y_m);
	it->gps_longitude = 11.0f;
	it->gps_valid = (uint8_t)s->available;
	memcpy(it->mac, s->mac, 6);
	it->timestamp = s->uptime_ms;
	it->evcs_cost_per_kwh = (float)PRICE;
	it->evcs_session_cost = (float)(s->meter_kwh * PRICE);
	it->evcs_max_power = 3000.0f;
	it->evcs_session_id = s->session_id;
	it->evcs_charging_available = (uint8_t)s->available;
}

static void feed_item(struct world *w, const struct hub_item *it)
{
	int idx;
	enum v2x_update u = v2x_tables_apply(&w->tab, it, mono(w), wall(w), &idx);
	struct v2g_input in;

	if (u == V2X_UPD_DUPLICATE || u == V2X_UPD_STALE)
		return;
	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_STATION;
	memcpy(in.station.mac, it->mac, 6);
	in.station.distance_m = w->tab.station[idx].distance_m;
	in.station.session_id = it->evcs_session_id;
	in.station.energy_kwh = it->available_energy;
	in.station.price_per_kwh = it->evcs_cost_per_kwh;
	in.station.session_cost = it->evcs_session_cost;
	in.station.max_current_a = it->battery_current;
	in.station.available = it->evcs_charging_available;
	in.station.restart = u == V2X_UPD_RESTART;
	step(w, &in);
}

static void radio(struct world *w)
{
	v2x_tables_set_fix(&w->tab, 1, lat_of(w->y_m), 11.0);
	for (int i = 0; i < w->nst; i++) {
		struct station *s = &w->st[i];
		struct hub_item it;

		if (!s->power) {
			s->session_id = 0;
			s->uptime_ms = 0;
			continue;
		}
		s->uptime_ms += 1000;
		if (!s->radio || fabs(w->y_m - s->y_m) > RADIO_RANGE_M)
			continue;
		station_item(w, s, &it);
		s->reported_kwh = s->metered_total_kwh;
		feed_item(w, &it);
		if (s->dup) {
			feed_item(w, &it); /* duplicate */
			if (s->have_last_sent && (w->t % 3) == 0)
				feed_item(w, &s->last_sent); /* a late, older message */
		}
		s->last_sent = it;
		s->have_last_sent = 1;
		if (s->ack_due) {
			struct v2g_input in;

			memset(&in, 0, sizeof(in));
			in.kind = V2G_IN_STOP_ACK;
			s->ack_due = 0;
			step(w, &in);
		}
	}
}

static void signals(struct world *w)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_SIGNALS;
	if (w->can_silent) {
		w->prev_sample_ok = 0;
		if (w->t - w->can_silent_since < 10) {
			in.kind = V2G_IN_TICK; /* no frame, no new state: decode publishes nothing */
			step(w, &in);
			return;
		}
		in.sig = w->m.sig; /* decode marks the bus offline after 10 s; the values are the stale ones */
		in.sig.bus_online = 0;
		step(w, &in);
		return;
	}
	in.sig.plug = w->plug;
	in.sig.charging = w->current > 0;
	in.sig.bus_online = 1;
	in.sig.current_a = w->current;
	in.sig.soc_pct = w->soc;
	in.sig.power_req = w->plug ? power_req(w) : 0;
	in.sig.pack_v = PACK_V;
	in.sig.energy_avail_kwh = w->soc * 6.1 / 100.0;
	step(w, &in);
	w->prev_sample_ok = w->t >= w->down_until;
}

static void tick(struct world *w)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_TICK;
	step(w, &in);
}

static void command(struct world *w, enum v2g_input_kind k, double v)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = k;
	in.value = v;
	step(w, &in);
}

/* ---- the cases ---- */

struct expect {
	enum v2g_state state;     /* the state the session ended in */
	enum v2g_end reason;
	int64_t end_t;            /* expected end step */
	int64_t end_tol;
	int rows;                 /* rows at the end of the script */
	enum v2g_state final;     /* state at the end of the script */
	int station;              /* index of the station of the session */
	int check_energy;         /* battery and station energy against the ledgers */
};

static void world_init(struct world *w, int id, const char *name, enum fault f, int verbose)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->name = name;
	w->fault = f;
	w->verbose = verbose;
	v2g_conf_defaults(&w->conf);
	v2g_init(&w->m, &w->conf);
	v2x_tables_init(&w->tab, 60 * S_NS);
	w->nst = 1;
	memcpy(w->st[0].mac, "\x30\xAE\xA4\x00\x00\x01", 6);
	w->st[0].y_m = 0;
	w->st[0].radio = w->st[0].power = 1;
	w->st[0].available = 1;
	w->st[0].next_id = 1001;
	w->st[0].uptime_ms = 3600000;
	w->plugged_at = -1;
	w->y_m = 400; /* driving in from 400 m north */
	w->soc = START_SOC;
}

/* Drive in at 10 m/s to 2 m north of station A, stop, plug at t = 45. */
static void drive_in(struct world *w)
{
	if (w->t <= 40)
		w->y_m = fmax(2.0, 400 - 10.0 * (double)w->t);
}

static void one_second(struct world *w)
{
	physics(w);
	decide_current(w);
	radio(w);
	signals(w);
	tick(w);
	double before = w->current;
	decide_current(w); /* what the station did after this second's messages */
	if (w->current != before)
		signals(w); /* CAN frames come every 10 ms: the machine sees the change at once */
}

static const char *state_reason(char *buf, size_t n, enum v2g_state s, enum v2g_end r)
{
	snprintf(buf, n, "%s/%s", v2g_state_name(s), v2g_end_name(r));
	return buf;
}

static int near_rel(double got, double want, double rel, double abs_tol)
{
	return fabs(got - want) <= fmax(rel * fabs(want), abs_tol);
}

static int run_case(int id, const char *name, enum fault f, int verbose)
{
	struct world W, *w = &W;
	struct expect ex;
	enum v2g_state end_state = V2G_ST__COUNT;
	int64_t t_unplug = -1, t_leave = -1, stop_t = -1, t_done = -1, t_end = 400;
	char e1[64], o1[64];

	world_init(w, id, name, f, verbose);
	memset(&ex, 0, sizeof(ex));
	ex.state = V2G_ST_ENDED;
	ex.reason = V2G_END_DONE;
	ex.rows = 1;
	ex.final = V2G_ST_IDLE;
	ex.check_energy = 1;
	ex.end_tol = 2;
	w->t_plug = 45;
	if (f == F_SECOND_STATION) {
		w->nst = 2;
		w->st[1] = w->st[0];
		memcpy(w->st[1].mac, "\x30\xAE\xA4\x00\x00\x02", 6);
		w->st[1].y_m = 9; /* 7 m from the parking spot, on the approach road */
		w->st[1].next_id = 2001;
		w->st[0].radio = 0; /* A is heard only after the plug */
	}
	if (f == F_REFUSE)
		w->st[0].refuse = 1;
	if (f == F_LOST_RADIO)
		w->soc = 0; /* a long charge, so that the finishing bound comes before the car is full */
	if (f == F_SILENT_NEG || f == F_UNPLUG_NEG)
		w->st[0].open_after = 1000000; /* never answers in time */
	if (f == F_DUP_REORDER)
		w->st[0].dup = 1;

	for (w->t = 1; w->t <= t_end && w->t < MAX_STEPS; w->t++) {
		drive_in(w);
		if (w->t == w->t_plug) {
			w->plug = 1;
			w->plugged_at = 0;
		}
		if (f == F_SECOND_STATION && w->t == w->t_plug + 2)
			w->st[0].radio = 1;
		if (w->t == 46) {
			if (f == F_DESIRED_SOC)
				command(w, V2G_IN_SET_DESIRED_SOC, 60);
			if (f == F_COST_CAP)
				command(w, V2G_IN_SET_MAX_COST, 0.005);
		}
		/* faults mid-charge, at t = 60 (charging since about t = 46) */
		if (w->t == 60) {
			if (!w->t_trigger)
				w->t_trigger = 60;
			switch (f) {
			case F_LOST_RADIO: w->st[0].radio = 0; break;
			case F_LOST_ALL: w->st[0].radio = 0; w->st[0].power = 0; break;
			case F_RESTART:
				w->st[0].uptime_ms = 0;
				w->st[0].session_id = 0;
				w->st[0].meter_kwh = 0;
				w->st[0].next_id = 5001;
				w->st[0].session_id = w->st[0].next_id++; /* it resumes with a new session at once */
				break;
			case F_USER_STOP: command(w, V2G_IN_USER_STOP, 0); stop_t = 60; break;
			case F_STOP_IGNORED:
				w->st[0].ignore_stop = 1;
				command(w, V2G_IN_USER_STOP, 0);
				stop_t = 60;
				break;
			case F_BUS_OFFLINE: w->can_silent = 1; w->can_silent_since = 60; break;
			case F_UNPLUG_CHARGING: w->plug = 0; w->plugged_at = -1; t_unplug = 60; break;
			case F_CLOCK_STEP: w->wall_off_ns = 3600LL * 1000000000LL; break;
			case F_DAEMON_RESTART: {
				/* the daemon dies now and is back 5 s later from the last saved state */
				w->down_until = 65;
				break;
			}
			case F_REFUSE_MID: w->st[0].available = 0; break;
			default: break;
			}
		}
		if (f == F_UNPLUG_NEG && w->t == 50) {
			/* the station has not opened yet: unplugged before any current */
			w->plug = 0;
			w->plugged_at = -1;
			t_unplug = 50;
		}
		if (f == F_DAEMON_RESTART && w->t == 65) {
			struct v2g_session fresh;

			v2g_init(&fresh, &w->conf);
			v2x_tables_init(&w->tab, 60 * S_NS);
			if (!w->have_blob || v2g_restore(&fresh, w->blob, strlen(w->blob), mono(w), wall(w)) != 0) {
				fprintf(stderr, "case %d: restore failed\n", id);
				return 0;
			}
			w->m = fresh;
			w->led_batt_kwh = w->led_batt_at_save; /* what was integrated after the last save is lost */
			w->prev_sample_ok = 0;
		}
		if (f == F_SILENT_NEG && w->m.state == V2G_ST_NEGOTIATING && w->st[0].radio && !w->t_trigger) {
			w->st[0].radio = 0; /* silent right after the match */
			w->t_trigger = w->t;
		}
		if (f == F_BUS_OFFLINE && w->t == 75)
			w->can_silent = 0; /* back after 15 s: too late, the session ended */
		one_second(w);
		if (t_done < 0 && power_req(w) == 0)
			t_done = w->t;
		if (end_state == V2G_ST__COUNT && w->nrows > 0) {
			end_state = w->m.state;
			for (int i = 0; i < w->nst; i++)
				w->st[i].stop_msgs_at_end = w->st[i].stop_msgs;
		}
		/* once the session ended: unplug 10 s later and drive away north at 10 m/s */
		if (w->nrows > 0 && t_unplug < 0)
			t_unplug = w->t + 10;
		if (w->t == t_unplug && w->plug) {
			w->plug = 0;
			w->plugged_at = -1;
		}
		if (t_unplug >= 0 && w->t > t_unplug) {
			if (t_leave < 0)
				t_leave = w->t;
			w->y_m += 10.0;
		}
		if (t_leave >= 0 && w->t > t_leave + 40)
			break;
	}

	/* expected end, from the script and the specification's timings */
	const struct v2g_conf *c = &w->conf;
	int64_t retry_s = (int64_t)(c->stop_retry_ns / S_NS), silent_s = (int64_t)(c->station_timeout_ns / S_NS);
	switch (f) {
	case F_NONE:
	case F_NOISE:
	case F_DUP_REORDER:
	case F_SECOND_STATION:
	case F_CLOCK_STEP:
	case F_DAEMON_RESTART:
	case F_RESTART:
		ex.end_t = t_done + 1; /* power request 0, stop, the station's acknowledgement the next second */
		break;
	case F_REFUSE:
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STATION_REFUSED;
		ex.end_t = w->t_plug + 1; /* refused in answer to the first ready message, seen in the next one */
		ex.end_tol = 0;
		break;
	case F_SILENT_NEG:
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STATION_LOST;
		ex.end_t = w->t_trigger - 1 + (int64_t)(c->negotiate_timeout_ns / S_NS) + 1;
		break;
	case F_LOST_RADIO:
		/* silent after the timeout, stop sent to nobody, the current never falls: the finishing bound */
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STATION_LOST;
		ex.end_t = 59 + silent_s + 1 + (int64_t)(c->fall_timeout_ns / S_NS);
		break;
	case F_LOST_ALL:
		/* power gone: charging off after the hold time -> finishing(done), no acknowledgement can come, the
		 * station silent past its timeout ends it */
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STATION_LOST;
		ex.end_t = 59 + silent_s + 1;
		break;
	case F_USER_STOP:
		ex.reason = V2G_END_STOPPED_BY_USER;
		ex.end_t = stop_t; /* the command comes before that second's radio and CAN: acknowledged within it */
		ex.end_tol = 0;
		break;
	case F_STOP_IGNORED:
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STOP_NOT_ACKNOWLEDGED;
		ex.end_t = stop_t + (int64_t)(c->stop_retries + 1) * retry_s;
		break;
	case F_DESIRED_SOC:
		ex.reason = V2G_END_DESIRED_SOC;
		/* 1 %/s at 12 A from the plug-in: 60 % after 20 s, stop, acknowledged, current 0 the next second */
		ex.end_t = w->t_plug + (int64_t)ceil((60.0 - START_SOC) / 1.0) + 1;
		ex.end_tol = 1;
		break;
	case F_COST_CAP:
		/* cap 0.005 / 1.5 = 0.003333 kWh metered = 0.003 kWh into the battery = 15.8 s at 684 W: the station's
		 * message after 16 s of charging (0.005067) passes the cap (after 15 s: 0.00475), the stop goes out and
		 * is acknowledged within that second */
		ex.reason = V2G_END_MAX_COST;
		ex.end_t = w->t_plug + 16;
		ex.end_tol = 0;
		break;
	case F_BUS_OFFLINE:
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_BUS_OFFLINE;
		ex.end_t = 60 + 10 + 1; /* bus_online 0 after 10 s, stop, acknowledged the next second */
		break;
	case F_UNPLUG_NEG:
		ex.state = V2G_ST_DEPARTING;
		ex.reason = V2G_END_UNPLUGGED;
		ex.end_t = 50;
		ex.end_tol = 0;
		break;
	case F_UNPLUG_CHARGING:
		ex.state = V2G_ST_DEPARTING;
		ex.reason = V2G_END_UNPLUGGED;
		ex.end_t = 60;
		ex.end_tol = 0;
		break;
	case F_REFUSE_MID:
		ex.state = V2G_ST_FAULT;
		ex.reason = V2G_END_STATION_REFUSED;
		ex.end_t = 60 + (int64_t)(c->off_hold_ns / S_NS); /* power cut at 60: off after the hold time */
		break;
	}

	/* observe */
	int ok = 1;
	char why[160] = "";
	const struct v2g_record *r = w->nrows ? &w->rows[0] : NULL;
	if (!r) {
		ok = 0;
		snprintf(why, sizeof(why), "no session row");
	}
	enum v2g_end got_reason = r ? r->reason : V2G_END_NONE;
	if (r && (got_reason != ex.reason || end_state != ex.state)) {
		ok = 0;
		snprintf(why, sizeof(why), "end state/reason");
	}
	if (ok && w->nrows != ex.rows) {
		ok = 0;
		snprintf(why, sizeof(why), "%d rows, want %d", w->nrows, ex.rows);
	}
	if (ok && w->m.state != ex.final) {
		ok = 0;
		snprintf(why, sizeof(why), "final state %s, want %s", v2g_state_name(w->m.state), v2g_state_name(ex.final));
	}
	double dur_s = r ? (double)r->duration_ns / 1e9 : 0;
	double want_dur = ex.end_t >= 0 ? (double)(ex.end_t - w->t_plug) : dur_s;
	if (ok && ex.end_t >= 0 && fabs(dur_s - want_dur) > (double)ex.end_tol) {
		ok = 0;
		snprintf(why, sizeof(why), "duration %.0f s, want %.0f +- %lld", dur_s, want_dur, (long long)ex.end_tol);
	}
	const struct station *ss = &w->st[ex.station];
	double want_st = ss->reported_kwh, want_cost = want_st * PRICE;
	if (ok && r && ex.check_energy) {
		if (!near_rel(r->energy_batt_kwh, w->led_batt_kwh, 0.01, 1e-6)) {
			ok = 0;
			snprintf(why, sizeof(why), "battery energy %.6f kWh, script %.6f", r->energy_batt_kwh, w->led_batt_kwh);
		} else if (!near_rel(r->energy_station_kwh, want_st, 0.01, 1e-6)) {
			ok = 0;
			snprintf(why, sizeof(why), "station energy %.6f kWh, script %.6f", r->energy_station_kwh, want_st);
		} else if (!near_rel(r->cost, want_cost, 0.01, 1e-6)) {
			ok = 0;
			snprintf(why, sizeof(why), "cost %.6f, script %.6f", r->cost, want_cost);
		} else if (fabs(r->max_current_a - w->led_max_a) > 0.01) {
			ok = 0;
			snprintf(why, sizeof(why), "max current %.2f A, script %.2f", r->max_current_a, w->led_max_a);
		}
	}
	if (ok && r && memcmp(r->mac, w->st[ex.station].mac, 6) != 0) {
		ok = 0;
		snprintf(why, sizeof(why), "session with the wrong station");
	}
	/* case-specific checks */
	if (ok && f == F_COST_CAP && !(r->cost >= 0.005 && r->cost < 0.005 + 2 * 12 * PACK_V / 3.6e6 / CHARGER_EFF * PRICE)) {
		ok = 0;
		snprintf(why, sizeof(why), "cost %.6f: not stopped within a second of the cap 0.005", r->cost);
	}
	if (ok && f == F_CLOCK_STEP &&
	    llabs((r->end_real_ns - r->start_real_ns) - ((int64_t)r->duration_ns + 3600LL * 1000000000LL)) > 1000000000LL) {
		ok = 0;
		snprintf(why, sizeof(why), "wall span is not duration + 1 h");
	}
	if (ok && f == F_SECOND_STATION && w->st[1].session_id != 0 && w->st[1].stop_msgs == 0) {
		ok = 0;
		snprintf(why, sizeof(why), "station B left with an open session");
	}
	if (ok && f == F_RESTART && !(r->have_station_id && r->station_session_id == 1001)) {
		ok = 0;
		snprintf(why, sizeof(why), "session id %u, want the original 1001", r->station_session_id);
	}
	if (ok && f == F_STOP_IGNORED && w->st[0].stop_msgs_at_end != w->conf.stop_retries + 1) {
		ok = 0;
		snprintf(why, sizeof(why), "%llu stop requests, want %u", (unsigned long long)w->st[0].stop_msgs_at_end,
			 w->conf.stop_retries + 1);
	}
	if (ok && f == F_DUP_REORDER && (w->tab.stats.duplicates == 0 || w->tab.stats.stale == 0)) {
		ok = 0;
		snprintf(why, sizeof(why), "no duplicate or stale message was injected");
	}
	if (ok && r) {
		char row[V2G_SESSION_ROW_MAX];

		if (v2g_session_row(row, sizeof(row), r) == 0) {
			ok = 0;
			snprintf(why, sizeof(why), "row does not format");
		} else if (verbose) {
			printf("    row: %s", row);
		}
	}

	printf("%2d  %-26s expected %-30s observed %-30s %s", id, name, state_reason(e1, sizeof(e1), ex.state, ex.reason),
	       state_reason(o1, sizeof(o1), end_state == V2G_ST__COUNT ? V2G_ST_IDLE : end_state, got_reason),
	       ok ? "PASS" : "FAIL");
	if (r)
		printf("  batt %.5f/%.5f kWh  station %.5f/%.5f kWh  cost %.5f/%.5f  max %.2f/%.2f A  dur %.0f/%s s",
		       r->energy_batt_kwh, w->led_batt_kwh, r->energy_station_kwh, want_st, r->cost, want_cost,
		       r->max_current_a, w->led_max_a, dur_s, ex.end_t >= 0 ? (snprintf(e1, sizeof(e1), "%.0f", want_dur), e1) : "-");
	if (!ok)
		printf("  (%s)", why);
	printf("\n");
	return ok;
}

static const struct {
	const char *name;
	enum fault f;
} cases[] = {
	{ "good_session", F_NONE },
	{ "station_refuses", F_REFUSE },
	{ "station_silent_negotiating", F_SILENT_NEG },
	{ "station_lost_mid_charge", F_LOST_RADIO },
	{ "station_dead_mid_charge", F_LOST_ALL },
	{ "station_restart_mid_charge", F_RESTART },
	{ "stop_acknowledged", F_USER_STOP },
	{ "stop_never_acknowledged", F_STOP_IGNORED },
	{ "desired_soc_reached", F_DESIRED_SOC },
	{ "cost_cap_reached", F_COST_CAP },
	{ "can_bus_offline_10s", F_BUS_OFFLINE },
	{ "unplug_negotiating", F_UNPLUG_NEG },
	{ "unplug_charging", F_UNPLUG_CHARGING },
	{ "current_noise_no_split", F_NOISE },
	{ "duplicate_out_of_order", F_DUP_REORDER },
	{ "second_station_nearer", F_SECOND_STATION },
	{ "wall_clock_step_1h", F_CLOCK_STEP },
	{ "daemon_restart_mid_session", F_DAEMON_RESTART },
	{ "station_refuses_mid_charge", F_REFUSE_MID },
};
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

int main(int argc, char **argv)
{
	int verbose = 0, pass = 0, run = 0;
	int want[64] = { 0 }, any = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v")) {
			verbose = 1;
			continue;
		}
		int k = atoi(argv[i]);
		if (k < 1 || k > NCASES) {
			fprintf(stderr, "usage: v2g_faults [-v] [case 1..%d ...]\n", NCASES);
			return 2;
		}
		want[k] = 1;
		any = 1;
	}
	printf("V2G fault-injection report: case, name, expected end state/reason, observed, verdict, accounting "
	       "(observed/script)\n");
	for (int i = 0; i < NCASES; i++) {
		if (any && !want[i + 1])
			continue;
		run++;
		pass += run_case(i + 1, cases[i].name, cases[i].f, verbose);
	}
	printf("SUMMARY cases=%d passed=%d failed=%d\n", run, pass, run - pass);
	return pass == run ? 0 : 1;
}

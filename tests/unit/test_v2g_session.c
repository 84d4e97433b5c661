/*
 * test_v2g_session.c - the session machine (stages/v2g/session.h), one transition per table row.
 *
 * Each case brings a machine to a state through ordinary inputs (plug, a station 5 m away, charging at 10 A with
 * charge_power_req 7), applies one input, and checks the transitions taken (event and next state), the end reason
 * and the messages, against issue 8 items 4 and 5 and the defaults in session.h (radius 10 m, window 10 s,
 * thresholds 0.5 / 0.3 A with a 10 s hold, negotiation 10 s, station 15 s, stop every 2 s with 3 retries, 30 s bound).
 * Then save/restore and the accounting figures, computed by hand: 10 A x 57 V for 2 s = 1140 J = 0.00031667 kWh.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stages/v2g/session.h"

#define S 1000000000ull
#define WALL0 1764500000000000000LL

static const uint8_t MAC_A[6] = { 0x30, 0xAE, 0xA4, 0, 0, 1 };
static const uint8_t MAC_B[6] = { 0x30, 0xAE, 0xA4, 0, 0, 2 };

struct h {
	struct v2g_session m;
	struct v2g_actions a;
	int rc;
	double t; /* seconds */
};

static void run(struct h *h, struct v2g_input *in, double t)
{
	h->t = t;
	h->rc = v2g_step(&h->m, in, (uint64_t)(t * 1e9) + 100 * S, WALL0 + (int64_t)(t * 1e9), &h->a);
}

static void sig(struct h *h, double t, int plug, int charging, double current, double soc, double req, int bus)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_SIGNALS;
	in.sig.plug = plug;
	in.sig.charging = charging;
	in.sig.bus_online = bus;
	in.sig.current_a = current;
	in.sig.soc_pct = soc;
	in.sig.power_req = req;
	in.sig.pack_v = 57.0;
	in.sig.energy_avail_kwh = soc * 6.1 / 100;
	run(h, &in, t);
}

static void cand_tick(struct h *h, double t, const uint8_t *mac, double dist, double heard_t, int avail)
{
	struct v2g_input in;
	struct v2g_candidate c;

	memset(&in, 0, sizeof(in));
	memset(&c, 0, sizeof(c));
	memcpy(c.msg.mac, mac, 6);
	c.msg.distance_m = dist;
	c.msg.available = avail;
	c.msg.price_per_kwh = 1.5;
	c.last_heard_mono_ns = (uint64_t)(heard_t * 1e9) + 100 * S;
	in.kind = V2G_IN_TICK;
	in.nearest = &c;
	run(h, &in, t);
}

static void tick(struct h *h, double t)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_TICK;
	run(h, &in, t);
}

static void station(struct h *h, double t, const uint8_t *mac, double dist, uint32_t id, double kwh, int avail)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_STATION;
	memcpy(in.station.mac, mac, 6);
	in.station.distance_m = dist;
	in.station.session_id = id;
	in.station.energy_kwh = kwh;
	in.station.price_per_kwh = 1.5;
	in.station.available = avail;
	run(h, &in, t);
}

static void cmd(struct h *h, double t, enum v2g_input_kind k, double v)
{
	struct v2g_input in;

	memset(&in, 0, sizeof(in));
	in.kind = k;
	in.value = v;
	run(h, &in, t);
}

static void expect(const struct h *h, enum v2g_state from, enum v2g_event ev, enum v2g_state to)
{
	for (unsigned i = 0; i < h->a.n_trans; i++)
		if (h->a.trans[i].from == from && h->a.trans[i].event == ev && h->a.trans[i].to == to)
			return;
	fail_msg("t=%.1f: no %s -(%s)-> %s; state %s, %u transitions%s%s", h->t, v2g_state_name(from),
		 v2g_event_name(ev), v2g_state_name(to), v2g_state_name(h->m.state), h->a.n_trans,
		 h->a.n_trans ? ", first " : "", h->a.n_trans ? v2g_event_name(h->a.trans[0].event) : "");
}

static void expect_none(const struct h *h)
{
	if (h->a.n_trans)
		fail_msg("t=%.1f: unexpected %s -(%s)-> %s", h->t, v2g_state_name(h->a.trans[0].from),
			 v2g_event_name(h->a.trans[0].event), v2g_state_name(h->a.trans[0].to));
}

static void expect_row(const struct h *h, enum v2g_end r)
{
	assert_int_equal(h->a.row, 1);
	if (h->a.rec.reason != r)
		fail_msg("reason %s, want %s", v2g_end_name(h->a.rec.reason), v2g_end_name(r));
}

/* ---- reaching states ---- */

static void to_plugged(struct h *h)
{
	memset(h, 0, sizeof(*h));
	v2g_init(&h->m, NULL);
	sig(h, 1, 1, 0, 0, 40, 7, 1);
	expect(h, V2G_ST_IDLE, V2G_E_PLUG, V2G_ST_PLUGGED);
}

static void to_negotiating(struct h *h)
{
	to_plugged(h);
	cand_tick(h, 2, MAC_A, 5, 2, 1);
	expect(h, V2G_ST_PLUGGED, V2G_E_MATCH, V2G_ST_NEGOTIATING);
	assert_int_equal(h->a.n_send, 1);
	assert_memory_equal(h->a.msg[0].station_mac, MAC_A, 6);
	assert_int_equal(h->a.msg[0].ready_to_charge, 1);
	assert_int_equal(h->a.msg[0].stop_charging, 0);
	assert_int_equal(h->a.save, 1);
}

static void to_charging(struct h *h)
{
	to_negotiating(h);
	station(h, 3, MAC_A, 5, 7, 0, 1);
	sig(h, 3, 1, 1, 10, 40, 7, 1);
	expect(h, V2G_ST_NEGOTIATING, V2G_E_CURRENT_ON, V2G_ST_CHARGING);
}

static void to_finishing_user(struct h *h)
{
	to_charging(h);
	cmd(h, 4, V2G_IN_USER_STOP, 0);
	expect(h, V2G_ST_CHARGING, V2G_E_USER_STOP, V2G_ST_FINISHING);
	assert_int_equal(h->a.n_send, 1);
	assert_int_equal(h->a.msg[0].stop_charging, 1);
	assert_int_equal(h->a.msg[0].ready_to_charge, 0);
	assert_int_equal(h->a.msg[0].session_id, 7);
}

/* ---- transitions ---- */

static void test_idle_plugged(void **state)
{
	struct h h;

	to_plugged(&h);
	sig(&h, 2, 0, 0, 0, 40, 7, 1);
	expect(&h, V2G_ST_PLUGGED, V2G_E_UNPLUG, V2G_ST_IDLE);
	assert_int_equal(h.a.row, 0); /* no station, no session */
}

static void test_match_rule_bounds(void **state)
{
	struct h h;

	to_plugged(&h);
	cand_tick(&h, 2, MAC_A, 10.5, 2, 1); /* beyond the 10 m radius */
	expect_none(&h);
	cand_tick(&h, 20, MAC_A, 5, 9.5, 1); /* heard 10.5 s ago */
	expect_none(&h);
	cand_tick(&h, 21, MAC_A, 10.0, 11, 1); /* exactly at the radius and the window */
	expect(&h, V2G_ST_PLUGGED, V2G_E_MATCH, V2G_ST_NEGOTIATING);
}

static void test_negotiating_exits(void **state)
{
	struct h h;

	to_negotiating(&h);
	sig(&h, 3, 0, 0, 0, 40, 7, 1);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_UNPLUG, V2G_ST_DEPARTING);
	expect_row(&h, V2G_END_UNPLUGGED);

	to_negotiating(&h);
	sig(&h, 3, 1, 0, 0, 40, 7, 0);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_BUS_OFFLINE, V2G_ST_FINISHING);
	assert_int_equal(h.a.msg[0].stop_charging, 1);

	to_negotiating(&h);
	cmd(&h, 3, V2G_IN_USER_STOP, 0);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_USER_STOP, V2G_ST_FINISHING);

	to_negotiating(&h);
	tick(&h, 12); /* heard at 2: 10 s is still fine */
	expect_none(&h);
	tick(&h, 12.5);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_STATION_SILENT, V2G_ST_FINISHING);
	expect(&h, V2G_ST_FINISHING, V2G_E_FINISHED, V2G_ST_FAULT); /* nothing flows, no ack can come */
	expect_row(&h, V2G_END_STATION_LOST);

	to_negotiating(&h);
	station(&h, 3, MAC_A, 5, 0, 0, 0);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_REFUSED, V2G_ST_FINISHING);
	expect(&h, V2G_ST_FINISHING, V2G_E_FINISHED, V2G_ST_FAULT);
	expect_row(&h, V2G_END_STATION_REFUSED);
}

static void test_nearer_station(void **state)
{
	struct h h;

	to_plugged(&h);
	cand_tick(&h, 2, MAC_B, 8, 2, 1);
	expect(&h, V2G_ST_PLUGGED, V2G_E_MATCH, V2G_ST_NEGOTIATING);
	cand_tick(&h, 3, MAC_A, 7.5, 3, 1); /* only 0.5 m nearer: not worth switching */
	expect_none(&h);
	cand_tick(&h, 4, MAC_A, 2, 4, 1);
	expect(&h, V2G_ST_NEGOTIATING, V2G_E_NEARER, V2G_ST_NEGOTIATING);
	assert_int_equal(h.a.n_send, 2);
	assert_memory_equal(h.a.msg[0].station_mac, MAC_B, 6); /* the one given up gets a stop */
	assert_int_equal(h.a.msg[0].stop_charging, 1);
	assert_memory_equal(h.a.msg[1].station_mac, MAC_A, 6);
	assert_int_equal(h.a.msg[1].ready_to_charge, 1);
	/* messages of the old station no longer count */
	station(&h, 5, MAC_B, 8, 0, 0, 0);
	expect_none(&h);
	assert_int_equal(h.m.state, V2G_ST_NEGOTIATING);
}

static void test_charging_exits(void **state)
{
	struct h h;

	to_charging(&h);
	sig(&h, 4, 0, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_CHARGING, V2G_E_UNPLUG, V2G_ST_DEPARTING);
	expect_row(&h, V2G_END_UNPLUGGED);
	assert_int_equal(h.a.rec.have_station_id, 1);
	assert_int_equal(h.a.rec.station_session_id, 7);

	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 7, 0);
	expect(&h, V2G_ST_CHARGING, V2G_E_BUS_OFFLINE, V2G_ST_FINISHING);

	to_charging(&h);
	sig(&h, 17, 1, 1, 10, 41, 7, 1); /* heard at 3: 14 s */
	tick(&h, 18);
	expect_none(&h);
	tick(&h, 18.5);
	expect(&h, V2G_ST_CHARGING, V2G_E_STATION_SILENT, V2G_ST_FINISHING);
	assert_int_equal(h.m.state, V2G_ST_FINISHING); /* the current still flows: wait for it */

	to_charging(&h);
	cmd(&h, 4, V2G_IN_SET_DESIRED_SOC, 45);
	expect_none(&h);
	sig(&h, 5, 1, 1, 10, 45, 7, 1);
	expect(&h, V2G_ST_CHARGING, V2G_E_SOC_REACHED, V2G_ST_FINISHING);

	to_charging(&h);
	cmd(&h, 4, V2G_IN_SET_MAX_COST, 0.3);
	station(&h, 5, MAC_A, 5, 7, 0.19, 1); /* 0.285 */
	expect_none(&h);
	station(&h, 6, MAC_A, 5, 7, 0.2, 1); /* 0.3 */
	expect(&h, V2G_ST_CHARGING, V2G_E_COST_REACHED, V2G_ST_FINISHING);

	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 0, 1);
	expect(&h, V2G_ST_CHARGING, V2G_E_POWER_ZERO, V2G_ST_FINISHING);
	assert_int_equal(h.m.pending, V2G_END_DONE);

	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 5, 1);
	expect(&h, V2G_ST_CHARGING, V2G_E_POWER_DROP, V2G_ST_TOPOFF);
	sig(&h, 5, 1, 1, 4, 41, 6, 1); /* up again, still below 7: stays in topoff */
	expect_none(&h);
	sig(&h, 6, 1, 1, 2, 42, 0, 1);
	expect(&h, V2G_ST_TOPOFF, V2G_E_POWER_ZERO, V2G_ST_FINISHING);
}

static void test_hysteresis(void **state)
{
	struct h h;

	to_charging(&h);
	/* 0.4 A: under the on threshold, over the off threshold: still charging, however long */
	for (int t = 4; t < 30; t++) {
		station(&h, t, MAC_A, 5, 7, 0.01 * t, 1);
		sig(&h, t, 1, 1, 0.4, 41, 7, 1);
		expect_none(&h);
	}
	/* 0.2 A for 9.5 s, then back: no split */
	for (double t = 30; t < 39.6; t += 0.5) {
		station(&h, t, MAC_A, 5, 7, 0.3, 1);
		sig(&h, t, 1, 1, 0.2, 41, 7, 1);
		expect_none(&h);
	}
	sig(&h, 40, 1, 1, 10, 41, 7, 1);
	expect_none(&h);
	/* charging flag off: off after exactly 10 s */
	sig(&h, 41, 1, 0, 0, 41, 7, 1);
	station(&h, 45, MAC_A, 5, 7, 0.3, 1);
	sig(&h, 50.9, 1, 0, 0, 41, 7, 1);
	expect_none(&h);
	station(&h, 50.95, MAC_A, 5, 7, 0.3, 1);
	sig(&h, 51, 1, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_CHARGING, V2G_E_CURRENT_OFF, V2G_ST_FINISHING);
	assert_int_equal(h.m.pending, V2G_END_DONE); /* the station is available: the car ended it */
}

static void test_finishing(void **state)
{
	struct h h;
	struct v2g_input in;

	/* acknowledged, current falls */
	to_finishing_user(&h);
	memset(&in, 0, sizeof(in));
	in.kind = V2G_IN_STOP_ACK;
	in.session_id = 7;
	run(&h, &in, 4.5);
	expect_none(&h); /* acknowledged, but the current still flows */
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_FINISHING, V2G_E_FINISHED, V2G_ST_ENDED);
	expect_row(&h, V2G_END_STOPPED_BY_USER);

	/* an acknowledgement for another session does not count */
	to_finishing_user(&h);
	in.session_id = 8;
	run(&h, &in, 4.5);
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	expect_none(&h);
	assert_int_equal(h.m.ignored_acks, 1);

	/* the station closing its session is an acknowledgement too */
	to_finishing_user(&h);
	station(&h, 5, MAC_A, 5, 0, 0.01, 1);
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_FINISHING, V2G_E_FINISHED, V2G_ST_ENDED);

	/* never acknowledged: requests at 4, 6, 8, 10; given up at 12 */
	to_finishing_user(&h);
	int sent = 1;
	for (double t = 4.5; t < 12; t += 0.5) {
		tick(&h, t);
		sent += (int)h.a.n_send;
		expect_none(&h);
	}
	assert_int_equal(sent, 4);
	tick(&h, 12);
	expect(&h, V2G_ST_FINISHING, V2G_E_STOP_TIMEOUT, V2G_ST_FAULT);
	expect_row(&h, V2G_END_STOP_NOT_ACKNOWLEDGED);

	/* bus offline, never acknowledged: the fault reason stays */
	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 7, 0);
	for (double t = 5; t < 12; t += 1)
		tick(&h, t);
	tick(&h, 12);
	expect(&h, V2G_ST_FINISHING, V2G_E_STOP_TIMEOUT, V2G_ST_FAULT);
	expect_row(&h, V2G_END_BUS_OFFLINE);

	/* acknowledged but the current keeps flowing: the 30 s bound */
	to_finishing_user(&h);
	in.session_id = 0;
	run(&h, &in, 4.5);
	for (double t = 5; t < 34; t += 1)
		sig(&h, t, 1, 1, 10, 41, 7, 1), station(&h, t, MAC_A, 5, 7, 0.1, 1), expect_none(&h);
	sig(&h, 34, 1, 1, 10, 41, 7, 1);
	expect(&h, V2G_ST_FINISHING, V2G_E_FALL_TIMEOUT, V2G_ST_FAULT);
	expect_row(&h, V2G_END_STOPPED_BY_USER);

	/* unplugged while finishing: the reason we stopped for stands */
	to_finishing_user(&h);
	sig(&h, 5, 0, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_FINISHING, V2G_E_UNPLUG, V2G_ST_DEPARTING);
	expect_row(&h, V2G_END_STOPPED_BY_USER);

	/* waiting for an acknowledgement from a station that fell silent */
	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 0, 1); /* done: stop */
	sig(&h, 5, 1, 0, 0, 41, 0, 1);
	tick(&h, 18);
	expect_none(&h);
	tick(&h, 18.5);
	expect(&h, V2G_ST_FINISHING, V2G_E_STATION_SILENT, V2G_ST_FAULT);
	expect_row(&h, V2G_END_STATION_LOST);
}

static void test_ack_by_current(void **state)
{
	struct h h;
	struct v2g_conf c;

	memset(&h, 0, sizeof(h));
	v2g_conf_defaults(&c);
	c.ack_by_current = 1; /* a legacy hub: no acknowledgement exists */
	v2g_init(&h.m, &c);
	sig(&h, 1, 1, 0, 0, 40, 7, 1);
	cand_tick(&h, 2, MAC_A, 5, 2, 1);
	station(&h, 3, MAC_A, 5, 7, 0, 1);
	sig(&h, 3, 1, 1, 10, 40, 7, 1);
	cmd(&h, 4, V2G_IN_USER_STOP, 0);
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_FINISHING, V2G_E_FINISHED, V2G_ST_ENDED);
}

static void test_after_session(void **state)
{
	struct h h;

	to_finishing_user(&h);
	station(&h, 5, MAC_A, 5, 0, 0.01, 1);
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	assert_int_equal(h.m.state, V2G_ST_ENDED);
	cmd(&h, 6, V2G_IN_USER_STOP, 0); /* nothing to stop */
	expect_none(&h);
	sig(&h, 7, 0, 0, 0, 41, 7, 1);
	expect(&h, V2G_ST_ENDED, V2G_E_UNPLUG, V2G_ST_DEPARTING);
	assert_int_equal(h.a.row, 0); /* the row went out when the session ended */
	assert_int_equal(h.a.n_send, 1); /* departing: battery data with the stop flag */
	assert_int_equal(h.a.msg[0].stop_charging, 1);
	station(&h, 8, MAC_A, 50, 0, 0.01, 1);
	expect_none(&h);
	station(&h, 9, MAC_A, 105.5, 0, 0.01, 1);
	expect(&h, V2G_ST_DEPARTING, V2G_E_OUT_OF_RANGE, V2G_ST_IDLE);

	/* departing ends when the station falls silent, or when plugged again */
	to_finishing_user(&h);
	station(&h, 5, MAC_A, 5, 0, 0.01, 1);
	sig(&h, 5, 1, 0, 0, 41, 7, 1);
	sig(&h, 6, 0, 0, 0, 41, 7, 1);
	tick(&h, 20);
	expect_none(&h);
	tick(&h, 20.5);
	expect(&h, V2G_ST_DEPARTING, V2G_E_OUT_OF_RANGE, V2G_ST_IDLE);

	to_negotiating(&h);
	sig(&h, 3, 0, 0, 0, 40, 7, 1);
	sig(&h, 4, 1, 0, 0, 40, 7, 1);
	expect(&h, V2G_ST_DEPARTING, V2G_E_PLUG, V2G_ST_PLUGGED);

	/* fault, then unplugged */
	to_negotiating(&h);
	station(&h, 3, MAC_A, 5, 0, 0, 0);
	assert_int_equal(h.m.state, V2G_ST_FAULT);
	sig(&h, 4, 0, 0, 0, 40, 7, 1);
	expect(&h, V2G_ST_FAULT, V2G_E_UNPLUG, V2G_ST_DEPARTING);
}

static void test_bad_inputs(void **state)
{
	struct h h;

	to_plugged(&h);
	cmd(&h, 2, V2G_IN_SET_DESIRED_SOC, 0);
	assert_int_equal(h.rc, -EINVAL);
	cmd(&h, 2, V2G_IN_SET_DESIRED_SOC, 101);
	assert_int_equal(h.rc, -EINVAL);
	cmd(&h, 2, V2G_IN_SET_MAX_COST, -1);
	assert_int_equal(h.rc, -EINVAL);
	cmd(&h, 2, V2G_IN_SET_MAX_COST, NAN);
	assert_int_equal(h.rc, -EINVAL);
	cmd(&h, 2, (enum v2g_input_kind)99, 0);
	assert_int_equal(h.rc, -EINVAL);
	assert_int_equal(h.m.state, V2G_ST_PLUGGED);
}

/* 10 A x 57 V between samples 1 s apart; the first sample (at the match) carries 0 A. */
static void test_accounting(void **state)
{
	struct h h;

	to_charging(&h); /* match at 2 (0 A), 10 A from the sample at 3 */
	sig(&h, 4, 1, 1, 12, 42, 7, 1);     /* [3,4): 10 A */
	sig(&h, 5, 1, 1, 11, 43, 7, 1);     /* [4,5): 12 A */
	sig(&h, 8, 1, 1, 11, 44, 7, 1);     /* a 3 s gap: not integrated */
	station(&h, 8, MAC_A, 5, 7, 0.5, 1);
	sig(&h, 9, 1, 1, 11, 45, 0, 1);     /* [8,9): 11 A, then done */
	station(&h, 9.5, MAC_A, 5, 0, 0.6, 1); /* closed: acknowledged */
	sig(&h, 10, 1, 0, 0, 45, 0, 1);     /* [9,10): 11 A */
	expect_row(&h, V2G_END_DONE);
	double want = (10 + 12 + 11 + 11) * 57.0 / 3.6e6;
	assert_true(fabs(h.a.rec.energy_batt_kwh - want) < 1e-12);
	assert_true(fabs(h.a.rec.energy_station_kwh - 0.6) < 1e-12);
	assert_true(fabs(h.a.rec.cost - 0.9) < 1e-12);
	assert_true(h.a.rec.max_current_a == 12.0);
	assert_int_equal(h.a.rec.duration_ns, 8 * S); /* matched at 2, ended at 10 */
	assert_true(h.a.rec.soc_start == 40.0);
	assert_true(h.a.rec.soc_end == 45.0);
	assert_int_equal(h.a.rec.start_real_ns, WALL0 + 2 * (int64_t)S);
	assert_int_equal(h.a.rec.end_real_ns, WALL0 + 10 * (int64_t)S);
	assert_memory_equal(h.a.rec.mac, MAC_A, 6);
	assert_true(h.a.rec.distance_m == 5.0);
	assert_int_equal(h.a.rec.station_session_id, 7);
}

/* The station restarts: a new session id and its counter from 0: the energy adds up. */
static void test_station_restart_accounting(void **state)
{
	struct h h;

	to_charging(&h);
	station(&h, 4, MAC_A, 5, 7, 0.4, 1);
	station(&h, 5, MAC_A, 5, 9, 0.0, 1); /* restarted */
	station(&h, 6, MAC_A, 5, 9, 0.25, 1);
	assert_true(fabs(v2g_station_energy_kwh(&h.m) - 0.65) < 1e-12);
	station(&h, 7, MAC_A, 5, 9, 0.1, 1); /* the counter went back without a new id: restarted again */
	assert_true(fabs(v2g_station_energy_kwh(&h.m) - 0.75) < 1e-12);
	sig(&h, 8, 0, 0, 0, 41, 7, 1);
	expect_row(&h, V2G_END_UNPLUGGED);
	assert_true(fabs(h.a.rec.cost - 0.75 * 1.5) < 1e-12);
	assert_int_equal(h.a.rec.station_session_id, 7); /* the session's id is the original one */
}

static void test_save_restore(void **state)
{
	struct h h, g;
	char buf[V2G_SAVE_MAX];
	int n;

	to_charging(&h);
	sig(&h, 4, 1, 1, 10, 41, 7, 1);
	station(&h, 4, MAC_A, 5, 7, 0.2, 1);
	n = v2g_save(&h.m, 104 * S + S / 2, WALL0 + (int64_t)(4.5 * 1e9), buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(v2g_save(&h.m, 0, 0, buf, 100), -ENOBUFS);
	n = v2g_save(&h.m, 104 * S + S / 2, WALL0 + (int64_t)(4.5 * 1e9), buf, sizeof(buf));
	/* the daemon comes back 10 s of wall time later on a rebooted monotonic clock (5 s) */
	memset(&g, 0, sizeof(g));
	v2g_init(&g.m, NULL);
	assert_int_equal(v2g_restore(&g.m, buf, (size_t)n, 5 * S, WALL0 + (int64_t)(14.5 * 1e9)), 0);
	assert_int_equal(g.m.state, V2G_ST_CHARGING);
	assert_memory_equal(g.m.mac, MAC_A, 6);
	assert_int_equal(g.m.st_session_id, 7);
	assert_true(fabs(g.m.rec.energy_batt_kwh - (h.m.rec.energy_batt_kwh + 10 * 57.0 * 0.5 / 3.6e6)) < 1e-15);
	assert_true(v2g_station_energy_kwh(&g.m) == 0.2);
	/* ended 1 s after the restore: 2.5 s before the save + 10 s down + 1 s */
	g.t = 0;
	g.rc = v2g_step(&g.m, &(struct v2g_input){ .kind = V2G_IN_SIGNALS,
						   .sig = { 0, 0, 1, 0, 41, 7, 57, 2.5 } },
			6 * S, WALL0 + (int64_t)(15.5 * 1e9), &g.a);
	assert_int_equal(g.a.row, 1);
	assert_int_equal(g.a.rec.reason, V2G_END_UNPLUGGED);
	assert_int_equal(g.a.rec.duration_ns, 13 * S + S / 2);

	/* refusals: the state is left alone */
	struct v2g_session before = g.m;
	char bad[V2G_SAVE_MAX];
	assert_int_equal(v2g_restore(&g.m, "v2g-session 2\n", 14, 0, 0), -EPROTO);
	memcpy(bad, buf, (size_t)n);
	assert_int_equal(v2g_restore(&g.m, bad, (size_t)n - 4, 0, 0), -EPROTO); /* cut short */
	char *p = strstr(bad, "state charging");
	assert_non_null(p);
	memcpy(p, "state chargin!", 14);
	assert_int_equal(v2g_restore(&g.m, bad, (size_t)n, 0, 0), -EPROTO);
	memcpy(bad, buf, (size_t)n);
	p = strstr(bad, "max_cost ");
	p[0] = 'X'; /* an unknown key */
	assert_int_equal(v2g_restore(&g.m, bad, (size_t)n, 0, 0), -EPROTO);
	memcpy(bad, buf, (size_t)n);
	p = strstr(bad, "st_session_id ");
	memcpy(p + 14, "-1", 2); /* a negative id */
	assert_int_equal(v2g_restore(&g.m, bad, (size_t)n, 0, 0), -EPROTO);
	assert_memory_equal(&before, &g.m, sizeof(before));
}

static void test_names(void **state)
{
	assert_string_equal(v2g_state_name(V2G_ST_TOPOFF), "topoff");
	assert_string_equal(v2g_end_name(V2G_END_STOP_NOT_ACKNOWLEDGED), "stop_not_acknowledged");
	assert_string_equal(v2g_event_name(V2G_E_CURRENT_ON), "current_on");
	assert_string_equal(v2g_state_name(V2G_ST__COUNT), "invalid");
	assert_int_equal(v2g_end_lookup("max_cost"), V2G_END_MAX_COST);
	assert_int_equal(v2g_state_lookup("nope"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_plugged),
		cmocka_unit_test(test_match_rule_bounds),
		cmocka_unit_test(test_negotiating_exits),
		cmocka_unit_test(test_nearer_station),
		cmocka_unit_test(test_charging_exits),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_finishing),
		cmocka_unit_test(test_ack_by_current),
		cmocka_unit_test(test_after_session),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_station_restart_accounting),
		cmocka_unit_test(test_save_restore),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

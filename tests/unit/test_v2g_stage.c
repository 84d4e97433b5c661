/*
 * test_v2g_stage.c - the hub_io and v2g stage threads together on a real pseudo-terminal (the test plays the hub and
 * a charging station behind it) and a published vehicle state (the test plays decode).
 *
 * Legacy link: the vehicle's own Item goes out as AA 55 + 88 bytes on the item timer, built from the published state
 * (soc, current, GPS, gear); a garbage stream (boot text, AA AA 55, a NaN field, a truncated frame) is counted by
 * reason and the good frames in it still arrive; a station 2.2 m away is matched once the car is plugged, the own
 * Item then says ready_to_charge; charging, then the power request at 0 and the current fallen (ack_by_current, as a
 * legacy hub has no acknowledgement) end the session `done`: one session row, ESP_now_data rows for the items, the
 * session state file saved.  V2 link: the hub's first v2 frame switches the port; own Items go out as V2X_ITEM
 * frames with ready_to_charge in them, the stop request as the hub firmware's command (HUB_CMD_STOP_CHARGING), and
 * the hub's ACK ends the session with an acknowledged stop.  Field values come from the facts layout (legacy-system.md link 2) and the scripted state.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/rcu_state.h"
#include "rt/ring.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "stages/hub_io/hub_io.h"
#include "stages/log/log_stage.h"
#include "stages/uplink/rpc.h"
#include "stages/v2g/v2g_stage.h"
#include "tests/support/testutil.h"
#include "vehicle/vstate.h"

#define MAX_LINES 4096

struct collector {
	struct ring *in;
	struct log_line *lines;
	_Atomic size_t n;
};

static void *collect(void *arg)
{
	struct collector *c = arg;

	for (;;) {
		struct log_line l;

		if (ring_pop(c->in, &l)) {
			size_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
			if (n < MAX_LINES)
				c->lines[n] = l;
			atomic_store_explicit(&c->n, n + 1, memory_order_release);
			continue;
		}
		if (ring_is_drained(c->in))
			break;
		ring_wait(c->in, 50 * RT_NS_PER_MS);
	}
	return NULL;
}

struct world {
	char dir[200], link[240];
	struct test_pty p;
	struct rcu_pub pub;
	struct ring to_v2g, to_hub, to_log;
	struct rt_waiter w_hub, w_v2g, w_col;
	struct rt_stop stop;
	struct hub_io *hub;
	struct v2g_stage *v2g;
	struct collector col;
	struct rt_thread t_hub, t_v2g, t_col;
	/* what the hub received */
	uint8_t rx[1 << 16];
	size_t rx_len;
	double soc, current, req;
	int plug, charging;
};

static void publish(struct world *w)
{
	struct vstate *vs = rcu_pub_begin(&w->pub);
	int64_t now = rt_real_ns();

	assert_non_null(vs);
	memset(vs, 0, sizeof(*vs));
#define SET(sig, v)                                                                                                \
	do {                                                                                                       \
		vs->value[sig] = (v);                                                                              \
		vs->t_real_ns[sig] = now;                                                                          \
	} while (0)
	SET(SIG_SOC, w->soc);
	SET(SIG_CURRENT, w->current);
	SET(SIG_PACK_VOLTAGE, 57.0);
	SET(SIG_CHARGE_POWER_REQ, w->req);
	SET(SIG_PLUG, w->plug);
	SET(SIG_CHARGING, w->charging);
	SET(SIG_BUS_ONLINE, 1);
	SET(SIG_GEAR, 0);
	SET(SIG_ENERGY_AVAIL, 2.5);
#undef SET
	vs->gps.lat_deg = 48.0;
	vs->gps.lon_deg = 11.0;
	vs->gps.alt_m = 500;
	vs->gps.valid = 1;
	vs->gps.have = GPS_HAVE_POS | GPS_HAVE_ALT;
	vs->gps_real_ns = now;
	vs->updated_real_ns = now;
	rcu_pub_commit(&w->pub, vs);
}

static void setup_world(struct world *w, const char *tag, int ack_by_current)
{
	struct hub_io_conf hc;
	struct v2g_stage_conf vc;
	struct rt_thread_conf tc;

	memset(w, 0, sizeof(*w));
	assert_int_equal(test_mkdtemp(w->dir, sizeof(w->dir), tag), 0);
	snprintf(w->link, sizeof(w->link), "%s/ttyHUB", w->dir);
	rcu_register_thread();
	assert_int_equal(rcu_pub_init(&w->pub, sizeof(struct vstate), 16), 0);
	rt_stop_init(&w->stop);
	assert_int_equal(rt_waiter_init(&w->w_hub, RT_WAIT_EVENTFD, 0), 0);
	assert_int_equal(rt_waiter_init(&w->w_v2g, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(rt_waiter_init(&w->w_col, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(&w->to_v2g, "hub>v2g", sizeof(struct hub_rx_rec), 256, &w->w_v2g), 0);
	assert_int_equal(ring_init(&w->to_hub, "v2g>hub", sizeof(struct hub_tx_rec), 256, &w->w_hub), 0);
	assert_int_equal(ring_init(&w->to_log, "v2g>log", sizeof(struct log_line), 1024, &w->w_col), 0);
	w->hub = test_zalloc_aligned(sizeof(*w->hub));
	w->v2g = test_zalloc_aligned(sizeof(*w->v2g));
	w->col.in = &w->to_log;
	w->col.lines = calloc(MAX_LINES, sizeof(struct log_line));

	hub_io_conf_init(&hc);
	snprintf(hc.dev_path, sizeof(hc.dev_path), "%s", w->link);
	hc.reopen_ns = 50 * RT_NS_PER_MS;
	assert_int_equal(hub_io_init(w->hub, &hc, &w->to_v2g, &w->to_hub, &w->w_hub, &w->stop), 0);
	v2g_stage_conf_init(&vc);
	snprintf(vc.state_dir, sizeof(vc.state_dir), "%s/state", w->dir);
	vc.item_period_ns = 150 * RT_NS_PER_MS;
	vc.tick_ns = 20 * RT_NS_PER_MS;
	vc.msg_period_ns = 300 * RT_NS_PER_MS;
	vc.stop_retry_ns = 300 * RT_NS_PER_MS;
	vc.off_hold_ns = 0;
	vc.sample_gap_max_ns = 5 * RT_NS_PER_SEC;
	vc.ack_by_current = ack_by_current;
	assert_int_equal(v2g_stage_init(w->v2g, &vc, &w->to_v2g, &w->to_hub, &w->to_log, &w->w_v2g, &w->pub), 0);
	assert_int_equal(w->v2g->restored, 0);

	w->soc = 40;
	w->req = 7;
	publish(w);
	assert_int_equal(test_pty_open(&w->p, w->link), 0);
	rt_thread_conf_init(&tc, "t-collect");
	assert_int_equal(rt_thread_start(&w->t_col, &tc, collect, &w->col), 0);
	rt_thread_conf_init(&tc, "t-v2g");
	assert_int_equal(rt_thread_start(&w->t_v2g, &tc, v2g_stage_thread, w->v2g), 0);
	rt_thread_conf_init(&tc, "t-hub");
	assert_int_equal(rt_thread_start(&w->t_hub, &tc, hub_io_thread, w->hub), 0);
}

static void teardown_world(struct world *w)
{
	rt_stop_request(&w->stop);
	rt_waiter_kick(&w->w_hub);
	rt_thread_join(&w->t_hub);
	rt_thread_join(&w->t_v2g);
	rt_thread_join(&w->t_col);
	test_pty_close(&w->p);
	hub_io_fini(w->hub);
	v2g_stage_fini(w->v2g);
	rcu_pub_fini(&w->pub);
	rcu_unregister_thread();
	rt_waiter_fini(&w->w_hub);
	rt_waiter_fini(&w->w_v2g);
	rt_waiter_fini(&w->w_col);
	ring_fini(&w->to_v2g);
	ring_fini(&w->to_hub);
	ring_fini(&w->to_log);
	free(w->hub);
	free(w->v2g);
	free(w->col.lines);
	test_rmtree(w->dir);
}

/* Reads what the stage wrote to the hub for up to ms. */
static void hub_read(struct world *w, int ms)
{
	int64_t end = test_now_ms() + ms;

	while (test_now_ms() < end && w->rx_len < sizeof(w->rx)) {
		struct pollfd pf = { .fd = w->p.master, .events = POLLIN };

		if (poll(&pf, 1, 20) <= 0)
			continue;
		ssize_t n = read(w->p.master, w->rx + w->rx_len, sizeof(w->rx) - w->rx_len);
		if (n > 0)
			w->rx_len += (size_t)n;
	}
}

/* Legacy frames in what the hub received, from byte `from`: AA 55 then 88 bytes (items found into out). */
static int legacy_items(const struct world *w, size_t from, struct hub_item *out, int max)
{
	int n = 0;

	for (size_t i = from; i + 90 <= w->rx_len && n < max;) {
		if (w->rx[i] == 0xAA && w->rx[i + 1] == 0x55) {
			hub_item_unpack(w->rx + i + 2, &out[n++]);
			i += 90;
		} else {
			i++;
		}
	}
	return n;
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void lef(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	le32(p, u);
}

/* A station Item at the facts offsets: 2.2 m north of the car, price 1.5, session sid, energy kwh, uptime. */
static void station_body(uint8_t b[88], uint32_t sid, float kwh, uint32_t uptime)
{
	memset(b, 0, 88);
	b[0] = 0xFF;
	b[1] = 0xFF;
	lef(b + 4, 230.0f);
	lef(b + 8, 16.0f);
	lef(b + 12, kwh);
	lef(b + 36, 48.00002f);
	lef(b + 40, 11.0f);
	b[48] = 1;
	b[57] = 0x30;
	b[58] = 0xAE;
	b[59] = 0xA4;
	b[62] = 0x01;
	le32(b + 64, uptime);
	lef(b + 68, kwh * 1.5f);
	lef(b + 72, 1.5f);
	lef(b + 76, 3000.0f);
	le32(b + 80, sid);
	b[84] = 1;
}

static void send_station_legacy(struct world *w, uint32_t sid, float kwh, uint32_t uptime)
{
	uint8_t f[90];

	f[0] = 0xAA;
	f[1] = 0x55;
	station_body(f + 2, sid, kwh, uptime);
	assert_int_equal(test_pty_write_all(&w->p, f, 90), 0);
}

static size_t count_lines(struct world *w, unsigned sink, const char *needle)
{
	size_t n = atomic_load_explicit(&w->col.n, memory_order_acquire), k = 0;

	for (size_t i = 0; i < n && i < MAX_LINES; i++)
		if (w->col.lines[i].sink == sink &&
		    (!needle || memmem(w->col.lines[i].text, w->col.lines[i].len, needle, strlen(needle))))
			k++;
	return k;
}

static enum v2g_state view_state(struct world *w)
{
	struct v2g_view *v = malloc(sizeof(*v));
	enum v2g_state s;

	v2g_stage_view(w->v2g, v);
	s = v->state;
	free(v);
	return s;
}

/* Keeps the station talking (every 100 ms, uptime advancing) until the view shows state, or fails after ms. */
static void drive_until(struct world *w, enum v2g_state want, uint32_t sid, float *kwh, uint32_t *uptime, int ms)
{
	int64_t end = test_now_ms() + ms;

	while (view_state(w) != want) {
		if (test_now_ms() > end)
			fail_msg("state %s, want %s", v2g_state_name(view_state(w)), v2g_state_name(want));
		*uptime += 100;
		if (w->charging)
			*kwh += 0.001f;
		send_station_legacy(w, sid, *kwh, *uptime);
		publish(w);
		hub_read(w, 100);
	}
}

static void test_legacy_link_session(void **state)
{
	struct world *w = test_zalloc_aligned(sizeof(*w));
	struct hub_item items[64];
	uint32_t uptime = 100000;
	float kwh = 0;
	int n;

	setup_world(w, "v2gleg", 1);
	/* own Items on the timer, from the published state */
	hub_read(w, 600);
	n = legacy_items(w, 0, items, 64);
	assert_true(n >= 2);
	assert_int_equal(items[0].soc, 40);
	assert_string_equal(items[0].gear, "Neu");
	assert_true(items[0].gps_latitude == 48.0f);
	assert_true(items[0].battery_voltage == 57.0f);
	assert_int_equal(items[0].ready_to_charge, 0);
	assert_true(items[0].desired_soc == 100.0f);

	/* a stream with garbage: boot text, AA AA 55 + a frame, a NaN station, a truncated frame, a good frame */
	uint8_t g[600], f[90];
	size_t gl = 0;
	memcpy(g, "rst:0x1 (POWERON_RESET)\r\n", 25);
	gl = 25;
	g[gl++] = 0xAA;
	f[0] = 0xAA;
	f[1] = 0x55;
	station_body(f + 2, 0, 0, uptime += 100);
	memcpy(g + gl, f, 90);
	gl += 90;
	station_body(f + 2, 0, 0, uptime += 100);
	lef(f + 2 + 4, NAN);
	memcpy(g + gl, f, 90);
	gl += 90;
	station_body(f + 2, 0, 0, uptime += 100);
	memcpy(g + gl, f, 40); /* cut short */
	gl += 40;
	station_body(f + 2, 0, 0, uptime += 100);
	lef(f + 2 + 4, 230.0f);
	memcpy(g + gl, f, 90);
	gl += 90;
	assert_int_equal(test_pty_write_all(&w->p, g, gl), 0);
	hub_read(w, 300);
	assert_int_equal(rt_counter_get(&w->hub->ctr.dropped[HUB_REJ_NON_FINITE]), 1);
	assert_int_equal(rt_counter_get(&w->hub->ctr.dropped[HUB_REJ_TRUNCATED]), 1);
	assert_int_equal(rt_counter_get(&w->hub->ctr.dropped[HUB_REJ_GARBAGE]), 1); /* the lone AA */
	assert_int_equal(rt_counter_get(&w->hub->ignored), 1);                       /* the boot line */
	assert_int_equal(rt_counter_get(&w->hub->ctr.in), 2);
	/* the same station message again (same uptime): a row, but not applied (regression: the stage indexed the
	 * station table with the index of a message not applied) */
	assert_int_equal(test_pty_write_all(&w->p, f, 90), 0);
	int64_t dl = test_now_ms() + 3000;
	while (rt_counter_get(&w->v2g->ctr.dropped[V2G_DROP_DUPLICATE]) == 0 && test_now_ms() < dl)
		test_sleep_ms(5);
	assert_int_equal(rt_counter_get(&w->v2g->ctr.dropped[V2G_DROP_DUPLICATE]), 1);

	/* 30 items from another vehicle at once: no answer to a broadcast, only the timer sends (the legacy storm) */
	{
		uint8_t burst[30 * 90];
		uint64_t before = rt_counter_get(&w->v2g->items_out), in0 = rt_counter_get(&w->hub->ctr.in);
		int64_t t0 = test_now_ms();
		for (int i = 0; i < 30; i++) {
			uint8_t *b = burst + i * 90;
			memset(b, 0, 90);
			b[0] = 0xAA;
			b[1] = 0x55;
			b[2] = 70;                     /* soc */
			memcpy(b + 2 + 28, "Dri", 4);
			b[2 + 57] = 0x24;              /* mac 24:..:09 */
			b[2 + 62] = 0x09;
			le32(b + 2 + 64, (uint32_t)i); /* timestamp */
		}
		assert_int_equal(test_pty_write_all(&w->p, burst, sizeof(burst)), 0);
		int64_t end = test_now_ms() + 3000;
		while (rt_counter_get(&w->hub->ctr.in) < in0 + 30 && test_now_ms() < end)
			test_sleep_ms(5);
		assert_int_equal(rt_counter_get(&w->hub->ctr.in), in0 + 30);
		uint64_t sent = rt_counter_get(&w->v2g->items_out) - before;
		int64_t elapsed = test_now_ms() - t0;
		/* at most one Item per 150 ms period elapsed (plus the one due at the start), whatever arrived */
		assert_true(sent <= (uint64_t)(elapsed / 150) + 2);
	}

	/* plugged: the station 2.2 m away is matched; the own Item now says ready to charge */
	w->plug = 1;
	size_t mark = w->rx_len;
	drive_until(w, V2G_ST_NEGOTIATING, 0, &kwh, &uptime, 5000);
	hub_read(w, 400);
	n = legacy_items(w, mark, items, 64);
	assert_true(n >= 1);
	assert_int_equal(items[n - 1].ready_to_charge, 1);
	assert_true(rt_counter_get(&w->hub->v2g_in_item) >= 1); /* V2G messages ride in the Item: no frame */

	/* the station opens session 5 and delivers */
	w->charging = 1;
	w->current = 10;
	drive_until(w, V2G_ST_CHARGING, 5, &kwh, &uptime, 5000);
	for (int i = 0; i < 5; i++) {
		uptime += 100;
		kwh += 0.001f;
		send_station_legacy(w, 5, kwh, uptime);
		publish(w);
		hub_read(w, 100);
	}
	/* the BMS asks for nothing more; the current falls */
	w->req = 0;
	w->charging = 0;
	w->current = 0;
	w->soc = 80;
	drive_until(w, V2G_ST_ENDED, 5, &kwh, &uptime, 5000);

	int64_t end = test_now_ms() + 3000;
	while (count_lines(w, 1, NULL) < 1 && test_now_ms() < end)
		test_sleep_ms(20);
	assert_int_equal(count_lines(w, 1, ",done,"), 1);
	/* the stop could not be a command on a legacy link: counted; the Item said ready_to_charge = 0 */
	assert_true(rt_counter_get(&w->hub->ctr.dropped[HUB_REJ__COUNT + HUB_IO_DROP_STOP_LEGACY]) >= 1);
	assert_int_equal(count_lines(w, 1, ",5,30:AE:A4:00:00:01,"), 1);
	assert_true(count_lines(w, 0, ",EVCS,") >= 10);
	/* the session's figures: station energy = the last counter (the first was 0 at the match), cost x 1.5 */
	struct v2g_view *v = malloc(sizeof(*v));
	v2g_stage_view(w->v2g, v);
	assert_int_equal(v->n_recent, 1);
	assert_true(fabs(v->recent[0].energy_station_kwh - (double)kwh) < 1e-6);
	assert_true(fabs(v->recent[0].cost - (double)kwh * 1.5) < 1e-6);
	assert_true(v->recent[0].max_current_a == 10.0);
	assert_true(v->recent[0].energy_batt_kwh > 0);
	free(v);
	/* the control commands' answers */
	{
		cJSON *res = cJSON_CreateObject(), *args;
		char err[128] = "";

		assert_int_equal(v2g_cmd_sessions(w->v2g, NULL, res, err, sizeof(err)), 0);
		cJSON *recent = cJSON_GetObjectItem(res, "recent");
		assert_int_equal(cJSON_GetArraySize(recent), 1);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(recent, 0), "end_reason")->valuestring, "done");
		assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(recent, 0), "session_id")->valueint, 5);
		assert_string_equal(cJSON_GetObjectItem(res, "state")->valuestring, "ended");
		cJSON_Delete(res);
		res = cJSON_CreateObject();
		assert_int_equal(v2g_cmd_stations(w->v2g, NULL, res, err, sizeof(err)), 0);
		cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "stations"), 0);
		assert_non_null(st);
		assert_string_equal(cJSON_GetObjectItem(st, "mac")->valuestring, "30:AE:A4:00:00:01");
		assert_true(cJSON_GetObjectItem(st, "price_per_kwh")->valuedouble == 1.5);
		assert_true(fabs(cJSON_GetObjectItem(st, "distance_m")->valuedouble - 2.2) < 0.1);
		cJSON_Delete(res);
		res = cJSON_CreateObject();
		assert_int_equal(v2g_cmd_neighbours(w->v2g, NULL, res, err, sizeof(err)), 0);
		cJSON *nb = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "neighbours"), 0);
		assert_non_null(nb);
		assert_string_equal(cJSON_GetObjectItem(nb, "mac")->valuestring, "24:00:00:00:00:09");
		assert_int_equal(cJSON_GetObjectItem(nb, "soc")->valueint, 70);
		assert_int_equal(cJSON_GetObjectItem(nb, "items")->valueint, 30);
		cJSON_Delete(res);
		/* set-desired-soc: refused out of range, applied in range */
		res = cJSON_CreateObject();
		args = cJSON_Parse("{\"soc\": 0}");
		assert_int_equal(v2g_cmd_set_desired_soc(w->v2g, args, res, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "soc"));
		cJSON_Delete(args);
		args = cJSON_Parse("{\"soc\": 80}");
		assert_int_equal(v2g_cmd_set_desired_soc(w->v2g, args, res, err, sizeof(err)), 0);
		cJSON_Delete(args);
		cJSON_Delete(res);
		res = cJSON_CreateObject();
		args = cJSON_Parse("{\"cost\": 2.5}");
		assert_int_equal(v2g_cmd_set_max_cost(w->v2g, args, res, err, sizeof(err)), 0);
		cJSON_Delete(args);
		cJSON_Delete(res);
		struct v2g_view *vw = malloc(sizeof(*vw));
		int64_t until = test_now_ms() + 3000;
		do {
			test_sleep_ms(20);
			v2g_stage_view(w->v2g, vw);
		} while ((vw->desired_soc != 80.0 || vw->max_cost != 2.5) && test_now_ms() < until);
		assert_true(vw->desired_soc == 80.0);
		assert_true(vw->max_cost == 2.5);
		free(vw);
	}
	char path[400];
	snprintf(path, sizeof(path), "%s/state/%s", w->dir, V2G_STATE_FILE);
	size_t len;
	char *blob = test_read_file(path, &len);
	assert_non_null(blob);
	assert_non_null(strstr(blob, "state ended"));
	free(blob);
	teardown_world(w);
	free(w);
}

static void test_v2_link_ack(void **state)
{
	struct world *w = test_zalloc_aligned(sizeof(*w));
	uint8_t body[88], frame[V2X_WIRE_MAX];
	uint32_t seq = 1, uptime = 100000;
	int n;

	setup_world(w, "v2gv2", 0);
	/* the hub speaks v2: its station items switch the port (detection may lose a frame holding 0x0A or AA 55) */
	int64_t end = test_now_ms() + 3000;
	while (atomic_load_explicit(&w->hub->ctr.in, memory_order_relaxed) == 0 && test_now_ms() < end) {
		station_body(body, 0, 0, uptime += 100);
		n = v2x_frame_encode(V2X_T_V2X_ITEM, seq++, 1000, body, 88, frame, sizeof(frame));
		assert_true(n > 0);
		assert_int_equal(test_pty_write_all(&w->p, frame, (size_t)n), 0);
		hub_read(w, 50);
	}
	assert_true(rt_counter_get(&w->hub->ctr.in) > 0);
	w->rx_len = 0;
	w->plug = 1;
	w->charging = 1;
	w->current = 8;
	publish(w);

	/* collect frames from the stage: own Items as V2X_ITEM (ready_to_charge for the hub's V2G messages), the stop as
	 * the CMD HUB_CMD_STOP_CHARGING, answered with an ACK as the hub firmware does */
	int items = 0, v2g_ready = 0, acked = 0;
	end = test_now_ms() + 8000;
	size_t done = 0;
	int stop_sent = 0;
	while (test_now_ms() < end && view_state(w) != V2G_ST_ENDED) {
		station_body(body, 9, 0.002f * (float)items, uptime += 100);
		n = v2x_frame_encode(V2X_T_V2X_ITEM, seq, 1000 * seq, body, 88, frame, sizeof(frame));
		seq++;
		assert_int_equal(test_pty_write_all(&w->p, frame, (size_t)n), 0);
		publish(w);
		hub_read(w, 100);
		/* cut the stage's frames at 0x00 */
		for (size_t i = done; i < w->rx_len; i++) {
			if (w->rx[i] != 0)
				continue;
			struct v2x_frame fr;
			if (v2x_frame_decode(w->rx + done, i - done, &fr) == 0) {
				if (fr.type == V2X_T_V2X_ITEM) {
					struct hub_item own;
					hub_item_unpack(fr.payload, &own);
					items++;
					v2g_ready += own.ready_to_charge; /* the hub builds its V2G messages from this */
				}
				if (fr.type == V2X_T_CMD) {
					assert_true(hub_is_stop_cmd(fr.payload, fr.len));
					if (!acked) {
						uint8_t ack[6];
						le32(ack, fr.seq);
						ack[4] = V2X_T_CMD;
						ack[5] = HUB_STOP_STOPPED;
						n = v2x_frame_encode(V2X_T_ACK, seq++, 0, ack, 6, frame, sizeof(frame));
						assert_int_equal(test_pty_write_all(&w->p, frame, (size_t)n), 0);
						acked = 1;
						w->charging = 0;
						w->current = 0;
					}
				}
			}
			done = i + 1;
		}
		if (view_state(w) == V2G_ST_CHARGING && !stop_sent) {
			cJSON *res = cJSON_CreateObject();
			assert_int_equal(v2g_cmd_stop_charging(w->v2g, NULL, res, NULL, 0), 0);
			cJSON_Delete(res);
			stop_sent = 1;
		}
	}
	assert_int_equal(view_state(w), V2G_ST_ENDED);
	assert_true(items >= 2);
	assert_true(v2g_ready >= 1);
	assert_int_equal(acked, 1);
	end = test_now_ms() + 3000;
	while (count_lines(w, 1, NULL) < 1 && test_now_ms() < end)
		test_sleep_ms(20);
	assert_int_equal(count_lines(w, 1, ",stopped_by_user,"), 1);
	teardown_world(w);
	free(w);
}

/*
 * At the stop hub_io closes its ring before the uplink closes the command ring (the uplink stops later).  In between,
 * the stage must sleep until the command ring ends, not loop: its waiter has to go to sleep again after hub_io's
 * close (a spinning loop never does), and the thread must end once the command ring is closed too.
 */
static void test_no_spin_between_closes(void **state)
{
	(void)state;
	struct rt_waiter w;
	struct ring from_hub, cmds;
	struct rcu_pub pub;
	struct v2g_stage_conf vc;
	struct rt_thread_conf tc;
	struct rt_thread t;
	char dir[256];

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "v2g-nospin"), 0);
	rcu_register_thread();
	assert_int_equal(rcu_pub_init(&pub, sizeof(struct vstate), 4), 0);
	assert_int_equal(rt_waiter_init(&w, RT_WAIT_SLEEP, 0), 0);
	assert_int_equal(ring_init(&from_hub, "hub>v2g", sizeof(struct hub_rx_rec), 16, &w), 0);
	assert_int_equal(ring_init(&cmds, "uplink>v2g", sizeof(struct rpc_cmd), 16, &w), 0);
	struct v2g_stage *s = test_zalloc_aligned(sizeof(*s));
	v2g_stage_conf_init(&vc);
	snprintf(vc.state_dir, sizeof(vc.state_dir), "%s/state", dir);
	vc.tick_ns = 3600 * RT_NS_PER_SEC; /* no tick wakes it during the test: only the rings do */
	assert_int_equal(v2g_stage_init(s, &vc, &from_hub, NULL, NULL, &w, &pub), 0);
	s->cmd_in = &cmds;
	rt_thread_conf_init(&tc, "t-v2g");
	assert_int_equal(rt_thread_start(&t, &tc, v2g_stage_thread, s), 0);

	/* asleep once before the close, so the loop has run at least once */
	for (int i = 0; i < 1000 && atomic_load(&w.sleeps) == 0; i++)
		test_sleep_ms(10);
	assert_true(atomic_load(&w.sleeps) > 0);
	uint64_t before = atomic_load(&w.sleeps);
	ring_close(&from_hub);
	for (int i = 0; i < 1000 && atomic_load(&w.sleeps) == before; i++)
		test_sleep_ms(10);
	assert_true(atomic_load(&w.sleeps) > before); /* asleep again, with hub_io's ring closed and drained */
	ring_close(&cmds);
	rt_thread_join(&t); /* ends once both are drained */

	v2g_stage_fini(s);
	free(s);
	ring_fini(&from_hub);
	ring_fini(&cmds);
	rt_waiter_fini(&w);
	rcu_pub_fini(&pub);
	rcu_unregister_thread();
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_link_session),
		cmocka_unit_test(test_v2_link_ack),
		cmocka_unit_test(test_no_spin_between_closes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

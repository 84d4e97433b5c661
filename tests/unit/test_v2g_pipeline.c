/*
 * test_v2g_pipeline.c - the vehicle pipeline with the hub link, assembled by rt/pipeline as v2xd would list it:
 *
 *   ESP32(1) pty -> can_rx -> decode (publishes "vstate") -> v2g -> log (ESP_now_data, v2g_sessions)
 *                        \-> log                 hub_io <-> v2g; hub_io <-> ESP32(2) pty
 *
 * The test writes legacy SIM lines (values worked out from ../shared/facts/twizy-can.md, arithmetic below) and a GPS
 * line to the CAN pty, and plays the hub with a station 2.2 m north of the car (legacy AA 55 frames).  CAN drives
 * plug and charging; the session is matched, charges at 10 A and ends `done` when the power request drops to 0 and
 * the current falls (ack_by_current: a legacy hub has no acknowledgement).  Checked in the output directory: both
 * files with their exact headers, EVCS rows with the link sequence number, one session row; and the own Items the
 * stage sent to the hub carry the decoded SOC (40 %).
 *
 * Frames used (facts: 0x155 B0 power request; current = ((B1 & 0x0F) << 8 | B2) - 2000) / 4; B3 0x54 valid;
 * soc = (B4 << 8 | B5) / 400; 0x597 B0 & 0x20 plug, (B1 & 0x60) == 0x20 charging; 0x55F pack voltage
 * mean(B5 << 4 | B6 >> 4, (B6 & 0x0F) << 8 | B7) / 10):
 *   155 07 07 F8 54 3E 80: power request 7, raw 0x7F8 = 2040 -> 10 A, soc 0x3E80 = 16000 -> 40 %
 *   155 00 07 D0 54 3E 80: power request 0, raw 0x7D0 = 2000 -> 0 A
 *   597 20 20 ..: plugged, charging;  597 20 00: plugged, not charging;  597 00 00: unplugged
 *   55F .. 23 A2 3A: v1 = 0x23A = 570, v2 = 0x23A = 570 -> 57.0 V
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt/clock.h"
#include "rt/pipeline.h"
#include "stages/can_rx/can_rx.h"
#include "stages/decode/decode_stage.h"
#include "stages/hub_io/hub_io.h"
#include "stages/log/log_stage.h"
#include "stages/v2g/v2g_rows.h"
#include "stages/v2g/v2g_stage.h"
#include "tests/support/testutil.h"
#include "vehicle/record.h"

static const struct rt_stage_desc *const stages[] = { &can_rx_stage, &decode_stage, &hub_io_stage, &v2g_stage,
						      &log_stage };
static const struct rt_ring_desc rings[] = {
	{ .from = "can_rx", .to = "decode", .rec_size = sizeof(struct rx_record) },
	{ .from = "can_rx", .to = "log", .rec_size = sizeof(struct rx_record) },
	{ .from = "hub_io", .to = "v2g", .rec_size = sizeof(struct hub_rx_rec), .capacity = 256 },
	{ .from = "v2g", .to = "hub_io", .rec_size = sizeof(struct hub_tx_rec), .capacity = 256 },
	{ .from = "v2g", .to = "log", .rec_size = sizeof(struct log_line), .capacity = 1024 },
};

static void *conf_of(struct rt_pipeline *p, const char *name)
{
	int i = rt_pipeline_find(p, name);

	assert_true(i >= 0);
	return rt_pipeline_conf(p, i);
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

static void station_frame(uint8_t f[90], uint32_t sid, float kwh, uint32_t uptime)
{
	uint8_t *b = f + 2;

	memset(f, 0, 90);
	f[0] = 0xAA;
	f[1] = 0x55;
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

struct car {
	int plug, charging, req;
};

/* One 100 ms beat: the car's frames on CAN, the station on the hub link, and what the stage sent to the hub. */
static void beat(struct test_pty *can, struct test_pty *hub, const struct car *c, uint32_t *uptime, uint32_t sid,
		 float kwh, uint8_t *rx, size_t *rx_len, size_t rx_cap)
{
	char l[512];
	uint8_t f[90];
	int n;

	n = snprintf(l, sizeof(l),
		     "GPS 48.000000 11.000000 500.0 0.0 9 0.90 2025-8-18 13:5:0 1\r\n"
		     "SIM 155 8 %02X 07 %s 54 3E 80 00 00\r\n"
		     "SIM 597 8 %02X %02X 00 00 00 00 00 00\r\n"
		     "SIM 55F 8 00 00 00 00 00 23 A2 3A\r\n",
		     c->req, c->charging ? "F8" : "D0", c->plug ? 0x20 : 0x00, c->charging ? 0x20 : 0x00);
	assert_int_equal(test_pty_write_all(can, l, (size_t)n), 0);
	*uptime += 100;
	station_frame(f, sid, kwh, *uptime);
	assert_int_equal(test_pty_write_all(hub, f, 90), 0);
	int64_t end = test_now_ms() + 100;
	while (test_now_ms() < end) {
		struct pollfd pf = { .fd = hub->master, .events = POLLIN };

		if (poll(&pf, 1, 10) > 0 && *rx_len < rx_cap) {
			ssize_t k = read(hub->master, rx + *rx_len, rx_cap - *rx_len);
			if (k > 0)
				*rx_len += (size_t)k;
		}
	}
}

static enum v2g_state state_of(struct v2g_stage *s)
{
	struct v2g_view *v = malloc(sizeof(*v));
	enum v2g_state st;

	v2g_stage_view(s, v);
	st = v->state;
	free(v);
	return st;
}

/* The first file in dir whose name starts with prefix, read whole. */
static char *read_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[600];
	char *text = NULL;
	size_t len;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			text = test_read_file(path, &len);
			break;
		}
	closedir(d);
	return text;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_pipeline_session(void **state)
{
	char dir[200], can_link[240], hub_link[240], out[240], st[240];
	struct test_pty can, hub;
	struct rt_pipeline *p;
	struct rt_pipeline_conf pc;
	static uint8_t rx[1 << 16];
	size_t rx_len = 0;
	uint32_t uptime = 50000;
	struct car c = { 0, 0, 7 };

	assert_int_equal(test_mkdtemp(dir, sizeof(dir), "v2gpipe"), 0);
	snprintf(can_link, sizeof(can_link), "%s/ttyCAN", dir);
	snprintf(hub_link, sizeof(hub_link), "%s/ttyHUB", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(st, sizeof(st), "%s/state", dir);
	assert_int_equal(test_pty_open(&can, can_link), 0);
	assert_int_equal(test_pty_open(&hub, hub_link), 0);

	assert_int_equal(rt_pipeline_create(&p, stages, 5, rings, 5), 0);
	struct can_rx_conf *rxc = conf_of(p, "can_rx");
	snprintf(rxc->dev_path, sizeof(rxc->dev_path), "%s", can_link);
	struct hub_io_conf *hc = conf_of(p, "hub_io");
	snprintf(hc->dev_path, sizeof(hc->dev_path), "%s", hub_link);
	struct log_stage_conf *lc = conf_of(p, "log");
	snprintf(lc->out_dir, sizeof(lc->out_dir), "%s", out);
	struct v2g_stage_conf *vc = conf_of(p, "v2g");
	snprintf(vc->state_dir, sizeof(vc->state_dir), "%s", st);
	vc->item_period_ns = 200 * RT_NS_PER_MS;
	vc->tick_ns = 20 * RT_NS_PER_MS;
	vc->off_hold_ns = 0;
	vc->ack_by_current = true;
	rt_pipeline_conf_init(&pc);
	pc.ring_records = 4096;
	assert_int_equal(rt_pipeline_init(p, &pc, NULL), 0);
	assert_int_equal(rt_pipeline_start(p), 0);
	struct v2g_stage *v2g = rt_pipeline_stage(p, rt_pipeline_find(p, "v2g"));

	/* parked next to the station, not plugged */
	for (int i = 0; i < 5; i++)
		beat(&can, &hub, &c, &uptime, 0, 0, rx, &rx_len, sizeof(rx));
	/* plugged: matched */
	c.plug = 1;
	for (int i = 0; i < 50 && state_of(v2g) != V2G_ST_NEGOTIATING; i++)
		beat(&can, &hub, &c, &uptime, 0, 0, rx, &rx_len, sizeof(rx));
	assert_int_equal(state_of(v2g), V2G_ST_NEGOTIATING);
	/* the station opens session 7; the car charges at 10 A */
	c.charging = 1;
	float kwh = 0;
	for (int i = 0; i < 50 && state_of(v2g) != V2G_ST_CHARGING; i++)
		beat(&can, &hub, &c, &uptime, 7, kwh, rx, &rx_len, sizeof(rx));
	assert_int_equal(state_of(v2g), V2G_ST_CHARGING);
	for (int i = 0; i < 10; i++) {
		kwh += 0.002f;
		beat(&can, &hub, &c, &uptime, 7, kwh, rx, &rx_len, sizeof(rx));
	}
	/* done: no power requested, the current falls */
	c.req = 0;
	c.charging = 0;
	for (int i = 0; i < 50 && state_of(v2g) != V2G_ST_ENDED; i++)
		beat(&can, &hub, &c, &uptime, 7, kwh, rx, &rx_len, sizeof(rx));
	assert_int_equal(state_of(v2g), V2G_ST_ENDED);
	rt_pipeline_stop(p);
	rt_pipeline_destroy(p);

	/* files */
	char *esp = read_prefixed(out, "ESP_now_data_");
	char *ses = read_prefixed(out, "v2g_sessions_");
	assert_non_null(esp);
	assert_non_null(ses);
	assert_int_equal(strncmp(esp, V2G_ESPNOW_HEADER, strlen(V2G_ESPNOW_HEADER)), 0);
	assert_int_equal(strncmp(ses, V2G_SESSIONS_HEADER, strlen(V2G_SESSIONS_HEADER)), 0);
	assert_true(count(esp, "30:AE:A4:00:00:01,65535,230,16,") >= 20);
	assert_true(count(esp, ",EVCS,") >= 20);
	assert_int_equal(count(ses, "\n"), 2); /* header + one session */
	assert_int_equal(count(ses, ",done,"), 1);
	assert_int_equal(count(ses, ",40.00,40.00,0.00,"), 1); /* SOC at start and end: 40 % (0x3E80 / 400) */
	assert_int_equal(count(ses, ",10.00,7,30:AE:A4:00:00:01,"), 1); /* max current 10 A, the station's session */
	free(esp);
	free(ses);
	/* the own Items the hub received carry the decoded SOC and the GPS fix (once decode published them: an Item
	 * sent before the first frames has zeros) */
	size_t items = 0, decoded = 0;
	struct hub_item it;
	for (size_t i = 0; i + 90 <= rx_len; i++)
		if (rx[i] == 0xAA && rx[i + 1] == 0x55) {
			hub_item_unpack(rx + i + 2, &it);
			items++;
			if (it.soc != 0) {
				assert_int_equal(it.soc, 40);
				assert_true(it.gps_latitude == 48.0f);
				decoded++;
			}
			i += 89;
		}
	assert_true(decoded >= 5);
	assert_true(items - decoded <= 2);
	test_pty_close(&can);
	test_pty_close(&hub);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

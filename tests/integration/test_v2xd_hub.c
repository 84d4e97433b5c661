/*
 * test_v2xd_hub.c - v2xd with both links on real pseudo-terminals (issue 8 item 9):
 *
 *   test (ESP32(1)) --SIM/GPS lines--> pty --> v2xd can_rx -> decode -> v2g <-> hub_io <--> pty <--> test (ESP32(2)
 *                                                                                            with a station behind it)
 *
 * The test plays both devices in lock step (one 40 ms beat: the car's CAN frames and GPS fix, every second beat the
 * station's Item, now and then other vehicles' Items; then it reads what v2xd sent to the hub), so nothing depends on
 * how fast the machine is: every wait is "beat until v2xd says state X" with a generous bound, and no assertion is
 * about elapsed time.  Expected values come from the specifications, never from v2xd's output:
 *   - CAN bytes from ../shared/facts/twizy-can.md (0x155 B0 charge_power_req; current raw = (B1 & 0x0F) << 8 | B2,
 *     current = (raw - 2000) / 4, so raw = 2000 + 4 A; B3 0x54 valid; soc = (B4 << 8 | B5) / 400; 0x597 B0 & 0x20
 *     plug, (B1 & 0x60) == 0x20 charging; 0x55F pack voltage mean(B5 << 4 | B6 >> 4, (B6 & 0x0F) << 8 | B7) / 10;
 *     0x425 B0 bms_state, B1 energy_avail / 10 kWh; 0x59B B0 0x00 gear neutral).  Worked: 12.5 A -> raw 2050 = 0x802
 *     -> B1 08 B2 02; 41.75 % -> 16700 = 0x413C; 55.2 V -> 552 = 0x228 -> B5 22 B6 82 B7 28; 3.4 kWh -> B1 0x22.
 *   - The GPS line format, the Item layout (offsets), the station marker (soc 0xFFFF), the ESP_now_data header and
 *     its YES/NO booleans and EVCS/V2V DataType from ../shared/facts/legacy-system.md (links 1 and 2, files).
 *   - The v2 frames (COBS, CRC, types, the ACK payload) from firmware/include/v2x_proto.h; the stop command byte
 *     (HUB_CMD_STOP_CHARGING = 1) and its acknowledgement results from firmware/apps/v2x_hub/hub.h.
 *   - The appended columns and the session row's columns from issue 8 item 6; states and end reasons from item 4.
 *
 * Tests:
 *   1. test_legacy_hub_session: legacy AA 55 frames.  A reject stream (boot text, garbage, AA AA 55, NaN, a truncated
 *      frame, an unterminated gear, a station with nonsense fields) is counted per reason and the frames after each
 *      bad one are kept; other vehicles' broadcasts are never answered; plug, match, charge (8, 12.5, 10 A), topoff,
 *      power request 0 (the stop reaches a legacy hub only as ready_to_charge = 0), current falls: one `done` row
 *      with the station's energy and cost within 1 %, max current 12.5 A, the decoded SOCs; unplug and drive off.
 *   2. test_v2_hub_stop_by_user: v2 frames.  v2 rejects (garbage, a bad CRC, NaN, a truncated frame); a session at
 *      16 A; `v2xctl stop-charging` -> a V2X_T_CMD stop on the link, the peer acknowledges (V2X_T_ACK stopped) ->
 *      the session ends `stopped_by_user` (row and `sessions`).
 *   3. test_v2_stop_not_acknowledged: the station never answers: exactly 1 + --v2g-stop-retries stop commands, then
 *      `stop_not_acknowledged`.
 *   4. test_legacy_restart_mid_charge: SIGTERM and a new v2xd mid-charge: the session is restored, one row.
 *   5. test_legacy_hub_unplugged_mid_charge: the hub's cable out for 1.2 s: hub_io.link down, Items counted
 *      tx_down, reopened, the session goes on.
 *   6. test_v2_desired_soc_reached: `v2xctl set-desired-soc 62`: the Items carry it; the session ends
 *      `desired_soc` at 62.5 %.
 *   7. test_legacy_station_restarts: the station reboots mid-charge: one row, the original session id, the energy
 *      of both of the station's sessions.
 * Both check every ESP_now_data row against the Item sent (in order, link_seq, distance), and every frame v2xd sent
 * (only Items, and stop commands on v2; the Item's content field by field against the CAN values; the own Item's
 * period from its timestamp, the daemon's monotonic ms at which it was built).
 *
 * Set V2X_KEEP=1 to keep the temporary directory (the daemon's log, its files).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "tests/support/testutil.h"
#include "v2x_proto.h"

/* Paths here are short temporary names; a truncated one would fail the test visibly. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define BEAT_MS 40
#define ITEM_PERIOD_MS 250     /* --v2g-item-period-ms: the own Item's period under test (default 2000) */
#define MAX_OUT 4096
#define MAX_SENT 2048
#define ITEM_LEN 88
#define STATION_SOC 0xFFFFu
#define CMD_STOP_CHARGING 0x01 /* firmware/apps/v2x_hub/hub.h */
#define ACK_STOPPED 0x00
#define EARTH_R_M 6371008.8    /* mean Earth radius (IUGG), as issue 8's haversine distance uses */

/* ---- the Item of link 2, packed and unpacked at the facts file's offsets ---- */

struct titem {
	uint16_t soc;
	float volt, curr, energy;
	uint8_t charging_status;
	float speed, accel;
	char gear[4];
	uint8_t brake;
	float lat, lon, alt;
	uint8_t gps_valid, is_charging;
	float desired_soc;
	uint8_t ready;
	uint8_t mac[6];
	uint32_t ts;
	float cost, cost_per_kwh, max_power;
	uint32_t session_id;
	uint8_t avail;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void putf(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	put32(p, u);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float getf(const uint8_t *p)
{
	uint32_t u = get32(p);
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static void item_pack(const struct titem *t, uint8_t b[ITEM_LEN])
{
	memset(b, 0, ITEM_LEN);
	b[0] = (uint8_t)t->soc;
	b[1] = (uint8_t)(t->soc >> 8);
	putf(b + 4, t->volt);
	putf(b + 8, t->curr);
	putf(b + 12, t->energy);
	b[16] = t->charging_status;
	putf(b + 20, t->speed);
	putf(b + 24, t->accel);
	memcpy(b + 28, t->gear, 4);
	b[32] = t->brake;
	putf(b + 36, t->lat);
	putf(b + 40, t->lon);
	putf(b + 44, t->alt);
	b[48] = t->gps_valid;
	b[49] = t->is_charging;
	putf(b + 52, t->desired_soc);
	b[56] = t->ready;
	memcpy(b + 57, t->mac, 6);
	put32(b + 64, t->ts);
	putf(b + 68, t->cost);
	putf(b + 72, t->cost_per_kwh);
	putf(b + 76, t->max_power);
	put32(b + 80, t->session_id);
	b[84] = t->avail;
}

static void item_unpack(const uint8_t b[ITEM_LEN], struct titem *t)
{
	memset(t, 0, sizeof(*t));
	t->soc = (uint16_t)(b[0] | b[1] << 8);
	t->volt = getf(b + 4);
	t->curr = getf(b + 8);
	t->energy = getf(b + 12);
	t->charging_status = b[16];
	t->speed = getf(b + 20);
	t->accel = getf(b + 24);
	memcpy(t->gear, b + 28, 4);
	t->brake = b[32];
	t->lat = getf(b + 36);
	t->lon = getf(b + 40);
	t->alt = getf(b + 44);
	t->gps_valid = b[48];
	t->is_charging = b[49];
	t->desired_soc = getf(b + 52);
	t->ready = b[56];
	memcpy(t->mac, b + 57, 6);
	t->ts = get32(b + 64);
	t->cost = getf(b + 68);
	t->cost_per_kwh = getf(b + 72);
	t->max_power = getf(b + 76);
	t->session_id = get32(b + 80);
	t->avail = b[84];
}

/* ---- positions ---- */

#define FIX_LAT 48.137154
#define FIX_LON 11.576124
#define FAR_LAT 48.139154 /* 222 m north: beyond the 105 m departure radius */
#define ST_LAT ((float)(FIX_LAT + 0.000025)) /* the station, about 2.8 m north of the car */
#define ST_LON ((float)FIX_LON)

static double haversine_m(double lat1, double lon1, double lat2, double lon2)
{
	double r = M_PI / 180.0, dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
	double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2);

	return 2.0 * EARTH_R_M * atan2(sqrt(a), sqrt(1.0 - a));
}

/* ---- the car: physical values, turned into SIM lines with the facts' scaling ---- */

struct car {
	int plug, charging;
	double current_a, soc_pct, pack_v, energy_kwh;
	unsigned power_req, bms_state;
	double lat, lon;
	double desired_soc; /* not a CAN value: what the own Item must carry (set-desired-soc) */
};

static int car_lines(const struct car *c, char *buf, size_t size)
{
	unsigned cur = (unsigned)lround(2000.0 + 4.0 * c->current_a); /* current = (raw - 2000) / 4 */
	unsigned soc = (unsigned)lround(c->soc_pct * 400.0);          /* soc = raw / 400 */
	unsigned pv = (unsigned)lround(c->pack_v * 10.0);             /* mean(v1, v2) / 10 with v1 = v2 */
	unsigned ea = (unsigned)lround(c->energy_kwh * 10.0);         /* B1 / 10 */

	return snprintf(buf, size,
			"GPS %.6f %.6f 520.0 0.0 9 0.90 2026-11-30 23:5:0 1\r\n"
			"SIM 155 8 %02X %02X %02X 54 %02X %02X 00 00\r\n"
			"SIM 597 8 %02X %02X 00 00 00 00 00 00\r\n"
			"SIM 55F 8 00 00 00 00 00 %02X %02X %02X\r\n"
			"SIM 425 8 %02X %02X 00 00 00 00 00 00\r\n"
			"SIM 59B 8 00 00 00 00 00 00 00 00\r\n",
			c->lat, c->lon, c->power_req, (cur >> 8) & 0x0F, cur & 0xFF, soc >> 8, soc & 0xFF,
			c->plug ? 0x20 : 0x00, c->charging ? 0x20 : 0x00, (pv >> 4) & 0xFF, ((pv & 0x0F) << 4) | (pv >> 8),
			pv & 0xFF, c->bms_state, ea);
}

/* ---- what v2xd sent on the hub link ---- */

struct out_item {
	struct titem it;
	int phase;        /* the test's phase when it arrived */
	int run;          /* which v2xd run sent it */
	int v2;
	uint32_t seq;     /* v2 frame seq */
};

/* ---- the rig ---- */

struct rig {
	char dir[256], out[300], can_link[300], hub_link[300], sock[300], log[300];
	struct test_pty can, hub;
	pid_t pid;
	int v2;
	/* the station (the peer) */
	uint8_t st_mac[6];
	uint32_t st_session, next_session, st_uptime, tx_seq;
	float st_kwh, kwh_step, price;
	double kwh_base;        /* energy of the station's sessions before it restarted */
	int st_charging;        /* its counter runs while the session is open and the car charges */
	int closes, opens;      /* sessions opened and closed by the peer */
	int stops_seen, acks_sent;
	int hub_down;           /* the hub's USB cable is out */
	int deaf;               /* the station never hears the vehicle's stop (no ACK, ready_to_charge = 0 ignored) */
	/* the car */
	struct car car;
	struct car phase_car[16];
	int phase;
	uint64_t beat;
	/* received */
	uint8_t rx[1 << 16];
	size_t rx_len;
	struct out_item out_items[MAX_OUT];
	size_t n_out;
	size_t bad_out_bytes;   /* bytes that were not part of a frame v2xd may send */
	int out_other_types;    /* v2 frames of a type v2xd must not send */
	uint32_t last_out_seq;
	int out_seq_gaps;
	int seen_v2_out;
	int run;                /* v2xd runs (restarts + 1) */
	size_t run_first_row[4];  /* index in sent[] of the first Item sent to run k (k >= 2) */
	/* expected ESP_now_data rows: every valid Item sent, in order */
	struct titem sent[MAX_SENT];
	size_t n_sent;
	uint16_t other_uptime;
};

static struct rig R; /* large: static */

/* The station's energy for the vehicle's session: its meter's closed segments (a restart) plus the running one. */
static double station_total(void)
{
	return R.kwh_base + (double)R.st_kwh;
}

static const uint8_t VEH_A[6] = { 0x24, 0x6F, 0x28, 0x10, 0x20, 0x31 };
static const uint8_t VEH_B[6] = { 0x24, 0x6F, 0x28, 0x10, 0x20, 0x32 };

static void hub_write(const void *p, size_t n)
{
	assert_int_equal(test_pty_write_all(&R.hub, p, n), 0);
}

/* Sends one Item in the link's format; valid ones are remembered as expected ESP_now_data rows. */
static void send_item(const struct titem *t, int valid)
{
	uint8_t body[ITEM_LEN], buf[V2X_WIRE_MAX];

	item_pack(t, body);
	if (R.v2) {
		int n = v2x_frame_encode(V2X_T_V2X_ITEM, ++R.tx_seq, R.st_uptime * 1000u, body, ITEM_LEN, buf,
					 sizeof(buf));
		assert_true(n > 0);
		hub_write(buf, (size_t)n);
	} else {
		buf[0] = 0xAA;
		buf[1] = 0x55;
		memcpy(buf + 2, body, ITEM_LEN);
		hub_write(buf, 2 + ITEM_LEN);
	}
	if (valid) {
		assert_true(R.n_sent < MAX_SENT);
		R.sent[R.n_sent++] = *t;
	}
}

static void station_item(struct titem *t)
{
	memset(t, 0, sizeof(*t));
	t->soc = STATION_SOC;
	t->volt = 230.0f;       /* AC voltage */
	t->curr = 16.0f;        /* max current */
	t->energy = R.st_kwh;   /* energy delivered in this session */
	t->lat = ST_LAT;
	t->lon = ST_LON;
	t->alt = 519.0f;
	t->gps_valid = 1;       /* charging available */
	memcpy(t->mac, R.st_mac, 6);
	t->ts = R.st_uptime;
	t->cost = R.st_kwh * R.price;
	t->cost_per_kwh = R.price;
	t->max_power = 3680.0f;
	t->session_id = R.st_session;
	t->avail = 1;
}

static void send_station(void)
{
	struct titem t;

	R.st_uptime += 2 * BEAT_MS;
	if (R.st_session && R.st_charging)
		R.st_kwh += R.kwh_step;
	station_item(&t);
	send_item(&t, 1);
}

static void vehicle_item(struct titem *t, const uint8_t mac[6], double dlat, double dlon)
{
	memset(t, 0, sizeof(*t));
	t->soc = 77;
	t->volt = 56.5f;
	t->curr = -20.25f; /* driving */
	t->energy = 4.1f;
	t->charging_status = 0x2A;
	t->speed = 32.5f;
	t->accel = 0.5f;
	memcpy(t->gear, "Dri", 4);
	t->lat = (float)(FIX_LAT + dlat);
	t->lon = (float)(FIX_LON + dlon);
	t->alt = 521.0f;
	t->gps_valid = 1;
	t->desired_soc = 80.0f;
	memcpy(t->mac, mac, 6);
	t->ts = 1000u + R.other_uptime++;
}

static void send_neighbours(void)
{
	struct titem t;

	vehicle_item(&t, VEH_A, 0.00045, 0.0003);
	send_item(&t, 1);
	vehicle_item(&t, VEH_B, -0.0003, 0.0);
	send_item(&t, 1);
}

/* ---- reading what v2xd sends ---- */

static void on_out_item(const uint8_t *body, int v2, uint32_t seq)
{
	struct out_item *o;

	if (R.n_out == MAX_OUT)
		return;
	o = &R.out_items[R.n_out++];
	item_unpack(body, &o->it);
	o->phase = R.phase;
	o->run = R.run;
	o->v2 = v2;
	o->seq = seq;
	/* The station behind the hub, as the project's hub firmware relays it: ready_to_charge in the vehicle's Item
	 * asks for a session, an Item without it closes the open one. */
	if (o->it.ready && !R.st_session) {
		R.st_session = R.next_session++;
		R.st_kwh = 0;
		R.opens++;
	} else if (!o->it.ready && R.st_session && !R.deaf) {
		R.st_session = 0;
		R.closes++;
	}
}

static void on_out_cmd(const struct v2x_frame *fr)
{
	uint8_t ack[V2X_ACK_LEN], buf[V2X_WIRE_MAX];
	int n;

	if (fr->len < 1 || fr->payload[0] != CMD_STOP_CHARGING) {
		R.out_other_types++;
		return;
	}
	R.stops_seen++;
	if (R.deaf)
		return;
	/* V2X_T_ACK: acked_seq u32, acked_type u8, result u8 (v2x_proto.h); stopped (hub.h) */
	put32(ack, fr->seq);
	ack[4] = V2X_T_CMD;
	ack[5] = ACK_STOPPED;
	n = v2x_frame_encode(V2X_T_ACK, ++R.tx_seq, R.st_uptime * 1000u, ack, sizeof(ack), buf, sizeof(buf));
	assert_true(n > 0);
	hub_write(buf, (size_t)n);
	R.acks_sent++;
	if (R.st_session) {
		R.st_session = 0;
		R.closes++;
	}
}

static void parse_out(void)
{
	size_t i = 0;

	if (R.v2) {
		size_t start = 0;

		for (i = 0; i < R.rx_len; i++) {
			struct v2x_frame fr;

			/* Until the daemon heard the hub speak v2 it sends legacy frames (--hub-tx-format auto) */
			if (!R.seen_v2_out && i == start && R.rx[i] == 0xAA) {
				if (R.rx_len - i < 2 + ITEM_LEN)
					break;
				if (R.rx[i + 1] == 0x55) {
					on_out_item(R.rx + i + 2, 0, 0);
					i += 2 + ITEM_LEN - 1;
					start = i + 1;
					continue;
				}
			}
			if (R.rx[i] != 0)
				continue;
			if (v2x_frame_decode(R.rx + start, i - start, &fr) != 0) {
				R.bad_out_bytes += i - start + 1;
			} else {
				R.seen_v2_out = 1;
				if (R.last_out_seq && fr.seq != R.last_out_seq + 1)
					R.out_seq_gaps++;
				R.last_out_seq = fr.seq;
				if (fr.type == V2X_T_V2X_ITEM && fr.len == ITEM_LEN)
					on_out_item(fr.payload, 1, fr.seq);
				else if (fr.type == V2X_T_CMD)
					on_out_cmd(&fr);
				else
					R.out_other_types++;
			}
			start = i + 1;
		}
		i = start;
	} else {
		while (i + 2 + ITEM_LEN <= R.rx_len) {
			if (R.rx[i] == 0xAA && R.rx[i + 1] == 0x55) {
				on_out_item(R.rx + i + 2, 0, 0);
				i += 2 + ITEM_LEN;
			} else {
				R.bad_out_bytes++;
				i++;
			}
		}
	}
	memmove(R.rx, R.rx + i, R.rx_len - i);
	R.rx_len -= i;
}

/* Reads what v2xd sent for ms milliseconds. */
static void pump(int ms)
{
	int64_t end = test_now_ms() + ms;

	for (;;) {
		int left = (int)(end - test_now_ms());
		struct pollfd pf = { .fd = R.hub.master, .events = POLLIN };

		if (left <= 0)
			break;
		if (poll(&pf, 1, left) > 0 && (pf.revents & POLLIN)) {
			ssize_t n = read(R.hub.master, R.rx + R.rx_len, sizeof(R.rx) - R.rx_len);

			if (n > 0) {
				R.rx_len += (size_t)n;
				parse_out();
				assert_true(R.rx_len < sizeof(R.rx));
			}
		}
	}
}

/* One beat: the car's lines, the station every second beat, other vehicles every tenth, then v2xd's output. */
static void beat(void)
{
	char l[1024];
	int n = car_lines(&R.car, l, sizeof(l));

	assert_true(n > 0 && (size_t)n < sizeof(l));
	assert_int_equal(test_pty_write_all(&R.can, l, (size_t)n), 0);
	R.beat++;
	if (R.hub_down) { /* the hub is unplugged: nothing to send or read there */
		test_sleep_ms(BEAT_MS);
		return;
	}
	if ((R.beat - 1) % 2 == 0)
		send_station();
	if ((R.beat - 1) % 10 == 5)
		send_neighbours();
	pump(BEAT_MS);
}

/* ---- v2xd and v2xctl ---- */

static void show_log(void)
{
	size_t n;
	char *t = test_read_file(R.log, &n);

	if (t) {
		fprintf(stderr, "---- v2xd log ----\n%s-------------------\n", n > 6000 ? t + n - 6000 : t);
		free(t);
	}
}

/* Runs `v2xctl --socket S --json ARGS` and parses its answer; NULL when it failed. */
static cJSON *ctl(const char *args)
{
	char cmd[1400], *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *p;
	cJSON *j;

	snprintf(cmd, sizeof(cmd), "%s/bin/v2xctl --socket %s --json --timeout 20 %s 2>>%s/v2xctl.err",
		 test_build_dir(), R.sock, args, R.dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t k = fread(buf + len, 1, cap - len - 1, p);
		if (k == 0)
			break;
		len += k;
	}
	int rc = pclose(p);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	j = rc == 0 ? cJSON_Parse(buf) : NULL;
	free(buf);
	return j;
}

static char state_now[32];

static const char *daemon_state(void)
{
	cJSON *j = ctl("sessions");
	const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "state") : NULL;

	snprintf(state_now, sizeof(state_now), "%s", cJSON_IsString(s) ? s->valuestring : "?");
	cJSON_Delete(j);
	return state_now;
}

/* Beats until v2xd's session machine is in state (asked every 5 beats), at most max_beats. */
static void beat_until_state(const char *state, int max_beats)
{
	for (int i = 0; i < max_beats; i++) {
		beat();
		if (i % 5 == 4 && strcmp(daemon_state(), state) == 0)
			return;
	}
	show_log();
	fail_msg("v2xd did not reach state %s in %d beats (phase %d): it says %s", state, max_beats, R.phase,
		 daemon_state());
}

/* Beats until cond() holds, at most max_beats. */
static void beat_until(int (*cond)(void), const char *what, int max_beats)
{
	for (int i = 0; i < max_beats; i++) {
		if (cond())
			return;
		beat();
	}
	show_log();
	fail_msg("%s did not happen in %d beats (phase %d)", what, max_beats, R.phase);
}

static void set_phase(int p)
{
	R.phase = p;
	R.phase_car[p] = R.car;
}

/* A counter from `status`: stages.<group>.<name>.value, or records.drops.<name> when drop is set. */
static long long status_value(const cJSON *st, const char *group, const char *name, int drop)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "stages"), group);
	const cJSON *v;

	if (drop)
		v = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "records"), "drops"), name);
	else
		v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, name), "value");
	if (!cJSON_IsNumber(v))
		fail_msg("status has no %s %s%s", group, drop ? "drop " : "", name);
	return (long long)v->valuedouble;
}

/* A text metric from `status`: stages.<group>.<name>.value ("" when absent). */
static const char *status_text(const cJSON *st, const char *group, const char *name)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "stages"), group);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, name), "value");

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* The hub link as `status` shows it: 1 up, 0 not (yet). */
static int hub_open(void)
{
	cJSON *st = ctl("status");
	int up = st && strcmp(status_text(st, "hub_io", "link"), "up") == 0 &&
		 status_value(st, "hub_io", "opens", 0) >= 1;

	cJSON_Delete(st);
	return up;
}

/* Starts v2xd on the rig's links (run n logs to v2xd.log, v2xd-2.log, ...) and waits until both are open. */
static void daemon_spawn(const char *const *extra)
{
	char bin[300], period[16];

	R.run++;
	R.seen_v2_out = 0;   /* a new run speaks legacy until it hears the hub's v2 */
	R.last_out_seq = 0;  /* and numbers its v2 frames from 1 */
	if (R.run > 1 && R.run < 4)
		R.run_first_row[R.run] = R.n_sent;
	if (R.run == 1)
		snprintf(R.log, sizeof(R.log), "%s/v2xd.log", R.dir);
	else
		snprintf(R.log, sizeof(R.log), "%s/v2xd-%d.log", R.dir, R.run);
	snprintf(bin, sizeof(bin), "%s/bin/v2xd", test_build_dir());
	snprintf(period, sizeof(period), "%d", ITEM_PERIOD_MS);
	char *argv[32] = { bin, (char *)"--can-dev", R.can_link, (char *)"--hub-dev", R.hub_link, (char *)"--out",
			   R.out, (char *)"--socket", R.sock, (char *)"--status-s", (char *)"0",
			   (char *)"--v2g-item-period-ms", period, (char *)"--v2g-tick-ms", (char *)"20", NULL };
	int a = 15;
	for (int i = 0; extra && extra[i] && a < 31; i++)
		argv[a++] = (char *)extra[i];
	argv[a] = NULL;
	R.pid = test_spawn(argv, R.log);
	assert_true(R.pid > 0);
	assert_int_equal(test_wait_for_text(R.log, "ttyCAN: open", 30000), 0);
	/* the hub port is open once hub_io counted an open (the socket answers from start-up on) */
	for (int i = 0; i < 300 && !hub_open(); i++)
		test_sleep_ms(100);
	if (!hub_open()) {
		show_log();
		fail_msg("v2xd never opened the hub link");
	}
}

static void rig_start(const char *tag, int v2, const char *const *extra)
{
	memset(&R, 0, sizeof(R));
	R.can.master = R.can.slave = R.hub.master = R.hub.slave = -1;
	R.v2 = v2;
	assert_int_equal(test_mkdtemp(R.dir, sizeof(R.dir), tag), 0);
	snprintf(R.out, sizeof(R.out), "%s/out", R.dir);
	snprintf(R.can_link, sizeof(R.can_link), "%s/ttyCAN", R.dir);
	snprintf(R.hub_link, sizeof(R.hub_link), "%s/ttyHUB", R.dir);
	snprintf(R.sock, sizeof(R.sock), "%s/v2xd.sock", R.dir);
	assert_int_equal(mkdir(R.out, 0755), 0);
	assert_int_equal(test_pty_open(&R.can, R.can_link), 0);
	assert_int_equal(test_pty_open(&R.hub, R.hub_link), 0);
	daemon_spawn(extra);
	memcpy(R.st_mac, (const uint8_t[6]){ 0x30, 0xAE, 0xA4, 0x07, 0x11, 0x01 }, 6);
	R.st_uptime = 120000;
	R.price = 0.35f;
	R.kwh_step = 0.0125f;
	R.next_session = v2 ? 5150 : 4242;
	R.car = (struct car){ .plug = 0, .charging = 0, .current_a = 0, .soc_pct = v2 ? 60.0 : 40.0, .pack_v = 55.2,
			      .energy_kwh = 3.4, .power_req = 7, .bms_state = 0x24, .lat = FIX_LAT, .lon = FIX_LON,
			      .desired_soc = 100.0 };
	set_phase(0);
}

static int rig_stop(void)
{
	kill(R.pid, SIGTERM);
	int rc = test_wait_exit(R.pid, 30000);
	R.pid = 0;
	if (rc != 0)
		show_log();
	return rc;
}

static void rig_teardown(void)
{
	if (R.pid > 0) {
		kill(R.pid, SIGKILL);
		test_wait_exit(R.pid, 5000);
		R.pid = 0;
	}
	test_pty_close(&R.can);
	test_pty_close(&R.hub);
	if (getenv("V2X_KEEP") && R.dir[0])
		fprintf(stderr, "kept %s\n", R.dir);
	else if (R.dir[0])
		test_rmtree(R.dir);
	R.dir[0] = '\0';
}

static int teardown(void **state)
{
	test_kill_spawned(state);
	rig_teardown();
	return 0;
}

/* ---- the files ---- */

static const char ESPNOW_HEADER[] =
	/* legacy-system.md, then issue 8 item 6's appended columns */
	"MAC,SOC,BatteryVoltage,BatteryCurrent,AvailableEnergy,ChargingStatus,Speed,Acceleration,Gear,BrakeStatus,"
	"Latitude,Longitude,Altitude,GPSValid,IsCharging,DesiredSOC,ReadyToCharge,Timestamp,DataType,"
	"EVCSSessionCost,EVCSCostPerKWH,EVCSMaxPower,EVCSSessionID,EVCSChargingAvailable,rx_time,link_seq,distance_m";
static const char SESSIONS_HEADER[] =
	"timestamp,duration_min,start_soc,end_soc,soc_gained,start_energy,end_energy,energy_gained,max_current,"
	"session_id,station_mac,energy_station_kwh,price_per_kwh,cost,end_reason,start_time,end_time";

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every PREFIXYYYYMMDD_HHMM.csv in the output directory, oldest first, checks each starts with header, and
 * returns the rows after the headers, joined (malloc'd). */
static char *read_stamped(const char *prefix, const char *header, int *n_files)
{
	DIR *d = opendir(R.out);
	struct dirent *e;
	char *names[64], *all = NULL;
	size_t n = 0, all_len = 0;

	assert_non_null(d);
	while ((e = readdir(d)) && n < 64) {
		size_t pl = strlen(prefix);
		const char *s = e->d_name + pl;

		if (strncmp(e->d_name, prefix, pl) != 0)
			continue;
		/* YYYYMMDD_HHMM.csv */
		int ok = strlen(s) == 17 && strcmp(s + 13, ".csv") == 0 && s[8] == '_';
		for (int i = 0; ok && i < 13; i++)
			ok = i == 8 || (s[i] >= '0' && s[i] <= '9');
		if (!ok)
			fail_msg("unexpected file name %s", e->d_name);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	*n_files = (int)n;
	all = calloc(1, 1);
	for (size_t i = 0; i < n; i++) {
		char path[700];
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", R.out, names[i]);
		char *t = test_read_file(path, &len);
		assert_non_null(t);
		if (strncmp(t, header, strlen(header)) != 0 || t[strlen(header)] != '\n')
			fail_msg("%s: header is '%.*s', expected '%s'", names[i], (int)strcspn(t, "\n"), t, header);
		assert_true(len > 0 && t[len - 1] == '\n');
		size_t body = len - strlen(header) - 1;
		all = realloc(all, all_len + body + 1);
		memcpy(all + all_len, t + strlen(header) + 1, body);
		all_len += body;
		all[all_len] = '\0';
		free(t);
		free(names[i]);
	}
	return all;
}

static size_t split_lines(char *text, char ***lines)
{
	size_t n = 0, cap = 256;
	char **v = malloc(cap * sizeof(*v));

	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = p;
		p = nl + 1;
	}
	*lines = v;
	return n;
}

/* Field k of a CSV row into buf. */
static const char *fld(const char *row, int k, char *buf, size_t size)
{
	while (k-- > 0) {
		row = strchr(row, ',');
		if (!row) {
			buf[0] = '\0';
			return buf;
		}
		row++;
	}
	size_t n = strcspn(row, ",");
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), row);
	return buf;
}

static int n_fields(const char *row)
{
	int n = 1;

	for (; *row; row++)
		n += *row == ',';
	return n;
}

static void mac_text(const uint8_t m[6], char *buf)
{
	sprintf(buf, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* A float column reads back to exactly the f32 that was sent. */
static void check_f32(const char *row, int k, float want, const char *name, size_t i)
{
	char b[64];

	fld(row, k, b, sizeof(b));
	if (!b[0] || strtof(b, NULL) != want)
		fail_msg("ESP_now_data row %zu: %s '%s', sent %.9g", i, name, b, (double)want);
}

static void check_text(const char *row, int k, const char *want, const char *name, size_t i)
{
	char b[64];

	if (strcmp(fld(row, k, b, sizeof(b)), want) != 0)
		fail_msg("ESP_now_data row %zu: %s '%s', expected '%s' (row: %s)", i, name, b, want, row);
}

/* Every valid Item sent is one ESP_now_data row, in order, its fields as sent (the facts file's formats). */
static void check_espnow(void)
{
	int files;
	char *all = read_stamped("ESP_now_data_", ESPNOW_HEADER, &files);
	char **rows, b[64], want[64];
	size_t n = split_lines(all, &rows);
	unsigned long long prev_seq = 0;
	int fix_known = 0;
	size_t stations = 0, vehicles = 0;

	assert_true(files >= 1);
	if (n != R.n_sent)
		fail_msg("ESP_now_data has %zu rows; %zu valid Items were sent", n, R.n_sent);
	for (size_t i = 0; i < n; i++) {
		const struct titem *t = &R.sent[i];
		const char *row = rows[i];
		int st = t->soc == STATION_SOC;

		if (n_fields(row) != 27)
			fail_msg("ESP_now_data row %zu has %d fields: %s", i, n_fields(row), row);
		mac_text(t->mac, want);
		check_text(row, 0, want, "MAC", i);
		snprintf(want, sizeof(want), "%u", t->soc);
		check_text(row, 1, want, "SOC", i);
		check_f32(row, 2, t->volt, "BatteryVoltage", i);
		check_f32(row, 3, t->curr, "BatteryCurrent", i);
		check_f32(row, 4, t->energy, "AvailableEnergy", i);
		snprintf(want, sizeof(want), "%u", t->charging_status);
		check_text(row, 5, want, "ChargingStatus", i);
		check_f32(row, 6, t->speed, "Speed", i);
		check_f32(row, 7, t->accel, "Acceleration", i);
		check_text(row, 8, t->gear, "Gear", i);
		check_text(row, 9, t->brake ? "YES" : "NO", "BrakeStatus", i);
		check_f32(row, 10, t->lat, "Latitude", i);
		check_f32(row, 11, t->lon, "Longitude", i);
		check_f32(row, 12, t->alt, "Altitude", i);
		check_text(row, 13, t->gps_valid ? "YES" : "NO", "GPSValid", i);
		check_text(row, 14, t->is_charging ? "YES" : "NO", "IsCharging", i);
		check_f32(row, 15, t->desired_soc, "DesiredSOC", i);
		check_text(row, 16, t->ready ? "YES" : "NO", "ReadyToCharge", i);
		snprintf(want, sizeof(want), "%u", t->ts);
		check_text(row, 17, want, "Timestamp", i);
		check_text(row, 18, st ? "EVCS" : "V2V", "DataType", i);
		check_f32(row, 19, t->cost, "EVCSSessionCost", i);
		check_f32(row, 20, t->cost_per_kwh, "EVCSCostPerKWH", i);
		check_f32(row, 21, t->max_power, "EVCSMaxPower", i);
		snprintf(want, sizeof(want), "%u", t->session_id);
		check_text(row, 22, want, "EVCSSessionID", i);
		check_text(row, 23, t->avail ? "YES" : "NO", "EVCSChargingAvailable", i);
		/* rx_time: <sec>.<9 digits> */
		fld(row, 24, b, sizeof(b));
		char *dot = strchr(b, '.');
		if (!dot || strlen(dot + 1) != 9 || strtoll(b, NULL, 10) < 1600000000LL)
			fail_msg("ESP_now_data row %zu: rx_time '%s'", i, b);
		/* link_seq: accepted units of the link, counted from 1 (legacy: every unit is an Item; v2: ACKs too) */
		unsigned long long seq = strtoull(fld(row, 25, b, sizeof(b)), NULL, 10);
		size_t base = 0; /* link_seq starts again at 1 in a new run */
		for (int k = 2; k <= R.run && k < 4; k++)
			if (i >= R.run_first_row[k])
				base = R.run_first_row[k];
		if (base == i && i > 0) {
			prev_seq = 0;
			fix_known = 0; /* the new run has no fix until its first GPS line is decoded */
		}
		if (R.v2 ? seq <= prev_seq : seq != i - base + 1)
			fail_msg("ESP_now_data row %zu: link_seq %llu after %llu", i, seq, prev_seq);
		prev_seq = seq;
		/* distance_m from the car's fix (empty until the first fix reached v2g) */
		fld(row, 26, b, sizeof(b));
		if (!b[0]) {
			if (fix_known)
				fail_msg("ESP_now_data row %zu: distance empty after a fix", i);
			continue;
		}
		fix_known = 1;
		double d = strtod(b, NULL), near = haversine_m(FIX_LAT, FIX_LON, t->lat, t->lon),
		       far = haversine_m(FAR_LAT, FIX_LON, t->lat, t->lon);
		if (fabs(d - near) > 0.06 + near * 0.001 && fabs(d - far) > 0.06 + far * 0.001)
			fail_msg("ESP_now_data row %zu: distance_m %s; from the fixes sent: %.2f or %.2f", i, b, near, far);
		stations += st;
		vehicles += !st;
	}
	print_message("ESP_now_data: %zu rows (%d file(s)) match the %zu valid Items sent; %zu station and %zu vehicle "
		      "rows with a distance\n", n, files, R.n_sent, stations, vehicles);
	assert_true(stations > 10 && vehicles > 4);
	free(rows);
	free(all);
}

/* The one session row; returns it in row (copied). */
static void read_session_row(char *row, size_t size)
{
	int files;
	char *all = read_stamped("v2g_sessions_", SESSIONS_HEADER, &files);
	char **rows;
	size_t n = split_lines(all, &rows);

	/* created with its header at start: one file per run (a run in the same minute appends to it), one row */
	assert_true(files >= 1 && files <= R.run);
	if (n != 1)
		fail_msg("v2g_sessions has %zu rows, expected 1", n);
	snprintf(row, size, "%s", rows[0]);
	assert_int_equal(n_fields(row), 17);
	free(rows);
	free(all);
}

static double num(const char *row, int k)
{
	char b[64];

	fld(row, k, b, sizeof(b));
	if (!b[0])
		fail_msg("session row: column %d empty: %s", k, row);
	return strtod(b, NULL);
}

static void within_1pct(double got, double want, const char *what)
{
	if (!(fabs(got - want) <= 0.01 * fabs(want)))
		fail_msg("%s %.6f, the station's figure %.6f: not within 1 %%", what, got, want);
}

/* The session row against the scripted station and the CAN values. */
static void check_session_row(const char *row, const char *reason, uint32_t session_id, double soc_start,
			      double soc_end, double max_a, double pack_v, double energy_kwh)
{
	char b[64], mac[20];

	print_message("session row: %s\n", row);
	if (strcmp(fld(row, 14, b, sizeof(b)), reason) != 0)
		fail_msg("end_reason '%s', expected %s", b, reason);
	snprintf(mac, sizeof(mac), "%u", session_id);
	assert_string_equal(fld(row, 9, b, sizeof(b)), mac);
	mac_text(R.st_mac, mac);
	assert_string_equal(fld(row, 10, b, sizeof(b)), mac);
	/* the station's energy (the last counter it sent: the session started at 0) and cost = energy x price */
	within_1pct(num(row, 11), energy_kwh, "energy_station_kwh");
	within_1pct(num(row, 12), (double)R.price, "price_per_kwh");
	within_1pct(num(row, 13), energy_kwh * (double)R.price, "cost");
	/* the decoded SOCs and the real maximum current (%.2f) */
	assert_true(fabs(num(row, 2) - soc_start) < 0.006);
	assert_true(fabs(num(row, 3) - soc_end) < 0.006);
	assert_true(fabs(num(row, 4) - (soc_end - soc_start)) < 0.006);
	assert_true(fabs(num(row, 8) - max_a) < 0.006);
	/* start/end energy: 0x425's energy_avail (%.1f) */
	assert_true(fabs(num(row, 5) - R.car.energy_kwh) < 0.051);
	assert_true(fabs(num(row, 6) - R.car.energy_kwh) < 0.051);
	/* energy into the battery: something flowed, never more than the highest current at the pack voltage for the
	 * whole session */
	double dur_min = num(row, 1), eb = num(row, 7);
	assert_true(dur_min > 0);
	if (!(eb > 0 && eb <= max_a * pack_v * (dur_min + 0.005) / 60.0 / 1000.0 * 1.01))
		fail_msg("energy_gained %.4f kWh: outside (0, %.2f A x %.1f V x %.2f min]", eb, max_a, pack_v, dur_min);
	/* ISO 8601 UTC times; the end is the row's timestamp, not before the start */
	char t0[32], t1[32], ts[32];
	fld(row, 15, t0, sizeof(t0));
	fld(row, 16, t1, sizeof(t1));
	fld(row, 0, ts, sizeof(ts));
	assert_int_equal(strlen(t0), 20);
	assert_true(t0[4] == '-' && t0[10] == 'T' && t0[19] == 'Z');
	assert_string_equal(ts, t1);
	assert_true(strcmp(t0, t1) <= 0);
}

/* ---- what v2xd sent ---- */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The Item's soc: the decoded SOC rounded to a whole percent (u16). */
static uint16_t soc_of(const struct car *c)
{
	return (uint16_t)lround(c->soc_pct);
}

static int near_f(float got, double want)
{
	return fabs((double)got - want) <= 1e-4 * fmax(1.0, fabs(want));
}

/* Every own Item carries the decoded state: each field equal to its value in the phase the Item arrived in, or the
 * phase before (the Item may have been built just before the change reached it; a published state may mix the two
 * while a beat's lines are decoded).  Leading Items built before the first CAN lines were decoded are skipped
 * (at most a few).  The own Item's period: consecutive timestamps (the daemon's monotonic ms at which each was built)
 * are never closer than the configured period, also while other vehicles' broadcasts arrive in bursts. */
static void check_out_items(void)
{
	size_t checked = 0, min_gap = UINT32_MAX;
	uint32_t gaps[MAX_OUT];
	size_t n_gaps = 0;

	assert_int_equal(R.bad_out_bytes, 0);
	assert_int_equal(R.out_other_types, 0);
	assert_int_equal(R.out_seq_gaps, 0);
	assert_true(R.n_out >= 10);
	/* Items a run sends before its first CAN line was decoded carry zeros (a signal never received is 0); then at
	 * most two may be built from a partly decoded first beat */
	size_t empty = 0, partial = 0, run_pos = 0, first = 0;
	int run = 0;
	for (size_t i = 0; i < R.n_out; i++) {
		const struct out_item *o = &R.out_items[i];
		const struct titem *t = &o->it;
		if (o->run != run) {
			run = o->run;
			run_pos = 0;
			first = i;
		}
		if (run_pos == 0 && t->soc == 0 && t->volt == 0.0f) {
			empty++;
			first = i + 1;
			continue;
		}
		run_pos++;
		const struct car *a = &R.phase_car[o->phase], *b = &R.phase_car[o->phase > 0 ? o->phase - 1 : 0];
		int ok = (t->soc == soc_of(a) || t->soc == soc_of(b)) &&
			 (t->charging_status == a->bms_state || t->charging_status == b->bms_state) &&
			 (t->is_charging == a->charging || t->is_charging == b->charging) &&
			 (near_f(t->curr, a->current_a) || near_f(t->curr, b->current_a)) && near_f(t->volt, a->pack_v) &&
			 near_f(t->energy, a->energy_kwh) && (near_f(t->lat, a->lat) || near_f(t->lat, b->lat)) &&
			 near_f(t->lon, a->lon) && t->gps_valid == 1 && memcmp(t->gear, "Neu", 4) == 0 &&
			 (t->desired_soc == (float)a->desired_soc || t->desired_soc == (float)b->desired_soc) &&
			 t->speed == 0.0f && t->brake == 0;
		if (!ok && run_pos <= 2) {
			partial++;
			continue;
		}
		if (!ok)
			fail_msg("own Item %zu (phase %d): soc %u status 0x%02X charging %u current %.3f voltage %.3f energy "
				 "%.3f lat %.6f lon %.6f valid %u gear '%.4s' desired %.1f; phase car: soc %.2f current %.2f "
				 "charging %d",
				 i, o->phase, t->soc, t->charging_status, t->is_charging, (double)t->curr, (double)t->volt,
				 (double)t->energy, (double)t->lat, (double)t->lon, t->gps_valid, t->gear,
				 (double)t->desired_soc, a->soc_pct, a->current_a, a->charging);
		checked++;
		if (i > first && R.out_items[i - 1].run == run) {
			uint32_t g = t->ts - R.out_items[i - 1].it.ts;
			gaps[n_gaps++] = g;
			if (g < min_gap)
				min_gap = g;
		}
	}
	/* never sooner than the period: no Item was an answer to a received one */
	if (min_gap < ITEM_PERIOD_MS)
		fail_msg("two own Items %zu ms apart: the period is %d ms", min_gap, ITEM_PERIOD_MS);
	qsort(gaps, n_gaps, sizeof(gaps[0]), u32_cmp);
	print_message("%zu own Items checked against the CAN values (%zu sent before the first CAN line was decoded, "
		      "%zu from a partly decoded first beat); period %d ms: smallest gap %zu ms, median %u ms "
		      "(information)\n",
		      checked, empty, partial, ITEM_PERIOD_MS, min_gap, n_gaps ? gaps[n_gaps / 2] : 0);
	assert_true(checked >= 10);
}

/* Checks the hub_io reject counters: exactly the expected count for each reason named, 0 for every other one. */
struct want_drop {
	const char *name;
	long long n;
};

static void check_drops(const cJSON *st, const struct want_drop *w, size_t n_w)
{
	const cJSON *drops = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "stages"), "hub_io"),
			"records"),
		"drops");
	const cJSON *d;

	assert_non_null(drops);
	cJSON_ArrayForEach(d, drops)
	{
		long long want = 0;
		int named = 0;

		for (size_t i = 0; i < n_w; i++)
			if (strcmp(w[i].name, d->string) == 0) {
				want = w[i].n;
				named = 1;
			}
		if (!named && strcmp(d->string, "stop_no_legacy") == 0)
			continue; /* checked by the caller */
		if ((long long)d->valuedouble != want)
			fail_msg("hub_io drops %s = %lld, expected %lld", d->string, (long long)d->valuedouble, want);
	}
	for (size_t i = 0; i < n_w; i++)
		assert_true(cJSON_GetObjectItemCaseSensitive(drops, w[i].name) != NULL);
}

/* Nothing was lost or refused inside the daemon: every v2g drop reason is 0 (full rings, row formatting, the state
 * file, duplicate or out-of-order station messages: the peer never sends those). */
static void check_v2g_clean(const cJSON *st)
{
	const cJSON *drops = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "stages"), "v2g"),
			"records"),
		"drops");
	const cJSON *d;

	assert_non_null(drops);
	cJSON_ArrayForEach(d, drops)
	{
		if (d->valuedouble != 0)
			fail_msg("v2g drops %s = %.0f", d->string, d->valuedouble);
	}
	assert_true(status_value(st, "v2g", "sessions", 0) == 1);
	long long ring_full = status_value(st, "hub_io", "ring_full", 1) + status_value(st, "hub_io", "tx_full", 1) +
			      status_value(st, "hub_io", "tx_down", 1);
	assert_int_equal(ring_full, 0);
}

/* Beats until the sum of hub_io's rejects reaches total (asked every 5 beats), then checks them one by one. */
static void wait_and_check_drops(const struct want_drop *w, size_t n_w, int max_beats)
{
	long long total = 0, sum = -1;
	cJSON *st = NULL;

	for (size_t i = 0; i < n_w; i++)
		total += w[i].n;
	for (int i = 0; i < max_beats; i++) {
		beat();
		if (i % 5 != 4)
			continue;
		cJSON_Delete(st);
		st = ctl("status");
		if (!st)
			continue;
		sum = 0;
		for (size_t k = 0; k < n_w; k++)
			sum += status_value(st, "hub_io", w[k].name, 1);
		if (sum >= total)
			break;
	}
	if (!st || sum < total) {
		show_log();
		fail_msg("hub_io counted %lld rejects of the %lld sent", sum, total);
	}
	check_drops(st, w, n_w);
	cJSON_Delete(st);
}

/* A legacy frame of t, checked to hold no `AA 55` inside its body and no trailing AA, so that the reject it must
 * cause is exactly its own (hub_frame.h's truncation rule would otherwise apply). */
static void legacy_frame(const struct titem *t, uint8_t f[2 + ITEM_LEN])
{
	f[0] = 0xAA;
	f[1] = 0x55;
	item_pack(t, f + 2);
	for (int k = 2; k + 1 < 2 + ITEM_LEN; k++)
		assert_false(f[k] == 0xAA && f[k + 1] == 0x55);
	assert_true(f[2 + ITEM_LEN - 1] != 0xAA);
}

/* Legacy link: boot text (ignored), a garbage line, `AA AA 55` + a frame, a NaN field, a truncated frame followed by
 * a whole one, an unterminated gear, a station marker with a 1000 V AC voltage.  Valid frames are expected rows. */
static const struct want_drop legacy_drops[] = {
	{ "garbage", 2 },   /* the garbage line, and the lone AA of AA AA 55 */
	{ "non_finite", 1 }, { "truncated", 1 }, { "bad_gear", 1 }, { "station_fields", 1 },
};

static void legacy_reject_stream(void)
{
	static const char boot[] = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n";
	static const uint8_t garbage[] = { 0x01, 0x02, 0xFE, 0xFD, 0x80, '\r', '\n' };
	uint8_t f[2 + ITEM_LEN];
	struct titem t;

	hub_write(boot, sizeof(boot) - 1);
	hub_write(garbage, sizeof(garbage));
	/* AA AA 55: the second AA starts the frame, which is kept */
	hub_write("\xAA", 1);
	R.st_uptime += 10;
	station_item(&t);
	send_item(&t, 1);
	/* NaN in battery_voltage (the station's AC voltage) */
	R.st_uptime += 10;
	station_item(&t);
	t.volt = NAN;
	legacy_frame(&t, f);
	hub_write(f, sizeof(f));
	/* a frame cut after 40 bytes (the hub reset), then a whole one: the cut one is rejected, the next kept */
	R.st_uptime += 10;
	station_item(&t);
	legacy_frame(&t, f);
	hub_write(f, 40);
	R.st_uptime += 10;
	station_item(&t);
	send_item(&t, 1);
	/* another vehicle with an unterminated gear */
	vehicle_item(&t, VEH_A, 0.00045, 0.0003);
	memcpy(t.gear, "Driv", 4);
	legacy_frame(&t, f);
	hub_write(f, sizeof(f));
	/* a station marker with nonsense fields: 1000 V AC */
	R.st_uptime += 10;
	station_item(&t);
	t.volt = 1000.0f;
	legacy_frame(&t, f);
	hub_write(f, sizeof(f));
	/* and a good vehicle Item after it all */
	vehicle_item(&t, VEH_B, -0.0003, 0.0);
	send_item(&t, 1);
}

/* v2 link: a garbage unit, a frame with a flipped data byte (CRC), an Item with a NaN, a frame cut short followed
 * by a whole one (they merge into one bad unit: both are lost). */
static void v2_reject_stream(long long *cobs_or_crc)
{
	static const uint8_t garbage[] = { 0x13, 0x37, 0xFE, 0xFD, 0x00 }; /* code 0x13 points past the unit */
	uint8_t body[ITEM_LEN], buf[V2X_WIRE_MAX];
	struct titem t;
	int n;

	hub_write(garbage, sizeof(garbage));
	/* a station Item with one data byte flipped after encoding (COBS code bytes left alone) */
	R.st_uptime += 10;
	station_item(&t);
	item_pack(&t, body);
	n = v2x_frame_encode(V2X_T_V2X_ITEM, ++R.tx_seq, R.st_uptime * 1000u, body, ITEM_LEN, buf, sizeof(buf));
	assert_true(n > 20);
	int pos = 0, flipped = 0;
	while (pos < n - 1 && !flipped) {
		int code = buf[pos];
		if (code >= 2 && pos + 1 < n - 1 && pos > 10) {
			buf[pos + 1] ^= buf[pos + 1] == 0x01 ? 0x03 : 0x01; /* stays non-zero */
			flipped = 1;
		}
		pos += code;
	}
	assert_true(flipped);
	hub_write(buf, (size_t)n);
	/* NaN in the station's max current */
	R.st_uptime += 10;
	station_item(&t);
	t.curr = NAN;
	item_pack(&t, body);
	n = v2x_frame_encode(V2X_T_V2X_ITEM, ++R.tx_seq, R.st_uptime * 1000u, body, ITEM_LEN, buf, sizeof(buf));
	assert_true(n > 0);
	hub_write(buf, (size_t)n);
	/* cut short after 30 bytes, then a whole frame (lost with it: no 0x00 between them) */
	R.st_uptime += 10;
	station_item(&t);
	item_pack(&t, body);
	n = v2x_frame_encode(V2X_T_V2X_ITEM, ++R.tx_seq, R.st_uptime * 1000u, body, ITEM_LEN, buf, sizeof(buf));
	hub_write(buf, 30);
	R.st_uptime += 10;
	station_item(&t);
	send_item(&t, 0);
	/* a good one after it all */
	vehicle_item(&t, VEH_B, -0.0003, 0.0);
	send_item(&t, 1);
	*cobs_or_crc = 3; /* garbage, flipped byte, merged unit */
}

static void v2_wait_and_check_drops(void)
{
	long long want_sum = 0, sum = -1;
	cJSON *st = NULL;

	v2_reject_stream(&want_sum);
	for (int i = 0; i < 250; i++) {
		beat();
		if (i % 5 != 4)
			continue;
		cJSON_Delete(st);
		st = ctl("status");
		if (!st)
			continue;
		sum = status_value(st, "hub_io", "v2_cobs", 1) + status_value(st, "hub_io", "v2_crc", 1);
		if (sum >= want_sum && status_value(st, "hub_io", "non_finite", 1) >= 1)
			break;
	}
	if (!st || sum != want_sum) {
		show_log();
		fail_msg("hub_io counted %lld v2_cobs + v2_crc rejects, expected %lld", sum, want_sum);
	}
	long long cobs = status_value(st, "hub_io", "v2_cobs", 1), crc = status_value(st, "hub_io", "v2_crc", 1);
	const struct want_drop w[] = { { "non_finite", 1 }, { "v2_cobs", cobs }, { "v2_crc", crc } };
	assert_true(crc >= 1 && cobs >= 1); /* the flipped byte is a CRC error, the garbage unit bad COBS */
	check_drops(st, w, 3);
	print_message("v2 rejects: v2_cobs %lld, v2_crc %lld, non_finite 1\n", cobs, crc);
	cJSON_Delete(st);
}

/* ---- neighbours and stations through the control socket ---- */

static const cJSON *find_mac(const cJSON *arr, const uint8_t mac[6])
{
	char m[20];
	const cJSON *e;

	mac_text(mac, m);
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "mac");
		if (cJSON_IsString(v) && strcmp(v->valuestring, m) == 0)
			return e;
	}
	return NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(v)) {
		char *txt = cJSON_PrintUnformatted(o);
		fail_msg("no number '%s' in %s", k, txt);
	}
	return v->valuedouble;
}

static void check_tables(void)
{
	cJSON *nb = ctl("neighbours"), *sts = ctl("stations");
	const cJSON *arr, *e;
	struct titem a, b;

	assert_non_null(nb);
	assert_non_null(sts);
	uint16_t keep = R.other_uptime;
	vehicle_item(&a, VEH_A, 0.00045, 0.0003);
	vehicle_item(&b, VEH_B, -0.0003, 0.0);
	R.other_uptime = keep;
	arr = cJSON_GetObjectItemCaseSensitive(nb, "neighbours");
	if (cJSON_GetArraySize(arr) != 2) {
		char *txt = cJSON_PrintUnformatted(nb);
		fail_msg("neighbours: %s", txt);
	}
	e = find_mac(arr, VEH_A);
	assert_non_null(e);
	assert_int_equal((int)jnum(e, "soc"), 77);
	double d = haversine_m(FIX_LAT, FIX_LON, a.lat, a.lon);
	assert_true(fabs(jnum(e, "distance_m") - d) < 0.05 + d * 0.001);
	e = find_mac(arr, VEH_B);
	assert_non_null(e);
	d = haversine_m(FIX_LAT, FIX_LON, b.lat, b.lon);
	assert_true(fabs(jnum(e, "distance_m") - d) < 0.05 + d * 0.001);
	arr = cJSON_GetObjectItemCaseSensitive(sts, "stations");
	if (cJSON_GetArraySize(arr) != 1) {
		char *txt = cJSON_PrintUnformatted(sts);
		fail_msg("stations: %s", txt);
	}
	e = find_mac(arr, R.st_mac);
	assert_non_null(e);
	d = haversine_m(FIX_LAT, FIX_LON, ST_LAT, ST_LON);
	assert_true(fabs(jnum(e, "distance_m") - d) < 0.05);
	assert_true(fabs(jnum(e, "price_per_kwh") - (double)R.price) < 1e-6);
	assert_true(jnum(e, "ac_voltage_v") == 230.0 && jnum(e, "max_current_a") == 16.0 &&
		    jnum(e, "max_power_w") == 3680.0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "available")));
	/* heard within the last beats: a small age (not a wrapped clock difference) */
	assert_true(jnum(e, "age_s") >= 0 && jnum(e, "age_s") < 30);
	const cJSON *ne;
	cJSON_ArrayForEach(ne, cJSON_GetObjectItemCaseSensitive(nb, "neighbours"))
		assert_true(jnum(ne, "age_s") >= 0 && jnum(ne, "age_s") < 30);
	print_message("neighbours: 2 vehicles; stations: 1 at %.2f m (haversine from the fix: %.2f m)\n",
		      jnum(e, "distance_m"), d);
	cJSON_Delete(nb);
	cJSON_Delete(sts);
}

/* The `sessions` answer: state, and the last recent session's reason, id and station energy. */
static void check_sessions_cmd(const char *state, const char *reason, uint32_t id)
{
	cJSON *j = ctl("sessions");
	const cJSON *rec, *last;

	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "state")->valuestring, state);
	rec = cJSON_GetObjectItemCaseSensitive(j, "recent");
	assert_int_equal(cJSON_GetArraySize(rec), 1);
	last = cJSON_GetArrayItem(rec, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(last, "end_reason")->valuestring, reason);
	assert_int_equal((uint32_t)jnum(last, "session_id"), id);
	within_1pct(jnum(last, "energy_station_kwh"), station_total(), "sessions: energy_station_kwh");
	within_1pct(jnum(last, "cost"), station_total() * (double)R.price, "sessions: cost");
	cJSON_Delete(j);
}

/* ---- conditions for beat_until ---- */

static size_t items_in_phase(int p)
{
	size_t n = 0;

	for (size_t i = 0; i < R.n_out; i++)
		n += R.out_items[i].phase == p;
	return n;
}

static int three_items_now(void)
{
	return items_in_phase(R.phase) >= 3;
}

static int peer_opened(void)
{
	return R.opens >= 1;
}

static int peer_closed(void)
{
	return R.closes >= 1;
}

static int stop_seen(void)
{
	return R.stops_seen >= 1;
}

/* ready_to_charge in the own Items: 0 while parked, 1 in phase p_charging, and once the machine stopped asking it
 * never asks again. */
static void check_ready(int p_charging, int p_stop)
{
	size_t n_charging = 0;
	int cleared = 0;

	for (size_t i = 0; i < R.n_out; i++) {
		const struct out_item *o = &R.out_items[i];

		if (o->phase == 0 && o->it.ready)
			fail_msg("own Item %zu asks to charge while unplugged", i);
		if (o->phase == p_charging) {
			n_charging++;
			if (!o->it.ready)
				fail_msg("own Item %zu does not ask to charge while charging", i);
		}
		if (o->phase >= p_stop && !o->it.ready)
			cleared = 1;
		if (cleared && o->it.ready)
			fail_msg("own Item %zu asks to charge again after the stop", i);
	}
	assert_true(n_charging >= 1);
	assert_true(cleared);
	assert_int_equal(R.out_items[R.n_out - 1].it.ready, 0);
}

/* ---- 1. legacy frames ---- */

static void test_legacy_hub_session(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubleg", 0, NULL);
	/* 0: parked beside the station, not plugged; the reject stream; a burst of 30 broadcasts from two vehicles */
	for (int i = 0; i < 10; i++)
		beat();
	legacy_reject_stream();
	wait_and_check_drops(legacy_drops, sizeof(legacy_drops) / sizeof(legacy_drops[0]), 250);
	for (int i = 0; i < 15; i++)
		send_neighbours();
	beat_until(three_items_now, "three own Items while parked", 500);
	check_tables();
	assert_string_equal(daemon_state(), "idle");
	/* 1: plugged: the station 2.8 m away is matched; the own Item asks to charge, the station opens a session */
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	/* 2: charging at 8 A, then 3: 12.5 A (the maximum), 4: top-off at 10 A with the power request down to 3 */
	R.car.charging = 1;
	R.car.current_a = 8.0;
	R.car.soc_pct = 40.5;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	R.car.current_a = 12.5;
	R.car.soc_pct = 41.0;
	set_phase(3);
	for (int i = 0; i < 20; i++)
		beat();
	R.car.current_a = 10.0;
	R.car.soc_pct = 41.75;
	R.car.power_req = 3;
	set_phase(4);
	beat_until_state("topoff", 250);
	for (int i = 0; i < 10; i++)
		beat();
	/* 5: the BMS requests no more power: finishing; on a legacy hub the stop is ready_to_charge = 0 in the Item,
	 * and the station closes its session (session id back to 0: the acknowledgement) */
	R.car.power_req = 0;
	R.car.current_a = 1.0;
	set_phase(5);
	beat_until(peer_closed, "the station closing its session", 250);
	beat_until_state("finishing", 250); /* acknowledged, but the current still flows */
	for (int i = 0; i < 6; i++)
		beat();
	/* 6: the current falls: the session ends `done` */
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(6);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "done", 4242);
	/* 7: unplugged, 8: driven 222 m away: departing, then idle (no second row) */
	R.car.plug = 0;
	set_phase(7);
	beat_until_state("departing", 250);
	R.car.lat = FAR_LAT;
	set_phase(8);
	beat_until_state("idle", 500);
	for (int i = 0; i < 10; i++)
		beat();
	/* the reject counts did not move during the session; the stop could not be a command on a legacy link */
	cJSON *st = ctl("status");
	assert_non_null(st);
	check_drops(st, legacy_drops, sizeof(legacy_drops) / sizeof(legacy_drops[0]));
	assert_true(status_value(st, "hub_io", "stop_no_legacy", 1) >= 1);
	assert_true(status_value(st, "hub_io", "ignored", 0) >= 1); /* the boot text */
	check_v2g_clean(st);
	cJSON_Delete(st);
	assert_int_equal(rig_stop(), 0);
	assert_int_equal(R.opens, 1);
	assert_int_equal(R.closes, 1);

	check_espnow();
	read_session_row(row, sizeof(row));
	check_session_row(row, "done", 4242, 40.0, 41.75, 12.5, 55.2, station_total());
	check_out_items();
	check_ready(3, 5);
	rig_teardown();
}

/* ---- 2. v2 frames, stopped by the user ---- */

static void test_v2_hub_stop_by_user(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubv2", 1, NULL);
	for (int i = 0; i < 10; i++)
		beat();
	v2_wait_and_check_drops();
	for (int i = 0; i < 15; i++)
		send_neighbours();
	beat_until(three_items_now, "three own Items while parked", 500);
	check_tables();
	/* 1: plugged, matched, the station opens session 5150 */
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	/* 2: charging at 16 A */
	R.car.charging = 1;
	R.car.current_a = 16.0;
	R.car.soc_pct = 61.0;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	/* 3: the user stops: a stop command on the link, acknowledged (stopped) by the hub; the machine waits for the
	 * current to fall */
	R.car.soc_pct = 62.25;
	set_phase(3);
	cJSON *j = ctl("stop-charging");
	assert_non_null(j);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "requested")));
	cJSON_Delete(j);
	beat_until(stop_seen, "a stop command on the hub link", 250);
	beat_until_state("finishing", 250);
	for (int i = 0; i < 6; i++)
		beat();
	/* 4: the current falls */
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(4);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "stopped_by_user", 5150);
	for (int i = 0; i < 10; i++)
		beat();
	cJSON *st = ctl("status");
	assert_non_null(st);
	assert_int_equal(status_value(st, "hub_io", "stop_no_legacy", 1), 0);
	check_v2g_clean(st);
	cJSON_Delete(st);
	assert_int_equal(rig_stop(), 0);
	/* acknowledged at once: one stop, at most the retries (3 after the first) if the answer was slow */
	assert_true(R.stops_seen >= 1 && R.stops_seen <= 4);
	assert_int_equal(R.acks_sent, R.stops_seen);
	assert_int_equal(R.opens, 1);
	assert_int_equal(R.closes, 1);

	check_espnow();
	read_session_row(row, sizeof(row));
	check_session_row(row, "stopped_by_user", 5150, 60.0, 62.25, 16.0, 55.2, station_total());
	check_out_items();
	check_ready(2, 3);
	size_t v2_items = 0;
	for (size_t i = 0; i < R.n_out; i++)
		v2_items += R.out_items[i].v2;
	print_message("%zu own Items as v2 frames, %zu as legacy frames before the hub's first v2 frame\n", v2_items,
		      R.n_out - v2_items);
	/* legacy frames only before the hub spoke v2 (the parser above takes no legacy frame after a v2 one) */
	assert_true(v2_items >= 10);
	rig_teardown();
}

/* ---- 3. v2 frames, the stop never acknowledged ---- */

/*
 * The station never hears the stop: the request goes out on the link once and then stop_retries more times
 * (--v2g-stop-retries 2, every --v2g-stop-retry-ms 300), never more; the car's own current falls meanwhile (its BMS
 * ends the charge, so the station's meter stops), and with no acknowledgement the session ends
 * `stop_not_acknowledged` (state fault): the driver learns that the station may still hold the session open.
 */
static void test_v2_stop_not_acknowledged(void **state)
{
	static const char *const extra[] = { "--v2g-stop-retries", "2", "--v2g-stop-retry-ms", "300", NULL };
	char row[1024];
	(void)state;

	rig_start("hubnack", 1, extra);
	R.deaf = 1;
	for (int i = 0; i < 10; i++)
		beat();
	beat_until(three_items_now, "three own Items while parked", 500);
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	R.car.charging = 1;
	R.car.current_a = 6.25;
	R.car.soc_pct = 61.0;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	cJSON *j = ctl("stop-charging");
	assert_non_null(j);
	cJSON_Delete(j);
	beat_until(stop_seen, "a stop command on the hub link", 250);
	/* the car's BMS ends the charge: the current falls, the station's meter stops */
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	R.st_charging = 0;
	set_phase(3);
	beat_until_state("fault", 500);
	int stops = R.stops_seen;
	for (int i = 0; i < 40; i++) /* 1.6 s: more than 5 retry periods */
		beat();
	check_sessions_cmd("fault", "stop_not_acknowledged", 5150);
	assert_int_equal(rig_stop(), 0);
	assert_int_equal(stops, 3);          /* the first request and 2 retries */
	assert_int_equal(R.stops_seen, 3);   /* and nothing after the session ended */
	assert_int_equal(R.acks_sent, 0);
	read_session_row(row, sizeof(row));
	check_session_row(row, "stop_not_acknowledged", 5150, 60.0, 61.0, 6.25, 55.2, station_total());
	check_out_items();
	rig_teardown();
}

/* ---- 4. legacy frames, v2xd restarted mid-charge ---- */

/*
 * SIGTERM while charging (an orderly stop: exit 0), the same daemon started again on the same links and directory:
 * the saved session is restored (state charging, the station's session id kept), charging goes on, the BMS ends it
 * and the one row of the session holds the station's energy over both runs (the meter ran on while the daemon was
 * down: the station's counter is the truth) and the duration across the restart.  The files of the second run carry
 * on (a file of the same minute is appended to, without a second header).
 */
static void test_legacy_restart_mid_charge(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubrst", 0, NULL);
	for (int i = 0; i < 10; i++)
		beat();
	beat_until(three_items_now, "three own Items while parked", 500);
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	R.car.charging = 1;
	R.car.current_a = 9.5;
	R.car.soc_pct = 40.5;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	/* the daemon stops; the station's meter runs on for four messages it cannot hear */
	assert_int_equal(rig_stop(), 0);
	pump(200);
	for (int i = 0; i < 4; i++)
		R.st_kwh += R.kwh_step;
	daemon_spawn(NULL);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	/* the BMS ends the charge */
	R.car.power_req = 0;
	R.car.soc_pct = 41.25;
	set_phase(3);
	beat_until(peer_closed, "the station closing its session", 250);
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(4);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "done", 4242);
	assert_int_equal(rig_stop(), 0);
	assert_int_equal(R.opens, 1);
	assert_int_equal(R.closes, 1);
	check_espnow();
	read_session_row(row, sizeof(row));
	check_session_row(row, "done", 4242, 40.0, 41.25, 9.5, 55.2, station_total());
	check_out_items();
	rig_teardown();
}

/* ---- 5. legacy frames, the hub unplugged mid-charge ---- */

/*
 * The hub's USB cable comes out for about a second while charging and goes back in (the same device name, as udev
 * gives it): v2xd sees the hang-up, counts the own Items it could not send (tx_down), reopens the port, and the
 * session goes on (a second of silence is far below the station timeout): one `done` row with the station's energy;
 * every Item the station sent before and after is a row; the Items after the replug carry the decoded state.
 */
static void test_legacy_hub_unplugged_mid_charge(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubplug", 0, NULL);
	for (int i = 0; i < 10; i++)
		beat();
	beat_until(three_items_now, "three own Items while parked", 500);
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	R.car.charging = 1;
	R.car.current_a = 11.0;
	R.car.soc_pct = 52.0;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	/* unplug: everything the station sent was read; what v2xd sent was taken */
	assert_int_equal(test_pty_wait_drained(&R.hub, 10000), 0);
	pump(100);
	assert_int_equal(R.rx_len, 0);
	size_t items_before = R.n_out;
	test_pty_close(&R.hub);
	R.hub_down = 1;
	for (int i = 0; i < 30; i++) /* 1.2 s: several Item periods, far below the 15 s station timeout */
		beat();
	assert_string_equal(daemon_state(), "charging");
	cJSON *st = ctl("status");
	assert_non_null(st);
	print_message("while unplugged: hub_io link \"%s\"\n", status_text(st, "hub_io", "link"));
	assert_true(strncmp(status_text(st, "hub_io", "link"), "down (", 6) == 0);
	cJSON_Delete(st);
	/* plugged in again */
	assert_int_equal(test_pty_open(&R.hub, R.hub_link), 0);
	R.hub_down = 0;
	set_phase(3); /* (the same car: a new phase only marks the Items after the replug) */
	beat_until(three_items_now, "three own Items after the replug", 500);
	for (int i = 0; i < 10; i++)
		beat();
	st = ctl("status");
	assert_non_null(st);
	assert_string_equal(status_text(st, "hub_io", "link"), "up");
	assert_int_equal(status_value(st, "hub_io", "hangups", 0), 1);
	assert_int_equal(status_value(st, "hub_io", "opens", 0), 2);
	long long down = status_value(st, "hub_io", "tx_down", 1);
	print_message("hub unplugged for 30 beats: %lld own Items dropped (tx_down), %zu before, %zu after\n", down,
		      items_before, R.n_out - items_before);
	assert_true(down >= 1);
	cJSON_Delete(st);
	/* the BMS ends the charge */
	R.car.power_req = 0;
	set_phase(4);
	beat_until(peer_closed, "the station closing its session", 250);
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(5);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "done", 4242);
	assert_int_equal(rig_stop(), 0);
	assert_int_equal(R.opens, 1);
	assert_int_equal(R.closes, 1);
	check_espnow();
	read_session_row(row, sizeof(row));
	check_session_row(row, "done", 4242, 40.0, 52.0, 11.0, 55.2, station_total());
	check_out_items();
	rig_teardown();
}

/* ---- 6. v2 frames, the desired SOC set with v2xctl ---- */

static int stops_then_ack(void)
{
	return R.stops_seen >= 1 && R.acks_sent >= 1;
}

/*
 * `v2xctl set-desired-soc 62` while charging at 60 %: the own Items carry 62 from then on; at 61 % nothing happens;
 * at 62.5 % v2xd asks the station to stop (a stop command, acknowledged), the current falls, and the session ends
 * `desired_soc` with the station's energy.
 */
static void test_v2_desired_soc_reached(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubsoc", 1, NULL);
	for (int i = 0; i < 10; i++)
		beat();
	beat_until(three_items_now, "three own Items while parked", 500);
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	R.car.charging = 1;
	R.car.current_a = 13.75;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	cJSON *j = ctl("set-desired-soc 62");
	assert_non_null(j);
	assert_true(jnum(j, "desired_soc") == 62.0);
	cJSON_Delete(j);
	R.car.desired_soc = 62.0;
	set_phase(3);
	/* the machine took it when `sessions` says so; Items from then on carry it */
	for (int i = 0; i < 250; i++) {
		beat();
		if (i % 5 != 4)
			continue;
		j = ctl("sessions");
		double d = j ? jnum(j, "desired_soc") : 0;
		cJSON_Delete(j);
		if (d == 62.0)
			break;
	}
	R.car.soc_pct = 61.0;
	set_phase(4);
	for (int i = 0; i < 20; i++)
		beat();
	assert_int_equal(R.stops_seen, 0);
	assert_string_equal(daemon_state(), "charging");
	R.car.soc_pct = 62.5;
	set_phase(5);
	beat_until(stops_then_ack, "a stop command, acknowledged", 250);
	beat_until_state("finishing", 250);
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(6);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "desired_soc", 5150);
	assert_int_equal(rig_stop(), 0);
	assert_true(R.stops_seen >= 1 && R.stops_seen <= 4);
	assert_int_equal(R.closes, 1);
	read_session_row(row, sizeof(row));
	check_session_row(row, "desired_soc", 5150, 60.0, 62.5, 13.75, 55.2, station_total());
	check_espnow();
	check_out_items();
	size_t with_62 = 0;
	for (size_t i = 0; i < R.n_out; i++)
		with_62 += R.out_items[i].phase >= 4 && R.out_items[i].it.desired_soc == 62.0f;
	assert_true(with_62 >= 3);
	rig_teardown();
}

/* ---- 7. legacy frames, the station restarts mid-charge ---- */

/*
 * The station reboots while charging: its uptime starts again from 0.5 s, its session id and energy counter are
 * gone; the vehicle still asks to charge, so it opens a new session (4243) and counts from 0.  The vehicle's session
 * goes on: one row, the original session id (4242), the station's energy the sum of both of its sessions.
 */
static void test_legacy_station_restarts(void **state)
{
	char row[1024];
	(void)state;

	rig_start("hubsrst", 0, NULL);
	for (int i = 0; i < 10; i++)
		beat();
	beat_until(three_items_now, "three own Items while parked", 500);
	R.car.plug = 1;
	set_phase(1);
	beat_until_state("negotiating", 250);
	beat_until(peer_opened, "a session at the station", 250);
	R.car.charging = 1;
	R.car.current_a = 7.5;
	R.car.soc_pct = 45.0;
	R.car.bms_state = 0x0A;
	R.st_charging = 1;
	set_phase(2);
	beat_until_state("charging", 250);
	for (int i = 0; i < 20; i++)
		beat();
	/* the reboot */
	R.kwh_base = (double)R.st_kwh;
	R.st_kwh = 0;
	R.st_session = 0;
	R.st_uptime = 500;
	for (int i = 0; i < 30; i++)
		beat();
	assert_int_equal(R.opens, 2); /* the Items still asked to charge: a new session */
	assert_string_equal(daemon_state(), "charging");
	R.car.power_req = 0;
	R.car.soc_pct = 46.25;
	set_phase(3);
	beat_until(peer_closed, "the station closing its session", 250);
	R.car.charging = 0;
	R.car.current_a = 0.0;
	R.car.bms_state = 0x24;
	set_phase(4);
	beat_until_state("ended", 250);
	check_sessions_cmd("ended", "done", 4242);
	assert_int_equal(rig_stop(), 0);
	print_message("station energy: %.4f kWh before its restart + %.4f after\n", R.kwh_base, (double)R.st_kwh);
	assert_true(R.kwh_base > 0.1 && R.st_kwh > 0.1f);
	read_session_row(row, sizeof(row));
	check_session_row(row, "done", 4242, 40.0, 46.25, 7.5, 55.2, station_total());
	check_espnow();
	check_out_items();
	rig_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_legacy_hub_session, teardown),
		cmocka_unit_test_teardown(test_v2_hub_stop_by_user, teardown),
		cmocka_unit_test_teardown(test_v2_stop_not_acknowledged, teardown),
		cmocka_unit_test_teardown(test_legacy_restart_mid_charge, teardown),
		cmocka_unit_test_teardown(test_legacy_hub_unplugged_mid_charge, teardown),
		cmocka_unit_test_teardown(test_v2_desired_soc_reached, teardown),
		cmocka_unit_test_teardown(test_legacy_station_restarts, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_hub_frame.c - the hub link receiver and encoders (stages/hub_io/hub_frame.h).
 *
 * Frames are built here byte by byte from the Item layout of ../shared/facts/legacy-system.md (link 2): offsets
 * 0 soc u16, 4 battery_voltage f32, 8 battery_current, 12 available_energy, 16 charging_status u8, 20 speed_kmh,
 * 24 acceleration, 28 gear char[4], 32 brake u8, 36 lat, 40 lon, 44 alt, 48 gps_valid, 49 is_charging_detected,
 * 52 desired_soc, 56 ready_to_charge, 57 mac[6], 64 timestamp u32, 68 session_cost, 72 cost_per_kwh, 76 max_power,
 * 80 session_id u32, 84 charging_available; little-endian, 88 bytes.  Float bit patterns are written as IEEE-754
 * hex worked out by hand (57.5 = 0x42660000, -12.5 = 0xC1480000, 48.0 = 0x42400000, 11.5 = 0x41380000,
 * 230.0 = 0x43660000, 1.5 = 0x3FC00000, 3000.0 = 0x453B8000, 16.0 = 0x41800000, 2.0 = 0x40000000), never produced by
 * the code under test.  v2 frames come from firmware/proto (v2x_frame_encode), the protocol's reference encoder.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "v2x_proto.h"
#include "stages/hub_io/hub_frame.h"

#define MAX_EV 64

struct coll {
	unsigned n;
	struct hub_event ev[MAX_EV];
	uint8_t raw[MAX_EV][300];
};

static void collect(void *ctx, const struct hub_event *ev)
{
	struct coll *c = ctx;

	if (c->n < MAX_EV) {
		c->ev[c->n] = *ev;
		memcpy(c->raw[c->n], ev->raw, ev->len < 300 ? ev->len : 300);
		c->ev[c->n].raw = c->raw[c->n];
		c->ev[c->n].v2 = NULL;
	}
	c->n++;
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A vehicle frame: AA 55, soc 80, 57.5 V, -12.5 A, 2.0 kWh, status 0x2A, 16 km/h, accel 1.5, "Dri", brake 1,
 * lat 48.0, lon 11.5, alt 16.0, gps_valid 1, not charging, desired 80 -> we use 0 here, ready 0,
 * mac 24:6F:28:01:02:03, timestamp 0x01020304, evcs fields 0. */
static void vehicle_frame(uint8_t f[90])
{
	uint8_t *b = f + 2;

	memset(f, 0, 90);
	f[0] = 0xAA;
	f[1] = 0x55;
	b[0] = 80;
	b[1] = 0;
	le32(b + 4, 0x42660000u);  /* 57.5 */
	le32(b + 8, 0xC1480000u);  /* -12.5 */
	le32(b + 12, 0x40000000u); /* 2.0 */
	b[16] = 0x2A;
	le32(b + 20, 0x41800000u); /* 16.0 */
	le32(b + 24, 0x3FC00000u); /* 1.5 */
	memcpy(b + 28, "Dri", 4);
	b[32] = 1;
	le32(b + 36, 0x42400000u); /* 48.0 */
	le32(b + 40, 0x41380000u); /* 11.5 */
	le32(b + 44, 0x41800000u); /* 16.0 */
	b[48] = 1;
	b[57] = 0x24;
	b[58] = 0x6F;
	b[59] = 0x28;
	b[60] = 0x01;
	b[61] = 0x02;
	b[62] = 0x03;
	le32(b + 64, 0x01020304u);
}

/* A station frame: soc FFFF, AC 230 V, max 16 A, energy 2.0 kWh, lat 48.0, lon 11.5, gps_valid 1 (available),
 * mac 30:AE:A4:00:00:01, uptime 60000 ms, cost 3.0 (0x40400000), price 1.5, max power 3000 W, session 7,
 * available 1. */
static void station_frame(uint8_t f[90])
{
	uint8_t *b = f + 2;

	memset(f, 0, 90);
	f[0] = 0xAA;
	f[1] = 0x55;
	b[0] = 0xFF;
	b[1] = 0xFF;
	le32(b + 4, 0x43660000u);
	le32(b + 8, 0x41800000u);
	le32(b + 12, 0x40000000u);
	le32(b + 36, 0x42400000u);
	le32(b + 40, 0x41380000u);
	b[48] = 1;
	b[57] = 0x30;
	b[58] = 0xAE;
	b[59] = 0xA4;
	b[62] = 0x01;
	le32(b + 64, 60000);
	le32(b + 68, 0x40400000u);
	le32(b + 72, 0x3FC00000u);
	le32(b + 76, 0x453B8000u);
	le32(b + 80, 7);
	b[84] = 1;
}

static void run(struct coll *c, enum hub_format mode, const uint8_t *s, size_t n, int bytewise)
{
	struct hub_parser p;

	memset(c, 0, sizeof(*c));
	hub_parser_init(&p, mode);
	if (bytewise)
		for (size_t i = 0; i < n; i++)
			hub_parser_feed(&p, s + i, 1, collect, c);
	else
		hub_parser_feed(&p, s, n, collect, c);
	hub_parser_finish(&p, collect, c);
}

static void test_vehicle_fields(void **state)
{
	uint8_t f[90];
	struct coll c;

	vehicle_frame(f);
	for (int bw = 0; bw < 2; bw++) {
		run(&c, HUB_FMT_AUTO, f, 90, bw);
		assert_int_equal(c.n, 1);
		const struct hub_item *it = &c.ev[0].item;
		assert_int_equal(c.ev[0].kind, HUB_EV_ITEM);
		assert_int_equal(c.ev[0].len, 90);
		assert_int_equal(it->soc, 80);
		assert_true(it->battery_voltage == 57.5f);
		assert_true(it->battery_current == -12.5f);
		assert_true(it->available_energy == 2.0f);
		assert_int_equal(it->charging_status, 0x2A);
		assert_true(it->speed_kmh == 16.0f);
		assert_true(it->acceleration == 1.5f);
		assert_string_equal(it->gear, "Dri");
		assert_int_equal(it->brake_status, 1);
		assert_true(it->gps_latitude == 48.0f);
		assert_true(it->gps_longitude == 11.5f);
		assert_true(it->gps_altitude == 16.0f);
		assert_int_equal(it->gps_valid, 1);
		static const uint8_t mac[6] = { 0x24, 0x6F, 0x28, 0x01, 0x02, 0x03 };
		assert_memory_equal(it->mac, mac, 6);
		assert_int_equal(it->timestamp, 0x01020304u);
		assert_int_equal(c.ev[0].has_seq, 0);
	}
}

static void test_station_fields(void **state)
{
	uint8_t f[90];
	struct coll c;

	station_frame(f);
	run(&c, HUB_FMT_LEGACY, f, 90, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ev[0].kind, HUB_EV_STATION);
	const struct hub_item *it = &c.ev[0].item;
	assert_true(it->battery_voltage == 230.0f);
	assert_true(it->battery_current == 16.0f);
	assert_true(it->evcs_cost_per_kwh == 1.5f);
	assert_true(it->evcs_max_power == 3000.0f);
	assert_true(it->evcs_session_cost == 3.0f);
	assert_int_equal(it->evcs_session_id, 7);
	assert_int_equal(it->evcs_charging_available, 1);
	assert_int_equal(it->timestamp, 60000);
}

/* The encoder writes the same bytes as the frame built from the layout. */
static void test_encode_matches_layout(void **state)
{
	uint8_t f[90], out[90];
	struct hub_item it;

	vehicle_frame(f);
	hub_item_unpack(f + 2, &it);
	assert_int_equal(hub_encode_legacy(&it, out, sizeof(out)), 90);
	assert_memory_equal(out, f, 90);
	station_frame(f);
	hub_item_unpack(f + 2, &it);
	assert_int_equal(hub_encode_legacy(&it, out, sizeof(out)), 90);
	assert_memory_equal(out, f, 90);
	assert_int_equal(hub_encode_legacy(&it, out, 89), -ENOBUFS);
}

static void test_resync_aa_aa_55(void **state)
{
	uint8_t s[1 + 90], f[90];
	struct coll c;

	vehicle_frame(f);
	s[0] = 0xAA; /* AA AA 55 ...: the legacy receiver lost this frame */
	memcpy(s + 1, f, 90);
	run(&c, HUB_FMT_AUTO, s, sizeof(s), 0);
	/* the lone AA is a one-byte garbage unit, then the item */
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].kind, HUB_EV_REJECT);
	assert_int_equal(c.ev[0].reason, HUB_REJ_GARBAGE);
	assert_int_equal(c.ev[1].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[1].item.soc, 80);
}

static void test_boot_log(void **state)
{
	static const char boot[] = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n"
				   "\x1b[0;32mI (29) boot: ESP-IDF v4.4\x1b[0m\r\n";
	uint8_t s[sizeof(boot) - 1 + 90 + 8], f[90];
	struct coll c;

	memcpy(s, boot, sizeof(boot) - 1);
	vehicle_frame(f);
	memcpy(s + sizeof(boot) - 1, f, 90);
	memcpy(s + sizeof(boot) - 1 + 90, "tail\r\n\x01\x02", 8);
	run(&c, HUB_FMT_AUTO, s, sizeof(s), 1);
	assert_int_equal(c.n, 6);
	assert_int_equal(c.ev[0].kind, HUB_EV_IGNORED);
	assert_int_equal(c.ev[0].len, strlen("ets Jun  8 2016 00:22:57"));
	assert_int_equal(c.ev[1].kind, HUB_EV_IGNORED);
	assert_int_equal(c.ev[2].kind, HUB_EV_IGNORED); /* ESC sequences are log colours */
	assert_int_equal(c.ev[3].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[4].kind, HUB_EV_IGNORED);
	assert_int_equal(c.ev[5].kind, HUB_EV_REJECT);
	assert_int_equal(c.ev[5].reason, HUB_REJ_GARBAGE);
}

/* A frame cut after 30 bytes, then a whole frame: the truncated one is rejected, the next one is kept. */
static void test_truncated_then_whole(void **state)
{
	uint8_t s[2 + 30 + 90], f[90], g[90];
	struct coll c;

	vehicle_frame(f);
	station_frame(g);
	memcpy(s, f, 32);
	memcpy(s + 32, g, 90);
	run(&c, HUB_FMT_AUTO, s, sizeof(s), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].kind, HUB_EV_REJECT);
	assert_int_equal(c.ev[0].reason, HUB_REJ_TRUNCATED);
	assert_int_equal(c.ev[0].len, 32);
	assert_int_equal(c.ev[1].kind, HUB_EV_STATION);
	assert_int_equal(c.ev[1].item.evcs_session_id, 7);
	/* the same, byte by byte */
	run(&c, HUB_FMT_AUTO, s, sizeof(s), 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[1].kind, HUB_EV_STATION);
	/* a partial frame at the end of input */
	run(&c, HUB_FMT_AUTO, f, 50, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ev[0].reason, HUB_REJ_TRUNCATED);
}

/* A bad frame whose last byte (padding at offset 87) is AA, then 55 + a body: the AA starts the next header. */
static void test_trailing_aa(void **state)
{
	static const uint8_t nan_f[4] = { 0x00, 0x00, 0xC0, 0x7F };
	uint8_t s[90 + 89], f[90];
	struct coll c;

	vehicle_frame(f);
	memcpy(s, f, 90);
	memcpy(s + 2 + 4, nan_f, 4);
	s[2 + 87] = 0xAA;
	memcpy(s + 90, f + 1, 89); /* 55 + body */
	run(&c, HUB_FMT_AUTO, s, sizeof(s), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, HUB_REJ_NON_FINITE);
	assert_int_equal(c.ev[1].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[1].item.soc, 80);
}

/* AA 55 inside a valid frame's data is data: timestamp 0x000055AA puts AA 55 at body offset 64. */
static void test_header_bytes_inside_valid_frame(void **state)
{
	uint8_t f[90];
	struct coll c;

	vehicle_frame(f);
	le32(f + 2 + 64, 0x000055AAu);
	run(&c, HUB_FMT_AUTO, f, 90, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ev[0].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[0].item.timestamp, 0x55AAu);
}

static void expect_vehicle_reject(int off, const uint8_t *bytes, size_t n, enum hub_reject want)
{
	uint8_t f[90];
	struct coll c;

	vehicle_frame(f);
	memcpy(f + 2 + off, bytes, n);
	run(&c, HUB_FMT_LEGACY, f, 90, 0);
	assert_int_equal(c.n, 1);
	if (c.ev[0].kind != HUB_EV_REJECT || c.ev[0].reason != want)
		fail_msg("offset %d: kind %s reason %s, want %s", off, hub_event_kind_name(c.ev[0].kind),
			 hub_reject_name(c.ev[0].reason), hub_reject_name(want));
}

static void expect_station_reject(int off, const uint8_t *bytes, size_t n, enum hub_reject want)
{
	uint8_t f[90];
	struct coll c;

	station_frame(f);
	memcpy(f + 2 + off, bytes, n);
	run(&c, HUB_FMT_LEGACY, f, 90, 0);
	assert_int_equal(c.n, 1);
	if (c.ev[0].kind != HUB_EV_REJECT || c.ev[0].reason != want)
		fail_msg("station offset %d: kind %s reason %s, want %s", off, hub_event_kind_name(c.ev[0].kind),
			 hub_reject_name(c.ev[0].reason), hub_reject_name(want));
}

static void test_validation(void **state)
{
	static const uint8_t nan_f[4] = { 0x00, 0x00, 0xC0, 0x7F }, inf_f[4] = { 0x00, 0x00, 0x80, 0x7F },
			     ninf_f[4] = { 0x00, 0x00, 0x80, 0xFF };
	static const uint8_t soc101[2] = { 101, 0 }, soc100[2] = { 100, 0 };
	static const uint8_t gear4[4] = { 'D', 'r', 'i', 'v' }, gear_ctl[4] = { 'D', 0x01, 0, 0 };
	static const uint8_t two = 2;
	static const uint8_t f91[4] = { 0x00, 0x00, 0xB6, 0x42 };   /* 91.0 */
	static const uint8_t f181[4] = { 0x00, 0x00, 0x35, 0x43 };  /* 181.0 */
	static const uint8_t f101[4] = { 0x00, 0x00, 0xCA, 0x42 };  /* 101.0 */
	static const uint8_t fm600[4] = { 0x00, 0x00, 0x16, 0xC4 }; /* -600.0 */
	static const uint8_t f250[4] = { 0x00, 0x00, 0x7A, 0x43 };  /* 250.0 */
	static const uint8_t fm1[4] = { 0x00, 0x00, 0x80, 0xBF };   /* -1.0 */
	static const uint8_t f1000[4] = { 0x00, 0x00, 0x7A, 0x44 }; /* 1000.0 */
	static const uint8_t zero6[6] = { 0 }, mcast[6] = { 0x01, 0, 0x5E, 0, 0, 1 };

	expect_vehicle_reject(4, nan_f, 4, HUB_REJ_NON_FINITE);
	expect_vehicle_reject(36, inf_f, 4, HUB_REJ_NON_FINITE);
	expect_vehicle_reject(76, ninf_f, 4, HUB_REJ_NON_FINITE);
	expect_vehicle_reject(0, soc101, 2, HUB_REJ_SOC_RANGE);
	expect_vehicle_reject(28, gear4, 4, HUB_REJ_GEAR);
	expect_vehicle_reject(28, gear_ctl, 4, HUB_REJ_GEAR);
	expect_vehicle_reject(32, &two, 1, HUB_REJ_BAD_BOOL);
	expect_vehicle_reject(56, &two, 1, HUB_REJ_BAD_BOOL);
	expect_vehicle_reject(36, f91, 4, HUB_REJ_GPS_RANGE);
	expect_vehicle_reject(40, f181, 4, HUB_REJ_GPS_RANGE);
	expect_vehicle_reject(4, f101, 4, HUB_REJ_VOLTAGE_RANGE);
	expect_vehicle_reject(8, fm600, 4, HUB_REJ_CURRENT_RANGE);
	expect_vehicle_reject(12, f101, 4, HUB_REJ_ENERGY_RANGE);
	expect_vehicle_reject(20, f250, 4, HUB_REJ_SPEED_RANGE);
	expect_vehicle_reject(52, f101, 4, HUB_REJ_DESIRED_SOC_RANGE);
	expect_vehicle_reject(72, fm1, 4, HUB_REJ_EVCS_RANGE);
	expect_vehicle_reject(57, zero6, 6, HUB_REJ_BAD_MAC);
	expect_vehicle_reject(57, mcast, 6, HUB_REJ_BAD_MAC);
	/* station marker with nonsense fields */
	expect_station_reject(4, f1000, 4, HUB_REJ_STATION_FIELDS);  /* 1000 V AC */
	expect_station_reject(8, f101, 4, HUB_REJ_STATION_FIELDS);   /* 101 A */
	expect_station_reject(12, fm1, 4, HUB_REJ_STATION_FIELDS);   /* -1 kWh */
	expect_station_reject(72, f101, 4, HUB_REJ_STATION_FIELDS);  /* price 101 */
	expect_station_reject(48, &two, 1, HUB_REJ_BAD_BOOL);
	expect_station_reject(68, nan_f, 4, HUB_REJ_NON_FINITE);
	/* boundaries accepted: soc 100, gear "" */
	{
		uint8_t f[90];
		struct coll c;

		vehicle_frame(f);
		memcpy(f + 2, soc100, 2);
		memset(f + 2 + 28, 0, 4);
		run(&c, HUB_FMT_LEGACY, f, 90, 0);
		assert_int_equal(c.ev[0].kind, HUB_EV_ITEM);
	}
}

/* A garbage NaN item followed by a good one: each gets its event; the counters per reason add up. */
static void test_counters(void **state)
{
	static const uint8_t nan_f[4] = { 0x00, 0x00, 0xC0, 0x7F };
	uint8_t s[3 * 90 + 5], f[90];
	struct hub_parser p;
	struct coll c;

	memset(&c, 0, sizeof(c));
	vehicle_frame(f);
	memcpy(s, f, 90);
	memcpy(s + 90, f, 90);
	memcpy(s + 90 + 2 + 8, nan_f, 4);
	memcpy(s + 180, "junk\n", 5);
	station_frame(f);
	memcpy(s + 185, f, 90);
	hub_parser_init(&p, HUB_FMT_AUTO);
	hub_parser_feed(&p, s, sizeof(s), collect, &c);
	hub_parser_finish(&p, collect, &c);
	assert_int_equal(c.n, 4);
	assert_int_equal(p.stats.events[HUB_EV_ITEM], 1);
	assert_int_equal(p.stats.events[HUB_EV_STATION], 1);
	assert_int_equal(p.stats.events[HUB_EV_REJECT], 1);
	assert_int_equal(p.stats.events[HUB_EV_IGNORED], 1);
	assert_int_equal(p.stats.rejects[HUB_REJ_NON_FINITE], 1);
	assert_int_equal(p.stats.bytes, sizeof(s));
	assert_int_equal(hub_parser_format(&p), HUB_FMT_LEGACY);
}

static int v2_frame(uint8_t type, uint32_t seq, const void *pl, size_t n, uint8_t *out)
{
	int r = v2x_frame_encode(type, seq, 1000u * seq, pl, n, out, V2X_WIRE_MAX);

	assert_true(r > 0);
	return r;
}

static void test_v2_detect_and_seq(void **state)
{
	uint8_t s[1024], f[90];
	size_t n = 0;
	struct hub_parser p;
	struct coll c;
	uint8_t ack[6] = { 0x10, 0, 0, 0, V2X_T_CMD, 0 };

	memset(&c, 0, sizeof(c));
	memcpy(s, "boot text\r\n", 11);
	n = 11;
	vehicle_frame(f);
	n += (size_t)v2_frame(V2X_T_V2X_ITEM, 5, f + 2, 88, s + n);
	station_frame(f);
	n += (size_t)v2_frame(V2X_T_V2X_ITEM, 6, f + 2, 88, s + n);
	n += (size_t)v2_frame(V2X_T_ACK, 9, ack, 6, s + n); /* 7 and 8 lost */
	n += (size_t)v2_frame(V2X_T_CAN, 10, "\x55\x01\x00\x00\x00", 5, s + n);
	s[n++] = 0x11; /* a corrupt unit */
	s[n++] = 0x22;
	s[n++] = 0x00;
	n += (size_t)v2_frame(V2X_T_V2X_ITEM, 2, f + 2, 88, s + n); /* device restarted */
	hub_parser_init(&p, HUB_FMT_AUTO);
	for (size_t i = 0; i < n; i += 7)
		hub_parser_feed(&p, s + i, n - i < 7 ? n - i : 7, collect, &c);
	hub_parser_finish(&p, collect, &c);
	assert_int_equal(hub_parser_format(&p), HUB_FMT_V2);
	assert_int_equal(c.n, 7);
	assert_int_equal(c.ev[0].kind, HUB_EV_IGNORED);
	assert_int_equal(c.ev[1].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[1].has_seq, 1);
	assert_int_equal(c.ev[1].seq, 5);
	assert_int_equal(c.ev[1].dev_time_us, 5000);
	assert_int_equal(c.ev[1].item.soc, 80);
	assert_int_equal(c.ev[2].kind, HUB_EV_STATION);
	assert_int_equal(c.ev[3].kind, HUB_EV_ACK);
	assert_int_equal(c.ev[3].ack_seq, 0x10);
	assert_int_equal(c.ev[3].ack_type, V2X_T_CMD);
	assert_int_equal(c.ev[4].reason, HUB_REJ_V2_DIRECTION);
	assert_int_equal(c.ev[5].kind, HUB_EV_REJECT);
	assert_int_equal(c.ev[6].kind, HUB_EV_STATION);
	assert_int_equal(p.stats.v2_lost, 2);
	assert_int_equal(p.stats.v2_restarts, 1);
}

static void test_v2_item_validated_and_crc(void **state)
{
	static const uint8_t nan_f[4] = { 0x00, 0x00, 0xC0, 0x7F };
	uint8_t s[600], f[90];
	size_t n = 0;
	struct coll c;

	vehicle_frame(f);
	memcpy(f + 2 + 20, nan_f, 4);
	n += (size_t)v2_frame(V2X_T_V2X_ITEM, 1, f + 2, 88, s + n);
	vehicle_frame(f);
	size_t at = n;
	n += (size_t)v2_frame(V2X_T_V2X_ITEM, 2, f + 2, 88, s + n);
	s[at + 40] ^= 0x01; /* a flipped bit: CRC (or COBS) failure */
	run(&c, HUB_FMT_V2, s, n, 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, HUB_REJ_NON_FINITE);
	assert_int_equal(c.ev[1].kind, HUB_EV_REJECT);
	assert_true(c.ev[1].reason == HUB_REJ_V2_CRC || c.ev[1].reason == HUB_REJ_V2_COBS);
}

static void test_v2_overlong_falls_back(void **state)
{
	uint8_t s[V2X_WIRE_MAX + 300 + 90], f[90];
	struct hub_parser p;
	struct coll c;
	size_t n;

	memset(&c, 0, sizeof(c));
	vehicle_frame(f);
	n = (size_t)v2_frame(V2X_T_V2X_ITEM, 1, f + 2, 88, s);
	memset(s + n, 'x', 300); /* a legacy hub again: no 0x00 for 300 bytes */
	s[n + 299] = '\n';
	memcpy(s + n + 300, f, 90);
	hub_parser_init(&p, HUB_FMT_AUTO);
	hub_parser_feed(&p, s, n + 390, collect, &c);
	hub_parser_finish(&p, collect, &c);
	assert_int_equal(c.ev[0].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[1].reason, HUB_REJ_OVERLONG);
	assert_int_equal(c.ev[c.n - 1].kind, HUB_EV_ITEM);
	assert_int_equal(c.ev[c.n - 1].unit_format, HUB_FMT_LEGACY);
	assert_int_equal(hub_parser_format(&p), HUB_FMT_LEGACY);
}

/* The stop command of the project's hub firmware (firmware/apps/v2x_hub/hub.h): V2X_T_CMD, payload the one byte
 * HUB_CMD_STOP_CHARGING (1). */
static void test_stop_command(void **state)
{
	uint8_t out[V2X_WIRE_MAX];
	struct v2x_frame fr;
	int n = hub_encode_stop(42, 7, out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal(out[n - 1], 0);
	assert_int_equal(v2x_frame_decode(out, (size_t)n - 1, &fr), 0);
	assert_int_equal(fr.type, V2X_T_CMD);
	assert_int_equal(fr.seq, 42);
	assert_int_equal(fr.dev_time_us, 7);
	assert_int_equal(fr.len, 1);
	assert_int_equal(fr.payload[0], 1);
	assert_true(hub_is_stop_cmd(fr.payload, fr.len));
	fr.payload[0] = 2;
	assert_false(hub_is_stop_cmd(fr.payload, fr.len));
	assert_true(hub_stop_result_final(0));  /* stopped */
	assert_true(hub_stop_result_final(1));  /* no session */
	assert_false(hub_stop_result_final(2)); /* no answer from the station */
	assert_false(hub_stop_result_final(5)); /* busy: a repeat */
}

static void test_names(void **state)
{
	assert_string_equal(hub_reject_name(HUB_REJ_TRUNCATED), "truncated");
	assert_string_equal(hub_reject_name(HUB_REJ_STATION_FIELDS), "station_fields");
	assert_string_equal(hub_reject_name(HUB_REJ__COUNT), "invalid");
	for (int r = 1; r < HUB_REJ__COUNT; r++)
		assert_true(strcmp(hub_reject_name((enum hub_reject)r), "invalid") != 0);
	char mac[18];
	static const uint8_t m[6] = { 0x24, 0x6F, 0x28, 0x01, 0x0A, 0xFF };
	assert_int_equal(hub_mac_format(m, mac, sizeof(mac)), 17);
	assert_string_equal(mac, "24:6F:28:01:0A:FF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vehicle_fields),
		cmocka_unit_test(test_station_fields),
		cmocka_unit_test(test_encode_matches_layout),
		cmocka_unit_test(test_resync_aa_aa_55),
		cmocka_unit_test(test_boot_log),
		cmocka_unit_test(test_truncated_then_whole),
		cmocka_unit_test(test_header_bytes_inside_valid_frame),
		cmocka_unit_test(test_trailing_aa),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_v2_detect_and_seq),
		cmocka_unit_test(test_v2_item_validated_and_crc),
		cmocka_unit_test(test_v2_overlong_falls_back),
		cmocka_unit_test(test_stop_command),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

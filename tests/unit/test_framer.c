/*
 * test_framer.c - the can_rx framing layer (stages/can_rx/framer.h) on legacy text streams.
 *
 * Expected values come from the link-1 specification (../shared/facts/legacy-system.md): SIM lines carry Linux
 * CAN flag bits and always 8 bytes, of which those at or past dlc must be stored as 0; GPS lines print hour + 1
 * with no wrap, so the UTC hour is h - 1 (24 -> 23); validity is the last token.  NMEA and candump details are in
 * test_nmea.c and test_candump.c; v2 frames and detection in test_v2x_proto.c.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "v2x_proto.h"
#include "stages/can_rx/framer.h"

#define MAX_EV 128

struct coll {
	unsigned n;
	struct rx_event ev[MAX_EV];
	char text[MAX_EV][FRAMER_MAX_LINE + 8];
};

static void collect(void *ctx, const struct rx_event *ev)
{
	struct coll *c = ctx;

	if (c->n < MAX_EV) {
		c->ev[c->n] = *ev;
		size_t n = ev->len < FRAMER_MAX_LINE + 8 ? ev->len : FRAMER_MAX_LINE + 7;
		memcpy(c->text[c->n], ev->text, n);
		c->text[c->n][n] = 0;
		c->ev[c->n].text = c->text[c->n];
		c->ev[c->n].v2 = NULL;
	}
	c->n++;
}

static void run(struct coll *c, enum framer_mode mode, const char *s, size_t n)
{
	struct framer f;

	memset(c, 0, sizeof(*c));
	framer_init(&f, mode);
	framer_feed(&f, s, n, collect, c);
	framer_finish(&f, collect, c);
}

static void run_str(struct coll *c, const char *s)
{
	run(c, FRAMER_AUTO, s, strlen(s));
}

/* One line in AUTO mode; exactly one event expected. */
static struct rx_event one(const char *line)
{
	static struct coll c;

	run_str(&c, line);
	if (c.n != 1)
		fail_msg("'%s': %u events", line, c.n);
	return c.ev[0];
}

static void expect_reject(const char *line, enum rx_reject r)
{
	struct rx_event ev = one(line);

	if (ev.kind != RX_EV_REJECT || ev.reason != r)
		fail_msg("'%s': kind %d reason %s, want %s", line, ev.kind, rx_reject_name(ev.reason), rx_reject_name(r));
}

static void assert_near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12f, want %.12f", got, want);
}

#define SIM1 "SIM 155 8 01 97 CE 54 9B 38 00 73"

static void test_sim(void **state)
{
	static const uint8_t d1[8] = {0x01, 0x97, 0xCE, 0x54, 0x9B, 0x38, 0x00, 0x73};
	struct rx_event ev = one(SIM1 "\r\n");

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.type, REC_CAN);
	assert_int_equal(ev.rec.u.can.id, 0x155);
	assert_int_equal(ev.rec.u.can.dlc, 8);
	assert_memory_equal(ev.rec.u.can.data, d1, 8);
	assert_int_equal(ev.rec.flags, 0);
	assert_int_equal(ev.len, strlen(SIM1)); /* the text is the line without CRLF */
	assert_memory_equal(ev.text, SIM1, strlen(SIM1));
}

static void test_sim_dlc_zeroing(void **state)
{
	static const uint8_t d3[8] = {0x11, 0x22, 0x33, 0, 0, 0, 0, 0};
	static const uint8_t d0[8] = {0};
	struct rx_event ev = one("SIM 1A2 3 11 22 33 44 55 66 77 88\n");

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.u.can.id, 0x1A2);
	assert_int_equal(ev.rec.u.can.dlc, 3);
	assert_memory_equal(ev.rec.u.can.data, d3, 8);
	ev = one("SIM 7ff 0 FF FF FF FF FF FF FF FF\n"); /* lower-case id */
	assert_int_equal(ev.rec.u.can.id, 0x7FF);
	assert_int_equal(ev.rec.u.can.dlc, 0);
	assert_memory_equal(ev.rec.u.can.data, d0, 8);
}

static void test_sim_extended_rtr(void **state)
{
	struct rx_event ev = one("SIM 98FF50E5 8 01 02 03 04 05 06 07 08\n");

	assert_int_equal(ev.rec.u.can.id, 0x18FF50E5u | CAN_EFF_FLAG); /* the flag bit 0x80000000: extended */
	ev = one("SIM 80000123 2 AA BB 00 00 00 00 00 00\n"); /* the flag bit: extended even below 0x800 */
	assert_int_equal(ev.rec.u.can.id, 0x123u | CAN_EFF_FLAG);
	assert_int_equal(ev.rec.u.can.data[1], 0xBB);
	ev = one("SIM 40000155 8 11 22 33 44 55 66 77 88\n"); /* remote: no data */
	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.u.can.id, 0x155u | CAN_RTR_FLAG);
	assert_int_equal(ev.rec.u.can.dlc, 8);
	assert_int_equal(ev.rec.u.can.data[0], 0);
	ev = one("SIM C0001234 4 00 00 00 00 00 00 00 00\n");
	assert_int_equal(ev.rec.u.can.id, 0x1234u | CAN_EFF_FLAG | CAN_RTR_FLAG);
}

static void test_sim_rejects(void **state)
{
	expect_reject("SIM 155 9 01 97 CE 54 9B 38 00 73\n", RX_REJ_SIM);      /* dlc 9 */
	expect_reject("SIM 155 8 01 97 CE 54 9B 38 00\n", RX_REJ_SIM);         /* 7 bytes */
	expect_reject("SIM 155 8 01 97 CE 54 9B 38 00 73 11\n", RX_REJ_SIM);   /* 9 bytes */
	expect_reject("SIM 155 8 01 97 CE 54 9B 38 00 7G\n", RX_REJ_SIM);      /* not hex */
	expect_reject("SIM 155 8 01 97 CE 54 9B 38 00 7\n", RX_REJ_SIM);       /* one digit */
	expect_reject("SIM 123456789 8 01 97 CE 54 9B 38 00 73\n", RX_REJ_SIM); /* 9-digit id */
	expect_reject("SIM 20000155 8 01 97 CE 54 9B 38 00 73\n", RX_REJ_SIM);  /* error-frame flag */
	/* Issue 12 item 7: above 0x7FF without the extended flag bit is a corrupted line with its own reason. */
	expect_reject("SIM 1558 7 01 97 CE 54 9B 38 00 73\n", RX_REJ_SIM_ID);
	expect_reject("SIM 800 8 01 02 03 04 05 06 07 08\n", RX_REJ_SIM_ID);
	expect_reject("SIM 18FF50E5 8 01 02 03 04 05 06 07 08\n", RX_REJ_SIM_ID);
	expect_reject("SIM 40000800 8 01 02 03 04 05 06 07 08\n", RX_REJ_SIM_ID); /* remote flag only */
	struct rx_event ev = one("SIM 0155 8 01 02 03 04 05 06 07 08\n"); /* padded, yet a standard id */
	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.u.can.id, 0x155);
	expect_reject("SIM  8 01 97 CE 54 9B 38 00 73\n", RX_REJ_SIM);          /* no id */
	expect_reject("SIM\n", RX_REJ_SIM);
	expect_reject("SIM 155 8 01 97 CE 54 9B 38 00 73\x01\n", RX_REJ_BINARY);
}

static void test_gps_10_tokens(void **state)
{
	struct rx_event ev = one("GPS 48.117300 11.516667 545.4 12.5 8 0.90 2024-3-5 13:4:7 1\r\n");
	const struct gps_fix *g = &ev.rec.u.gps;

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.type, REC_GPS);
	assert_near(g->lat_deg, 48.1173);
	assert_near(g->lon_deg, 11.516667);
	assert_near(g->alt_m, 545.4);
	assert_near(g->speed_kmh, 12.5);
	assert_near(g->hdop, 0.9);
	assert_int_equal(g->sats, 8);
	assert_int_equal(g->year, 2024);
	assert_int_equal(g->month, 3);
	assert_int_equal(g->day, 5);
	assert_int_equal(g->hour, 12); /* printed 13 = UTC + 1 */
	assert_int_equal(g->min, 4);
	assert_int_equal(g->sec, 7);
	assert_int_equal(g->valid, 1);
	assert_int_equal(g->have, GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SPEED | GPS_HAVE_SATS | GPS_HAVE_HDOP |
					  GPS_HAVE_DATE | GPS_HAVE_TIME);
}

static void test_gps_hour_24(void **state)
{
	/* 23:59:59 UTC printed as hour 24 (no wrap); the date stays. */
	struct rx_event ev = one("GPS -33.856784 151.215297 12.0 0.0 5 1.20 2023-12-31 24:59:59 0\n");
	const struct gps_fix *g = &ev.rec.u.gps;

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_near(g->lat_deg, -33.856784);
	assert_int_equal(g->hour, 23);
	assert_int_equal(g->min, 59);
	assert_int_equal(g->sec, 59);
	assert_int_equal(g->day, 31);
	assert_int_equal(g->month, 12);
	assert_int_equal(g->year, 2023);
	assert_int_equal(g->valid, 0);
	/* Hour 1 is 00 UTC; validity comes from the last token, not from the hour (the legacy defect). */
	ev = one("GPS 1.0 2.0 3.0 4.0 5 6.0 2024-2-29 1:0:0 0\n");
	assert_int_equal(ev.rec.u.gps.hour, 0);
	assert_int_equal(ev.rec.u.gps.valid, 0);
	assert_int_equal(ev.rec.u.gps.day, 29);
}

static void test_gps_9_tokens(void **state)
{
	struct rx_event ev = one("GPS 0.000000 0.000000 0.0 0.0 0 99.99 INVALID 0\n");

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.u.gps.have & (GPS_HAVE_DATE | GPS_HAVE_TIME), 0);
	assert_int_equal(ev.rec.u.gps.valid, 0);
	assert_near(ev.rec.u.gps.hdop, 99.99);
	ev = one("GPS 48.117300 -11.516667 545.4 0.0 4 2.50 INVALID 1\n");
	assert_int_equal(ev.rec.u.gps.valid, 1);
	assert_near(ev.rec.u.gps.lon_deg, -11.516667);
}

static void test_gps_rejects(void **state)
{
	expect_reject("GPS 90.000001 11.5 545.4 0.0 8 0.90 2024-3-5 13:4:7 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 180.5 545.4 0.0 8 0.90 2024-3-5 13:4:7 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-3-5 0:4:7 1\n", RX_REJ_GPS);  /* hour 0 cannot be printed */
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-3-5 25:4:7 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-13-5 13:4:7 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2023-2-29 13:4:7 1\n", RX_REJ_GPS); /* not a leap year */
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-3-5 13:4:7 2\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-3-5 13:4:7\n", RX_REJ_GPS);    /* 9 tokens, no INVALID */
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 NODATE 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 8 0.90 2024-3-5 13:4:7 1 1\n", RX_REJ_GPS);
	expect_reject("GPS 48.1 11.5 545.4 0.0 x 0.90 2024-3-5 13:4:7 1\n", RX_REJ_GPS);
	expect_reject("GPS\n", RX_REJ_GPS);
}

static void test_status(void **state)
{
	struct rx_event ev = one("STATUS CAN:OK GPS:NO Sats:0 HDOP:99.9\r\n");

	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.type, REC_STATUS);
	assert_int_equal(ev.rec.u.status.can_ok, 1);
	assert_int_equal(ev.rec.u.status.gps_ok, 0);
	assert_int_equal(ev.rec.u.status.sats, 0);
	assert_true(fabsf(ev.rec.u.status.hdop - 99.9f) < 1e-4f);
	assert_int_equal(ev.rec.u.status.has_pos, 0);
	ev = one("STATUS CAN:NO GPS:OK Sats:9 HDOP:0.9 Pos:48.117300,-11.516667 Speed:12.3km/h\r\n");
	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.rec.u.status.can_ok, 0);
	assert_int_equal(ev.rec.u.status.gps_ok, 1);
	assert_int_equal(ev.rec.u.status.sats, 9);
	assert_int_equal(ev.rec.u.status.has_pos, 1);
	assert_near(ev.rec.u.status.lat_deg, 48.1173);
	assert_near(ev.rec.u.status.lon_deg, -11.516667);
	assert_near(ev.rec.u.status.speed_kmh, 12.3);
	expect_reject("STATUS CAN:MAYBE GPS:OK Sats:9 HDOP:0.9\n", RX_REJ_STATUS);
	expect_reject("STATUS CAN:OK GPS:OK Sats:9 HDOP:0.9 Pos:48.1 Speed:1.0km/h\n", RX_REJ_STATUS);
	expect_reject("STATUS CAN:OK GPS:OK Sats:9 HDOP:0.9 Pos:48.1,11.5 Speed:1.0\n", RX_REJ_STATUS);
	expect_reject("STATUS CAN:OK GPS:OK Sats:9\n", RX_REJ_STATUS);
}

static void test_banner_ignored(void **state)
{
	static const char banner[] = "=== CAN + GPS Data Sniffer Ready ===\r\n"
				     "Sending CAN and GPS data to Jetson via USB Serial\r\n"
				     "Format:\r\n"
				     "  CAN: SIM <ID> <DLC> <DATA_BYTES>\r\n"
				     "  GPS: GPS <LAT> <LON> <ALT> <SPEED> <SATS> <VALID>\r\n"
				     "=====================================\r\n"
				     "\r\n"
				     "\n";
	struct coll c;

	run_str(&c, banner);
	assert_int_equal(c.n, 6); /* empty lines: no event */
	for (unsigned i = 0; i < c.n; i++)
		assert_int_equal(c.ev[i].kind, RX_EV_IGNORED);
	expect_reject("Format: x\n", RX_REJ_UNKNOWN);
	expect_reject("hello world\n", RX_REJ_UNKNOWN);
}

/* A realistic stream: banner, SIM lines (CRLF and LF), GPS, STATUS, NMEA, candump, garbage, empty lines. */
static const char stream[] =
	"=== CAN + GPS Data Sniffer Ready ===\r\n"
	SIM1 "\r\n"
	"SIM 59B 8 00 00 00 00 00 00 00 00\n"
	"\r\n"
	"GPS 48.117300 11.516667 545.4 12.5 8 0.90 2024-3-5 13:4:7 1\r\n"
	"garbage line\r\n"
	"STATUS CAN:OK GPS:NO Sats:0 HDOP:99.9\r\n"
	"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
	"(1436509052.249713) can0 155#0596E7546D58006F\n"
	"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48\r\n"
	"SIM 155 8 01 97 CE 54 9B 38 00 73"; /* unterminated: parsed by framer_finish() */

struct want {
	enum rx_event_kind kind;
	int what; /* rec.type or reason */
};
static const struct want stream_want[] = {
	{RX_EV_IGNORED, 0},        {RX_EV_RECORD, REC_CAN},    {RX_EV_RECORD, REC_CAN},
	{RX_EV_RECORD, REC_GPS},   {RX_EV_REJECT, RX_REJ_UNKNOWN}, {RX_EV_RECORD, REC_STATUS},
	{RX_EV_RECORD, REC_GPS},   {RX_EV_RECORD, REC_CAN},    {RX_EV_REJECT, RX_REJ_NMEA_CHECKSUM},
	{RX_EV_RECORD, REC_CAN},
};

static void check_stream(const struct coll *c)
{
	const size_t nw = sizeof(stream_want) / sizeof(stream_want[0]);

	assert_int_equal(c->n, nw);
	for (size_t i = 0; i < nw; i++) {
		assert_int_equal(c->ev[i].kind, stream_want[i].kind);
		if (stream_want[i].kind == RX_EV_RECORD)
			assert_int_equal(c->ev[i].rec.type, stream_want[i].what);
		else if (stream_want[i].kind == RX_EV_REJECT)
			assert_int_equal(c->ev[i].reason, stream_want[i].what);
		assert_null(memchr(c->ev[i].text, '\r', c->ev[i].len));
	}
	assert_int_equal(c->ev[1].rec.u.can.data[1], 0x97);
	assert_int_equal(c->ev[3].rec.u.gps.hour, 12);
	assert_int_equal(c->ev[7].rec.flags, REC_F_LOG_TIME);
	assert_true(c->ev[7].rec.rx_real_ns == INT64_C(1436509052249713000));
	assert_string_equal(c->ev[4].text, "garbage line");
}

static void test_split_every_position(void **state)
{
	const size_t n = strlen(stream);
	static struct coll c;

	for (size_t split = 0; split <= n; split++) {
		struct framer f;
		memset(&c, 0, sizeof(c));
		framer_init(&f, FRAMER_AUTO);
		framer_feed(&f, stream, split, collect, &c);
		framer_feed(&f, stream + split, n - split, collect, &c);
		framer_finish(&f, collect, &c);
		check_stream(&c);
		assert_int_equal(framer_detected(&f), FRAMER_TEXT);
	}
	/* Two splits, and one byte at a time. */
	for (size_t a = 0; a <= n; a += 7) {
		for (size_t b = a; b <= n; b += 3) {
			struct framer f;
			memset(&c, 0, sizeof(c));
			framer_init(&f, FRAMER_TEXT);
			framer_feed(&f, stream, a, collect, &c);
			framer_feed(&f, stream + a, b - a, collect, &c);
			framer_feed(&f, stream + b, n - b, collect, &c);
			framer_finish(&f, collect, &c);
			check_stream(&c);
		}
	}
	struct framer f;
	memset(&c, 0, sizeof(c));
	framer_init(&f, FRAMER_AUTO);
	for (size_t i = 0; i < n; i++)
		framer_feed(&f, stream + i, 1, collect, &c);
	framer_finish(&f, collect, &c);
	check_stream(&c);
}

static void test_overlong_resync(void **state)
{
	char s[1200];
	static struct coll c;

	/* 600 bytes without LF, then a good line: one reject, then the line. */
	memset(s, 'X', 600);
	strcpy(s + 600, "\r\n" SIM1 "\r\n");
	const size_t n = strlen(s);
	for (size_t split = 0; split <= n; split += 1) {
		struct framer f;
		memset(&c, 0, sizeof(c));
		framer_init(&f, FRAMER_AUTO);
		framer_feed(&f, s, split, collect, &c);
		framer_feed(&f, s + split, n - split, collect, &c);
		framer_finish(&f, collect, &c);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.ev[0].kind, RX_EV_REJECT);
		assert_int_equal(c.ev[0].reason, RX_REJ_OVERLONG);
		assert_int_equal(c.ev[1].kind, RX_EV_RECORD);
		assert_int_equal(c.ev[1].rec.u.can.id, 0x155);
	}
	/* Exactly FRAMER_MAX_LINE characters (plus CRLF) is a line; one more is over-long. */
	memset(s, 'Y', FRAMER_MAX_LINE);
	strcpy(s + FRAMER_MAX_LINE, "\r\n");
	run(&c, FRAMER_TEXT, s, strlen(s));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ev[0].reason, RX_REJ_UNKNOWN);
	assert_int_equal(c.ev[0].len, FRAMER_MAX_LINE);
	memset(s, 'Y', FRAMER_MAX_LINE + 1);
	strcpy(s + FRAMER_MAX_LINE + 1, "\n" SIM1 "\n");
	run(&c, FRAMER_TEXT, s, strlen(s));
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_OVERLONG);
	assert_int_equal(c.ev[1].rec.type, REC_CAN);
	/* The same split across feeds. */
	struct framer f;
	memset(&c, 0, sizeof(c));
	framer_init(&f, FRAMER_TEXT);
	framer_feed(&f, s, 100, collect, &c);
	framer_feed(&f, s + 100, 200, collect, &c);
	framer_feed(&f, s + 300, strlen(s) - 300, collect, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_OVERLONG);
	assert_int_equal(c.ev[1].rec.type, REC_CAN);
}

static void test_nul_and_binary(void **state)
{
	static const char s[] = SIM1 "\r\n"
				"SIM 155 8 01\0 97 CE 54 9B 38 00 73\r\n"
				"\xff\xfe garbage\r\n"
				"\x7f\r\n" SIM1 "\r\n";
	static struct coll c;

	/* Detected text: the NUL rejects its whole line, once; the text includes the NUL. */
	run(&c, FRAMER_AUTO, s, sizeof(s) - 1);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ev[0].kind, RX_EV_RECORD);
	assert_int_equal(c.ev[1].reason, RX_REJ_NUL);
	assert_int_equal(c.ev[1].len, strlen("SIM 155 8 01") + 1 + strlen(" 97 CE 54 9B 38 00 73"));
	assert_int_equal(c.ev[2].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[3].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[4].kind, RX_EV_RECORD);
	/* Fixed text: the same. */
	run(&c, FRAMER_TEXT, s, sizeof(s) - 1);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ev[1].reason, RX_REJ_NUL);
	/* Before any valid unit: the same, a 0x00 that does not end a frame is a byte of the line (one lost range). */
	run(&c, FRAMER_AUTO, s + strlen(SIM1) + 2, sizeof(s) - 1 - strlen(SIM1) - 2);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.ev[0].reason, RX_REJ_NUL);
	assert_int_equal(c.ev[0].len, strlen("SIM 155 8 01") + 1 + strlen(" 97 CE 54 9B 38 00 73"));
	assert_int_equal(c.ev[1].reason, RX_REJ_BINARY);
	/* Power-up noise before the first line: binary bytes before a 0x00 end there; then the rest of the line. */
	static const char noisy[] = "\x80\x81\x82\0\0\xfe\r\n" SIM1 "\r\n";
	run(&c, FRAMER_AUTO, noisy, sizeof(noisy) - 1);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ev[0].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[0].len, 3);
	assert_int_equal(c.ev[1].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[2].kind, RX_EV_RECORD);
	/* Noise that looks like a frame start (code 0x05, type 0x02) is judged as a v2 frame at the 0x00. */
	static const char noisy2[] = "\x05\x02\x82\0\xfe\r\n" SIM1 "\r\n";
	run(&c, FRAMER_AUTO, noisy2, sizeof(noisy2) - 1);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ev[0].reason, RX_REJ_V2_COBS);
	assert_int_equal(c.ev[1].reason, RX_REJ_BINARY);
	assert_int_equal(c.ev[2].kind, RX_EV_RECORD);
}

static void test_every_reason(void **state)
{
	static const char *const lines[] = {
		"SIM 155 8 01\0 97 CE 54 9B 38 00 73\n", /* nul_byte (after SIM1 below) */
		"\x01\n",                               /* binary */
		"what\n",                               /* unknown_line */
		"SIM 155\n",                            /* bad_sim */
		"GPS 1\n",                              /* bad_gps */
		"STATUS\n",                             /* bad_status */
		"$GPGGA,*00\n",                         /* nmea_checksum */
		"$GPGGA,\n",                            /* nmea_no_checksum */
		"$GP GGA,*5A\n",                        /* nmea_syntax */
		"SIM 1558 7 01 97 CE 54 9B 38 00 73\n", /* sim_id */
		"\x1b[0m$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\n", /* nmea_junk */
		"(1.000000) can0 155##1\n",             /* bad_candump */
	};
	int seen[RX_REJ__COUNT] = {0};
	static struct coll c;
	struct framer f;
	char big[400];

	framer_init(&f, FRAMER_AUTO);
	memset(&c, 0, sizeof(c));
	framer_feed(&f, SIM1 "\n", strlen(SIM1) + 1, collect, &c);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		framer_feed(&f, lines[i], strlen(lines[i]) + (i == 0 ? strlen(lines[0] + strlen(lines[0]) + 1) + 1 : 0),
			    collect, &c);
	memset(big, 'Z', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	framer_feed(&f, big, sizeof(big), collect, &c); /* overlong */
	assert_int_equal(framer_detected(&f), FRAMER_TEXT);
	/* v2 reasons: fixed V2 mode, frames with correct CRCs where needed. */
	framer_init(&f, FRAMER_V2);
	framer_feed(&f, "\x05\x11\0", 3, collect, &c);     /* v2_cobs */
	framer_feed(&f, "\x03\x11\x22\0", 4, collect, &c); /* v2_short */
	uint8_t raw[32], wire[64];
	static const uint8_t hdr[] = {V2X_T_CAN, 1, 0, 0, 0, 2, 0, 0, 0, 0x55, 0x01, 0, 0, 9};
	for (int k = 0; k < 3; k++) {
		memcpy(raw, hdr, sizeof(hdr));
		if (k == 1)
			raw[0] = 0x77; /* v2_type */
		uint16_t crc = v2x_crc16(0xFFFF, raw, sizeof(hdr));
		raw[sizeof(hdr)] = (uint8_t)(crc ^ (k == 2 ? 1 : 0)); /* k == 2: v2_crc */
		raw[sizeof(hdr) + 1] = (uint8_t)(crc >> 8);
		int n = v2x_cobs_encode(raw, sizeof(hdr) + 2, wire, sizeof(wire));
		wire[n++] = 0;
		framer_feed(&f, wire, (size_t)n, collect, &c); /* k == 0: dlc 9 -> v2_payload */
	}
	for (unsigned i = 0; i < c.n && i < MAX_EV; i++)
		if (c.ev[i].kind == RX_EV_REJECT)
			seen[c.ev[i].reason]++;
	for (int r = 0; r < RX_REJ__COUNT; r++)
		if (seen[r] != 1)
			fail_msg("reason %s seen %d times", rx_reject_name((enum rx_reject)r), seen[r]);
}

static void test_reject_names(void **state)
{
	static const char *const want[RX_REJ__COUNT] = {
		"overlong",      "nul_byte",         "binary",      "unknown_line", "bad_sim",   "bad_gps",
		"bad_status",    "nmea_checksum",    "nmea_no_checksum", "nmea_syntax", "bad_candump", "v2_cobs",
		"v2_short",      "v2_crc",           "v2_type",     "v2_payload", "sim_id",    "nmea_junk",
	};
	for (int r = 0; r < RX_REJ__COUNT; r++)
		assert_string_equal(rx_reject_name((enum rx_reject)r), want[r]);
	assert_string_equal(rx_reject_name(RX_REJ__COUNT), "invalid");
}

static void test_nmea_merge_in_framer(void **state)
{
	static const char s[] = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
				"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
				"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74\r\n";
	static struct coll c;

	run(&c, FRAMER_AUTO, s, sizeof(s) - 1);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ev[1].rec.type, REC_GPS);
	assert_near(c.ev[1].rec.u.gps.alt_m, 545.4); /* from the GGA before */
	assert_int_equal(c.ev[1].rec.u.gps.year, 1994);
	assert_int_equal(c.ev[2].kind, RX_EV_IGNORED);
}

/* Issue 12 item 2: a valid sentence after junk on its line is recovered; the junk counts once (nmea_junk). */
static void test_nmea_recovery(void **state)
{
#define GLL_A "$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4D"
	static const struct {
		const char *line;
		size_t n; /* 0: strlen */
		size_t junk;
	} cases[] = {
		{"$GPGGA,1234" GLL_A "\r\n", 0, 11},  /* spliced: the example */
		{" " GLL_A "\r\n", 0, 1},              /* a leading space */
		{"\x1b[0m" GLL_A "\r\n", 0, 4},        /* a terminal's escape codes */
		{"\x1b[2K\x1b[1G" GLL_A "\n", 0, 8},
		{"\x80\x81" GLL_A "\r\n", 0, 2},       /* noise */
		{"$$" GLL_A "\r\n", 0, 0},             /* a doubled '$' is no junk */
	};
	static struct coll c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			run(&c, mode ? FRAMER_TEXT : FRAMER_AUTO, cases[i].line, strlen(cases[i].line));
			unsigned k = cases[i].junk ? 1 : 0;
			if (c.n != k + 1 || c.ev[k].kind != RX_EV_RECORD)
				fail_msg("case %zu mode %d: %u events", i, mode, c.n);
			if (k) {
				assert_int_equal(c.ev[0].kind, RX_EV_REJECT);
				assert_int_equal(c.ev[0].reason, RX_REJ_NMEA_JUNK);
				assert_int_equal(c.ev[0].len, cases[i].junk);
				assert_int_equal(c.ev[1].len, strlen(GLL_A));
			}
			assert_near(c.ev[k].rec.u.gps.lat_deg, 51.0 + 7.0 / 60.0);
			assert_near(c.ev[k].rec.u.gps.lon_deg, -8.0 / 60.0);
			assert_int_equal(c.ev[k].rec.u.gps.valid, 1);
		}
	}
	/* NUL bytes before the '$': undecided or text, the same single junk reject. */
	static const char nul1[] = "\0\0" GLL_A "\r\n", nul2[] = "ab\0\0" GLL_A "\r\n";
	run(&c, FRAMER_TEXT, nul1, sizeof(nul1) - 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_NMEA_JUNK);
	assert_int_equal(c.ev[0].len, 2);
	assert_int_equal(c.ev[1].kind, RX_EV_RECORD);
	run(&c, FRAMER_AUTO, nul1, sizeof(nul1) - 1); /* at the start of a unit a 0x00 is only a delimiter */
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ev[0].kind, RX_EV_RECORD);
	run(&c, FRAMER_AUTO, nul2, sizeof(nul2) - 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_NMEA_JUNK);
	assert_int_equal(c.ev[0].len, 4);
	assert_int_equal(c.ev[1].kind, RX_EV_RECORD);
	/* Nothing checks out: one reject for the line, with the last sentence's reason. */
	expect_reject("$GPGGA,1234$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4E\n", RX_REJ_NMEA_CHECKSUM);
	expect_reject("junk $GPGLL,5107.0000,N\n", RX_REJ_NMEA_NO_CHECKSUM);
	expect_reject("\x1b[0m$GPGLL,5107.0000,N*00\n", RX_REJ_BINARY);
	/* A recovered sentence that is refused for a field: one reject for the whole line. */
	expect_reject("xx$GPGGA,123519,48A7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*36\n", RX_REJ_NMEA_SYNTAX);
	/* AIS after junk: junk counted, the sentence ignored. */
	run_str(&c, "~~!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*71\n");
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ev[0].reason, RX_REJ_NMEA_JUNK);
	assert_int_equal(c.ev[1].kind, RX_EV_IGNORED);
#undef GLL_A
}

static void test_parse_line_direct(void **state)
{
	struct framer f;
	struct rx_event ev;

	framer_init(&f, FRAMER_AUTO);
	framer_parse_line(&f, SIM1 "\r", strlen(SIM1) + 1, &ev);
	assert_int_equal(ev.kind, RX_EV_RECORD);
	assert_int_equal(ev.len, strlen(SIM1));
	assert_int_equal(framer_detected(&f), FRAMER_AUTO); /* parsing alone does not detect */
}

/*
 * Regression, issue 13 defect 4: a port that switches format.  1,000 text lines, then 1,000 SIM lines alternating
 * with 1,000 valid v2 CAN frames (a third of them holding 0x0A bytes), then 1,000 text lines; 50 corrupted units are
 * inserted between valid ones (10 each: a SIM line with a 4-digit id and no extended flag, a garbage line, a line
 * with a NUL, a frame with a damaged byte near its end, a frame cut short before its 0x00).  By construction every
 * valid unit must come out as a record, in order, and every corrupted unit must count as exactly one reject, however
 * the stream is split into reads.
 */
#define D4_MAX_STREAM (300 * 1024)
#define D4_MAX_REC 4100

struct d4_want {
	unsigned n_rec;
	uint32_t id[D4_MAX_REC];
	uint8_t v2[D4_MAX_REC];
};

struct d4_got {
	unsigned n_rec, n_rej, n_ign, bad_order;
	const struct d4_want *want;
};

static void d4_collect(void *ctx, const struct rx_event *ev)
{
	struct d4_got *g = ctx;

	if (ev->kind == RX_EV_REJECT) {
		g->n_rej++;
		return;
	}
	if (ev->kind == RX_EV_IGNORED) {
		g->n_ign++;
		return;
	}
	unsigned i = g->n_rec++;
	if (i >= g->want->n_rec || ev->rec.type != REC_CAN || ev->rec.u.can.id != g->want->id[i] ||
	    !!(ev->rec.flags & REC_F_DEV_TIME) != g->want->v2[i])
		g->bad_order++;
}

static uint32_t d4_rand(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return *x >> 8;
}

static size_t d4_sim(char *out, struct d4_want *w, uint32_t *rng)
{
	uint32_t id = d4_rand(rng) % 0x800;
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)d4_rand(rng);
	w->id[w->n_rec] = id;
	w->v2[w->n_rec++] = 0;
	return (size_t)sprintf(out, "SIM %03X 8 %02X %02X %02X %02X %02X %02X %02X %02X\r\n", id, b[0], b[1], b[2], b[3],
			       b[4], b[5], b[6], b[7]);
}

/* A valid v2 CAN frame on the wire (with its 0x00); want gets it when w is not NULL. */
static size_t d4_frame(uint8_t *out, struct d4_want *w, uint32_t *rng, uint32_t seq, int with_lf)
{
	struct v2x_can can = {.id = d4_rand(rng) % 0x800, .dlc = 8};
	uint8_t payload[16];
	for (int i = 0; i < 8; i++)
		can.data[i] = (uint8_t)d4_rand(rng);
	if (with_lf)
		can.data[2] = can.data[5] = '\n';
	int len = v2x_can_pack(&can, payload, sizeof(payload));
	assert_true(len > 0);
	int n = v2x_frame_encode(V2X_T_CAN, seq, seq * 1000u, payload, (size_t)len, out, V2X_WIRE_MAX);
	assert_true(n > 0);
	if (w) {
		w->id[w->n_rec] = can.id;
		w->v2[w->n_rec++] = 1;
	}
	return (size_t)n;
}

static size_t d4_build(uint8_t *s, struct d4_want *w, unsigned *corrupted)
{
	uint32_t rng = 12345, seq = 1;
	size_t n = 0;

	w->n_rec = 0;
	*corrupted = 0;
	for (unsigned i = 0; i < 1000; i++) {
		n += d4_sim((char *)s + n, w, &rng);
		if (i % 100 == 37) { /* issue 12 item 7 */
			n += (size_t)sprintf((char *)s + n, "SIM 1558 7 01 97 CE 54 9B 38 00 73\r\n");
			++*corrupted;
		}
	}
	for (unsigned i = 0; i < 1000; i++) {
		n += d4_sim((char *)s + n, w, &rng);
		if (i % 100 == 50) {
			memcpy(s + n, "SIM 155 8 01\0 97 CE 54 9B 38 00 73\r\n", 36);
			n += 36;
			++*corrupted;
		}
		n += d4_frame(s + n, w, &rng, seq++, i % 3 == 0);
		if (i % 100 == 10) { /* a damaged byte near the end */
			size_t k = d4_frame(s + n, NULL, &rng, seq++, 1);
			s[n + k - 3] = s[n + k - 3] == 0x40 ? 0x20 : s[n + k - 3] ^ 0x40;
			n += k;
			++*corrupted;
		}
		if (i % 100 == 25) { /* cut short: 10 bytes, then the 0x00 */
			size_t k = d4_frame(s + n, NULL, &rng, seq++, 1);
			(void)k;
			s[n + 10] = 0;
			n += 11;
			++*corrupted;
		}
	}
	for (unsigned i = 0; i < 1000; i++) {
		n += d4_sim((char *)s + n, w, &rng);
		if (i % 100 == 99) {
			n += (size_t)sprintf((char *)s + n, "boot: flash ok, starting\r\n");
			++*corrupted;
		}
	}
	assert_true(n <= D4_MAX_STREAM);
	return n;
}

static void test_regress_defect4_mixed_stream(void **state)
{
	static uint8_t s[D4_MAX_STREAM];
	static struct d4_want w;
	unsigned corrupted;
	const size_t n = d4_build(s, &w, &corrupted);

	assert_int_equal(w.n_rec, 4000);
	assert_int_equal(corrupted, 50);
	for (int how = 0; how < 3; how++) {
		struct d4_got g = {.want = &w};
		struct framer f;
		uint32_t rng = 777;
		framer_init(&f, FRAMER_AUTO);
		if (how == 0) {
			framer_feed(&f, s, n, d4_collect, &g);
		} else {
			for (size_t at = 0; at < n;) {
				size_t k = how == 1 ? 1 : 1 + d4_rand(&rng) % 300;
				if (k > n - at)
					k = n - at;
				framer_feed(&f, s + at, k, d4_collect, &g);
				at += k;
			}
		}
		framer_finish(&f, d4_collect, &g);
		if (g.n_rec != 4000 || g.n_rej != corrupted || g.bad_order || g.n_ign)
			fail_msg("feed %d: %u records (want 4000), %u rejects (want %u), %u out of order, %u ignored", how,
				 g.n_rec, g.n_rej, corrupted, g.bad_order, g.n_ign);
		assert_int_equal(framer_detected(&f), FRAMER_TEXT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim),
		cmocka_unit_test(test_sim_dlc_zeroing),
		cmocka_unit_test(test_sim_extended_rtr),
		cmocka_unit_test(test_sim_rejects),
		cmocka_unit_test(test_gps_10_tokens),
		cmocka_unit_test(test_gps_hour_24),
		cmocka_unit_test(test_gps_9_tokens),
		cmocka_unit_test(test_gps_rejects),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_banner_ignored),
		cmocka_unit_test(test_split_every_position),
		cmocka_unit_test(test_overlong_resync),
		cmocka_unit_test(test_nul_and_binary),
		cmocka_unit_test(test_every_reason),
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_nmea_merge_in_framer),
		cmocka_unit_test(test_nmea_recovery),
		cmocka_unit_test(test_parse_line_direct),
		cmocka_unit_test(test_regress_defect4_mixed_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

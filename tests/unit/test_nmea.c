/*
 * test_nmea.c - NMEA 0183 parsing and fix merging (stages/can_rx/nmea.h).
 *
 * Sentences are the standard's and receiver manuals' examples (GGA *47, RMC *6A, VTG *48, GLL *1D, GSV *74) or
 * variants whose checksums were computed separately (XOR of the bytes between '$' and '*', a three-line Python
 * script run once).  Expected values follow from the field definitions: ddmm.mmm = dd + mm.mmm / 60 degrees,
 * knots x 1.852 = km/h, S and W negative.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "stages/can_rx/nmea.h"

#define GGA "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
#define RMC "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
#define VTG "$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48"
#define GLL "$GPGLL,4916.45,N,12311.12,W,225444,A,*1D"
#define GNS "$GNGNS,014035.00,4332.69262,S,17235.48549,E,RR,13,0.9,25.63,11.24,,*70"

static void assert_near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12f, want %.12f", got, want);
}

struct parsed {
	enum rx_event_kind kind;
	enum rx_reject why;
	struct rx_record rec;
};

static struct parsed parse(struct nmea_state *st, const char *s)
{
	struct parsed p;

	memset(&p, 0, sizeof(p));
	p.why = RX_REJ__COUNT;
	p.kind = nmea_parse(st, s, strlen(s), &p.rec, &p.why);
	return p;
}

static struct parsed parse_fresh(const char *s)
{
	struct nmea_state st;

	nmea_init(&st);
	return parse(&st, s);
}

static void expect_reject(const char *s, enum rx_reject why)
{
	struct parsed p = parse_fresh(s);

	if (p.kind != RX_EV_REJECT || p.why != why)
		fail_msg("%s: kind %d reason %s, want reject %s", s, p.kind, rx_reject_name(p.why), rx_reject_name(why));
}

static void test_gga(void **state)
{
	struct parsed p = parse_fresh(GGA);
	const struct gps_fix *g = &p.rec.u.gps;

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.type, REC_GPS);
	assert_near(g->lat_deg, 48.0 + 7.038 / 60.0);
	assert_near(g->lon_deg, 11.0 + 31.0 / 60.0);
	assert_near(g->alt_m, 545.4);
	assert_near(g->hdop, 0.9);
	assert_int_equal(g->sats, 8);
	assert_int_equal(g->valid, 1);
	assert_int_equal(g->hour, 12);
	assert_int_equal(g->min, 35);
	assert_int_equal(g->sec, 19);
	assert_int_equal(g->usec, 0);
	assert_int_equal(g->have, GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SATS | GPS_HAVE_HDOP | GPS_HAVE_TIME);
}

static void test_rmc(void **state)
{
	struct parsed p = parse_fresh(RMC);
	const struct gps_fix *g = &p.rec.u.gps;

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(g->lat_deg, 48.1173);
	assert_near(g->lon_deg, 11.0 + 31.0 / 60.0);
	assert_true(g->speed_kmh == 224.0 * 1852.0 / 10000.0); /* 22.4 kn, one rounding */
	assert_near(g->course_deg, 84.4);
	assert_int_equal(g->day, 23);
	assert_int_equal(g->month, 3);
	assert_int_equal(g->year, 1994);
	assert_int_equal(g->valid, 1);
	assert_int_equal(g->have,
			 GPS_HAVE_POS | GPS_HAVE_SPEED | GPS_HAVE_COURSE | GPS_HAVE_DATE | GPS_HAVE_TIME);
	/* Status V: not valid. */
	p = parse_fresh("$GPRMC,,V,,,,,,,,,,N*53");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.u.gps.valid, 0);
	assert_int_equal(p.rec.u.gps.have, 0);
	/* Southern and eastern hemisphere, 2-digit year 98 = 1998. */
	p = parse_fresh("$GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E*62");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(p.rec.u.gps.lat_deg, -(37.0 + 51.65 / 60.0));
	assert_near(p.rec.u.gps.lon_deg, 145.0 + 7.36 / 60.0);
	assert_int_equal(p.rec.u.gps.year, 1998);
	assert_near(p.rec.u.gps.course_deg, 360.0);
}

static void test_vtg(void **state)
{
	struct parsed p = parse_fresh(VTG);

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(p.rec.u.gps.course_deg, 54.7);
	assert_true(p.rec.u.gps.speed_kmh == 10186.0 / 1000.0); /* issue 12 item 5: knots (5.5 x 1.852), not 10.2 km/h */
	assert_int_equal(p.rec.u.gps.have, GPS_HAVE_SPEED | GPS_HAVE_COURSE);
	/* No km/h field: knots x 1.852. */
	p = parse_fresh("$GPVTG,054.7,T,,M,005.5,N,,K*48");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_true(p.rec.u.gps.speed_kmh == 10186.0 / 1000.0);
	/* Knots empty: the km/h field. */
	p = parse_fresh("$IIVTG,054.7,T,034.4,M,,N,010.2,K,A*1C");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_true(p.rec.u.gps.speed_kmh == 10.2);
	/* Exactly: 0.1 kn is 0.1852 km/h, the double nearest to 1852 / 10000 (0.1 * 1.852 is one ulp off). */
	p = parse_fresh("$GPVTG,054.7,T,034.4,M,0.1,N,0.2,K,A*25");
	assert_true(p.rec.u.gps.speed_kmh == 1852.0 / 10000.0);
	/* Mode N: the receiver says not valid; nothing is taken. */
	struct nmea_state st;
	nmea_init(&st);
	p = parse(&st, GGA);
	p = parse(&st, "$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,N*2A");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.u.gps.valid, 0);
	assert_false(p.rec.u.gps.have & (GPS_HAVE_SPEED | GPS_HAVE_COURSE));
	/* A malformed knots field: speed left out and counted (km/h is used only when knots is empty). */
	p = parse(&st, "$GPVTG,054.7,T,034.4,M,0x5.5,N,010.2,K,A*6D");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_false(p.rec.u.gps.have & GPS_HAVE_SPEED);
	assert_true(p.rec.u.gps.have & GPS_HAVE_COURSE);
	assert_int_equal(st.bad_fields, 1);
}

static void test_gll(void **state)
{
	struct parsed p = parse_fresh(GLL);

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(p.rec.u.gps.lat_deg, 49.0 + 16.45 / 60.0);
	assert_near(p.rec.u.gps.lon_deg, -(123.0 + 11.12 / 60.0));
	assert_int_equal(p.rec.u.gps.hour, 22);
	assert_int_equal(p.rec.u.gps.min, 54);
	assert_int_equal(p.rec.u.gps.sec, 44);
	assert_int_equal(p.rec.u.gps.valid, 1);
	p = parse_fresh("$GPGLL,3751.65,S,14507.36,E,081836,V,N*47");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.u.gps.valid, 0);
	assert_near(p.rec.u.gps.lat_deg, -(37.0 + 51.65 / 60.0));
}

static void test_gns(void **state)
{
	struct parsed p = parse_fresh(GNS);
	const struct gps_fix *g = &p.rec.u.gps;

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(g->lat_deg, -(43.0 + 32.69262 / 60.0));
	assert_near(g->lon_deg, 172.0 + 35.48549 / 60.0);
	assert_int_equal(g->sats, 13);
	assert_near(g->hdop, 0.9);
	assert_near(g->alt_m, 25.63);
	assert_int_equal(g->valid, 1); /* mode RR: RTK */
	assert_int_equal(g->hour, 1);
	assert_int_equal(g->min, 40);
	assert_int_equal(g->sec, 35);
}

static void test_talkers(void **state)
{
	static const char *const s[] = {
		GGA,
		"$GNGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*59",
		"$GLGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*5B",
		"$GAGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*56",
		"$BDGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*56",
	};
	for (size_t i = 0; i < 5; i++) {
		struct parsed p = parse_fresh(s[i]);
		assert_int_equal(p.kind, RX_EV_RECORD);
		assert_near(p.rec.u.gps.lat_deg, 48.1173);
	}
	/* Issue 12 item 1: any two-letter talker (these are made up, checksums computed from the text). */
	static const char *const more[] = {
		"$INRMC,101500,A,4807.0380,N,01131.0000,E,5.2,77.3,160906,1.8,W*46",
		"$ECRMC,101500,A,4807.0380,N,01131.0000,E,5.2,77.3,160906,1.8,W*47",
		"$GBGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*55",
		"$GQGLL,5107.0000,N,00008.0000,W,123519.000,A,A*4C",
		"$GIGNS,014035.00,4332.69262,S,17235.48549,E,AN,13,0.9,25.63,11.24,,*78",
	};
	struct parsed p = parse_fresh(more[0]);
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(p.rec.u.gps.lat_deg, 48.0 + 7.038 / 60.0);
	assert_near(p.rec.u.gps.lon_deg, 11.0 + 31.0 / 60.0);
	assert_true(p.rec.u.gps.speed_kmh == 52.0 * 1852.0 / 10000.0);
	assert_int_equal(p.rec.u.gps.valid, 1);
	assert_int_equal(p.rec.u.gps.year, 2006);
	for (size_t i = 1; i < sizeof(more) / sizeof(more[0]); i++) {
		p = parse_fresh(more[i]);
		if (p.kind != RX_EV_RECORD || !p.rec.u.gps.valid || !(p.rec.u.gps.have & GPS_HAVE_POS))
			fail_msg("%s: kind %d valid %d", more[i], p.kind, p.rec.u.gps.valid);
	}
	p = parse_fresh("$GAVTG,054.7,T,034.4,M,005.5,N,010.2,K,A*34");
	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_true(p.rec.u.gps.have & GPS_HAVE_SPEED);
	/* Proprietary sentences, AIS, other types: ignored when the checksum is right, whatever their length. */
	assert_int_equal(parse_fresh("$PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,"
				     "0.007,,0.92,1.19,0.77,9,0,0*5F")
				 .kind,
			 RX_EV_IGNORED);
	assert_int_equal(parse_fresh("$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74").kind,
			 RX_EV_IGNORED);
	assert_int_equal(parse_fresh("$GPTXT,01,01,02,ANTSTATUS=OK*3B").kind, RX_EV_IGNORED);
	assert_int_equal(parse_fresh("$GPZDA,201530.00,04,07,2002,00,00*60").kind, RX_EV_IGNORED);
	assert_int_equal(parse_fresh("!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*71").kind, RX_EV_IGNORED);
	assert_int_equal(parse_fresh("!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*70").kind, RX_EV_REJECT);
	assert_int_equal(parse_fresh("$PGRME,15.0,M,45.0,M,25.0,M*1C").kind, RX_EV_IGNORED);
	/* 37 fields: classified by type before it is split. */
	assert_int_equal(parse_fresh("$GPGSV,4,1,14,01,11,020,30,02,12,040,30,03,13,060,30,04,14,080,30,05,15,100,30,06,16,"
				     "120,30,07,17,140,30,08,18,160,30,09,19,180,30*4A")
				 .kind,
			 RX_EV_IGNORED);
	char type[8];
	assert_int_equal(nmea_sentence_type("!AIVDM,1,1*00", 13, type, sizeof(type)), 0);
	assert_string_equal(type, "AIVDM");
	assert_int_equal(nmea_sentence_type("$PGRME*00", 9, type, sizeof(type)), 0);
	assert_string_equal(type, "PGRME");
	assert_int_equal(nmea_sentence_type("$GPGSV", 6, type, sizeof(type)), 0);
	assert_int_equal(nmea_sentence_type("GPGSV,1", 7, type, sizeof(type)), -EINVAL);
	assert_int_equal(nmea_sentence_type("$PSRF100,1", 10, type, 4), -EINVAL);
}

/* Issue 12 item 3: an optional field that does not parse is left out and counted; the position, time and validity
 * stay.  A field the fix needs (latitude, longitude, hemispheres, status) still refuses the sentence. */
static void test_bad_optional_fields(void **state)
{
	static const struct {
		const char *s;
		unsigned lost; /* GPS_HAVE_ bit left out */
	} cases[] = {
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,0x3.1,W*22", 0},              /* magnetic var. */
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,003.1,W*6A", GPS_HAVE_DATE},  /* day 32 */
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,08x4.4,230394,003.1,W*12", GPS_HAVE_COURSE},
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,02x2.4,084.4,230394,003.1,W*12", GPS_HAVE_SPEED},
		{"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.x9,545.4,M,46.9,M,,*3F", GPS_HAVE_HDOP},
		{"$GPGGA,250000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4D", GPS_HAVE_TIME}, /* hour 25 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nmea_state st;
		nmea_init(&st);
		struct parsed p = parse(&st, GGA); /* everything known first: the bad field must be taken out */
		p = parse(&st, RMC);
		p = parse(&st, cases[i].s);
		const struct gps_fix *g = &p.rec.u.gps;
		if (p.kind != RX_EV_RECORD || st.bad_fields != 1 || !g->valid || !(g->have & GPS_HAVE_POS))
			fail_msg("%s: kind %d bad %u valid %d", cases[i].s, p.kind, st.bad_fields, g->valid);
		assert_near(g->lat_deg, 48.1173);
		if (cases[i].lost)
			assert_false(g->have & cases[i].lost);
		assert_int_equal(g->have | cases[i].lost, GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SATS | GPS_HAVE_HDOP |
								   GPS_HAVE_TIME | GPS_HAVE_SPEED | GPS_HAVE_COURSE |
								   GPS_HAVE_DATE);
		if (cases[i].lost != GPS_HAVE_TIME)
			assert_int_equal(g->sec, 19);
	}
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,x,08,0.9,545.4,M,46.9,M,,*0E", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*73", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,AA*46", RX_REJ_NMEA_SYNTAX);
}

/* Issue 12 item 4: validity from the receiver's own flags (nmea.h). */
static void test_validity_flags(void **state)
{
	static const struct {
		const char *s;
		int valid;
	} cases[] = {
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,N*08", 0},   /* mode N */
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,A,V*7D", 0}, /* nav status V */
		{"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,D,S*7D", 1},
		{"$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,N*42", 0},
		{"$GPGLL,5107.0000,N,00008.0000,W,123519.000,A,E*49", 1}, /* estimated: a fix, as gpsd */
		{"$GNGNS,014035.00,4332.69262,S,17235.48549,E,NN,13,0.9,25.63,11.24,,*70", 0},
		{"$GNGNS,014035.00,4332.69262,S,17235.48549,E,NA,13,0.9,25.63,11.24,,*7F", 1},
		{"$GNGNS,014035.00,4332.69262,S,17235.48549,E,AA,13,0.9,25.63,11.24,,,V*0A", 0},
		{"$GNGNS,014035.00,4332.69262,S,17235.48549,E,,13,0.9,25.63,11.24,,*70", 0},
		{"$GPGGA,123519,4807.038,N,01131.000,E,0,08,0.9,545.4,M,46.9,M,,*46", 0},
		{"$GPGGA,123519,4807.038,N,01131.000,E,6,08,0.9,545.4,M,46.9,M,,*40", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nmea_state st;
		nmea_init(&st);
		struct parsed p = parse(&st, cases[i].valid ? "$GPRMC,,V,,,,,,,,,,N*53" : GGA); /* the opposite first */
		p = parse(&st, cases[i].s);
		if (p.kind != RX_EV_RECORD || p.rec.u.gps.valid != cases[i].valid)
			fail_msg("%s: kind %d valid %d, want %d", cases[i].s, p.kind, p.rec.u.gps.valid, cases[i].valid);
	}
}

static void test_empty_fields(void **state)
{
	struct parsed p = parse_fresh("$GPGGA,,,,,,0,,,,,,,,*66");

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.u.gps.have, 0);
	assert_int_equal(p.rec.u.gps.valid, 0);
}

static void test_south_west_and_fraction(void **state)
{
	struct parsed p = parse_fresh("$GPGGA,002153.250,3342.6618,S,11751.3858,W,2,10,1.2,-27.5,M,-34.2,M,,0000*6F");
	const struct gps_fix *g = &p.rec.u.gps;

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(g->lat_deg, -(33.0 + 42.6618 / 60.0));
	assert_near(g->lon_deg, -(117.0 + 51.3858 / 60.0));
	assert_near(g->alt_m, -27.5);
	assert_int_equal(g->usec, 250000);
	assert_int_equal(g->sats, 10);
	assert_int_equal(g->valid, 1);
}

static void test_double_dollar(void **state)
{
	struct parsed p = parse_fresh("$" GGA);

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_near(p.rec.u.gps.alt_m, 545.4);
}

static void test_lowercase_checksum(void **state)
{
	struct parsed p = parse_fresh("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6a");

	assert_int_equal(p.kind, RX_EV_RECORD);
	assert_int_equal(p.rec.u.gps.year, 1994);
}

static void test_rejects(void **state)
{
	/* Spliced: the first sentence cut short, the second starts on the same line. */
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1" RMC, RX_REJ_NMEA_SYNTAX);
	expect_reject(GGA RMC, RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,", RX_REJ_NMEA_NO_CHECKSUM);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48", RX_REJ_NMEA_CHECKSUM);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4", RX_REJ_NMEA_CHECKSUM);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4G", RX_REJ_NMEA_CHECKSUM);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*470", RX_REJ_NMEA_CHECKSUM);
	/* Needed fields: a letter in the latitude, 67 minutes, hemisphere X; too few fields. */
	expect_reject("$GPGGA,123519,48A7.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*36", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPGGA,123519,4867.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*41", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPGGA,123519,4807.038,X,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*51", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPGGA,123519,4807.038,N,01131.000,E,1,08*77", RX_REJ_NMEA_SYNTAX);
	/* Not a sentence at all, a control byte, an empty address. */
	expect_reject("GPGGA,123519*00", RX_REJ_NMEA_SYNTAX);
	expect_reject("$GPGGA,12\x01" "3519*00", RX_REJ_NMEA_SYNTAX);
	expect_reject("$,*2C", RX_REJ_NMEA_SYNTAX);
	expect_reject("$", RX_REJ_NMEA_NO_CHECKSUM);
}

static void test_merge(void **state)
{
	struct nmea_state st;
	struct parsed p;

	nmea_init(&st);
	p = parse(&st, GGA);
	assert_int_equal(p.kind, RX_EV_RECORD);
	p = parse(&st, RMC);
	assert_int_equal(p.kind, RX_EV_RECORD);
	/* GGA's altitude, sats and HDOP stay; RMC adds date, speed, course. */
	assert_near(p.rec.u.gps.alt_m, 545.4);
	assert_int_equal(p.rec.u.gps.sats, 8);
	assert_int_equal(p.rec.u.gps.year, 1994);
	assert_true(p.rec.u.gps.speed_kmh == 224.0 * 1852.0 / 10000.0);
	assert_int_equal(p.rec.u.gps.have, GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SATS | GPS_HAVE_HDOP |
						   GPS_HAVE_TIME | GPS_HAVE_SPEED | GPS_HAVE_COURSE | GPS_HAVE_DATE);
	p = parse(&st, VTG);
	assert_true(p.rec.u.gps.speed_kmh == 10186.0 / 1000.0);
	assert_near(p.rec.u.gps.lat_deg, 48.1173);
	/* A rejected sentence changes nothing. */
	p = parse(&st, "$GPGGA,123519,4867.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*41");
	assert_int_equal(p.kind, RX_EV_REJECT);
	/* Validity follows the latest sentence that states it: RMC V, then GGA quality 1. */
	p = parse(&st, "$GPRMC,,V,,,,,,,,,,N*53");
	assert_int_equal(p.rec.u.gps.valid, 0);
	assert_near(p.rec.u.gps.lat_deg, 48.1173); /* empty fields keep the merged position */
	p = parse(&st, GGA);
	assert_int_equal(p.rec.u.gps.valid, 1);
	/* An ignored sentence does not touch the record. */
	p = parse(&st, "$GPTXT,01,01,02,ANTSTATUS=OK*3B");
	assert_int_equal(p.kind, RX_EV_IGNORED);
	assert_int_equal(p.rec.type, REC_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gga),
		cmocka_unit_test(test_rmc),
		cmocka_unit_test(test_vtg),
		cmocka_unit_test(test_gll),
		cmocka_unit_test(test_gns),
		cmocka_unit_test(test_talkers),
		cmocka_unit_test(test_empty_fields),
		cmocka_unit_test(test_south_west_and_fraction),
		cmocka_unit_test(test_double_dollar),
		cmocka_unit_test(test_lowercase_checksum),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_bad_optional_fields),
		cmocka_unit_test(test_validity_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

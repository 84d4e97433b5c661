/*
 * fuzz_nmea.c - libFuzzer target for the NMEA parser (stages/can_rx/nmea.h) and the framer's sentence recovery
 * (framer.h, framer_parse_line).
 *
 * The input is split at LF into lines.  Each line is parsed by nmea_parse into one merged state (so merging is
 * exercised), and by framer_parse_line into another framer's state (recovery after junk: spliced sentences, escape
 * codes, NUL bytes).  Checks: a known event kind; a reject has a reason; a record's fields are in range; a reject or
 * ignore leaves the state unchanged and counts no bad field; nmea_sentence_type gives a NUL-terminated address of
 * A-Z 0-9; a recovered sentence is a suffix of its line that starts with '$' or '!', its junk before it, and parsing
 * that suffix alone gives the same kind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/can_rx/framer.h"
#include "stages/can_rx/nmea.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz__check_fix(const struct gps_fix *g)
{
	if ((g->have & GPS_HAVE_POS) &&
	    !(g->lat_deg >= -90.0 && g->lat_deg <= 90.0 && g->lon_deg >= -180.0 && g->lon_deg <= 180.0))
		abort();
	if ((g->have & GPS_HAVE_TIME) && (g->hour > 23 || g->min > 59 || g->sec > 60 || g->usec > 999999))
		abort();
	if ((g->have & GPS_HAVE_DATE) && (g->month < 1 || g->month > 12 || g->day < 1 || g->day > 31))
		abort();
	if ((g->have & GPS_HAVE_SPEED) && !(g->speed_kmh >= 0.0))
		abort();
	if ((g->have & GPS_HAVE_COURSE) && !(g->course_deg >= 0.0 && g->course_deg <= 360.0))
		abort();
	if (g->valid > 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct framer fr;
	struct nmea_state st, before;
	const char *p = (const char *)data, *end = p + size;

	nmea_init(&st);
	framer_init(&fr, FRAMER_TEXT);
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct rx_record rec;
		enum rx_reject why = RX_REJ__COUNT;
		char type[16];

		memset(&rec, 0, sizeof(rec));
		before = st;
		enum rx_event_kind k = nmea_parse(&st, p, n, &rec, &why);
		switch (k) {
		case RX_EV_RECORD:
			if (rec.type != REC_GPS || memcmp(&rec.u.gps, &st.fix, sizeof(st.fix)) != 0)
				abort();
			fuzz__check_fix(&rec.u.gps);
			break;
		case RX_EV_REJECT:
			if ((unsigned)why >= RX_REJ__COUNT)
				abort();
			/* fall through */
		case RX_EV_IGNORED:
			if (memcmp(&before.fix, &st.fix, sizeof(st.fix)) != 0 || rec.type != REC_NONE || st.bad_fields)
				abort();
			break;
		default:
			abort();
		}
		if (nmea_sentence_type(p, n, type, sizeof(type)) == 0) {
			size_t tl = strlen(type);
			if (tl == 0 || tl >= sizeof(type) || strspn(type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != tl)
				abort();
		} else if (k == RX_EV_RECORD) {
			abort(); /* a fix sentence has a 5-character address */
		}

		/* The framer's recovery inside a line. */
		struct rx_event ev;
		struct nmea_state probe_before = fr.nmea;
		framer_parse_line(&fr, p, n, &ev);
		if (ev.kind != RX_EV_RECORD && ev.kind != RX_EV_REJECT && ev.kind != RX_EV_IGNORED)
			abort();
		if (ev.kind == RX_EV_REJECT && (unsigned)ev.reason >= RX_REJ__COUNT)
			abort();
		if (ev.kind == RX_EV_RECORD && ev.rec.type == REC_GPS)
			fuzz__check_fix(&ev.rec.u.gps);
		if (ev.kind != RX_EV_RECORD && ev.bad_fields)
			abort();
		if (ev.junk_len) {
			if (ev.kind == RX_EV_REJECT || ev.text != p + ev.junk_len || ev.junk_len + ev.len > n ||
			    (ev.text[0] != '$' && ev.text[0] != '!'))
				abort();
			/* The recovered sentence alone parses the same way from the state before. */
			struct nmea_state alone = probe_before;
			struct rx_record r2;
			enum rx_reject w2;
			memset(&r2, 0, sizeof(r2));
			if (nmea_parse(&alone, ev.text, ev.len, &r2, &w2) != ev.kind)
				abort();
			if (ev.kind == RX_EV_RECORD && memcmp(&alone.fix, &fr.nmea.fix, sizeof(alone.fix)) != 0)
				abort();
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

/*
 * fuzz_nmea.c - libFuzzer target for the NMEA parser (stages/can_rx/nmea.h).
 *
 * The input is split at LF into sentences, all parsed into one merged state (so merging is exercised).  Checks: a
 * known event kind; a reject has a reason; a record's fields are in range; a reject or ignore leaves the state
 * unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/can_rx/nmea.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nmea_state st, before;
	const char *p = (const char *)data, *end = p + size;

	nmea_init(&st);
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct rx_record rec;
		enum rx_reject why = RX_REJ__COUNT;

		memset(&rec, 0, sizeof(rec));
		before = st;
		enum rx_event_kind k = nmea_parse(&st, p, n, &rec, &why);
		switch (k) {
		case RX_EV_RECORD: {
			const struct gps_fix *g = &rec.u.gps;
			if (rec.type != REC_GPS || memcmp(g, &st.fix, sizeof(*g)) != 0)
				abort();
			if ((g->have & GPS_HAVE_POS) &&
			    !(g->lat_deg >= -90.0 && g->lat_deg <= 90.0 && g->lon_deg >= -180.0 && g->lon_deg <= 180.0))
				abort();
			if ((g->have & GPS_HAVE_TIME) && (g->hour > 23 || g->min > 59 || g->sec > 60 || g->usec > 999999))
				abort();
			if ((g->have & GPS_HAVE_SPEED) && !(g->speed_kmh >= 0.0))
				abort();
			if (g->valid > 1)
				abort();
			break;
		}
		case RX_EV_REJECT:
			if ((unsigned)why >= RX_REJ__COUNT)
				abort();
			/* fall through */
		case RX_EV_IGNORED:
			if (memcmp(&before, &st, sizeof(st)) != 0 || rec.type != REC_NONE)
				abort();
			break;
		default:
			abort();
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

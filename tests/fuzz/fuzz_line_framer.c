/*
 * fuzz_line_framer.c - libFuzzer target for the can_rx framer (stages/can_rx/framer.h).
 *
 * Input: byte 0 picks a split position, the rest is the stream.  The stream is fed in AUTO mode whole, and again
 * in two pieces split there; both runs must give the same events (the framer's "any split" promise).  Every event
 * is checked: a valid kind and reason, records of a known type with dlc <= 8 and zero bytes past dlc, GPS fields in
 * range, text within the unit limit.  Also runs fixed TEXT and V2 modes for crashes and the per-event checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/can_rx/framer.h"

#define FUZZ_MAX_EV 4096

struct fuzz_ev {
	uint8_t kind, reason, type;
	uint32_t id;
	size_t len;
};

struct fuzz_log {
	size_t n;
	struct fuzz_ev ev[FUZZ_MAX_EV];
};

static void fuzz__check(const struct rx_event *ev)
{
	if (ev->kind != RX_EV_RECORD && ev->kind != RX_EV_REJECT && ev->kind != RX_EV_IGNORED)
		abort();
	if (ev->len > FRAMER_MAX_LINE + 1 || (ev->len && !ev->text))
		abort();
	if (ev->kind == RX_EV_REJECT && (unsigned)ev->reason >= RX_REJ__COUNT)
		abort();
	if (ev->kind != RX_EV_RECORD)
		return;
	const struct rx_record *r = &ev->rec;
	switch (r->type) {
	case REC_CAN:
		if (r->u.can.dlc > 8)
			abort();
		for (unsigned i = r->u.can.dlc; i < 8; i++)
			if (r->u.can.data[i])
				abort();
		if ((r->u.can.id & CAN_RTR_FLAG) && memcmp(r->u.can.data, "\0\0\0\0\0\0\0\0", 8) != 0)
			abort();
		if (!(r->u.can.id & CAN_EFF_FLAG) && (r->u.can.id & ~CAN_RTR_FLAG) > CAN_SFF_MASK)
			abort();
		break;
	case REC_GPS:
		if ((r->u.gps.have & GPS_HAVE_POS) &&
		    !(r->u.gps.lat_deg >= -90.0 && r->u.gps.lat_deg <= 90.0 && r->u.gps.lon_deg >= -180.0 &&
		      r->u.gps.lon_deg <= 180.0))
			abort();
		if ((r->u.gps.have & GPS_HAVE_TIME) && (r->u.gps.hour > 23 || r->u.gps.min > 59 || r->u.gps.sec > 60))
			abort();
		if ((r->u.gps.have & GPS_HAVE_DATE) && (r->u.gps.month < 1 || r->u.gps.month > 12 || r->u.gps.day < 1 ||
							r->u.gps.day > 31))
			abort();
		if (r->u.gps.valid > 1)
			abort();
		break;
	case REC_STATUS:
		if (r->u.status.can_ok > 1 || r->u.status.gps_ok > 1)
			abort();
		break;
	default:
		abort();
	}
}

static void fuzz__emit(void *ctx, const struct rx_event *ev)
{
	struct fuzz_log *log = ctx;

	fuzz__check(ev);
	if (!log || log->n == FUZZ_MAX_EV)
		return;
	struct fuzz_ev *e = &log->ev[log->n++];
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)ev->kind;
	e->reason = ev->kind == RX_EV_REJECT ? (uint8_t)ev->reason : 0;
	e->type = (uint8_t)ev->rec.type;
	e->id = ev->rec.type == REC_CAN ? ev->rec.u.can.id : 0;
	e->len = ev->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_log whole, split;
	struct framer f;

	if (size < 1)
		return 0;
	size_t at = data[0] * (size - 1) / 255;
	data++;
	size--;

	whole.n = 0;
	framer_init(&f, FRAMER_AUTO);
	framer_feed(&f, data, size, fuzz__emit, &whole);
	framer_finish(&f, fuzz__emit, &whole);

	split.n = 0;
	framer_init(&f, FRAMER_AUTO);
	framer_feed(&f, data, at, fuzz__emit, &split);
	framer_feed(&f, data + at, size - at, fuzz__emit, &split);
	framer_finish(&f, fuzz__emit, &split);

	if (whole.n != split.n || memcmp(whole.ev, split.ev, whole.n * sizeof(whole.ev[0])) != 0)
		abort();

	framer_init(&f, FRAMER_TEXT);
	framer_feed(&f, data, at, fuzz__emit, NULL);
	framer_feed(&f, data + at, size - at, fuzz__emit, NULL);
	framer_finish(&f, fuzz__emit, NULL);
	framer_init(&f, FRAMER_V2);
	framer_feed(&f, data, at, fuzz__emit, NULL);
	framer_feed(&f, data + at, size - at, fuzz__emit, NULL);
	framer_finish(&f, fuzz__emit, NULL);
	return 0;
}

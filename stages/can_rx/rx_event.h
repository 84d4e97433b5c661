/*
 * rx_event.h - what the can_rx framing layer reports for each input unit.
 *
 * The framer (framer.h) and the line parsers (legacy_line.h, nmea.h, candump.h) turn every unit of input -- a text
 * line, a v2 frame -- into exactly one event: a record, a reject with its reason, or "ignored" (banners, NMEA
 * sentences that carry no fix, v2 frame types another stage handles).  Nothing is dropped without an event, so the
 * caller can count every byte's fate.  Plain data; no thread or allocation concerns.
 */
#ifndef V2X_STAGES_CAN_RX_RX_EVENT_H
#define V2X_STAGES_CAN_RX_RX_EVENT_H

#include <stddef.h>

#include "vehicle/record.h"

/* Why a unit was rejected.  Names (rx_reject_name) are stable: counters and log lines use them. */
enum rx_reject {
	RX_REJ_OVERLONG,         /* "overlong": a unit longer than FRAMER_MAX_LINE */
	RX_REJ_NUL,              /* "nul_byte": a text line holding a 0x00 byte */
	RX_REJ_BINARY,           /* "binary": a text line holding another non-printable byte */
	RX_REJ_UNKNOWN,          /* "unknown_line": printable, but no known line kind */
	RX_REJ_SIM,              /* "bad_sim": a malformed legacy SIM (CAN) line */
	RX_REJ_GPS,              /* "bad_gps": a malformed legacy GPS line */
	RX_REJ_STATUS,           /* "bad_status": a malformed legacy STATUS line */
	RX_REJ_NMEA_CHECKSUM,    /* "nmea_checksum": checksum wrong or not two hex digits */
	RX_REJ_NMEA_NO_CHECKSUM, /* "nmea_no_checksum": no '*' checksum field */
	RX_REJ_NMEA_SYNTAX,      /* "nmea_syntax": bad field, bad address, or two sentences spliced on one line */
	RX_REJ_CANDUMP,          /* "bad_candump": a malformed candump log line, or a CAN FD (##) one */
	RX_REJ_V2_COBS,          /* "v2_cobs": a 0x00-terminated unit that is not valid COBS */
	RX_REJ_V2_SHORT,         /* "v2_short": decoded v2 frame shorter than header + CRC */
	RX_REJ_V2_CRC,           /* "v2_crc": v2 CRC mismatch */
	RX_REJ_V2_TYPE,          /* "v2_type": v2 frame of an unknown type */
	RX_REJ_V2_PAYLOAD,       /* "v2_payload": v2 payload malformed for its type, or too long */
	RX_REJ_SIM_ID,           /* "sim_id": a SIM line whose id is above 0x7FF without the extended flag bit */
	RX_REJ_NMEA_JUNK,        /* "nmea_junk": bytes before an NMEA sentence recovered from the same line */
	RX_REJ__COUNT
};

/* Short snake_case name of r ("overlong", "nul_byte", ...); "invalid" for a value out of range.  Static storage. */
const char *rx_reject_name(enum rx_reject r);

enum rx_event_kind {
	RX_EV_RECORD,  /* rec is filled */
	RX_EV_REJECT,  /* reason says why */
	RX_EV_IGNORED, /* understood, carries nothing for the pipeline */
};

struct v2x_frame;

struct rx_event {
	enum rx_event_kind kind;
	enum rx_reject reason; /* RX_EV_REJECT */
	/*
	 * RX_EV_RECORD: type and u filled; for v2 frames also flags REC_F_DEV_TIME, dev_seq and dev_time_us (unwrapped
	 * to 64 bits by the framer); for candump lines rx_real_ns from the line with REC_F_LOG_TIME.  The caller sets
	 * rx_mono_ns, rx_real_ns (unless REC_F_LOG_TIME), seq, link and line.  Other fields are zero.
	 */
	struct rx_record rec;
	/* The raw unit: a text line without its terminator (LF or CRLF), or a v2 frame's COBS bytes without the 0x00;
	 * for an NMEA sentence recovered after junk on its line, the sentence alone. */
	const char *text;
	size_t len;
	/* framer_parse_line() only: the junk_len bytes before text on the line were junk (framer_feed reports them as an
	 * RX_REJ_NMEA_JUNK reject just before this event, and then passes 0 here). */
	size_t junk_len;
	/* RX_EV_RECORD from an NMEA sentence: optional fields left out because they did not parse (nmea.h). */
	unsigned bad_fields;
	/* For a unit that decoded as a v2 frame (whatever the kind), the decoded frame; else NULL. */
	const struct v2x_frame *v2;
};

/* Called once per event, synchronously, from the thread that fed the framer.  ev and the memory ev->text and ev->v2
 * point to are valid only during the call: copy what is kept. */
typedef void (*rx_emit_fn)(void *ctx, const struct rx_event *ev);

/* The record hot path (framer_set_sink): called once per record the framer built in place in rec, the caller's own
 * storage, instead of emit with an event; synchronously, from the thread that fed the framer.  rec holds what an
 * RX_EV_RECORD event's rec would, apart from the fields the caller sets and the union's bytes past the record type's
 * member; the caller may move its storage on (the framer reads the slot pointer again for the next record). */
typedef void (*rx_commit_fn)(void *ctx, struct rx_record *rec);

#endif

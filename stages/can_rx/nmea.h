/*
 * nmea.h - NMEA 0183 sentences from a GPS receiver, merged into one running fix (../shared/facts/interop.md).
 *
 * Accepted: `$<talker><type>,<fields>*<hh>` where hh is the XOR of every byte between '$' and '*' as two hex digits
 * (either case).  A doubled leading `$$` (seen after receiver resets) is accepted by skipping the extra '$'s.
 * Talkers GP GN GL GA BD with types GGA RMC VTG GNS GLL are parsed; every other well-formed sentence with a correct
 * checksum (other talkers, other types, proprietary `$P...`) is "ignored".  Empty fields are accepted wherever the
 * standard allows a null field: they leave the merged value unchanged.
 *
 * Refused: no '*' -> RX_REJ_NMEA_NO_CHECKSUM; a checksum that is wrong, or not exactly two hex digits at the end of
 * the line -> RX_REJ_NMEA_CHECKSUM; a second '$' or '!' in the line (two sentences spliced together), a byte outside
 * 0x20..0x7E, a bad address or a malformed field -> RX_REJ_NMEA_SYNTAX.  A refused sentence changes no state.
 *
 * Merge: each parsed GGA/RMC/VTG/GNS/GLL sentence updates the fields it carries and the result is the whole merged
 * fix so far.  GGA: time, position, quality, sats, HDOP, altitude.  RMC: time, status, position, speed, course,
 * date.  VTG: course, speed (the km/h field, else knots x 1.852).  GNS: time, position, mode, sats, HDOP, altitude.
 * GLL: position, time, status.  fix.valid follows the most recent sentence that states validity: GGA quality > 0,
 * RMC or GLL status 'A' (and a mode indicator other than 'N'), GNS a mode character among A D P R F.  Two-digit RMC
 * years are 2000..2079 for 00..79 and 1980..1999 for 80..99.
 *
 * Pure functions over caller-owned state; one nmea_state per input link, used from one thread; no allocation.
 */
#ifndef V2X_STAGES_CAN_RX_NMEA_H
#define V2X_STAGES_CAN_RX_NMEA_H

#include <stddef.h>

#include "stages/can_rx/rx_event.h"
#include "vehicle/record.h"

struct nmea_state {
	struct gps_fix fix;  /* the merged fix so far */
	unsigned bad_fields; /* optional fields left out of the last sentence parsed */
};

/* Reset the merged fix. */
void nmea_init(struct nmea_state *st);

/*
 * Parse one sentence s[0..n) (without CR/LF; need not be NUL-terminated).  Returns RX_EV_RECORD with rec->type =
 * REC_GPS and rec->u.gps = the merged fix (only those two members of *rec are written), RX_EV_IGNORED, or
 * RX_EV_REJECT with *why set.
 */
enum rx_event_kind nmea_parse(struct nmea_state *st, const char *s, size_t n, struct rx_record *rec,
			      enum rx_reject *why);

#endif

/*
 * nmea.h - NMEA 0183 sentences from a GPS receiver, merged into one running fix (../shared/facts/interop.md).
 *
 * Checked first, for every sentence: `$<address>,<fields>*<hh>` (or `!...` for AIS and other encapsulated data),
 * where hh is the XOR of every byte between the start character and '*' as two hex digits (either case).  Extra
 * start characters (`$$GPGGA`, after a receiver reset) are skipped.  Refused: no '*' -> RX_REJ_NMEA_NO_CHECKSUM; a
 * checksum that is wrong, or not exactly two hex digits at the end -> RX_REJ_NMEA_CHECKSUM; another '$' or '!', a
 * byte outside 0x20..0x7E, an address that is not 1 or more of A-Z 0-9 -> RX_REJ_NMEA_SYNTAX.  The caller (framer.h)
 * finds the sentence inside a damaged line: it starts at the line's last '$' or '!'.
 *
 * Classified by address before the fields are split, so length does not matter: `!...` (AIVDM, AIVDO, ...),
 * proprietary `$P...`, and every sentence type other than the five below, from any talker -> RX_EV_IGNORED.
 * GGA RMC GLL GNS VTG from ANY two-letter talker (GP GN GL GA GB BD GQ GI IN EC II ...) are parsed; such a sentence
 * with more than 32 fields -> RX_REJ_NMEA_SYNTAX.
 *
 * Fields.  Empty fields are allowed wherever the standard allows a null field and leave the merged value unchanged.
 * Needed fields: latitude, longitude and their hemispheres (both pairs present and valid, or both empty = no
 * position), and the sentence's own validity fields (below): a malformed one refuses the sentence
 * (RX_REJ_NMEA_SYNTAX).  Every other field is optional: time, date, speed, course, magnetic variation, satellites,
 * HDOP, altitude and the unit letters; one that does not parse is left out (its GPS_HAVE_ bit cleared in the merged
 * fix, as the value is unknown now), counted in nmea_state.bad_fields, and the rest of the sentence is kept.
 * Formats: latitude ddmm.mmm, longitude dddmm.mmm (whole degrees + decimal minutes < 60, at most 90 / 180 degrees),
 * N/S/E/W; time hhmmss[.s...] (hh <= 23, ss <= 60); date ddmmyy (two-digit years 00..79 -> 2000..2079, 80..99 ->
 * 1980..1999); speeds, course (<= 360), HDOP non-negative decimals.
 *
 * Per sentence (field numbers 1-based after the address), what is read and when the fix is valid -- the receiver's
 * own flags, as gpsd 3.22 reads them except where noted:
 *   GGA  time 1, position 2-5, quality 6, sats 7, HDOP 8, altitude 9 (unit 10 'M').
 *        valid = quality 1..9 (0 = no fix; empty = not valid; a non-digit refuses).  gpsd 3.22 instead takes a
 *        3D fix whenever there is a position and enough satellites, whatever the quality.
 *   RMC  time 1, status 2, position 3-6, speed in knots 7, course 8, date 9, magnetic variation 10-11, mode 12,
 *        navigational status 13 (NMEA 4.1).
 *        valid = status 'A' and mode not 'N' (nor another letter than A D E F M P R S) and nav status not 'V'.
 *        Status 'V' or empty: not valid.  Another status or a mode that is not one letter refuses.
 *   GLL  position 1-4, time 5, status 6, mode 7.  valid as RMC (no nav status).
 *   GNS  time 1, position 2-5, mode indicators 6 (one letter per constellation), sats 7, HDOP 8, altitude 9,
 *        navigational status 13 (NMEA 4.1).
 *        valid = at least one mode letter among A D E F M P R S (so "AN", GPS fixed and GLONASS not, is valid; gpsd
 *        3.22 reads only the first letter) and nav status not 'V'.  Empty mode: not valid; a non-letter refuses.
 *   VTG  course true 1 ('T' 2), course magnetic 3 ('M' 4, checked only), speed knots 5 ('N' 6), km/h 7 ('K' 8),
 *        mode 9.  Mode 'N' (or another non-fix letter): valid = false and nothing else is taken.  Otherwise the
 *        validity is left as it was (VTG has no position).  Speed from the knots field (it has more digits); the
 *        km/h field only when knots is empty (gpsd 3.22 then ignores the sentence).
 * Knots are converted with 1 kn = 1.852 km/h exactly: the decimal digits times 1852 divided by a power of ten, one
 * rounding (so "5.2" kn gives the double nearest to 9.6304).
 *
 * Merge: each accepted GGA/RMC/GLL/GNS/VTG updates the fields it carries and the result is the whole merged fix
 * so far; fix.valid follows the most recent sentence that states validity.  A refused or ignored sentence changes
 * no state (bad_fields is then 0).
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
 * Parse one sentence s[0..n) starting with '$' or '!' (without CR/LF; need not be NUL-terminated).  Returns
 * RX_EV_RECORD with rec->type = REC_GPS and rec->u.gps = the merged fix (only those two members of *rec are written),
 * RX_EV_IGNORED, or RX_EV_REJECT with *why set.
 */
enum rx_event_kind nmea_parse(struct nmea_state *st, const char *s, size_t n, struct rx_record *rec,
			      enum rx_reject *why);

/* The address of sentence s[0..n) ("GPGSV", "AIVDM", "PGRME") into out (size bytes, NUL-terminated).  Returns 0, or
 * -EINVAL when s does not start with '$' or '!' and an address ended by ',' or '*', or it does not fit. */
int nmea_sentence_type(const char *s, size_t n, char *out, size_t size);

#endif

/*
 * legacy_line.h - parsers for the legacy ESP32(1) text lines (../shared/facts/legacy-system.md, link 1).
 *
 *   SIM <id hex> <dlc> <b0> .. <b7>       a CAN frame; id 1..8 hex digits (either case) with Linux flag bits:
 *                                         0x80000000 = extended, 0x40000000 = remote; 0x20000000 (error frame) is
 *                                         refused, and so is an identifier above 0x7FF without the extended flag
 *                                         (`SIM 1558 7 ...`: the firmware prints a 29-bit id with its flag, so this
 *                                         is a corrupted line, not an extended frame).  dlc 0..8; always 8
 *                                         two-digit bytes; stored bytes at or past dlc (all of them for a remote
 *                                         frame) are 0.
 *   GPS <lat> <lon> <alt_m> <speed_kmh> <sats> <hdop> <Y-M-D> <H:M:S> <valid 0|1>      (10 tokens)
 *   GPS <lat> <lon> <alt_m> <speed_kmh> <sats> <hdop> INVALID <valid 0|1>              (9 tokens)
 *                                         the legacy firmware printed hour + 1 with no wrap (1..24), so the stored
 *                                         UTC hour is h - 1 (h = 0 is refused); the date is already UTC.
 *   STATUS CAN:<OK|NO> GPS:<OK|NO> Sats:<n> HDOP:<x.x>[ Pos:<lat>,<lon> Speed:<x.x>km/h]
 *   banner lines of the firmware's start-up text, and lines made only of '=': recognised, carry nothing.
 *
 * Tokens are separated by one or more spaces; trailing spaces are allowed.  The input is a line without its
 * terminator and need not be NUL-terminated.  Pure functions: any thread, no blocking, no allocation.
 */
#ifndef V2X_STAGES_CAN_RX_LEGACY_LINE_H
#define V2X_STAGES_CAN_RX_LEGACY_LINE_H

#include <stddef.h>

#include "vehicle/record.h"

/* A SIM line (the hot path).  Returns 0 and *out; -ERANGE for a well-formed line whose id is above 0x7FF without the
 * extended flag; -EINVAL for anything else (out then unspecified). */
int legacy_sim_parse(const char *s, size_t n, struct can_frame_data *out);

/* A GPS line.  Returns 0 and *out (have: POS ALT SPEED SATS HDOP, plus DATE TIME for the 10-token form), or -EINVAL. */
int legacy_gps_parse(const char *s, size_t n, struct gps_fix *out);

/* A STATUS line.  Returns 0 and *out, or -EINVAL. */
int legacy_status_parse(const char *s, size_t n, struct link_status *out);

/* Whether the line is one of the firmware's start-up banner lines or a line of '='.  Returns 1 or 0. */
int legacy_is_banner(const char *s, size_t n);

#endif

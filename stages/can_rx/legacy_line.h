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
#include <stdint.h>
#include <string.h>

#include "stages/can_rx/scan.h"
#include "vehicle/record.h"

/* A SIM line (the hot path).  Returns 0 and *out; -ERANGE for a well-formed line whose id is above 0x7FF without the
 * extended flag; -EINVAL for anything else (out then unspecified). */
int legacy_sim_parse(const char *s, size_t n, struct can_frame_data *out);

/*
 * The firmware's own SIM layout, the bulk of every legacy stream: "SIM " + an id of exactly 3 hex digits (a standard
 * frame) or 8 (with its flag bits) + " " + the dlc digit + 8 x " HH", single spaces, nothing after:
 * LEGACY_SIM_LEN3 or LEGACY_SIM_LEN8 bytes.  legacy_sim_fixed() takes a line of one of those two lengths; it
 * returns 0 and *out exactly when legacy_sim_parse() returns 0 for that line, with the same *out, and 1 otherwise
 * (the line may still be valid in another layout, or be refused: ask legacy_sim_parse()).  It reads s[0..n) only,
 * every byte of it is checked, and on 1 *out is unspecified.  Inline: it is the per-frame cost of a legacy replay.
 */
#define LEGACY_SIM_LEN3 33
#define LEGACY_SIM_LEN8 38

/* Byte masks built from byte arrays, so the word compares below hold on either byte order. */
union legacy__word {
	uint8_t b[8];
	uint64_t w;
};

static inline uint64_t legacy__load64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static inline __attribute__((always_inline)) int legacy__sim_fixed_id(const unsigned char *p, size_t idlen,
									  struct can_frame_data *out)
{
	/* The 9 separators of " D HH HH ... HH" after the id, at q[0] and q[2 + 3b]; the words at q + 2, q + 10 and
	 * q + 18 cover q[2..25], the last byte of the line. */
	static const union legacy__word sp0 = {{' ', 0, 0, ' ', 0, 0, ' ', 0}}, m0 = {{0xFF, 0, 0, 0xFF, 0, 0, 0xFF, 0}};
	static const union legacy__word sp1 = {{0, ' ', 0, 0, ' ', 0, 0, ' '}}, m1 = {{0, 0xFF, 0, 0, 0xFF, 0, 0, 0xFF}};
	static const union legacy__word sp2 = {{0, 0, ' ', 0, 0, ' ', 0, 0}}, m2 = {{0, 0, 0xFF, 0, 0, 0xFF, 0, 0}};
	/* Data bytes kept for dlc 0..8. */
	static const union legacy__word keep[9] = {
		{{0}},
		{{0xFF}},
		{{0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	};
	const uint16_t *hi = scan_hex_hi, *lo = scan_hex_lo;
	const unsigned char *q = p + 4 + idlen;
	unsigned bad; /* SCAN_HEX_BAD set once any digit is not one */
	uint32_t v;

	if (memcmp(p, "SIM ", 4) != 0)
		return 1;
	if (idlen == 3) {
		unsigned x = hi[p[4]] | lo[p[5]], y = lo[p[6]];
		bad = x | y;
		v = (x & 0xFFu) << 4 | (y & 0xFu);
	} else {
		unsigned x0 = hi[p[4]] | lo[p[5]], x1 = hi[p[6]] | lo[p[7]];
		unsigned x2 = hi[p[8]] | lo[p[9]], x3 = hi[p[10]] | lo[p[11]];
		bad = x0 | x1 | x2 | x3;
		v = (x0 & 0xFFu) << 24 | (x1 & 0xFFu) << 16 | (x2 & 0xFFu) << 8 | (x3 & 0xFFu);
	}
	unsigned dlc = (unsigned)q[1] - '0';
	uint64_t sep = ((legacy__load64(q + 2) ^ sp0.w) & m0.w) | ((legacy__load64(q + 10) ^ sp1.w) & m1.w) |
		       ((legacy__load64(q + 18) ^ sp2.w) & m2.w);
	if (q[0] != ' ' || sep != 0 || dlc > 8)
		return 1;
	unsigned dlc_keep = dlc;
#define LEGACY__BYTE(k)                                                                                             \
	do {                                                                                                       \
		unsigned x_ = hi[q[3 + 3 * (k)]] | lo[q[4 + 3 * (k)]];                                             \
		bad |= x_;                                                                                         \
		out->data[k] = (uint8_t)x_;                                                                        \
	} while (0)
	LEGACY__BYTE(0);
	LEGACY__BYTE(1);
	LEGACY__BYTE(2);
	LEGACY__BYTE(3);
	LEGACY__BYTE(4);
	LEGACY__BYTE(5);
	LEGACY__BYTE(6);
	LEGACY__BYTE(7);
#undef LEGACY__BYTE
	if (idlen == 3) {
		if ((bad & SCAN_HEX_BAD) || v > CAN_SFF_MASK)
			return 1; /* (a standard id with a 12th bit: legacy_sim_parse() says -ERANGE) */
	} else {
		int eff = (v & CAN_EFF_FLAG) != 0;
		if ((bad & SCAN_HEX_BAD) || (v & CAN_ERR_FLAG) || (!eff && (v & CAN_EFF_MASK) > CAN_SFF_MASK))
			return 1;
		if (v & CAN_RTR_FLAG)
			dlc_keep = 0; /* a remote frame carries no data */
	}
	union legacy__word data;
	memcpy(data.b, out->data, 8);
	data.w &= keep[dlc_keep].w;
	memcpy(out->data, data.b, 8);
	out->id = v; /* the identifier with its EFF and RTR bits: the ERR bit is clear */
	out->dlc = (uint8_t)dlc;
	return 0;
}

static inline __attribute__((always_inline)) int legacy_sim_fixed(const char *s, size_t n, struct can_frame_data *out)
{
	if (n == LEGACY_SIM_LEN3)
		return legacy__sim_fixed_id((const unsigned char *)s, 3, out);
	if (n == LEGACY_SIM_LEN8)
		return legacy__sim_fixed_id((const unsigned char *)s, 8, out);
	return 1;
}

/* A GPS line.  Returns 0 and *out (have: POS ALT SPEED SATS HDOP, plus DATE TIME for the 10-token form), or -EINVAL. */
int legacy_gps_parse(const char *s, size_t n, struct gps_fix *out);

/* A STATUS line.  Returns 0 and *out, or -EINVAL. */
int legacy_status_parse(const char *s, size_t n, struct link_status *out);

/* Whether the line is one of the firmware's start-up banner lines or a line of '='.  Returns 1 or 0. */
int legacy_is_banner(const char *s, size_t n);

#endif

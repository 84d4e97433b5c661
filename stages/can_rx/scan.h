/*
 * scan.h - small number scanners for the can_rx line parsers: hand-written, table-driven, locale-independent.
 *
 * Each works on (pointer, length) without needing a terminating NUL, accepts the whole span or fails, and never
 * reads outside it.  Pure functions: any thread, no blocking, no allocation.
 */
#ifndef V2X_STAGES_CAN_RX_SCAN_H
#define V2X_STAGES_CAN_RX_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Value of a hex digit (either case) for each byte, or -1. */
extern const int8_t scan_hex_val[256];

/* For the fixed-layout SIM parser: scan_hex_hi[c] is hex digit c's value << 4, scan_hex_lo[c] its value, and both
 * are SCAN_HEX_BAD for a byte that is not a hex digit; so hi[c0] | lo[c1] is the byte the digits c0 c1 spell, with
 * SCAN_HEX_BAD set when either is not a digit. */
#define SCAN_HEX_BAD 0x100u
extern const uint16_t scan_hex_hi[256], scan_hex_lo[256];

/* Exactly two hex digits at s.  Returns 0..255, or -1. */
static inline int scan_hex2(const char *s)
{
	int hi = scan_hex_val[(unsigned char)s[0]], lo = scan_hex_val[(unsigned char)s[1]];

	return (hi | lo) < 0 ? -1 : hi << 4 | lo;
}

/* 1..8 hex digits.  Returns 0 and *out, or -EINVAL. */
int scan_hex_u32(const char *s, size_t n, uint32_t *out);

/* 1..10 decimal digits, value <= max.  Returns 0 and *out, or -EINVAL. */
int scan_uint(const char *s, size_t n, uint32_t max, uint32_t *out);

/*
 * A decimal number: optional sign, digits, optional '.' and digits, at least one digit, no exponent.  The value is
 * the correctly rounded double of the digits when they fit 15 significant digits; fractional digits past the 17th
 * significant one or the 22nd decimal are dropped; an integer part of 1e18 or more fails.  Returns 0 and *out, or
 * -EINVAL.
 */
int scan_dec(const char *s, size_t n, double *out);

/* Split s at runs of spaces into at most max tokens (starts and lengths).  Returns the token count, or max + 1 when
 * there are more tokens than max. */
size_t scan_tokens(const char *s, size_t n, const char **tok, size_t *tok_len, size_t max);

#endif

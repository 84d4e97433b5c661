/*
 * dbc_bits.h - the DBC bit numbering of ../shared/facts/interop.md, walked one bit at a time: the tests' reference
 * for the decoder's signal extraction (test_dbc, test_decode_fast).  Slow on purpose: no shift-and-mask tricks.
 */
#ifndef V2X_TESTS_SUPPORT_DBC_BITS_H
#define V2X_TESTS_SUPPORT_DBC_BITS_H

#include <stdint.h>

/* Motorola: start at bit s (byte s/8, bit s%8 with bit 7 = MSB of the byte), which is the MSB of the value; continue
   towards bit 0 of that byte, then from bit 7 of the next byte. */
static inline uint64_t walk_motorola(const uint8_t *b, unsigned s, unsigned len)
{
	uint64_t v = 0;
	unsigned pos = s;
	for (unsigned i = 0; i < len; i++) {
		v = v << 1 | ((b[pos / 8] >> (pos % 8)) & 1u);
		pos = (pos % 8 == 0) ? pos + 15 : pos - 1;
	}
	return v;
}

/* Intel: start at bit s, the LSB; continue upwards (bit 8 is bit 0 of byte 1). */
static inline uint64_t walk_intel(const uint8_t *b, unsigned s, unsigned len)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < len; i++) {
		unsigned pos = s + i;
		v |= (uint64_t)((b[pos / 8] >> (pos % 8)) & 1u) << i;
	}
	return v;
}

#endif

/*
 * v2x_le.h - little-endian fields at explicit offsets, for every wire format of the project (the v2 frames, the
 * legacy 88-byte Item and the ESP-NOW bodies), so neither struct padding nor the host's byte order matters.
 *
 * Pure inline functions: any thread, no allocation.  C11, freestanding-friendly (<stdint.h>, <string.h>), so the
 * firmware builds it unchanged.  p must hold 2 (16-bit) or 4 (32-bit, float) bytes.
 */
#ifndef V2X_FIRMWARE_V2X_LE_H
#define V2X_FIRMWARE_V2X_LE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t v2x_le_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t v2x_le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An IEEE 754 single stored as its 32-bit pattern (any value, NaN included: callers validate). */
static inline float v2x_le_getf32(const uint8_t *p)
{
	uint32_t u = v2x_le_get32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline void v2x_le_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void v2x_le_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void v2x_le_putf32(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	v2x_le_put32(p, u);
}

#endif

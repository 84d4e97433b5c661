/* scan.c - number scanners for the can_rx line parsers (scan.h). */
#include "stages/can_rx/scan.h"

#include <errno.h>

#define H16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
const int8_t scan_hex_val[256] = {
	H16(-1), H16(-1), H16(-1),
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,        /* 0x30 */
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, /* 0x40 */
	H16(-1),
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, /* 0x60 */
	H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1), H16(-1),
};

#define B16 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100
#define B6 0x100, 0x100, 0x100, 0x100, 0x100, 0x100
const uint16_t scan_hex_hi[256] = {
	B16, B16, B16,
	0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, B6,     /* 0x30 */
	0x100, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0, 0x100, B6, 0x100, 0x100, /* 0x40 */
	B16,
	0x100, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0, 0x100, B6, 0x100, 0x100, /* 0x60 */
	B16, B16, B16, B16, B16, B16, B16, B16, B16,
};
const uint16_t scan_hex_lo[256] = {
	B16, B16, B16,
	0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, B6,               /* 0x30 */
	0x100, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF, 0x100, B6, 0x100, 0x100,       /* 0x40 */
	B16,
	0x100, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF, 0x100, B6, 0x100, 0x100,       /* 0x60 */
	B16, B16, B16, B16, B16, B16, B16, B16, B16,
};

int scan_hex_u32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n < 1 || n > 8)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = scan_hex_val[(unsigned char)s[i]];
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int scan_uint(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (n < 1 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static const double scan__pow10[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

int scan_dec(const char *s, size_t n, double *out)
{
	size_t i = 0, ndig = 0;
	unsigned frac = 0;
	uint64_t mant = 0;
	int neg = 0, dot = 0;

	if (i < n && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		i++;
	}
	for (; i < n; i++) {
		if (s[i] == '.') {
			if (dot)
				return -EINVAL;
			dot = 1;
			continue;
		}
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			return -EINVAL;
		ndig++;
		if (mant < 100000000000000000ull) {
			if (dot) {
				if (frac == 22)
					continue; /* beyond 1e-22: dropped */
				frac++;
			}
			mant = mant * 10 + d;
		} else if (!dot) {
			return -EINVAL; /* 1e18 or more: not a value these lines carry */
		}
	}
	if (!ndig)
		return -EINVAL;
	double v = (double)mant;
	if (frac)
		v /= scan__pow10[frac];
	*out = neg ? -v : v;
	return 0;
}

size_t scan_tokens(const char *s, size_t n, const char **tok, size_t *tok_len, size_t max)
{
	size_t count = 0, i = 0;

	for (;;) {
		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			return count;
		size_t b = i;
		while (i < n && s[i] != ' ')
			i++;
		if (count == max)
			return max + 1;
		tok[count] = s + b;
		tok_len[count] = i - b;
		count++;
	}
}

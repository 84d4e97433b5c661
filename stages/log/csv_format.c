/*
 * csv_format.c - row formatters of the log stage (see csv_format.h for the formats and decisions).
 *
 * The per-frame path (csv_can_row, candump_line) is a handful of table look-ups and stores: decimal digits two at a
 * time from a 200-byte table, hex bytes from a 512-byte table, no division by a variable, no printf.  The GPS part
 * of a can_data row changes a few times a second and is formatted once per change (struct csv_gps_suffix).
 *
 * Fixed-point rounding: printf("%.6f", v) prints the exact binary value of v rounded to 6 decimals, ties to even.
 * csv__fixed() computes p = |v| * 10^d rounded to double, and the exact rounding error e = fma(|v|, 10^d, -p)
 * (exact because 10^d is a double and the product's error is representable), so |v| * 10^d == p + e exactly.
 * Rounding p to an integer n is then right except when p is exactly halfway between two integers, where the sign
 * of e decides (e == 0 is a true tie: keep the even n).  For p < 2^52 halfway points are representable and no
 * other case can flip, so the result is printf's, digit for digit.  Larger products go through snprintf.
 */
#include "stages/log/csv_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stages/log/fmt_double.h"

static const char csv__digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				      "8081828384858687888990919293949596979899";

static const char csv__hex2[513] = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
				   "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
				   "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
				   "606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F"
				   "808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F"
				   "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"
				   "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
				   "E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF";

static const char csv__hexdig[17] = "0123456789ABCDEF";

static const uint64_t csv__pow10[10] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
};

/* Writes v in decimal (no padding); returns the number of chars (1..20). */
static inline size_t csv__u64(char *p, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof(tmp);

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		t -= 2;
		memcpy(t, csv__digits2 + 2 * r, 2);
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, csv__digits2 + 2 * v, 2);
	} else {
		*--t = (char)('0' + v);
	}
	size_t n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return n;
}

/* Writes v (< 10^width) zero-padded to exactly width digits. */
static inline void csv__dec_fixed(char *p, uint32_t v, unsigned width)
{
	char *t = p + width;

	while (width >= 2) {
		t -= 2;
		memcpy(t, csv__digits2 + 2 * (v % 100), 2);
		v /= 100;
		width -= 2;
	}
	if (width)
		*--t = (char)('0' + v % 10);
}

size_t csv_fmt_time_ns(char *buf, size_t size, int64_t t_ns)
{
	char *p = buf;
	uint64_t a;

	if (size < 24)
		return 0;
	if (t_ns < 0) {
		*p++ = '-';
		a = (uint64_t)0 - (uint64_t)t_ns;
	} else {
		a = (uint64_t)t_ns;
	}
	p += csv__u64(p, a / 1000000000u);
	*p++ = '.';
	csv__dec_fixed(p, (uint32_t)(a % 1000000000u), 9);
	p += 9;
	return (size_t)(p - buf);
}

size_t csv_fmt_fixed(char *buf, size_t size, double v, unsigned decimals)
{
	char *p = buf;

	if (size < 32 || decimals > 9 || !isfinite(v) || fabs(v) >= 1e15)
		return 0;

	double a = fabs(v);
	double scale = (double)csv__pow10[decimals];
	double prod = a * scale;
	if (!(prod < 4503599627370496.0)) { /* 2^52: halfway points no longer representable */
		int n = snprintf(buf, size, "%.*f", (int)decimals, v);
		return n > 0 && (size_t)n < size ? (size_t)n : 0;
	}
	double err = fma(a, scale, -prod);          /* exact: a * scale == prod + err */
	double n = (prod + 4503599627370496.0) - 4503599627370496.0; /* nearest integer, ties to even */
	double r = prod - n;                        /* exact, in [-0.5, 0.5] */
	if (r == 0.5 && err > 0)
		n += 1.0;
	else if (r == -0.5 && err < 0)
		n -= 1.0;
	uint64_t u = (uint64_t)n;

	if (signbit(v))
		*p++ = '-';
	uint64_t ip = u / csv__pow10[decimals];
	uint32_t fp = (uint32_t)(u % csv__pow10[decimals]);
	p += csv__u64(p, ip);
	if (decimals) {
		*p++ = '.';
		csv__dec_fixed(p, fp, decimals);
		p += decimals;
	}
	return (size_t)(p - buf);
}

/* ---- GPS suffix of can_data rows ---- */

/* `lat,lon,alt,speed` as both can_data and gps_data write them (%.6f, %.6f, %.1f, %.1f; empty when absent). */
static char *csv__gps_position(char *p, char *end, const struct gps_fix *fix)
{
	if (fix->have & GPS_HAVE_POS)
		p += csv_fmt_fixed(p, (size_t)(end - p), fix->lat_deg, 6);
	*p++ = ',';
	if (fix->have & GPS_HAVE_POS)
		p += csv_fmt_fixed(p, (size_t)(end - p), fix->lon_deg, 6);
	*p++ = ',';
	if (fix->have & GPS_HAVE_ALT)
		p += csv_fmt_fixed(p, (size_t)(end - p), fix->alt_m, 1);
	*p++ = ',';
	if (fix->have & GPS_HAVE_SPEED)
		p += csv_fmt_fixed(p, (size_t)(end - p), fix->speed_kmh, 1);
	return p;
}

static void csv__gps_suffix_format(struct csv_gps_suffix *s, const struct gps_fix *fix)
{
	char *p = s->text;
	char *end = s->text + sizeof(s->text);

	if (!fix) {
		memcpy(p, ",,,,,0", 6);
		s->len = 6;
		return;
	}
	*p++ = ',';
	p = csv__gps_position(p, end, fix);
	*p++ = ',';
	*p++ = fix->valid ? '1' : '0';
	s->len = (uint8_t)(p - s->text);
}

void csv_gps_suffix_init(struct csv_gps_suffix *s)
{
	memset(s, 0, sizeof(*s));
	csv__gps_suffix_format(s, NULL);
}

int csv_gps_suffix_update(struct csv_gps_suffix *s, const struct gps_fix *fix)
{
	if (!fix) {
		if (!s->has_fix)
			return 0;
		s->has_fix = 0;
		csv__gps_suffix_format(s, NULL);
		return 1;
	}
	double key[4] = {fix->lat_deg, fix->lon_deg, fix->alt_m, fix->speed_kmh};
	uint8_t valid = fix->valid ? 1 : 0;
	/* bit patterns, so a NaN compares equal to itself and -0.0 differs from 0.0, as their text does */
	if (s->has_fix && s->key_have == fix->have && s->key_valid == valid && memcmp(s->key, key, sizeof(key)) == 0)
		return 0;
	memcpy(s->key, key, sizeof(key));
	s->key_have = fix->have;
	s->key_valid = valid;
	s->has_fix = 1;
	csv__gps_suffix_format(s, fix);
	return 1;
}

/* ---- CAN frames ---- */

/* Writes the id as candump does; returns its length (3 or 8). */
static inline size_t csv__can_id(char *p, uint32_t id)
{
	uint32_t v;

	if (id & CAN_ERR_FLAG)
		v = id & (CAN_EFF_MASK | CAN_ERR_FLAG);
	else if (id & CAN_EFF_FLAG)
		v = id & CAN_EFF_MASK;
	else {
		v = id & CAN_SFF_MASK;
		p[0] = csv__hexdig[(v >> 8) & 0xF];
		memcpy(p + 1, csv__hex2 + 2 * (v & 0xFF), 2);
		return 3;
	}
	memcpy(p + 0, csv__hex2 + 2 * ((v >> 24) & 0xFF), 2);
	memcpy(p + 2, csv__hex2 + 2 * ((v >> 16) & 0xFF), 2);
	memcpy(p + 4, csv__hex2 + 2 * ((v >> 8) & 0xFF), 2);
	memcpy(p + 6, csv__hex2 + 2 * (v & 0xFF), 2);
	return 8;
}

static inline unsigned csv__data_len(const struct can_frame_data *f)
{
	return f->dlc < 8 ? f->dlc : 8;
}

static size_t csv__can_row_fast(char *buf, const struct rx_record *rec, const struct csv_gps_suffix *gps)
{
	const struct can_frame_data *f = &rec->u.can;
	char *p = buf;

	p += csv_fmt_time_ns(p, 32, rec->rx_real_ns);
	*p++ = ',';
	p += csv__can_id(p, f->id);
	*p++ = ',';
	p += csv__u64(p, f->dlc);
	*p++ = ',';
	char *hex = p;
	if ((f->id & CAN_RTR_FLAG) && !(f->id & CAN_ERR_FLAG)) {
		*p++ = 'R';
	} else {
		unsigned n = csv__data_len(f);
		for (unsigned i = 0; i < n; i++) {
			memcpy(p, csv__hex2 + 2 * f->data[i], 2);
			p[2] = ' ';
			p += 3;
		}
		if (n)
			p--; /* no space after the last byte */
	}
	size_t hex_len = (size_t)(p - hex);
	*p++ = ',';
	memcpy(p, hex, hex_len);
	p += hex_len;
	memcpy(p, gps->text, gps->len);
	p += gps->len;
	*p++ = ',';
	p += csv__u64(p, rec->seq);
	*p++ = ',';
	if (rec->flags & REC_F_DEV_TIME)
		p += csv__u64(p, rec->dev_time_us);
	*p++ = '\n';
	return (size_t)(p - buf);
}

size_t csv_can_row(char *buf, size_t size, const struct rx_record *rec, const struct csv_gps_suffix *gps)
{
	if (size >= CSV_CAN_ROW_MAX)
		return csv__can_row_fast(buf, rec, gps);
	char tmp[CSV_CAN_ROW_MAX];
	size_t n = csv__can_row_fast(tmp, rec, gps);
	if (n > size)
		return 0;
	memcpy(buf, tmp, n);
	return n;
}

static size_t candump__fast(char *buf, int64_t t_real_ns, const char *ifname, size_t if_len,
			    const struct can_frame_data *f)
{
	char *p = buf;
	uint64_t a = t_real_ns < 0 ? 0 : (uint64_t)t_real_ns; /* candump has no negative times */
	uint64_t sec = a / 1000000000u;
	uint32_t usec = (uint32_t)(a % 1000000000u / 1000u);

	*p++ = '(';
	if (sec < 10000000000ull) { /* %010lu */
		csv__dec_fixed(p, (uint32_t)(sec / 100000), 5);
		csv__dec_fixed(p + 5, (uint32_t)(sec % 100000), 5);
		p += 10;
	} else {
		p += csv__u64(p, sec);
	}
	*p++ = '.';
	csv__dec_fixed(p, usec, 6);
	p += 6;
	*p++ = ')';
	*p++ = ' ';
	memcpy(p, ifname, if_len);
	p += if_len;
	*p++ = ' ';
	p += csv__can_id(p, f->id);
	*p++ = '#';
	if ((f->id & CAN_RTR_FLAG) && !(f->id & CAN_ERR_FLAG)) {
		*p++ = 'R';
		if (f->dlc && f->dlc <= 8)
			*p++ = csv__hexdig[f->dlc];
	} else {
		unsigned n = csv__data_len(f);
		for (unsigned i = 0; i < n; i++) {
			memcpy(p, csv__hex2 + 2 * f->data[i], 2);
			p += 2;
		}
	}
	*p++ = '\n';
	return (size_t)(p - buf);
}

/* ---- csv_can_lines: both lines of a frame at once ---- */

/*
 * The fast path builds text in 64-bit words and stores whole words (unaligned memcpy of 4, 8 or 16 bytes, one move
 * each), so it relies on little-endian byte order: the first character of a word is its lowest byte.  Scribbling
 * past a line's end is allowed by csv_can_lines' buffer sizes; the budget (worst case of each field, extended id,
 * dlc 8, the longest GPS suffix, 20-digit seq and device time, every store rounded up to its word) is 236 of the
 * row's CSV_CAN_ROW_MAX (256) bytes and 63 + ifname of the dump's CANDUMP_LINE_MAX + 16 (128).
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CSV__FAST_LE 1
#else
#define CSV__FAST_LE 0
#endif

static inline void csv__st2(char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void csv__st4(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void csv__st8(char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint64_t csv__ld8(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* "HH " of a byte in one word ("HH " plus a NUL as the 4th byte): 4-byte stores 3 apart leave "HH HH HH ". */
#define CSV__HC(n) ((n) < 10 ? '0' + (n) : 'A' - 10 + (n))
#define CSV__HX3(b) ((uint32_t)CSV__HC((b) >> 4) | (uint32_t)CSV__HC((b) & 15) << 8 | (uint32_t)' ' << 16)
#define CSV__HX3_4(b) CSV__HX3(b), CSV__HX3((b) + 1), CSV__HX3((b) + 2), CSV__HX3((b) + 3)
#define CSV__HX3_16(b) CSV__HX3_4(b), CSV__HX3_4((b) + 4), CSV__HX3_4((b) + 8), CSV__HX3_4((b) + 12)
#define CSV__HX3_64(b) CSV__HX3_16(b), CSV__HX3_16((b) + 16), CSV__HX3_16((b) + 32), CSV__HX3_16((b) + 48)
static const uint32_t csv__hex3[256] = {CSV__HX3_64(0), CSV__HX3_64(64), CSV__HX3_64(128), CSV__HX3_64(192)};

/*
 * v < 10^8 as 8 ASCII digits (leading zeros) in one little-endian word: split into two 4-digit lanes of 32 bits,
 * each into two 2-digit lanes of 16 bits, each into two digits of 8 bits, every lane at once.  x / 100 is
 * (x * 5243) >> 19 for x < 43,699 and x / 10 is (x * 103) >> 10 for x < 179; no lane's product reaches the next
 * lane, and the mask drops what the shift brought down from it.
 */
static inline uint64_t csv__digits8(uint32_t v)
{
	uint64_t hi = v / 10000u;
	uint64_t x = hi | (uint64_t)(v - (uint32_t)hi * 10000u) << 32;
	uint64_t q = ((x * 5243u) >> 19) & 0x0000007F0000007Full;
	x = q | (x - q * 100u) << 16;
	q = ((x * 103u) >> 10) & 0x000F000F000F000Full;
	x = q | (x - q * 10u) << 8;
	return x | 0x3030303030303030ull;
}

/* v < 10^8 without leading zeros: stores 8 bytes at p, returns the number of digits (1..8). */
static inline size_t csv__u32_8(char *p, uint32_t v)
{
	uint64_t w = csv__digits8(v);
	/* leading zero digits are the low zero bytes of w - "00000000"; the last digit always counts */
	unsigned lz = (unsigned)__builtin_ctzll((w - 0x3030303030303030ull) | (1ull << 56)) / 8;
	csv__st8(p, w >> (8 * lz));
	return 8 - lz;
}

/* "DDD" of n < 1000 in one word (and a NUL): the sub-second digits in three look-ups. */
#define CSV__D3(n) ((uint32_t)('0' + (n) / 100) | (uint32_t)('0' + (n) / 10 % 10) << 8 | (uint32_t)('0' + (n) % 10) << 16)
#define CSV__D3_10(b)                                                                                               \
	CSV__D3(b), CSV__D3((b) + 1), CSV__D3((b) + 2), CSV__D3((b) + 3), CSV__D3((b) + 4), CSV__D3((b) + 5),       \
		CSV__D3((b) + 6), CSV__D3((b) + 7), CSV__D3((b) + 8), CSV__D3((b) + 9)
#define CSV__D3_100(b)                                                                                              \
	CSV__D3_10(b), CSV__D3_10((b) + 10), CSV__D3_10((b) + 20), CSV__D3_10((b) + 30), CSV__D3_10((b) + 40),      \
		CSV__D3_10((b) + 50), CSV__D3_10((b) + 60), CSV__D3_10((b) + 70), CSV__D3_10((b) + 80),             \
		CSV__D3_10((b) + 90)
static const uint32_t csv__dec3[1000] = {CSV__D3_100(0),   CSV__D3_100(100), CSV__D3_100(200), CSV__D3_100(300),
					 CSV__D3_100(400), CSV__D3_100(500), CSV__D3_100(600), CSV__D3_100(700),
					 CSV__D3_100(800), CSV__D3_100(900)};

/* v in decimal without padding: stores up to 24 bytes at p, returns the number of digits (1..20). */
static inline size_t csv__u64_words(char *p, uint64_t v)
{
	if (v < 100000000u)
		return csv__u32_8(p, (uint32_t)v);
	uint64_t hi = v / 100000000u;
	uint32_t lo = (uint32_t)(v - hi * 100000000u);
	size_t n;
	if (hi < 100000000u) {
		n = csv__u32_8(p, (uint32_t)hi);
	} else {
		uint64_t top = hi / 100000000u; /* < 1845 */
		n = csv__u32_8(p, (uint32_t)top);
		csv__st8(p + n, csv__digits8((uint32_t)(hi - top * 100000000u)));
		n += 8;
	}
	csv__st8(p + n, csv__digits8(lo));
	return n + 8;
}

/* The digits of the second starting at sec_base_ns (10 digits) for both lines. */
static void csv__ctx_second(struct csv_can_ctx *ctx, uint64_t sec)
{
	uint64_t hi = sec / 100000000u; /* 10..92 */
	uint64_t lo = csv__digits8((uint32_t)(sec - hi * 100000000u));

	ctx->sec_base_ns = sec * 1000000000u;
	memcpy(ctx->row_pre, csv__digits2 + 2 * hi, 2);
	csv__st8(ctx->row_pre + 2, lo);
	ctx->row_pre[10] = '.';
	ctx->dump_pre[0] = '(';
	memcpy(ctx->dump_pre + 1, ctx->row_pre, 11);
}

void csv_can_ctx_init(struct csv_can_ctx *ctx, const char *ifname)
{
	memset(ctx, 0, sizeof(*ctx));
	size_t n = strlen(ifname);
	if (n > sizeof(ctx->ifname) - 1)
		n = sizeof(ctx->ifname) - 1;
	memcpy(ctx->ifname, ifname, n);
	ctx->if_len = (uint8_t)n;
	memcpy(ctx->hex3, csv__hex3, sizeof(ctx->hex3));
	memcpy(ctx->dump_mid, ") ", 2);
	memcpy(ctx->dump_mid + 2, ifname, n);
	ctx->dump_mid[2 + n] = ' ';
	ctx->mid_len = (uint8_t)(n + 3);
	/* Any 10-digit second will do as the first: a frame in another second replaces it. */
	csv__ctx_second(ctx, 1000000000u);
	for (int i = 0; i < 4; i++) {
		/* seq 0, which no record carries ("from 1"), so the first record of each link formats its seq */
		memcpy(ctx->link[i].seq_text, ",0,", 3);
		ctx->link[i].seq_len = 3;
	}
}

/* ",<seq>," of rec into the link's cache: one digit incremented when seq follows the cached one (9 in 10 times). */
static inline __attribute__((always_inline)) void csv__seq(struct csv_can_link *c, uint64_t seq)
{
	if (seq == c->seq + 1 && seq != 0) {
		char *t = c->seq_text + c->seq_len - 2; /* last digit */
		while (*t == '9')
			*t-- = '0';
		if (*t != ',') {
			++*t;
			c->seq = seq;
			return;
		}
	}
	c->seq = seq;
	size_t n = csv__u64_words(c->seq_text + 1, seq);
	c->seq_text[1 + n] = ',';
	c->seq_len = (uint8_t)(n + 2);
}

/* The device time (us) in decimal: the seconds' digits from the link's cache, the 6 digits of us by look-up.
 * Stores up to 24 bytes at p; returns the length. */
static inline __attribute__((always_inline)) size_t csv__dev_time(char *p, struct csv_can_link *c, uint64_t us)
{
	uint64_t sec = us / 1000000u;
	uint32_t frac = (uint32_t)(us - sec * 1000000u);

	if (sec == 0)
		return csv__u32_8(p, frac);
	if (sec != c->dev_sec) {
		c->dev_sec = sec;
		c->dev_len = (uint8_t)csv__u64_words(c->dev_text, sec); /* at most 14 digits, 16 bytes stored */
	}
	memcpy(p, c->dev_text, 16);
	p += c->dev_len;
	uint32_t ms = frac / 1000u;
	csv__st4(p, csv__dec3[ms]);
	csv__st4(p + 3, csv__dec3[frac - ms * 1000u]);
	return c->dev_len + 6u;
}

/* One frame on the fast path.  Returns 0 when the frame needs the one-by-one formatters. */
static inline __attribute__((always_inline)) int csv__can_lines_fast(struct csv_can_ctx *ctx, const struct rx_record *rec,
				      const struct csv_gps_suffix *gps, char *row, size_t *row_len, char *dump,
				      size_t *dump_len)
{
	const struct can_frame_data *f = &rec->u.can;
	uint64_t ns = (uint64_t)rec->rx_real_ns - ctx->sec_base_ns;
	uint32_t id = f->id;
	unsigned dlc = f->dlc; /* read once: the stores below may alias *rec as far as the compiler knows */

	if (!CSV__FAST_LE || (id & (CAN_RTR_FLAG | CAN_ERR_FLAG)) || dlc > 9)
		return 0;
	if (ns >= 1000000000u) {
		/* Seconds of fewer than 10 digits, negative times, and the last second before 2^63 ns (2262-04-11):
		 * one by one.  Never caching that second keeps every negative time (2^63 and up as unsigned) at least
		 * 1.8 s away from the cached second, so the unsigned difference above cannot match one. */
		if (rec->rx_real_ns < 1000000000000000000LL || rec->rx_real_ns >= 9223372036000000000LL)
			return 0;
		uint64_t sec = (uint64_t)rec->rx_real_ns / 1000000000u; /* 10 digits */
		csv__ctx_second(ctx, sec);
		ns = (uint64_t)rec->rx_real_ns - ctx->sec_base_ns;
	}
	/* time: "<sec>.<9 digits>" and "(<sec>.<first 6 of them>", three digits a look-up (4-byte stores, each NUL
	 * overwritten by the next store or field) */
	uint32_t ms = (uint32_t)ns / 1000000u, us = (uint32_t)ns / 1000u;
	uint32_t t0 = csv__dec3[ms], t1 = csv__dec3[us - ms * 1000u], t2 = csv__dec3[(uint32_t)ns - us * 1000u];
	char *p = row, *d = dump;
	memcpy(p, ctx->row_pre, 16);
	csv__st4(p + 11, t0);
	csv__st4(p + 14, t1);
	csv__st4(p + 17, t2);
	memcpy(d, ctx->dump_pre, 16);
	csv__st4(d + 12, t0);
	csv__st4(d + 15, t1);
	memcpy(d + 18, ctx->dump_mid, 24);
	p += 20;
	d += 18 + ctx->mid_len;

	/* id: ",<id>," and "<id>#" */
	if (id & CAN_EFF_FLAG) {
		uint32_t v = id & CAN_EFF_MASK;
		uint64_t w = (uint64_t)csv__hex3[v >> 24] & 0xFFFF;
		w |= ((uint64_t)csv__hex3[(v >> 16) & 0xFF] & 0xFFFF) << 16;
		w |= ((uint64_t)csv__hex3[(v >> 8) & 0xFF] & 0xFFFF) << 32;
		w |= ((uint64_t)csv__hex3[v & 0xFF] & 0xFFFF) << 48;
		p[0] = ',';
		csv__st8(p + 1, w);
		p[9] = ',';
		p += 10;
		csv__st8(d, w);
		d[8] = '#';
		d += 9;
	} else {
		uint32_t v = id & CAN_SFF_MASK;
		uint32_t w = (uint32_t)CSV__HC(v >> 8) | (csv__hex3[v & 0xFF] & 0xFFFF) << 8;
		csv__st8(p, (uint64_t)',' | (uint64_t)w << 8 | (uint64_t)',' << 32);
		p += 5;
		csv__st4(d, w | (uint32_t)'#' << 24);
		d += 4;
	}
	/* "<dlc>," */
	csv__st2(p, (uint16_t)('0' + dlc) | (uint16_t)',' << 8);
	p += 2;

	/* data: "HH HH ..." twice in the row (a comma between), "HHHH..." in the dump, ascending: each 4-byte store's
	 * NUL lands where the next byte's store (or the comma) goes.  dlc 8 (most frames) in straight line; shorter
	 * ones place the stores from the end of the data, so that the cases fall through in ascending order.  The
	 * table is ctx's copy: addressed off ctx's register, a look-up is one load. */
	const uint32_t *hx = ctx->hex3;
	size_t hex_len;
	char *de;
	if (dlc >= 8) {
#define CSV__PUT8(i)                                                                                                \
	do {                                                                                                       \
		uint32_t h_ = hx[f->data[i]];                                                                      \
		csv__st4(p + 3 * (i), h_);                                                                         \
		csv__st2(d + 2 * (i), (uint16_t)h_);                                                               \
	} while (0)
		CSV__PUT8(0);
		CSV__PUT8(1);
		CSV__PUT8(2);
		CSV__PUT8(3);
		CSV__PUT8(4);
		CSV__PUT8(5);
		CSV__PUT8(6);
		CSV__PUT8(7);
#undef CSV__PUT8
		hex_len = 23;
		de = d + 16;
	} else {
		unsigned n = dlc;
		hex_len = n ? 3 * n - 1 : 0;
		char *re = p + 3 * n;
		const uint8_t *be = f->data + n;
		de = d + 2 * n;
		switch (n) {
#define CSV__PUT(k)                                                                                                 \
	do {                                                                                                       \
		uint32_t h_ = hx[be[-(k)]];                                                                        \
		csv__st4(re - 3 * (k), h_);                                                                        \
		csv__st2(de - 2 * (k), (uint16_t)h_);                                                              \
	} while (0)
		case 7: CSV__PUT(7); /* fallthrough */
		case 6: CSV__PUT(6); /* fallthrough */
		case 5: CSV__PUT(5); /* fallthrough */
		case 4: CSV__PUT(4); /* fallthrough */
		case 3: CSV__PUT(3); /* fallthrough */
		case 2: CSV__PUT(2); /* fallthrough */
		case 1: CSV__PUT(1); /* fallthrough */
		default: break;
#undef CSV__PUT
		}
	}
	de[0] = '\n';
	*dump_len = (size_t)(de + 1 - dump);
	/* the second copy: 24 bytes read into registers before any is stored (the ranges may overlap) */
	uint64_t h0 = csv__ld8(p), h1 = csv__ld8(p + 8), h2 = csv__ld8(p + 16);
	char *dup = p + hex_len + 1;
	csv__st8(dup, h0);
	csv__st8(dup + 8, h1);
	csv__st8(dup + 16, h2);
	p[hex_len] = ',';
	p = dup + hex_len;

	/* GPS suffix: whole 16-byte blocks of its text (its buffer is a multiple of 16 long) */
	memcpy(p, gps->text, 16);
	for (size_t i = 16; i < gps->len; i += 16)
		memcpy(p + i, gps->text + i, 16);
	p += gps->len;

	/* ",<seq>,<dev time>\n" */
	struct csv_can_link *lk = &ctx->link[rec->link & 3];
	csv__seq(lk, rec->seq);
	memcpy(p, lk->seq_text, 24);
	p += lk->seq_len;
	if (rec->flags & REC_F_DEV_TIME)
		p += csv__dev_time(p, lk, rec->dev_time_us);
	*p++ = '\n';
	*row_len = (size_t)(p - row);
	return 1;
}

static inline __attribute__((always_inline)) void csv__can_lines_one(struct csv_can_ctx *ctx, const struct rx_record *rec,
				      const struct csv_gps_suffix *gps, char *row, size_t *row_len, char *dump,
				      size_t *dump_len)
{
	if (csv__can_lines_fast(ctx, rec, gps, row, row_len, dump, dump_len))
		return;
	*row_len = csv__can_row_fast(row, rec, gps);
	*dump_len = candump__fast(dump, rec->rx_real_ns, ctx->ifname, ctx->if_len, &rec->u.can);
}

void csv_can_lines(struct csv_can_ctx *ctx, const struct rx_record *rec, const struct csv_gps_suffix *gps, char *row,
		   size_t *row_len, char *dump, size_t *dump_len)
{
	csv__can_lines_one(ctx, rec, gps, row, row_len, dump, dump_len);
}

void csv_can_lines_run(struct csv_can_ctx *ctx, const struct rx_record *recs, size_t n, const struct csv_gps_suffix *gps,
		       char *row, size_t *row_bytes, char *dump, size_t *dump_bytes)
{
	char *p = row, *d = dump;

	for (size_t i = 0; i < n; i++) {
		size_t rl, dl;
		csv__can_lines_one(ctx, &recs[i], gps, p, &rl, d, &dl);
		p += rl;
		d += dl;
	}
	*row_bytes = (size_t)(p - row);
	*dump_bytes = (size_t)(d - dump);
}

size_t candump_line(char *buf, size_t size, int64_t t_real_ns, const char *ifname, const struct can_frame_data *f)
{
	size_t if_len = strlen(ifname);

	if (if_len > 64)
		return 0;
	if (size >= CANDUMP_LINE_MAX + if_len)
		return candump__fast(buf, t_real_ns, ifname, if_len, f);
	char tmp[CANDUMP_LINE_MAX + 64];
	size_t n = candump__fast(tmp, t_real_ns, ifname, if_len, f);
	if (n > size)
		return 0;
	memcpy(buf, tmp, n);
	return n;
}

/* ---- gps_data.csv ---- */

size_t csv_gps_row(char *buf, size_t size, int64_t t_real_ns, const struct gps_fix *fix)
{
	char tmp[CSV_GPS_ROW_MAX + 64];
	char *p = tmp;
	char *end = tmp + sizeof(tmp);

	p += csv_fmt_time_ns(p, (size_t)(end - p), t_real_ns);
	*p++ = ',';
	p = csv__gps_position(p, end, fix);
	*p++ = ',';
	if (fix->have & GPS_HAVE_SATS)
		p += csv__u64(p, fix->sats);
	*p++ = ',';
	if (fix->have & GPS_HAVE_HDOP)
		p += csv_fmt_fixed(p, (size_t)(end - p), fix->hdop, 2);
	*p++ = ',';
	if ((fix->have & GPS_HAVE_DATE) && (fix->have & GPS_HAVE_TIME)) {
		/* YYYY-MM-DD HH:MM:SS; fields are at most 5 and 3 digits, so out-of-range input stays bounded */
		p += fix->year < 10000 ? (csv__dec_fixed(p, fix->year, 4), 4) : csv__u64(p, fix->year);
		const uint8_t f2[5] = {fix->month, fix->day, fix->hour, fix->min, fix->sec};
		const char sep[5] = {'-', ' ', ':', ':', 0};
		*p++ = '-';
		for (int i = 0; i < 5; i++) {
			p += f2[i] < 100 ? (csv__dec_fixed(p, f2[i], 2), 2) : csv__u64(p, f2[i]);
			if (sep[i])
				*p++ = sep[i];
		}
	}
	*p++ = ',';
	*p++ = fix->valid ? '1' : '0';
	*p++ = '\n';
	size_t n = (size_t)(p - tmp);
	if (n > size)
		return 0;
	memcpy(buf, tmp, n);
	return n;
}

/* ---- merged_can_data ---- */

struct csv__out {
	char *p;
	size_t left;
	int overflow;
};

static void csv__put(struct csv__out *o, const char *s, size_t n)
{
	if (n > o->left) {
		o->overflow = 1;
		o->left = 0;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	o->left -= n;
}

static void csv__puts(struct csv__out *o, const char *s)
{
	csv__put(o, s, strlen(s));
}

/* ",<shortest round-trip value>" or "," when sig was never received. */
static void csv__put_sig(struct csv__out *o, const struct vstate *s, enum canon_sig sig)
{
	char num[FMT_DOUBLE_MAX + 1];

	csv__put(o, ",", 1);
	if (vstate_has(s, sig))
		csv__put(o, num, fmt_double_roundtrip(num, sizeof(num), s->value[sig]));
}

/* ",<text>" chosen from the value of a flag/enum signal, or "," when never received. */
static void csv__put_word(struct csv__out *o, const struct vstate *s, enum canon_sig sig, const char *if_nonzero,
			  const char *if_zero)
{
	csv__put(o, ",", 1);
	if (vstate_has(s, sig))
		csv__puts(o, s->value[sig] != 0 ? if_nonzero : if_zero);
}

static void csv__put_fixed(struct csv__out *o, int have, double v, unsigned decimals)
{
	char num[32];

	csv__put(o, ",", 1);
	if (have)
		csv__put(o, num, csv_fmt_fixed(num, sizeof(num), v, decimals));
}

size_t csv_merged_row(char *buf, size_t size, int64_t t_real_ns, const struct vstate *s)
{
	struct csv__out o = {.p = buf, .left = size, .overflow = 0};
	char tmp[48];
	int has_fix = s->gps_real_ns != 0;
	const struct gps_fix *g = &s->gps;

	csv__put(&o, tmp, csv_fmt_time_ns(tmp, sizeof(tmp), t_real_ns));
	csv__put_sig(&o, s, SIG_SOC);
	csv__put_sig(&o, s, SIG_CURRENT);
	csv__put(&o, ",", 1);
	if (vstate_has(s, SIG_GEAR)) {
		double gear = s->value[SIG_GEAR];
		csv__puts(&o, gear > 0.5 ? "Drive" : gear < -0.5 ? "Reverse" : "Neutral");
	}
	csv__put_word(&o, s, SIG_IGNITION, "1", "0");      /* motor_active */
	csv__put_sig(&o, s, SIG_THROTTLE);                 /* accelerator */
	csv__put_word(&o, s, SIG_BRAKE, "1", "0");
	csv__put(&o, ",", 1);                              /* cap_voltage: no correct source */
	csv__put_sig(&o, s, SIG_SPEED);                    /* motor_speed: vehicle speed, km/h */
	csv__put_sig(&o, s, SIG_ODOMETER);
	csv__put_sig(&o, s, SIG_RANGE);
	csv__put_sig(&o, s, SIG_PACK_VOLTAGE);             /* battery_voltage */
	csv__put_sig(&o, s, SIG_ENERGY_AVAIL);             /* available_energy */
	csv__put(&o, ",", 1);                              /* charging_status */
	if (vstate_has(s, SIG_BMS_STATE) && isfinite(s->value[SIG_BMS_STATE])) {
		int n = snprintf(tmp, sizeof(tmp), "0x%02X", (unsigned)(int64_t)s->value[SIG_BMS_STATE] & 0xFFu);
		csv__put(&o, tmp, (size_t)n);
	}
	csv__put_sig(&o, s, SIG_MOTOR_TEMP);
	csv__put_sig(&o, s, SIG_CHARGE_POWER_REQ);         /* power_request */
	csv__put_fixed(&o, has_fix && (g->have & GPS_HAVE_POS), g->lat_deg, 6);
	csv__put_fixed(&o, has_fix && (g->have & GPS_HAVE_POS), g->lon_deg, 6);
	csv__put_fixed(&o, has_fix && (g->have & GPS_HAVE_ALT), g->alt_m, 1);
	csv__put_fixed(&o, has_fix && (g->have & GPS_HAVE_SPEED), g->speed_kmh, 1);
	csv__put(&o, ",", 1);
	if (has_fix && (g->have & GPS_HAVE_SATS))
		csv__put(&o, tmp, csv__u64(tmp, g->sats));
	csv__puts(&o, has_fix && g->valid ? ",1" : ",0");
	csv__put_word(&o, s, SIG_CHARGING, "YES", "NO");   /* is_charging */

	for (int sig = 0; sig < SIG__COUNT; sig++) {
		if (sig == SIG_CHARGE_PHASE && vstate_has(s, SIG_CHARGE_PHASE)) {
			double v = s->value[sig];
			const char *name = v >= 0 && v <= 16 && v == (int)v ? charge_phase_name((int)v) : NULL;
			if (name) {
				csv__put(&o, ",", 1);
				csv__puts(&o, name);
				continue;
			}
		}
		csv__put_sig(&o, s, (enum canon_sig)sig);
	}
	csv__put(&o, "\n", 1);
	return o.overflow ? 0 : (size_t)(o.p - buf);
}

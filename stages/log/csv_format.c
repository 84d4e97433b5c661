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

void csv_can_ctx_init(struct csv_can_ctx *ctx, const char *ifname)
{
	memset(ctx, 0, sizeof(*ctx));
	size_t n = strlen(ifname);
	if (n > sizeof(ctx->ifname) - 1)
		n = sizeof(ctx->ifname) - 1;
	memcpy(ctx->ifname, ifname, n);
	ctx->if_len = (uint8_t)n;
	ctx->sec = UINT64_MAX;
}

void csv_can_lines(struct csv_can_ctx *ctx, const struct rx_record *rec, const struct csv_gps_suffix *gps, char *row,
		   size_t *row_len, char *dump, size_t *dump_len)
{
	const struct can_frame_data *f = &rec->u.can;
	uint64_t a = (uint64_t)rec->rx_real_ns, sec = a / 1000000000u;

	/* Times whose seconds are not 10 digits (negative ones wrap to huge), remote and error frames: one by one. */
	if (sec < 1000000000ull || sec >= 10000000000ull ||
	    (f->id & (CAN_RTR_FLAG | CAN_ERR_FLAG))) {
		*row_len = csv__can_row_fast(row, rec, gps);
		*dump_len = candump__fast(dump, rec->rx_real_ns, ctx->ifname, ctx->if_len, f);
		return;
	}
	if (sec != ctx->sec) {
		ctx->sec = sec;
		ctx->sec_len = (uint8_t)csv__u64(ctx->sec_text, sec);
	}
	/* row: "<sec>.<9 digits>,<id>,<dlc>,<hex with spaces>,<hex with spaces><gps>,<seq>,<dev time>\n" */
	char *p = row;
	memcpy(p, ctx->sec_text, ctx->sec_len);
	p += ctx->sec_len;
	*p++ = '.';
	char *frac = p;
	csv__dec_fixed(p, (uint32_t)(a % 1000000000u), 9);
	p += 9;
	*p++ = ',';
	char *id = p;
	size_t id_len = csv__can_id(p, f->id);
	p += id_len;
	*p++ = ',';
	p += csv__u64(p, f->dlc);
	*p++ = ',';
	/* dump: "(<10 digits>.<6 digits>) <ifname> <id>#<hex>\n" */
	char *d = dump;
	*d++ = '(';
	memcpy(d, ctx->sec_text, 10);
	d[10] = '.';
	memcpy(d + 11, frac, 6);
	d[17] = ')';
	d[18] = ' ';
	d += 19;
	memcpy(d, ctx->ifname, ctx->if_len);
	d += ctx->if_len;
	*d++ = ' ';
	memcpy(d, id, id_len);
	d += id_len;
	*d++ = '#';
	unsigned n = csv__data_len(f);
	char *hex = p;
	for (unsigned i = 0; i < n; i++) {
		const char *h = csv__hex2 + 2 * f->data[i];
		memcpy(p, h, 2);
		memcpy(d, h, 2);
		p[2] = ' ';
		p += 3;
		d += 2;
	}
	if (n)
		p--; /* no space after the last byte */
	*d++ = '\n';
	*dump_len = (size_t)(d - dump);
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
	*row_len = (size_t)(p - row);
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

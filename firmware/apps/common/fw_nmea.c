/*
 * fw_nmea.c - NMEA checksum, GGA/RMC merge (fw_nmea.h).  Fields are split on commas in place-free fashion: each
 * field is a (pointer, length) pair, parsed with strict digit checks, so garbage never becomes a position.
 */
#include "firmware/apps/common/fw_nmea.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t fw_nmea_checksum(const char *s, size_t n)
{
	uint8_t x = 0;

	for (size_t i = 1; i < n && s[i] != '*'; i++)
		x ^= (uint8_t)s[i];
	return x;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int fw_nmea_valid(const char *s, size_t n)
{
	if (n < 6 || s[0] != '$' || s[n - 3] != '*')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return 0;
	if (memchr(s, '*', n - 3))
		return 0; /* two checksums: spliced sentences */
	int hi = hexval(s[n - 2]), lo = hexval(s[n - 1]);
	return hi >= 0 && lo >= 0 && fw_nmea_checksum(s, n) == (uint8_t)(hi << 4 | lo);
}

int fw_nmea_finish(char *buf, size_t n, size_t size)
{
	if (n + 5 > size)
		return -ENOBUFS;
	uint8_t x = fw_nmea_checksum(buf, n);
	static const char hex[] = "0123456789ABCDEF";
	buf[n] = '*';
	buf[n + 1] = hex[x >> 4];
	buf[n + 2] = hex[x & 15];
	buf[n + 3] = '\r';
	buf[n + 4] = '\n';
	return (int)n + 5;
}

#define FW_NMEA_MAX_FIELDS 24

struct field {
	const char *p;
	size_t n;
};

/* Split "$TTSSS,a,b,...*HH" into fields (field 0 = address). */
static int split(const char *s, size_t n, struct field *f)
{
	size_t end = n - 3, start = 1;
	int k = 0;

	for (size_t i = 1; i <= end; i++) {
		if (i == end || s[i] == ',') {
			if (k == FW_NMEA_MAX_FIELDS)
				return -1;
			f[k].p = s + start;
			f[k].n = i - start;
			k++;
			start = i + 1;
		}
	}
	return k;
}

/* A decimal number: digits with at most one '.', no sign unless allow_sign. */
static int num(const struct field *f, int allow_sign, double *out)
{
	char buf[24];
	size_t dots = 0;

	if (f->n == 0 || f->n >= sizeof(buf))
		return -1;
	for (size_t i = 0; i < f->n; i++) {
		char c = f->p[i];
		if (c == '.')
			dots++;
		else if (!(c >= '0' && c <= '9') && !(allow_sign && i == 0 && c == '-'))
			return -1;
	}
	if (dots > 1)
		return -1;
	memcpy(buf, f->p, f->n);
	buf[f->n] = 0;
	*out = strtod(buf, NULL);
	return 0;
}

static int two(const char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* ddmm.mmmm / dddmm.mmmm plus hemisphere. */
static int coord(const struct field *v, const struct field *hemi, int deg_digits, double *out)
{
	double raw;

	if (num(v, 0, &raw) < 0 || hemi->n != 1 || v->n < (size_t)deg_digits + 2 || v->p[deg_digits + 2] != '.')
		return -1;
	double deg = (double)(int)(raw / 100.0), min = raw - deg * 100.0;
	if (min >= 60.0)
		return -1;
	double d = deg + min / 60.0;
	char h = hemi->p[0];
	if (h == 'S' || h == 'W')
		d = -d;
	else if (h != 'N' && h != 'E')
		return -1;
	if ((deg_digits == 2 && d > 90.0) || d < -180.0 || d > 180.0)
		return -1;
	*out = d;
	return 0;
}

static int hms(const struct field *f, uint8_t *h, uint8_t *m, uint8_t *s)
{
	if (f->n < 6)
		return -1;
	int a = two(f->p), b = two(f->p + 2), c = two(f->p + 4);
	if (a < 0 || a > 23 || b < 0 || b > 59 || c < 0 || c > 60)
		return -1;
	*h = (uint8_t)a;
	*m = (uint8_t)b;
	*s = (uint8_t)c;
	return 0;
}

int fw_nmea_merge(struct fw_fix *fix, const char *s, size_t n, uint32_t now_ms)
{
	struct field f[FW_NMEA_MAX_FIELDS];
	int k;

	if (!fw_nmea_valid(s, n))
		return -EINVAL;
	k = split(s, n, f);
	if (k < 1 || f[0].n != 5)
		return -EINVAL;
	if (memcmp(f[0].p + 2, "GGA", 3) == 0) {
		double lat, lon, q, sats, hdop, alt;
		uint8_t hh, mm, ss;
		if (k < 10 || hms(&f[1], &hh, &mm, &ss) < 0 || num(&f[6], 0, &q) < 0 || num(&f[7], 0, &sats) < 0)
			return -EINVAL;
		if (q > 0) {
			if (coord(&f[2], &f[3], 2, &lat) < 0 || coord(&f[4], &f[5], 3, &lon) < 0 ||
			    num(&f[8], 0, &hdop) < 0 || num(&f[9], 1, &alt) < 0)
				return -EINVAL;
			fix->lat_deg = lat;
			fix->lon_deg = lon;
			fix->hdop = hdop;
			fix->alt_m = alt;
			fix->have_pos = 1;
		}
		fix->sats = sats > 99 ? 99 : (uint8_t)sats;
		fix->valid = q > 0 ? (uint8_t)(fix->valid | 2) : (uint8_t)(fix->valid & ~2u);
		fix->updated_ms = now_ms;
		return 0;
	}
	if (memcmp(f[0].p + 2, "RMC", 3) == 0) {
		double lat, lon, kn;
		uint8_t hh, mm, ss;
		if (k < 10 || hms(&f[1], &hh, &mm, &ss) < 0 || f[2].n != 1)
			return -EINVAL;
		if (f[2].p[0] == 'A') {
			if (coord(&f[3], &f[4], 2, &lat) < 0 || coord(&f[5], &f[6], 3, &lon) < 0 || num(&f[7], 0, &kn) < 0)
				return -EINVAL;
			fix->lat_deg = lat;
			fix->lon_deg = lon;
			fix->speed_kmh = kn * 1.852;
			fix->have_pos = 1;
			fix->valid |= 1;
		} else if (f[2].p[0] == 'V') {
			fix->valid &= (uint8_t)~1u;
		} else {
			return -EINVAL;
		}
		if (f[9].n == 6) {
			int d = two(f[9].p), mo = two(f[9].p + 2), y = two(f[9].p + 4);
			if (d >= 1 && d <= 31 && mo >= 1 && mo <= 12 && y >= 0) {
				fix->day = (uint8_t)d;
				fix->month = (uint8_t)mo;
				fix->year = (uint16_t)(y < 80 ? 2000 + y : 1900 + y); /* two-digit year */
				fix->hour = hh;
				fix->minute = mm;
				fix->second = ss;
				fix->have_date = 1;
			}
		}
		fix->updated_ms = now_ms;
		return 0;
	}
	return -ENOENT;
}

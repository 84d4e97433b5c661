/*
 * legacy_line.c - the legacy ESP32(1) text lines: SIM, GPS, STATUS and the banner (legacy_line.h).
 *
 * The SIM parser is the can_rx hot path (up to a million lines a second on replay): the firmware's own layout goes
 * through legacy_sim_fixed() (legacy_line.h, inline, also called by the framer directly), anything else through one
 * careful pass with a hex lookup table, no scanf, no copies.  GPS and STATUS lines arrive a few times a second and
 * use the token helpers of scan.h.  Every number is range-checked; a line either parses completely or is refused.
 */
#include "stages/can_rx/legacy_line.h"

#include <errno.h>
#include <string.h>

#include "stages/can_rx/scan.h"

int legacy_sim_parse(const char *s, size_t n, struct can_frame_data *out)
{
	if (legacy_sim_fixed(s, n, out) == 0)
		return 0;
	size_t i = 4, k = 0;
	uint32_t v = 0;
	int d;

	if (n < 4 || memcmp(s, "SIM ", 4) != 0)
		return -EINVAL;
	while (i < n && s[i] == ' ')
		i++;
	while (i < n && (d = scan_hex_val[(unsigned char)s[i]]) >= 0) {
		if (++k > 8)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
		i++;
	}
	if (k == 0 || i >= n || s[i] != ' ')
		return -EINVAL;
	while (i < n && s[i] == ' ')
		i++;
	if (i >= n)
		return -EINVAL;
	unsigned dlc = (unsigned)(unsigned char)s[i] - '0';
	if (dlc > 8)
		return -EINVAL;
	i++;
	if (v & CAN_ERR_FLAG)
		return -EINVAL;
	int rtr = (v & CAN_RTR_FLAG) != 0;
	for (unsigned b = 0; b < 8; b++) {
		if (i >= n || s[i] != ' ')
			return -EINVAL;
		while (i < n && s[i] == ' ')
			i++;
		if (n - i < 2)
			return -EINVAL;
		int byte = scan_hex2(s + i);
		if (byte < 0)
			return -EINVAL;
		out->data[b] = (b < dlc && !rtr) ? (uint8_t)byte : 0;
		i += 2;
	}
	while (i < n && s[i] == ' ')
		i++;
	if (i != n)
		return -EINVAL;
	uint32_t raw = v & CAN_EFF_MASK;
	int eff = (v & CAN_EFF_FLAG) != 0;
	if (!eff && raw > CAN_SFF_MASK)
		return -ERANGE; /* a standard id with extra digits: a corrupted line */
	out->id = raw | (eff ? CAN_EFF_FLAG : 0) | (rtr ? CAN_RTR_FLAG : 0);
	out->dlc = (uint8_t)dlc;
	return 0;
}

static int legacy__is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned legacy__days_in_month(unsigned y, unsigned m)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && legacy__is_leap(y) ? 29 : days[m - 1];
}

/* Three unsigned fields separated by sep, each within [lo, hi]. */
static int legacy__triple(const char *s, size_t n, char sep, const uint32_t lo[3], const uint32_t hi[3], uint32_t v[3])
{
	size_t i = 0;

	for (int f = 0; f < 3; f++) {
		size_t b = i;
		while (i < n && s[i] != sep)
			i++;
		if ((f < 2) != (i < n))
			return -EINVAL;
		if (scan_uint(s + b, i - b, hi[f], &v[f]) < 0 || v[f] < lo[f])
			return -EINVAL;
		i++;
	}
	return 0;
}

static int legacy__lat_lon(const char *lat, size_t lat_n, const char *lon, size_t lon_n, double *la, double *lo)
{
	if (scan_dec(lat, lat_n, la) < 0 || scan_dec(lon, lon_n, lo) < 0)
		return -EINVAL;
	if (!(*la >= -90.0 && *la <= 90.0) || !(*lo >= -180.0 && *lo <= 180.0))
		return -EINVAL;
	return 0;
}

int legacy_gps_parse(const char *s, size_t n, struct gps_fix *out)
{
	const char *t[10];
	size_t tl[10];
	size_t nt = scan_tokens(s, n, t, tl, 10);
	uint32_t sats, valid;

	if ((nt != 9 && nt != 10) || tl[0] != 3 || memcmp(t[0], "GPS", 3) != 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (legacy__lat_lon(t[1], tl[1], t[2], tl[2], &out->lat_deg, &out->lon_deg) < 0)
		return -EINVAL;
	if (scan_dec(t[3], tl[3], &out->alt_m) < 0 || scan_dec(t[4], tl[4], &out->speed_kmh) < 0 ||
	    !(out->speed_kmh >= 0.0))
		return -EINVAL;
	if (scan_uint(t[5], tl[5], 255, &sats) < 0 || scan_dec(t[6], tl[6], &out->hdop) < 0 || !(out->hdop >= 0.0))
		return -EINVAL;
	if (scan_uint(t[nt - 1], tl[nt - 1], 1, &valid) < 0)
		return -EINVAL;
	out->sats = (uint8_t)sats;
	out->valid = (uint8_t)valid;
	out->have = GPS_HAVE_POS | GPS_HAVE_ALT | GPS_HAVE_SPEED | GPS_HAVE_SATS | GPS_HAVE_HDOP;
	if (nt == 9) {
		if (tl[7] != 7 || memcmp(t[7], "INVALID", 7) != 0)
			return -EINVAL;
		return 0;
	}
	static const uint32_t date_lo[3] = {1, 1, 1}, date_hi[3] = {9999, 12, 31};
	static const uint32_t time_lo[3] = {1, 0, 0}, time_hi[3] = {24, 59, 60};
	uint32_t date[3], tod[3];
	if (legacy__triple(t[7], tl[7], '-', date_lo, date_hi, date) < 0 ||
	    date[2] > legacy__days_in_month(date[0], date[1]))
		return -EINVAL;
	if (legacy__triple(t[8], tl[8], ':', time_lo, time_hi, tod) < 0)
		return -EINVAL;
	out->year = (uint16_t)date[0];
	out->month = (uint8_t)date[1];
	out->day = (uint8_t)date[2];
	out->hour = (uint8_t)(tod[0] - 1); /* the legacy firmware's +1 hour, never wrapped */
	out->min = (uint8_t)tod[1];
	out->sec = (uint8_t)tod[2];
	out->have |= GPS_HAVE_DATE | GPS_HAVE_TIME;
	return 0;
}

/* Token t (length tl) is prefix followed by a value; sets *v and *vl to the value. */
static int legacy__kv(const char *t, size_t tl, const char *prefix, const char **v, size_t *vl)
{
	size_t pl = strlen(prefix);

	if (tl < pl || memcmp(t, prefix, pl) != 0)
		return -EINVAL;
	*v = t + pl;
	*vl = tl - pl;
	return 0;
}

static int legacy__ok_no(const char *v, size_t vl, uint8_t *out)
{
	if (vl == 2 && memcmp(v, "OK", 2) == 0)
		*out = 1;
	else if (vl == 2 && memcmp(v, "NO", 2) == 0)
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

int legacy_status_parse(const char *s, size_t n, struct link_status *out)
{
	const char *t[7], *v;
	size_t tl[7], vl;
	size_t nt = scan_tokens(s, n, t, tl, 7);
	uint32_t sats;
	double hdop;

	if ((nt != 5 && nt != 7) || tl[0] != 6 || memcmp(t[0], "STATUS", 6) != 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (legacy__kv(t[1], tl[1], "CAN:", &v, &vl) < 0 || legacy__ok_no(v, vl, &out->can_ok) < 0)
		return -EINVAL;
	if (legacy__kv(t[2], tl[2], "GPS:", &v, &vl) < 0 || legacy__ok_no(v, vl, &out->gps_ok) < 0)
		return -EINVAL;
	if (legacy__kv(t[3], tl[3], "Sats:", &v, &vl) < 0 || scan_uint(v, vl, 65535, &sats) < 0)
		return -EINVAL;
	if (legacy__kv(t[4], tl[4], "HDOP:", &v, &vl) < 0 || scan_dec(v, vl, &hdop) < 0 || !(hdop >= 0.0))
		return -EINVAL;
	out->sats = (uint16_t)sats;
	out->hdop = (float)hdop;
	if (nt == 5)
		return 0;
	if (legacy__kv(t[5], tl[5], "Pos:", &v, &vl) < 0)
		return -EINVAL;
	const char *comma = memchr(v, ',', vl);
	if (!comma)
		return -EINVAL;
	size_t lat_n = (size_t)(comma - v);
	if (legacy__lat_lon(v, lat_n, comma + 1, vl - lat_n - 1, &out->lat_deg, &out->lon_deg) < 0)
		return -EINVAL;
	if (legacy__kv(t[6], tl[6], "Speed:", &v, &vl) < 0 || vl < 5 || memcmp(v + vl - 4, "km/h", 4) != 0 ||
	    scan_dec(v, vl - 4, &out->speed_kmh) < 0 || !(out->speed_kmh >= 0.0))
		return -EINVAL;
	out->has_pos = 1;
	return 0;
}

int legacy_is_banner(const char *s, size_t n)
{
	static const char *const banners[] = {
		"=== CAN + GPS Data Sniffer Ready ===",
		"Sending CAN and GPS data to Jetson via USB Serial",
		"Format:",
		"  CAN: SIM <ID> <DLC> <DATA_BYTES>",
		"  GPS: GPS <LAT> <LON> <ALT> <SPEED> <SATS> <VALID>",
	};
	size_t i;

	for (i = 0; i < sizeof(banners) / sizeof(banners[0]); i++)
		if (n == strlen(banners[i]) && memcmp(s, banners[i], n) == 0)
			return 1;
	for (i = 0; i < n && s[i] == '='; i++)
		;
	return n > 0 && i == n;
}

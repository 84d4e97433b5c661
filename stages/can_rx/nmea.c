/*
 * nmea.c - NMEA 0183 sentence checking and fix merging (nmea.h).
 *
 * A sentence is checked as a whole first (characters, splicing, checksum, address), then split into fields and
 * parsed into a copy of the merged fix; the copy replaces the state only when every field parsed, so a refused
 * sentence changes nothing.  Latitude and longitude are read as whole degrees plus decimal minutes taken straight
 * from the text ("4807.038" = 48 deg + 07.038 min), so no rounding is added beyond one division.
 */
#include "stages/can_rx/nmea.h"

#include <errno.h>
#include <string.h>

#include "stages/can_rx/scan.h"

#define NMEA_MAX_FIELDS 32
#define NMEA_KNOT_KMH 1.852

struct nmea__field {
	const char *p;
	size_t n;
};

void nmea_init(struct nmea_state *st)
{
	memset(st, 0, sizeof(*st));
}

static int nmea__is_char(const struct nmea__field *f, char c)
{
	return f->n == 1 && f->p[0] == c;
}

/* hhmmss[.s...] -> time of *fix (empty: unchanged). */
static int nmea__time(const struct nmea__field *f, struct gps_fix *fix)
{
	uint32_t hh, mm, ss, usec = 0;

	if (f->n == 0)
		return 0;
	if (f->n < 6 || scan_uint(f->p, 2, 23, &hh) < 0 || scan_uint(f->p + 2, 2, 59, &mm) < 0 ||
	    scan_uint(f->p + 4, 2, 60, &ss) < 0)
		return -EINVAL;
	if (f->n > 6) {
		if (f->p[6] != '.' || f->n == 7)
			return -EINVAL;
		uint32_t scale = 100000;
		for (size_t i = 7; i < f->n; i++) {
			unsigned d = (unsigned)(unsigned char)f->p[i] - '0';
			if (d > 9)
				return -EINVAL;
			usec += d * scale;
			scale /= 10;
		}
	}
	fix->hour = (uint8_t)hh;
	fix->min = (uint8_t)mm;
	fix->sec = (uint8_t)ss;
	fix->usec = usec;
	fix->have |= GPS_HAVE_TIME;
	return 0;
}

/* ddmmyy -> date of *fix (empty: unchanged). */
static int nmea__date(const struct nmea__field *f, struct gps_fix *fix)
{
	uint32_t dd, mo, yy;

	if (f->n == 0)
		return 0;
	if (f->n != 6 || scan_uint(f->p, 2, 31, &dd) < 0 || scan_uint(f->p + 2, 2, 12, &mo) < 0 ||
	    scan_uint(f->p + 4, 2, 99, &yy) < 0 || dd < 1 || mo < 1)
		return -EINVAL;
	fix->day = (uint8_t)dd;
	fix->month = (uint8_t)mo;
	fix->year = (uint16_t)(yy < 80 ? 2000 + yy : 1900 + yy);
	fix->have |= GPS_HAVE_DATE;
	return 0;
}

/* (d)ddmm.mmm + hemisphere -> signed degrees.  Returns 1 when present, 0 when both fields are empty, or -EINVAL. */
static int nmea__coord(const struct nmea__field *v, const struct nmea__field *h, int is_lat, double *out)
{
	const char pos = is_lat ? 'N' : 'E', neg = is_lat ? 'S' : 'W';
	const uint32_t max_deg = is_lat ? 90 : 180;
	size_t ip = 0;
	uint32_t deg;
	double min;

	if (v->n == 0 && h->n == 0)
		return 0;
	if (v->n == 0 || !(nmea__is_char(h, pos) || nmea__is_char(h, neg)))
		return -EINVAL;
	while (ip < v->n && v->p[ip] != '.')
		ip++;
	if (ip < 3 || ip > (is_lat ? 4u : 5u))
		return -EINVAL;
	if (scan_uint(v->p, ip - 2, max_deg, &deg) < 0)
		return -EINVAL;
	if (v->p[ip - 2] < '0' || v->p[ip - 2] > '9')
		return -EINVAL; /* no sign inside the minutes */
	if (scan_dec(v->p + ip - 2, v->n - (ip - 2), &min) < 0 || !(min < 60.0))
		return -EINVAL;
	double d = (double)deg + min / 60.0;
	if (d > (double)max_deg)
		return -EINVAL;
	*out = h->p[0] == neg ? -d : d;
	return 1;
}

/* A non-negative decimal.  Returns 1 when present, 0 when empty, or -EINVAL. */
static int nmea__udec(const struct nmea__field *f, double *out)
{
	if (f->n == 0)
		return 0;
	if (f->p[0] == '-' || f->p[0] == '+' || scan_dec(f->p, f->n, out) < 0)
		return -EINVAL;
	return 1;
}

static int nmea__pos(const struct nmea__field *f, struct gps_fix *fix)
{
	double lat = 0.0, lon = 0.0;
	int a = nmea__coord(&f[0], &f[1], 1, &lat), b = nmea__coord(&f[2], &f[3], 0, &lon);

	if (a < 0 || b < 0 || a != b)
		return -EINVAL;
	if (a) {
		fix->lat_deg = lat;
		fix->lon_deg = lon;
		fix->have |= GPS_HAVE_POS;
	}
	return 0;
}

static int nmea__sats(const struct nmea__field *f, struct gps_fix *fix)
{
	uint32_t v;

	if (f->n == 0)
		return 0;
	if (scan_uint(f->p, f->n, 255, &v) < 0)
		return -EINVAL;
	fix->sats = (uint8_t)v;
	fix->have |= GPS_HAVE_SATS;
	return 0;
}

static int nmea__hdop(const struct nmea__field *f, struct gps_fix *fix)
{
	int rc = nmea__udec(f, &fix->hdop);

	if (rc > 0)
		fix->have |= GPS_HAVE_HDOP;
	return rc < 0 ? rc : 0;
}

/* Altitude and its unit field ('M' or empty). */
static int nmea__alt(const struct nmea__field *v, const struct nmea__field *unit, struct gps_fix *fix)
{
	if (unit && !(unit->n == 0 || nmea__is_char(unit, 'M')))
		return -EINVAL;
	if (v->n == 0)
		return 0;
	if (scan_dec(v->p, v->n, &fix->alt_m) < 0)
		return -EINVAL;
	fix->have |= GPS_HAVE_ALT;
	return 0;
}

static int nmea__course(const struct nmea__field *f, struct gps_fix *fix)
{
	double c;
	int rc = nmea__udec(f, &c);

	if (rc < 0 || (rc > 0 && !(c <= 360.0)))
		return -EINVAL;
	if (rc > 0) {
		fix->course_deg = c;
		fix->have |= GPS_HAVE_COURSE;
	}
	return 0;
}

static int nmea__speed_kn(const struct nmea__field *f, struct gps_fix *fix)
{
	double kn;
	int rc = nmea__udec(f, &kn);

	if (rc > 0) {
		fix->speed_kmh = kn * NMEA_KNOT_KMH;
		fix->have |= GPS_HAVE_SPEED;
	}
	return rc < 0 ? rc : 0;
}

/* A status field A|V|empty and an optional mode indicator (one letter, 'N' = no fix): update validity. */
static int nmea__status(const struct nmea__field *st, const struct nmea__field *mode, struct gps_fix *fix)
{
	if (mode && mode->n > 1)
		return -EINVAL;
	if (mode && mode->n == 1 && (mode->p[0] < 'A' || mode->p[0] > 'Z'))
		return -EINVAL;
	if (st->n == 0)
		return 0;
	if (!nmea__is_char(st, 'A') && !nmea__is_char(st, 'V'))
		return -EINVAL;
	fix->valid = st->p[0] == 'A' && !(mode && nmea__is_char(mode, 'N'));
	return 0;
}

static int nmea__gga(const struct nmea__field *f, size_t nf, struct gps_fix *fix)
{
	uint32_t q;

	if (nf < 9 || nmea__time(&f[0], fix) < 0 || nmea__pos(&f[1], fix) < 0 || nmea__sats(&f[6], fix) < 0 ||
	    nmea__hdop(&f[7], fix) < 0 || nmea__alt(&f[8], nf > 9 ? &f[9] : NULL, fix) < 0)
		return -EINVAL;
	if (f[5].n) {
		if (scan_uint(f[5].p, f[5].n, 8, &q) < 0)
			return -EINVAL;
		fix->valid = q > 0;
	}
	return 0;
}

static int nmea__rmc(const struct nmea__field *f, size_t nf, struct gps_fix *fix)
{
	if (nf < 9 || nmea__time(&f[0], fix) < 0 || nmea__pos(&f[2], fix) < 0 || nmea__speed_kn(&f[6], fix) < 0 ||
	    nmea__course(&f[7], fix) < 0 || nmea__date(&f[8], fix) < 0)
		return -EINVAL;
	return nmea__status(&f[1], nf > 11 ? &f[11] : NULL, fix);
}

static int nmea__vtg(const struct nmea__field *f, size_t nf, struct gps_fix *fix)
{
	double kmh;
	int rc;

	if (nf < 8 || !(f[1].n == 0 || nmea__is_char(&f[1], 'T')) || !(f[3].n == 0 || nmea__is_char(&f[3], 'M')) ||
	    !(f[5].n == 0 || nmea__is_char(&f[5], 'N')) || !(f[7].n == 0 || nmea__is_char(&f[7], 'K')))
		return -EINVAL;
	if (nmea__course(&f[0], fix) < 0 || nmea__course(&f[2], &(struct gps_fix){0}) < 0)
		return -EINVAL;
	rc = nmea__udec(&f[6], &kmh);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		if (nmea__speed_kn(&f[4], &(struct gps_fix){0}) < 0)
			return -EINVAL;
		fix->speed_kmh = kmh;
		fix->have |= GPS_HAVE_SPEED;
		return 0;
	}
	return nmea__speed_kn(&f[4], fix);
}

static int nmea__gns(const struct nmea__field *f, size_t nf, struct gps_fix *fix)
{
	if (nf < 9 || nmea__time(&f[0], fix) < 0 || nmea__pos(&f[1], fix) < 0 || nmea__sats(&f[6], fix) < 0 ||
	    nmea__hdop(&f[7], fix) < 0 || nmea__alt(&f[8], NULL, fix) < 0)
		return -EINVAL;
	if (f[5].n) {
		int valid = 0;
		for (size_t i = 0; i < f[5].n; i++) {
			char c = f[5].p[i];
			if (c < 'A' || c > 'Z')
				return -EINVAL;
			if (c == 'A' || c == 'D' || c == 'P' || c == 'R' || c == 'F')
				valid = 1;
		}
		fix->valid = (uint8_t)valid;
	}
	return 0;
}

static int nmea__gll(const struct nmea__field *f, size_t nf, struct gps_fix *fix)
{
	static const struct nmea__field empty = {"", 0};

	if (nf < 4 || nmea__pos(&f[0], fix) < 0)
		return -EINVAL;
	if (nf > 4 && nmea__time(&f[4], fix) < 0)
		return -EINVAL;
	return nmea__status(nf > 5 ? &f[5] : &empty, nf > 6 ? &f[6] : NULL, fix);
}

static enum rx_event_kind nmea__reject(enum rx_reject *why, enum rx_reject r)
{
	*why = r;
	return RX_EV_REJECT;
}

enum rx_event_kind nmea_parse(struct nmea_state *st, const char *s, size_t n, struct rx_record *rec,
			      enum rx_reject *why)
{
	static const char talkers[][3] = {"GP", "GN", "GL", "GA", "BD"};
	struct nmea__field f[NMEA_MAX_FIELDS];
	const char *star = NULL;
	uint8_t sum = 0;
	size_t i = 0, j, nf = 0;

	st->bad_fields = 0;
	if (n == 0 || (s[0] != '$' && s[0] != '!'))
		return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	while (i < n && s[i] == '$')
		i++; /* "$$GPGGA,...": the extra '$' is dropped */
	for (j = i; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c < 0x20 || c > 0x7E || c == '$' || c == '!')
			return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
		if (!star) {
			if (c == '*')
				star = s + j;
			else
				sum ^= c;
		}
	}
	if (!star)
		return nmea__reject(why, RX_REJ_NMEA_NO_CHECKSUM);
	if (s + n - star != 3 || scan_hex2(star + 1) != sum)
		return nmea__reject(why, RX_REJ_NMEA_CHECKSUM);

	const char *body = s + i, *end = star;
	const char *comma = memchr(body, ',', (size_t)(end - body));
	const char *addr_end = comma ? comma : end;
	size_t addr_n = (size_t)(addr_end - body);
	if (addr_n == 0)
		return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	for (j = 0; j < addr_n; j++)
		if (!((body[j] >= 'A' && body[j] <= 'Z') || (body[j] >= '0' && body[j] <= '9')))
			return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	if (comma) {
		const char *p = comma + 1;
		for (;;) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			const char *fe = c ? c : end;
			if (nf == NMEA_MAX_FIELDS)
				return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
			f[nf].p = p;
			f[nf].n = (size_t)(fe - p);
			nf++;
			if (!c)
				break;
			p = c + 1;
		}
	}

	int talker_ok = 0;
	for (j = 0; j < sizeof(talkers) / sizeof(talkers[0]); j++)
		if (addr_n == 5 && memcmp(body, talkers[j], 2) == 0)
			talker_ok = 1;
	if (!talker_ok)
		return RX_EV_IGNORED;

	struct gps_fix fix = st->fix;
	int rc;
	if (memcmp(body + 2, "GGA", 3) == 0)
		rc = nmea__gga(f, nf, &fix);
	else if (memcmp(body + 2, "RMC", 3) == 0)
		rc = nmea__rmc(f, nf, &fix);
	else if (memcmp(body + 2, "VTG", 3) == 0)
		rc = nmea__vtg(f, nf, &fix);
	else if (memcmp(body + 2, "GNS", 3) == 0)
		rc = nmea__gns(f, nf, &fix);
	else if (memcmp(body + 2, "GLL", 3) == 0)
		rc = nmea__gll(f, nf, &fix);
	else
		return RX_EV_IGNORED;
	if (rc < 0)
		return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	st->fix = fix;
	rec->type = REC_GPS;
	rec->u.gps = fix;
	return RX_EV_RECORD;
}

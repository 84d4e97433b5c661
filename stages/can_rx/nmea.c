/*
 * nmea.c - NMEA 0183 sentence checking and fix merging (nmea.h).
 *
 * A sentence is checked as a whole first (characters, checksum, address) and classified by its address before it is
 * split, so a long sentence of another type is ignored whatever its field count.  A fix-bearing one is then split
 * into fields and parsed into a copy of the merged fix; the copy replaces the state only when the sentence is
 * accepted, so a refused sentence changes nothing.  Optional fields that do not parse are left out (their "have" bit
 * cleared) and counted in st->bad_fields.  Latitude and longitude are read as whole degrees plus decimal minutes
 * taken straight from the text ("4807.038" = 48 deg + 07.038 min), so no rounding is added beyond one division;
 * knots become km/h with one rounding (the digits times 1852, divided by a power of ten).
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

/* What one sentence's parse produces besides the fix. */
struct nmea__ctx {
	struct gps_fix *fix;
	unsigned bad; /* optional fields left out */
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

/* An optional field's result: a bad one is left out (its have bit cleared) and counted. */
static void nmea__opt(struct nmea__ctx *c, int rc, unsigned have)
{
	if (rc < 0) {
		c->fix->have &= ~have;
		c->bad++;
	}
}

/* Latitude and longitude with their hemispheres: needed.  Both empty: no position (left unchanged). */
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
	if (rc > 0 && fix) {
		fix->course_deg = c;
		fix->have |= GPS_HAVE_COURSE;
	}
	return 0;
}

/*
 * Knots -> km/h with a single rounding: the decimal digits as an integer m with e fractional digits give
 * m * 1852 / 10^(e + 3) exactly, when m * 1852 < 2^53 and 10^(e + 3) is exact (e + 3 <= 22).  Returns 1, 0 when
 * empty, or -EINVAL.
 */
static int nmea__knots_kmh(const struct nmea__field *f, double *kmh)
{
	static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
					 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	const uint64_t limit = ((UINT64_C(1) << 53) / 1852 - 9) / 10; /* m * 10 + 9 keeps m * 1852 below 2^53 */
	uint64_t m = 0;
	unsigned e = 0;
	int dot = 0;
	double kn;

	if (nmea__udec(f, &kn) <= 0)
		return f->n == 0 ? 0 : -EINVAL;
	for (size_t i = 0; i < f->n; i++) {
		if (f->p[i] == '.') {
			dot = 1;
			continue;
		}
		if (m > limit) {
			*kmh = kn * NMEA_KNOT_KMH; /* too many digits for the exact path */
			return 1;
		}
		m = m * 10 + (uint64_t)(f->p[i] - '0');
		e += (unsigned)dot;
	}
	if (e + 3 > 22) {
		*kmh = kn * NMEA_KNOT_KMH;
		return 1;
	}
	*kmh = (double)(m * 1852u) / pow10[e + 3];
	return 1;
}

static int nmea__speed_kn(const struct nmea__field *f, struct gps_fix *fix)
{
	double kmh;
	int rc = nmea__knots_kmh(f, &kmh);

	if (rc > 0) {
		fix->speed_kmh = kmh;
		fix->have |= GPS_HAVE_SPEED;
	}
	return rc < 0 ? rc : 0;
}

/* Magnetic variation and its direction: checked only (not kept). */
static int nmea__magvar(const struct nmea__field *v, const struct nmea__field *dir)
{
	double d;
	int rc = nmea__udec(v, &d);

	if (rc < 0 || (rc > 0 && !(d <= 180.0)))
		return -EINVAL;
	if (dir && !(dir->n == 0 || nmea__is_char(dir, 'E') || nmea__is_char(dir, 'W')))
		return -EINVAL;
	return 0;
}

/* One mode/status letter (A..Z) or empty.  Returns the letter, 0 when empty, or -EINVAL. */
static int nmea__letter(const struct nmea__field *f)
{
	if (f->n == 0)
		return 0;
	if (f->n != 1 || f->p[0] < 'A' || f->p[0] > 'Z')
		return -EINVAL;
	return f->p[0];
}

/* A fix-mode letter (NMEA 2.3+ / 4.x: A autonomous, D differential, E estimated, F float RTK, M manual, P precise,
 * R RTK, S simulator) means a fix; N (no fix) and any other letter do not. */
static int nmea__mode_fix(int c)
{
	return c && strchr("ADEFMPRS", c) != NULL;
}

static const struct nmea__field nmea__empty = {"", 0};

/* Field i, or an empty one past the end. */
static const struct nmea__field *nmea__f(const struct nmea__field *f, size_t nf, size_t i)
{
	return i < nf ? &f[i] : &nmea__empty;
}

/*
 * RMC and GLL validity: status (needed) A|V|empty, then an optional mode letter and (RMC, NMEA 4.1) navigational
 * status letter.  Valid = status 'A' and mode not 'N' (nor another non-fix letter) and nav status not 'V'.
 */
static int nmea__status(const struct nmea__field *st, const struct nmea__field *mode, const struct nmea__field *nav,
			struct gps_fix *fix)
{
	int m = nmea__letter(mode), v = nmea__letter(nav);

	if (m < 0 || v < 0)
		return -EINVAL;
	if (!(st->n == 0 || nmea__is_char(st, 'A') || nmea__is_char(st, 'V')))
		return -EINVAL;
	fix->valid = nmea__is_char(st, 'A') && (m == 0 || nmea__mode_fix(m)) && v != 'V';
	return 0;
}

static int nmea__gga(const struct nmea__field *f, size_t nf, struct nmea__ctx *c)
{
	struct gps_fix *fix = c->fix;
	uint32_t q;

	if (nf < 9 || nmea__pos(&f[1], fix) < 0)
		return -EINVAL;
	if (f[5].n && scan_uint(f[5].p, f[5].n, 9, &q) < 0)
		return -EINVAL;
	fix->valid = f[5].n && q > 0;
	nmea__opt(c, nmea__time(&f[0], fix), GPS_HAVE_TIME);
	nmea__opt(c, nmea__sats(&f[6], fix), GPS_HAVE_SATS);
	nmea__opt(c, nmea__hdop(&f[7], fix), GPS_HAVE_HDOP);
	nmea__opt(c, nmea__alt(&f[8], nmea__f(f, nf, 9), fix), GPS_HAVE_ALT);
	return 0;
}

static int nmea__rmc(const struct nmea__field *f, size_t nf, struct nmea__ctx *c)
{
	struct gps_fix *fix = c->fix;

	if (nf < 9 || nmea__pos(&f[2], fix) < 0 ||
	    nmea__status(&f[1], nmea__f(f, nf, 11), nmea__f(f, nf, 12), fix) < 0)
		return -EINVAL;
	nmea__opt(c, nmea__time(&f[0], fix), GPS_HAVE_TIME);
	nmea__opt(c, nmea__speed_kn(&f[6], fix), GPS_HAVE_SPEED);
	nmea__opt(c, nmea__course(&f[7], fix), GPS_HAVE_COURSE);
	nmea__opt(c, nmea__date(&f[8], fix), GPS_HAVE_DATE);
	nmea__opt(c, nmea__magvar(nmea__f(f, nf, 9), nmea__f(f, nf, 10)), 0);
	return 0;
}

static int nmea__vtg(const struct nmea__field *f, size_t nf, struct nmea__ctx *c)
{
	struct gps_fix *fix = c->fix;
	double kmh;
	int m = nmea__letter(nmea__f(f, nf, 8)), rc;

	if (nf < 8 || m < 0)
		return -EINVAL;
	if (m && !nmea__mode_fix(m)) {
		fix->valid = 0; /* the receiver says the data are not valid: none of it is kept */
		return 0;
	}
	if (!(f[1].n == 0 || nmea__is_char(&f[1], 'T')) || nmea__course(&f[0], NULL) < 0)
		nmea__opt(c, -EINVAL, GPS_HAVE_COURSE);
	else
		nmea__course(&f[0], fix);
	if (!(f[3].n == 0 || nmea__is_char(&f[3], 'M')) || nmea__course(&f[2], NULL) < 0)
		nmea__opt(c, -EINVAL, 0);
	/* Speed from knots (more digits); km/h only when the knots field is empty. */
	if (!(f[5].n == 0 || nmea__is_char(&f[5], 'N'))) {
		nmea__opt(c, -EINVAL, GPS_HAVE_SPEED);
	} else if (f[4].n) {
		nmea__opt(c, nmea__speed_kn(&f[4], fix), GPS_HAVE_SPEED);
	} else if (!(f[7].n == 0 || nmea__is_char(&f[7], 'K'))) {
		nmea__opt(c, -EINVAL, GPS_HAVE_SPEED);
	} else {
		rc = nmea__udec(&f[6], &kmh);
		if (rc > 0) {
			fix->speed_kmh = kmh;
			fix->have |= GPS_HAVE_SPEED;
		}
		nmea__opt(c, rc, GPS_HAVE_SPEED);
	}
	return 0;
}

static int nmea__gns(const struct nmea__field *f, size_t nf, struct nmea__ctx *c)
{
	struct gps_fix *fix = c->fix;
	int valid = 0, nav = nmea__letter(nmea__f(f, nf, 12));

	if (nf < 9 || nmea__pos(&f[1], fix) < 0 || nav < 0)
		return -EINVAL;
	for (size_t i = 0; i < f[5].n; i++) {
		char m = f[5].p[i];
		if (m < 'A' || m > 'Z')
			return -EINVAL;
		if (nmea__mode_fix(m))
			valid = 1; /* one constellation with a fix is enough */
	}
	fix->valid = (uint8_t)(valid && nav != 'V');
	nmea__opt(c, nmea__time(&f[0], fix), GPS_HAVE_TIME);
	nmea__opt(c, nmea__sats(&f[6], fix), GPS_HAVE_SATS);
	nmea__opt(c, nmea__hdop(&f[7], fix), GPS_HAVE_HDOP);
	nmea__opt(c, nmea__alt(&f[8], NULL, fix), GPS_HAVE_ALT);
	return 0;
}

static int nmea__gll(const struct nmea__field *f, size_t nf, struct nmea__ctx *c)
{
	struct gps_fix *fix = c->fix;

	if (nf < 4 || nmea__pos(&f[0], fix) < 0 ||
	    nmea__status(nmea__f(f, nf, 5), nmea__f(f, nf, 6), &nmea__empty, fix) < 0)
		return -EINVAL;
	nmea__opt(c, nmea__time(nmea__f(f, nf, 4), fix), GPS_HAVE_TIME);
	return 0;
}

static enum rx_event_kind nmea__reject(enum rx_reject *why, enum rx_reject r)
{
	*why = r;
	return RX_EV_REJECT;
}

int nmea_sentence_type(const char *s, size_t n, char *out, size_t size)
{
	size_t i = 0, k = 0;

	while (i < n && (s[i] == '$' || s[i] == '!'))
		i++;
	if (i == 0 || size == 0)
		return -EINVAL;
	while (i + k < n && ((s[i + k] >= 'A' && s[i + k] <= 'Z') || (s[i + k] >= '0' && s[i + k] <= '9')))
		k++;
	if (k == 0 || k >= size || (i + k < n && s[i + k] != ',' && s[i + k] != '*'))
		return -EINVAL;
	memcpy(out, s + i, k);
	out[k] = 0;
	return 0;
}

enum rx_event_kind nmea_parse(struct nmea_state *st, const char *s, size_t n, struct rx_record *rec,
			      enum rx_reject *why)
{
	static const struct {
		char type[4];
		int (*parse)(const struct nmea__field *f, size_t nf, struct nmea__ctx *c);
	} types[] = {{"GGA", nmea__gga}, {"RMC", nmea__rmc}, {"VTG", nmea__vtg}, {"GNS", nmea__gns}, {"GLL", nmea__gll}};
	struct nmea__field f[NMEA_MAX_FIELDS];
	const char *star = NULL;
	uint8_t sum = 0;
	size_t i = 0, j, nf = 0;

	st->bad_fields = 0;
	if (n == 0 || (s[0] != '$' && s[0] != '!'))
		return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	while (i < n && s[i] == s[0])
		i++; /* "$$GPGGA,...": the extra '$' is dropped */
	for (j = i; j < n; j++) {
		unsigned char ch = (unsigned char)s[j];
		if (ch < 0x20 || ch > 0x7E || ch == '$' || ch == '!')
			return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
		if (!star) {
			if (ch == '*')
				star = s + j;
			else
				sum ^= ch;
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

	/* Classified before splitting: '!' (AIS and other encapsulation), proprietary ($P...), other talkers' and other
	 * types' sentences are ignored whatever their length. */
	if (s[0] != '$' || addr_n != 5 || body[0] == 'P' || body[0] < 'A' || body[0] > 'Z' || body[1] < 'A' ||
	    body[1] > 'Z')
		return RX_EV_IGNORED;
	for (j = 0; j < sizeof(types) / sizeof(types[0]); j++)
		if (memcmp(body + 2, types[j].type, 3) == 0)
			break;
	if (j == sizeof(types) / sizeof(types[0]))
		return RX_EV_IGNORED;

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

	struct gps_fix fix = st->fix;
	struct nmea__ctx ctx = {.fix = &fix, .bad = 0};
	if (types[j].parse(f, nf, &ctx) < 0)
		return nmea__reject(why, RX_REJ_NMEA_SYNTAX);
	st->fix = fix;
	st->bad_fields = ctx.bad;
	rec->type = REC_GPS;
	rec->u.gps = fix;
	return RX_EV_RECORD;
}

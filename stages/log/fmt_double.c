/*
 * fmt_double.c - shortest round-trip text of a double (see fmt_double.h).
 *
 * Tries %.{p}g for p = 1..17 and keeps the first text strtod() reads back equal; 17 significant digits always
 * round-trip an IEEE-754 double, so the loop ends.  Integers below 1e17 keep their digits rather than an exponent.  Most measured values (soc 87.4525, voltage 57.6) stop within
 * a few tries.  About 1 us: fine for once-a-second rows, never called per CAN frame.
 */
#include "stages/log/fmt_double.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bit-for-bit equal, as far as a reader can tell: -0.0 differs from 0.0. */
static int fmt_double__same(double a, double b)
{
	return a == b && signbit(a) == signbit(b);
}

size_t fmt_double_roundtrip(char *buf, size_t size, double v)
{
	char tmp[FMT_DOUBLE_MAX + 8];
	int n = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (!isfinite(v))
		return 0;
	int prec = 1;
	for (; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (n <= 0 || (size_t)n >= sizeof(tmp))
			return 0; /* cannot happen for a finite double */
		if (fmt_double__same(strtod(tmp, NULL), v))
			break;
	}
	/*
	 * %g switches to an exponent once the decimal exponent reaches the precision ("1e+01" for 10).  Below 1e17
	 * write the same significant digits as an integer instead ("10", "1500", "73675183158100910"): the same
	 * decimal number, so it reads back equal too.
	 */
	char *e = strchr(tmp, 'e');
	if (e) {
		int exp10 = atoi(e + 1);
		if (exp10 >= 0 && exp10 < 17) {
			char alt[sizeof(tmp)];
			size_t m = 0, nd = 0;
			for (const char *q = tmp; q < e; q++) {
				if (*q == '-')
					alt[m++] = '-';
				else if (*q >= '0' && *q <= '9') {
					alt[m++] = *q;
					nd++;
				}
			}
			for (size_t z = nd; z < (size_t)exp10 + 1; z++)
				alt[m++] = '0';
			alt[m] = '\0';
			memcpy(tmp, alt, m + 1);
			n = (int)m;
		}
	}
	if ((size_t)n >= size)
		return 0;
	memcpy(buf, tmp, (size_t)n + 1);
	return (size_t)n;
}

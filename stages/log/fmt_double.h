/*
 * fmt_double.h - a double as the shortest decimal text that reads back to the same value.
 *
 * Used wherever this project writes a measured value it did not round on purpose (the canonical-signal columns of
 * merged_can_data, decode's JSON output, status replies): "87.4525", not "87.452500000000001".  The text is the
 * shortest of %.1g .. %.17g that strtod() parses back bit-for-bit equal, so a reader loses nothing and the file
 * stays readable.  Pure: no allocation, no locale dependence beyond the C locale's '.', safe from any thread.
 */
#ifndef V2X_STAGES_LOG_FMT_DOUBLE_H
#define V2X_STAGES_LOG_FMT_DOUBLE_H

#include <stddef.h>

/* Longest text fmt_double_roundtrip() writes, without the terminating NUL ("-2.2250738585072014e-308"). */
#define FMT_DOUBLE_MAX 24

/*
 * Writes the shortest round-trip text of v into buf and NUL-terminates it.  NaN and infinities are written as ""
 * (an empty CSV field: "no value"), so callers never emit "nan" into a file a script parses as numbers.  -0.0 is
 * written "-0".  Returns the length written (0 for NaN/inf), or 0 with buf[0] = '\0' when size is too small
 * (size > FMT_DOUBLE_MAX always suffices).  Uses snprintf/strtod: not for a per-frame path.
 */
size_t fmt_double_roundtrip(char *buf, size_t size, double v);

#endif

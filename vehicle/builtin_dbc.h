/* builtin_dbc.h - the shipped stages/decode/twizy.dbc, compiled into the library by the Makefile. */
#ifndef V2X_VEHICLE_BUILTIN_DBC_H
#define V2X_VEHICLE_BUILTIN_DBC_H

#include <stddef.h>

extern const char twizy_dbc_text[]; /* NUL-terminated */
extern const size_t twizy_dbc_len;  /* without the NUL */

#endif

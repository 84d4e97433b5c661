/* config_internal.h - helpers shared by config.c (values) and config_load.c (loader); not a public interface. */
#ifndef V2X_RT_CONFIG_INTERNAL_H
#define V2X_RT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/config.h"

uint64_t config__load_u(const void *f, size_t size);
int64_t config__load_i(const void *f, size_t size);
/* The multiplier from a DURATION/SIZE key's unit to ns/bytes (1 for other types, 0 for an unknown unit). */
uint64_t config__unit_mult(const struct rt_config_key *k);
void config__urange(const struct rt_config_key *k, uint64_t *lo, uint64_t *hi);
void config__irange(const struct rt_config_key *k, int64_t *lo, int64_t *hi);
size_t config__strmax(const struct rt_config_key *k);
bool config__is_text(enum rt_config_type t);
/* What key accepts, such as "1..60000 ms" or "one of auto, text, v2" (terminated, cut to size). */
void config__expects(const struct rt_config_key *k, char *buf, size_t size);
/* True when k's field holds the same value in the structs a and b. */
bool config__equal(const struct rt_config_key *k, const void *a, const void *b);
/* Calls fn(section, arg) once per section, in the order the sections first appear in the tables. */
void config__each_section(const struct rt_config_bind *binds, size_t n, void (*fn)(const char *section, void *arg),
			  void *arg);

#endif

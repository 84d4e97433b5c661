/*
 * fw_nmea.h - the little NMEA 0183 the firmware needs: checksums, and a fix merged from GGA and RMC sentences for
 * the legacy GPS and STATUS lines (the v2 link forwards sentences raw; the computer parses them).
 *
 * Pure; one fix per thread.  A sentence with a missing or wrong checksum, an empty or malformed field changes
 * nothing and returns -EINVAL.
 */
#ifndef V2X_FIRMWARE_APPS_COMMON_FW_NMEA_H
#define V2X_FIRMWARE_APPS_COMMON_FW_NMEA_H

#include <stddef.h>
#include <stdint.h>

struct fw_fix {
	double lat_deg, lon_deg, alt_m, speed_kmh, hdop;
	uint16_t year;
	uint8_t month, day, hour, minute, second;
	uint8_t sats;
	uint8_t valid;     /* bit 0: the last RMC said A (active); bit 1: the last GGA had quality > 0 */
	uint8_t have_date; /* RMC date and time seen */
	uint8_t have_pos;
	uint32_t updated_ms; /* board time of the last accepted sentence */
};

/* XOR of the bytes between '$' and '*' of s[0..n).  s must start with '$'. */
uint8_t fw_nmea_checksum(const char *s, size_t n);

/* Whether s[0..n) (no CR/LF) is "$...*HH" with a correct checksum. */
int fw_nmea_valid(const char *s, size_t n);

/* Merge a GGA or RMC sentence into *fix (other sentences: -ENOENT).  Returns 0, -EINVAL or -ENOENT. */
int fw_nmea_merge(struct fw_fix *fix, const char *s, size_t n, uint32_t now_ms);

/* Append "*HH\r\n" to the sentence in buf[0..n) (which starts with '$').  Returns the new length or -ENOBUFS. */
int fw_nmea_finish(char *buf, size_t n, size_t size);

#endif

/*
 * mqtt_conf.h - the legacy vehicle's mqtt_config.txt, accepted as it is (../shared/facts/legacy-system.md), and the
 * uplink's secrets: the ThingsBoard access token from a config value or a token file, key files checked for
 * their permissions, and the token masked wherever it would be shown.
 *
 * mqtt_config.txt: `key=value` lines; blank lines and lines whose first non-blank character is '#' are skipped; the
 * key and the value are trimmed of spaces, tabs and a trailing CR; the value is everything after the first '='
 * (it may contain '=' and '#').  Lines and values of any length are read (getline, heap copies): no fixed buffer.
 * Keys: broker_ip (host name or address), broker_port (1..65535), device_token, check_interval (seconds, a
 * positive decimal: the uplink's sampling interval), use_location (true/false, also yes/no, 1/0, on/off, any case),
 * latitude (-90..90), longitude (-180..180) (the fallback position), csv_pattern (accepted and ignored: the daemon
 * does not re-read CSV files).  The station file's keys (evcs_config.txt: evcs_name, fast_charge, plug_type,
 * cost_per_kwh, number_of_slots, qos, keepalive, max_retries, retry_delay, serial_port, baud_rate,
 * charging_current_threshold, session_timeout) are accepted and ignored with a notice, since sites share one
 * file; any other key, a line without '=', a bad number and a duplicated key are errors naming the file, the line
 * and the key.  An error about device_token never shows its value.
 *
 * Secret files (a token file, a TLS private key, and mqtt_config.txt when it holds device_token) are refused when
 * others have any permission on them or the group may write them (mode & 0027), with the message "<path>: mode 0644 lets others read the secret; chmod 600 <path>".
 *
 * Runs at start-up (control thread); allocates; reports through the caller's message buffer, never prints.
 */
#ifndef V2X_STAGES_UPLINK_MQTT_CONF_H
#define V2X_STAGES_UPLINK_MQTT_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mqtt_legacy {
	char *broker_ip;           /* NULL = not given */
	unsigned broker_port;      /* 0 = not given */
	char *device_token;        /* NULL = not given; never print it (mqtt_mask_secret) */
	uint64_t check_interval_ns; /* 0 = not given */
	int use_location;          /* -1 = not given, else 0/1 */
	double latitude, longitude;
	int have_latitude, have_longitude;
	char *csv_pattern;         /* kept for --print-config only */
	unsigned ignored_keys;     /* station keys ignored */
	char *notice;              /* first notice (an ignored key), NULL = none; the caller may log it */
};

/*
 * Reads path into *out (zeroed first).  Returns 0, or a negative errno with a one-line message in err
 * ("mqtt_config.txt:4: broker_port = 70000: out of range (1..65535)"; -EACCES for a secret file others can
 * read).  *out is freed on error.
 */
int mqtt_legacy_load(const char *path, struct mqtt_legacy *out, char *err, size_t errsize);

/* Frees the strings of c (safe on a zeroed or freed struct). */
void mqtt_legacy_free(struct mqtt_legacy *c);

/*
 * Checks that the secret file at path (opened by the caller as fd when fd >= 0, else stat'ed by path) is not
 * readable by others (see above).  Returns 0, -EACCES with the message, or another negative errno.
 */
int mqtt_check_secret_file(const char *path, int fd, char *err, size_t errsize);

/*
 * Reads a token file: one token, surrounding white space (and a final newline) trimmed; refused when empty, when it
 * holds white space or control characters inside, or when others may read the file.  *token is heap-allocated
 * (free() it).  Returns 0 or a negative errno with the message (which never contains the token).
 */
int mqtt_read_token_file(const char *path, char **token, char *err, size_t errsize);

/*
 * Writes the masked form of a secret: "(none)" when NULL or empty, else "***" followed by " (N chars)".  No
 * character of the secret is ever written.  Returns the length or -ENOBUFS.
 */
int mqtt_mask_secret(const char *secret, char *buf, size_t size);

/* Prints c as mqtt_config.txt lines (the token masked) to f, for --print-config. */
void mqtt_legacy_print(FILE *f, const struct mqtt_legacy *c);

#endif

/* mqtt_conf.c - the legacy mqtt_config.txt and the uplink's secret files (see mqtt_conf.h). */
#include "stages/uplink/mqtt_conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MODE_BITS 0027u

static void mc__err(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void mc__err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

/* Trims spaces, tabs, CR and LF at both ends in place; returns the start. */
static char *mc__trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int mqtt_check_secret_file(const char *path, int fd, char *err, size_t errsize)
{
	struct stat st;

	if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) < 0) {
		int e = errno;
		mc__err(err, errsize, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		mc__err(err, errsize, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & SECRET_MODE_BITS) {
		mc__err(err, errsize, "%s: mode %04o lets others read the secret; chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		return -EACCES;
	}
	return 0;
}

/* Parses a strict decimal double (no inf/nan/hex).  Returns 0 or -1. */
static int mc__double(const char *s, double *out)
{
	char *end;

	if (!*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!(isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+' || *p == 'e' || *p == 'E'))
			return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int mc__bool(const char *s)
{
	static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, t[i]) == 0)
			return 1;
		if (strcasecmp(s, f[i]) == 0)
			return 0;
	}
	return -1;
}

static const char *const station_keys[] = {
	"evcs_name", "fast_charge", "plug_type", "cost_per_kwh", "number_of_slots", "qos", "keepalive",
	"max_retries", "retry_delay", "serial_port", "baud_rate", "charging_current_threshold", "session_timeout",
};

enum mc_key { K_BROKER_IP, K_BROKER_PORT, K_TOKEN, K_INTERVAL, K_USE_LOC, K_LAT, K_LON, K_CSV, K__COUNT };
static const char *const key_names[K__COUNT] = {
	"broker_ip", "broker_port", "device_token", "check_interval", "use_location", "latitude", "longitude",
	"csv_pattern",
};

/* Applies one key; returns 0 or -EINVAL with the message. */
static int mc__apply(struct mqtt_legacy *c, enum mc_key k, const char *v, const char *path, unsigned line,
		     char *err, size_t errsize)
{
	double d;

	switch (k) {
	case K_BROKER_IP:
		if (!*v || strpbrk(v, " \t")) {
			mc__err(err, errsize, "%s:%u: broker_ip = %s: not a host name or address", path, line, v);
			return -EINVAL;
		}
		return (c->broker_ip = strdup(v)) ? 0 : -ENOMEM;
	case K_BROKER_PORT:
		if (mc__double(v, &d) < 0 || d != (double)(long)d || strpbrk(v, ".eE+-")) {
			mc__err(err, errsize, "%s:%u: broker_port = %s: not a port number (1..65535)", path, line, v);
			return -EINVAL;
		}
		if (d < 1 || d > 65535) {
			mc__err(err, errsize, "%s:%u: broker_port = %s: out of range (1..65535)", path, line, v);
			return -EINVAL;
		}
		c->broker_port = (unsigned)d;
		return 0;
	case K_TOKEN:
		for (const char *p = v; *p; p++)
			if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
				mc__err(err, errsize, "%s:%u: device_token holds white space or control characters", path,
					line);
				return -EINVAL;
			}
		if (!*v) {
			mc__err(err, errsize, "%s:%u: device_token is empty", path, line);
			return -EINVAL;
		}
		return (c->device_token = strdup(v)) ? 0 : -ENOMEM;
	case K_INTERVAL:
		if (mc__double(v, &d) < 0 || d <= 0 || d > 86400) {
			mc__err(err, errsize, "%s:%u: check_interval = %s: not a number of seconds (0 < s <= 86400)",
				path, line, v);
			return -EINVAL;
		}
		c->check_interval_ns = (uint64_t)llround(d * 1e9);
		if (c->check_interval_ns < 1000000) {
			mc__err(err, errsize, "%s:%u: check_interval = %s: below 1 ms", path, line, v);
			return -EINVAL;
		}
		return 0;
	case K_USE_LOC:
		c->use_location = mc__bool(v);
		if (c->use_location < 0) {
			mc__err(err, errsize, "%s:%u: use_location = %s: not true or false", path, line, v);
			return -EINVAL;
		}
		return 0;
	case K_LAT:
	case K_LON: {
		double lim = k == K_LAT ? 90 : 180;
		if (mc__double(v, &d) < 0 || d < -lim || d > lim) {
			mc__err(err, errsize, "%s:%u: %s = %s: not a number in -%g..%g degrees", path, line, key_names[k], v,
				lim, lim);
			return -EINVAL;
		}
		if (k == K_LAT) {
			c->latitude = d;
			c->have_latitude = 1;
		} else {
			c->longitude = d;
			c->have_longitude = 1;
		}
		return 0;
	}
	case K_CSV:
		return (c->csv_pattern = strdup(v)) ? 0 : -ENOMEM;
	default:
		return -EINVAL;
	}
}

int mqtt_legacy_load(const char *path, struct mqtt_legacy *out, char *err, size_t errsize)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0, seen = 0;
	int rc = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	out->use_location = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		mc__err(err, errsize, "%s: %s", path, strerror(-rc));
		return rc;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		close(fd);
		mc__err(err, errsize, "%s: %s", path, strerror(-rc));
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		mc__err(err, errsize, "%s: not a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	for (;;) {
		errno = 0;
		ssize_t n = getline(&line, &cap, f);
		if (n < 0) {
			if (errno) {
				rc = -errno;
				mc__err(err, errsize, "%s: %s", path, strerror(errno));
			}
			break;
		}
		lineno++;
		if (memchr(line, '\0', (size_t)n)) {
			mc__err(err, errsize, "%s:%u: NUL byte in the line", path, lineno);
			rc = -EINVAL;
			break;
		}
		char *s = mc__trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			mc__err(err, errsize, "%s:%u: not a key=value line", path, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		char *key = mc__trim(s), *val = mc__trim(eq + 1);
		int k;
		for (k = 0; k < K__COUNT; k++)
			if (strcmp(key, key_names[k]) == 0)
				break;
		if (k == K__COUNT) {
			size_t i;
			for (i = 0; i < sizeof(station_keys) / sizeof(station_keys[0]); i++)
				if (strcmp(key, station_keys[i]) == 0)
					break;
			if (i < sizeof(station_keys) / sizeof(station_keys[0])) {
				out->ignored_keys++;
				if (!out->notice && asprintf(&out->notice, "%s:%u: %s is a station key: ignored", path,
							     lineno, key) < 0)
					out->notice = NULL;
				continue;
			}
			mc__err(err, errsize,
				"%s:%u: unknown key '%.64s' (broker_ip, broker_port, device_token, check_interval, "
				"use_location, latitude, longitude, csv_pattern)", path, lineno, key);
			rc = -EINVAL;
			break;
		}
		if (seen & (1u << k)) {
			mc__err(err, errsize, "%s:%u: %s given twice", path, lineno, key_names[k]);
			rc = -EINVAL;
			break;
		}
		seen |= 1u << k;
		rc = mc__apply(out, (enum mc_key)k, val, path, lineno, err, errsize);
		if (rc < 0)
			break;
	}
	if (rc == 0 && out->device_token)
		rc = mqtt_check_secret_file(path, fd, err, errsize);
out:
	free(line);
	fclose(f);
	if (rc < 0)
		mqtt_legacy_free(out);
	return rc;
}

void mqtt_legacy_free(struct mqtt_legacy *c)
{
	if (c->device_token) {
		explicit_bzero(c->device_token, strlen(c->device_token));
		free(c->device_token);
	}
	free(c->broker_ip);
	free(c->csv_pattern);
	free(c->notice);
	c->broker_ip = c->device_token = c->csv_pattern = c->notice = NULL;
}

int mqtt_read_token_file(const char *path, char **token, char *err, size_t errsize)
{
	char *buf = NULL;
	size_t cap = 0, len = 0;
	int rc;

	*token = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		mc__err(err, errsize, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = mqtt_check_secret_file(path, fd, err, errsize);
	if (rc < 0)
		goto out;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= (1u << 20)) {
				mc__err(err, errsize, "%s: larger than 1 MiB: not a token", path);
				rc = -EFBIG;
				goto out;
			}
			char *n = realloc(buf, cap + 8192);
			if (!n) {
				rc = -ENOMEM;
				goto out;
			}
			buf = n;
			cap += 8192;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			mc__err(err, errsize, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (!buf) {
		mc__err(err, errsize, "%s: empty: no token", path);
		rc = -EINVAL;
		goto out;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		mc__err(err, errsize, "%s: NUL byte in the token file", path);
		rc = -EINVAL;
		goto out;
	}
	char *t = mc__trim(buf);
	if (!*t) {
		mc__err(err, errsize, "%s: empty: no token", path);
		rc = -EINVAL;
		goto out;
	}
	for (const char *p = t; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
			mc__err(err, errsize, "%s: the token holds white space or control characters", path);
			rc = -EINVAL;
			goto out;
		}
	*token = strdup(t);
	rc = *token ? 0 : -ENOMEM;
out:
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	close(fd);
	return rc;
}

int mqtt_mask_secret(const char *secret, char *buf, size_t size)
{
	int n = (!secret || !*secret) ? snprintf(buf, size, "(none)")
				      : snprintf(buf, size, "*** (%zu chars)", strlen(secret));
	return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

void mqtt_legacy_print(FILE *f, const struct mqtt_legacy *c)
{
	char masked[64];

	if (c->broker_ip)
		fprintf(f, "broker_ip=%s\n", c->broker_ip);
	if (c->broker_port)
		fprintf(f, "broker_port=%u\n", c->broker_port);
	mqtt_mask_secret(c->device_token, masked, sizeof(masked));
	fprintf(f, "device_token=%s\n", masked);
	if (c->check_interval_ns)
		fprintf(f, "check_interval=%.9g\n", (double)c->check_interval_ns / 1e9);
	if (c->use_location >= 0)
		fprintf(f, "use_location=%s\n", c->use_location ? "true" : "false");
	if (c->have_latitude)
		fprintf(f, "latitude=%.9g\n", c->latitude);
	if (c->have_longitude)
		fprintf(f, "longitude=%.9g\n", c->longitude);
	if (c->csv_pattern)
		fprintf(f, "csv_pattern=%s\n", c->csv_pattern);
}

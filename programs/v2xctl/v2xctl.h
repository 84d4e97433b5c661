/*
 * v2xctl.h - the parts of v2xctl: a client of the control socket (rt/control.h's protocol: one JSON object per
 * line each way) and the human renderings of the answers.
 */
#ifndef V2X_PROGRAMS_V2XCTL_H
#define V2X_PROGRAMS_V2XCTL_H

#include <stdio.h>

#include <cjson/cJSON.h>

#define V2XCTL_DEFAULT_SOCKET "/run/v2x/v2xd.sock"

/* Exit statuses (documented in the usage text). */
enum {
	V2XCTL_OK = 0,
	V2XCTL_ERR_ANSWER = 1,  /* the daemon answered with an error */
	V2XCTL_ERR_USAGE = 2,   /* bad command line */
	V2XCTL_ERR_CONNECT = 3, /* cannot connect, or no (valid) answer */
};

struct v2xctl_conn {
	int fd;
	const char *path;
	int timeout_ms;
	char *buf; /* received bytes not yet returned as a line */
	size_t len, cap;
};

/* Connects to path.  Returns 0 or a negative errno (the caller reports it with the path). */
int v2xctl_connect(struct v2xctl_conn *c, const char *path, int timeout_ms);

void v2xctl_close(struct v2xctl_conn *c);

/*
 * Sends {"cmd":cmd,"args":args} (args may be NULL; it is not consumed) and waits for the answer line (at most the
 * connection's timeout).  Returns the parsed answer object (caller deletes it), or NULL with a message in err.
 */
cJSON *v2xctl_request(struct v2xctl_conn *c, const char *cmd, const cJSON *args, char *err, size_t errsz);

/* Human renderings of a command's result. */
void v2xctl_render_status(FILE *out, const cJSON *result);
void v2xctl_render_stats(FILE *out, const cJSON *result);
void v2xctl_render_state(FILE *out, const cJSON *result);
void v2xctl_render_config(FILE *out, const cJSON *result);
void v2xctl_render_help(FILE *out, const cJSON *result);
void v2xctl_render_ping(FILE *out, const cJSON *result);
/* Any other result: "key: value" lines, nested objects indented. */
void v2xctl_render_generic(FILE *out, const cJSON *result);

/* Formats a duration in seconds as "3d04h05m06s" / "1h02m03s" / "4m05s" / "6.2s" into buf. */
void v2xctl_format_duration(double secs, char *buf, size_t size);

#endif

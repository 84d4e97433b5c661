/* client.c - v2xctl's side of the control socket: connect, one request line out, one answer line back. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "programs/v2xctl/v2xctl.h"

#define CLIENT_LINE_MAX (16 * 1024 * 1024) /* an answer longer than this is refused as malformed */

int v2xctl_connect(struct v2xctl_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	c->timeout_ms = timeout_ms;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	c->fd = fd;
	return 0;
}

void v2xctl_close(struct v2xctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = c->cap = 0;
}

static long long client__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int client__send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until a full line is buffered; returns its length (without the newline) or a negative errno
 * (-ETIMEDOUT, -ECONNRESET for end of stream, -EMSGSIZE). */
static long client__read_line(struct v2xctl_conn *c)
{
	long long deadline = client__now_ms() + c->timeout_ms;
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl)
			return (long)(nl - c->buf);
		if (c->len >= CLIENT_LINE_MAX)
			return -EMSGSIZE;
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p = realloc(c->buf, cap);
			if (!p)
				return -ENOMEM;
			c->buf = p;
			c->cap = cap;
		}
		long long left = deadline - client__now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			return -EINTR;
		if (pr <= 0)
			continue;
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
}

cJSON *v2xctl_request(struct v2xctl_conn *c, const char *cmd, const cJSON *args, char *err, size_t errsz)
{
	cJSON *req = cJSON_CreateObject();
	char *text = NULL;
	cJSON *ans = NULL;

	if (!req || !cJSON_AddStringToObject(req, "cmd", cmd)) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (args) {
		cJSON *dup = cJSON_Duplicate(args, 1);
		if (!dup) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		cJSON_AddItemToObject(req, "args", dup);
	}
	text = cJSON_PrintUnformatted(req);
	if (!text) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	size_t len = strlen(text);
	int rc = client__send_all(c->fd, text, len);
	if (rc == 0)
		rc = client__send_all(c->fd, "\n", 1);
	if (rc < 0) {
		snprintf(err, errsz, "cannot send to %s: %s", c->path, strerror(-rc));
		goto out;
	}
	long n = client__read_line(c);
	if (n < 0) {
		if (n == -ETIMEDOUT)
			snprintf(err, errsz, "no answer from %s within %d ms", c->path, c->timeout_ms);
		else if (n == -ECONNRESET)
			snprintf(err, errsz, "%s closed the connection without answering", c->path);
		else if (n == -EINTR)
			snprintf(err, errsz, "interrupted");
		else
			snprintf(err, errsz, "reading from %s: %s", c->path, strerror((int)-n));
		goto out;
	}
	ans = cJSON_ParseWithLength(c->buf, (size_t)n);
	memmove(c->buf, c->buf + n + 1, c->len - (size_t)n - 1);
	c->len -= (size_t)n + 1;
	if (!ans || !cJSON_IsObject(ans) || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
		snprintf(err, errsz, "%s sent an answer that is not a control-protocol JSON object", c->path);
		cJSON_Delete(ans);
		ans = NULL;
	}
out:
	free(text);
	cJSON_Delete(req);
	return ans;
}

/*
 * linux_hal.c - v2x_hal.h on Linux (linux_hal.h): ptys and socketpairs for UARTs, a mutex-guarded queue for CAN,
 * UDP multicast for ESP-NOW, a file for NVS.
 */
#include "firmware/linux/linux_hal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Radio datagram: "ESPN", version, sender MAC, sender position (two little-endian f64 as the host stores them; all
 * peers are processes on this machine), then the ESP-NOW payload. */
#define LH_RADIO_MAGIC "ESPN"
#define LH_RADIO_HDR 27

struct lh_uart {
	int fd;       /* our end: pty master or socketpair end; -1 absent */
	int slave_fd; /* pty slave kept open by us; -1 */
	char link[PATH_MAX];
};

struct v2x_hal {
	char name[32];
	uint8_t mac[6];
	const struct linux_clock *clock;
	const atomic_int *stop;
	struct lh_uart uart[HAL_UART__COUNT];

	pthread_mutex_t can_mu;
	struct hal_can_rx *can_q;
	size_t can_cap, can_head, can_n;
	struct hal_can_filter filter[HAL_CAN_MAX_FILTERS];
	size_t n_filters;

	int udp_fd;
	struct sockaddr_in group;
	double range_m;
	pthread_mutex_t pos_mu;
	double lat, lon;

	char nvs_path[PATH_MAX];
	int has_nvs;
	atomic_int relay;

	atomic_ullong can_pushed, can_filtered, can_overruns;
	atomic_ullong radio_sent, radio_received, radio_out_of_range, radio_bad;
};

void linux_clock_init(struct linux_clock *c, double speed)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	c->speed = speed < 0.01 ? 0.01 : speed;
}

uint64_t linux_clock_us(const struct linux_clock *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return (uint64_t)((double)(now - c->start_ns) * c->speed / 1000.0);
}

int linux_hal_create(struct v2x_hal **out, const struct linux_hal_conf *c)
{
	struct v2x_hal *h;

	if (!c->clock || !c->stop || !c->name)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->name, sizeof(h->name), "%s", c->name);
	memcpy(h->mac, c->mac, 6);
	h->clock = c->clock;
	h->stop = c->stop;
	for (int i = 0; i < HAL_UART__COUNT; i++) {
		h->uart[i].fd = -1;
		h->uart[i].slave_fd = -1;
	}
	h->udp_fd = -1;
	pthread_mutex_init(&h->can_mu, NULL);
	pthread_mutex_init(&h->pos_mu, NULL);
	if (c->can_queue) {
		h->can_q = calloc(c->can_queue, sizeof(*h->can_q));
		if (!h->can_q) {
			free(h);
			return -ENOMEM;
		}
		h->can_cap = c->can_queue;
	}
	if (c->nvs_path) {
		if (strlen(c->nvs_path) >= sizeof(h->nvs_path)) {
			free(h->can_q);
			free(h);
			return -ENAMETOOLONG;
		}
		strcpy(h->nvs_path, c->nvs_path);
		h->has_nvs = 1;
	}
	*out = h;
	return 0;
}

void linux_hal_destroy(struct v2x_hal *h)
{
	struct stat st;

	if (!h)
		return;
	for (int i = 0; i < HAL_UART__COUNT; i++) {
		/* A pty discards what its reader has not taken yet when the master closes: let the reader (v2xd, which
		 * reads in batches every few ms) drain it first, bounded to 2 s.  FIONREAD on the slave counts the line
		 * discipline's buffer but not bytes still moving into it: wait for three empty readings. */
		for (int empty = 0, tries = 0; h->uart[i].slave_fd >= 0 && empty < 3 && tries < 400; tries++) {
			int pending = 0;
			if (ioctl(h->uart[i].slave_fd, FIONREAD, &pending) < 0)
				break;
			empty = pending == 0 ? empty + 1 : 0;
			struct timespec ts = {0, (pending == 0 ? 20 : 5) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (h->uart[i].fd >= 0)
			close(h->uart[i].fd);
		if (h->uart[i].slave_fd >= 0)
			close(h->uart[i].slave_fd);
		if (h->uart[i].link[0] && lstat(h->uart[i].link, &st) == 0 && S_ISLNK(st.st_mode))
			unlink(h->uart[i].link);
	}
	if (h->udp_fd >= 0)
		close(h->udp_fd);
	pthread_mutex_destroy(&h->can_mu);
	pthread_mutex_destroy(&h->pos_mu);
	free(h->can_q);
	free(h);
}

int linux_hal_uart_pty(struct v2x_hal *h, enum hal_uart u, const char *link, char *slave, size_t slave_size)
{
	char name[128];
	struct termios tio;
	struct stat st;
	int m = -1, s = -1, rc;

	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd >= 0)
		return -EINVAL;
	if (link && strlen(link) >= sizeof(h->uart[u].link))
		return -ENAMETOOLONG;
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto fail_errno;
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 || tcgetattr(s, &tio) < 0)
		goto fail_errno;
	cfmakeraw(&tio);
	if (tcsetattr(s, TCSANOW, &tio) < 0)
		goto fail_errno;
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) < 0)
		goto fail_errno;
	if (link) {
		if (lstat(link, &st) == 0) {
			if (!S_ISLNK(st.st_mode)) {
				rc = -EEXIST;
				goto fail;
			}
			unlink(link);
		}
		if (symlink(name, link) < 0)
			goto fail_errno;
		strcpy(h->uart[u].link, link);
	}
	if (slave && slave_size) {
		if (strlen(name) >= slave_size) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		strcpy(slave, name);
	}
	h->uart[u].fd = m;
	h->uart[u].slave_fd = s;
	return 0;
fail_errno:
	rc = -errno;
fail:
	if (s >= 0)
		close(s);
	close(m);
	return rc;
}

int linux_hal_uart_pair(struct v2x_hal *h, enum hal_uart u, int *peer)
{
	int sv[2];

	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd >= 0)
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	h->uart[u].fd = sv[0];
	*peer = sv[1];
	return 0;
}

int linux_hal_radio_open(struct v2x_hal *h, uint16_t port, double range_m)
{
	struct sockaddr_in a;
	struct ip_mreq mreq;
	struct in_addr lo;
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	lo.s_addr = htonl(INADDR_LOOPBACK);
	inet_pton(AF_INET, LINUX_HAL_GROUP, &mreq.imr_multiaddr);
	mreq.imr_interface = lo;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof(lo)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	h->group = a;
	inet_pton(AF_INET, LINUX_HAL_GROUP, &h->group.sin_addr);
	h->udp_fd = fd;
	h->range_m = range_m;
	return 0;
}

void linux_hal_set_position(struct v2x_hal *h, double lat_deg, double lon_deg)
{
	pthread_mutex_lock(&h->pos_mu);
	h->lat = lat_deg;
	h->lon = lon_deg;
	pthread_mutex_unlock(&h->pos_mu);
}

static void lh__position(struct v2x_hal *h, double *lat, double *lon)
{
	pthread_mutex_lock(&h->pos_mu);
	*lat = h->lat;
	*lon = h->lon;
	pthread_mutex_unlock(&h->pos_mu);
}

double linux_hal_distance_m(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371008.8, k = M_PI / 180.0;
	double dlat = (lat2 - lat1) * k, dlon = (lon2 - lon1) * k;
	double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * k) * cos(lat2 * k) * sin(dlon / 2) * sin(dlon / 2);

	return 2.0 * r * asin(sqrt(a < 1.0 ? a : 1.0));
}

static int lh__filter_ok(const struct v2x_hal *h, uint32_t id)
{
	if (h->n_filters == 0)
		return 1;
	for (size_t i = 0; i < h->n_filters; i++)
		if ((id & h->filter[i].mask) == (h->filter[i].id & h->filter[i].mask))
			return 1;
	return 0;
}

int linux_hal_can_push(struct v2x_hal *h, const struct v2x_can *c, uint32_t t_us)
{
	int rc = 1;

	if (!h->can_cap)
		return -ENODEV;
	pthread_mutex_lock(&h->can_mu);
	if (!lh__filter_ok(h, c->id)) {
		atomic_fetch_add_explicit(&h->can_filtered, 1, memory_order_relaxed);
		rc = 0;
	} else if (h->can_n == h->can_cap) {
		atomic_fetch_add_explicit(&h->can_overruns, 1, memory_order_relaxed);
		rc = -ENOSPC;
	} else {
		struct hal_can_rx *slot = &h->can_q[(h->can_head + h->can_n) % h->can_cap];
		slot->can = *c;
		slot->t_us = t_us;
		h->can_n++;
		atomic_fetch_add_explicit(&h->can_pushed, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&h->can_mu);
	return rc;
}

int linux_hal_relay_closed(const struct v2x_hal *h)
{
	return atomic_load_explicit(&h->relay, memory_order_relaxed);
}

void linux_hal_get_counters(const struct v2x_hal *h, struct linux_hal_counters *c)
{
	c->can_pushed = atomic_load(&h->can_pushed);
	c->can_filtered = atomic_load(&h->can_filtered);
	c->can_overruns = atomic_load(&h->can_overruns);
	c->radio_sent = atomic_load(&h->radio_sent);
	c->radio_received = atomic_load(&h->radio_received);
	c->radio_out_of_range = atomic_load(&h->radio_out_of_range);
	c->radio_bad = atomic_load(&h->radio_bad);
}

/* --- v2x_hal.h ------------------------------------------------------------------------------------------------ */

int hal_can_set_filters(struct v2x_hal *h, const struct hal_can_filter *f, size_t n)
{
	if (n > HAL_CAN_MAX_FILTERS)
		return -EINVAL;
	pthread_mutex_lock(&h->can_mu);
	if (n)
		memcpy(h->filter, f, n * sizeof(*f));
	h->n_filters = n;
	pthread_mutex_unlock(&h->can_mu);
	return 0;
}

int hal_can_recv(struct v2x_hal *h, struct hal_can_rx *out, size_t max)
{
	size_t k = 0;

	if (!h->can_cap)
		return -ENODEV;
	pthread_mutex_lock(&h->can_mu);
	while (k < max && h->can_n) {
		out[k++] = h->can_q[h->can_head];
		h->can_head = (h->can_head + 1) % h->can_cap;
		h->can_n--;
	}
	pthread_mutex_unlock(&h->can_mu);
	return (int)k;
}

void hal_can_counters(struct v2x_hal *h, uint32_t *overruns, uint32_t *bus_errors)
{
	*overruns = (uint32_t)atomic_load_explicit(&h->can_overruns, memory_order_relaxed);
	*bus_errors = 0; /* the simulated bus has no errors */
}

int hal_uart_open(struct v2x_hal *h, enum hal_uart u, uint32_t baud)
{
	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd < 0)
		return -ENODEV;
	return baud >= 300 && baud <= 4000000 ? 0 : -EINVAL;
}

static int64_t lh__real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hal_uart_write(struct v2x_hal *h, enum hal_uart u, const void *buf, size_t n, uint32_t timeout_ms)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int64_t deadline = lh__real_ms() + timeout_ms;

	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd < 0)
		return -EIO;
	while (done < n) {
		ssize_t w = write(h->uart[u].fd, p + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -EIO;
		int64_t left = deadline - lh__real_ms();
		if (left <= 0 || hal_should_stop(h))
			return -EAGAIN;
		struct pollfd pfd = {.fd = h->uart[u].fd, .events = POLLOUT};
		poll(&pfd, 1, left > 50 ? 50 : (int)left);
	}
	return (int)n;
}

int hal_uart_read(struct v2x_hal *h, enum hal_uart u, void *buf, size_t n, uint32_t timeout_ms)
{
	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd < 0)
		return -EIO;
	for (;;) {
		ssize_t r = read(h->uart[u].fd, buf, n);
		if (r > 0)
			return (int)r;
		if (r == 0)
			return 0; /* socketpair peer closed: nothing more will come */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EIO)
			return -EIO;
		if (timeout_ms == 0)
			return 0;
		struct pollfd pfd = {.fd = h->uart[u].fd, .events = POLLIN};
		int rc = poll(&pfd, 1, (int)timeout_ms);
		if (rc <= 0 || !(pfd.revents & POLLIN))
			return 0;
		timeout_ms = 0;
	}
}

int hal_uart_flush_input(struct v2x_hal *h, enum hal_uart u)
{
	uint8_t junk[256];

	if ((unsigned)u >= HAL_UART__COUNT || h->uart[u].fd < 0)
		return -EIO;
	while (read(h->uart[u].fd, junk, sizeof(junk)) > 0)
		;
	return 0;
}

uint32_t hal_millis(struct v2x_hal *h)
{
	return (uint32_t)(linux_clock_us(h->clock) / 1000u);
}

uint32_t hal_micros(struct v2x_hal *h)
{
	return (uint32_t)linux_clock_us(h->clock);
}

void hal_sleep_ms(struct v2x_hal *h, uint32_t ms)
{
	double ns = (double)ms * 1e6 / h->clock->speed;
	struct timespec ts = {.tv_sec = (time_t)(ns / 1e9), .tv_nsec = (long)fmod(ns, 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int hal_should_stop(struct v2x_hal *h)
{
	return atomic_load_explicit(h->stop, memory_order_relaxed) != 0;
}

void hal_mac(struct v2x_hal *h, uint8_t mac[HAL_MAC_LEN])
{
	memcpy(mac, h->mac, 6);
}

int hal_espnow_send(struct v2x_hal *h, const void *buf, size_t n)
{
	uint8_t d[LH_RADIO_HDR + HAL_ESPNOW_MAX];
	double lat, lon;

	if (n > HAL_ESPNOW_MAX)
		return -EMSGSIZE;
	if (h->udp_fd < 0)
		return -EIO;
	lh__position(h, &lat, &lon);
	memcpy(d, LH_RADIO_MAGIC, 4);
	d[4] = 1;
	memcpy(d + 5, h->mac, 6);
	memcpy(d + 11, &lat, 8);
	memcpy(d + 19, &lon, 8);
	memcpy(d + LH_RADIO_HDR, buf, n);
	if (sendto(h->udp_fd, d, LH_RADIO_HDR + n, 0, (struct sockaddr *)&h->group, sizeof(h->group)) < 0)
		return -EIO;
	atomic_fetch_add_explicit(&h->radio_sent, 1, memory_order_relaxed);
	return 0;
}

int hal_espnow_recv(struct v2x_hal *h, uint8_t src[HAL_MAC_LEN], void *buf, size_t size)
{
	uint8_t d[LH_RADIO_HDR + HAL_ESPNOW_MAX + 1];
	double lat, lon, my_lat, my_lon;

	if (h->udp_fd < 0)
		return 0;
	for (;;) {
		ssize_t r = recv(h->udp_fd, d, sizeof(d), 0);
		if (r < 0)
			return 0; /* EAGAIN: nothing waiting */
		if (r < LH_RADIO_HDR || r > LH_RADIO_HDR + HAL_ESPNOW_MAX || memcmp(d, LH_RADIO_MAGIC, 4) != 0 ||
		    d[4] != 1) {
			atomic_fetch_add_explicit(&h->radio_bad, 1, memory_order_relaxed);
			continue;
		}
		if (memcmp(d + 5, h->mac, 6) == 0)
			continue; /* ESP-NOW does not hear its own broadcast */
		memcpy(&lat, d + 11, 8);
		memcpy(&lon, d + 19, 8);
		lh__position(h, &my_lat, &my_lon);
		if (h->range_m > 0 && !(linux_hal_distance_m(lat, lon, my_lat, my_lon) <= h->range_m)) {
			atomic_fetch_add_explicit(&h->radio_out_of_range, 1, memory_order_relaxed);
			continue;
		}
		size_t n = (size_t)r - LH_RADIO_HDR;
		memcpy(src, d + 5, 6);
		atomic_fetch_add_explicit(&h->radio_received, 1, memory_order_relaxed);
		if (n > size)
			return -EMSGSIZE;
		memcpy(buf, d + LH_RADIO_HDR, n);
		return (int)n;
	}
}

/* --- NVS: `key=hex` lines ----------------------------------------------------------------------------------- */

#define LH_NVS_MAX 4096

static int lh__nvs_load(struct v2x_hal *h, char *text, size_t size)
{
	int fd = open(h->nvs_path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -EIO;
	for (;;) {
		ssize_t r = read(fd, text + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == size - 1)
			break;
	}
	close(fd);
	text[n] = 0;
	return (int)n;
}

/* Find "key=" at a line start; returns the value's start and its length in *vlen, or NULL. */
static const char *lh__nvs_find(const char *text, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);

	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
			*vlen = ll - kl - 1;
			return p + kl + 1;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return NULL;
}

static int lh__hex(char c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

int hal_nvs_get(struct v2x_hal *h, const char *key, void *buf, size_t size)
{
	char text[LH_NVS_MAX];
	size_t vlen;
	const char *v;
	uint8_t *out = buf;

	if (!h->has_nvs || strlen(key) > 15)
		return -ENOENT;
	if (lh__nvs_load(h, text, sizeof(text)) < 0)
		return -EIO;
	v = lh__nvs_find(text, key, &vlen);
	if (!v)
		return -ENOENT;
	if (vlen % 2)
		return -EIO;
	if (vlen / 2 > size)
		return -ENOBUFS;
	for (size_t i = 0; i < vlen / 2; i++) {
		int hi = lh__hex(v[2 * i]), lo = lh__hex(v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EIO;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(vlen / 2);
}

int hal_nvs_set(struct v2x_hal *h, const char *key, const void *buf, size_t n)
{
	char text[LH_NVS_MAX], out[LH_NVS_MAX], tmp[PATH_MAX + 8];
	size_t vlen, o = 0, kl = strlen(key);
	const char *v;
	const uint8_t *b = buf;
	int len, fd;

	if (!h->has_nvs)
		return -EIO;
	if (kl == 0 || kl > 15 || strchr(key, '=') || strchr(key, '\n'))
		return -EINVAL;
	len = lh__nvs_load(h, text, sizeof(text));
	if (len < 0)
		return -EIO;
	/* Copy every other line, then ours. */
	v = lh__nvs_find(text, key, &vlen);
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) + 1 : strlen(p);
		if (!(v && p + kl + 1 == v)) {
			if (o + ll >= sizeof(out))
				return -ENOSPC;
			memcpy(out + o, p, ll);
			o += ll;
		}
		p += ll;
	}
	if (o && out[o - 1] != '\n')
		out[o++] = '\n';
	if (o + kl + 2 + 2 * n >= sizeof(out))
		return -ENOSPC;
	memcpy(out + o, key, kl);
	o += kl;
	out[o++] = '=';
	for (size_t i = 0; i < n; i++) {
		static const char hx[] = "0123456789abcdef";
		out[o++] = hx[b[i] >> 4];
		out[o++] = hx[b[i] & 15];
	}
	out[o++] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.tmp", h->nvs_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -EIO;
	if (write(fd, out, o) != (ssize_t)o || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -EIO;
	}
	close(fd);
	if (rename(tmp, h->nvs_path) < 0) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

void hal_relay_set(struct v2x_hal *h, int closed)
{
	atomic_store_explicit(&h->relay, closed ? 1 : 0, memory_order_relaxed);
}

int hal_relay_get(struct v2x_hal *h)
{
	return atomic_load_explicit(&h->relay, memory_order_relaxed);
}

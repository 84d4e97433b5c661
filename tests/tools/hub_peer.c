/*
 * hub_peer - stands in for ESP32(2), the radio hub, with one charging station behind it: creates a pseudo-terminal,
 * links a stable path to its slave, and plays the hub link for an integration test or a demo:
 *
 *   hub_peer --link /tmp/ttyHUB [--v2] [--seconds N] [--period-ms MS] [--garbage] [--refuse] [--ignore-stop]
 *            [--lat DEG] [--lon DEG] [--price P] [--kwh-per-msg X]
 *
 * Every period it sends the station's Item (soc = 0xFFFF marker, the facts layout of legacy-system.md link 2): MAC
 * 30:AE:A4:00:00:01 at --lat/--lon, 230 V, 16 A, 3000 W, --price per kWh, its session id (0 until the vehicle asks to
 * charge), the energy counter of that session (+ --kwh-per-msg per message while it is open), uptime in ms.  Legacy
 * (default): AA 55 frames; --v2: V2X_T_V2X_ITEM frames.  It reads what the daemon sends and prints one line per
 * frame on stdout:
 *   rx t_ms=<ms> kind=item soc=<n> ready=<0|1> desired=<pct> lat=<deg> lon=<deg> current=<A>
 *   rx t_ms=<ms> kind=cmd stop=<0|1> session=<id> seq=<n>
 * As the project's hub firmware does (firmware/apps/v2x_hub/hub.h), the V2G request comes from the vehicle's Item:
 * ready_to_charge opens a session (id 1001, 1002, ...) unless --refuse (the station then says it is not available),
 * and an Item without it closes an open one.  On --v2 the stop command (HUB_CMD_STOP_CHARGING) closes the session and
 * is acknowledged with V2X_T_ACK (stopped, or no session), unless --ignore-stop (no answer at all).  --garbage first writes boot text, AA AA 55 + a frame, a frame with a NaN field and a truncated
 * frame.  At the end (after --seconds, or at SIGTERM/SIGINT): "SUMMARY items_in=.. v2g_in=.. station_out=..
 * sessions=.. acks=.. energy_kwh=.." and exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stages/hub_io/hub_frame.h"
#include "tests/support/testutil.h"
#include "v2x_proto.h"

struct peer {
	struct test_pty p;
	int v2, refuse, ignore_stop;
	double lat, lon, price, kwh_step;
	uint32_t session_id, next_id, uptime_ms, tx_seq;
	double kwh;
	int available;
	uint64_t items_in, v2g_in, station_out, sessions, acks;
	int64_t t0;
	uint8_t rx[8192];
	size_t rx_len;
};

static volatile sig_atomic_t stop_now;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static void station_item(const struct peer *s, struct hub_item *it)
{
	static const uint8_t mac[6] = { 0x30, 0xAE, 0xA4, 0x00, 0x00, 0x01 };

	memset(it, 0, sizeof(*it));
	it->soc = HUB_SOC_STATION;
	it->battery_voltage = 230.0f;
	it->battery_current = 16.0f;
	it->available_energy = (float)s->kwh;
	it->gps_latitude = (float)s->lat;
	it->gps_longitude = (float)s->lon;
	it->gps_valid = (uint8_t)s->available;
	memcpy(it->mac, mac, 6);
	it->timestamp = s->uptime_ms;
	it->evcs_session_cost = (float)(s->kwh * s->price);
	it->evcs_cost_per_kwh = (float)s->price;
	it->evcs_max_power = 3000.0f;
	it->evcs_session_id = s->session_id;
	it->evcs_charging_available = (uint8_t)s->available;
}

static int send_item(struct peer *s, const struct hub_item *it)
{
	uint8_t buf[V2X_WIRE_MAX];
	int n = s->v2 ? hub_encode_v2_item(it, ++s->tx_seq, s->uptime_ms * 1000u, buf, sizeof(buf))
		      : hub_encode_legacy(it, buf, sizeof(buf));

	return n > 0 ? test_pty_write_all(&s->p, buf, (size_t)n) : n;
}

static void open_session(struct peer *s)
{
	if (s->refuse) {
		s->available = 0;
		return;
	}
	if (!s->session_id) {
		s->session_id = s->next_id++;
		s->kwh = 0;
		s->sessions++;
	}
}

static void garbage(struct peer *s)
{
	struct hub_item it;
	uint8_t f[HUB_LEGACY_FRAME_LEN];
	float nan_f = NAN;

	(void)test_pty_write_all(&s->p, "ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n", 51);
	station_item(s, &it);
	(void)test_pty_write_all(&s->p, "\xAA", 1); /* AA AA 55 ... */
	hub_encode_legacy(&it, f, sizeof(f));
	(void)test_pty_write_all(&s->p, f, sizeof(f));
	s->uptime_ms += 10;
	station_item(s, &it);
	hub_encode_legacy(&it, f, sizeof(f));
	memcpy(f + 2 + 4, &nan_f, 4); /* battery_voltage NaN */
	(void)test_pty_write_all(&s->p, f, sizeof(f));
	(void)test_pty_write_all(&s->p, f, 40); /* cut short */
}

static double now_ms(const struct peer *s)
{
	return (double)(test_now_ms() - s->t0);
}

/* A command from the daemon: the stop (firmware/apps/v2x_hub/hub.h), answered as the hub firmware does. */
static void on_cmd(struct peer *s, const struct v2x_frame *fr)
{
	uint8_t ack[6], buf[V2X_WIRE_MAX];
	int n, stop = hub_is_stop_cmd(fr->payload, fr->len);

	s->v2g_in++;
	printf("rx t_ms=%.0f kind=cmd stop=%d session=%u seq=%u\n", now_ms(s), stop, s->session_id, fr->seq);
	if (s->ignore_stop)
		return; /* a station that never answers: no acknowledgement at all */
	ack[0] = (uint8_t)fr->seq;
	ack[1] = (uint8_t)(fr->seq >> 8);
	ack[2] = (uint8_t)(fr->seq >> 16);
	ack[3] = (uint8_t)(fr->seq >> 24);
	ack[4] = V2X_T_CMD;
	ack[5] = !stop ? HUB_STOP_UNKNOWN : s->session_id ? HUB_STOP_STOPPED : HUB_STOP_NO_SESSION;
	n = v2x_frame_encode(V2X_T_ACK, ++s->tx_seq, s->uptime_ms * 1000u, ack, 6, buf, sizeof(buf));
	if (n > 0 && test_pty_write_all(&s->p, buf, (size_t)n) == 0)
		s->acks++;
	if (stop)
		s->session_id = 0;
}

static void on_item(struct peer *s, const struct hub_item *it)
{
	s->items_in++;
	printf("rx t_ms=%.0f kind=item soc=%u ready=%u desired=%.1f lat=%.6f lon=%.6f current=%.2f\n", now_ms(s),
	       it->soc, it->ready_to_charge, (double)it->desired_soc, (double)it->gps_latitude,
	       (double)it->gps_longitude, (double)it->battery_current);
	if (it->ready_to_charge)
		open_session(s);
	else if (s->session_id)
		s->session_id = 0; /* legacy: the vehicle no longer asks to charge */
}

/* Cuts what the daemon sent into frames. */
static void parse(struct peer *s)
{
	size_t i = 0;

	if (s->v2) {
		size_t start = 0;

		for (i = 0; i < s->rx_len; i++) {
			struct v2x_frame fr;
			struct hub_item it;

			if (s->rx[i] != 0)
				continue;
			if (v2x_frame_decode(s->rx + start, i - start, &fr) == 0) {
				if (fr.type == V2X_T_V2X_ITEM) {
					hub_item_unpack(fr.payload, &it);
					on_item(s, &it);
				} else if (fr.type == V2X_T_CMD) {
					on_cmd(s, &fr);
				}
			}
			start = i + 1;
		}
		i = start;
	} else {
		while (i + HUB_LEGACY_FRAME_LEN <= s->rx_len) {
			struct hub_item it;

			if (s->rx[i] == 0xAA && s->rx[i + 1] == 0x55) {
				hub_item_unpack(s->rx + i + 2, &it);
				on_item(s, &it);
				i += HUB_LEGACY_FRAME_LEN;
			} else {
				i++;
			}
		}
	}
	memmove(s->rx, s->rx + i, s->rx_len - i);
	s->rx_len -= i;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link", required_argument, NULL, 'l' },      { "v2", no_argument, NULL, '2' },
		{ "seconds", required_argument, NULL, 's' },   { "period-ms", required_argument, NULL, 'p' },
		{ "garbage", no_argument, NULL, 'g' },         { "refuse", no_argument, NULL, 'r' },
		{ "ignore-stop", no_argument, NULL, 'i' },     { "lat", required_argument, NULL, 'a' },
		{ "lon", required_argument, NULL, 'o' },       { "price", required_argument, NULL, 'c' },
		{ "kwh-per-msg", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 },
	};
	static struct peer s;
	const char *link = NULL;
	double seconds = 10, period_ms = 500;
	int garb = 0, c;

	s.lat = 48.0;
	s.lon = 11.0;
	s.price = 1.5;
	s.kwh_step = 0.001;
	s.next_id = 1001;
	s.uptime_ms = 60000;
	s.available = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': link = optarg; break;
		case '2': s.v2 = 1; break;
		case 's': seconds = atof(optarg); break;
		case 'p': period_ms = atof(optarg); break;
		case 'g': garb = 1; break;
		case 'r': s.refuse = 1; break;
		case 'i': s.ignore_stop = 1; break;
		case 'a': s.lat = atof(optarg); break;
		case 'o': s.lon = atof(optarg); break;
		case 'c': s.price = atof(optarg); break;
		case 'k': s.kwh_step = atof(optarg); break;
		default:
			fprintf(stderr, "usage: hub_peer --link PATH [--v2] [--seconds N] [--period-ms MS] [--garbage] "
					"[--refuse] [--ignore-stop] [--lat DEG] [--lon DEG] [--price P] [--kwh-per-msg X]\n");
			return 2;
		}
	}
	if (!link || !(seconds > 0) || !(period_ms >= 10)) {
		fprintf(stderr, "hub_peer: --link is required; --seconds > 0; --period-ms >= 10\n");
		return 2;
	}
	if (test_pty_open(&s.p, link) != 0) {
		fprintf(stderr, "hub_peer: cannot create the pty at %s: %s\n", link, strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* a script ends the peer when its scenario is over: the summary is still printed (no SA_RESTART: poll wakes) */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	s.t0 = test_now_ms();
	if (garb)
		garbage(&s);
	int64_t end = s.t0 + (int64_t)(seconds * 1000), next = s.t0;
	while (test_now_ms() < end && !stop_now) {
		int64_t now = test_now_ms();

		if (now >= next) {
			struct hub_item it;

			next = now + (int64_t)period_ms;
			s.uptime_ms += (uint32_t)period_ms;
			if (s.session_id)
				s.kwh += s.kwh_step;
			station_item(&s, &it);
			if (send_item(&s, &it) == 0)
				s.station_out++;
		}
		struct pollfd pf = { .fd = s.p.master, .events = POLLIN };
		int wait = (int)(next - test_now_ms());
		if (poll(&pf, 1, wait > 0 ? wait : 0) > 0 && (pf.revents & POLLIN)) {
			ssize_t n = read(s.p.master, s.rx + s.rx_len, sizeof(s.rx) - s.rx_len);

			if (n > 0) {
				s.rx_len += (size_t)n;
				parse(&s);
				if (s.rx_len == sizeof(s.rx))
					s.rx_len = 0; /* nothing parseable in a full buffer: start again */
			}
		}
	}
	printf("SUMMARY items_in=%llu v2g_in=%llu station_out=%llu sessions=%llu acks=%llu energy_kwh=%.4f\n",
	       (unsigned long long)s.items_in, (unsigned long long)s.v2g_in, (unsigned long long)s.station_out,
	       (unsigned long long)s.sessions, (unsigned long long)s.acks, s.kwh);
	test_pty_close(&s.p);
	return 0;
}

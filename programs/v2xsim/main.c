/*
 * main.c - v2xsim: the project's ESP32 firmware (firmware/apps) on simulated boards (firmware/linux), as threads of
 * one process, with a Twizy model on the CAN bus, a GPS route, PZEM meters on libmodbus and a scenario timeline.
 *
 * Boards and their threads:
 *   bridge    can_gps_bridge: CAN from the model (or a candump log) and NMEA from the route; host link on --can-pty
 *   hub       v2x_hub of the vehicle; host link on --hub-pty, or fed internally with the model's Item
 *   vehicle2  v2x_hub of a second vehicle parked nearby, fed internally (V2V only: it lacks the station's key)
 *   slot1     evcs_slot slot 1 (V2G with the vehicle); host link on --slot-pty; its meter is pzem_sim on a pty
 *   slot2     evcs_slot slot 2; host link on --slot2-pty
 * The model thread (this file's sim_loop) runs the scenario, the physics, the bus and the meters.  At the end it
 * prints a summary (`key=value` lines, see sim_summary) that scripts check.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "firmware/apps/can_gps_bridge/bridge.h"
#include "firmware/apps/common/fw_legacy.h"
#include "firmware/apps/common/fw_nmea.h"
#include "firmware/apps/evcs_slot/slot.h"
#include "firmware/apps/v2x_hub/hub.h"
#include "firmware/linux/linux_hal.h"
#include "firmware/linux/pzem_sim.h"
#include "firmware/linux/twizy_model.h"
#include "firmware/linux/sim_scenario.h"
#include "stages/can_rx/candump.h"

enum { APP_BRIDGE, APP_HUB, APP_VEHICLE2, APP_SLOT1, APP_SLOT2, APP__COUNT };
static const char *const app_names[APP__COUNT] = {"bridge", "hub", "vehicle2", "slot1", "slot2"};

struct opts {
	const char *can_pty, *hub_pty, *slot_pty, *slot2_pty, *scenario, *candump, *keys, *state_dir, *summary;
	const char *can_filter;
	double speed, duration_s, range_m;
	unsigned rate, baud, batch_us, radio_port, can_queue;
	int legacy, no_batch, apps[APP__COUNT], quiet;
};

/* An internal host link (socketpair end) the simulator drains and counts. */
struct peer {
	int fd;
	uint8_t buf[4096];
	size_t n;
	uint64_t bytes, frames, lines, bad;
	uint64_t by_type[V2X_T_LAST + 1];
	uint32_t last_ack_result, acks;
};

struct app {
	int on;
	struct v2x_hal *h;
	pthread_t thread;
	int started, rc;
	struct peer host; /* when the host link is internal (fd >= 0) */
	union {
		struct bridge_stats bridge;
		struct hub_stats hub;
		struct slot_stats slot;
	} st;
};

struct sim {
	struct opts o;
	struct linux_clock clk;
	atomic_int stop_apps;
	struct app app[APP__COUNT];
	int gps_fd;
	struct pzem_sim *meter[2];
	char nvs[APP__COUNT][512];
	char state_dir[256];
	int own_state_dir;
	uint8_t v2v_key[32], v2g_key[32], v2g_key_other[32];
	struct scenario sc;
	struct model m;
	/* route */
	double wp[64][2];
	size_t n_wp;
	double route_m, lat, lon, course_deg;
	double st_lat, st_lon, v2_lat, v2_lon;
	int have_v2;
	/* bus */
	uint64_t can_model, can_filler, can_refused, can_overrun_push, can_pushed;
	uint64_t can_silent_until_us;
	double stop_at_soc;
	int stop_requested;
	uint32_t cmd_seq;
	uint64_t nmea_written;
	double meter_base_wh;
	double session_ac_start_wh, session_ac_end_wh;
	int session_ac_open;
	double soc_start, soc_end;
	uint64_t end_us;
};

static volatile sig_atomic_t sim_signal;

static void on_signal(int sig)
{
	sim_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: v2xsim [options]   run the project's ESP32 firmware on simulated boards until the scenario ends\n"
		"\n"
		"Serial links (each a pseudo-terminal exposed as a symlink at PATH; without it the link stays internal):\n"
		"  --can-pty PATH      ESP32(1) can_gps_bridge -> vehicle computer (v2xd --can-dev PATH)\n"
		"  --hub-pty PATH      ESP32(2) v2x_hub <-> vehicle computer (without it the simulator feeds the hub)\n"
		"  --slot-pty PATH     station slot 1 -> station computer\n"
		"  --slot2-pty PATH    station slot 2 -> station computer\n"
		"What runs:\n"
		"  --apps LIST         comma-separated: bridge,hub,vehicle2,slot1,slot2 (default: all)\n"
		"  --scenario FILE     timeline (firmware/linux/sim_scenario.h; default: the built-in scenario)\n"
		"  --duration S        stop after S simulated seconds (default: at the scenario's end)\n"
		"  --speed N           simulated time runs N times faster than real time (default 1, 0.1..100)\n"
		"CAN bus:\n"
		"  --rate N            fill the bus up to N frames/s with filler frames (ids 0x700-0x70F; at most 9000)\n"
		"  --candump FILE      replay a candump -l log instead of the vehicle model's frames\n"
		"  --can-filter LIST   acceptance filters of the bridge, hex ID:MASK,... (default: all frames)\n"
		"  --can-queue N       frames the CAN controller's receive queue holds (default 4096; overruns counted)\n"
		"Firmware configuration:\n"
		"  --legacy            legacy text lines / AA 55 frames / slot lines instead of v2 frames\n"
		"  --baud N            bridge host link baud rate (default 921600; legacy 115200)\n"
		"  --no-batch          one V2X_T_CAN frame per CAN frame (no V2X_T_CAN_BATCH)\n"
		"  --batch-us N        how long a batch may wait for more frames (default 1000)\n"
		"  --keys FILE         radio keys: lines v2v_key=<64 hex> and v2g_key=<64 hex> (default: random per run)\n"
		"  --state-dir DIR     the boards' NVS files (default: a temporary directory, removed at exit)\n"
		"Radio:\n"
		"  --range M           ESP-NOW range in metres (default 105)\n"
		"  --radio-port N      UDP port of the simulated ESP-NOW (default 47999; runs on one port hear each other)\n"
		"Output:\n"
		"  --summary FILE      also write the final summary to FILE\n"
		"  --quiet             no progress lines\n"
		"  --help              this text\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_apps(const char *s, int *apps)
{
	char buf[128], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	memset(apps, 0, sizeof(int) * APP__COUNT);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int k;
		for (k = 0; k < APP__COUNT; k++)
			if (strcmp(t, app_names[k]) == 0)
				break;
		if (k == APP__COUNT)
			return -EINVAL;
		apps[k] = 1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_CAN = 256, O_HUB, O_SLOT, O_SLOT2, O_APPS, O_SCEN, O_DUR, O_SPEED, O_RATE, O_CANDUMP, O_FILTER,
	       O_LEGACY, O_BAUD, O_NOBATCH, O_BATCHUS, O_KEYS, O_STATE, O_RANGE, O_PORT, O_SUMMARY, O_QUIET, O_HELP,
	       O_CANQ };
	static const struct option lo[] = {
		{"can-pty", required_argument, NULL, O_CAN},     {"hub-pty", required_argument, NULL, O_HUB},
		{"slot-pty", required_argument, NULL, O_SLOT},   {"slot2-pty", required_argument, NULL, O_SLOT2},
		{"apps", required_argument, NULL, O_APPS},       {"scenario", required_argument, NULL, O_SCEN},
		{"duration", required_argument, NULL, O_DUR},    {"speed", required_argument, NULL, O_SPEED},
		{"rate", required_argument, NULL, O_RATE},       {"candump", required_argument, NULL, O_CANDUMP},
		{"can-filter", required_argument, NULL, O_FILTER}, {"legacy", no_argument, NULL, O_LEGACY},
		{"baud", required_argument, NULL, O_BAUD},       {"no-batch", no_argument, NULL, O_NOBATCH},
		{"batch-us", required_argument, NULL, O_BATCHUS}, {"keys", required_argument, NULL, O_KEYS},
		{"state-dir", required_argument, NULL, O_STATE}, {"range", required_argument, NULL, O_RANGE},
		{"radio-port", required_argument, NULL, O_PORT}, {"summary", required_argument, NULL, O_SUMMARY},
		{"quiet", no_argument, NULL, O_QUIET},           {"help", no_argument, NULL, O_HELP},
		{"can-queue", required_argument, NULL, O_CANQ},
		{NULL, 0, NULL, 0},
	};
	double v;
	int c;

	memset(o, 0, sizeof(*o));
	o->speed = 1.0;
	o->range_m = LINUX_HAL_RANGE_M;
	o->radio_port = 47999;
	o->batch_us = 1000;
	o->can_queue = 4096;
	for (int i = 0; i < APP__COUNT; i++)
		o->apps[i] = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_CAN: o->can_pty = optarg; break;
		case O_HUB: o->hub_pty = optarg; break;
		case O_SLOT: o->slot_pty = optarg; break;
		case O_SLOT2: o->slot2_pty = optarg; break;
		case O_APPS:
			if (parse_apps(optarg, o->apps) < 0)
				goto bad;
			break;
		case O_SCEN: o->scenario = optarg; break;
		case O_DUR:
			if (parse_double(optarg, 0.001, 1e7, &o->duration_s) < 0)
				goto bad;
			break;
		case O_SPEED:
			if (parse_double(optarg, 0.1, 100, &o->speed) < 0)
				goto bad;
			break;
		case O_RATE:
			if (parse_double(optarg, 0, 9000, &v) < 0)
				goto bad;
			o->rate = (unsigned)v;
			break;
		case O_CANDUMP: o->candump = optarg; break;
		case O_FILTER: o->can_filter = optarg; break;
		case O_LEGACY: o->legacy = 1; break;
		case O_BAUD:
			if (parse_double(optarg, 9600, 4000000, &v) < 0)
				goto bad;
			o->baud = (unsigned)v;
			break;
		case O_NOBATCH: o->no_batch = 1; break;
		case O_BATCHUS:
			if (parse_double(optarg, 0, 60000, &v) < 0)
				goto bad;
			o->batch_us = (unsigned)v;
			break;
		case O_KEYS: o->keys = optarg; break;
		case O_STATE: o->state_dir = optarg; break;
		case O_RANGE:
			if (parse_double(optarg, 0, 1e7, &o->range_m) < 0)
				goto bad;
			break;
		case O_PORT:
			if (parse_double(optarg, 1024, 65535, &v) < 0)
				goto bad;
			o->radio_port = (unsigned)v;
			break;
		case O_SUMMARY: o->summary = optarg; break;
		case O_QUIET: o->quiet = 1; break;
		case O_CANQ:
			if (parse_double(optarg, 2, 1048576, &v) < 0)
				goto bad;
			o->can_queue = (unsigned)v;
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		continue;
bad:
		fprintf(stderr, "v2xsim: invalid value '%s' for --%s (see v2xsim --help)\n", optarg,
			lo[c - O_CAN].name);
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "v2xsim: unexpected argument '%s' (see v2xsim --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* --- setup -------------------------------------------------------------------------------------------------------- */

static int hexkey(const char *s, uint8_t out[32])
{
	if (strlen(s) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int load_keys(struct sim *s)
{
	if (getrandom(s->v2g_key_other, 32, 0) != 32)
		return -EIO;
	if (!s->o.keys) {
		if (getrandom(s->v2v_key, 32, 0) != 32 || getrandom(s->v2g_key, 32, 0) != 32)
			return -EIO;
		return 0;
	}
	FILE *f = fopen(s->o.keys, "r");
	char line[256];
	int have = 0, lineno = 0;
	if (!f) {
		fprintf(stderr, "v2xsim: %s: %s\n", s->o.keys, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (strncmp(line, "v2v_key=", 8) == 0 && hexkey(line + 8, s->v2v_key) == 0)
			have |= 1;
		else if (strncmp(line, "v2g_key=", 8) == 0 && hexkey(line + 8, s->v2g_key) == 0)
			have |= 2;
		else {
			fprintf(stderr, "v2xsim: %s:%d: expected v2v_key=<64 hex> or v2g_key=<64 hex>\n", s->o.keys, lineno);
			fclose(f);
			return -EINVAL;
		}
	}
	fclose(f);
	if (have != 3) {
		fprintf(stderr, "v2xsim: %s: needs both v2v_key and v2g_key\n", s->o.keys);
		return -EINVAL;
	}
	return 0;
}

static int nvs_str(struct v2x_hal *h, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int nvs_str(struct v2x_hal *h, const char *k, const char *fmt, ...)
{
	char v[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return hal_nvs_set(h, k, v, strlen(v));
}

static int make_board(struct sim *s, int k, size_t can_queue)
{
	struct linux_hal_conf c = {.name = app_names[k], .clock = &s->clk, .stop = &s->stop_apps,
				   .can_queue = can_queue, .nvs_path = s->nvs[k]};
	c.mac[0] = 0x02; /* locally administered */
	c.mac[1] = 0x58;
	c.mac[2] = 0x53;
	c.mac[5] = (uint8_t)(0x10 + k);
	snprintf(s->nvs[k], sizeof(s->nvs[k]), "%s/%s.nvs", s->state_dir, app_names[k]);
	int rc = linux_hal_create(&s->app[k].h, &c);
	if (rc < 0)
		fprintf(stderr, "v2xsim: %s: cannot create the board: %s\n", app_names[k], strerror(-rc));
	return rc;
}

static int attach_host(struct sim *s, int k, const char *pty)
{
	struct app *a = &s->app[k];
	int rc;

	a->host.fd = -1;
	if (pty) {
		rc = linux_hal_uart_pty(a->h, HAL_UART_HOST, pty, NULL, 0);
		if (rc < 0)
			fprintf(stderr, "v2xsim: %s: cannot expose a pty at %s: %s\n", app_names[k], pty, strerror(-rc));
		return rc;
	}
	rc = linux_hal_uart_pair(a->h, HAL_UART_HOST, &a->host.fd);
	if (rc == 0)
		fcntl(a->host.fd, F_SETFL, fcntl(a->host.fd, F_GETFL) | O_NONBLOCK);
	return rc;
}

static int setup(struct sim *s)
{
	struct opts *o = &s->o;
	int rc;

	if (o->state_dir) {
		if (strlen(o->state_dir) >= sizeof(s->state_dir) - 32)
			return -ENAMETOOLONG;
		strcpy(s->state_dir, o->state_dir);
		if (mkdir(s->state_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "v2xsim: %s: %s\n", s->state_dir, strerror(errno));
			return -errno;
		}
	} else {
		strcpy(s->state_dir, "/tmp/v2xsim-XXXXXX");
		if (!mkdtemp(s->state_dir))
			return -errno;
		s->own_state_dir = 1;
	}
	rc = load_keys(s);
	if (rc < 0)
		return rc;
	for (int k = 0; k < APP__COUNT; k++) {
		s->app[k].on = o->apps[k];
		s->app[k].host.fd = -1;
	}
	s->gps_fd = -1;
	/* bridge */
	if (s->app[APP_BRIDGE].on) {
		struct v2x_hal *h;
		if ((rc = make_board(s, APP_BRIDGE, o->can_queue)) < 0 || (rc = attach_host(s, APP_BRIDGE, o->can_pty)) < 0)
			return rc;
		h = s->app[APP_BRIDGE].h;
		if ((rc = linux_hal_uart_pair(h, HAL_UART_GPS, &s->gps_fd)) < 0)
			return rc;
		nvs_str(h, "legacy", "%d", o->legacy);
		nvs_str(h, "baud", "%u", o->baud ? o->baud : o->legacy ? 115200u : 921600u);
		nvs_str(h, "batch", "%d", !o->no_batch);
		nvs_str(h, "batch_us", "%u", o->batch_us);
		if (o->can_filter) {
			struct hal_can_filter f[HAL_CAN_MAX_FILTERS];
			if (bridge_parse_filters(o->can_filter, f, HAL_CAN_MAX_FILTERS) < 0) {
				fprintf(stderr, "v2xsim: --can-filter '%s': expected hex ID:MASK,...\n", o->can_filter);
				return -EINVAL;
			}
			nvs_str(h, "can_filter", "%s", o->can_filter);
		}
	}
	/* hubs */
	for (int k = APP_HUB; k <= APP_VEHICLE2; k++) {
		if (!s->app[k].on)
			continue;
		if ((rc = make_board(s, k, 0)) < 0 || (rc = attach_host(s, k, k == APP_HUB ? o->hub_pty : NULL)) < 0)
			return rc;
		struct v2x_hal *h = s->app[k].h;
		nvs_str(h, "legacy", "%d", o->legacy);
		hal_nvs_set(h, "v2v_key", s->v2v_key, 32);
		hal_nvs_set(h, "v2g_key", k == APP_HUB ? s->v2g_key : s->v2g_key_other, 32);
		if ((rc = linux_hal_radio_open(h, (uint16_t)o->radio_port, o->range_m)) < 0) {
			fprintf(stderr, "v2xsim: %s: radio: %s\n", app_names[k], strerror(-rc));
			return rc;
		}
	}
	/* slots */
	for (int k = APP_SLOT1; k <= APP_SLOT2; k++) {
		char pts[128];
		if (!s->app[k].on)
			continue;
		if ((rc = make_board(s, k, 0)) < 0 ||
		    (rc = attach_host(s, k, k == APP_SLOT1 ? o->slot_pty : o->slot2_pty)) < 0)
			return rc;
		struct v2x_hal *h = s->app[k].h;
		if ((rc = linux_hal_uart_pty(h, HAL_UART_METER, NULL, pts, sizeof(pts))) < 0)
			return rc;
		rc = pzem_sim_start(&s->meter[k - APP_SLOT1], pts, 1);
		if (rc < 0) {
			fprintf(stderr, "v2xsim: %s: libmodbus meter on %s: %s\n", app_names[k], pts, strerror(-rc));
			return rc;
		}
		nvs_str(h, "slot", "%d", k == APP_SLOT1 ? 1 : 2);
		nvs_str(h, "legacy", "%d", o->legacy);
		nvs_str(h, "lat", "%.7f", s->st_lat);
		nvs_str(h, "lon", "%.7f", s->st_lon);
		if (k == APP_SLOT1) {
			hal_nvs_set(h, "v2g_key", s->v2g_key, 32);
			if ((rc = linux_hal_radio_open(h, (uint16_t)o->radio_port, o->range_m)) < 0)
				return rc;
		}
	}
	return 0;
}

/* --- apps ------------------------------------------------------------------------------------------------------- */

struct app_arg {
	struct sim *s;
	int k;
};

static void *run_app(void *arg)
{
	struct app_arg *aa = arg;
	struct app *a = &aa->s->app[aa->k];

	switch (aa->k) {
	case APP_BRIDGE:
		a->rc = bridge_run(a->h, &a->st.bridge);
		break;
	case APP_HUB:
	case APP_VEHICLE2:
		a->rc = hub_run(a->h, &a->st.hub);
		break;
	default:
		a->rc = slot_run(a->h, &a->st.slot);
		break;
	}
	return NULL;
}

/* --- the world ----------------------------------------------------------------------------------------------------- */

/* Move the vehicle to distance d along the route. */
static void route_place(struct sim *s, double d)
{
	if (s->n_wp == 0)
		return;
	s->lat = s->wp[0][0];
	s->lon = s->wp[0][1];
	for (size_t i = 1; i < s->n_wp; i++) {
		double seg = linux_hal_distance_m(s->wp[i - 1][0], s->wp[i - 1][1], s->wp[i][0], s->wp[i][1]);
		double dy = s->wp[i][0] - s->wp[i - 1][0], dx = (s->wp[i][1] - s->wp[i - 1][1]) * cos(s->wp[i][0] * M_PI / 180);
		s->course_deg = fmod(atan2(dx, dy) * 180.0 / M_PI + 360.0, 360.0);
		if (d <= seg || i == s->n_wp - 1) {
			double f = seg > 0 ? fmin(d / seg, 1.0) : 1.0;
			s->lat = s->wp[i - 1][0] + f * (s->wp[i][0] - s->wp[i - 1][0]);
			s->lon = s->wp[i - 1][1] + f * (s->wp[i][1] - s->wp[i - 1][1]);
			return;
		}
		d -= seg;
	}
}

static int nmea_coord(char *b, size_t n, double deg, int lat)
{
	double a = fabs(deg);
	int d = (int)a;
	double min = (a - d) * 60.0;
	return lat ? snprintf(b, n, "%02d%07.4f,%c", d, min, deg < 0 ? 'S' : 'N')
		   : snprintf(b, n, "%03d%07.4f,%c", d, min, deg < 0 ? 'W' : 'E');
}

/* One GGA and one RMC for the vehicle's position, time = the wall clock at start + board time. */
static void gps_write(struct sim *s, uint64_t now_us)
{
	char lat[32], lon[32], line[160];
	static time_t t0; /* the wall clock when the first sentence is made */
	time_t t;
	struct tm tm;

	if (!t0)
		t0 = time(NULL);
	t = t0 + (time_t)(now_us / 1000000u);
	gmtime_r(&t, &tm);
	nmea_coord(lat, sizeof(lat), s->lat, 1);
	nmea_coord(lon, sizeof(lon), s->lon, 0);
	int n = snprintf(line, sizeof(line), "$GPGGA,%02d%02d%02d.00,%s,%s,1,09,0.9,5.0,M,-29.0,M,,", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, lat, lon);
	n = fw_nmea_finish(line, (size_t)n, sizeof(line));
	if (n > 0 && write(s->gps_fd, line, (size_t)n) == n)
		s->nmea_written++;
	n = snprintf(line, sizeof(line), "$GPRMC,%02d%02d%02d.00,A,%s,%s,%.2f,%.1f,%02d%02d%02d,,,A", tm.tm_hour,
		     tm.tm_min, tm.tm_sec, lat, lon, s->m.speed_kmh / 1.852, s->course_deg, tm.tm_mday, tm.tm_mon + 1,
		     tm.tm_year % 100);
	n = fw_nmea_finish(line, (size_t)n, sizeof(line));
	if (n > 0 && write(s->gps_fd, line, (size_t)n) == n)
		s->nmea_written++;
}

/* The vehicle computer's stand-in on an internal hub link: the Item every second, commands. */
static void host_send(struct sim *s, struct app *a, uint8_t type, const void *p, size_t n)
{
	uint8_t wire[V2X_WIRE_MAX];
	int w = v2x_frame_encode(type, ++s->cmd_seq, (uint32_t)linux_clock_us(&s->clk), p, n, wire, sizeof(wire));
	if (w > 0 && write(a->host.fd, wire, (size_t)w) != w)
		a->host.bad++;
}

static void item_send(struct sim *s, struct app *a, const struct model *m, double lat, double lon, int ready)
{
	struct fw_item it;
	uint8_t b[2 + FW_ITEM_LEN] = {0xAA, 0x55};

	memset(&it, 0, sizeof(it));
	it.soc = (uint16_t)lround(m->soc_pct);
	it.battery_voltage = (float)m->pack_v;
	it.battery_current = (float)m->current_a;
	it.available_energy = (float)(m->soc_pct / 100.0 * m->capacity_kwh);
	it.charging_status = (uint8_t)m->charging;
	it.speed_kmh = (float)m->speed_kmh;
	it.acceleration = (float)m->accel;
	memcpy(it.gear, m->gear > 0 ? "Dri" : m->gear < 0 ? "Rev" : "Neu", 4);
	it.brake_status = (uint8_t)m->brake;
	it.gps_latitude = (float)lat;
	it.gps_longitude = (float)lon;
	it.gps_valid = 1;
	it.is_charging_detected = (uint8_t)m->charging;
	it.desired_soc = (float)(s->stop_at_soc > 0 ? s->stop_at_soc : 100.0);
	it.ready_to_charge = (uint8_t)ready;
	it.timestamp = (uint32_t)(linux_clock_us(&s->clk) / 1000);
	fw_item_pack(&it, b + 2);
	if (s->o.legacy) {
		if (write(a->host.fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			a->host.bad++;
	} else {
		host_send(s, a, V2X_T_V2X_ITEM, b + 2, FW_ITEM_LEN);
	}
}

/* Read what an internal host link carries; count frames by type (v2) or lines / AA 55 frames (legacy). */
static void peer_drain(struct peer *p, int legacy)
{
	for (;;) {
		ssize_t r = read(p->fd, p->buf + p->n, sizeof(p->buf) - p->n);
		if (r <= 0)
			return;
		p->bytes += (uint64_t)r;
		p->n += (size_t)r;
		if (legacy) {
			for (size_t i = 0; i < p->n; i++)
				p->lines += p->buf[i] == '\n' || (i + 1 < p->n && p->buf[i] == 0xAA && p->buf[i + 1] == 0x55);
			p->n = 0;
			continue;
		}
		uint8_t *z;
		while ((z = memchr(p->buf, 0, p->n)) != NULL) {
			size_t ul = (size_t)(z - p->buf);
			struct v2x_frame f;
			if (ul && v2x_frame_decode(p->buf, ul, &f) == 0) {
				p->frames++;
				p->by_type[f.type]++;
				if (f.type == V2X_T_ACK && f.len == V2X_ACK_LEN) {
					p->acks++;
					p->last_ack_result = f.payload[5];
				}
			} else if (ul) {
				p->bad++;
			}
			memmove(p->buf, z + 1, p->n - ul - 1);
			p->n -= ul + 1;
		}
		if (p->n == sizeof(p->buf))
			p->n = 0, p->bad++;
	}
}

static void apply_event(struct sim *s, const struct sc_event *e, uint64_t now_us)
{
	struct model *m = &s->m;

	switch (e->cmd) {
	case SC_SOC: m->soc_pct = e->a; break;
	case SC_WAYPOINT: break; /* read at start */
	case SC_STATION: break;
	case SC_VEHICLE2: break;
	case SC_KEY: m->key_on = e->a > 0; break;
	case SC_DRIVE: m->gear = 1; m->target_kmh = e->a; m->key_on = 1; break;
	case SC_REVERSE: m->gear = -1; m->target_kmh = e->a; m->key_on = 1; break;
	case SC_STOP: m->target_kmh = 0; break;
	case SC_PLUG:
		m->plugged = 1;
		s->session_ac_start_wh = m->ac_wh;
		s->session_ac_open = 1;
		s->soc_start = m->soc_pct;
		break;
	case SC_UNPLUG:
		m->plugged = 0;
		if (s->session_ac_open) {
			s->session_ac_end_wh = m->ac_wh;
			s->session_ac_open = 0;
			s->soc_end = m->soc_pct;
		}
		break;
	case SC_STOP_CHARGING: s->stop_requested = 1; break;
	case SC_STOP_AT_SOC: s->stop_at_soc = e->a; break;
	case SC_FAULT_METER_SILENT:
	case SC_FAULT_METER_CRC:
	case SC_FAULT_METER_EXC:
		if (s->meter[0])
			pzem_sim_fault(s->meter[0], e->cmd == SC_FAULT_METER_SILENT ? PZEM_SIM_SILENT
						 : e->cmd == SC_FAULT_METER_CRC ? PZEM_SIM_BAD_CRC : PZEM_SIM_EXCEPTION,
				       (unsigned)e->a);
		break;
	case SC_FAULT_CAN_SILENT: s->can_silent_until_us = now_us + (uint64_t)(e->a * 1e6); break;
	case SC_END: s->end_us = now_us; break;
	}
}

struct due {
	uint64_t t_us;
	struct v2x_can c;
	int filler;
};

static int due_cmp(const void *a, const void *b)
{
	const struct due *x = a, *y = b;
	return x->t_us < y->t_us ? -1 : x->t_us > y->t_us;
}

/* The candump source: the next frame and its time relative to the log's first line. */
struct cd_src {
	FILE *f;
	int64_t first_ns;
	int have_first, have_next, done;
	uint64_t next_us;
	struct v2x_can next;
	uint64_t lines, bad;
};

static void cd_advance(struct cd_src *c)
{
	char line[256];
	struct can_frame_data fr;
	int64_t ns;

	c->have_next = 0;
	while (fgets(line, sizeof(line), c->f)) {
		size_t n = strcspn(line, "\r\n");
		c->lines++;
		if (n == 0 || line[0] != '(')
			continue;
		if (candump_parse(line, n, &fr, &ns) < 0) {
			c->bad++;
			continue;
		}
		if (!c->have_first) {
			c->first_ns = ns;
			c->have_first = 1;
		}
		c->next.id = fr.id;
		c->next.dlc = fr.dlc;
		memcpy(c->next.data, fr.data, 8);
		c->next_us = ns > c->first_ns ? (uint64_t)(ns - c->first_ns) / 1000u : 0;
		c->have_next = 1;
		return;
	}
	c->done = 1;
}

static void push_sorted(struct sim *s, struct due *d, size_t n, uint32_t *last_t)
{
	qsort(d, n, sizeof(*d), due_cmp);
	for (size_t i = 0; i < n; i++) {
		uint32_t t = (uint32_t)d[i].t_us;
		if ((int32_t)(t - *last_t) < 0)
			t = *last_t; /* the bus serialises frames: never earlier than the previous one */
		*last_t = t;
		int rc = linux_hal_can_push(s->app[APP_BRIDGE].h, &d[i].c, t);
		if (d[i].filler)
			s->can_filler++;
		else
			s->can_model++;
		if (rc == 1)
			s->can_pushed++;
		else if (rc == -ENOSPC)
			s->can_overrun_push++;
		else
			s->can_refused++;
	}
}

static int sim_loop(struct sim *s)
{
	static struct due due[20000];
	uint64_t next_due[32], filler_next = 0, last_us = 0, t_gps = 0, t_item = 0, filler_n = 0;
	uint32_t last_t = 0;
	size_t ev = 0;
	double filler_rate = 0;
	struct cd_src cd = {0};
	struct model m2;
	uint64_t t_progress = 0;

	if (s->o.candump) {
		cd.f = fopen(s->o.candump, "r");
		if (!cd.f) {
			fprintf(stderr, "v2xsim: %s: %s\n", s->o.candump, strerror(errno));
			return -errno;
		}
		cd_advance(&cd);
	}
	model_init(&m2, 81.0);
	m2.key_on = 0;
	for (size_t i = 0; i < model_n_ids; i++)
		next_due[i] = (uint64_t)(i * 97u); /* spread the groups a little, as ECUs do */
	if (s->o.rate) {
		double model_rate = s->o.candump ? 0 : 0;
		for (size_t i = 0; i < model_n_ids && !s->o.candump; i++)
			model_rate += 1000.0 / model_ids[i].period_ms;
		filler_rate = s->o.rate > model_rate ? s->o.rate - model_rate : 0;
	}
	s->meter_base_wh = 152340.0; /* the meter's counter before this run */
	while (!sim_signal) {
		uint64_t now = linux_clock_us(&s->clk);
		double dt = (double)(now - last_us) / 1e6;
		last_us = now;

		while (ev < s->sc.n && s->sc.ev[ev].t_s * 1e6 <= (double)now)
			apply_event(s, &s->sc.ev[ev++], now);
		if (s->end_us || (s->o.duration_s > 0 && (double)now >= s->o.duration_s * 1e6))
			break;

		/* slot 1 supplies the car when its relay is closed */
		s->m.supply_on = s->app[APP_SLOT1].on ? linux_hal_relay_closed(s->app[APP_SLOT1].h) : 1;
		model_step(&s->m, dt);
		model_step(&m2, dt);
		route_place(s, s->m.odo_km * 1000.0 - 1234560.0);
		if (s->stop_at_soc > 0 && s->m.charging && s->m.soc_pct >= s->stop_at_soc && !s->stop_requested)
			s->stop_requested = 1;
		if (s->stop_requested == 1 && s->app[APP_HUB].on && s->app[APP_HUB].host.fd >= 0) {
			uint8_t cmd = HUB_CMD_STOP_CHARGING;
			host_send(s, &s->app[APP_HUB], V2X_T_CMD, &cmd, 1);
			s->stop_requested = 2;
		}
		if (!s->m.charging && s->session_ac_open && s->stop_requested == 2 && s->soc_end == 0)
			s->soc_end = s->m.soc_pct;

		/* positions for the radio */
		if (s->app[APP_HUB].on)
			linux_hal_set_position(s->app[APP_HUB].h, s->lat, s->lon);
		if (s->app[APP_VEHICLE2].on)
			linux_hal_set_position(s->app[APP_VEHICLE2].h, s->v2_lat, s->v2_lon);
		for (int k = APP_SLOT1; k <= APP_SLOT2; k++)
			if (s->app[k].on)
				linux_hal_set_position(s->app[k].h, s->st_lat, s->st_lon);

		/* meters: slot 1 meters the car, slot 2 is idle */
		for (int k = 0; k < 2; k++) {
			if (!s->meter[k])
				continue;
			double p = k == 0 ? s->m.ac_w : 0.0, pf = p > 0 ? 0.98 : 0.0, v = 229.8 + 0.4 * sin(s->m.t_s / 7.0);
			struct pzem_sim_values mv = {.voltage_v = v, .current_a = p > 0 ? p / (v * pf) : 0.0, .power_w = p,
						     .energy_wh = s->meter_base_wh + (k == 0 ? s->m.ac_wh : 0.0),
						     .freq_hz = 50.0, .pf = pf};
			pzem_sim_set(s->meter[k], &mv);
		}

		/* the bus */
		if (s->app[APP_BRIDGE].on) {
			size_t nd = 0;
			int silent = now < s->can_silent_until_us;
			if (!s->o.candump) {
				for (size_t i = 0; i < model_n_ids; i++) {
					while (next_due[i] <= now && nd < sizeof(due) / sizeof(due[0])) {
						due[nd].t_us = next_due[i];
						due[nd].filler = 0;
						model_frame(&s->m, model_ids[i].id, &due[nd].c);
						next_due[i] += model_ids[i].period_ms * 1000u;
						if (!silent)
							nd++;
					}
				}
			} else {
				while (cd.have_next && cd.next_us <= now && nd < sizeof(due) / sizeof(due[0])) {
					due[nd].t_us = cd.next_us;
					due[nd].c = cd.next;
					due[nd].filler = 0;
					if (!silent)
						nd++;
					cd_advance(&cd);
				}
			}
			while (filler_rate > 0 && filler_next <= now && nd < sizeof(due) / sizeof(due[0])) {
				due[nd].t_us = filler_next;
				due[nd].filler = 1;
				memset(&due[nd].c, 0, sizeof(due[nd].c));
				due[nd].c.id = 0x700 + (uint32_t)(filler_n & 0xF);
				due[nd].c.dlc = 8;
				memcpy(due[nd].c.data, &filler_n, 8);
				filler_n++;
				filler_next = (uint64_t)((double)filler_n * 1e6 / filler_rate);
				if (!silent)
					nd++;
			}
			push_sorted(s, due, nd, &last_t);
			if (s->gps_fd >= 0 && now - t_gps >= 1000000) {
				t_gps = now;
				gps_write(s, now);
			}
		}
		/* the computers' stand-ins on internal hub links */
		if (now - t_item >= 1000000) {
			t_item = now;
			if (s->app[APP_HUB].on && s->app[APP_HUB].host.fd >= 0)
				item_send(s, &s->app[APP_HUB], &s->m, s->lat, s->lon, s->m.plugged && s->stop_requested == 0);
			if (s->app[APP_VEHICLE2].on && s->app[APP_VEHICLE2].host.fd >= 0)
				item_send(s, &s->app[APP_VEHICLE2], &m2, s->v2_lat, s->v2_lon, 0);
		}
		for (int k = 0; k < APP__COUNT; k++)
			if (s->app[k].on && s->app[k].host.fd >= 0)
				peer_drain(&s->app[k].host, s->o.legacy && k != APP_BRIDGE ? 1 : s->o.legacy);
		if (!s->o.quiet && now - t_progress >= 10000000) {
			t_progress = now;
			fprintf(stderr, "v2xsim: t=%.0f s soc=%.2f %% speed=%.1f km/h plugged=%d charging=%d ac=%.0f W "
					"can=%llu\n",
				(double)now / 1e6, s->m.soc_pct, s->m.speed_kmh, s->m.plugged, s->m.charging, s->m.ac_w,
				(unsigned long long)(s->can_model + s->can_filler));
		}
		usleep(1000);
	}
	if (cd.f)
		fclose(cd.f);
	return 0;
}

/* --- summary ------------------------------------------------------------------------------------------------------ */

static void sim_summary(struct sim *s, FILE *f)
{
	uint64_t now = linux_clock_us(&s->clk);
	double real_s = (double)now / 1e6 / s->o.speed;

	fprintf(f, "v2xsim summary\n");
	fprintf(f, "sim_seconds=%.3f real_seconds=%.3f speed=%g\n", (double)now / 1e6, real_s, s->o.speed);
	fprintf(f, "can_model_frames=%llu can_filler_frames=%llu can_pushed=%llu can_queue_overruns=%llu "
		   "can_filtered=%llu bus_rate_fps=%.1f\n",
		(unsigned long long)s->can_model, (unsigned long long)s->can_filler, (unsigned long long)s->can_pushed,
		(unsigned long long)s->can_overrun_push, (unsigned long long)s->can_refused,
		now ? (double)(s->can_model + s->can_filler) / ((double)now / 1e6) : 0.0);
	if (s->app[APP_BRIDGE].on) {
		const struct bridge_stats *b = &s->app[APP_BRIDGE].st.bridge;
		fprintf(f, "bridge can_rx=%llu can_sent=%llu can_lost_tx=%llu frames_can=%u frames_can_batch=%u "
			   "frames_nmea=%u frames_status=%u last_seq=%u seq_frames=%u legacy_lines=%llu tx_dropped=%u "
			   "overruns=%u nmea_bad=%llu config_errors=%u mode=%s\n",
			(unsigned long long)b->can_rx, (unsigned long long)b->can_sent, (unsigned long long)b->can_lost_tx,
			b->sent_by_type[V2X_T_CAN], b->sent_by_type[V2X_T_CAN_BATCH], b->sent_by_type[V2X_T_NMEA],
			b->sent_by_type[V2X_T_STATUS], b->last_seq,
			b->sent_by_type[V2X_T_CAN] + b->sent_by_type[V2X_T_CAN_BATCH] + b->sent_by_type[V2X_T_NMEA] +
				b->sent_by_type[V2X_T_STATUS],
			(unsigned long long)b->legacy_lines, b->tx_dropped, b->can_overruns,
			(unsigned long long)b->nmea_bad, b->config_errors,
			s->o.legacy ? "legacy" : s->o.no_batch ? "v2-single" : "v2-batch");
	}
	for (int k = APP_HUB; k <= APP_VEHICLE2; k++) {
		if (!s->app[k].on)
			continue;
		const struct hub_stats *h = &s->app[k].st.hub;
		fprintf(f, "%s items_from_host=%u v2v_sent=%u v2g_sent=%u stop_sent=%u forwarded_v2v=%u "
			   "forwarded_station=%u acks_to_host=%u stop_result=%u radio_ok=%u radio_forged=%u "
			   "radio_replayed=%u radio_malformed=%u radio_no_key=%u radio_not_for_us=%u host_rejects=%u\n",
			app_names[k], h->items_from_host, h->v2v_sent, h->v2g_sent, h->stop_sent, h->forwarded_v2v,
			h->forwarded_station, h->acks_to_host, h->stop_result, h->radio[FW_RADIO_OK],
			h->radio[FW_RADIO_FORGED], h->radio[FW_RADIO_REPLAYED], h->radio[FW_RADIO_MALFORMED],
			h->radio[FW_RADIO_NO_KEY], h->radio[FW_RADIO_NOT_FOR_US], h->host_rejects);
	}
	for (int k = APP_SLOT1; k <= APP_SLOT2; k++) {
		if (!s->app[k].on)
			continue;
		const struct slot_stats *t = &s->app[k].st.slot;
		fprintf(f, "%s meter_reads_ok=%u meter_reads_failed=%u meter_timeouts=%u meter_bad_crc=%u "
			   "meter_exceptions=%u reports_sent=%u error_lines=%u sessions=%u stop_requests=%u acks_sent=%u "
			   "station_msgs=%u radio_ok=%u radio_forged=%u radio_replayed=%u relay_closed=%u relay_closes=%u\n",
			app_names[k], t->meter.reads_ok, t->meter.reads_failed, t->meter.timeouts, t->meter.bad_crc,
			t->meter.exceptions, t->reports_sent, t->error_lines, t->sessions_finished, t->stop_requests,
			t->acks_sent, t->station_msgs_sent, t->radio[FW_RADIO_OK], t->radio[FW_RADIO_FORGED],
			t->radio[FW_RADIO_REPLAYED], t->relay_closed, t->relay_closes);
		if (t->sessions_finished)
			fprintf(f, "%s_session id=%u energy_wh=%u cost=%.4f end=%s duration_s=%.1f max_current_a=%.3f\n",
				app_names[k], t->last.id, t->last.energy_wh, t->last.cost, session_end_name(t->last.end),
				(double)(t->last.end_ms - t->last.start_ms) / 1000.0, t->last.max_current_ma / 1000.0);
	}
	double sess = s->session_ac_open ? s->m.ac_wh - s->session_ac_start_wh
					 : s->session_ac_end_wh - s->session_ac_start_wh;
	fprintf(f, "model soc_pct=%.3f odometer_km=%.3f ac_energy_wh=%.2f dc_energy_wh=%.2f drive_energy_wh=%.2f "
		   "session_ac_wh=%.2f session_cost=%.4f soc_start=%.2f soc_end=%.2f\n",
		s->m.soc_pct, s->m.odo_km, s->m.ac_wh, s->m.dc_wh, s->m.drive_wh, sess, sess / 1000.0 * 1.50,
		s->soc_start, s->soc_end ? s->soc_end : s->m.soc_pct);
	fprintf(f, "gps nmea_written=%llu\n", (unsigned long long)s->nmea_written);
	for (int k = 0; k < APP__COUNT; k++) {
		const struct peer *p = &s->app[k].host;
		if (!s->app[k].on || p->fd < 0)
			continue;
		fprintf(f, "%s_host internal bytes=%llu frames=%llu lines=%llu bad=%llu acks=%u last_ack_result=%u\n",
			app_names[k], (unsigned long long)p->bytes, (unsigned long long)p->frames,
			(unsigned long long)p->lines, (unsigned long long)p->bad, p->acks, p->last_ack_result);
	}
	for (int k = 0; k < APP__COUNT; k++) {
		struct linux_hal_counters c;
		if (!s->app[k].on || !s->app[k].h)
			continue;
		linux_hal_get_counters(s->app[k].h, &c);
		if (c.radio_sent || c.radio_received || c.radio_out_of_range)
			fprintf(f, "%s_radio sent=%llu received=%llu out_of_range=%llu bad=%llu\n", app_names[k],
				(unsigned long long)c.radio_sent, (unsigned long long)c.radio_received,
				(unsigned long long)c.radio_out_of_range, (unsigned long long)c.radio_bad);
	}
}

static void cleanup(struct sim *s)
{
	for (int k = 0; k < 2; k++)
		pzem_sim_stop(s->meter[k]);
	for (int k = 0; k < APP__COUNT; k++) {
		if (s->app[k].host.fd >= 0)
			close(s->app[k].host.fd);
		linux_hal_destroy(s->app[k].h);
		if (s->own_state_dir && s->nvs[k][0])
			unlink(s->nvs[k]);
	}
	if (s->gps_fd >= 0)
		close(s->gps_fd);
	if (s->own_state_dir)
		rmdir(s->state_dir);
}

int main(int argc, char **argv)
{
	static struct sim s;
	static struct app_arg args[APP__COUNT];
	char err[256];
	int rc, status = 0;

	if (parse_opts(argc, argv, &s.o) < 0)
		return 2;
	rc = s.o.scenario ? scenario_load(&s.sc, s.o.scenario, err, sizeof(err))
			  : scenario_parse(&s.sc, scenario_builtin, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "v2xsim: scenario %s\n", err);
		return 2;
	}
	model_init(&s.m, 50.0);
	for (size_t i = 0; i < s.sc.n; i++) {
		const struct sc_event *e = &s.sc.ev[i];
		if (e->cmd == SC_WAYPOINT && s.n_wp < 64) {
			s.wp[s.n_wp][0] = e->a;
			s.wp[s.n_wp][1] = e->b;
			s.n_wp++;
		} else if (e->cmd == SC_STATION) {
			s.st_lat = e->a;
			s.st_lon = e->b;
		} else if (e->cmd == SC_VEHICLE2) {
			s.v2_lat = e->a;
			s.v2_lon = e->b;
			s.have_v2 = 1;
		} else if (e->cmd == SC_SOC && e->t_s == 0) {
			s.m.soc_pct = e->a;
		}
	}
	if (!s.have_v2)
		s.o.apps[APP_VEHICLE2] = 0;
	route_place(&s, 0);
	linux_clock_init(&s.clk, s.o.speed);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = setup(&s);
	if (rc < 0) {
		fprintf(stderr, "v2xsim: setup failed: %s\n", strerror(-rc));
		cleanup(&s);
		return 1;
	}
	for (int k = 0; k < APP__COUNT; k++) {
		if (!s.app[k].on)
			continue;
		args[k].s = &s;
		args[k].k = k;
		if (pthread_create(&s.app[k].thread, NULL, run_app, &args[k]) == 0)
			s.app[k].started = 1;
	}
	if (!s.o.quiet) {
		fprintf(stderr, "v2xsim: running");
		if (s.o.can_pty)
			fprintf(stderr, " bridge=%s", s.o.can_pty);
		if (s.o.hub_pty)
			fprintf(stderr, " hub=%s", s.o.hub_pty);
		if (s.o.slot_pty)
			fprintf(stderr, " slot1=%s", s.o.slot_pty);
		if (s.o.slot2_pty)
			fprintf(stderr, " slot2=%s", s.o.slot2_pty);
		fprintf(stderr, " (speed %g, rate %u frames/s, %s)\n", s.o.speed, s.o.rate,
			s.o.legacy ? "legacy" : s.o.no_batch ? "v2 single" : "v2 batched");
	}
	rc = sim_loop(&s);
	if (rc < 0)
		status = 1;
	atomic_store(&s.stop_apps, 1);
	for (int k = 0; k < APP__COUNT; k++) {
		if (!s.app[k].started)
			continue;
		pthread_join(s.app[k].thread, NULL);
		if (s.app[k].rc < 0) {
			fprintf(stderr, "v2xsim: %s: %s\n", app_names[k], strerror(-s.app[k].rc));
			status = 1;
		}
		if (s.app[k].host.fd >= 0)
			peer_drain(&s.app[k].host, s.o.legacy);
	}
	sim_summary(&s, stdout);
	if (s.o.summary) {
		FILE *f = fopen(s.o.summary, "w");
		if (!f || (sim_summary(&s, f), fclose(f) != 0)) {
			fprintf(stderr, "v2xsim: --summary %s: %s\n", s.o.summary, strerror(errno));
			status = 1;
		}
	}
	cleanup(&s);
	return status;
}

/*
 * sim_scenario.c - the scenario timeline parser (sim_scenario.h).
 */
#include "firmware/linux/sim_scenario.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char scenario_builtin[] =
	"# built-in: a Twizy drives 300 m to the station, charges, is stopped at 80 % SOC by its computer, drives away\n"
	"0 soc 76\n"
	"0 waypoint 13.727000 100.523000\n"
	"0 waypoint 13.729700 100.523000\n"
	"0 waypoint 13.729700 100.524500\n"
	"0 station 13.729700 100.523100\n"
	"0 vehicle2 13.729900 100.523300\n"
	"0 key on\n"
	"1 drive 40\n"
	"30 stop\n"
	"34 key off\n"
	"35 plug\n"
	"35 stop_at_soc 80\n"
	"520 unplug\n"
	"522 key on\n"
	"523 drive 35\n"
	"570 end\n";

static int sc__num(const char *tok, double *out)
{
	char *end;

	if (!tok)
		return -1;
	*out = strtod(tok, &end);
	return (end == tok || *end) ? -1 : 0;
}

int scenario_parse(struct scenario *s, const char *text, char *err, size_t err_size)
{
	static const struct {
		const char *name;
		enum sc_cmd cmd;
		int nargs;
	} cmds[] = {
		{"soc", SC_SOC, 1},       {"waypoint", SC_WAYPOINT, 2}, {"station", SC_STATION, 2},
		{"vehicle2", SC_VEHICLE2, 2}, {"key", SC_KEY, 1},   {"drive", SC_DRIVE, 1},
		{"reverse", SC_REVERSE, 1}, {"stop", SC_STOP, 0},     {"plug", SC_PLUG, 0},
		{"unplug", SC_UNPLUG, 0}, {"stop_charging", SC_STOP_CHARGING, 0}, {"stop_at_soc", SC_STOP_AT_SOC, 1},
		{"fault", SC_FAULT_METER_SILENT, 2}, {"end", SC_END, 0},
	};
	char line[256];
	int lineno = 0;
	double last_t = 0;

	s->n = 0;
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		lineno++;
		if (len >= sizeof(line)) {
			snprintf(err, err_size, "line %d: too long", lineno);
			return -EINVAL;
		}
		memcpy(line, text, len);
		line[len] = 0;
		text += len + (eol ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *save = NULL, *tok[5] = {0};
		int nt = 0;
		for (char *t = strtok_r(line, " \t\r", &save); t && nt < 5; t = strtok_r(NULL, " \t\r", &save))
			tok[nt++] = t;
		if (nt == 0)
			continue;
		struct sc_event e = {0};
		if (sc__num(tok[0], &e.t_s) < 0 || e.t_s < 0) {
			snprintf(err, err_size, "line %d: time '%s' is not a number of seconds", lineno, tok[0]);
			return -EINVAL;
		}
		if (e.t_s < last_t) {
			snprintf(err, err_size, "line %d: time %.3f goes backwards", lineno, e.t_s);
			return -EINVAL;
		}
		size_t k;
		for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
			if (tok[1] && strcmp(tok[1], cmds[k].name) == 0)
				break;
		if (k == sizeof(cmds) / sizeof(cmds[0])) {
			snprintf(err, err_size, "line %d: unknown command '%s'", lineno, tok[1] ? tok[1] : "");
			return -EINVAL;
		}
		e.cmd = cmds[k].cmd;
		if (nt != 2 + cmds[k].nargs) {
			snprintf(err, err_size, "line %d: '%s' takes %d argument(s)", lineno, tok[1], cmds[k].nargs);
			return -EINVAL;
		}
		int bad = 0;
		if (e.cmd == SC_KEY) {
			if (strcmp(tok[2], "on") == 0)
				e.a = 1;
			else if (strcmp(tok[2], "off") != 0)
				bad = 1;
		} else if (e.cmd == SC_FAULT_METER_SILENT) {
			if (strcmp(tok[2], "meter_silent") == 0)
				e.cmd = SC_FAULT_METER_SILENT;
			else if (strcmp(tok[2], "meter_crc") == 0)
				e.cmd = SC_FAULT_METER_CRC;
			else if (strcmp(tok[2], "meter_exception") == 0)
				e.cmd = SC_FAULT_METER_EXC;
			else if (strcmp(tok[2], "can_silent") == 0)
				e.cmd = SC_FAULT_CAN_SILENT;
			else
				bad = 1;
			bad |= sc__num(tok[3], &e.a) < 0 || e.a < 0;
		} else {
			if (cmds[k].nargs >= 1)
				bad |= sc__num(tok[2], &e.a) < 0;
			if (cmds[k].nargs >= 2)
				bad |= sc__num(tok[3], &e.b) < 0;
			if (e.cmd == SC_SOC || e.cmd == SC_STOP_AT_SOC)
				bad |= e.a < 0 || e.a > 100;
			if (e.cmd == SC_DRIVE || e.cmd == SC_REVERSE)
				bad |= e.a < 0 || e.a > 120;
			if (e.cmd == SC_WAYPOINT || e.cmd == SC_STATION || e.cmd == SC_VEHICLE2)
				bad |= e.a < -90 || e.a > 90 || e.b < -180 || e.b > 180;
		}
		if (bad) {
			snprintf(err, err_size, "line %d: bad argument for '%s'", lineno, tok[1]);
			return -EINVAL;
		}
		if (s->n == SC_MAX_EVENTS) {
			snprintf(err, err_size, "line %d: more than %d events", lineno, SC_MAX_EVENTS);
			return -EINVAL;
		}
		s->ev[s->n++] = e;
		last_t = e.t_s;
	}
	return 0;
}

int scenario_load(struct scenario *s, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "r");
	static char text[SC_MAX_EVENTS * 80];
	size_t n;

	if (!f) {
		int e = errno;
		snprintf(err, err_size, "%s: %s", path, strerror(e));
		return -e;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	if (!feof(f)) {
		fclose(f);
		snprintf(err, err_size, "%s: too long (over %zu bytes)", path, sizeof(text) - 1);
		return -EFBIG;
	}
	fclose(f);
	text[n] = 0;
	if (memchr(text, 0, n)) {
		snprintf(err, err_size, "%s: holds a NUL byte", path);
		return -EINVAL;
	}
	int rc = scenario_parse(s, text, err, err_size);
	if (rc < 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s: %s", path, err);
		snprintf(err, err_size, "%s", tmp);
	}
	return rc;
}

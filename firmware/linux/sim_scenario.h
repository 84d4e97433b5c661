/*
 * sim_scenario.h - v2xsim scenarios: a text timeline, one command per line, `<time_s> <command> [args]`, '#' comments.
 *
 *   <t> soc <pct>                 vehicle SOC (at 0: the start value)
 *   <t> waypoint <lat> <lon>      append a point to the vehicle's route (it drives along the route, in order)
 *   <t> station <lat> <lon>       the charging station's position (both slots)
 *   <t> vehicle2 <lat> <lon>      a second vehicle parked there (its own hub, V2V only: not paired with the station)
 *   <t> key on|off                ignition
 *   <t> drive <kmh>               gear D, target speed
 *   <t> reverse <kmh>             gear R, target speed
 *   <t> stop                      target 0, then gear N once stopped
 *   <t> plug / unplug             the charging cable (at slot 1)
 *   <t> stop_charging             the vehicle computer asks its hub to stop the session (internal hub link only)
 *   <t> stop_at_soc <pct>         ... or asks once the SOC reaches pct while charging
 *   <t> fault meter_silent|meter_crc|meter_exception <n>   the next n meter answers
 *   <t> fault can_silent <s>      the bus goes quiet for s seconds
 *   <t> end                       the scenario ends (v2xsim stops)
 * Times are simulated seconds, non-decreasing.  A bad line is refused with its line number and reason.
 */
#ifndef V2X_FIRMWARE_LINUX_SIM_SCENARIO_H
#define V2X_FIRMWARE_LINUX_SIM_SCENARIO_H

#include <stddef.h>
#include <stdio.h>

enum sc_cmd {
	SC_SOC, SC_WAYPOINT, SC_STATION, SC_VEHICLE2, SC_KEY, SC_DRIVE, SC_REVERSE, SC_STOP, SC_PLUG, SC_UNPLUG,
	SC_STOP_CHARGING, SC_STOP_AT_SOC, SC_FAULT_METER_SILENT, SC_FAULT_METER_CRC, SC_FAULT_METER_EXC,
	SC_FAULT_CAN_SILENT, SC_END,
};

struct sc_event {
	double t_s;
	enum sc_cmd cmd;
	double a, b;
};

#define SC_MAX_EVENTS 512

struct scenario {
	struct sc_event ev[SC_MAX_EVENTS];
	size_t n;
};

/* Parse text (NUL-terminated).  Returns 0, or -EINVAL with "line N: reason" in err. */
int scenario_parse(struct scenario *s, const char *text, char *err, size_t err_size);
/* Read and parse a file.  Returns 0 or -errno / -EINVAL (err says why). */
int scenario_load(struct scenario *s, const char *path, char *err, size_t err_size);

/* The built-in scenario (drive to the station, plug, charge, stop at the desired SOC, unplug, drive away). */
extern const char scenario_builtin[];

#endif

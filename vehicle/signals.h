/*
 * signals.h - the project's canonical signal vocabulary (../shared/facts/twizy-can.md).
 *
 * The DBC file, `v2xd decode`, the CSV columns this project adds, MQTT keys and the status socket all use these
 * names and units.  The decoder maps DBC signals to this list by name; a user's DBC may carry more signals, which
 * `v2xd decode` prints but the fixed-column outputs (merged CSV) do not.  X-macro: one line per signal, in the
 * order the merged CSV appends them.
 */
#ifndef V2X_VEHICLE_SIGNALS_H
#define V2X_VEHICLE_SIGNALS_H

/* X(enum suffix, canonical name, unit) */
#define CANON_SIGNALS(X)                                                                                           \
	X(CHARGE_POWER_REQ, "charge_power_req", "level")                                                           \
	X(CURRENT, "current", "A")                                                                                 \
	X(BMS_VALID, "bms_valid", "")                                                                              \
	X(SOC, "soc", "%")                                                                                         \
	X(MOTOR_TEMP, "motor_temp", "degC")                                                                        \
	X(MOTOR_RPM, "motor_rpm", "rpm")                                                                           \
	X(BMS_STATE_424, "bms_state_424", "")                                                                      \
	X(MAX_CHARGE_POWER, "max_charge_power", "W")                                                               \
	X(MAX_DRIVE_POWER, "max_drive_power", "W")                                                                 \
	X(SOH, "soh", "%")                                                                                         \
	X(BMS_STATE, "bms_state", "")                                                                              \
	X(ENERGY_AVAIL, "energy_avail", "kWh")                                                                     \
	X(MODULE_TEMP1, "module_temp1", "degC")                                                                    \
	X(MODULE_TEMP2, "module_temp2", "degC")                                                                    \
	X(MODULE_TEMP3, "module_temp3", "degC")                                                                    \
	X(MODULE_TEMP4, "module_temp4", "degC")                                                                    \
	X(MODULE_TEMP5, "module_temp5", "degC")                                                                    \
	X(MODULE_TEMP6, "module_temp6", "degC")                                                                    \
	X(MODULE_TEMP7, "module_temp7", "degC")                                                                    \
	X(MODULE_TEMP8, "module_temp8", "degC")                                                                    \
	X(CELL_V1, "cell_v1", "V")                                                                                 \
	X(CELL_V2, "cell_v2", "V")                                                                                 \
	X(CELL_V3, "cell_v3", "V")                                                                                 \
	X(CELL_V4, "cell_v4", "V")                                                                                 \
	X(CELL_V5, "cell_v5", "V")                                                                                 \
	X(CELL_V6, "cell_v6", "V")                                                                                 \
	X(CELL_V7, "cell_v7", "V")                                                                                 \
	X(CELL_V8, "cell_v8", "V")                                                                                 \
	X(CELL_V9, "cell_v9", "V")                                                                                 \
	X(CELL_V10, "cell_v10", "V")                                                                               \
	X(CELL_V11, "cell_v11", "V")                                                                               \
	X(CELL_V12, "cell_v12", "V")                                                                               \
	X(CELL_V13, "cell_v13", "V")                                                                               \
	X(CELL_V14, "cell_v14", "V")                                                                               \
	X(PACK_VOLTAGE, "pack_voltage", "V")                                                                       \
	X(PLUG, "plug", "")                                                                                        \
	X(CHARGING, "charging", "")                                                                                \
	X(DCDC_CURRENT, "dcdc_current", "A")                                                                       \
	X(CHARGER_TEMP, "charger_temp", "degC")                                                                    \
	X(RANGE, "range", "km")                                                                                    \
	X(SPEED, "speed", "km/h")                                                                                  \
	X(GEAR, "gear", "")                                                                                        \
	X(BRAKE, "brake", "")                                                                                      \
	X(IGNITION, "ignition", "")                                                                                \
	X(THROTTLE, "throttle", "%")                                                                               \
	X(INVERTER_TEMP, "inverter_temp", "degC")                                                                  \
	X(ODOMETER, "odometer", "km")                                                                              \
	X(POWER, "power", "kW")                                                                                    \
	X(BUS_ONLINE, "bus_online", "")                                                                            \
	X(CHARGE_PHASE, "charge_phase", "")

enum canon_sig {
#define CANON_ENUM(e, name, unit) SIG_##e,
	CANON_SIGNALS(CANON_ENUM)
#undef CANON_ENUM
	SIG__COUNT
};

/* charge_phase values (derived signal; printed as text). */
enum charge_phase {
	CHARGE_PHASE_NONE = 0,     /* no charge seen yet */
	CHARGE_PHASE_CHARGING = 1, /* charge_power_req at the highest level seen in this charge */
	CHARGE_PHASE_TOPOFF = 2,   /* request dropped below that level (constant-voltage phase) */
	CHARGE_PHASE_DONE = 3,     /* charging stopped with charge_power_req = 0 */
	CHARGE_PHASE_STOPPED = 4,  /* charging stopped with a non-zero request (interrupted) */
};

/* Returns the canonical name of sig, or NULL when out of range. */
const char *canon_sig_name(enum canon_sig sig);
/* Returns the unit of sig ("" when it has none), or NULL when out of range. */
const char *canon_sig_unit(enum canon_sig sig);
/* Returns the canonical signal called name, or -1. */
int canon_sig_lookup(const char *name);
/* Returns the text of a charge_phase value ("none", "charging", "topoff", "done", "stopped"), or NULL. */
const char *charge_phase_name(int phase);

#endif

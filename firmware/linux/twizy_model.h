/*
 * twizy_model.h - the simulated Renault Twizy: a small physical model and the CAN frames of ../shared/facts/twizy-can.md
 * it puts on the bus at their real periods (0x155 every 10 ms; 0x196 0x19F 0x424 0x425 0x597 0x599 0x59B 0x59E 0x55F
 * every 100 ms; 0x554 0x556 0x557 0x55E 0x5D7 0x628 every second: 196 frames/s).
 *
 * Physics (SI, one step of dt seconds): speed follows the target with at most +1.5 / -3 m/s^2; traction power =
 * v (rolling 0.015 m g + air 0.5 rho CdA v^2 + m a), drawn at 85 % efficiency, regenerated at 60 %, plus 150 W of
 * auxiliaries while the key is on; charging (plugged, supply on, SOC below 100 %) draws charger_ac_w from the mains at
 * charger_eff into the pack at the BMS's request level: 7 (full power) up to 90 % SOC, then stepping down one level
 * per 10/7 % (the constant-voltage phase), 0 when full.  Pack current = net DC power / pack voltage, positive into
 * the battery; pack voltage = open-circuit 48 V + 10 V x SOC, plus 0.05 ohm x current; SOC integrates the pack
 * power over capacity_kwh.  The odometer integrates speed.  AC energy drawn from the station is integrated for the
 * simulated power meter (model.ac_wh).  Pure: no clock, thread or I/O.
 */
#ifndef V2X_FIRMWARE_LINUX_TWIZY_MODEL_H
#define V2X_FIRMWARE_LINUX_TWIZY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "v2x_proto.h"

struct model {
	/* parameters */
	double capacity_kwh, charger_ac_w, charger_eff, mass_kg;
	/* inputs (scenario) */
	double target_kmh;
	int gear;      /* 1 D, -1 R, 0 N */
	int key_on, plugged, supply_on, brake;
	/* state */
	double soc_pct, speed_kmh, accel, odo_km, current_a, pack_v, motor_rpm, range_km, throttle_pct;
	int level;     /* BMS charge power request 0..7 */
	int charging;  /* current flowing into the pack from the charger */
	double ac_w;   /* power drawn from the mains now */
	double ac_wh;  /* AC energy drawn from the mains since start */
	double dc_wh;  /* energy into the pack from the charger since start */
	double drive_wh; /* energy out of the pack for traction and auxiliaries */
	double t_s;
};

/* Defaults: 6.1 kWh pack, 2300 W charger at 90 %, 690 kg, SOC soc0. */
void model_init(struct model *m, double soc0);

/* Advance dt seconds. */
void model_step(struct model *m, double dt);

/* The current content of frame id (one of model_ids).  Returns 0 or -ENOENT for an id the model does not send. */
int model_frame(const struct model *m, uint32_t id, struct v2x_can *out);

/* The frames and their periods in milliseconds. */
struct model_id {
	uint32_t id;
	uint32_t period_ms;
};
extern const struct model_id model_ids[];
extern const size_t model_n_ids;

#endif

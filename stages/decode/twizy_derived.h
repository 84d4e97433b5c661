/*
 * twizy_derived.h - signals the decoder computes from other signals rather than reads from one frame
 * (../shared/facts/twizy-can.md, "Derived signals", plus the flags the DBC expresses through helper signals).
 *
 *   pack_voltage (V)  = (pack_v1 + pack_v2) / 2, both valid from the same 0x55F frame (the DBC scales them by 0.1).
 *   gear (-1/0/1)     = from gear_raw (0x59B B0): 0x80 -> 1 (D), 0x08 -> -1 (R), anything else -> 0 (N).
 *   charging (flag)   = charging_bit == 1 and charger_offline == 0 (0x597: (B1 & 0x60) == 0x20), same frame.
 *   power (kW)        = current * pack_voltage / 1000 from the latest valid values; emitted when either is updated
 *                       and both are known.  Positive while charging (current > 0 into the battery).
 *   bus_online (flag) = 1 as soon as any frame arrives, 0 once 10 s pass with no frame; emitted on change only.
 *   charge_phase      = enum charge_phase (signals.h), a state machine over charging and charge_power_req, emitted
 *                       on change only: a charge starts when charging becomes 1; during it the phase is `charging`
 *                       while charge_power_req equals the highest level seen in this charge and `topoff` while it
 *                       is below; when charging becomes 0 the phase is `done` if the latest request is 0, else
 *                       `stopped`.
 *
 * Each output exists only when the DBC does not carry a signal of that name itself and carries its inputs (a direct
 * DBC `pack_voltage`, `charging` or `current` is used as input as it is).  bus_online always exists.
 * Pure logic: the decoder owns one struct twizy_derived and calls it from its own thread; no allocation.  Most
 * frames carry no input and find the bus online: twizy_derived_frame() handles them inline with two stores.
 */
#ifndef V2X_STAGES_DECODE_TWIZY_DERIVED_H
#define V2X_STAGES_DECODE_TWIZY_DERIVED_H

#include <stdbool.h>
#include <stdint.h>


/* Inputs: DBC signals the derivations read, found by name. */
enum twz_in {
	TWZ_IN_PACK_V1,
	TWZ_IN_PACK_V2,
	TWZ_IN_GEAR_RAW,
	TWZ_IN_CHARGING_BIT,
	TWZ_IN_CHARGER_OFFLINE,
	TWZ_IN_CURRENT,
	TWZ_IN_PACK_VOLTAGE,    /* only when the DBC has pack_voltage directly */
	TWZ_IN_CHARGING,        /* only when the DBC has charging directly */
	TWZ_IN_CHARGE_POWER_REQ,
	TWZ_IN__COUNT
};

enum twz_out {
	TWZ_OUT_PACK_VOLTAGE,
	TWZ_OUT_GEAR,
	TWZ_OUT_CHARGING,
	TWZ_OUT_POWER,
	TWZ_OUT_BUS_ONLINE,
	TWZ_OUT_CHARGE_PHASE,
	TWZ_OUT__COUNT
};

#define TWZ_BUS_TIMEOUT_NS (10LL * 1000000000LL)

/* The values of one frame's input signals: in[i] is valid when mask has bit i. */
struct twz_inputs {
	uint32_t mask;
	double in[TWZ_IN__COUNT];
};

/* The derived values one call produced, in the order they were computed (each output at most once). */
struct twz_outputs {
	unsigned n;
	struct {
		uint32_t out;  /* enum twz_out */
		double value;
	} v[TWZ_OUT__COUNT];
};

struct twizy_derived {
	int32_t out_sig[TWZ_OUT__COUNT]; /* decoder signal index of each output, -1 = not produced */
	bool has_in[TWZ_IN__COUNT];      /* the DBC carries this input */
	/* state */
	bool have_current, have_pack_voltage, have_req, have_charging;
	bool charging;
	double current_a, pack_voltage_v, req;
	bool in_charge;
	double max_req;
	int phase;                       /* enum charge_phase */
	int bus_online;                  /* -1 unknown, 0, 1 */
	bool have_time;
	int64_t last_activity_ns;        /* last frame, or the first tick when no frame came yet */
};

/* Returns the name of an input / output signal. */
const char *twizy_derived_input_name(enum twz_in in);
const char *twizy_derived_output_name(enum twz_out out);
/* Returns the unit of an output. */
const char *twizy_derived_output_unit(enum twz_out out);

/* Prepares td.  has(ctx, name) says whether the DBC has a signal called name.  Output o that exists gets signal
   index *next_sig (then incremented).  No allocation. */
void twizy_derived_init(struct twizy_derived *td, bool (*has)(void *ctx, const char *name), void *ctx,
			uint32_t *next_sig);

/* Returns how many values one call of twizy_derived_frame or twizy_derived_tick may produce at most (the outputs
   that exist). */
unsigned twizy_derived_max_outputs(const struct twizy_derived *td);

/* The part of twizy_derived_frame() after the activity time: bus_online and the values derived from in.
   Appends to out (out->n set by the caller). */
void twizy_derived_update(struct twizy_derived *td, const struct twz_inputs *in, struct twz_outputs *out);

/* The first part of twizy_derived_frame(): the bus activity at t_ns.  Returns whether twizy_derived_update() must
   follow (the frame carries inputs, or bus_online changes): most frames need no more. */
static inline bool twizy_derived_activity(struct twizy_derived *td, uint32_t in_mask, int64_t t_ns)
{
	td->have_time = true;
	td->last_activity_ns = t_ns;
	return in_mask != 0 || td->bus_online != 1;
}

/* One frame arrived at t_ns with these valid inputs: appends the derived values it updated to out (the caller sets
   out->n = 0 first). */
static inline void twizy_derived_frame(struct twizy_derived *td, const struct twz_inputs *in, int64_t t_ns,
				       struct twz_outputs *out)
{
	if (twizy_derived_activity(td, in->mask, t_ns))
		twizy_derived_update(td, in, out);
}

/* Time passed with no frame: appends to out bus_online = 0 once TWZ_BUS_TIMEOUT_NS passed since the last frame. */
void twizy_derived_tick(struct twizy_derived *td, int64_t t_ns, struct twz_outputs *out);

#endif

/*
 * twizy_derived.c - pack_voltage, gear, charging, power, bus_online and charge_phase (see twizy_derived.h).
 *
 * The decoder hands over, per frame, the valid values of the input signals it found in that frame; this file keeps
 * the little state the derivations need (latest current and pack voltage, the charge in progress, bus activity).
 */
#include "stages/decode/twizy_derived.h"

#include <string.h>

#include "vehicle/signals.h"

static const char *const twz_in_names[TWZ_IN__COUNT] = {
	[TWZ_IN_PACK_V1] = "pack_v1",
	[TWZ_IN_PACK_V2] = "pack_v2",
	[TWZ_IN_GEAR_RAW] = "gear_raw",
	[TWZ_IN_CHARGING_BIT] = "charging_bit",
	[TWZ_IN_CHARGER_OFFLINE] = "charger_offline",
	[TWZ_IN_CURRENT] = "current",
	[TWZ_IN_PACK_VOLTAGE] = "pack_voltage",
	[TWZ_IN_CHARGING] = "charging",
	[TWZ_IN_CHARGE_POWER_REQ] = "charge_power_req",
};

static const char *const twz_out_names[TWZ_OUT__COUNT] = {
	[TWZ_OUT_PACK_VOLTAGE] = "pack_voltage",
	[TWZ_OUT_GEAR] = "gear",
	[TWZ_OUT_CHARGING] = "charging",
	[TWZ_OUT_POWER] = "power",
	[TWZ_OUT_BUS_ONLINE] = "bus_online",
	[TWZ_OUT_CHARGE_PHASE] = "charge_phase",
};

const char *twizy_derived_input_name(enum twz_in in)
{
	return (unsigned)in < TWZ_IN__COUNT ? twz_in_names[in] : NULL;
}

const char *twizy_derived_output_name(enum twz_out out)
{
	return (unsigned)out < TWZ_OUT__COUNT ? twz_out_names[out] : NULL;
}

const char *twizy_derived_output_unit(enum twz_out out)
{
	int canon = out < TWZ_OUT__COUNT ? canon_sig_lookup(twz_out_names[out]) : -1;
	return canon >= 0 ? canon_sig_unit((enum canon_sig)canon) : "";
}

void twizy_derived_init(struct twizy_derived *td, bool (*has)(void *ctx, const char *name), void *ctx,
			uint32_t *next_sig)
{
	memset(td, 0, sizeof *td);
	td->bus_online = -1;
	td->phase = CHARGE_PHASE_NONE;
	for (int i = 0; i < TWZ_IN__COUNT; i++)
		td->has_in[i] = has(ctx, twz_in_names[i]);

	bool want[TWZ_OUT__COUNT];
	want[TWZ_OUT_PACK_VOLTAGE] = td->has_in[TWZ_IN_PACK_V1] && td->has_in[TWZ_IN_PACK_V2];
	want[TWZ_OUT_GEAR] = td->has_in[TWZ_IN_GEAR_RAW];
	want[TWZ_OUT_CHARGING] = td->has_in[TWZ_IN_CHARGING_BIT] && td->has_in[TWZ_IN_CHARGER_OFFLINE];
	bool pack = td->has_in[TWZ_IN_PACK_VOLTAGE] || want[TWZ_OUT_PACK_VOLTAGE];
	bool charging = td->has_in[TWZ_IN_CHARGING] || want[TWZ_OUT_CHARGING];
	want[TWZ_OUT_POWER] = td->has_in[TWZ_IN_CURRENT] && pack;
	want[TWZ_OUT_BUS_ONLINE] = true;
	want[TWZ_OUT_CHARGE_PHASE] = charging && td->has_in[TWZ_IN_CHARGE_POWER_REQ];
	for (int o = 0; o < TWZ_OUT__COUNT; o++) {
		/* a DBC signal of the same name is used as it is (pack_voltage, charging) or wins (the others) */
		if (want[o] && !has(ctx, twz_out_names[o]))
			td->out_sig[o] = (int32_t)(*next_sig)++;
		else
			td->out_sig[o] = -1;
	}
}

unsigned twizy_derived_max_outputs(const struct twizy_derived *td)
{
	unsigned n = 0;
	for (int o = 0; o < TWZ_OUT__COUNT; o++)
		n += td->out_sig[o] >= 0;
	return n;
}

static void twz__emit(const struct twizy_derived *td, enum twz_out o, double value, struct twz_outputs *out)
{
	if (td->out_sig[o] < 0 || out->n >= TWZ_OUT__COUNT)
		return;
	out->v[out->n].out = o;
	out->v[out->n].value = value;
	out->n++;
}

static bool twz__has(const struct twz_inputs *in, enum twz_in i)
{
	return (in->mask >> i) & 1u;
}

/* The charge_phase state machine, run when charging or charge_power_req was updated. */
static void twz__charge_phase(struct twizy_derived *td, struct twz_outputs *out)
{
	int phase = td->phase;
	if (td->have_charging && td->charging) {
		if (!td->in_charge) {
			td->in_charge = true;
			td->max_req = td->have_req ? td->req : 0;
		}
		if (td->have_req && td->req > td->max_req)
			td->max_req = td->req;
		phase = (!td->have_req || td->req >= td->max_req) ? CHARGE_PHASE_CHARGING : CHARGE_PHASE_TOPOFF;
	} else if (td->have_charging && td->in_charge) {
		td->in_charge = false;
		phase = (td->have_req && td->req != 0) ? CHARGE_PHASE_STOPPED : CHARGE_PHASE_DONE;
	}
	if (phase != td->phase) {
		td->phase = phase;
		twz__emit(td, TWZ_OUT_CHARGE_PHASE, phase, out);
	}
}

void twizy_derived_update(struct twizy_derived *td, const struct twz_inputs *in, struct twz_outputs *out)
{
	if (td->bus_online != 1) {
		td->bus_online = 1;
		twz__emit(td, TWZ_OUT_BUS_ONLINE, 1, out);
	}
	if (in->mask == 0)
		return;

	bool power_inputs = false, phase_inputs = false;
	if (twz__has(in, TWZ_IN_PACK_V1) && twz__has(in, TWZ_IN_PACK_V2) && td->out_sig[TWZ_OUT_PACK_VOLTAGE] >= 0) {
		td->pack_voltage_v = (in->in[TWZ_IN_PACK_V1] + in->in[TWZ_IN_PACK_V2]) / 2;
		td->have_pack_voltage = power_inputs = true;
		twz__emit(td, TWZ_OUT_PACK_VOLTAGE, td->pack_voltage_v, out);
	}
	if (twz__has(in, TWZ_IN_PACK_VOLTAGE)) {
		td->pack_voltage_v = in->in[TWZ_IN_PACK_VOLTAGE];
		td->have_pack_voltage = power_inputs = true;
	}
	if (twz__has(in, TWZ_IN_CURRENT)) {
		td->current_a = in->in[TWZ_IN_CURRENT];
		td->have_current = power_inputs = true;
	}
	if (twz__has(in, TWZ_IN_GEAR_RAW)) {
		double raw = in->in[TWZ_IN_GEAR_RAW];
		twz__emit(td, TWZ_OUT_GEAR, raw == 0x80 ? 1 : raw == 0x08 ? -1 : 0, out);
	}
	if (twz__has(in, TWZ_IN_CHARGING_BIT) && twz__has(in, TWZ_IN_CHARGER_OFFLINE) &&
	    td->out_sig[TWZ_OUT_CHARGING] >= 0) {
		td->charging = in->in[TWZ_IN_CHARGING_BIT] != 0 && in->in[TWZ_IN_CHARGER_OFFLINE] == 0;
		td->have_charging = phase_inputs = true;
		twz__emit(td, TWZ_OUT_CHARGING, td->charging, out);
	}
	if (twz__has(in, TWZ_IN_CHARGING)) {
		td->charging = in->in[TWZ_IN_CHARGING] != 0;
		td->have_charging = phase_inputs = true;
	}
	if (twz__has(in, TWZ_IN_CHARGE_POWER_REQ)) {
		td->req = in->in[TWZ_IN_CHARGE_POWER_REQ];
		td->have_req = phase_inputs = true;
	}
	if (power_inputs && td->have_current && td->have_pack_voltage)
		twz__emit(td, TWZ_OUT_POWER, td->current_a * td->pack_voltage_v / 1000, out);
	if (phase_inputs && td->out_sig[TWZ_OUT_CHARGE_PHASE] >= 0)
		twz__charge_phase(td, out);
}

void twizy_derived_tick(struct twizy_derived *td, int64_t t_ns, struct twz_outputs *out)
{
	if (!td->have_time) {
		td->have_time = true;
		td->last_activity_ns = t_ns;
		return;
	}
	if (td->bus_online != 0 && t_ns - td->last_activity_ns >= TWZ_BUS_TIMEOUT_NS) {
		td->bus_online = 0;
		twz__emit(td, TWZ_OUT_BUS_ONLINE, 0, out);
	}
}

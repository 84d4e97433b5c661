/*
 * twizy_model.c - the Twizy model and its CAN frames (twizy_model.h).  Encodings follow twizy-can.md byte for byte; the decoder
 * tests check the same table from the other side.
 */
#include "firmware/linux/twizy_model.h"

#include <errno.h>
#include <math.h>
#include <string.h>

const struct model_id model_ids[] = {
	{0x155, 10},  {0x196, 100}, {0x19F, 100}, {0x424, 100}, {0x425, 100},  {0x597, 100},  {0x599, 100},
	{0x59B, 100}, {0x59E, 100}, {0x55F, 100}, {0x554, 1000}, {0x556, 1000}, {0x557, 1000}, {0x55E, 1000},
	{0x5D7, 1000}, {0x628, 1000},
};
const size_t model_n_ids = sizeof(model_ids) / sizeof(model_ids[0]);

void model_init(struct model *m, double soc0)
{
	memset(m, 0, sizeof(*m));
	m->capacity_kwh = 6.1;
	m->charger_ac_w = 2300.0;
	m->charger_eff = 0.90;
	m->mass_kg = 690.0;
	m->soc_pct = soc0;
	m->pack_v = 48.0 + 10.0 * soc0 / 100.0;
	m->range_km = soc0 * 0.8;
	m->odo_km = 1234.56;
}

/* The BMS request for a SOC: 7 up to 90 %, one level less per 10/7 % above, 0 when full. */
static int model__level(double soc)
{
	if (soc >= 99.95)
		return 0;
	if (soc < 90.0)
		return 7;
	int l = 7 - (int)((soc - 90.0) / (10.0 / 7.0)) - 1;
	return l < 1 ? 1 : l;
}

void model_step(struct model *m, double dt)
{
	const double g = 9.81, rho = 1.2, cda = 0.9;
	double v = m->speed_kmh / 3.6, target = m->gear ? m->target_kmh / 3.6 : 0.0;
	double a = (target - v) / (dt > 0 ? dt : 1e-3);

	if (!m->key_on)
		target = 0.0;
	if (a > 1.5)
		a = 1.5;
	if (a < -3.0)
		a = -3.0;
	v += a * dt;
	if (v < 0)
		v = 0;
	m->accel = a;
	m->speed_kmh = v * 3.6;
	m->brake = a < -0.2 || (v == 0 && m->key_on);
	double p_mech = v * (0.015 * m->mass_kg * g + 0.5 * rho * cda * v * v + m->mass_kg * a);
	double p_drive = p_mech > 0 ? p_mech / 0.85 : p_mech * 0.6;
	double p_aux = m->key_on ? 150.0 : 0.0;
	m->throttle_pct = p_mech > 0 ? fmin(100.0, p_mech / 150.0) : 0.0;

	m->level = m->plugged ? model__level(m->soc_pct) : 0;
	m->charging = m->plugged && m->supply_on && m->level > 0;
	double p_dc = m->charging ? m->charger_ac_w * m->charger_eff * m->level / 7.0 : 0.0;
	m->ac_w = m->charging ? p_dc / m->charger_eff : 0.0;

	double p_pack = p_dc - p_drive - p_aux; /* into the pack */
	double ocv = 48.0 + 10.0 * m->soc_pct / 100.0;
	/* I from P = (ocv + R I) I, the positive-ocv root */
	const double r = 0.05;
	double disc = ocv * ocv + 4.0 * r * p_pack;
	m->current_a = disc > 0 ? (-ocv + sqrt(disc)) / (2.0 * r) : -ocv / (2.0 * r);
	m->pack_v = ocv + r * m->current_a;
	m->soc_pct += m->current_a * m->pack_v * dt / 3600.0 / (m->capacity_kwh * 1000.0) * 100.0;
	if (m->soc_pct > 100.0)
		m->soc_pct = 100.0;
	if (m->soc_pct < 0.0)
		m->soc_pct = 0.0;
	m->ac_wh += m->ac_w * dt / 3600.0;
	m->dc_wh += p_dc * dt / 3600.0;
	m->drive_wh += (p_drive + p_aux) * dt / 3600.0;
	m->odo_km += v * dt / 1000.0;
	m->motor_rpm = m->speed_kmh * 155.0 * (m->gear < 0 ? -1.0 : 1.0);
	if (!m->charging)
		m->range_km = m->soc_pct * 0.8; /* the car does not update its range while charging */
	m->t_s += dt;
}

static void model__cells(uint8_t *b, const uint16_t *c, int n)
{
	/* c1 = B0<<4 | B1>>4; c2 = (B1&0xF)<<8 | B2; c3 = B3<<4 | B4>>4; c4 = (B4&0xF)<<8 | B5; c5 = B6<<4 | B7>>4 */
	memset(b, 0, 8);
	b[0] = (uint8_t)(c[0] >> 4);
	b[1] = (uint8_t)((c[0] & 0xF) << 4 | (c[1] >> 8));
	b[2] = (uint8_t)c[1];
	b[3] = (uint8_t)(c[2] >> 4);
	b[4] = (uint8_t)((c[2] & 0xF) << 4 | (n > 3 ? c[3] >> 8 : 0));
	b[5] = n > 3 ? (uint8_t)c[3] : 0;
	if (n > 4) {
		b[6] = (uint8_t)(c[4] >> 4);
		b[7] = (uint8_t)((c[4] & 0xF) << 4);
	}
}

int model_frame(const struct model *m, uint32_t id, struct v2x_can *out)
{
	uint8_t *b = out->data;
	long raw;

	memset(out, 0, sizeof(*out));
	out->id = id;
	out->dlc = 8;
	switch (id) {
	case 0x155:
		b[0] = (uint8_t)m->level;
		raw = lround(m->current_a * 4.0 + 2000.0);
		raw = raw < 1 ? 1 : raw > 0xEFF ? 0xEFF : raw;
		b[1] = (uint8_t)((raw >> 8) & 0x0F);
		b[2] = (uint8_t)raw;
		b[3] = 0x54;
		raw = lround(m->soc_pct * 400.0);
		raw = raw < 1 ? 1 : raw;
		b[4] = (uint8_t)(raw >> 8);
		b[5] = (uint8_t)raw;
		return 0;
	case 0x196:
		b[5] = (uint8_t)(40 + 30 + (int)(m->speed_kmh / 5.0)); /* motor temperature */
		return 0;
	case 0x19F:
		raw = lround(m->motor_rpm / 10.0 + 2000.0);
		b[2] = (uint8_t)(raw >> 4);
		b[3] = (uint8_t)((raw & 0xF) << 4);
		return 0;
	case 0x424:
		b[0] = 0x11;
		b[2] = (uint8_t)lround(m->charger_ac_w * m->charger_eff / 500.0); /* charge limit, W / 500 */
		b[3] = 27;                                                   /* 13,500 W drive limit */
		b[5] = 100;                                                  /* SOH */
		return 0;
	case 0x425:
		b[0] = m->charging ? (m->level < 7 ? 0x2C : 0x0A) : m->speed_kmh > 0.1 || (m->key_on && m->gear) ? 0x2A
				 : m->key_on || m->plugged ? 0x24 : 0x1D;
		b[1] = (uint8_t)lround(m->soc_pct / 100.0 * m->capacity_kwh * 10.0);
		return 0;
	case 0x597:
		b[0] = m->plugged ? 0x20 : 0x00;
		b[1] = (uint8_t)((m->charging ? 0x20 : 0x00) | (m->key_on ? 0x10 : 0x00));
		b[2] = m->key_on || m->charging ? 50 : 0; /* DC-DC 10 A */
		b[7] = 40 + 25;
		return 0;
	case 0x599:
		b[5] = (uint8_t)(m->range_km < 1 ? 1 : m->range_km > 250 ? 250 : lround(m->range_km));
		raw = lround(m->speed_kmh * 100.0);
		b[6] = (uint8_t)(raw >> 8);
		b[7] = (uint8_t)raw;
		return 0;
	case 0x59B:
		b[0] = m->gear > 0 ? 0x80 : m->gear < 0 ? 0x08 : 0x00;
		b[1] = (uint8_t)((m->brake ? 0x01 : 0) | (m->key_on && m->gear ? 0x08 : 0));
		b[3] = (uint8_t)lround(m->throttle_pct * 253.0 / 100.0);
		return 0;
	case 0x59E:
		b[5] = 40 + 28;
		return 0;
	case 0x55F:
		raw = lround(m->pack_v * 10.0);
		b[5] = (uint8_t)(raw >> 4);
		b[6] = (uint8_t)((raw & 0xF) << 4 | ((raw >> 8) & 0xF));
		b[7] = (uint8_t)raw;
		return 0;
	case 0x554:
		for (int i = 0; i < 7; i++)
			b[i] = 40 + 24 + (uint8_t)i % 2;
		return 0;
	case 0x556:
	case 0x557:
	case 0x55E: {
		uint16_t c[5];
		uint16_t cell = (uint16_t)lround(m->pack_v / 14.0 * 200.0);
		for (int i = 0; i < 5; i++)
			c[i] = cell;
		model__cells(b, c, id == 0x55E ? 4 : 5);
		if (id == 0x55E)
			out->dlc = 8;
		return 0;
	}
	case 0x5D7:
		raw = lround(m->odo_km * 100.0) & 0x0FFFFFFF;
		b[2] = (uint8_t)(raw >> 20);
		b[3] = (uint8_t)(raw >> 12);
		b[4] = (uint8_t)(raw >> 4);
		b[5] = (uint8_t)((raw & 0xF) << 4);
		return 0;
	case 0x628:
		return 0;
	default:
		return -ENOENT;
	}
}

/*
 * fw_legacy.c - packing the legacy Item and ESP-NOW bodies byte by byte (fw_legacy.h), so neither the compiler's
 * struct padding nor the host's byte order matters.
 */
#include "firmware/apps/common/fw_legacy.h"
#include "v2x_le.h"

#include <math.h>
#include <string.h>

/* A float field; a NaN or infinity becomes 0 and is counted in *bad. */
static float getf(const uint8_t *p, int *bad)
{
	float f = v2x_le_getf32(p);

	if (!isfinite(f)) {
		(*bad)++;
		return 0.0f;
	}
	return f;
}

void fw_item_pack(const struct fw_item *it, uint8_t o[FW_ITEM_LEN])
{
	memset(o, 0, FW_ITEM_LEN);
	v2x_le_put16(o + 0, it->soc);
	v2x_le_putf32(o + 4, it->battery_voltage);
	v2x_le_putf32(o + 8, it->battery_current);
	v2x_le_putf32(o + 12, it->available_energy);
	o[16] = it->charging_status;
	v2x_le_putf32(o + 20, it->speed_kmh);
	v2x_le_putf32(o + 24, it->acceleration);
	memcpy(o + 28, it->gear, 3);
	o[31] = 0;
	o[32] = it->brake_status;
	v2x_le_putf32(o + 36, it->gps_latitude);
	v2x_le_putf32(o + 40, it->gps_longitude);
	v2x_le_putf32(o + 44, it->gps_altitude);
	o[48] = it->gps_valid;
	o[49] = it->is_charging_detected ? 1 : 0;
	v2x_le_putf32(o + 52, it->desired_soc);
	o[56] = it->ready_to_charge ? 1 : 0;
	memcpy(o + 57, it->mac, 6);
	v2x_le_put32(o + 64, it->timestamp);
	v2x_le_putf32(o + 68, it->evcs_session_cost);
	v2x_le_putf32(o + 72, it->evcs_cost_per_kwh);
	v2x_le_putf32(o + 76, it->evcs_max_power);
	v2x_le_put32(o + 80, it->evcs_session_id);
	o[84] = it->evcs_charging_available ? 1 : 0;
}

int fw_item_unpack(const uint8_t in[FW_ITEM_LEN], struct fw_item *it)
{
	int bad = 0;

	memset(it, 0, sizeof(*it));
	it->soc = v2x_le_get16(in + 0);
	it->battery_voltage = getf(in + 4, &bad);
	it->battery_current = getf(in + 8, &bad);
	it->available_energy = getf(in + 12, &bad);
	it->charging_status = in[16];
	it->speed_kmh = getf(in + 20, &bad);
	it->acceleration = getf(in + 24, &bad);
	memcpy(it->gear, in + 28, 3);
	it->gear[3] = 0;
	it->brake_status = in[32];
	it->gps_latitude = getf(in + 36, &bad);
	it->gps_longitude = getf(in + 40, &bad);
	it->gps_altitude = getf(in + 44, &bad);
	it->gps_valid = in[48];
	it->is_charging_detected = in[49] != 0;
	it->desired_soc = getf(in + 52, &bad);
	it->ready_to_charge = in[56] != 0;
	memcpy(it->mac, in + 57, 6);
	it->timestamp = v2x_le_get32(in + 64);
	it->evcs_session_cost = getf(in + 68, &bad);
	it->evcs_cost_per_kwh = getf(in + 72, &bad);
	it->evcs_max_power = getf(in + 76, &bad);
	it->evcs_session_id = v2x_le_get32(in + 80);
	it->evcs_charging_available = in[84] != 0;
	return bad;
}

void fw_v2g_vehicle_pack(const struct fw_v2g_vehicle *m, uint8_t o[FW_V2G_VEHICLE_LEN])
{
	memset(o, 0, FW_V2G_VEHICLE_LEN);
	memcpy(o, m->mac, 6);
	v2x_le_putf32(o + 8, m->latitude);
	v2x_le_putf32(o + 12, m->longitude);
	v2x_le_putf32(o + 16, m->altitude);
	o[20] = m->gps_valid;
	v2x_le_put16(o + 22, m->soc);
	v2x_le_putf32(o + 24, m->battery_voltage);
	v2x_le_putf32(o + 28, m->battery_current);
	v2x_le_putf32(o + 32, m->battery_capacity);
	v2x_le_putf32(o + 36, m->desired_soc);
	o[40] = m->ready_to_charge ? 1 : 0;
	o[41] = m->stop_charging ? 1 : 0;
	v2x_le_put32(o + 44, m->session_id);
	v2x_le_put32(o + 48, m->timestamp);
}

int fw_v2g_vehicle_unpack(const uint8_t in[FW_V2G_VEHICLE_LEN], struct fw_v2g_vehicle *m)
{
	int bad = 0;

	memset(m, 0, sizeof(*m));
	memcpy(m->mac, in, 6);
	m->latitude = getf(in + 8, &bad);
	m->longitude = getf(in + 12, &bad);
	m->altitude = getf(in + 16, &bad);
	m->gps_valid = in[20];
	m->soc = v2x_le_get16(in + 22);
	m->battery_voltage = getf(in + 24, &bad);
	m->battery_current = getf(in + 28, &bad);
	m->battery_capacity = getf(in + 32, &bad);
	m->desired_soc = getf(in + 36, &bad);
	m->ready_to_charge = in[40] != 0;
	m->stop_charging = in[41] != 0;
	m->session_id = v2x_le_get32(in + 44);
	m->timestamp = v2x_le_get32(in + 48);
	return bad;
}

void fw_v2g_station_pack(const struct fw_v2g_station *m, uint8_t o[FW_V2G_STATION_LEN])
{
	memset(o, 0, FW_V2G_STATION_LEN);
	memcpy(o, m->mac, 6);
	v2x_le_putf32(o + 8, m->latitude);
	v2x_le_putf32(o + 12, m->longitude);
	v2x_le_putf32(o + 16, m->altitude);
	v2x_le_putf32(o + 20, m->ac_voltage);
	v2x_le_putf32(o + 24, m->max_current);
	v2x_le_putf32(o + 28, m->max_power);
	v2x_le_putf32(o + 32, m->cost_per_kwh);
	v2x_le_putf32(o + 36, m->energy_delivered);
	v2x_le_putf32(o + 40, m->session_cost);
	o[44] = m->charging_available ? 1 : 0;
	v2x_le_put32(o + 48, m->session_id);
	v2x_le_put32(o + 52, m->timestamp);
}

int fw_v2g_station_unpack(const uint8_t in[FW_V2G_STATION_LEN], struct fw_v2g_station *m)
{
	int bad = 0;

	memset(m, 0, sizeof(*m));
	memcpy(m->mac, in, 6);
	m->latitude = getf(in + 8, &bad);
	m->longitude = getf(in + 12, &bad);
	m->altitude = getf(in + 16, &bad);
	m->ac_voltage = getf(in + 20, &bad);
	m->max_current = getf(in + 24, &bad);
	m->max_power = getf(in + 28, &bad);
	m->cost_per_kwh = getf(in + 32, &bad);
	m->energy_delivered = getf(in + 36, &bad);
	m->session_cost = getf(in + 40, &bad);
	m->charging_available = in[44] != 0;
	m->session_id = v2x_le_get32(in + 48);
	m->timestamp = v2x_le_get32(in + 52);
	return bad;
}

void fw_item_from_station(const struct fw_v2g_station *m, struct fw_item *it)
{
	memset(it, 0, sizeof(*it));
	it->soc = FW_ITEM_SOC_STATION;
	it->gps_latitude = m->latitude;
	it->gps_longitude = m->longitude;
	it->gps_altitude = m->altitude;
	it->battery_voltage = m->ac_voltage;
	it->battery_current = m->max_current;
	it->available_energy = m->energy_delivered;
	it->timestamp = m->timestamp;
	memcpy(it->mac, m->mac, 6);
	it->evcs_session_cost = m->session_cost;
	it->evcs_cost_per_kwh = m->cost_per_kwh;
	it->evcs_max_power = m->max_power;
	it->evcs_session_id = m->session_id;
	it->evcs_charging_available = m->charging_available;
	it->gps_valid = m->charging_available ? 1 : 0;
	memcpy(it->gear, "Unk", 4);
}

/*
 * fw_legacy.h - the legacy binary layouts the firmware still speaks (facts/legacy-system.md): the 88-byte Item of
 * link 2 (AA 55 frames), the 52-byte vehicle -> station and 56-byte station -> vehicle ESP-NOW bodies.
 *
 * Little-endian, f32 floats, padding bytes zero.  Pack functions write exactly the layout's length; unpack functions
 * read it and never trust a field: non-finite floats become 0 (counted by the caller through the return value) and
 * gear is always NUL-terminated.  Pure; any thread.
 */
#ifndef V2X_FIRMWARE_APPS_COMMON_FW_LEGACY_H
#define V2X_FIRMWARE_APPS_COMMON_FW_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#define FW_ITEM_LEN 88
#define FW_V2G_VEHICLE_LEN 52
#define FW_V2G_STATION_LEN 56
#define FW_ITEM_SOC_STATION 0xFFFFu /* an Item that carries a station's data */

struct fw_item {
	uint16_t soc; /* the legacy unit: percent (0..100); 0xFFFF marks a station */
	float battery_voltage, battery_current, available_energy;
	uint8_t charging_status;
	float speed_kmh, acceleration;
	char gear[4];
	uint8_t brake_status;
	float gps_latitude, gps_longitude, gps_altitude;
	uint8_t gps_valid, is_charging_detected;
	float desired_soc;
	uint8_t ready_to_charge;
	uint8_t mac[6];
	uint32_t timestamp;
	float evcs_session_cost, evcs_cost_per_kwh, evcs_max_power;
	uint32_t evcs_session_id;
	uint8_t evcs_charging_available;
};

struct fw_v2g_vehicle {
	uint8_t mac[6];
	float latitude, longitude, altitude;
	uint8_t gps_valid;
	uint16_t soc;
	float battery_voltage, battery_current, battery_capacity, desired_soc;
	uint8_t ready_to_charge, stop_charging;
	uint32_t session_id, timestamp;
};

struct fw_v2g_station {
	uint8_t mac[6];
	float latitude, longitude, altitude, ac_voltage, max_current, max_power, cost_per_kwh, energy_delivered,
		session_cost;
	uint8_t charging_available;
	uint32_t session_id, timestamp;
};

void fw_item_pack(const struct fw_item *it, uint8_t out[FW_ITEM_LEN]);
/* Returns the number of fields that were not finite (set to 0). */
int fw_item_unpack(const uint8_t in[FW_ITEM_LEN], struct fw_item *it);

void fw_v2g_vehicle_pack(const struct fw_v2g_vehicle *m, uint8_t out[FW_V2G_VEHICLE_LEN]);
int fw_v2g_vehicle_unpack(const uint8_t in[FW_V2G_VEHICLE_LEN], struct fw_v2g_vehicle *m);

void fw_v2g_station_pack(const struct fw_v2g_station *m, uint8_t out[FW_V2G_STATION_LEN]);
int fw_v2g_station_unpack(const uint8_t in[FW_V2G_STATION_LEN], struct fw_v2g_station *m);

/* A station's message as the legacy hub forwarded it to the computer: an Item with soc 0xFFFF (legacy-system.md). */
void fw_item_from_station(const struct fw_v2g_station *m, struct fw_item *it);

#endif

/*
 * v2g_rows.h - the rows the v2g stage hands to the log stage: ESP_now_data_YYYYMMDD_HHMM.csv (every item received
 * from the hub) and v2g_sessions_YYYYMMDD_HHMM.csv (one row per finished session), and the vehicle's own Item.
 *
 * Legacy headers and leading columns are those of ../shared/facts/legacy-system.md; the project's columns are
 * appended.  Decisions (users' scripts read these files):
 *  - ESP_now_data: MAC `AA:BB:CC:DD:EE:FF`; SOC the u16 as received (65535 on a station row); floats with the fewest
 *    decimals that read back to the same f32 ("57.5", not "57.500000"; no exponent); ChargingStatus decimal; Gear the text; flags
 *    (BrakeStatus, GPSValid, IsCharging, ReadyToCharge, EVCSChargingAvailable) YES/NO; Timestamp the u32;
 *    DataType EVCS for the station marker, else V2V; then rx_time (`<sec>.<nsec 9 digits>` of CLOCK_REALTIME),
 *    link_seq (the daemon's per-link sequence number), distance_m (%.1f, empty when unknown).
 *  - v2g_sessions: timestamp = the end time; times as ISO 8601 UTC `YYYY-MM-DDTHH:MM:SSZ`; duration_min %.2f
 *    (monotonic); SOC %.2f; start_energy/end_energy the car's available energy (0x425, kWh) %.1f; energy_gained the
 *    energy into the battery integrated from current x pack_voltage (kWh %.4f), never a difference of two readings;
 *    max_current the real maximum (A %.2f); session_id the station's when known, else `local-<start seconds>`;
 *    energy_station_kwh %.4f; price_per_kwh %.4f; cost %.4f; end_reason its name.  Unknown values are empty.
 *
 * Every formatter writes one whole line ending in '\n' into (buf, size) and returns its length, or 0 when it does
 * not fit.  Pure: no clock, descriptor or allocation; any thread.
 */
#ifndef V2X_STAGES_V2G_V2G_ROWS_H
#define V2X_STAGES_V2G_V2G_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "stages/hub_io/hub_frame.h"
#include "stages/v2g/session.h"
#include "vehicle/vstate.h"

#define V2G_ESPNOW_HEADER                                                                                          \
	"MAC,SOC,BatteryVoltage,BatteryCurrent,AvailableEnergy,ChargingStatus,Speed,Acceleration,Gear,BrakeStatus,"  \
	"Latitude,Longitude,Altitude,GPSValid,IsCharging,DesiredSOC,ReadyToCharge,Timestamp,DataType,"              \
	"EVCSSessionCost,EVCSCostPerKWH,EVCSMaxPower,EVCSSessionID,EVCSChargingAvailable,rx_time,link_seq,"         \
	"distance_m\n"
#define V2G_SESSIONS_HEADER                                                                                        \
	"timestamp,duration_min,start_soc,end_soc,soc_gained,start_energy,end_energy,energy_gained,max_current,"     \
	"session_id,station_mac,energy_station_kwh,price_per_kwh,cost,end_reason,start_time,end_time\n"
#define V2G_ESPNOW_ROW_MAX 512
#define V2G_SESSION_ROW_MAX 512

/* One ESP_now_data row for a validated item received at rx_real_ns. */
size_t v2g_espnow_row(char *buf, size_t size, const struct hub_item *it, int64_t rx_real_ns, uint64_t link_seq,
		      double distance_m);

/* One v2g_sessions row. */
size_t v2g_session_row(char *buf, size_t size, const struct v2g_record *r);

/*
 * The vehicle's own Item from the published vehicle state (never from a file): soc (rounded, 0..100), pack_voltage,
 * current (positive into the battery, as decoded), energy_avail, bms_state as charging_status, speed, gear as
 * "Dri"/"Neu"/"Rev" ("Unk" before the first 0x59B), brake, the GPS fix, charging, desired_soc and ready_to_charge
 * from the session, timestamp_ms.  acceleration 0 (no source), mac zero (the hub puts its own), evcs_* 0.  A signal
 * never received is 0.  The result passes hub_item_validate() except for the mac.
 */
void v2g_own_item(const struct vstate *vs, double desired_soc, int ready_to_charge, uint32_t timestamp_ms,
		  struct hub_item *it);

#endif

/*
 * v2x_tables.h - what the vehicle hears over the hub: other vehicles (neighbours) and charging stations.
 *
 * Pure logic: no descriptor, clock, thread or allocation after init (tables are fixed arrays in the struct); time is
 * passed in.  Entries are keyed by MAC.  A full table takes a new MAC in the slot of the entry heard longest ago
 * (counted in `evicted`); entries silent for longer than the configured expiry are removed by v2x_tables_expire.
 * Distances are great-circle distances (haversine, mean Earth radius 6371008.8 m) from our own GPS fix, NaN while
 * either fix is unknown.
 *
 * Station messages are ordered by the station's uptime (the Item's timestamp, ms): a message whose uptime equals the
 * last one is a duplicate, one that is older by at most V2X_STATION_REORDER_MS is out of order; both are counted
 * and not applied (V2X_UPD_DUPLICATE / V2X_UPD_STALE).  An uptime older by more than that, or not longer than the
 * time since the station's last message was heard (it booted since), is a restart (V2X_UPD_RESTART, applied).
 *
 * The charging-session match rule lives here (v2x_tables_match_station): the nearest station within the radius heard
 * within the window, never the first heard.
 *
 * Threads: owned by the v2g thread; other threads read copies it publishes.
 */
#ifndef V2X_STAGES_V2G_V2X_TABLES_H
#define V2X_STAGES_V2G_V2X_TABLES_H

#include <stdint.h>

#include "stages/hub_io/hub_frame.h"

#define V2X_NEIGH_MAX 32
#define V2X_STATION_MAX 16
#define V2X_STATION_REORDER_MS 60000u
#define V2X_EARTH_RADIUS_M 6371008.8

struct v2x_neighbour {
	uint8_t used;
	uint8_t mac[6];
	struct hub_item item;        /* last item */
	uint64_t last_seen_mono_ns;
	int64_t last_seen_real_ns;
	double distance_m;           /* NaN when unknown */
	uint64_t items;
};

struct v2x_station_entry {
	uint8_t used;
	uint8_t mac[6];
	double lat_deg, lon_deg;
	double ac_voltage_v;
	double max_current_a;
	double max_power_w;
	double price_per_kwh;
	uint32_t session_id;
	double energy_kwh;           /* delivered in the station's current session */
	double session_cost;
	uint8_t available;
	uint32_t uptime_ms;
	uint64_t last_seen_mono_ns;
	int64_t last_seen_real_ns;
	double distance_m;           /* NaN when unknown */
	uint64_t msgs;
};

struct v2x_tables_stats {
	uint64_t neighbour_items, station_msgs;
	uint64_t duplicates, stale, restarts, evicted, expired;
};

struct v2x_tables {
	uint64_t expiry_ns;          /* silence after which an entry is removed */
	int have_fix;
	double lat_deg, lon_deg;     /* our fix */
	struct v2x_neighbour neigh[V2X_NEIGH_MAX];
	struct v2x_station_entry station[V2X_STATION_MAX];
	struct v2x_tables_stats stats;
};

enum v2x_update {
	V2X_UPD_NEW = 0,       /* a new entry */
	V2X_UPD_UPDATED = 1,   /* an existing entry */
	V2X_UPD_RESTART = 2,   /* a station whose uptime went back: it restarted */
	V2X_UPD_DUPLICATE = 3, /* same uptime as the last message: not applied */
	V2X_UPD_STALE = 4,     /* older than the last message: not applied */
};

/* Empty tables; expiry_ns > 0.  Never fails. */
void v2x_tables_init(struct v2x_tables *t, uint64_t expiry_ns);

/* Great-circle distance in metres between two positions in degrees (haversine). */
double v2x_haversine_m(double lat1, double lon1, double lat2, double lon2);

/* Our own fix: valid = 0 forgets it.  Distances of all entries are recomputed. */
void v2x_tables_set_fix(struct v2x_tables *t, int valid, double lat_deg, double lon_deg);

/*
 * Applies a validated item (vehicle -> neighbour, station marker -> station) heard at the given times.  Returns the
 * enum v2x_update outcome; *entry_out (may be NULL) receives the index of the entry (for a duplicate or stale
 * message too: the entry exists, unchanged).
 */
enum v2x_update v2x_tables_apply(struct v2x_tables *t, const struct hub_item *it, uint64_t now_mono_ns,
				 int64_t now_real_ns, int *entry_out);

/* Removes entries silent for more than expiry_ns.  Returns how many were removed. */
unsigned v2x_tables_expire(struct v2x_tables *t, uint64_t now_mono_ns);

/* Returns the station with this MAC, or NULL. */
const struct v2x_station_entry *v2x_tables_station(const struct v2x_tables *t, const uint8_t mac[6]);

/*
 * The match rule: the nearest station whose distance is known and <= radius_m, heard within max_age_ns before
 * now_mono_ns.  Ties go to the most recently heard.  Returns it or NULL.
 */
const struct v2x_station_entry *v2x_tables_match_station(const struct v2x_tables *t, double radius_m,
							  uint64_t max_age_ns, uint64_t now_mono_ns);

/* Numbers of used entries. */
unsigned v2x_tables_neighbours(const struct v2x_tables *t);
unsigned v2x_tables_stations(const struct v2x_tables *t);

#endif

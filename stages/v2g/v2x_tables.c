/*
 * v2x_tables.c - neighbours and stations heard over the hub (v2x_tables.h).
 *
 * Linear scans over small fixed arrays (32 and 16 entries): a lookup is a few hundred bytes of compares, far below
 * the item rate of a radio link (a few per second per peer).
 */
#include "stages/v2g/v2x_tables.h"

#include <math.h>
#include <string.h>

void v2x_tables_init(struct v2x_tables *t, uint64_t expiry_ns)
{
	memset(t, 0, sizeof(*t));
	t->expiry_ns = expiry_ns;
}

double v2x_haversine_m(double lat1, double lon1, double lat2, double lon2)
{
	const double d2r = M_PI / 180.0;
	double p1 = lat1 * d2r, p2 = lat2 * d2r;
	double dp = (lat2 - lat1) * d2r, dl = (lon2 - lon1) * d2r;
	double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

	if (a > 1.0)
		a = 1.0;
	return 2.0 * V2X_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1.0 - a));
}

static double v2x__dist(const struct v2x_tables *t, double lat, double lon, int valid)
{
	if (!t->have_fix || !valid)
		return NAN;
	return v2x_haversine_m(t->lat_deg, t->lon_deg, lat, lon);
}

void v2x_tables_set_fix(struct v2x_tables *t, int valid, double lat_deg, double lon_deg)
{
	t->have_fix = valid && isfinite(lat_deg) && isfinite(lon_deg);
	t->lat_deg = lat_deg;
	t->lon_deg = lon_deg;
	for (int i = 0; i < V2X_NEIGH_MAX; i++)
		if (t->neigh[i].used)
			t->neigh[i].distance_m = v2x__dist(t, t->neigh[i].item.gps_latitude, t->neigh[i].item.gps_longitude,
							   t->neigh[i].item.gps_valid);
	for (int i = 0; i < V2X_STATION_MAX; i++)
		if (t->station[i].used)
			t->station[i].distance_m = v2x__dist(t, t->station[i].lat_deg, t->station[i].lon_deg, 1);
}

/* Sets idx_ to the entry of mac_ in arr[0..n), else to a cleared free slot or, when full, the one heard longest ago
 * (counting the eviction); isnew_ tells which. */
#define V2X__FIND(arr, n, mac_, idx_, isnew_, evicted_)                                                            \
	do {                                                                                                       \
		int free_ = -1, old_ = -1;                                                                         \
		(idx_) = -1;                                                                                       \
		for (int i_ = 0; i_ < (n); i_++) {                                                                 \
			if (!(arr)[i_].used) {                                                                     \
				if (free_ < 0)                                                                     \
					free_ = i_;                                                                \
				continue;                                                                          \
			}                                                                                          \
			if (!memcmp((arr)[i_].mac, (mac_), 6)) {                                                   \
				(idx_) = i_;                                                                       \
				break;                                                                             \
			}                                                                                          \
			if (old_ < 0 || (arr)[i_].last_seen_mono_ns < (arr)[old_].last_seen_mono_ns)               \
				old_ = i_;                                                                         \
		}                                                                                                  \
		(isnew_) = (idx_) < 0;                                                                             \
		if ((idx_) < 0) {                                                                                  \
			(idx_) = free_ >= 0 ? free_ : old_;                                                        \
			if (free_ < 0)                                                                             \
				(evicted_)++;                                                                      \
			memset(&(arr)[idx_], 0, sizeof((arr)[idx_]));                                             \
			(arr)[idx_].used = 1;                                                                      \
			memcpy((arr)[idx_].mac, (mac_), 6);                                                        \
		}                                                                                                  \
	} while (0)

static uint64_t v2x__ms_since(uint64_t now, uint64_t then)
{
	return now > then ? (now - then) / 1000000u : 0;
}

/* Age of an entry heard at then; 0 when then is after now (the caller's clock was read before hub_io stamped the
 * record), never a wrapped 2^64 - x. */
static uint64_t v2x__age_ns(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

enum v2x_update v2x_tables_apply(struct v2x_tables *t, const struct hub_item *it, uint64_t now_mono_ns,
				 int64_t now_real_ns, int *entry_out)
{
	int idx, isnew;
	enum v2x_update r;

	if (entry_out)
		*entry_out = -1;
	if (!hub_item_is_station(it)) {
		struct v2x_neighbour *n;

		V2X__FIND(t->neigh, V2X_NEIGH_MAX, it->mac, idx, isnew, t->stats.evicted);
		n = &t->neigh[idx];
		n->item = *it;
		n->last_seen_mono_ns = now_mono_ns;
		n->last_seen_real_ns = now_real_ns;
		n->distance_m = v2x__dist(t, it->gps_latitude, it->gps_longitude, it->gps_valid);
		n->items++;
		t->stats.neighbour_items++;
		if (entry_out)
			*entry_out = idx;
		return isnew ? V2X_UPD_NEW : V2X_UPD_UPDATED;
	}

	struct v2x_station_entry *s;

	V2X__FIND(t->station, V2X_STATION_MAX, it->mac, idx, isnew, t->stats.evicted);
	s = &t->station[idx];
	r = isnew ? V2X_UPD_NEW : V2X_UPD_UPDATED;
	if (entry_out)
		*entry_out = idx; /* also for a message not applied: the entry exists */
	if (!isnew) {
		if (it->timestamp == s->uptime_ms) {
			t->stats.duplicates++;
			return V2X_UPD_DUPLICATE;
		}
		if (it->timestamp < s->uptime_ms) {
			uint64_t since_ms = v2x__ms_since(now_mono_ns, s->last_seen_mono_ns);

			/* a restart: far back, or an uptime no longer than the silence since the last message */
			if (s->uptime_ms - it->timestamp <= V2X_STATION_REORDER_MS && it->timestamp > since_ms) {
				t->stats.stale++;
				return V2X_UPD_STALE;
			}
			t->stats.restarts++;
			r = V2X_UPD_RESTART;
		}
	}
	s->lat_deg = it->gps_latitude;
	s->lon_deg = it->gps_longitude;
	s->ac_voltage_v = it->battery_voltage;
	s->max_current_a = it->battery_current;
	s->max_power_w = it->evcs_max_power;
	s->price_per_kwh = it->evcs_cost_per_kwh;
	s->session_id = it->evcs_session_id;
	s->energy_kwh = it->available_energy;
	s->session_cost = it->evcs_session_cost;
	s->available = it->evcs_charging_available;
	s->uptime_ms = it->timestamp;
	s->last_seen_mono_ns = now_mono_ns;
	s->last_seen_real_ns = now_real_ns;
	s->distance_m = v2x__dist(t, s->lat_deg, s->lon_deg, 1);
	s->msgs++;
	t->stats.station_msgs++;
	if (entry_out)
		*entry_out = idx;
	return r;
}

unsigned v2x_tables_expire(struct v2x_tables *t, uint64_t now_mono_ns)
{
	unsigned n = 0;

	for (int i = 0; i < V2X_NEIGH_MAX; i++)
		if (t->neigh[i].used && v2x__age_ns(now_mono_ns, t->neigh[i].last_seen_mono_ns) > t->expiry_ns) {
			t->neigh[i].used = 0;
			n++;
		}
	for (int i = 0; i < V2X_STATION_MAX; i++)
		if (t->station[i].used && v2x__age_ns(now_mono_ns, t->station[i].last_seen_mono_ns) > t->expiry_ns) {
			t->station[i].used = 0;
			n++;
		}
	t->stats.expired += n;
	return n;
}

const struct v2x_station_entry *v2x_tables_station(const struct v2x_tables *t, const uint8_t mac[6])
{
	for (int i = 0; i < V2X_STATION_MAX; i++)
		if (t->station[i].used && !memcmp(t->station[i].mac, mac, 6))
			return &t->station[i];
	return NULL;
}

const struct v2x_station_entry *v2x_tables_match_station(const struct v2x_tables *t, double radius_m,
							  uint64_t max_age_ns, uint64_t now_mono_ns)
{
	const struct v2x_station_entry *best = NULL;

	for (int i = 0; i < V2X_STATION_MAX; i++) {
		const struct v2x_station_entry *s = &t->station[i];

		if (!s->used || !(s->distance_m <= radius_m) || v2x__age_ns(now_mono_ns, s->last_seen_mono_ns) > max_age_ns)
			continue;
		if (!best || s->distance_m < best->distance_m ||
		    (s->distance_m == best->distance_m && s->last_seen_mono_ns > best->last_seen_mono_ns))
			best = s;
	}
	return best;
}

unsigned v2x_tables_neighbours(const struct v2x_tables *t)
{
	unsigned n = 0;

	for (int i = 0; i < V2X_NEIGH_MAX; i++)
		n += t->neigh[i].used;
	return n;
}

unsigned v2x_tables_stations(const struct v2x_tables *t)
{
	unsigned n = 0;

	for (int i = 0; i < V2X_STATION_MAX; i++)
		n += t->station[i].used;
	return n;
}

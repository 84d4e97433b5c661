/*
 * hub_frame.h - the ESP32(2) hub link: the legacy `AA 55` + 88-byte Item frames and the project's v2 frames, in both
 * directions, one event per input unit.
 *
 * Pure logic: no descriptor, clock, thread or heap.  The hub_io thread feeds whatever read() returned, in any split;
 * the parser cuts units and calls emit exactly once per unit (the rx_event.h shape): an item (another vehicle), a
 * station (an Item carrying the station marker soc = 0xFFFF), a meter reading (v2 V2X_T_STATION), an acknowledgement
 * (v2 V2X_T_ACK), "ignored" (the hub's boot-log text, v2 STATUS frames), or a reject with a stable reason name.
 * Nothing is dropped without an event; the parser also counts each kind and each reason.
 *
 * Legacy frames (../shared/facts/legacy-system.md, link 2): 0xAA 0x55, then the Item, 88 bytes packed little-endian,
 * no length, no checksum.  The Item is decoded field by field at explicit offsets (hub_item_unpack), never by casting
 * a struct.  Receiving:
 *   - Header search: `AA 55` starts a frame; in `AA AA 55` the second AA starts it (the legacy receiver missed
 *     these).  Bytes outside frames are text units, cut at LF, at a header, or at HUB_TEXT_MAX bytes: a unit of
 *     printable ASCII (plus TAB, CR and ESC, which ESP-IDF's coloured log uses) is the boot log -> HUB_EV_IGNORED;
 *     any other byte makes it HUB_REJ_GARBAGE.
 *   - Truncated frames (the hub reset or bytes were lost mid-frame): the next frame's header then falls inside the
 *     88 bytes being collected.  Rule: the 88 bytes are always collected and validated first (AA 55 is also
 *     ordinary data inside floats).  A body that validates is an item, whatever it contains.  A body that fails
 *     validation and holds an `AA 55` pair at body offset k is rejected as HUB_REJ_TRUNCATED, and parsing resumes
 *     at that embedded header: the frame starting there is completed from the following bytes, so the frame after
 *     a truncated one is not lost (it is tried again, recursively, if it too holds an embedded header).  A body that
 *     fails validation and holds no header is rejected with the validation reason; when its last byte is AA, parsing
 *     resumes at that byte (it may be the first half of the next header).  End of input inside a body: truncated.
 *   - Validation (hub_item_validate) checks every field against documented bounds (below).
 *
 * V2 frames (firmware/include/v2x_proto.h): COBS units ended by 0x00, decoded with v2x_frame_decode.  V2X_ITEM
 * carries the same 88-byte Item (same validation); V2X_STATION a slot meter reading; V2X_ACK an acknowledgement;
 * V2X_STATUS is ignored (hub health; the stage may read ev->v2); CAN, NMEA and CMD never come from the hub
 * (HUB_REJ_V2_DIRECTION).  Sequence numbers: a forward jump of the sender's seq counts the frames lost in between
 * (v2_lost); a seq that goes backwards or repeats counts a restart of the device (v2_restarts); the event carries
 * the seq and device time.
 *
 * Format detection per port, like stages/can_rx/framer.h: HUB_FMT_AUTO runs the legacy receiver and, at each 0x00
 * met outside a legacy frame, tries the bytes since the last 0x00 (or since the text unit began) as a v2 frame; a
 * valid one switches the port to V2 (the text before it becomes its own unit).  A valid legacy frame marks the port
 * LEGACY (detection stays open: a swapped firmware is still recognised by its first valid v2 frame).  In V2 only
 * 0x00 delimits; a run longer than V2X_WIRE_MAX without one is rejected HUB_REJ_OVERLONG and the port goes back to
 * AUTO.  What detection loses: v2 frames before the first one that is met whole outside a legacy frame body (a v2
 * frame holding `AA 55` starts a legacy frame; typically zero or one frame).  Fixed modes never switch.
 *
 * Item bounds (a value outside is a reject; all floats must be finite, else HUB_REJ_NON_FINITE):
 *   vehicle item: soc 0..100 %; battery_voltage 0..100 V (a Twizy pack is 14 cells, at most 58.8 V);
 *   battery_current -500..+500 A (the 0x155 range is -500..+460 A); available_energy 0..100 kWh (6.1 kWh pack);
 *   speed_kmh -200..+200 (the legacy sender derived speed from motor rpm, so small negative values occur);
 *   acceleration -100..+100 (m/s^2, 10 g); desired_soc 0..100.
 *   station item (soc = 0xFFFF): AC voltage 0..300 V, max current 0..100 A (PZEM-004T range), energy delivered
 *   0..10000 kWh (PZEM counter range), gps_valid 0|1 mirrors charging availability -> else HUB_REJ_STATION_FIELDS.
 *   both: gear 4 bytes holding a NUL, printable ASCII before it (HUB_REJ_GEAR); latitude -90..90, longitude
 *   -180..180, altitude -1000..10000 m (HUB_REJ_GPS_RANGE); gps_valid, brake_status, is_charging_detected,
 *   ready_to_charge, evcs_charging_available 0|1 (HUB_REJ_BAD_BOOL); evcs_session_cost 0..1e6,
 *   evcs_cost_per_kwh 0..100, evcs_max_power 0..1e6 W (HUB_REJ_EVCS_RANGE; HUB_REJ_STATION_FIELDS on a station);
 *   mac not all-zero, not broadcast, not multicast (HUB_REJ_BAD_MAC).  charging_status (a BMS code byte),
 *   timestamp and evcs_session_id take any value.  Padding bytes are ignored.
 *
 * Threads: one parser per port, used by one thread at a time.  No call blocks or allocates.
 */
#ifndef V2X_STAGES_HUB_IO_HUB_FRAME_H
#define V2X_STAGES_HUB_IO_HUB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "v2x_proto.h"

#define HUB_ITEM_LEN 88
#define HUB_LEGACY_FRAME_LEN (2 + HUB_ITEM_LEN) /* AA 55 + Item */
#define HUB_SOC_STATION 0xFFFFu                 /* soc marker of a station Item */
#define HUB_TEXT_MAX 256                        /* longest text unit; a longer run is cut into several */

/* Bounds (documented above; tests and the stage's docs use the same constants). */
#define HUB_VEH_VOLT_MAX 100.0
#define HUB_VEH_CURR_ABS_MAX 500.0
#define HUB_VEH_ENERGY_MAX 100.0
#define HUB_SPEED_ABS_MAX 200.0
#define HUB_ACCEL_ABS_MAX 100.0
#define HUB_ALT_MIN (-1000.0)
#define HUB_ALT_MAX 10000.0
#define HUB_ST_VOLT_MAX 300.0
#define HUB_ST_CURR_MAX 100.0
#define HUB_ST_ENERGY_MAX 10000.0
#define HUB_COST_MAX 1e6
#define HUB_PRICE_MAX 100.0
#define HUB_POWER_MAX 1e6

/* The legacy Item, decoded.  Field names and units as in the facts file. */
struct hub_item {
	uint16_t soc;               /* %, or HUB_SOC_STATION */
	float battery_voltage;      /* V; station: AC voltage */
	float battery_current;      /* A; station: max current */
	float available_energy;     /* kWh; station: energy delivered in this session */
	uint8_t charging_status;
	float speed_kmh;
	float acceleration;
	char gear[4];               /* NUL-terminated once validated */
	uint8_t brake_status;
	float gps_latitude, gps_longitude, gps_altitude;
	uint8_t gps_valid;          /* station: 1 if charging is available */
	uint8_t is_charging_detected;
	float desired_soc;
	uint8_t ready_to_charge;
	uint8_t mac[6];
	uint32_t timestamp;         /* station: uptime ms */
	float evcs_session_cost;
	float evcs_cost_per_kwh;
	float evcs_max_power;       /* W */
	uint32_t evcs_session_id;
	uint8_t evcs_charging_available;
};

/* Why a unit was rejected.  Names (hub_reject_name) are stable: counters, traces and log lines use them. */
#define HUB_REJECTS(X)                                                                                             \
	X(GARBAGE, "garbage")               /* a non-frame unit holding bytes that are not text */                 \
	X(TRUNCATED, "truncated")           /* a frame cut short by the next header (rule above) */                \
	X(NON_FINITE, "non_finite")         /* a NaN or infinite float */                                          \
	X(SOC_RANGE, "soc_range")           /* soc neither 0..100 nor the station marker */                        \
	X(GEAR, "bad_gear")                 /* gear without NUL, or non-printable */                               \
	X(GPS_RANGE, "gps_range")           /* latitude, longitude or altitude out of range */                     \
	X(VOLTAGE_RANGE, "voltage_range")   /* vehicle battery voltage */                                          \
	X(CURRENT_RANGE, "current_range")   /* vehicle battery current */                                          \
	X(ENERGY_RANGE, "energy_range")     /* vehicle available energy */                                         \
	X(SPEED_RANGE, "speed_range")       /* speed or acceleration */                                            \
	X(DESIRED_SOC_RANGE, "desired_soc_range")                                                                  \
	X(BAD_BOOL, "bad_bool")             /* a flag byte other than 0 or 1 */                                    \
	X(EVCS_RANGE, "evcs_range")         /* evcs_* fields of a vehicle item */                                  \
	X(STATION_FIELDS, "station_fields") /* a station marker with nonsense fields */                            \
	X(BAD_MAC, "bad_mac")               /* zero, broadcast or multicast sender address */                      \
	X(OVERLONG, "overlong")             /* v2: a run without 0x00 longer than a frame */                       \
	X(V2_COBS, "v2_cobs")                                                                                      \
	X(V2_SHORT, "v2_short")                                                                                    \
	X(V2_CRC, "v2_crc")                                                                                        \
	X(V2_TYPE, "v2_type")                                                                                      \
	X(V2_PAYLOAD, "v2_payload")                                                                                \
	X(V2_DIRECTION, "v2_direction")     /* a v2 type the hub never sends (CAN, NMEA, CMD) */

enum hub_reject {
	HUB_REJ_NONE = 0,
#define HUB__REJ_ENUM(e, name) HUB_REJ_##e,
	HUB_REJECTS(HUB__REJ_ENUM)
#undef HUB__REJ_ENUM
	HUB_REJ__COUNT
};

/* Stable snake_case name of r; "none" for HUB_REJ_NONE, "invalid" out of range.  Static storage. */
const char *hub_reject_name(enum hub_reject r);

enum hub_event_kind {
	HUB_EV_ITEM,    /* another vehicle's Item: item */
	HUB_EV_STATION, /* a station Item (soc marker): item */
	HUB_EV_SLOT,    /* v2 V2X_T_STATION: slot */
	HUB_EV_ACK,     /* v2 V2X_T_ACK: ack_* */
	HUB_EV_IGNORED, /* boot-log text, v2 STATUS */
	HUB_EV_REJECT,  /* reason */
	HUB_EV__COUNT
};

/* Returns "item", "station", "slot", "ack", "ignored", "reject" ("invalid" out of range). */
const char *hub_event_kind_name(enum hub_event_kind k);

enum hub_format { HUB_FMT_AUTO = 0, HUB_FMT_LEGACY = 1, HUB_FMT_V2 = 2 };

struct hub_event {
	enum hub_event_kind kind;
	enum hub_reject reason;  /* HUB_EV_REJECT */
	enum hub_format unit_format; /* LEGACY for AA 55 frames and text, V2 for a 0x00-delimited unit */
	struct hub_item item;    /* ITEM, STATION (and a reject that failed validation: the decoded fields) */
	struct v2x_station slot; /* SLOT */
	uint32_t ack_seq;        /* ACK: seq of the frame answered */
	uint8_t ack_type;        /* ACK: its type */
	uint8_t ack_result;      /* ACK: 0 done, else a code */
	uint8_t has_seq;         /* a v2 frame: seq and dev_time_us are the sender's */
	uint32_t seq;
	uint32_t dev_time_us;
	/* The raw unit: legacy frame bytes including AA 55, text bytes, or COBS bytes without the 0x00.  Valid only
	 * during the emit call. */
	const uint8_t *raw;
	size_t len;
	const struct v2x_frame *v2; /* a decoded v2 frame, whatever the kind; else NULL */
};

/* Called once per event from the thread that fed the parser; ev and what it points to live only during the call. */
typedef void (*hub_emit_fn)(void *ctx, const struct hub_event *ev);

/* Per-parser counts (the stage publishes them as registry counters). */
struct hub_frame_stats {
	uint64_t events[HUB_EV__COUNT];
	uint64_t rejects[HUB_REJ__COUNT];
	uint64_t v2_lost;     /* frames missing according to the sender's seq */
	uint64_t v2_restarts; /* seq went backwards or repeated */
	uint64_t bytes;
};

/* Caller-owned state; treat as opaque. */
struct hub_parser {
	enum hub_format mode; /* AUTO until detected, unless fixed */
	enum hub_format seen; /* last format that produced a valid unit (AUTO: none yet) */
	uint8_t fixed;
	uint8_t st;           /* legacy receiver state */
	uint8_t dead;         /* v2: discarding an over-long run */
	uint8_t seq_known;
	uint32_t last_seq;
	uint16_t body_len;    /* legacy: body bytes collected */
	uint16_t text_len;    /* bytes in text */
	uint16_t seg;         /* AUTO: where the current v2 candidate starts in text */
	uint16_t v2_len;      /* V2 mode: bytes in text */
	uint8_t body[HUB_LEGACY_FRAME_LEN];
	uint8_t text[V2X_WIRE_MAX + HUB_TEXT_MAX]; /* text unit, or v2 unit in V2 mode */
	struct hub_frame_stats stats;
};

/* Start a port in the given mode (AUTO detects; LEGACY or V2 are fixed).  Never fails. */
void hub_parser_init(struct hub_parser *p, enum hub_format mode);

/* Feed n bytes (any split); emit one event per unit they complete.  buf is only read during the call. */
void hub_parser_feed(struct hub_parser *p, const void *buf, size_t n, hub_emit_fn emit, void *ctx);

/* End of input: a pending text unit is emitted; a partial legacy frame is rejected HUB_REJ_TRUNCATED; a pending
 * v2 unit is decoded as if its 0x00 had arrived.  The parser then starts afresh (mode kept). */
void hub_parser_finish(struct hub_parser *p, hub_emit_fn emit, void *ctx);

/* The port's format: AUTO until a valid unit was seen, else the last format detected (or the fixed one). */
enum hub_format hub_parser_format(const struct hub_parser *p);

/* Decode an 88-byte Item at explicit offsets (no validation).  Never fails. */
void hub_item_unpack(const uint8_t in[HUB_ITEM_LEN], struct hub_item *it);

/* Encode *it at explicit offsets; padding bytes are zero; gear is copied as 4 bytes. */
void hub_item_pack(const struct hub_item *it, uint8_t out[HUB_ITEM_LEN]);

/* Check every field against the bounds above.  Returns HUB_REJ_NONE or the first failing reason. */
enum hub_reject hub_item_validate(const struct hub_item *it);

/* Returns nonzero when it carries the station marker. */
static inline int hub_item_is_station(const struct hub_item *it)
{
	return it->soc == HUB_SOC_STATION;
}

/* Legacy frame: AA 55 + the packed item into out (size >= HUB_LEGACY_FRAME_LEN).  Returns 90 or -ENOBUFS. */
int hub_encode_legacy(const struct hub_item *it, uint8_t *out, size_t size);

/* V2 V2X_T_V2X_ITEM frame (COBS + 0x00) into out (V2X_WIRE_MAX suffices).  Returns its length or a negative errno
 * (v2x_frame_encode). */
int hub_encode_v2_item(const struct hub_item *it, uint32_t seq, uint32_t dev_time_us, uint8_t *out, size_t size);

/*
 * What the session machine wants the station told (struct hub_v2g_msg, the v2g -> hub_io record).  On the wire the
 * project's hub firmware (firmware/apps/v2x_hub/hub.h) builds the radio V2G messages itself, every v2g_ms, from the
 * vehicle's latest Item: desired_soc and ready_to_charge travel in the own Item.  The one thing the Item cannot say
 * is "stop now": that is the v2 command V2X_T_CMD with the single byte HUB_CMD_STOP_CHARGING, which the hub answers
 * with V2X_T_ACK (acked_seq = the command's seq, acked_type V2X_T_CMD, result enum hub_stop_result) once the station
 * answered or the hub gave up; a stop sent while one is pending is answered HUB_STOP_BUSY.  A legacy hub takes no
 * command: the stop is then only ready_to_charge = 0 in the Item.
 */
#define HUB_CMD_STOP_CHARGING 0x01
enum hub_stop_result {
	HUB_STOP_STOPPED = 0,    /* the station ended the session and opened its relay */
	HUB_STOP_NO_SESSION = 1, /* the station had no session running */
	HUB_STOP_NO_ANSWER = 2,  /* the hub got no acknowledgement from the station */
	HUB_STOP_NO_KEY = 3,     /* the hub has no pairing key */
	HUB_STOP_UNKNOWN = 4,    /* the hub does not know the command */
	HUB_STOP_BUSY = 5,       /* a stop is already pending */
};
struct hub_v2g_msg {
	uint8_t station_mac[6];
	float desired_soc;
	uint8_t ready_to_charge;
	uint8_t stop_charging;
	uint32_t session_id;
	float soc;
};
/* The stop command as a v2 frame (COBS + 0x00) into out.  Returns the frame length or a negative errno. */
int hub_encode_stop(uint32_t seq, uint32_t dev_time_us, uint8_t *out, size_t size);
/* Returns 1 when a V2X_T_CMD payload is the stop command, else 0 (for test peers). */
int hub_is_stop_cmd(const uint8_t *payload, size_t len);
/* Returns nonzero when an acknowledgement result means the station is not charging any more (stopped, no
 * session). */
static inline int hub_stop_result_final(uint8_t result)
{
	return result == HUB_STOP_STOPPED || result == HUB_STOP_NO_SESSION;
}

/* Formats mac as "AA:BB:CC:DD:EE:FF" into buf (size >= 18).  Returns 17. */
int hub_mac_format(const uint8_t mac[6], char *buf, size_t size);

#endif

/*
 * csv_format.h - the text of every row the log stage writes: can_data.csv, gps_data.csv, merged_can_data_*.csv
 * (and their snapshots, which use the same headers and rows) and the can-utils candump log.
 *
 * The legacy files' names and leading columns are kept (../shared/facts/legacy-system.md); new columns are
 * appended.  The per-frame formatters (csv_can_row, candump_line) use no printf: hand-written integer, hex and
 * fixed-point conversion that rounds exactly as glibc's %.6f / %.1f do (correctly rounded, ties to even), so the
 * legacy text is reproduced digit for digit.
 *
 * Every formatter takes (buf, size), writes one whole line ending in '\n' and returns its length, or returns 0 and
 * leaves the line unwritten when it does not fit (never a partial line; buf may have been scribbled on).  No
 * formatter NUL-terminates.  All are pure: no allocation, no clock, no descriptor; safe from any thread on
 * distinct buffers.
 *
 * Decisions (documented here because users' scripts read these files):
 *  - timestamps: `<sec>.<nsec 9 digits>` of CLOCK_REALTIME (rx_real_ns); a time before 1970 gets a leading '-'
 *    and is the true decimal value ("-0.500000000"), not a timespec pair.
 *  - can_id: %03X of the 11-bit id; %08X of the 29-bit id (flag bit removed) when CAN_EFF_FLAG is set; error
 *    frames (CAN_ERR_FLAG) as %08X with the error flag kept, as candump writes them.
 *  - remote frames (CAN_RTR_FLAG): dlc is the requested length and both data columns hold `R` (candump's marker:
 *    a remote frame carries no data bytes, and an empty field would look like a dlc-0 data frame).
 *  - data bytes: only the first dlc bytes (at most 8), upper-case, space-separated; dlc 0 gives empty fields.
 *  - GPS columns of can_data: the fix current when the frame arrived (the caller keeps a csv_gps_suffix).  Before
 *    the first fix, and for every quantity the fix does not carry (gps_fix.have), the field is empty, and
 *    gps_valid is 0 (no valid fix).  Non-finite values and |value| >= 1e15 are also written as empty fields.
 *  - seq: the daemon's per-link sequence number; dev_time_us: the device timestamp when the record has one
 *    (REC_F_DEV_TIME), else empty.
 *  - merged rows: timestamp as above; a signal never received is an empty field (never 0); gear as
 *    Drive/Neutral/Reverse; motor_active, brake 1/0; cap_voltage always empty (no correct source: the legacy value
 *    was a misdecode); charging_status `0x%02X` of bms_state; is_charging YES/NO; gps_* as in can_data plus
 *    gps_sats; then one column per canonical signal (signals.h order) in shortest round-trip form
 *    (fmt_double_roundtrip), charge_phase as its text.
 *  - gps_data rows: lat/lon %.6f, alt %.1f, speed %.1f, hdop %.2f, datetime `YYYY-MM-DD HH:MM:SS` UTC when the fix
 *    has both date and time (else empty), valid 0|1 from the fix's validity flag.
 */
#ifndef V2X_STAGES_LOG_CSV_FORMAT_H
#define V2X_STAGES_LOG_CSV_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "vehicle/record.h"
#include "vehicle/signals.h"
#include "vehicle/vstate.h"

#define CSV_CAN_DATA_HEADER                                                                                        \
	"timestamp,can_id,dlc,data_hex,data_bytes,gps_lat,gps_lon,gps_alt,gps_speed,gps_valid,seq,dev_time_us\n"
#define CSV_GPS_DATA_HEADER "timestamp,latitude,longitude,altitude,speed_kmh,satellites,hdop,datetime,valid\n"

/* The merged header: the legacy columns, then every canonical signal name in enum order. */
#define CSV__MERGED_COL(e, name, unit) "," name
#define CSV_MERGED_HEADER                                                                                          \
	"timestamp,soc,current,gear,motor_active,accelerator,brake,cap_voltage,motor_speed,odometer,range,"         \
	"battery_voltage,available_energy,charging_status,motor_temp,power_request,gps_lat,gps_lon,gps_alt,"        \
	"gps_speed,gps_sats,gps_valid,is_charging" CANON_SIGNALS(CSV__MERGED_COL) "\n"

/* Longest line each formatter can produce (a buffer this large always suffices). */
#define CSV_CAN_ROW_MAX 256
#define CSV_GPS_ROW_MAX 192
#define CANDUMP_LINE_MAX (48 + 64) /* plus the interface name's length */
#define CSV_MERGED_ROW_MAX 2048

/*
 * The GPS columns of a can_data row, formatted once per fix rather than once per frame.  Caller-owned, used by
 * one thread; initialise with csv_gps_suffix_init().
 */
struct csv_gps_suffix {
	double key[4];   /* lat, lon, alt, speed of the fix formatted (bit patterns compared) */
	uint8_t key_have;
	uint8_t key_valid;
	uint8_t has_fix; /* 0: no fix received yet */
	uint8_t len;     /* bytes in text */
	char text[112];  /* ",<lat>,<lon>,<alt>,<speed>,<valid>" */
};

/* Sets s to "no fix yet" (",,,,,0"). */
void csv_gps_suffix_init(struct csv_gps_suffix *s);

/*
 * Makes s describe fix (NULL = no fix yet), reformatting only when a field the can_data row shows changed.
 * Returns 1 when the text changed, 0 when not.  Cheap when unchanged (a compare of 34 bytes); no printf.
 */
int csv_gps_suffix_update(struct csv_gps_suffix *s, const struct gps_fix *fix);

/*
 * One can_data.csv row for a REC_CAN record (rec->u.can), with the GPS columns of gps.  Returns the length or 0
 * when it does not fit in size.  Writes directly into buf when size >= CSV_CAN_ROW_MAX (the fast path).
 */
size_t csv_can_row(char *buf, size_t size, const struct rx_record *rec, const struct csv_gps_suffix *gps);

/*
 * One candump -l line: `(<sec 10 digits>.<usec 6 digits>) <ifname> <id>#<hex>` + '\n', exactly as can-utils
 * candump writes it (usec truncated from t_real_ns; remote frames `<id>#R` followed by the dlc digit when dlc > 0;
 * error frames with the 8-digit id including CAN_ERR_FLAG).  ifname: NUL-terminated, not padded.  Returns the
 * length or 0 when it does not fit.
 */
size_t candump_line(char *buf, size_t size, int64_t t_real_ns, const char *ifname, const struct can_frame_data *f);

/*
 * Both lines of one CAN frame at once, for a writer that keeps both files: the can_data.csv row (as csv_can_row)
 * into row and the candump line (as candump_line) into dump, sharing their work: the seconds' digits are formatted
 * once per second (kept in ctx, for both lines), the sub-second digits once per frame for both, the hex of the data
 * once for the three places it appears, seq incrementally from the previous frame of the link and the device time's
 * seconds once per second of the link.  Sets *row_len
 * and *dump_len.  row needs CSV_CAN_ROW_MAX bytes and dump CANDUMP_LINE_MAX + 16 bytes even when the lines are
 * shorter: the fast path stores whole 8- and 16-byte words and may scribble past the line's end (never past those
 * sizes).  ctx: caller-owned, one thread, csv_can_ctx_init() first.
 *
 * Fast path (little-endian hosts): data and extended frames stamped at or after 2001-09-09 (seconds of 10 digits);
 * remote and error frames, earlier (or negative) times, the last second an int64 of ns holds (2262-04-11) and dlc
 * above 9 take the one-by-one formatters.
 */
struct csv_can_link {       /* per-link text caches (ctx-owned; whole words copied out of them) */
	uint64_t seq;          /* the value whose text is in seq_text */
	uint64_t dev_sec;      /* dev_time_us / 10^6 whose digits are in dev_text (0: none) */
	char seq_text[24];     /* ",<seq>," */
	char dev_text[16];     /* digits of dev_sec */
	uint8_t seq_len, dev_len;
	uint8_t pad[6];
};
struct csv_can_ctx {
	uint64_t sec_base_ns;  /* start of the second whose digits are in row_pre and dump_pre (always >= 10^18) */
	char row_pre[16];      /* "<10 digits>." */
	char dump_pre[16];     /* "(<10 digits>." */
	char dump_mid[24];     /* ") <ifname> " */
	uint8_t mid_len;
	uint8_t if_len;
	char ifname[17];
	struct csv_can_link link[4]; /* by link & 3 */
	uint32_t hex3[256];    /* "HH " of each byte value, a NUL 4th (a copy of a static table, off ctx's register) */
};
void csv_can_ctx_init(struct csv_can_ctx *ctx, const char *ifname);
void csv_can_lines(struct csv_can_ctx *ctx, const struct rx_record *rec, const struct csv_gps_suffix *gps, char *row,
		   size_t *row_len, char *dump, size_t *dump_len);

/*
 * csv_can_lines for n REC_CAN records, the rows back to back from row (n * CSV_CAN_ROW_MAX bytes) and the candump
 * lines back to back from dump (n * (CANDUMP_LINE_MAX + 16) bytes).  Sets *row_bytes and *dump_bytes to the bytes
 * written (n whole lines each).  Same ctx rules as csv_can_lines.
 */
void csv_can_lines_run(struct csv_can_ctx *ctx, const struct rx_record *recs, size_t n, const struct csv_gps_suffix *gps,
		       char *row, size_t *row_bytes, char *dump, size_t *dump_bytes);

/* One gps_data.csv row for fix received at t_real_ns.  Returns the length or 0 when it does not fit. */
size_t csv_gps_row(char *buf, size_t size, int64_t t_real_ns, const struct gps_fix *fix);

/*
 * One merged_can_data row from the vehicle state s, stamped t_real_ns (the caller's choice: usually
 * s->updated_real_ns).  Uses snprintf (about 10 us): for rows written once a second, not per frame.  Returns the
 * length or 0 when it does not fit.
 */
size_t csv_merged_row(char *buf, size_t size, int64_t t_real_ns, const struct vstate *s);

/*
 * Writes v with exactly `decimals` digits after the point (0..9), the text printf("%.*f", decimals, v) gives,
 * without the printf family for |v| * 10^decimals < 2^52.  Non-finite values and |v| >= 1e15 are written as
 * nothing (length 0: an empty CSV field).  Needs size >= 32; returns the length (0 for the cases above or when
 * size is too small).  No terminating NUL.
 */
size_t csv_fmt_fixed(char *buf, size_t size, double v, unsigned decimals);

/* Writes `<sec>.<nsec 9 digits>` of t_ns.  Needs size >= 24; returns the length, 0 when size is too small. */
size_t csv_fmt_time_ns(char *buf, size_t size, int64_t t_ns);

#endif

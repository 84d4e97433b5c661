/*
 * record.h - what moves through the vehicle pipeline's rings.
 *
 * One struct rx_record per accepted input unit (a CAN frame, a GPS fix, a status line), copied by value from
 * can_rx to decode and on to log.  It carries both receive clocks, the per-link sequence number the daemon assigns,
 * and, when the link provides them, the device's own sequence number and timestamp, so loss is countable at every
 * hop.  Plain data: no pointers, fixed size.
 */
#ifndef V2X_VEHICLE_RECORD_H
#define V2X_VEHICLE_RECORD_H

#include <stdint.h>

/* Linux SocketCAN-style flag bits carried in can_frame_data.id (the legacy firmware uses the same). */
#define CAN_EFF_FLAG 0x80000000U /* 29-bit extended identifier */
#define CAN_RTR_FLAG 0x40000000U /* remote transmission request */
#define CAN_ERR_FLAG 0x20000000U /* error frame */
#define CAN_SFF_MASK 0x000007FFU
#define CAN_EFF_MASK 0x1FFFFFFFU

struct can_frame_data {
	uint32_t id;     /* identifier plus CAN_*_FLAG bits */
	uint8_t dlc;     /* 0..8 */
	uint8_t data[8]; /* bytes at or past dlc are zero */
};

/* gps_fix.have: which fields the source provided. */
enum gps_have {
	GPS_HAVE_POS = 1u << 0,
	GPS_HAVE_ALT = 1u << 1,
	GPS_HAVE_SPEED = 1u << 2,
	GPS_HAVE_SATS = 1u << 3,
	GPS_HAVE_HDOP = 1u << 4,
	GPS_HAVE_DATE = 1u << 5,
	GPS_HAVE_TIME = 1u << 6,
	GPS_HAVE_COURSE = 1u << 7,
};

/* One GPS fix, from a legacy GPS line or merged from NMEA sentences.  Date and time are UTC. */
struct gps_fix {
	double lat_deg;    /* + north */
	double lon_deg;    /* + east */
	double alt_m;
	double speed_kmh;
	double hdop;
	double course_deg;
	uint32_t usec;     /* sub-second part of the UTC time */
	uint16_t year;
	uint8_t month, day, hour, min, sec;
	uint8_t sats;
	uint8_t valid;     /* the receiver reports a valid fix */
	uint8_t have;      /* enum gps_have bits */
};

/* A legacy STATUS line or a v2 status frame from ESP32(1). */
struct link_status {
	double lat_deg, lon_deg, speed_kmh; /* when has_pos */
	float hdop;
	uint16_t sats;
	uint8_t can_ok, gps_ok, has_pos;
};

enum rec_type {
	REC_NONE = 0,
	REC_CAN = 1,
	REC_GPS = 2,
	REC_STATUS = 3,
};

/* rx_record.flags */
enum rec_flag {
	REC_F_DEV_TIME = 1u << 0, /* dev_time_us and dev_seq come from the device (v2 frames) */
	REC_F_LOG_TIME = 1u << 1, /* rx_real_ns came from the input itself (a candump log line), not from the clock */
};

struct rx_record {
	uint64_t rx_mono_ns;  /* CLOCK_MONOTONIC at read(): for latency */
	int64_t rx_real_ns;   /* CLOCK_REALTIME at read() (or the log's time): for files */
	uint64_t seq;         /* per-link sequence number assigned by the daemon to every accepted record, from 1 */
	uint64_t dev_time_us; /* device timestamp, when flags & REC_F_DEV_TIME */
	uint32_t dev_seq;     /* device sequence number, when flags & REC_F_DEV_TIME */
	uint32_t line;        /* input line number (offline decoding), 0 when unknown */
	uint16_t type;        /* enum rec_type */
	uint16_t flags;       /* enum rec_flag bits */
	uint32_t link;        /* which input link (0 = ESP32(1)) */
	union {
		struct can_frame_data can;
		struct gps_fix gps;
		struct link_status status;
	} u;
};

#endif

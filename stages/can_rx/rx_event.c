/* rx_event.c - names of the framing layer's reject reasons (rx_event.h). */
#include "stages/can_rx/rx_event.h"

static const char *const rx__reject_names[RX_REJ__COUNT] = {
	[RX_REJ_OVERLONG] = "overlong",
	[RX_REJ_NUL] = "nul_byte",
	[RX_REJ_BINARY] = "binary",
	[RX_REJ_UNKNOWN] = "unknown_line",
	[RX_REJ_SIM] = "bad_sim",
	[RX_REJ_GPS] = "bad_gps",
	[RX_REJ_STATUS] = "bad_status",
	[RX_REJ_NMEA_CHECKSUM] = "nmea_checksum",
	[RX_REJ_NMEA_NO_CHECKSUM] = "nmea_no_checksum",
	[RX_REJ_NMEA_SYNTAX] = "nmea_syntax",
	[RX_REJ_CANDUMP] = "bad_candump",
	[RX_REJ_V2_COBS] = "v2_cobs",
	[RX_REJ_V2_SHORT] = "v2_short",
	[RX_REJ_V2_CRC] = "v2_crc",
	[RX_REJ_V2_TYPE] = "v2_type",
	[RX_REJ_V2_PAYLOAD] = "v2_payload",
	[RX_REJ_SIM_ID] = "sim_id",
	[RX_REJ_NMEA_JUNK] = "nmea_junk",
};

const char *rx_reject_name(enum rx_reject r)
{
	if ((unsigned)r >= RX_REJ__COUNT)
		return "invalid";
	return rx__reject_names[r];
}

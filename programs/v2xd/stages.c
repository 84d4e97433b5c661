/*
 * stages.c - the vehicle pipeline, as rt/pipeline.h runs it:
 *
 *   ESP32(1) tty -> can_rx --ring--> decode -> publishes the vehicle state ("vstate", RCU)
 *                         \--ring--> log -> can_data.csv, candump log, gps_data.csv, snapshots, merged rows,
 *                                     ^      ESP_now_data_*.csv, v2g_sessions_*.csv
 *   ESP32(2) tty <-> hub_io --ring--> v2g --ring--/   (v2g reads "vstate"; its outbound Items and V2G messages
 *                          ^--ring------/ | ^           go back to hub_io)
 *                          session events v | RPC commands
 *                                      uplink -> spool -> MQTT broker (samples "vstate" once a second)
 *
 * can_rx gives every record to both rings, so the CSV rows never wait behind decoding, and decoding (and the
 * published state) never waits behind the disk for long: can_rx waits for the log's ring (back-pressure, bounded)
 * only until it finds it stuck, then drops rows (counted) until the log catches up.  A new stage is one line here (and its rings), its own folder, and
 * its configuration table.
 */
#include "programs/v2xd/v2xd.h"

#include <errno.h>
#include <string.h>

#include "stages/can_rx/can_rx.h"
#include "stages/decode/decode_stage.h"
#include "stages/hub_io/hub_io.h"
#include "stages/log/log_stage.h"
#include "stages/uplink/rpc.h"
#include "stages/uplink/telemetry.h"
#include "stages/uplink/uplink_stage.h"
#include "stages/v2g/v2g_stage.h"
#include "vehicle/record.h"

const struct rt_stage_desc *const v2xd_stages[] = {
	&can_rx_stage,
	&decode_stage, /* provides "vstate" */
	&hub_io_stage,
	&v2g_stage,    /* after decode (reads "vstate"), before log (provides "log_sinks.v2g") */
	&uplink_stage, /* samples "vstate", spools, publishes; session events from v2g, RPC commands back */
	&log_stage,
};
const size_t v2xd_n_stages = sizeof(v2xd_stages) / sizeof(v2xd_stages[0]);

const struct rt_ring_desc v2xd_rings[] = {
	/* Decode keeps up with any bus (a few hundred ns a frame): 16384 records (3.6 s at bus rate) is ample, and keeps
	 * the resident memory under the 32 MB budget.  The log's ring keeps the [pipeline] ring size (14 s at bus
	 * rate by default), a buffer against a slow disk. */
	{.from = "can_rx", .to = "decode", .rec_size = sizeof(struct rx_record), .capacity = 16384},
	{.from = "can_rx", .to = "log", .rec_size = sizeof(struct rx_record)},
	/* The hub link carries a few messages a second: small rings (the default 65536 would cost tens of MB). */
	{.from = "hub_io", .to = "v2g", .rec_size = sizeof(struct hub_rx_rec), .capacity = 256},
	{.from = "v2g", .to = "hub_io", .rec_size = sizeof(struct hub_tx_rec), .capacity = 256},
	{.from = "v2g", .to = "log", .rec_size = sizeof(struct log_line), .capacity = 1024},
	{.from = "v2g", .to = "uplink", .rec_size = sizeof(struct telem_session_event), .capacity = 64},
	{.from = "uplink", .to = "v2g", .rec_size = sizeof(struct rpc_cmd), .capacity = 64},
};
const size_t v2xd_n_rings = sizeof(v2xd_rings) / sizeof(v2xd_rings[0]);

int v2xd_framing_parse(const char *s, enum framer_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = FRAMER_AUTO;
	else if (strcmp(s, "text") == 0)
		*out = FRAMER_TEXT;
	else if (strcmp(s, "v2") == 0)
		*out = FRAMER_V2;
	else
		return -EINVAL;
	return 0;
}

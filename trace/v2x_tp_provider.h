/*
 * v2x_tp_provider.h - the LTTng-UST tracepoint provider `v2x`: every event of the project.
 *
 * Code never includes this file directly: it includes trace/tp.h and writes V2X_TP(event, args...), which compiles to
 * nothing with TRACE=0.  Conventions for adding an event:
 *   - name it <area>_<what happened> (can_frame_parsed, snapshot_written), one event per fact;
 *   - integers for hot-path events (ids, sequence numbers, monotonic ns, lengths); a string only on rare events
 *     (rejections, errors, stage start/stop), because a string costs a strlen and a copy;
 *   - carry the record's sequence number and rx_mono_ns where there is one, so the analysis can follow one frame
 *     through every stage and compute per-hop latency from the event timestamps;
 *   - add it below, in the section of its stage, and list it in trace/README.md.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER v2x

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "trace/v2x_tp_provider.h"

#if !defined(V2X_TP_PROVIDER_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define V2X_TP_PROVIDER_H

#include <lttng/tracepoint.h>
#include <stdint.h>

/* ---- runtime (rt/) ---- */

LTTNG_UST_TRACEPOINT_EVENT(v2x, stage_start,
	LTTNG_UST_TP_ARGS(const char *, name, int, cpu, int, policy, int, prio),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(int, cpu, cpu)
		lttng_ust_field_integer(int, policy, policy)
		lttng_ust_field_integer(int, prio, prio)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, stage_stop,
	LTTNG_UST_TP_ARGS(const char *, name, uint64_t, in, uint64_t, out, uint64_t, dropped),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(uint64_t, in, in)
		lttng_ust_field_integer(uint64_t, out, out)
		lttng_ust_field_integer(uint64_t, dropped, dropped)))

/* A push found the ring full: the record was not queued (counted by the producer). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, ring_overflow,
	LTTNG_UST_TP_ARGS(const char *, ring, uint64_t, dropped_total),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(ring, ring)
		lttng_ust_field_integer(uint64_t, dropped_total, dropped_total)))

/* ---- can_rx ---- */

LTTNG_UST_TRACEPOINT_EVENT(v2x, can_bytes_read,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint32_t, len, uint64_t, rx_mono_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(uint32_t, len, len)
		lttng_ust_field_integer(uint64_t, rx_mono_ns, rx_mono_ns)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, can_frame_parsed,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint32_t, id, uint64_t, seq, uint64_t, rx_mono_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer_hex(uint32_t, id, id)
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(uint64_t, rx_mono_ns, rx_mono_ns)))

/*
 * Records seq first_seq .. first_seq + count - 1 of this link, all received by the read that returned at
 * rx_mono_ns, were pushed to the rings (one event per batch: the default session records this, not the per-frame
 * can_frame_parsed, which v2x-trace enables only with --per-frame).
 */
LTTNG_UST_TRACEPOINT_EVENT(v2x, can_batch_parsed,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint64_t, first_seq, uint32_t, count, uint64_t, rx_mono_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint32_t, count, count)
		lttng_ust_field_integer(uint64_t, rx_mono_ns, rx_mono_ns)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, can_frame_rejected,
	LTTNG_UST_TP_ARGS(uint32_t, link, const char *, reason),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_string(reason, reason)))

/* The serial device went away or came back (state: 0 closed, 1 open). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, link_state,
	LTTNG_UST_TP_ARGS(uint32_t, link, int, state, int, err),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(int, state, state)
		lttng_ust_field_integer(int, err, err)))

/* ---- decode ---- */

LTTNG_UST_TRACEPOINT_EVENT(v2x, can_signals_decoded,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint32_t, id, uint64_t, seq, uint32_t, nvalid, uint32_t, ninvalid),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer_hex(uint32_t, id, id)
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(uint32_t, nvalid, nvalid)
		lttng_ust_field_integer(uint32_t, ninvalid, ninvalid)))

/*
 * Decode applied the records of this link with seq first_seq .. last_seq (count of them; a batch popped from its
 * input ring) to its live state; nvalid / ninvalid signal values in all.  The per-frame can_signals_decoded is
 * enabled only by v2x-trace --per-frame.
 */
LTTNG_UST_TRACEPOINT_EVENT(v2x, can_batch_decoded,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint64_t, first_seq, uint64_t, last_seq, uint32_t, count, uint32_t, nvalid,
			  uint32_t, ninvalid),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint64_t, last_seq, last_seq)
		lttng_ust_field_integer(uint32_t, count, count)
		lttng_ust_field_integer(uint32_t, nvalid, nvalid)
		lttng_ust_field_integer(uint32_t, ninvalid, ninvalid)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, gps_fix,
	LTTNG_UST_TP_ARGS(uint64_t, seq, int, valid, int, sats),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(int, valid, valid)
		lttng_ust_field_integer(int, sats, sats)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, state_published,
	LTTNG_UST_TP_ARGS(uint64_t, generation, uint64_t, last_seq),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, generation, generation)
		lttng_ust_field_integer(uint64_t, last_seq, last_seq)))

/* ---- log ---- */

/* A CSV row for this record is in the writer's buffer (receive-to-logged). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, log_row,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint64_t, seq, uint64_t, rx_mono_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(uint64_t, rx_mono_ns, rx_mono_ns)))

/*
 * The CSV rows (and candump lines) of this link's records seq first_seq .. last_seq (count of them, one batch) are
 * in the writer's buffer.  The per-frame log_row is enabled only by v2x-trace --per-frame.
 */
LTTNG_UST_TRACEPOINT_EVENT(v2x, log_batch,
	LTTNG_UST_TP_ARGS(uint32_t, link, uint64_t, first_seq, uint64_t, last_seq, uint32_t, count),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint64_t, last_seq, last_seq)
		lttng_ust_field_integer(uint32_t, count, count)))

/* A buffered file was written out (write() returned). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, log_flush,
	LTTNG_UST_TP_ARGS(const char *, file, uint64_t, bytes, uint64_t, duration_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(file, file)
		lttng_ust_field_integer(uint64_t, bytes, bytes)
		lttng_ust_field_integer(uint64_t, duration_ns, duration_ns)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, log_write_error,
	LTTNG_UST_TP_ARGS(const char *, file, int, err, uint64_t, bytes_pending),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(file, file)
		lttng_ust_field_integer(int, err, err)
		lttng_ust_field_integer(uint64_t, bytes_pending, bytes_pending)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, log_rotated,
	LTTNG_UST_TP_ARGS(const char *, file),
	LTTNG_UST_TP_FIELDS(lttng_ust_field_string(file, file)))

/* ---- snapshot path ---- */

/* The logging stage copied its latest-N window and handed it to the snapshot writer. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, snapshot_handoff,
	LTTNG_UST_TP_ARGS(uint32_t, kind, uint32_t, rows, uint64_t, copy_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, kind, kind)
		lttng_ust_field_integer(uint32_t, rows, rows)
		lttng_ust_field_integer(uint64_t, copy_ns, copy_ns)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, snapshot_written,
	LTTNG_UST_TP_ARGS(uint32_t, kind, uint64_t, bytes, uint64_t, duration_ns),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, kind, kind)
		lttng_ust_field_integer(uint64_t, bytes, bytes)
		lttng_ust_field_integer(uint64_t, duration_ns, duration_ns)))

LTTNG_UST_TRACEPOINT_EVENT(v2x, snapshot_renamed,
	LTTNG_UST_TP_ARGS(uint32_t, kind, int, err),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, kind, kind)
		lttng_ust_field_integer(int, err, err)))

/* ---- uplink and its spool ---- */

/* Records reached the spool's segment file (write() returned): the last seq written, how many, bytes written. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_append,
	LTTNG_UST_TP_ARGS(uint64_t, last_seq, uint64_t, records, uint64_t, bytes),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, last_seq, last_seq)
		lttng_ust_field_integer(uint64_t, records, records)
		lttng_ust_field_integer(uint64_t, bytes, bytes)))

/* A record was acknowledged; acked_seq is the durable position's candidate (contiguous prefix). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_ack,
	LTTNG_UST_TP_ARGS(uint64_t, seq, uint64_t, acked_seq),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer(uint64_t, acked_seq, acked_seq)))

/* The oldest segment was evicted (reason 0 = size bound, 1 = disk full); records = unacknowledged ones lost. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_evict,
	LTTNG_UST_TP_ARGS(uint64_t, first_seq, uint64_t, records, uint64_t, bytes, int, reason),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint64_t, records, records)
		lttng_ust_field_integer(uint64_t, bytes, bytes)
		lttng_ust_field_integer(int, reason, reason)))

/* Damaged bytes skipped by the reader in segment seg at offset off. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_corrupt,
	LTTNG_UST_TP_ARGS(uint64_t, seg, uint64_t, off, uint64_t, bytes),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seg, seg)
		lttng_ust_field_integer(uint64_t, off, off)
		lttng_ust_field_integer(uint64_t, bytes, bytes)))

/* A torn final record was cut at open. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_torn_cut,
	LTTNG_UST_TP_ARGS(uint64_t, seg, uint64_t, off, uint64_t, bytes),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, seg, seg)
		lttng_ust_field_integer(uint64_t, off, off)
		lttng_ust_field_integer(uint64_t, bytes, bytes)))

/* A spool file operation failed (op: write, fdatasync, pos, unlink) or writing recovered (op "recovered", err 0). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, spool_error,
	LTTNG_UST_TP_ARGS(const char *, op, int, err),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(op, op)
		lttng_ust_field_integer(int, err, err)))

/* A telemetry batch was handed to libmosquitto (QoS 1): spool records first_seq .. first_seq + records - 1. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, uplink_publish,
	LTTNG_UST_TP_ARGS(int, mid, uint64_t, first_seq, uint32_t, records, uint32_t, bytes),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, mid, mid)
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint32_t, records, records)
		lttng_ust_field_integer(uint32_t, bytes, bytes)))

/* The same publish, seen from the CAN path: the newest frame (its seq, as in can_frame_parsed) whose data the batch's
 * last sample carries; every frame up to last_frame_seq has reached the MQTT client then (receive -> MQTT publish). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, mqtt_publish,
	LTTNG_UST_TP_ARGS(int, mid, uint64_t, spool_seq, uint64_t, last_frame_seq),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, mid, mid)
		lttng_ust_field_integer(uint64_t, spool_seq, spool_seq)
		lttng_ust_field_integer(uint64_t, last_frame_seq, last_frame_seq)))

/* The broker acknowledged (PUBACK) a batch. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, uplink_puback,
	LTTNG_UST_TP_ARGS(int, mid, uint64_t, first_seq, uint32_t, records),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, mid, mid)
		lttng_ust_field_integer(uint64_t, first_seq, first_seq)
		lttng_ust_field_integer(uint32_t, records, records)))

/* Broker connection state change (state: 0 down, 1 connecting, 2 up); rc = CONNACK code or mosquitto error. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, uplink_conn,
	LTTNG_UST_TP_ARGS(int, state, int, rc),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, state, state)
		lttng_ust_field_integer(int, rc, rc)))

/* Backlog drain progress: records acknowledged so far in this drain, records still waiting. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, uplink_drain,
	LTTNG_UST_TP_ARGS(uint64_t, records, uint64_t, backlog),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, records, records)
		lttng_ust_field_integer(uint64_t, backlog, backlog)))

/* An RPC request was answered: method code (enum rpc_method) and error code (enum rpc_err, 0 = ok). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, uplink_rpc,
	LTTNG_UST_TP_ARGS(int, method, int, err),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int, method, method)
		lttng_ust_field_integer(int, err, err)))

/* ---- hub link and V2G session (issue 8) ---- */

/* A unit from the hub was accepted (kind: item, station, slot, ack) with the link's sequence number. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, hub_item_in,
	LTTNG_UST_TP_ARGS(uint32_t, link, const char *, kind, uint64_t, link_seq, uint32_t, dev_seq),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_string(kind, kind)
		lttng_ust_field_integer(uint64_t, link_seq, link_seq)
		lttng_ust_field_integer(uint32_t, dev_seq, dev_seq)))

/* A unit from the hub was rejected (hub_frame.h reason names). */
LTTNG_UST_TRACEPOINT_EVENT(v2x, hub_frame_rejected,
	LTTNG_UST_TP_ARGS(uint32_t, link, const char *, reason),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_string(reason, reason)))

/* A frame was written to the hub (kind: item or v2g), or dropped (written 0) with the reason. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, hub_item_out,
	LTTNG_UST_TP_ARGS(uint32_t, link, const char *, kind, uint32_t, bytes, int, written),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, link, link)
		lttng_ust_field_string(kind, kind)
		lttng_ust_field_integer(uint32_t, bytes, bytes)
		lttng_ust_field_integer(int, written, written)))

/* A transition of the charging-session machine. */
LTTNG_UST_TRACEPOINT_EVENT(v2x, v2g_transition,
	LTTNG_UST_TP_ARGS(const char *, from, const char *, to, const char *, event, uint32_t, session_id),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(from, from)
		lttng_ust_field_string(to, to)
		lttng_ust_field_string(event, event)
		lttng_ust_field_integer(uint32_t, session_id, session_id)))

#endif /* V2X_TP_PROVIDER_H */

#include <lttng/tracepoint-event.h>

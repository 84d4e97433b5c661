/*
 * decoder.h - the compiled CAN decoder: a loaded DBC turned into a table the decode stage runs per frame.
 *
 * decoder_create() compiles every message of a struct dbc into precomputed extractions (one 64-bit big- or
 * little-endian load of the data bytes, a shift and a mask per signal), scaling, validity ranges and frame gates,
 * looked up by CAN id through a direct 2048-entry array (11-bit ids) and a small open-addressing hash (29-bit ids).
 * Then decoder_frame() costs a lookup and a few arithmetic operations per signal, and never allocates.
 *
 * Two paths compute the same values: a message without multiplexing whose signals are all integers (signed, or
 * unsigned up to 63 bits) takes the fast path when the frame's DLC covers every signal and the frame is not gated
 * (the per-message checks, done once): per signal one shift, mask and sign fold, the scaling and one range
 * comparison, which is left out for a message whose ranges hold every raw value (decided at creation from the
 * extreme raw values: the value is monotonic in the raw value).  Every other frame takes the generic path, which
 * checks each rule per signal.  DECODER_F_GENERIC compiles a decoder that always takes the generic path (the
 * reference test_decode_fast compares the fast path against).  Each compiled signal carries its canonical index,
 * so decoder_frame_apply() and decoder_records_apply() store values straight into a struct vstate, without the
 * intermediate list of decoder_frame(); decoder_records_apply() takes a whole batch of records in one call.
 * Measured on perf/valgrind.sh callgrind's Twizy replay (3.3 values per frame): about 190 instructions per frame
 * from the batch to the updated state, derived signals included, against 430 through decoder_frame() and
 * vstate_apply() one value at a time.
 *
 * Signals are numbered 0 .. decoder_signal_count() - 1: the DBC's signals in file order (message by message), then
 * the derived signals of twizy_derived.h.  Each maps to its canonical signal (signals.h) by name, or to -1.
 *
 * Validity (every refusal is counted in decode_result.invalid, the value is never output):
 *   DEC_INV_RANGE      the physical value is outside the DBC's [min|max] (not checked when min == max == 0);
 *   DEC_INV_SHORT_DLC  the frame's DLC does not cover all of the signal's bytes (never read stale bytes);
 *   DEC_INV_GATED      the frame is gated: a signal of the message has a VAL_ entry with text "ignore" and the frame's
 *                      raw value of that signal is such an entry (0x155 B3 = 0x94, BMS start-up/shut-down); every
 *                      OTHER signal of the frame is refused.  When the gate signal itself cannot be read (short DLC),
 *                      the frame's validity is unknown and the other signals are refused too.
 * Multiplexed signals (m<n>) are decoded only when the multiplexor's raw value is n (otherwise silently absent).
 * RTR frames carry no data: known_id is set, nothing is decoded.  Error frames (CAN_ERR_FLAG) are not known ids.
 *
 * Threads: one decoder belongs to one thread (the decode stage); decoder_frame/decoder_tick mutate derived state.
 * The const query functions may be called from any thread once creation is complete (the tables never change).
 */
#ifndef V2X_STAGES_DECODE_DECODER_H
#define V2X_STAGES_DECODE_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vehicle/record.h"
#include "vehicle/vstate.h"
#include "stages/decode/dbc.h"

struct decoder;

#define DECODE_MAX_VALUES 80

struct decoded_value {
	uint32_t sig;  /* decoder signal index */
	double value;  /* physical value, in the signal's unit */
};

enum decode_invalid {
	DEC_INV_RANGE,
	DEC_INV_SHORT_DLC,
	DEC_INV_GATED,
	DEC_INV__COUNT
};

struct decode_result {
	unsigned n;                          /* values in v */
	struct decoded_value v[DECODE_MAX_VALUES];
	unsigned invalid[DEC_INV__COUNT];    /* signal values refused, by reason */
	bool known_id;                       /* the DBC describes the frame's id */
};

/* Counts of the frames decoder_frame_apply() decoded, summed over them (the caller zeroes it, e.g. per batch). */
struct decode_tally {
	uint64_t frames;                     /* frames decoded */
	uint64_t n;                          /* values decoded */
	uint64_t ninvalid;                   /* values refused: the sum of invalid[] */
	uint64_t invalid[DEC_INV__COUNT];    /* values refused, by reason */
	uint64_t unknown_ids;                /* frames whose id the DBC does not describe */
};

/* decoder_create_flags() flags. */
#define DECODER_F_GENERIC 0x1u /* every frame takes the generic path (a reference for tests and benchmarks) */

/* Compiles dbc into a new decoder.  Returns 0 and *out, -ENOMEM, -E2BIG when one frame of a message could yield
   more values than DECODE_MAX_VALUES leaves room for (its signals plus the derived ones), or -EINVAL when two
   signals of one message have "ignore" VAL_ entries (an ambiguous gate).  dbc is not referenced
   afterwards and may be freed.  Allocates; start-up only. */
int decoder_create(struct decoder **out, const struct dbc *dbc);

/* decoder_create() with flags (DECODER_F_GENERIC or 0).  Same returns; allocates; start-up only. */
int decoder_create_flags(struct decoder **out, const struct dbc *dbc, unsigned flags);

/* Frees d (NULL is fine). */
void decoder_destroy(struct decoder *d);

/* Returns the number of signals: DBC signals plus derived signals. */
size_t decoder_signal_count(const struct decoder *d);
/* Returns the name of signal sig (owned by d), or NULL when sig is out of range. */
const char *decoder_signal_name(const struct decoder *d, size_t sig);
/* Returns the unit of signal sig ("" when none, owned by d), or NULL when sig is out of range. */
const char *decoder_signal_unit(const struct decoder *d, size_t sig);
/* Returns the enum canon_sig of signal sig, or -1 (not canonical, or out of range). */
int decoder_signal_canon(const struct decoder *d, size_t sig);
/* Returns the signal index called name (the first one when several messages use the name), or -1. */
long decoder_signal_find(const struct decoder *d, const char *name);
/* Returns the text of value for enum-like signals printed as text (charge_phase), else NULL.  Static storage. */
const char *decoder_value_text(const struct decoder *d, size_t sig, double value);
/* Returns the DBC's VAL_ description of value for signal sig (e.g. bms_state 36 -> "ready"), or NULL.  Owned by d. */
const char *decoder_value_label(const struct decoder *d, size_t sig, double value);
/* Returns whether the DBC describes id (CAN_EFF_FLAG set for 29-bit ids). */
bool decoder_knows_id(const struct decoder *d, uint32_t id);

/* Decodes one frame received at t_ns (any consistent clock, used by derived signals such as bus_online): out gets
   every valid signal of the frame, then the derived signals that this frame updated.  Returns out->n.
   No allocation, no blocking; the decoder's thread only. */
unsigned decoder_frame(struct decoder *d, const struct can_frame_data *f, int64_t t_ns, struct decode_result *out);

/* Decodes one frame like decoder_frame() and, instead of listing the values, stores each one whose signal is
   canonical into s: s->value[c] = value and s->t_real_ns[c] = rx_real_ns, in decoder_frame()'s output order, so s's
   values end exactly as vstate_apply() of decoder_frame()'s result leaves them.  Nothing else of s is touched (the
   frame's own fields and counters: vstate_frame_applied, vstate_add_tally).  Adds the frame's counts to *t.
   Returns the frame's number of values (decoder_frame()'s out->n).  No allocation, no blocking; the decoder's
   thread only. */
unsigned decoder_frame_apply(struct decoder *d, const struct can_frame_data *f, int64_t t_ns, struct vstate *s,
			     int64_t rx_real_ns, struct decode_tally *t);

/* Decodes the CAN records among recs[0 .. n-1], in order, into s exactly as decoder_frame_apply(d, &rec->u.can,
   rec->rx_mono_ns, s, rec->rx_real_ns, t) on each would, then sets s's frame fields from the last of them as
   vstate_frame_applied() would (last_seq, updated_real_ns, last_frame_mono_ns).  Records of other types are
   skipped: returns how many.  The per-batch form (no call per frame).  No allocation, no blocking; the decoder's
   thread only. */
size_t decoder_records_apply(struct decoder *d, const struct rx_record *recs, size_t n, struct vstate *s,
			     struct decode_tally *t);

/* Time passing with no frame (called periodically, same clock as decoder_frame): emits bus_online = 0 once 10 s
   passed since the last frame (or since the first tick when no frame ever came).  Returns out->n (0 or 1).
   known_id is false.  No allocation; the decoder's thread only. */
unsigned decoder_tick(struct decoder *d, int64_t t_ns, struct decode_result *out);

#endif

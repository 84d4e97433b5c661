/*
 * decoder.c - struct dbc -> per-id extraction tables, and the per-frame decode (see decoder.h).
 *
 * Extraction: the 8 data bytes are loaded once as a little-endian and a big-endian 64-bit word.  In the big-endian
 * word, bit j of byte k sits at position (7 - k) * 8 + j, so a Motorola signal whose MSB is DBC bit b (byte b / 8,
 * bit b % 8) has its MSB at position (7 - b / 8) * 8 + b % 8 and its LSB length - 1 below: one right shift and a
 * mask.  In the little-endian word, DBC bit b of an Intel signal is at position b.  The parser guarantees the bits
 * lie within the message's DLC (<= 8 bytes), so the shift is never negative; per frame, a signal whose bytes reach
 * past the frame's DLC is refused before it is read.
 *
 * Scaling: when 1 / factor is an integer n (within 1e-9), the value is raw / n + offset, so that raw / 400 or raw / 10
 * come out correctly rounded (raw * 0.0025 does not); otherwise raw * factor + offset.
 */
#include "stages/decode/decoder.h"

#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vehicle/signals.h"
#include "stages/decode/twizy_derived.h"
#include "stages/decode/vstate_update.h"

#define DEC_NO_INPUT 0xFF

/* A compiled signal.  The fields the fast path reads come first, within its first 64 bytes. */
struct dec_sig {
	uint64_t mask;       /* length_bits ones */
	uint64_t sign;       /* the sign bit (1 << (length_bits - 1)) of a signed integer, else 0: (raw ^ sign) - sign */
	double scale;        /* divisor when use_div, else factor */
	double offset;
	double lo, hi;       /* valid physical range, widened by a millionth of a raw step against rounding; the whole
	                        line (-inf, +inf) when the DBC gives none */
	uint32_t sig;        /* decoder signal index */
	int16_t canon;       /* enum canon_sig, -1 = not canonical */
	uint8_t shift;       /* right shift of the (big- or little-endian) data word */
	uint8_t motorola;    /* 1 = read the big-endian word (index into the frame's {le, be} pair) */
	bool use_div;
	uint8_t twz_in;      /* enum twz_in, or DEC_NO_INPUT */
	/* the generic path only */
	uint8_t need_dlc;    /* bytes the signal reaches into */
	uint8_t length_bits;
	bool is_signed, check_range;
	uint8_t value_type;  /* enum dbc_value_type */
	int64_t mux_value;   /* decode only when the multiplexor's raw value is this; -1 = always */
};

struct dec_msg {
	const struct dec_sig *sigs, *end; /* its n signals in d->sigs, [sigs, end); both NULL when none */
	uint32_t id;
	uint32_t n;
	int32_t gate;           /* local index of the gate signal, -1 = none */
	int32_t mux;            /* local index of the multiplexor, -1 = none */
	uint32_t gate_first, n_gate; /* raw values (d->gate_raw) that gate the frame */
	bool fast;              /* no multiplexing and every signal an integer of the fast path (decoder__message) */
	bool twz;               /* a signal feeds a derived one (twz_in) */
	bool range;             /* a signal's range can refuse a value (decoder__can_refuse) */
	uint8_t need_dlc;       /* the most bytes any signal of the message reaches into */
};

struct dec_info {
	char name[DBC_NAME_MAX + 1];
	char *unit;
	int canon;
	double factor, offset;
	struct dbc_value_desc *vals; /* copies; texts owned here */
	size_t n_vals;
};

struct dec_eff_slot {
	uint32_t id;  /* with CAN_EFF_FLAG */
	int32_t msg;  /* -1 = empty */
};

struct decoder {
	int32_t sff[CAN_SFF_MASK + 1];   /* message index by 11-bit id, -1 = unknown */
	struct dec_eff_slot *eff;        /* open addressing, linear probing */
	uint32_t eff_mask;               /* slots - 1 (power of two minus one), 0 with no 29-bit ids */
	unsigned eff_bits;
	struct dec_msg *msgs;
	size_t n_msgs;
	struct dec_sig *sigs;            /* the DBC signals, message by message */
	size_t n_dbc_sigs;
	struct dec_info *info;           /* every signal, DBC then derived */
	size_t n_info;
	int64_t *gate_raw;
	size_t n_gate_raw;
	struct twizy_derived td;
	int16_t out_canon[TWZ_OUT__COUNT]; /* enum canon_sig of each derived output, -1 = none */
};

static uint32_t decoder__eff_hash(uint32_t id, unsigned bits)
{
	return (uint32_t)((id * 0x9E3779B1u) >> (32 - bits));
}

static const struct dec_msg *decoder__lookup(const struct decoder *d, uint32_t id)
{
	if (!(id & CAN_EFF_FLAG))
		return id <= CAN_SFF_MASK && d->sff[id] >= 0 ? &d->msgs[d->sff[id]] : NULL;
	if (!d->eff)
		return NULL;
	id = (id & CAN_EFF_MASK) | CAN_EFF_FLAG;
	for (uint32_t i = decoder__eff_hash(id, d->eff_bits);; i = (i + 1) & d->eff_mask) {
		if (d->eff[i].msg < 0)
			return NULL;
		if (d->eff[i].id == id)
			return &d->msgs[d->eff[i].msg];
	}
}

bool decoder_knows_id(const struct decoder *d, uint32_t id)
{
	return !(id & CAN_ERR_FLAG) && decoder__lookup(d, id & ~CAN_RTR_FLAG) != NULL;
}

struct decoder__has_ctx {
	const struct dbc *dbc;
};

static bool decoder__dbc_has(void *ctx, const char *name)
{
	const struct dbc *dbc = ((struct decoder__has_ctx *)ctx)->dbc;
	for (size_t i = 0; i < dbc->n_msgs; i++)
		if (dbc_find_signal(&dbc->msgs[i], name))
			return true;
	return false;
}

/* Most values one frame of m can yield: its plain signals plus its largest multiplexed group. */
static size_t decoder__max_values(const struct dbc_message *m)
{
	size_t plain = 0, group_max = 0;
	for (size_t i = 0; i < m->n_sigs; i++) {
		if (m->sigs[i].mux_value < 0) {
			plain++;
			continue;
		}
		size_t group = 0;
		for (size_t j = 0; j < m->n_sigs; j++)
			group += m->sigs[j].mux_value == m->sigs[i].mux_value;
		if (group > group_max)
			group_max = group;
	}
	return plain + group_max;
}

static void decoder__compile_sig(struct dec_sig *c, const struct dbc_signal *s, uint32_t index)
{
	memset(c, 0, sizeof *c);
	c->sig = index;
	c->canon = (int16_t)canon_sig_lookup(s->name);
	c->length_bits = (uint8_t)s->length_bits;
	c->mask = s->length_bits == 64 ? ~0ULL : (1ULL << s->length_bits) - 1;
	if (s->is_signed && s->value_type == DBC_VT_INT)
		c->sign = 1ULL << (s->length_bits - 1);
	c->motorola = s->motorola;
	if (s->motorola) {
		unsigned msb_pos = (7 - s->start_bit / 8) * 8 + s->start_bit % 8;
		c->shift = (uint8_t)(msb_pos + 1 - s->length_bits);
	} else {
		c->shift = (uint8_t)s->start_bit;
	}
	c->need_dlc = (uint8_t)dbc_signal_bytes_needed(s);
	c->is_signed = s->is_signed;
	c->value_type = s->value_type;
	c->scale = s->factor;
	c->offset = s->offset;
	double inv = 1.0 / s->factor, n = round(inv);
	if (n != 0 && fabs(inv - n) <= 1e-9 * fabs(n)) {
		c->use_div = true;
		c->scale = n;
	}
	c->check_range = !(s->min == 0 && s->max == 0);
	double tol = fabs(s->factor) * 1e-6;
	c->lo = c->check_range ? s->min - tol : -(double)INFINITY;
	c->hi = c->check_range ? s->max + tol : (double)INFINITY;
	c->mux_value = s->mux_value;
	c->twz_in = DEC_NO_INPUT;
	for (int i = 0; i < TWZ_IN__COUNT; i++)
		if (strcmp(s->name, twizy_derived_input_name((enum twz_in)i)) == 0)
			c->twz_in = (uint8_t)i;
}

/* The fast path's value of raw (sign-extended) for c. */
static double decoder__fast_value(const struct dec_sig *c, int64_t raw)
{
	double x = (double)raw;
	return c->use_div ? x / c->scale + c->offset : x * c->scale + c->offset;
}

/* Whether c's range can refuse one of its integer raw values.  The value is a monotonic function of the raw value
   (each floating-point step, conversion, product or quotient by a constant and sum with a constant, is monotonic),
   so the values of the smallest and the largest raw value bound all the others. */
static bool decoder__can_refuse(const struct dec_sig *c)
{
	if (!c->check_range)
		return false;
	if (c->value_type != DBC_VT_INT || c->length_bits >= 64)
		return true;
	int64_t lo = c->is_signed ? -(int64_t)(c->mask >> 1) - 1 : 0;
	int64_t hi = c->is_signed ? (int64_t)(c->mask >> 1) : (int64_t)c->mask;
	double a = decoder__fast_value(c, lo), b = decoder__fast_value(c, hi);
	return !(a >= c->lo && a <= c->hi && b >= c->lo && b <= c->hi);
}

/* Whether the fast path computes s's value exactly as the generic one: an integer read as (double)(int64_t) of
   its sign-extended raw value, which for an unsigned signal holds up to 63 bits. */
static bool decoder__sig_fast(const struct dbc_signal *s)
{
	return s->value_type == DBC_VT_INT && s->mux_value < 0 && !s->is_multiplexor &&
	       (s->is_signed || s->length_bits < 64) && isfinite(s->factor) && isfinite(s->offset);
}

static int decoder__copy_info(struct dec_info *info, const struct dbc_signal *s)
{
	memcpy(info->name, s->name, sizeof info->name);
	info->canon = canon_sig_lookup(s->name);
	info->factor = s->factor;
	info->offset = s->offset;
	if (!(info->unit = strdup(s->unit)))
		return -ENOMEM;
	if (s->n_vals) {
		if (!(info->vals = calloc(s->n_vals, sizeof *info->vals)))
			return -ENOMEM;
		for (size_t k = 0; k < s->n_vals; k++) {
			info->vals[k].raw = s->vals[k].raw;
			if (!(info->vals[k].text = strdup(s->vals[k].text)))
				return -ENOMEM;
			info->n_vals = k + 1;
		}
	}
	return 0;
}

static int decoder__build_eff(struct decoder *d)
{
	size_t n_eff = 0;
	for (size_t i = 0; i < d->n_msgs; i++)
		n_eff += (d->msgs[i].id & CAN_EFF_FLAG) != 0;
	if (n_eff == 0)
		return 0;
	unsigned bits = 3;
	while ((1ULL << bits) < 2 * n_eff)
		bits++;
	if (bits > 31)
		return -E2BIG;
	d->eff_bits = bits;
	d->eff_mask = (1u << bits) - 1;
	if (!(d->eff = malloc(((size_t)d->eff_mask + 1) * sizeof *d->eff)))
		return -ENOMEM;
	for (uint32_t i = 0; i <= d->eff_mask; i++)
		d->eff[i].msg = -1;
	for (size_t m = 0; m < d->n_msgs; m++) {
		uint32_t id = d->msgs[m].id;
		if (!(id & CAN_EFF_FLAG))
			continue;
		uint32_t i = decoder__eff_hash(id, bits);
		while (d->eff[i].msg >= 0)
			i = (i + 1) & d->eff_mask;
		d->eff[i].id = id;
		d->eff[i].msg = (int32_t)m;
	}
	return 0;
}

int decoder_create(struct decoder **out, const struct dbc *dbc)
{
	return decoder_create_flags(out, dbc, 0);
}

int decoder_create_flags(struct decoder **out, const struct dbc *dbc, unsigned flags)
{
	int rc = -ENOMEM;
	struct decoder *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i <= CAN_SFF_MASK; i++)
		d->sff[i] = -1;

	size_t n_sigs = 0, n_gate = 0;
	for (size_t m = 0; m < dbc->n_msgs; m++) {
		n_sigs += dbc->msgs[m].n_sigs;
		for (size_t j = 0; j < dbc->msgs[m].n_sigs; j++)
			for (size_t k = 0; k < dbc->msgs[m].sigs[j].n_vals; k++)
				n_gate += strcmp(dbc->msgs[m].sigs[j].vals[k].text, "ignore") == 0;
	}
	if (n_sigs > UINT32_MAX - TWZ_OUT__COUNT) {
		rc = -E2BIG;
		goto fail;
	}

	struct decoder__has_ctx hc = {dbc};
	uint32_t next_sig = (uint32_t)n_sigs;
	twizy_derived_init(&d->td, decoder__dbc_has, &hc, &next_sig);
	size_t room = DECODE_MAX_VALUES - twizy_derived_max_outputs(&d->td);
	for (size_t m = 0; m < dbc->n_msgs; m++)
		if (decoder__max_values(&dbc->msgs[m]) > room) {
			rc = -E2BIG;
			goto fail;
		}

	d->n_msgs = dbc->n_msgs;
	d->n_dbc_sigs = n_sigs;
	d->n_info = next_sig;
	if ((dbc->n_msgs && !(d->msgs = calloc(dbc->n_msgs, sizeof *d->msgs))) ||
	    (n_sigs && !(d->sigs = calloc(n_sigs, sizeof *d->sigs))) ||
	    (d->n_info && !(d->info = calloc(d->n_info, sizeof *d->info))) ||
	    (n_gate && !(d->gate_raw = calloc(n_gate, sizeof *d->gate_raw))))
		goto fail;

	uint32_t s_index = 0;
	for (size_t m = 0; m < dbc->n_msgs; m++) {
		const struct dbc_message *dm = &dbc->msgs[m];
		struct dec_msg *cm = &d->msgs[m];
		cm->id = dm->id;
		cm->n = (uint32_t)dm->n_sigs;
		if (dm->n_sigs) {
			cm->sigs = &d->sigs[s_index];
			cm->end = cm->sigs + dm->n_sigs;
		}
		cm->gate = -1;
		cm->mux = -1;
		cm->gate_first = (uint32_t)d->n_gate_raw;
		cm->fast = !(flags & DECODER_F_GENERIC);
		for (size_t j = 0; j < dm->n_sigs; j++, s_index++) {
			const struct dbc_signal *s = &dm->sigs[j];
			decoder__compile_sig(&d->sigs[s_index], s, s_index);
			cm->fast = cm->fast && decoder__sig_fast(s);
			cm->twz = cm->twz || d->sigs[s_index].twz_in != DEC_NO_INPUT;
			cm->range = cm->range || decoder__can_refuse(&d->sigs[s_index]);
			if (d->sigs[s_index].need_dlc > cm->need_dlc)
				cm->need_dlc = d->sigs[s_index].need_dlc;
			if ((rc = decoder__copy_info(&d->info[s_index], s)))
				goto fail;
			if (s->is_multiplexor)
				cm->mux = (int32_t)j;
			for (size_t k = 0; k < s->n_vals; k++) {
				if (strcmp(s->vals[k].text, "ignore") != 0)
					continue;
				if (cm->gate >= 0 && cm->gate != (int32_t)j) {
					rc = -EINVAL; /* two gate signals in one message: ambiguous */
					goto fail;
				}
				cm->gate = (int32_t)j;
				d->gate_raw[d->n_gate_raw++] = s->vals[k].raw;
			}
		}
		cm->n_gate = (uint32_t)(d->n_gate_raw - cm->gate_first);
		if (!(dm->id & CAN_EFF_FLAG))
			d->sff[dm->id] = (int32_t)m;
	}
	for (int o = 0; o < TWZ_OUT__COUNT; o++) {
		d->out_canon[o] = -1;
		if (d->td.out_sig[o] < 0)
			continue;
		struct dec_info *info = &d->info[d->td.out_sig[o]];
		snprintf(info->name, sizeof info->name, "%s", twizy_derived_output_name((enum twz_out)o));
		info->canon = canon_sig_lookup(info->name);
		d->out_canon[o] = (int16_t)info->canon;
		info->factor = 1;
		if (!(info->unit = strdup(twizy_derived_output_unit((enum twz_out)o))))
			goto fail;
	}
	if ((rc = decoder__build_eff(d)))
		goto fail;
	*out = d;
	return 0;
fail:
	decoder_destroy(d);
	return rc;
}

void decoder_destroy(struct decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; d->info && i < d->n_info; i++) {
		free(d->info[i].unit);
		for (size_t k = 0; k < d->info[i].n_vals; k++)
			free(d->info[i].vals[k].text);
		free(d->info[i].vals);
	}
	free(d->info);
	free(d->sigs);
	free(d->msgs);
	free(d->gate_raw);
	free(d->eff);
	free(d);
}

size_t decoder_signal_count(const struct decoder *d)
{
	return d->n_info;
}

const char *decoder_signal_name(const struct decoder *d, size_t sig)
{
	return sig < d->n_info ? d->info[sig].name : NULL;
}

const char *decoder_signal_unit(const struct decoder *d, size_t sig)
{
	return sig < d->n_info ? d->info[sig].unit : NULL;
}

int decoder_signal_canon(const struct decoder *d, size_t sig)
{
	return sig < d->n_info ? d->info[sig].canon : -1;
}

long decoder_signal_find(const struct decoder *d, const char *name)
{
	for (size_t i = 0; i < d->n_info; i++)
		if (strcmp(d->info[i].name, name) == 0)
			return (long)i;
	return -1;
}

const char *decoder_value_text(const struct decoder *d, size_t sig, double value)
{
	if (sig >= d->n_info || (int32_t)sig != d->td.out_sig[TWZ_OUT_CHARGE_PHASE])
		return NULL;
	return charge_phase_name((int)value);
}

const char *decoder_value_label(const struct decoder *d, size_t sig, double value)
{
	if (sig >= d->n_info || d->info[sig].n_vals == 0)
		return NULL;
	const struct dec_info *info = &d->info[sig];
	double raw = round((value - info->offset) / info->factor);
	if (!(fabs(raw) < 9.2e18))
		return NULL;
	for (size_t k = 0; k < info->n_vals; k++)
		if ((double)info->vals[k].raw == raw)
			return info->vals[k].text;
	return NULL;
}

/* The raw value of s in the frame, sign-extended to 64 bits when signed. */
static inline uint64_t decoder__raw(const struct dec_sig *s, uint64_t le, uint64_t be)
{
	uint64_t raw = ((s->motorola ? be : le) >> s->shift) & s->mask;
	if (s->is_signed && s->length_bits < 64 && (raw >> (s->length_bits - 1)) & 1)
		raw |= ~s->mask;
	return raw;
}

static inline double decoder__physical(const struct dec_sig *s, uint64_t raw)
{
	double x;
	if (s->value_type == DBC_VT_FLOAT32) {
		uint32_t u = (uint32_t)raw;
		float f;
		memcpy(&f, &u, sizeof f);
		x = (double)f;
	} else if (s->value_type == DBC_VT_FLOAT64) {
		memcpy(&x, &raw, sizeof x);
	} else {
		x = s->is_signed ? (double)(int64_t)raw : (double)raw;
	}
	return s->use_div ? x / s->scale + s->offset : x * s->scale + s->offset;
}

/*
 * Where one frame's values go: the list of a struct decode_result (res), or a struct vstate (vs) when to_vs.  The
 * functions below are always inlined into callers that set to_vs to a constant, so each caller gets its own copy
 * without the other's branch.  The sink's address never escapes (the derived signals' inputs are kept apart), so
 * the compiler keeps its fields in registers.
 */
struct dec_sink {
	bool to_vs;
	struct decode_result *res;
	struct vstate *vs;
	int64_t real_ns;                  /* vs's time stamp */
	unsigned n;                       /* values so far */
	unsigned invalid[DEC_INV__COUNT];
};

#define DEC_INLINE static inline __attribute__((always_inline))

/* Value number n of the frame into the sink: (sig, v) onto the result list, or v into the state's canonical slot. */
DEC_INLINE void decoder__store(struct dec_sink *k, unsigned n, uint32_t sig, int canon, double v)
{
	if (!k->to_vs) {
		k->res->v[n].sig = sig;
		k->res->v[n].value = v;
	} else if (canon >= 0) {
		k->vs->value[canon] = v;
		k->vs->t_real_ns[canon] = k->real_ns;
	}
}

/* v as the derived signals' input twz_in (enum twz_in, or DEC_NO_INPUT: none). */
DEC_INLINE void decoder__input(struct twz_inputs *in, unsigned twz_in, double v)
{
	if (twz_in != DEC_NO_INPUT) {
		in->mask |= 1u << twz_in;
		in->in[twz_in] = v;
	}
}

DEC_INLINE void decoder__put(struct dec_sink *k, const struct dec_sig *s, double v, struct twz_inputs *in)
{
	decoder__store(k, k->n++, s->sig, s->canon, v);
	decoder__input(in, s->twz_in, v);
}

/* Whether the frame is gated: its gate signal (within dlc) has a raw value with text "ignore". */
DEC_INLINE bool decoder__gated(const struct decoder *d, const struct dec_msg *m, const struct dec_sig *g, uint64_t le,
			       uint64_t be)
{
	int64_t raw = (int64_t)decoder__raw(g, le, be);
	bool gated = false;
	for (uint32_t k = 0; k < m->n_gate; k++)
		gated |= d->gate_raw[m->gate_first + k] == raw;
	return gated;
}

/* Every rule checked per signal: multiplexing, the gate, the DLC, the value type. */
DEC_INLINE void decoder__generic(const struct decoder *d, const struct dec_msg *m, unsigned dlc, uint64_t le,
				 uint64_t be, struct dec_sink *k, struct twz_inputs *in)
{
	const struct dec_sig *sigs = m->sigs;
	bool gated = false;
	if (m->gate >= 0) {
		const struct dec_sig *g = &sigs[m->gate];
		gated = g->need_dlc > dlc || decoder__gated(d, m, g, le, be);
	}
	bool mux_ok = false;
	int64_t mux_raw = -1;
	if (m->mux >= 0 && sigs[m->mux].need_dlc <= dlc) {
		mux_ok = true;
		mux_raw = (int64_t)decoder__raw(&sigs[m->mux], le, be);
	}

	for (uint32_t i = 0; i < m->n; i++) {
		const struct dec_sig *s = &sigs[i];
		if (s->mux_value >= 0) {
			if (!mux_ok) {
				k->invalid[DEC_INV_SHORT_DLC]++;
				continue;
			}
			if (mux_raw != s->mux_value)
				continue;
		}
		if (gated && (int32_t)i != m->gate) {
			k->invalid[DEC_INV_GATED]++;
			continue;
		}
		if (s->need_dlc > dlc) {
			k->invalid[DEC_INV_SHORT_DLC]++;
			continue;
		}
		double v = decoder__physical(s, decoder__raw(s, le, be));
		if (s->check_range && !(v >= s->lo && v <= s->hi)) {
			k->invalid[DEC_INV_RANGE]++;
			continue;
		}
		decoder__put(k, s, v, in);
	}
}

/* The fast path's signal loop (see decoder.h); twz: whether any signal of the message feeds a derived one; range:
   whether any signal's range can refuse a value.  Each signal's fields are read before the stores (which, with
   -fno-strict-aliasing, could alias them). */
DEC_INLINE void decoder__fast(const struct dec_sig *s, const struct dec_sig *end, const uint64_t w[2],
			      struct dec_sink *k, struct twz_inputs *in, const bool twz, const bool range)
{
	unsigned n = k->n;
	for (; s < end; s++) {
		int canon = s->canon;
		unsigned twz_in = s->twz_in;
		uint64_t raw = (w[s->motorola] >> s->shift) & s->mask;
		double x = (double)(int64_t)((raw ^ s->sign) - s->sign);
		double v = s->use_div ? x / s->scale + s->offset : x * s->scale + s->offset;
		if (range && !(v >= s->lo && v <= s->hi)) {
			k->invalid[DEC_INV_RANGE]++;
			continue;
		}
		decoder__store(k, n++, s->sig, canon, v);
		if (twz)
			decoder__input(in, twz_in, v);
	}
	k->n = n;
}

DEC_INLINE void decoder__message(const struct decoder *d, const struct dec_msg *m, const struct can_frame_data *f,
				 struct dec_sink *k, struct twz_inputs *in)
{
	uint64_t word;
	memcpy(&word, f->data, sizeof word);
	const uint64_t w[2] = {le64toh(word), be64toh(word)};
	const struct dec_sig *s = m->sigs, *end = m->end;

	/* The fast path: every signal is within the DLC (need_dlc <= 8: no need to clamp a larger DLC first), no
	   multiplexing, and the frame is not gated (which the gate signal alone decides).  What remains per signal is
	   the value and its range.  A message without signals has s == end (possibly NULL): nothing to read. */
	if (m->fast && m->need_dlc <= f->dlc && (m->gate < 0 || !decoder__gated(d, m, &s[m->gate], w[0], w[1]))) {
		if (m->twz && m->range)
			decoder__fast(s, end, w, k, in, true, true);
		else if (m->twz)
			decoder__fast(s, end, w, k, in, true, false);
		else if (m->range)
			decoder__fast(s, end, w, k, in, false, true);
		else
			decoder__fast(s, end, w, k, in, false, false);
		return;
	}
	decoder__generic(d, m, f->dlc > 8 ? 8 : f->dlc, w[0], w[1], k, in);
}

DEC_INLINE const struct dec_msg *decoder__find(const struct decoder *d, uint32_t id)
{
	if (!(id & (CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_ERR_FLAG)))
		return id <= CAN_SFF_MASK && d->sff[id] >= 0 ? &d->msgs[d->sff[id]] : NULL;
	return (id & CAN_ERR_FLAG) ? NULL : decoder__lookup(d, id & ~CAN_RTR_FLAG);
}

/* The derived values of the frame (or tick) after its signals, in their order. */
DEC_INLINE void decoder__derived(const struct decoder *d, const struct twz_outputs *o, struct dec_sink *k)
{
	for (unsigned i = 0; i < o->n; i++) {
		uint32_t out = o->v[i].out;
		decoder__store(k, k->n++, (uint32_t)d->td.out_sig[out], d->out_canon[out], o->v[i].value);
	}
}

/* Decodes f into k (whose n and invalid[] start at 0); returns whether the id is known. */
DEC_INLINE bool decoder__frame(struct decoder *d, const struct can_frame_data *f, int64_t t_ns, struct dec_sink *k)
{
	struct twz_inputs in;
	bool known = false;
	in.mask = 0;
	const struct dec_msg *m = decoder__find(d, f->id);
	if (m) {
		known = true;
		if (!(f->id & CAN_RTR_FLAG))
			decoder__message(d, m, f, k, &in);
	}
	if (twizy_derived_activity(&d->td, in.mask, t_ns)) {
		struct twz_outputs o;
		o.n = 0;
		twizy_derived_update(&d->td, &in, &o);
		decoder__derived(d, &o, k);
	}
	return known;
}

unsigned decoder_frame(struct decoder *d, const struct can_frame_data *f, int64_t t_ns, struct decode_result *out)
{
	struct dec_sink k = {.to_vs = false, .res = out};
	out->known_id = decoder__frame(d, f, t_ns, &k);
	out->n = k.n;
	for (int i = 0; i < DEC_INV__COUNT; i++)
		out->invalid[i] = k.invalid[i];
	return out->n;
}

/* A sink's counts (of one frame or of a batch) into the tally. */
static void decoder__tally(struct decode_tally *t, const struct dec_sink *k, uint64_t frames, uint64_t unknown)
{
	t->frames += frames;
	t->n += k->n;
	t->unknown_ids += unknown;
	for (int i = 0; i < DEC_INV__COUNT; i++) {
		t->invalid[i] += k->invalid[i];
		t->ninvalid += k->invalid[i];
	}
}

unsigned decoder_frame_apply(struct decoder *d, const struct can_frame_data *f, int64_t t_ns, struct vstate *s,
			     int64_t rx_real_ns, struct decode_tally *t)
{
	struct dec_sink k = {.to_vs = true, .vs = s, .real_ns = rx_real_ns};
	bool known = decoder__frame(d, f, t_ns, &k);
	decoder__tally(t, &k, 1, !known);
	return k.n;
}

size_t decoder_records_apply(struct decoder *d, const struct rx_record *recs, size_t n, struct vstate *s,
			     struct decode_tally *t)
{
	/* n and invalid[] of the sink add up over the batch: nothing needs a frame's own counts */
	struct dec_sink k = {.to_vs = true, .vs = s};
	const struct rx_record *last = NULL;
	uint64_t unknown = 0;
	size_t other = 0;

	for (const struct rx_record *rec = recs, *end = recs + n; rec < end; rec++) {
		if (rec->type != REC_CAN) {
			other++;
			continue;
		}
		k.real_ns = rec->rx_real_ns;
		unknown += !decoder__frame(d, &rec->u.can, (int64_t)rec->rx_mono_ns, &k);
		last = rec;
	}
	if (last)
		vstate_frame_applied(s, last->rx_real_ns, last->rx_mono_ns, last->seq);
	decoder__tally(t, &k, n - other, unknown);
	return other;
}

unsigned decoder_tick(struct decoder *d, int64_t t_ns, struct decode_result *out)
{
	struct twz_outputs o;
	struct dec_sink k = {.to_vs = false, .res = out};
	o.n = 0;
	twizy_derived_tick(&d->td, t_ns, &o);
	decoder__derived(d, &o, &k);
	out->n = k.n;
	for (int i = 0; i < DEC_INV__COUNT; i++)
		out->invalid[i] = 0;
	out->known_id = false;
	return out->n;
}

/*
 * dbc.c - DBC text -> struct dbc (see dbc.h).
 *
 * A hand-written scanner over the whole buffer (it need not be NUL-terminated): statements start with a keyword at
 * the beginning of a line; the ones the decoder needs are parsed token by token, the others are skipped up to their
 * ';' (their strings, e.g. CM_ comments, may span lines).  Every error names the 1-based line and what was expected.
 * Arrays grow by doubling; there are no fixed limits other than DBC_NAME_MAX.
 */
#include "stages/decode/dbc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vehicle/record.h"

#define DBC_INDEPENDENT_ID 0xC0000000U /* VECTOR__INDEPENDENT_SIG_MSG */

struct lex {
	const char *p, *end;
	unsigned line;
	struct dbc_error *err;
	struct dbc *dbc;
	long cur_msg;     /* index of the BO_ that SG_ lines belong to, -1 = none */
	bool skipping;    /* inside the VECTOR__INDEPENDENT_SIG_MSG pseudo message */
};

static int dbc__fail(struct lex *lx, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int dbc__fail(struct lex *lx, unsigned line, const char *fmt, ...)
{
	if (lx->err) {
		va_list ap;
		int n = snprintf(lx->err->msg, sizeof lx->err->msg, "line %u: ", line);
		va_start(ap, fmt);
		vsnprintf(lx->err->msg + n, sizeof lx->err->msg - (size_t)n, fmt, ap);
		va_end(ap);
		lx->err->line = line;
	}
	return -EINVAL;
}

static int dbc__nomem(struct lex *lx)
{
	if (lx->err) {
		lx->err->line = 0;
		snprintf(lx->err->msg, sizeof lx->err->msg, "out of memory");
	}
	return -ENOMEM;
}

/* Makes room for element n of *arr (n elements in use): capacity is 4, 8, 16, ... */
static int dbc__grow(void *arrp, size_t n, size_t elem_size)
{
	void **arr = arrp;
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	size_t cap = n ? 2 * n : 4;
	void *p = reallocarray(*arr, cap, elem_size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static bool dbc__is_ident(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool dbc__is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skips spaces and tabs (and CR), not newlines. */
static void dbc__skip_blank(struct lex *lx)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\f' || *lx->p == '\v'))
		lx->p++;
}

/* Skips blanks and newlines. */
static void dbc__skip_space(struct lex *lx)
{
	for (;;) {
		dbc__skip_blank(lx);
		if (lx->p < lx->end && *lx->p == '\n') {
			lx->p++;
			lx->line++;
			continue;
		}
		return;
	}
}

static bool dbc__at_eol(struct lex *lx)
{
	dbc__skip_blank(lx);
	return lx->p == lx->end || *lx->p == '\n';
}

static void dbc__skip_line(struct lex *lx)
{
	while (lx->p < lx->end && *lx->p != '\n')
		lx->p++;
	if (lx->p < lx->end) {
		lx->p++;
		lx->line++;
	}
}

/* A short printable description of what is at the cursor, for error messages. */
static const char *dbc__found(struct lex *lx, char *buf, size_t size)
{
	if (lx->p == lx->end)
		return "end of file";
	if (*lx->p == '\n')
		return "end of line";
	size_t n = 0;
	buf[n++] = '\'';
	for (const char *q = lx->p; q < lx->end && n < size - 2 && n < 17 && *q != '\n' && *q != '\r'; q++)
		buf[n++] = (*q >= 0x20 && *q < 0x7f) ? *q : '?';
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}

static int dbc__expect(struct lex *lx, char c, const char *ctx)
{
	dbc__skip_blank(lx);
	if (lx->p < lx->end && *lx->p == c) {
		lx->p++;
		return 0;
	}
	char buf[24];
	return dbc__fail(lx, lx->line, "%s: expected '%c', found %s", ctx, c, dbc__found(lx, buf, sizeof buf));
}

/* Reads an identifier into buf (DBC_NAME_MAX + 1 bytes). */
static int dbc__ident(struct lex *lx, char *buf, const char *what)
{
	dbc__skip_blank(lx);
	const char *s = lx->p;
	while (lx->p < lx->end && dbc__is_ident(*lx->p))
		lx->p++;
	size_t n = (size_t)(lx->p - s);
	if (n == 0) {
		char fb[24];
		return dbc__fail(lx, lx->line, "expected %s, found %s", what, dbc__found(lx, fb, sizeof fb));
	}
	if (n > DBC_NAME_MAX)
		return dbc__fail(lx, lx->line, "%s '%.20s...' is %zu characters (max %d)", what, s, n, DBC_NAME_MAX);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* Reads the characters of a number token (from the set allowed) into buf. */
static int dbc__number_token(struct lex *lx, char *buf, size_t size, const char *allowed, const char *what)
{
	dbc__skip_blank(lx);
	size_t n = 0;
	while (lx->p < lx->end && *lx->p != '\0' && strchr(allowed, *lx->p)) {
		if (n + 1 >= size)
			return dbc__fail(lx, lx->line, "%s: number too long", what);
		buf[n++] = *lx->p++;
	}
	buf[n] = '\0';
	if (n == 0) {
		char fb[24];
		return dbc__fail(lx, lx->line, "expected %s, found %s", what, dbc__found(lx, fb, sizeof fb));
	}
	return 0;
}

static int dbc__uint(struct lex *lx, uint64_t *v, uint64_t max, const char *what)
{
	char buf[32];
	int rc = dbc__number_token(lx, buf, sizeof buf, "0123456789", what);
	if (rc)
		return rc;
	errno = 0;
	unsigned long long x = strtoull(buf, NULL, 10);
	if (errno || x > max)
		return dbc__fail(lx, lx->line, "%s %s out of range (max %llu)", what, buf, (unsigned long long)max);
	*v = x;
	return 0;
}

static int dbc__int64(struct lex *lx, int64_t *v, const char *what)
{
	char buf[32];
	int rc = dbc__number_token(lx, buf, sizeof buf, "0123456789+-", what);
	if (rc)
		return rc;
	char *e;
	errno = 0;
	if (buf[0] == '-') {
		long long x = strtoll(buf, &e, 10);
		if (errno || *e)
			return dbc__fail(lx, lx->line, "%s '%s' is not an integer in range", what, buf);
		*v = x;
	} else {
		unsigned long long x = strtoull(buf, &e, 10);
		if (errno || *e)
			return dbc__fail(lx, lx->line, "%s '%s' is not an integer in range", what, buf);
		*v = (int64_t)x; /* values >= 2^63 keep their bit pattern (unsigned 64-bit signals) */
	}
	return 0;
}

static int dbc__double(struct lex *lx, double *v, const char *what)
{
	char buf[64];
	int rc = dbc__number_token(lx, buf, sizeof buf, "0123456789+-.eE", what);
	if (rc)
		return rc;
	char *e;
	errno = 0;
	double x = strtod(buf, &e);
	if (*e || !isfinite(x))
		return dbc__fail(lx, lx->line, "%s '%s' is not a finite number", what, buf);
	*v = x;
	return 0;
}

/* Reads a "..." string (may span lines, \" and \\ escapes) into a new heap string, or just skips it (out NULL). */
static int dbc__string(struct lex *lx, char **out, const char *what)
{
	dbc__skip_blank(lx);
	if (lx->p == lx->end || *lx->p != '"') {
		char fb[24];
		return dbc__fail(lx, lx->line, "expected %s string, found %s", what, dbc__found(lx, fb, sizeof fb));
	}
	unsigned start_line = lx->line;
	const char *s = ++lx->p;
	size_t n = 0;
	while (lx->p < lx->end && *lx->p != '"') {
		if (*lx->p == '\\' && lx->p + 1 < lx->end)
			lx->p++;
		if (*lx->p == '\n')
			lx->line++;
		lx->p++;
		n++;
	}
	if (lx->p == lx->end)
		return dbc__fail(lx, start_line, "unterminated string (%s)", what);
	if (out) {
		char *str = malloc(n + 1);
		if (!str)
			return dbc__nomem(lx);
		size_t k = 0;
		for (const char *q = s; q < lx->p; q++) {
			if (*q == '\\' && q + 1 < lx->p)
				q++;
			str[k++] = *q;
		}
		str[k] = '\0';
		*out = str;
	}
	lx->p++; /* closing quote */
	return 0;
}

/* Skips a statement up to and including its ';', strings included. */
static int dbc__skip_statement(struct lex *lx, const char *kw, unsigned start_line)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '"') {
			int rc = dbc__string(lx, NULL, kw);
			if (rc)
				return rc;
			continue;
		}
		lx->p++;
		if (c == '\n')
			lx->line++;
		else if (c == ';')
			return 0;
	}
	return dbc__fail(lx, start_line, "%s statement not terminated by ';'", kw);
}

static int dbc__end_of_line(struct lex *lx, const char *ctx)
{
	if (dbc__at_eol(lx))
		return 0;
	char fb[24];
	return dbc__fail(lx, lx->line, "%s: unexpected %s at end of line", ctx, dbc__found(lx, fb, sizeof fb));
}

/* Bytes a signal's bits reach into: 1..9+ (callers check against the DLC). */
static unsigned dbc__bytes_needed(bool motorola, unsigned start_bit, unsigned length_bits)
{
	unsigned last;
	if (motorola) {
		unsigned msb_lin = (start_bit / 8) * 8 + (7 - start_bit % 8); /* big-endian bit position from byte 0's MSB */
		last = msb_lin + length_bits - 1;
	} else {
		last = start_bit + length_bits - 1;
	}
	return last / 8 + 1;
}

unsigned dbc_signal_bytes_needed(const struct dbc_signal *sig)
{
	return dbc__bytes_needed(sig->motorola, sig->start_bit, sig->length_bits);
}

const struct dbc_message *dbc_find_message(const struct dbc *dbc, uint32_t id)
{
	for (size_t i = 0; i < dbc->n_msgs; i++)
		if (dbc->msgs[i].id == id)
			return &dbc->msgs[i];
	return NULL;
}

const struct dbc_signal *dbc_find_signal(const struct dbc_message *msg, const char *name)
{
	for (size_t i = 0; i < msg->n_sigs; i++)
		if (strcmp(msg->sigs[i].name, name) == 0)
			return &msg->sigs[i];
	return NULL;
}

/* Reads a DBC message id and converts it to the CAN id with flags.  *skip: the independent-signals pseudo id. */
static int dbc__msg_id(struct lex *lx, uint32_t *id, bool *skip, const char *what)
{
	uint64_t raw;
	int rc = dbc__uint(lx, &raw, 0xFFFFFFFFu, what);
	if (rc)
		return rc;
	*skip = false;
	if (raw == DBC_INDEPENDENT_ID) {
		*skip = true;
		*id = (uint32_t)raw;
		return 0;
	}
	if (raw & 0x80000000u) {
		if ((raw & 0x7FFFFFFFu) > CAN_EFF_MASK)
			return dbc__fail(lx, lx->line, "%s %llu: 29-bit id 0x%llX out of range (max 0x1FFFFFFF)", what,
					 (unsigned long long)raw, (unsigned long long)(raw & 0x7FFFFFFFu));
		*id = (uint32_t)(raw & CAN_EFF_MASK) | CAN_EFF_FLAG;
	} else {
		if (raw > CAN_SFF_MASK)
			return dbc__fail(lx, lx->line,
					 "%s %llu: 11-bit id out of range (max 2047; 29-bit ids have bit 31 set)", what,
					 (unsigned long long)raw);
		*id = (uint32_t)raw;
	}
	return 0;
}

static int dbc__message(struct lex *lx)
{
	struct dbc *dbc = lx->dbc;
	unsigned line = lx->line;
	struct dbc_message m = {.line = line};
	bool skip;
	uint64_t dlc;
	int rc;

	if ((rc = dbc__msg_id(lx, &m.id, &skip, "BO_ id")) || (rc = dbc__ident(lx, m.name, "BO_ message name")) ||
	    (rc = dbc__expect(lx, ':', "BO_")) || (rc = dbc__uint(lx, &dlc, 64, "BO_ DLC")))
		return rc;
	if (!dbc__at_eol(lx)) {
		char sender[DBC_NAME_MAX + 1];
		if ((rc = dbc__ident(lx, sender, "BO_ sender")) || (rc = dbc__end_of_line(lx, "BO_")))
			return rc;
	}
	if (skip) {
		lx->skipping = true;
		lx->cur_msg = -1;
		return 0;
	}
	if (dlc > 8)
		return dbc__fail(lx, line, "BO_ %s DLC %u (must be 0..8: classical CAN)", m.name, (unsigned)dlc);
	m.dlc = (unsigned)dlc;
	const struct dbc_message *dup = dbc_find_message(dbc, m.id);
	if (dup)
		return dbc__fail(lx, line, "duplicate message id %u (0x%X), first defined on line %u", m.id & CAN_EFF_MASK,
				 m.id & CAN_EFF_MASK, dup->line);
	if (dbc__grow(&dbc->msgs, dbc->n_msgs, sizeof *dbc->msgs))
		return dbc__nomem(lx);
	dbc->msgs[dbc->n_msgs] = m;
	lx->cur_msg = (long)dbc->n_msgs++;
	lx->skipping = false;
	return 0;
}

static void dbc__signal_free(struct dbc_signal *s)
{
	free(s->unit);
	for (size_t i = 0; i < s->n_vals; i++)
		free(s->vals[i].text);
	free(s->vals);
}

static int dbc__signal_fields(struct lex *lx, struct dbc_signal *s, const struct dbc_message *m)
{
	unsigned line = lx->line;
	uint64_t start, len;
	int rc;

	if ((rc = dbc__ident(lx, s->name, "SG_ signal name")))
		return rc;
	dbc__skip_blank(lx);
	if (lx->p < lx->end && *lx->p != ':') {
		char tok[DBC_NAME_MAX + 1];
		if ((rc = dbc__ident(lx, tok, "multiplexer indicator (M or m<n>) or ':'")))
			return rc;
		if (strcmp(tok, "M") == 0) {
			s->is_multiplexor = true;
		} else if (tok[0] == 'm' && dbc__is_digit(tok[1])) {
			char *e;
			errno = 0;
			long long v = strtoll(tok + 1, &e, 10);
			if (*e == 'M')
				return dbc__fail(lx, line, "SG_ %s: extended multiplexing (%s) is not supported", s->name, tok);
			if (*e || errno)
				return dbc__fail(lx, line, "SG_ %s: bad multiplexer indicator '%s'", s->name, tok);
			s->mux_value = v;
		} else {
			return dbc__fail(lx, line, "SG_ %s: expected ':' or a multiplexer indicator, found '%s'", s->name,
					 tok);
		}
	}
	if ((rc = dbc__expect(lx, ':', "SG_")) || (rc = dbc__uint(lx, &start, 1u << 20, "SG_ start bit")) ||
	    (rc = dbc__expect(lx, '|', "SG_")) || (rc = dbc__uint(lx, &len, 1u << 20, "SG_ length")) ||
	    (rc = dbc__expect(lx, '@', "SG_")))
		return rc;
	if (lx->p < lx->end && (*lx->p == '0' || *lx->p == '1')) {
		s->motorola = *lx->p++ == '0';
	} else {
		return dbc__fail(lx, line, "SG_ %s: byte order after '@' must be 0 (Motorola) or 1 (Intel)", s->name);
	}
	if (lx->p < lx->end && (*lx->p == '+' || *lx->p == '-')) {
		s->is_signed = *lx->p++ == '-';
	} else {
		return dbc__fail(lx, line, "SG_ %s: sign after the byte order must be + or -", s->name);
	}
	if ((rc = dbc__expect(lx, '(', "SG_")) || (rc = dbc__double(lx, &s->factor, "SG_ factor")) ||
	    (rc = dbc__expect(lx, ',', "SG_")) || (rc = dbc__double(lx, &s->offset, "SG_ offset")) ||
	    (rc = dbc__expect(lx, ')', "SG_")) || (rc = dbc__expect(lx, '[', "SG_")) ||
	    (rc = dbc__double(lx, &s->min, "SG_ minimum")) || (rc = dbc__expect(lx, '|', "SG_")) ||
	    (rc = dbc__double(lx, &s->max, "SG_ maximum")) || (rc = dbc__expect(lx, ']', "SG_")) ||
	    (rc = dbc__string(lx, &s->unit, "SG_ unit")))
		return rc;
	/* receivers: names separated by commas or blanks, to the end of the line */
	while (!dbc__at_eol(lx)) {
		char node[DBC_NAME_MAX + 1];
		if (*lx->p == ',') {
			lx->p++;
			continue;
		}
		if ((rc = dbc__ident(lx, node, "SG_ receiver")))
			return rc;
	}

	if (len < 1 || len > 64)
		return dbc__fail(lx, line, "SG_ %s length %u (must be 1..64)", s->name, (unsigned)len);
	if (m->dlc == 0 || start >= 8u * m->dlc)
		return dbc__fail(lx, line, "SG_ %s start bit %u out of range for DLC %u (0..%d)", s->name, (unsigned)start,
				 m->dlc, (int)(8 * m->dlc) - 1);
	s->start_bit = (unsigned)start;
	s->length_bits = (unsigned)len;
	unsigned need = dbc__bytes_needed(s->motorola, s->start_bit, s->length_bits);
	if (need > m->dlc)
		return dbc__fail(lx, line, "SG_ %s (%s, start %u, length %u) needs %u bytes, outside the message's DLC %u",
				 s->name, s->motorola ? "Motorola" : "Intel", s->start_bit, s->length_bits, need, m->dlc);
	if (s->factor == 0)
		return dbc__fail(lx, line, "SG_ %s factor 0", s->name);
	if (s->min > s->max)
		return dbc__fail(lx, line, "SG_ %s minimum %g is above maximum %g", s->name, s->min, s->max);
	if (s->is_multiplexor && s->mux_value >= 0)
		return dbc__fail(lx, line, "SG_ %s cannot be both multiplexor and multiplexed", s->name);
	if (s->is_multiplexor && s->length_bits > 63)
		return dbc__fail(lx, line, "SG_ %s: multiplexor longer than 63 bits", s->name);
	if (dbc_find_signal(m, s->name))
		return dbc__fail(lx, line, "duplicate signal name %s in message %s", s->name, m->name);
	if (s->is_multiplexor)
		for (size_t i = 0; i < m->n_sigs; i++)
			if (m->sigs[i].is_multiplexor)
				return dbc__fail(lx, line, "SG_ %s: message %s already has a multiplexor (%s)", s->name,
						 m->name, m->sigs[i].name);
	return 0;
}

static int dbc__signal(struct lex *lx, unsigned kw_line)
{
	if (lx->skipping) {
		dbc__skip_line(lx);
		return 0;
	}
	if (lx->cur_msg < 0)
		return dbc__fail(lx, kw_line, "SG_ outside a message (no BO_ before it)");
	struct dbc_message *m = &lx->dbc->msgs[lx->cur_msg];
	struct dbc_signal s = {.mux_value = -1, .line = kw_line};
	int rc = dbc__signal_fields(lx, &s, m);
	if (rc) {
		dbc__signal_free(&s);
		return rc;
	}
	if (dbc__grow(&m->sigs, m->n_sigs, sizeof *m->sigs)) {
		dbc__signal_free(&s);
		return dbc__nomem(lx);
	}
	m->sigs[m->n_sigs++] = s;
	return 0;
}

/* Finds the message and signal a VAL_ or SIG_VALTYPE_ refers to.  *sig NULL and 0: the statement is to be skipped. */
static int dbc__ref(struct lex *lx, struct dbc_signal **sig, const char *kw)
{
	uint32_t id;
	bool skip;
	char name[DBC_NAME_MAX + 1];
	unsigned line = lx->line;
	int rc;
	*sig = NULL;
	if ((rc = dbc__msg_id(lx, &id, &skip, kw)) || (rc = dbc__ident(lx, name, "signal name")))
		return rc;
	if (skip)
		return 0;
	struct dbc_message *m = (struct dbc_message *)dbc_find_message(lx->dbc, id);
	if (!m)
		return dbc__fail(lx, line, "%s for unknown message %u", kw, id & CAN_EFF_MASK);
	*sig = (struct dbc_signal *)dbc_find_signal(m, name);
	if (!*sig)
		return dbc__fail(lx, line, "%s for unknown signal %s in message %s", kw, name, m->name);
	return 0;
}

static int dbc__val(struct lex *lx, unsigned kw_line)
{
	struct dbc_signal *s;
	dbc__skip_blank(lx);
	if (lx->p < lx->end && !dbc__is_digit(*lx->p))
		return dbc__skip_statement(lx, "VAL_", kw_line); /* environment variable descriptions */
	int rc = dbc__ref(lx, &s, "VAL_");
	if (rc)
		return rc;
	if (!s)
		return dbc__skip_statement(lx, "VAL_", kw_line);
	for (;;) {
		dbc__skip_space(lx);
		if (lx->p == lx->end)
			return dbc__fail(lx, kw_line, "VAL_ statement not terminated by ';'");
		if (*lx->p == ';') {
			lx->p++;
			return dbc__end_of_line(lx, "VAL_");
		}
		struct dbc_value_desc v;
		if ((rc = dbc__int64(lx, &v.raw, "VAL_ value")) || (rc = dbc__string(lx, &v.text, "VAL_ description")))
			return rc;
		if (dbc__grow(&s->vals, s->n_vals, sizeof *s->vals)) {
			free(v.text);
			return dbc__nomem(lx);
		}
		s->vals[s->n_vals++] = v;
	}
}

static int dbc__valtype(struct lex *lx, unsigned kw_line)
{
	struct dbc_signal *s;
	uint64_t t;
	int rc = dbc__ref(lx, &s, "SIG_VALTYPE_");
	if (rc)
		return rc;
	if (!s)
		return dbc__skip_statement(lx, "SIG_VALTYPE_", kw_line);
	dbc__skip_blank(lx);
	if (lx->p < lx->end && *lx->p == ':')
		lx->p++;
	if ((rc = dbc__uint(lx, &t, 2, "SIG_VALTYPE_ type")) || (rc = dbc__expect(lx, ';', "SIG_VALTYPE_")))
		return rc;
	if ((t == DBC_VT_FLOAT32 && s->length_bits != 32) || (t == DBC_VT_FLOAT64 && s->length_bits != 64))
		return dbc__fail(lx, kw_line, "SIG_VALTYPE_ %s: IEEE %s needs length %d, not %u", s->name,
				 t == DBC_VT_FLOAT32 ? "float" : "double", t == DBC_VT_FLOAT32 ? 32 : 64, s->length_bits);
	s->value_type = (uint8_t)t;
	return dbc__end_of_line(lx, "SIG_VALTYPE_");
}

/* NS_ : then an indented list of names: skip the line and every following indented or blank line. */
static void dbc__skip_ns(struct lex *lx)
{
	dbc__skip_line(lx);
	while (lx->p < lx->end) {
		const char *q = lx->p;
		while (q < lx->end && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < lx->end && *q != '\n' && q == lx->p)
			return; /* a non-indented, non-blank line */
		dbc__skip_line(lx);
	}
}

static const char *const dbc_skipped_keywords[] = {
	"CM_", "BA_DEF_", "BA_", "BA_DEF_DEF_", "VAL_TABLE_", "BA_DEF_REL_", "BA_REL_", "BA_DEF_DEF_REL_", "BA_DEF_SGTYPE_",
	"BA_SGTYPE_", "EV_", "ENVVAR_DATA_", "SIG_GROUP_", "BO_TX_BU_", "SG_MUL_VAL_", "SGTYPE_", "SGTYPE_VAL_",
	"SIG_TYPE_REF_", "CAT_DEF_", "CAT_", "FILTER", "BU_SG_REL_", "BU_EV_REL_", "BU_BO_REL_", "SIG_TYPE_REF_",
	"SIGTYPE_VALTYPE_",
};

static int dbc__statement(struct lex *lx)
{
	char kw[DBC_NAME_MAX + 1];
	unsigned line = lx->line;
	int rc = dbc__ident(lx, kw, "a keyword");
	if (rc)
		return rc;
	if (strcmp(kw, "SG_") == 0)
		return dbc__signal(lx, line);
	lx->cur_msg = -1;
	lx->skipping = false;
	if (strcmp(kw, "BO_") == 0)
		return dbc__message(lx);
	if (strcmp(kw, "VAL_") == 0)
		return dbc__val(lx, line);
	if (strcmp(kw, "SIG_VALTYPE_") == 0)
		return dbc__valtype(lx, line);
	if (strcmp(kw, "VERSION") == 0) {
		free(lx->dbc->version);
		lx->dbc->version = NULL;
		if ((rc = dbc__string(lx, &lx->dbc->version, "VERSION")))
			return rc;
		return dbc__end_of_line(lx, "VERSION");
	}
	if (strcmp(kw, "NS_") == 0) {
		dbc__skip_ns(lx);
		return 0;
	}
	if (strcmp(kw, "BS_") == 0 || strcmp(kw, "BU_") == 0) {
		dbc__skip_line(lx);
		return 0;
	}
	for (size_t i = 0; i < sizeof dbc_skipped_keywords / sizeof dbc_skipped_keywords[0]; i++)
		if (strcmp(kw, dbc_skipped_keywords[i]) == 0)
			return dbc__skip_statement(lx, kw, line);
	return dbc__fail(lx, line, "unknown keyword '%s'", kw);
}

/* Checks that every multiplexed signal has a multiplexor in its message. */
static int dbc__check_mux(struct lex *lx)
{
	for (size_t i = 0; i < lx->dbc->n_msgs; i++) {
		const struct dbc_message *m = &lx->dbc->msgs[i];
		bool has_mux = false;
		for (size_t j = 0; j < m->n_sigs; j++)
			has_mux |= m->sigs[j].is_multiplexor;
		for (size_t j = 0; j < m->n_sigs; j++)
			if (m->sigs[j].mux_value >= 0 && !has_mux)
				return dbc__fail(lx, m->sigs[j].line, "SG_ %s is multiplexed (m%lld) but message %s has no multiplexor (M)",
						 m->sigs[j].name, (long long)m->sigs[j].mux_value, m->name);
	}
	return 0;
}

int dbc_parse(struct dbc *out, const char *text, size_t len, struct dbc_error *err)
{
	struct dbc dbc = {0};
	struct lex lx = {.p = text, .end = text + len, .line = 1, .err = err, .dbc = &dbc, .cur_msg = -1};
	int rc = 0;

	if (err) {
		err->line = 0;
		err->msg[0] = '\0';
	}
	/* UTF-8 byte order mark */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		lx.p += 3;
	for (;;) {
		dbc__skip_space(&lx);
		if (lx.p == lx.end)
			break;
		if ((rc = dbc__statement(&lx)))
			goto fail;
	}
	if ((rc = dbc__check_mux(&lx)))
		goto fail;
	if (!dbc.version && !(dbc.version = strdup(""))) {
		rc = dbc__nomem(&lx);
		goto fail;
	}
	*out = dbc;
	return 0;
fail:
	dbc_fini(&dbc);
	return rc;
}

static int dbc__load_error(struct dbc_error *err, const char *path, int rc, const char *why)
{
	if (err) {
		err->line = 0;
		snprintf(err->msg, sizeof err->msg, "%s: %s", path, why ? why : strerror(-rc));
	}
	return rc;
}

static const char *dbc__file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "not a regular file (a directory)";
	if (S_ISCHR(m))
		return "not a regular file (a character device)";
	if (S_ISBLK(m))
		return "not a regular file (a block device)";
	if (S_ISFIFO(m))
		return "not a regular file (a FIFO)";
	if (S_ISSOCK(m))
		return "not a regular file (a socket)";
	return "not a regular file";
}

int dbc_load_flags(struct dbc *out, const char *path, unsigned flags, struct dbc_error *err)
{
	char *buf = NULL;
	size_t len = 0, cap;
	struct stat st;
	int rc;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return dbc__load_error(err, path, -errno, NULL);
	if (fstat(fd, &st) < 0) {
		rc = dbc__load_error(err, path, -errno, NULL);
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = dbc__load_error(err, path, -EINVAL, dbc__file_kind(st.st_mode));
		goto close_fd;
	}
	if (st.st_size > (off_t)DBC_FILE_MAX) {
		rc = dbc__load_error(err, path, -EFBIG, "larger than the 4 MiB a DBC file may have");
		goto close_fd;
	}
	/* One byte more than the size, to see a file that grew meanwhile (up to the cap). */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = dbc__load_error(err, path, -ENOMEM, NULL);
		goto close_fd;
	}
	for (;;) {
		if (len == cap) {
			if (cap > DBC_FILE_MAX) {
				rc = dbc__load_error(err, path, -EFBIG, "larger than the 4 MiB a DBC file may have");
				goto free_buf;
			}
			size_t ncap = cap * 2 > (size_t)DBC_FILE_MAX + 1 ? (size_t)DBC_FILE_MAX + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				rc = dbc__load_error(err, path, -ENOMEM, NULL);
				goto free_buf;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = dbc__load_error(err, path, -errno, NULL);
			goto free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = dbc_parse(out, buf, len, err);
	if (rc == 0 && out->n_msgs == 0 && !(flags & DBC_LOAD_ALLOW_EMPTY)) {
		dbc_fini(out);
		rc = dbc__load_error(err, path, -ENODATA, "no message (BO_) defined: an empty database");
	}
free_buf:
	free(buf);
close_fd:
	close(fd);
	return rc;
}

int dbc_load(struct dbc *out, const char *path, struct dbc_error *err)
{
	return dbc_load_flags(out, path, 0, err);
}

void dbc_fini(struct dbc *dbc)
{
	for (size_t i = 0; i < dbc->n_msgs; i++) {
		for (size_t j = 0; j < dbc->msgs[i].n_sigs; j++)
			dbc__signal_free(&dbc->msgs[i].sigs[j]);
		free(dbc->msgs[i].sigs);
	}
	free(dbc->msgs);
	free(dbc->version);
	memset(dbc, 0, sizeof *dbc);
}

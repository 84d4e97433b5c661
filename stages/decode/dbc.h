/*
 * dbc.h - a parser for DBC signal databases (the de-facto CAN description format, ../shared/facts/interop.md).
 *
 * It reads the parts a decoder needs: VERSION, BO_ (messages), SG_ (signals, with simple multiplexing),
 * VAL_ (value descriptions) and SIG_VALTYPE_ (IEEE float signals).  NS_, BS_, BU_, CM_, BA_DEF_, BA_, BA_DEF_DEF_,
 * VAL_TABLE_ and the other attribute and grouping sections are skipped (strings may span lines).  LF or CRLF.
 *
 * Bit numbering: for Intel (@1) signals the start bit is the least significant bit, bit i being bit i%8 of byte i/8.
 * For Motorola (@0) signals the start bit is the most significant bit, numbered in the same "sawtooth" way (byte 0 =
 * bits 7..0, byte 1 = bits 15..8, ...); the signal continues towards the least significant bit of that byte, then
 * into the following byte from its bit 7.
 *
 * A message id with bit 31 set is a 29-bit identifier and is stored with CAN_EFF_FLAG (record.h).  The pseudo
 * message VECTOR__INDEPENDENT_SIG_MSG (id 0xC0000000, used by editors for unplaced signals) is skipped.
 * Messages are classical CAN: DLC 0..8.
 *
 * The parsed struct dbc is plain heap data owned by the caller, freed by dbc_fini().  Nothing here is thread-aware:
 * one thread per struct dbc.  Parsing allocates; it is a start-up job, never a real-time one.
 */
#ifndef V2X_STAGES_DECODE_DBC_H
#define V2X_STAGES_DECODE_DBC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DBC_NAME_MAX 64 /* longest message or signal name, in bytes */

struct dbc_error {
	unsigned line; /* 1-based line of the error, 0 when not tied to a line (I/O, memory) */
	char msg[160]; /* "line 12: SG_ length 0 (must be 1..64)" */
};

/* One value description (VAL_): raw value -> text. */
struct dbc_value_desc {
	int64_t raw;  /* as written; compared with the signal's raw value (sign-extended for signed signals) */
	char *text;
};

enum dbc_value_type {
	DBC_VT_INT = 0,     /* integer, signed or unsigned */
	DBC_VT_FLOAT32 = 1, /* SIG_VALTYPE_ 1: IEEE 754 single, 32 bits */
	DBC_VT_FLOAT64 = 2, /* SIG_VALTYPE_ 2: IEEE 754 double, 64 bits */
};

struct dbc_signal {
	char name[DBC_NAME_MAX + 1];
	unsigned start_bit;        /* as in the file: LSB for Intel, MSB (sawtooth numbering) for Motorola */
	unsigned length_bits;      /* 1..64 */
	bool motorola;             /* @0 */
	bool is_signed;            /* - */
	uint8_t value_type;        /* enum dbc_value_type */
	bool is_multiplexor;       /* M */
	int64_t mux_value;         /* m<n>: decoded only when the message's multiplexor has raw value n; -1 = always */
	double factor, offset;     /* physical = raw * factor + offset; factor != 0 */
	double min, max;           /* valid physical range; min == max == 0: unspecified */
	char *unit;                /* never NULL ("" when none) */
	struct dbc_value_desc *vals; /* VAL_ entries, n_vals of them */
	size_t n_vals;
	unsigned line;             /* line of the SG_ in the file */
};

struct dbc_message {
	uint32_t id;               /* CAN id, with CAN_EFF_FLAG for 29-bit ids */
	char name[DBC_NAME_MAX + 1];
	unsigned dlc;              /* 0..8 */
	struct dbc_signal *sigs;
	size_t n_sigs;
	unsigned line;             /* line of the BO_ */
};

struct dbc {
	char *version;             /* VERSION string, "" when absent; never NULL after a successful parse */
	struct dbc_message *msgs;
	size_t n_msgs;
};

/* Parses len bytes of DBC text (need not be NUL-terminated) into *out.  Returns 0, -EINVAL for malformed input
   (err says where and why), -ENOMEM.  On failure *out holds nothing to free.  err may be NULL.  Allocates. */
int dbc_parse(struct dbc *out, const char *text, size_t len, struct dbc_error *err);

/* Largest DBC file dbc_load reads: 4 MiB (real databases are tens to hundreds of KiB; a bigger "file" is a mistake
   such as /dev/zero, and reading it would only exhaust memory). */
#define DBC_FILE_MAX (4u << 20)

/* dbc_load_flags() flags. */
#define DBC_LOAD_ALLOW_EMPTY 0x1u /* accept a database without messages (every frame then decodes as "unknown id") */

/*
 * Reads and parses the file at path, refusing what cannot be a database before reading it: not a regular file
 * (a device such as /dev/zero or /dev/null, a FIFO, a directory) -> -EINVAL; bigger than DBC_FILE_MAX (checked with
 * fstat and again while reading, in case it grows) -> -EFBIG; and, unless flags has DBC_LOAD_ALLOW_EMPTY, a file
 * that parses but defines no message -> -ENODATA.  Other errors: a negative errno from open/read, or as dbc_parse.
 * err->line is 0 for every error but dbc_parse's, and err->msg names the path.  The open never blocks on a FIFO.
 * Blocks on file I/O; allocates.
 */
int dbc_load_flags(struct dbc *out, const char *path, unsigned flags, struct dbc_error *err);

/* dbc_load_flags(out, path, 0, err): an empty database is an error. */
int dbc_load(struct dbc *out, const char *path, struct dbc_error *err);

/* Frees what dbc_parse/dbc_load allocated and zeroes *dbc.  Safe on a zeroed struct. */
void dbc_fini(struct dbc *dbc);

/* Returns the message with id (CAN_EFF_FLAG included for 29-bit ids), or NULL.  Linear search: not for a hot path. */
const struct dbc_message *dbc_find_message(const struct dbc *dbc, uint32_t id);

/* Returns the signal called name in msg, or NULL. */
const struct dbc_signal *dbc_find_signal(const struct dbc_message *msg, const char *name);

/* Returns the number of bytes a frame must carry to hold all of sig's bits (1..8). */
unsigned dbc_signal_bytes_needed(const struct dbc_signal *sig);

#endif

/*
 * config.h - configuration of programs and stages from one table per stage: INI file, command line, --help,
 * --print-config and JSON all come from the same key tables.  No vehicle knowledge.
 *
 * A stage (or program) exports a configuration struct, a defaults function that fills it, and a key table: each key
 * names its [section] and key, its type, where it lives in the struct (RT_CONFIG_FIELD), its range and unit, a
 * one-line help, and optionally its long option (default "--<section>-<key>", '_' written '-').
 *
 * rt_config_load() applies, in this order, later ones winning:
 *   1. each table's defaults function, on the zero-filled struct (the loader calls it: callers need not fill
 *      the structs first; it checks that every default is a value its own key accepts);
 *   2. the INI file named by `--config FILE` (found in argv before anything else is applied);
 *   3. the command line, through getopt_long options built from the same tables.
 * Then it checks that every RT_CONFIG_REQUIRED key was set.  Nothing is applied half-way: any error makes the
 * whole load fail (the program exits 2), with every error of the file reported, each as
 *   "v2xd.ini:12: [log] flush_ms = abc: not a number (1..60000 ms)"
 * and command-line errors as "--flush-ms abc: not a number (1..60000 ms)".  Secret values are never echoed.
 *
 * The INI file (parsed by libinih): "[section]" lines, "key = value" lines, comments on lines starting with ';' or
 * '#', inline comments after " ;".  Values are taken verbatim after trimming the spaces around them (no quotes).
 * A key given twice in a section is allowed: the last one wins.  Refused: an unknown section (even empty), an unknown
 * key (with "did you mean"), a key before any section, a line that is neither, a line longer than
 * RT_CONFIG_LINE_MAX characters, a NUL byte, a missing or unreadable file, a file that is not a regular file, and a
 * file larger than RT_CONFIG_FILE_MAX bytes.  Indented lines are ordinary lines (no multi-line values).
 *
 * Values (the same text in the file and on the command line; all strict: no spaces around a number, no sign on an
 * unsigned number, no empty number, no trailing characters, overflow and out-of-range refused with the range):
 *   RT_CONFIG_BOOL      true/false, yes/no, on/off, 1/0 (any case).  Stored in a bool or an int field.  On the
 *                       command line "--x" sets true, "--no-x" false, "--x=VALUE" any of the words.
 *   RT_CONFIG_INT       decimal, optional '-'; range imin..imax (both 0: the field's range).  int8..int64 fields.
 *   RT_CONFIG_UINT      decimal digits only; range umin..umax (both 0: the field's range); RT_CONFIG_POW2 asks for
 *                       a power of two.  uint8..uint64 fields (unsigned, size_t).
 *   RT_CONFIG_DURATION  a whole number in the key's unit ("ns", "us", "ms", "s"), stored as uint64_t nanoseconds;
 *                       the range umin..umax is in the key's unit.
 *   RT_CONFIG_SIZE      a whole number in the key's unit ("B", "KiB", "MiB", "GiB"), stored in bytes (size_t or
 *                       uint64_t); the range is in the key's unit.
 *   RT_CONFIG_DOUBLE    decimal (digits, '.', exponent; no hex, inf or nan); range dmin..dmax (both 0: any).
 *   RT_CONFIG_STRING    text stored in a char array (the field): at most umax characters (0: the array's size
 *   RT_CONFIG_PATH      minus one); empty refused unless RT_CONFIG_EMPTY_OK; no control characters, no space at
 *   RT_CONFIG_SECRET    either end, no " ;" (an INI comment), so --print-config always re-loads.  A SECRET prints
 *                       as "***" in --print-config and JSON, and its text is never shown in a message.
 *   RT_CONFIG_ENUM      one of key->choices' names, stored as int; the error lists the accepted names.
 *   RT_CONFIG_CPUSET    a CPU list ("2", "0-1", "0,2-3": rt_cpuset_parse), stored in a cpu_set_t; an empty value
 *                       is the empty set, which rt/thread reads as "not pinned".
 *   RT_CONFIG_POLICY    fifo, rr or other (rt_policy_parse), stored as int.
 *   RT_CONFIG_CUSTOM    key->custom's parse and format callbacks (e.g. a baud rate from a list).
 *
 * Threads: everything here runs at start-up on the control thread; it allocates (option tables, scratch structs)
 * and frees before returning.  It sets libinih's process-wide options (ini_allow_multiline, ini_max_line, ...)
 * before each parse, so nothing else in the process may parse INI files concurrently.
 */
#ifndef V2X_RT_CONFIG_H
#define V2X_RT_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest configuration file accepted, in bytes. */
#define RT_CONFIG_FILE_MAX (1024 * 1024)
/* Longest line of a configuration file, in characters (without the newline). */
#define RT_CONFIG_LINE_MAX 4096

enum rt_config_type {
	RT_CONFIG_BOOL,
	RT_CONFIG_INT,
	RT_CONFIG_UINT,
	RT_CONFIG_DURATION,
	RT_CONFIG_SIZE,
	RT_CONFIG_DOUBLE,
	RT_CONFIG_STRING,
	RT_CONFIG_PATH,
	RT_CONFIG_SECRET,
	RT_CONFIG_ENUM,
	RT_CONFIG_CPUSET,
	RT_CONFIG_POLICY,
	RT_CONFIG_CUSTOM,
};

/* Key flags. */
#define RT_CONFIG_POW2 0x1u      /* UINT: the value must be a power of two */
#define RT_CONFIG_EMPTY_OK 0x2u  /* STRING, PATH, SECRET: the empty string is accepted (e.g. "not set") */
#define RT_CONFIG_REQUIRED 0x4u  /* must be set by the file or the command line (its default is not used) */
#define RT_CONFIG_NO_OPTION 0x8u /* file only: no command-line option */

/* One name of an RT_CONFIG_ENUM key; a list ends with {NULL, 0}. */
struct rt_config_choice {
	const char *name;
	int value;
};

struct rt_config_key;

/* An RT_CONFIG_CUSTOM type. */
struct rt_config_custom {
	const char *expects; /* what is accepted, shown in --help and errors: "115200, 230400, 460800, ..." */
	const char *arg;     /* placeholder in --help ("N"); NULL: "VALUE" */
	/* Parses text into field (key->size bytes).  Returns 0, or -EINVAL with *why set to a short static reason
	 * ("not a supported rate"); must leave field untouched on failure.  text is never NULL. */
	int (*parse)(const struct rt_config_key *key, const char *text, void *field, const char **why);
	/* Writes field as text that parse() accepts (terminated, cut to size).  Returns the length it needs (like
	 * snprintf) or a negative errno. */
	int (*format)(const struct rt_config_key *key, const void *field, char *buf, size_t size);
};

struct rt_config_key {
	const char *section;        /* "log": the INI [section] */
	const char *key;            /* "flush_ms": the INI key */
	enum rt_config_type type;
	size_t offset;              /* where the field is in the struct: RT_CONFIG_FIELD() sets offset and size */
	size_t size;
	int64_t imin, imax;         /* INT range (both 0: the field's whole range) */
	uint64_t umin, umax;        /* UINT, DURATION, SIZE range in the key's unit; STRING max length (0: the field's) */
	double dmin, dmax;          /* DOUBLE range (both 0: any finite value) */
	const char *unit;           /* DURATION/SIZE: the unit the user writes; others: a unit shown in --help */
	const char *help;           /* one line */
	const char *opt;            /* long option without "--"; NULL: "<section>-<key>" with '_' as '-' */
	const char *arg;            /* placeholder in --help; NULL: from the type ("N", "PATH", ...) */
	unsigned flags;             /* RT_CONFIG_POW2 | RT_CONFIG_EMPTY_OK | RT_CONFIG_REQUIRED | RT_CONFIG_NO_OPTION */
	const struct rt_config_choice *choices; /* ENUM */
	const struct rt_config_custom *custom;  /* CUSTOM */
};

/* Offset and size of member in type, for a key initializer: { ..., RT_CONFIG_FIELD(struct log_conf, flush_ns) }. */
#define RT_CONFIG_FIELD(stype, member) .offset = offsetof(stype, member), .size = sizeof(((stype *)0)->member)

/* A stage's or program's table. */
struct rt_config_table {
	const char *name;                 /* for table errors ("log") */
	const struct rt_config_key *keys;
	size_t n_keys;
	size_t conf_size;                 /* sizeof the configuration struct */
	void (*defaults)(void *conf);     /* fills the struct with the defaults; NULL: zero-filled */
};

/* A table with the struct instance it fills. */
struct rt_config_bind {
	const struct rt_config_table *table;
	void *conf;
};

/* A command-line option that sets a key to a fixed value, e.g. {"verbose", "log-level", "debug", "..."}. */
struct rt_config_alias {
	const char *opt;    /* the option, without "--" */
	const char *target; /* the key's option name (key->opt or "<section>-<key>") */
	const char *value;  /* the value it sets */
	const char *help;
};

struct rt_config_program {
	const char *name;                      /* program name, shown in messages ("v2xd") */
	const char *usage;                     /* the usage lines --help prints first (ending with a newline) */
	const struct rt_config_bind *binds;
	size_t n_binds;
	const struct rt_config_alias *aliases; /* NULL, or a list ending with .opt == NULL */
	FILE *out;                             /* where --help and --print-config go; NULL: stdout */
	char *errbuf;                          /* NULL: each error is logged with rt_err(); else the errors are */
	size_t errbuf_size;                    /* written here, one per line (cut to errbuf_size, terminated) */
};

/* rt_config_load() returned after printing --help or --print-config: the program exits 0. */
#define RT_CONFIG_DONE 1

/*
 * Loads the configuration of every bound table: defaults, then --config FILE, then the command line (see the top
 * of this header).  argv[0] is the program; argv is not modified (the options are parsed in order, no permutation,
 * and an argument that is not an option is refused: a program handles its subcommands before calling this).
 * Built-in options: --config FILE, --print-config (print the effective configuration as INI, then return
 * RT_CONFIG_DONE), --help (print the generated help with the defaults, then return RT_CONFIG_DONE).
 * Returns 0 (run), RT_CONFIG_DONE, or a negative errno after reporting every error: -EINVAL (a bad value, key,
 * section, line or option, a missing required key, or an inconsistent table: a program bug), -ENOENT/-EACCES/...
 * (the file cannot be opened), -EFBIG (file too large), -ENOMEM.  The bound structs hold the defaults plus whatever
 * was applied when it fails.  Control thread, start-up only; uses getopt_long's globals (optind, opterr).
 */
int rt_config_load(const struct rt_config_program *p, int argc, char **argv);

/*
 * Parses text as key's value into conf's field (conf is the struct the key's table describes).  On failure returns
 * -EINVAL, leaves the field untouched, and writes into why a reason with what is accepted, such as
 * "not a number (1..60000 ms)" (never containing a secret's text).  why may be NULL.
 */
int rt_config_parse_value(const struct rt_config_key *k, void *conf, const char *text, char *why, size_t why_size);

/*
 * Formats conf's field for key as text rt_config_parse_value() accepts (a secret as "***" when mask is true).
 * Writes at most size bytes, terminated.  Returns the length it needs (like snprintf), or -EDOM when the stored
 * value cannot be written in the key's unit or names (a table whose default is not representable).
 */
int rt_config_format_value(const struct rt_config_key *k, const void *conf, bool mask, char *buf, size_t size);

/* Writes the effective configuration of every bound table as an INI file that re-loads to the same values: every
 * key, a comment with its help and range above it, secrets masked "***".  Returns 0 or -EIO. */
int rt_config_print_ini(FILE *f, const struct rt_config_bind *binds, size_t n_binds);

/* Writes the generated help: p->usage, then each section's options with placeholder, range, unit, default (from the
 * bound structs' current values) and help, then the aliases and built-in options.  Returns 0 or -EIO. */
int rt_config_print_help(FILE *f, const struct rt_config_program *p);

/*
 * Adds every key to obj as obj[section][key] (the section objects created as needed): booleans as JSON booleans,
 * numbers as numbers in the key's unit (as strings beyond 2^53), everything else as the INI text; secrets "***".
 * obj is a cJSON object (declared opaquely so this header needs no cJSON).  Returns 0, -EINVAL or -ENOMEM.
 */
struct cJSON;
int rt_config_to_json(struct cJSON *obj, const struct rt_config_bind *binds, size_t n_binds);

/* Strict decimal parsers shared with custom types: digits only (s64: one leading '-'), no spaces, no empty string,
 * overflow refused.  Return 0, -EINVAL (not a number) or -ERANGE (overflow). */
int rt_config_parse_u64(const char *s, uint64_t *out);
int rt_config_parse_s64(const char *s, int64_t *out);

/* ---- the scheduling section every stage has ---- */

/* A stage thread's scheduling: CPUs (empty: not pinned), policy (SCHED_OTHER, SCHED_FIFO, SCHED_RR) and priority
 * (1..99, used only with SCHED_FIFO and SCHED_RR: ignored with SCHED_OTHER). */
struct rt_sched_conf {
	cpu_set_t cpus;
	int policy;
	int priority;
};

/* Fills s: not pinned, policy, priority. */
void rt_sched_conf_init(struct rt_sched_conf *s, int policy, int priority);

/* Copies s into a thread configuration (rt/thread.h), the priority as 0 with SCHED_OTHER. */
struct rt_thread_conf;
void rt_sched_conf_to_thread(const struct rt_sched_conf *s, struct rt_thread_conf *t);

/*
 * Three keys [sec] cpus, policy, priority for a struct rt_sched_conf member of type, to put in a key table:
 *   static const struct rt_config_key keys[] = { ..., RT_CONFIG_SCHED_KEYS("log", struct log_conf, sched) };
 * Options: --<sec>-cpus, --<sec>-policy, --<sec>-priority.
 */
#define RT_CONFIG_SCHED_KEYS(sec, stype, member)                                                                     \
	{.section = (sec), .key = "cpus", .type = RT_CONFIG_CPUSET, RT_CONFIG_FIELD(stype, member.cpus),            \
	 .help = "CPUs the thread may run on (empty: not pinned)"},                                                 \
	{.section = (sec), .key = "policy", .type = RT_CONFIG_POLICY, RT_CONFIG_FIELD(stype, member.policy),        \
	 .help = "scheduling policy (fifo and rr fall back to other without privilege)"},                           \
	{.section = (sec), .key = "priority", .type = RT_CONFIG_INT, RT_CONFIG_FIELD(stype, member.priority),       \
	 .imin = 1, .imax = 99, .help = "real-time priority with fifo or rr (ignored with other)"}

#endif

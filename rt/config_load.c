/*
 * config_load.c - the configuration loader: table checks, defaults, the INI file (libinih), the command line
 * (getopt_long built from the tables), required keys, and the generated --help.
 *
 * Line numbers: Debian's libinih calls the handler without a line number, so the file is fed to ini_parse_stream()
 * through our own reader, which returns exactly one physical line per call (an over-long line or one with a NUL byte
 * is reported and replaced by a comment), hence inih's line count and ours agree.  The reader also sees every
 * section header (unknown sections are refused even when empty) and notices a key line for which inih never called
 * the handler: a line inih could not parse.  The handler always returns 1, so inih's own return value can only name
 * a line it could not parse; it is reported too when our reader did not already report that line.
 */
#include "rt/config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/config_internal.h"
#include "rt/log.h"

#define CONFIG_MAX_ERRORS 50
#define CONFIG_OPT_BASE 256
#define CONFIG_STR_(x) #x
#define CONFIG_STR(x) CONFIG_STR_(x)

enum config__opt_kind { OPT_KEY, OPT_KEY_NO, OPT_ALIAS, OPT_CONFIG, OPT_PRINT, OPT_HELP };

struct config__opt {
	char *name;         /* owned */
	enum config__opt_kind kind;
	size_t bind, key;   /* OPT_KEY, OPT_KEY_NO, OPT_ALIAS: the key */
	const struct rt_config_alias *alias;
};

struct config__ctx {
	const struct rt_config_program *p;
	size_t errlen;
	int nerr;
	bool *set;          /* per key, flattened over the binds: set by the file or the command line */
	size_t *base;       /* index of each bind's first key in set */
	struct config__opt *opts;
	size_t n_opts;
	struct option *longopts;
	/* the file being read */
	const char *path;
	FILE *f;
	int lineno;
	size_t bytes;
	bool too_big, read_err;
	bool section_ok;    /* the current [section] is known (or no section yet) */
	int pending;        /* a key line inih should hand to the handler, or 0 */
	bool handled;
	int err_lines[64];  /* lines already reported (the first 64) */
	size_t n_err_lines;
};

static void config__error(struct config__ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void config__error(struct config__ctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (++c->nerr > CONFIG_MAX_ERRORS + 1)
		return;
	if (c->nerr == CONFIG_MAX_ERRORS + 1) {
		snprintf(line, sizeof(line), "more than %d configuration errors; not showing the rest", CONFIG_MAX_ERRORS);
	} else {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
	}
	if (c->p->errbuf == NULL) {
		rt_err("%s", line);
		return;
	}
	if (c->p->errbuf_size == 0 || c->errlen >= c->p->errbuf_size - 1)
		return;
	int n = snprintf(c->p->errbuf + c->errlen, c->p->errbuf_size - c->errlen, "%s\n", line);
	if (n > 0)
		c->errlen = c->errlen + (size_t)n < c->p->errbuf_size ? c->errlen + (size_t)n : c->p->errbuf_size - 1;
}

/* Records that line has an error (for inih's return value). */
static void config__error_line(struct config__ctx *c, int line)
{
	if (c->n_err_lines < sizeof(c->err_lines) / sizeof(c->err_lines[0]))
		c->err_lines[c->n_err_lines++] = line;
}

static bool config__line_reported(const struct config__ctx *c, int line)
{
	for (size_t i = 0; i < c->n_err_lines; i++)
		if (c->err_lines[i] == line)
			return true;
	return false;
}

/* ---- names ---- */

static size_t config__edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 64;
	size_t row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* True when candidate is close enough to name to suggest it. */
static bool config__close(const char *name, const char *candidate, size_t *best)
{
	size_t d = config__edit_distance(name, candidate);
	size_t ln = strlen(name);
	if (ln >= 3 && (strncmp(name, candidate, ln) == 0 || strstr(candidate, name)))
		d = d < 2 ? d : 2;
	if (d <= 2 && d < *best) {
		*best = d;
		return true;
	}
	return false;
}

static const struct rt_config_key *config__find(const struct rt_config_program *p, const char *section,
						 const char *key, size_t *bind, size_t *idx)
{
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++)
			if (strcmp(t->keys[i].section, section) == 0 && strcmp(t->keys[i].key, key) == 0) {
				*bind = b;
				*idx = i;
				return &t->keys[i];
			}
	}
	return NULL;
}

static bool config__section_known(const struct rt_config_program *p, const char *section)
{
	for (size_t b = 0; b < p->n_binds; b++)
		for (size_t i = 0; i < p->binds[b].table->n_keys; i++)
			if (strcmp(p->binds[b].table->keys[i].section, section) == 0)
				return true;
	return false;
}

struct config__list {
	char *buf;
	size_t size, len;
};

static void config__list_add(const char *section, void *arg)
{
	struct config__list *l = arg;
	int n = snprintf(l->buf + l->len, l->size - l->len, "%s%s", l->len ? ", " : "", section);
	if (n > 0)
		l->len = l->len + (size_t)n < l->size ? l->len + (size_t)n : l->size - 1;
}

/* ---- table checks ---- */

static bool config__size_ok(const struct rt_config_key *k)
{
	switch (k->type) {
	case RT_CONFIG_BOOL: return k->size == sizeof(bool) || k->size == sizeof(int);
	case RT_CONFIG_INT:
	case RT_CONFIG_UINT: return k->size == 1 || k->size == 2 || k->size == 4 || k->size == 8;
	case RT_CONFIG_DURATION: return k->size == sizeof(uint64_t);
	case RT_CONFIG_SIZE: return k->size == sizeof(uint64_t) || k->size == sizeof(size_t);
	case RT_CONFIG_DOUBLE: return k->size == sizeof(double);
	case RT_CONFIG_STRING:
	case RT_CONFIG_PATH:
	case RT_CONFIG_SECRET: return k->size >= 2;
	case RT_CONFIG_ENUM:
	case RT_CONFIG_POLICY: return k->size == sizeof(int);
	case RT_CONFIG_CPUSET: return k->size == sizeof(cpu_set_t);
	case RT_CONFIG_CUSTOM: return k->size > 0;
	}
	return false;
}

/* Why key k of table t is inconsistent, or NULL. */
static const char *config__key_bug(const struct rt_config_table *t, const struct rt_config_key *k)
{
	if (k->section == NULL || !*k->section || k->key == NULL || !*k->key)
		return "no section or key name";
	if (strpbrk(k->section, "[]=:;# \t") || strpbrk(k->key, "[]=:;# \t") || strlen(k->section) > 40 ||
	    strlen(k->key) > 40)
		return "a section or key name with a space or one of []=:;# or longer than 40";
	if (k->offset + k->size > t->conf_size || !config__size_ok(k))
		return "field size does not fit the type or the struct";
	if ((k->type == RT_CONFIG_DURATION || k->type == RT_CONFIG_SIZE) && config__unit_mult(k) == 0)
		return "unknown unit (durations: ns, us, ms, s; sizes: B, KiB, MiB, GiB)";
	if (k->type == RT_CONFIG_UINT || k->type == RT_CONFIG_DURATION || k->type == RT_CONFIG_SIZE) {
		uint64_t lo, hi, mult = config__unit_mult(k);
		config__urange(k, &lo, &hi);
		uint64_t fmax = k->size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * k->size)) - 1;
		if (lo > hi || hi > fmax / mult)
			return "range empty or too large for the field";
	}
	if (k->type == RT_CONFIG_INT) {
		int64_t lo, hi;
		config__irange(k, &lo, &hi);
		int64_t fmax = k->size >= 8 ? INT64_MAX : (INT64_C(1) << (8 * k->size - 1)) - 1;
		if (lo > hi || hi > fmax || lo < -fmax - 1)
			return "range empty or too large for the field";
	}
	if (k->type == RT_CONFIG_DOUBLE && k->dmin > k->dmax)
		return "empty range";
	if (k->type == RT_CONFIG_ENUM && (k->choices == NULL || k->choices[0].name == NULL))
		return "an enum without choices";
	if (k->type == RT_CONFIG_CUSTOM && (k->custom == NULL || !k->custom->parse || !k->custom->format))
		return "a custom type without parse and format";
	if (config__is_text(k->type) && k->size - 1 > RT_CONFIG_LINE_MAX - 64)
		return "a text longer than a configuration line can hold";
	return NULL;
}

/* ---- options ---- */

static char *config__opt_name(const struct rt_config_key *k)
{
	char *s;
	if (k->opt)
		return strdup(k->opt);
	if (asprintf(&s, "%s-%s", k->section, k->key) < 0)
		return NULL;
	for (char *q = s; *q; q++)
		if (*q == '_')
			*q = '-';
	return s;
}

static int config__add_opt(struct config__ctx *c, char *name, enum config__opt_kind kind, size_t bind, size_t key,
			   const struct rt_config_alias *alias)
{
	if (name == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_opts; i++)
		if (strcmp(c->opts[i].name, name) == 0) {
			config__error(c, "configuration table error: option --%s is defined twice", name);
			free(name);
			return -EINVAL;
		}
	c->opts[c->n_opts++] = (struct config__opt){.name = name, .kind = kind, .bind = bind, .key = key, .alias = alias};
	return 0;
}

static int config__build_opts(struct config__ctx *c)
{
	const struct rt_config_program *p = c->p;
	size_t n = 3, n_keys = 0;
	int rc;
	for (size_t b = 0; b < p->n_binds; b++)
		n_keys += p->binds[b].table->n_keys;
	n += 2 * n_keys;
	for (const struct rt_config_alias *a = p->aliases; a && a->opt; a++)
		n++;
	c->opts = calloc(n, sizeof(*c->opts));
	c->longopts = calloc(n + 1, sizeof(*c->longopts));
	if (!c->opts || !c->longopts)
		return -ENOMEM;
	if ((rc = config__add_opt(c, strdup("config"), OPT_CONFIG, 0, 0, NULL)) ||
	    (rc = config__add_opt(c, strdup("print-config"), OPT_PRINT, 0, 0, NULL)) ||
	    (rc = config__add_opt(c, strdup("help"), OPT_HELP, 0, 0, NULL)))
		return rc;
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			if (k->flags & RT_CONFIG_NO_OPTION)
				continue;
			char *name = config__opt_name(k);
			if ((rc = config__add_opt(c, name, OPT_KEY, b, i, NULL)))
				return rc;
			if (k->type == RT_CONFIG_BOOL) {
				char *no;
				if (asprintf(&no, "no-%s", name) < 0)
					return -ENOMEM;
				if ((rc = config__add_opt(c, no, OPT_KEY_NO, b, i, NULL)))
					return rc;
			}
		}
	}
	for (const struct rt_config_alias *a = p->aliases; a && a->opt; a++) {
		size_t i;
		for (i = 0; i < c->n_opts; i++)
			if (c->opts[i].kind == OPT_KEY && strcmp(c->opts[i].name, a->target) == 0)
				break;
		if (i == c->n_opts) {
			config__error(c, "configuration table error: --%s is an alias of --%s, which does not exist", a->opt,
				      a->target);
			return -EINVAL;
		}
		if ((rc = config__add_opt(c, strdup(a->opt), OPT_ALIAS, c->opts[i].bind, c->opts[i].key, a)))
			return rc;
	}
	for (size_t i = 0; i < c->n_opts; i++) {
		const struct config__opt *o = &c->opts[i];
		int has_arg = no_argument;
		if (o->kind == OPT_CONFIG)
			has_arg = required_argument;
		else if (o->kind == OPT_KEY)
			has_arg = p->binds[o->bind].table->keys[o->key].type == RT_CONFIG_BOOL ? optional_argument
											       : required_argument;
		c->longopts[i] = (struct option){.name = o->name, .has_arg = has_arg, .flag = NULL,
						 .val = CONFIG_OPT_BASE + (int)i};
	}
	return 0;
}

/* The argv element getopt_long just consumed for an option (not its separate value). */
static const char *config__opt_elem(char **argv)
{
	if (optarg && optind >= 2 && optarg == argv[optind - 1])
		return argv[optind - 2];
	return argv[optind - 1];
}

/* ---- applying values ---- */

static const struct rt_config_key *config__key(const struct config__ctx *c, size_t bind, size_t key)
{
	return &c->p->binds[bind].table->keys[key];
}

/* Applies text to a key from the command line; opt is how the user wrote the option. */
static void config__apply_opt(struct config__ctx *c, const char *opt, size_t bind, size_t key, const char *text)
{
	const struct rt_config_key *k = config__key(c, bind, key);
	char why[512];
	if (rt_config_parse_value(k, c->p->binds[bind].conf, text, why, sizeof(why)) == 0) {
		c->set[c->base[bind] + key] = true;
		return;
	}
	config__error(c, "%s %s: %s", opt, k->type == RT_CONFIG_SECRET ? "***" : text, why);
}

/* ---- the INI file ---- */

static void config__line_done(struct config__ctx *c)
{
	if (c->pending && !c->handled) {
		config__error(c, "%s:%d: cannot parse this line (expected [section], key = value, or a comment)", c->path,
			      c->pending);
		config__error_line(c, c->pending);
	}
	c->pending = 0;
	c->handled = false;
}

/* Looks at the line inih is about to parse: section headers, and whether the handler must be called. */
static void config__classify(struct config__ctx *c, const char *line)
{
	const char *s = line;
	if (c->lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
		s += 3;
	s += strspn(s, " \t\r\n\v\f");
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (*s != '[') {
		c->pending = c->lineno;
		return;
	}
	const char *end = strchr(s, ']');
	if (end == NULL) {
		config__error(c, "%s:%d: a section line without ']'", c->path, c->lineno);
		config__error_line(c, c->lineno);
		return;
	}
	const char *after = end + 1 + strspn(end + 1, " \t\r\n\v\f");
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(end - s - 1 < 63 ? end - s - 1 : 63), s + 1);
	if (*after && *after != ';' && *after != '#') {
		config__error(c, "%s:%d: text after the section name [%s]", c->path, c->lineno, name);
		config__error_line(c, c->lineno);
	}
	c->section_ok = config__section_known(c->p, name);
	if (!c->section_ok) {
		char known[512];
		struct config__list l = {.buf = known, .size = sizeof(known), .len = 0};
		known[0] = '\0';
		config__each_section(c->p->binds, c->p->n_binds, config__list_add, &l);
		config__error(c, "%s:%d: unknown section [%s] (sections: %s)", c->path, c->lineno, name, known);
		config__error_line(c, c->lineno);
	}
}

/* ini_reader: one physical line per call, so inih's line numbers are the file's. */
static char *config__reader(char *str, int num, void *stream)
{
	struct config__ctx *c = stream;
	size_t n = 0;
	bool got = false, nul = false, over = false;
	int ch = EOF;

	config__line_done(c);
	while ((ch = getc(c->f)) != EOF) {
		got = true;
		if (++c->bytes > RT_CONFIG_FILE_MAX) {
			c->too_big = true;
			return NULL;
		}
		if (ch == '\n')
			break;
		if (ch == '\0')
			nul = true;
		if (n < RT_CONFIG_LINE_MAX && n + 2 < (size_t)num)
			str[n++] = (char)ch;
		else
			over = true;
	}
	if (ch == EOF && ferror(c->f))
		c->read_err = true;
	if (!got)
		return NULL;
	c->lineno++;
	if (nul || over) {
		config__error(c, "%s:%d: %s", c->path, c->lineno,
			      nul ? "a NUL byte in the line" : "line longer than " CONFIG_STR(RT_CONFIG_LINE_MAX) " characters");
		config__error_line(c, c->lineno);
		n = 0;
		str[n++] = '#';
	}
	str[n++] = '\n';
	str[n] = '\0';
	if (!nul && !over)
		config__classify(c, str);
	return str;
}

static int config__handler(void *user, const char *section, const char *name, const char *value)
{
	struct config__ctx *c = user;
	const struct rt_config_program *p = c->p;
	size_t b, i;
	char why[512];

	c->handled = true;
	if (*section == '\0') {
		config__error(c, "%s:%d: '%s' is outside any section (put it under [section])", c->path, c->lineno, name);
		config__error_line(c, c->lineno);
		return 1;
	}
	if (!c->section_ok)
		return 1; /* reported at its header */
	const struct rt_config_key *k = config__find(p, section, name, &b, &i);
	if (k == NULL) {
		const char *hint = NULL;
		size_t best = 3;
		for (size_t b2 = 0; b2 < p->n_binds; b2++)
			for (size_t j = 0; j < p->binds[b2].table->n_keys; j++) {
				const struct rt_config_key *kk = &p->binds[b2].table->keys[j];
				if (strcmp(kk->section, section) == 0 && config__close(name, kk->key, &best))
					hint = kk->key;
			}
		if (hint)
			config__error(c, "%s:%d: [%s] unknown key '%s' (did you mean '%s'?)", c->path, c->lineno, section,
				      name, hint);
		else
			config__error(c, "%s:%d: [%s] unknown key '%s'", c->path, c->lineno, section, name);
		config__error_line(c, c->lineno);
		return 1;
	}
	if (rt_config_parse_value(k, p->binds[b].conf, value, why, sizeof(why)) != 0) {
		config__error(c, "%s:%d: [%s] %s = %s: %s", c->path, c->lineno, section, name,
			      k->type == RT_CONFIG_SECRET ? "***" : value, why);
		config__error_line(c, c->lineno);
		return 1;
	}
	c->set[c->base[b] + i] = true; /* a key given twice: the last one wins */
	return 1;
}

static const char *config__file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
	     : S_ISFIFO(m) ? "a pipe" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static int config__read_file(struct config__ctx *c, const char *path)
{
	struct stat st;
	int rc = 0, nerr = c->nerr;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		config__error(c, "%s: cannot open the configuration file: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		config__error(c, "%s: %s", path, strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		config__error(c, "%s: not a regular file (%s)", path, config__file_kind(st.st_mode));
		rc = -EINVAL;
		goto out_close;
	}
	if (st.st_size > RT_CONFIG_FILE_MAX) {
		config__error(c, "%s: %lld bytes, more than the %d a configuration file may hold", path,
			      (long long)st.st_size, RT_CONFIG_FILE_MAX);
		rc = -EFBIG;
		goto out_close;
	}
	c->f = fdopen(fd, "r");
	if (c->f == NULL) {
		rc = -errno;
		config__error(c, "%s: %s", path, strerror(-rc));
		goto out_close;
	}
	c->path = path;
	c->lineno = 0;
	c->bytes = 0;
	c->section_ok = true;
	/* libinih's process-wide options (Debian builds it with INI_RUNTIME_OPTIONS). */
	ini_allow_multiline = false;
	ini_allow_bom = true;
	ini_allow_inline_comments = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = false;
	ini_use_stack = true;
	ini_max_line = RT_CONFIG_LINE_MAX + 3;
	int first = ini_parse_stream(config__reader, c, config__handler, c);
	config__line_done(c);
	if (first > 0 && !config__line_reported(c, first))
		config__error(c, "%s:%d: cannot parse this line (expected [section], key = value, or a comment)", path,
			      first);
	else if (first < 0)
		config__error(c, "%s: the INI parser failed (%d)", path, first);
	if (c->too_big) {
		config__error(c, "%s: more than the %d bytes a configuration file may hold", path, RT_CONFIG_FILE_MAX);
		rc = -EFBIG;
	} else if (c->read_err) {
		config__error(c, "%s: read error", path);
		rc = -EIO;
	} else if (c->nerr > nerr || first != 0) {
		rc = -EINVAL;
	}
	fclose(c->f);
	c->f = NULL;
	return rc;
out_close:
	close(fd);
	return rc;
}

/* ---- defaults ---- */

/* Fills every struct with its defaults and checks that each default is written back by the formatter as text the
 * parser accepts and reads to the same value (else --print-config would not re-load). */
static int config__defaults(struct config__ctx *c)
{
	const struct rt_config_program *p = c->p;
	int rc = 0;
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		void *conf = p->binds[b].conf;
		memset(conf, 0, t->conf_size);
		if (t->defaults)
			t->defaults(conf);
		void *scratch = calloc(1, t->conf_size);
		char *text = malloc(RT_CONFIG_LINE_MAX + 1);
		if (!scratch || !text) {
			free(scratch);
			free(text);
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			char why[512] = "";
			int n = rt_config_format_value(k, conf, false, text, RT_CONFIG_LINE_MAX + 1);
			if ((k->flags & RT_CONFIG_REQUIRED) && n == 0)
				continue;
			if (n < 0 || n > RT_CONFIG_LINE_MAX ||
			    rt_config_parse_value(k, scratch, text, why, sizeof(why)) != 0 || !config__equal(k, conf, scratch)) {
				config__error(c, "configuration table error: [%s] %s: the default '%s' %s", k->section, k->key,
					      k->type == RT_CONFIG_SECRET ? "***" : text,
					      why[0] ? why : "is not written exactly in the key's unit or names");
				rc = -EINVAL;
			}
		}
		free(scratch);
		free(text);
	}
	return rc;
}

/* ---- help ---- */

static const char *config__placeholder(const struct rt_config_key *k)
{
	if (k->arg)
		return k->arg;
	switch (k->type) {
	case RT_CONFIG_BOOL: return "";
	case RT_CONFIG_DOUBLE: return "X";
	case RT_CONFIG_STRING: return "TEXT";
	case RT_CONFIG_PATH: return "PATH";
	case RT_CONFIG_SECRET: return "SECRET";
	case RT_CONFIG_ENUM: return "NAME";
	case RT_CONFIG_CPUSET: return "CPUS";
	case RT_CONFIG_POLICY: return "POLICY";
	case RT_CONFIG_CUSTOM: return k->custom && k->custom->arg ? k->custom->arg : "VALUE";
	default: return "N";
	}
}

struct config__help_ctx {
	FILE *f;
	const struct rt_config_program *p;
};

static void config__help_section(const char *section, void *arg)
{
	struct config__help_ctx *h = arg;
	const struct rt_config_program *p = h->p;
	char value[RT_CONFIG_LINE_MAX + 1], expects[256], head[160];
	fprintf(h->f, "\n[%s]\n", section);
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			if (strcmp(k->section, section) != 0)
				continue;
			char *opt = config__opt_name(k);
			const char *ph = config__placeholder(k);
			if (k->flags & RT_CONFIG_NO_OPTION)
				snprintf(head, sizeof(head), "%s = %s (file only)", k->key, ph);
			else if (k->type == RT_CONFIG_BOOL)
				snprintf(head, sizeof(head), "--%s, --no-%s", opt ? opt : "?", opt ? opt : "?");
			else
				snprintf(head, sizeof(head), "--%s %s", opt ? opt : "?", ph);
			free(opt);
			fprintf(h->f, "  %-30s%s%s\n", head, strlen(head) > 29 ? "\n                                " : "",
				k->help ? k->help : "");
			config__expects(k, expects, sizeof(expects));
			rt_config_format_value(k, p->binds[b].conf, true, value, sizeof(value));
			if (k->flags & RT_CONFIG_REQUIRED)
				fprintf(h->f, "  %-30s(%s: %s; required)\n", "", k->key, expects);
			else
				fprintf(h->f, "  %-30s(%s: %s; default %s)\n", "", k->key, expects, value[0] ? value : "empty");
		}
	}
}

int rt_config_print_help(FILE *f, const struct rt_config_program *p)
{
	struct config__help_ctx h = {.f = f, .p = p};
	if (p->usage)
		fputs(p->usage, f);
	fprintf(f, "\nOptions, by configuration file [section] (each option is also a key there: --config FILE):\n");
	config__each_section(p->binds, p->n_binds, config__help_section, &h);
	if (p->aliases && p->aliases->opt) {
		fprintf(f, "\nShortcuts:\n");
		for (const struct rt_config_alias *a = p->aliases; a->opt; a++) {
			char head[160];
			snprintf(head, sizeof(head), "--%s", a->opt);
			fprintf(f, "  %-30s%s (--%s %s)\n", head, a->help ? a->help : "", a->target, a->value);
		}
	}
	fprintf(f, "\nGeneral:\n"
		   "  %-30sread the configuration file FILE (INI) first; options given here win over it\n"
		   "  %-30sprint the effective configuration as an INI file (secrets as ***) and exit\n"
		   "  %-30sthis text\n",
		"--config FILE", "--print-config", "--help");
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/* ---- the loader ---- */

static int config__check_tables(struct config__ctx *c)
{
	const struct rt_config_program *p = c->p;
	int rc = 0;
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		if (t == NULL || p->binds[b].conf == NULL || (t->n_keys && t->keys == NULL)) {
			config__error(c, "configuration table error: bind %zu has no table or struct", b);
			return -EINVAL;
		}
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			const char *bug = config__key_bug(t, k);
			size_t b2, i2;
			if (bug == NULL && config__find(p, k->section, k->key, &b2, &i2) != k)
				bug = "the key is defined twice";
			if (bug) {
				config__error(c, "configuration table error: %s: [%s] %s: %s", t->name ? t->name : "?",
					      k->section ? k->section : "?", k->key ? k->key : "?", bug);
				rc = -EINVAL;
			}
		}
	}
	return rc;
}

static void config__ctx_fini(struct config__ctx *c)
{
	for (size_t i = 0; i < c->n_opts; i++)
		free(c->opts[i].name);
	free(c->opts);
	free(c->longopts);
	free(c->set);
	free(c->base);
}

int rt_config_load(const struct rt_config_program *p, int argc, char **argv)
{
	struct config__ctx c = {.p = p};
	const char *config_path = NULL;
	bool help = false, print = false;
	size_t n_keys = 0;
	int rc, opt, idx, file_rc = 0;
	FILE *out = p->out ? p->out : stdout;

	if (p->errbuf && p->errbuf_size)
		p->errbuf[0] = '\0';
	if ((rc = config__check_tables(&c)))
		goto out;
	c.base = calloc(p->n_binds + 1, sizeof(*c.base));
	for (size_t b = 0; b < p->n_binds; b++) {
		if (c.base)
			c.base[b] = n_keys;
		n_keys += p->binds[b].table->n_keys;
	}
	c.set = calloc(n_keys + 1, sizeof(*c.set));
	if (!c.base || !c.set) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = config__build_opts(&c)) || (rc = config__defaults(&c)))
		goto out;

	/* Pass 1: --config and --help only, before anything is applied. */
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+:", c.longopts, &idx)) != -1) {
		if (opt < CONFIG_OPT_BASE)
			continue;
		const struct config__opt *o = &c.opts[opt - CONFIG_OPT_BASE];
		if (strncmp(config__opt_elem(argv), "--", 2) != 0 ||
		    strncmp(config__opt_elem(argv) + 2, o->name, strlen(o->name)) != 0)
			continue; /* abbreviated: refused in pass 2 */
		if (o->kind == OPT_HELP)
			help = true;
		else if (o->kind == OPT_CONFIG) {
			if (config_path) {
				config__error(&c, "--config given twice ('%s' and '%s')", config_path, optarg);
				rc = -EINVAL;
				goto out;
			}
			config_path = optarg;
		}
	}
	if (help) {
		rc = rt_config_print_help(out, p);
		rc = rc ? rc : RT_CONFIG_DONE;
		goto out;
	}
	/* A bad file does not stop here: the command line is checked too, so every error is reported at once. */
	if (config_path)
		file_rc = config__read_file(&c, config_path);

	/* Pass 2: the command line, over the file. */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+:", c.longopts, &idx)) != -1) {
		const char *elem = config__opt_elem(argv);
		if (opt == ':') {
			config__error(&c, "option '%s' needs a value", elem);
			continue;
		}
		if (opt < CONFIG_OPT_BASE && optopt > 0 && optopt < CONFIG_OPT_BASE) {
			config__error(&c, "unknown option '-%c' (options are long: --name)", optopt);
			continue;
		}
		if (opt < CONFIG_OPT_BASE) {
			char name[128];
			snprintf(name, sizeof(name), "%s", elem + (strncmp(elem, "--", 2) == 0 ? 2 : 0));
			name[strcspn(name, "=")] = '\0';
			const char *hint = NULL;
			size_t best = 3;
			bool exact_noarg = false;
			for (size_t i = 0; i < c.n_opts; i++) {
				if (strcmp(c.opts[i].name, name) == 0)
					exact_noarg = true;
				else if (config__close(name, c.opts[i].name, &best))
					hint = c.opts[i].name;
			}
			if (exact_noarg)
				config__error(&c, "option '--%s' takes no value", name);
			else if (strncmp(elem, "--", 2) != 0)
				config__error(&c, "unknown option '%s' (options are long: --name)", elem);
			else if (hint)
				config__error(&c, "unknown option '%s' (did you mean '--%s'?)", elem, hint);
			else
				config__error(&c, "unknown option '%s' (see %s --help)", elem, p->name ? p->name : "--help");
			continue;
		}
		const struct config__opt *o = &c.opts[opt - CONFIG_OPT_BASE];
		size_t ln = strlen(o->name);
		if (strncmp(elem + 2, o->name, ln) != 0 || (elem[2 + ln] != '\0' && elem[2 + ln] != '=')) {
			config__error(&c, "option '%s' is abbreviated: write it in full (--%s)", elem, o->name);
			continue;
		}
		char shown[160];
		snprintf(shown, sizeof(shown), "--%s", o->name);
		switch (o->kind) {
		case OPT_KEY:
			config__apply_opt(&c, shown, o->bind, o->key, optarg ? optarg : "true");
			break;
		case OPT_KEY_NO:
			config__apply_opt(&c, shown, o->bind, o->key, "false");
			break;
		case OPT_ALIAS:
			config__apply_opt(&c, shown, o->bind, o->key, o->alias->value);
			break;
		case OPT_PRINT:
			print = true;
			break;
		case OPT_CONFIG:
		case OPT_HELP:
			break;
		}
	}
	if (optind < argc)
		config__error(&c, "unexpected argument '%s' (%s takes options only: see %s --help)", argv[optind],
			      p->name ? p->name : "the program", p->name ? p->name : "");
	if (file_rc || c.nerr) {
		rc = file_rc ? file_rc : -EINVAL;
		goto out;
	}
	if (print) {
		rc = rt_config_print_ini(out, p->binds, p->n_binds);
		rc = rc ? rc : RT_CONFIG_DONE;
		goto out;
	}
	for (size_t b = 0; b < p->n_binds; b++) {
		const struct rt_config_table *t = p->binds[b].table;
		for (size_t i = 0; i < t->n_keys; i++) {
			const struct rt_config_key *k = &t->keys[i];
			if (!(k->flags & RT_CONFIG_REQUIRED) || c.set[c.base[b] + i])
				continue;
			char *name = config__opt_name(k);
			config__error(&c, "[%s] %s is required: set it in the configuration file or with --%s %s",
				      k->section, k->key, name ? name : "?", config__placeholder(k));
			free(name);
			rc = -EINVAL;
		}
	}
out:
	config__ctx_fini(&c);
	optind = 0;
	return rc;
}

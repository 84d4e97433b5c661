/*
 * decode_cmd.c - `v2xd decode [--dbc FILE] [--strict] [--framing MODE] [FILE|-]`: offline decoding for users and
 * tests.
 *
 * Reads legacy SIM/GPS/STATUS lines, candump -l lines, NMEA sentences (or v2 frames) with the same framer the
 * daemon uses, and prints one JSON object per decoded input line on stdout:
 *   {"line":12,"t":1755515106.123456,"id":"155","dlc":8,"data":"0197CE549B380073","signals":{"soc":69.98,...}}
 *   {"line":13,"gps":{"lat":..,"lon":..,"alt_m":..,"speed_kmh":..,"sats":..,"hdop":..,"valid":true,"time":"..."}}
 * "t" is present when the line carries its own time (candump).  Rejected lines go to stderr with their line number
 * and reason (junk before a recovered NMEA sentence is its own "nmea_junk" reject), and so do NMEA records with
 * optional fields left out; a summary of counts goes to stderr at the end, with the ignored units by NMEA sentence
 * type (GPGSV, AIVDM, PGRME, ...; banners and v2 frames for other stages as "other").  Ignored units are not
 * rejects: --strict passes a receiver's stream full of other sentence types.  Exit status 0, or 1 with --strict when any line was
 * rejected, 1 when the DBC cannot be loaded (dbc_load: not a regular file, over its size cap, malformed, no
 * message), 2 for usage errors and unreadable input.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/log.h"
#include "stages/can_rx/framer.h"
#include "vehicle/signals.h"
#include "stages/decode/decoder.h"
#include "stages/log/fmt_double.h"
#include "programs/v2xd/v2xd.h"
#include "stages/decode/decode_stage.h"

struct decode_cmd {
	struct decoder *dec;
	FILE *out;
	unsigned long long line;
	unsigned long long records, can_frames, gps_fixes, statuses, rejected, ignored, unknown_ids;
	unsigned long long invalid[DEC_INV__COUNT];
	unsigned long long reject_by[RX_REJ__COUNT];
	unsigned long long bad_fields; /* optional NMEA fields left out (nmea.h) */
	/* Ignored units by kind: NMEA sentences by address ("GPGSV", "AIVDM"), the rest as "other". */
	struct {
		char type[16];
		unsigned long long n;
	} ign[32];
	unsigned n_ign_types;
};

/* Count an ignored unit under its sentence address, or "other". */
static void count_ignored(struct decode_cmd *dc, const struct rx_event *ev)
{
	char type[16];
	unsigned i;

	if (nmea_sentence_type(ev->text, ev->len, type, sizeof(type)) < 0)
		strcpy(type, "other");
	for (i = 0; i < dc->n_ign_types; i++)
		if (strcmp(dc->ign[i].type, type) == 0)
			break;
	if (i == dc->n_ign_types) {
		if (i == sizeof(dc->ign) / sizeof(dc->ign[0]))
			i--; /* table full: the last entry takes the rest */
		else
			strcpy(dc->ign[dc->n_ign_types++].type, type);
	}
	dc->ign[i].n++;
}

static void print_double(FILE *out, double v)
{
	char buf[FMT_DOUBLE_MAX + 1];

	if (fmt_double_roundtrip(buf, sizeof(buf), v) == 0)
		fputs("null", out); /* NaN or infinity: JSON has no such number */
	else
		fputs(buf, out);
}

/* A JSON string: names and texts come from the user's DBC. */
static void print_string(FILE *out, const char *str)
{
	fputc('"', out);
	for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(out, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(out, "\\u%04x", *c);
		else
			fputc(*c, out);
	}
	fputc('"', out);
}

static void print_id(FILE *out, uint32_t id)
{
	if (id & CAN_EFF_FLAG)
		fprintf(out, "\"%08" PRIX32 "\"", id & CAN_EFF_MASK);
	else
		fprintf(out, "\"%03" PRIX32 "\"", id & CAN_SFF_MASK);
}

static void print_can(struct decode_cmd *dc, const struct rx_record *r)
{
	struct decode_result res;
	FILE *out = dc->out;

	decoder_frame(dc->dec, &r->u.can, (r->flags & REC_F_LOG_TIME) ? r->rx_real_ns : 0, &res);
	dc->can_frames++;
	for (int i = 0; i < DEC_INV__COUNT; i++)
		dc->invalid[i] += res.invalid[i];
	fprintf(out, "{\"line\":%llu", dc->line);
	if (r->flags & REC_F_LOG_TIME) {
		int64_t ns = r->rx_real_ns;
		fprintf(out, ",\"t\":%s%lld.%06lld", ns < 0 ? "-" : "", (long long)(llabs(ns) / 1000000000LL),
			(long long)(llabs(ns) % 1000000000LL / 1000));
	}
	if (r->flags & REC_F_DEV_TIME)
		fprintf(out, ",\"dev_seq\":%" PRIu32 ",\"dev_time_us\":%" PRIu64, r->dev_seq, r->dev_time_us);
	fputs(",\"id\":", out);
	print_id(out, r->u.can.id);
	fprintf(out, ",\"dlc\":%u", r->u.can.dlc);
	if (r->u.can.id & CAN_RTR_FLAG) {
		fputs(",\"rtr\":true", out);
	} else {
		fputs(",\"data\":\"", out);
		for (unsigned i = 0; i < r->u.can.dlc && i < 8; i++)
			fprintf(out, "%02X", r->u.can.data[i]);
		fputc('"', out);
	}
	if (!res.known_id) {
		dc->unknown_ids++;
		fputs(",\"unknown_id\":true", out);
	}
	fputs(",\"signals\":{", out);
	for (unsigned i = 0; i < res.n; i++) {
		const char *text = decoder_value_text(dc->dec, res.v[i].sig, res.v[i].value);
		if (i)
			fputc(',', out);
		print_string(out, decoder_signal_name(dc->dec, res.v[i].sig));
		fputc(':', out);
		if (text)
			print_string(out, text);
		else
			print_double(out, res.v[i].value);
	}
	fputc('}', out);
	if (res.invalid[DEC_INV_RANGE] || res.invalid[DEC_INV_SHORT_DLC] || res.invalid[DEC_INV_GATED])
		fprintf(out, ",\"invalid\":{\"range\":%u,\"short_dlc\":%u,\"gated\":%u}", res.invalid[DEC_INV_RANGE],
			res.invalid[DEC_INV_SHORT_DLC], res.invalid[DEC_INV_GATED]);
	fputs("}\n", out);
}

static void print_gps(struct decode_cmd *dc, const struct gps_fix *g)
{
	FILE *out = dc->out;
	const char *sep = "";

	dc->gps_fixes++;
	fprintf(out, "{\"line\":%llu,\"gps\":{", dc->line);
	const struct {
		unsigned have;
		const char *key;
		double value;
	} fields[] = {
		{GPS_HAVE_POS, "lat", g->lat_deg},        {GPS_HAVE_POS, "lon", g->lon_deg},
		{GPS_HAVE_ALT, "alt_m", g->alt_m},        {GPS_HAVE_SPEED, "speed_kmh", g->speed_kmh},
		{GPS_HAVE_COURSE, "course_deg", g->course_deg}, {GPS_HAVE_SATS, "sats", g->sats},
		{GPS_HAVE_HDOP, "hdop", g->hdop},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!(g->have & fields[i].have))
			continue;
		fprintf(out, "%s\"%s\":", sep, fields[i].key);
		print_double(out, fields[i].value);
		sep = ",";
	}
	fprintf(out, "%s\"valid\":%s", sep, g->valid ? "true" : "false");
	if ((g->have & GPS_HAVE_DATE) && (g->have & GPS_HAVE_TIME))
		fprintf(out, ",\"time\":\"%04u-%02u-%02uT%02u:%02u:%02u.%06uZ\"", g->year, g->month, g->day, g->hour,
			g->min, g->sec, g->usec);
	else if (g->have & GPS_HAVE_TIME)
		fprintf(out, ",\"time\":\"%02u:%02u:%02u.%06uZ\"", g->hour, g->min, g->sec, g->usec);
	fputs("}}\n", out);
}

static void print_status(struct decode_cmd *dc, const struct link_status *s)
{
	FILE *out = dc->out;

	dc->statuses++;
	fprintf(out, "{\"line\":%llu,\"status\":{\"can_ok\":%s,\"gps_ok\":%s,\"sats\":%u,\"hdop\":", dc->line,
		s->can_ok ? "true" : "false", s->gps_ok ? "true" : "false", s->sats);
	print_double(out, (double)s->hdop);
	if (s->has_pos) {
		fputs(",\"lat\":", out);
		print_double(out, s->lat_deg);
		fputs(",\"lon\":", out);
		print_double(out, s->lon_deg);
		fputs(",\"speed_kmh\":", out);
		print_double(out, s->speed_kmh);
	}
	fputs("}}\n", out);
}

static void on_event(void *ctx, const struct rx_event *ev)
{
	struct decode_cmd *dc = ctx;

	switch (ev->kind) {
	case RX_EV_RECORD:
		dc->records++;
		if (ev->bad_fields) {
			dc->bad_fields += ev->bad_fields;
			fprintf(stderr, "line %llu: %u optional NMEA field(s) left out: %.*s\n", dc->line, ev->bad_fields,
				ev->len > 80 ? 80 : (int)ev->len, ev->text);
		}
		if (ev->rec.type == REC_CAN)
			print_can(dc, &ev->rec);
		else if (ev->rec.type == REC_GPS)
			print_gps(dc, &ev->rec.u.gps);
		else if (ev->rec.type == REC_STATUS)
			print_status(dc, &ev->rec.u.status);
		break;
	case RX_EV_REJECT: {
		int shown = ev->len > 80 ? 80 : (int)ev->len;
		dc->rejected++;
		dc->reject_by[ev->reason]++;
		fprintf(stderr, "line %llu: rejected (%s): ", dc->line, rx_reject_name(ev->reason));
		for (int i = 0; i < shown; i++) {
			unsigned char ch = (unsigned char)ev->text[i];
			if (ch >= 0x20 && ch < 0x7F)
				fputc(ch, stderr);
			else
				fprintf(stderr, "\\x%02X", ch);
		}
		fputs(ev->len > 80 ? "...\n" : "\n", stderr);
		break;
	}
	case RX_EV_IGNORED:
		dc->ignored++;
		count_ignored(dc, ev);
		break;
	}
}

static void decode_usage(FILE *f)
{
	fprintf(f, "usage: v2xd decode [--dbc FILE] [--strict] [--framing auto|text|v2] [FILE|-]\n"
		   "Decodes SIM/GPS/STATUS lines, candump -l lines, NMEA sentences (or v2 frames) from FILE or standard\n"
		   "input into one JSON object per decoded line on standard output.  Rejected lines and a summary go to\n"
		   "standard error.  Exit 0; 1 with --strict when any line was rejected, or when the DBC cannot be used\n"
		   "(not a regular file, over 4 MiB, malformed, no message); 2 for usage errors and unreadable input.\n");
}

int decode_cmd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dbc", required_argument, NULL, 'd'},
		{"strict", no_argument, NULL, 's'},
		{"framing", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dbc_path = NULL, *path = "-";
	enum framer_mode mode = FRAMER_AUTO;
	int strict = 0, opt;
	struct decode_cmd dc;
	struct framer *fr;
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dbc_path = optarg; break;
		case 's': strict = 1; break;
		case 'f':
			if (v2xd_framing_parse(optarg, &mode)) {
				rt_err("decode: --framing takes auto, text or v2");
				return 2;
			}
			break;
		case 'h': decode_usage(stdout); return 0;
		default: decode_usage(stderr); return 2;
		}
	}
	if (optind + 1 < argc) {
		decode_usage(stderr);
		return 2;
	}
	if (optind < argc)
		path = argv[optind];
	memset(&dc, 0, sizeof(dc));
	dc.out = stdout;
	if (decode_load_decoder(dbc_path, false, &dc.dec) < 0)
		return 1; /* a DBC that cannot be used: like v2xd itself */
	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!in) {
		rt_err("decode: cannot open %s: %s", path, strerror(errno));
		decoder_destroy(dc.dec);
		return 2;
	}
	fr = malloc(sizeof(*fr));
	if (!fr) {
		rt_err("decode: out of memory");
		if (in != stdin)
			fclose(in);
		decoder_destroy(dc.dec);
		return 2;
	}
	framer_init(fr, mode);
	/* One input line at a time, so every event knows its line number. */
	while ((n = getline(&line, &cap, in)) > 0) {
		dc.line++;
		framer_feed(fr, line, (size_t)n, on_event, &dc);
	}
	framer_finish(fr, on_event, &dc);
	if (ferror(in))
		rt_err("decode: read error on %s: %s", path, strerror(errno));
	free(line);
	free(fr);
	if (in != stdin)
		fclose(in);
	fflush(stdout);

	fprintf(stderr, "v2xd decode: %llu lines, %llu records (%llu CAN frames, %llu GPS fixes, %llu status), "
			"%llu ignored, %llu rejected",
		dc.line, dc.records, dc.can_frames, dc.gps_fixes, dc.statuses, dc.ignored, dc.rejected);
	for (int i = 0; i < RX_REJ__COUNT; i++)
		if (dc.reject_by[i])
			fprintf(stderr, " %s=%llu", rx_reject_name((enum rx_reject)i), dc.reject_by[i]);
	fprintf(stderr, "; %llu unknown ids; invalid values: range=%llu short_dlc=%llu gated=%llu", dc.unknown_ids,
		dc.invalid[DEC_INV_RANGE], dc.invalid[DEC_INV_SHORT_DLC], dc.invalid[DEC_INV_GATED]);
	fprintf(stderr, "; %llu NMEA fields left out; ignored:", dc.bad_fields);
	for (unsigned i = 0; i < dc.n_ign_types; i++)
		fprintf(stderr, " %s=%llu", dc.ign[i].type, dc.ign[i].n);
	fputc('\n', stderr);
	decoder_destroy(dc.dec);
	return strict && dc.rejected ? 1 : 0;
}

/*
 * main.c - v2xd, the vehicle daemon: `v2xd [options] --can-dev PATH` runs the CAN path (can_rx -> decode -> log)
 * until SIGINT/SIGTERM; `v2xd decode ...` decodes logs offline (decode_cmd.c).
 *
 * The main thread is the control thread: it loads the DBC, prepares every stage (all memory the stages touch is
 * allocated here, before they start), starts the stage threads, then waits on a signalfd and prints a status line
 * every --status seconds.  On a stop signal it stops the receiver first; each stage drains its input ring and
 * closes its output, so every accepted record reaches the files before the process exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/log.h"
#include "rt/shutdown.h"
#include "rt/thread.h"
#include "programs/v2xd/v2xd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: v2xd --can-dev PATH [options]      run the vehicle CAN path until SIGINT/SIGTERM\n"
		"       v2xd decode [--dbc FILE] [--strict] [FILE|-]   decode logs to JSON lines (see v2xd decode --help)\n"
		"\n"
		"Input:\n"
		"  --can-dev PATH       serial device of ESP32(1) (tty or pseudo-terminal); reopened every 500 ms while absent\n"
		"  --baud N             115200 (default), 230400, 460800, 921600 or 2000000\n"
		"  --framing MODE       auto (default: legacy text or v2 frames, detected), text, v2\n"
		"  --dbc FILE           signal database (default: the built-in twizy.dbc)\n"
		"Output (all files in --out):\n"
		"  --out DIR            output directory (default: the working directory; created if missing)\n"
		"  --flush-ms N         write buffered rows at least every N ms (default 100)\n"
		"  --fsync-ms N         fsync files every N ms (default 1000)\n"
		"  --rotate-mb N        roll can_data.csv, gps_data.csv and the candump log at N MiB (default 0: never)\n"
		"  --rotate-hourly      roll them at every hour change\n"
		"  --snapshot-s N       rewrite can_data_snapshot.csv and gps_data_snapshot.csv every N s (default 4)\n"
		"  --snapshot-rows N    rows in a snapshot (default 1000)\n"
		"  --merged-s N         one merged_can_data row every N s (default 1)\n"
		"  --log-buffer-kb N    memory buffer per file (default 4096 for the CAN files, 512 others): rows\n"
		"                       wait there while the disk is full; beyond it they are counted as lost\n"
		"  --ifname NAME        interface name written in the candump log (default can0)\n"
		"Real time:\n"
		"  --rt                 SCHED_FIFO for the stage threads (falls back to SCHED_OTHER without privilege)\n"
		"  --prio N             SCHED_FIFO priority of the receive stage (default 80; decode N-5, log N-10)\n"
		"  --cpu-rx LIST        CPUs for can_rx (e.g. 1 or 2-3); likewise --cpu-decode, --cpu-log\n"
		"  --cpu-house LIST     CPUs for the control, snapshot and library threads\n"
		"  --mlock              lock all memory (mlockall)\n"
		"  --wait MODE          how consumers wait: sleep (default: a futex wake-up per batch), hybrid (spin\n"
		"                       --spin-us, then sleep) or spin (a CPU each; for isolated CPUs)\n"
		"  --spin-us N          spin time before sleeping in hybrid mode (default 50)\n"
		"  --ring N             ring capacity in records, a power of two (default 65536: 14 s at bus rate)\n"
		"  --full-wait-ms N     how long a stage waits on a full ring before dropping (counted) (default 2000)\n"
		"Control:\n"
		"  --status-s N         status line on stderr every N s (default 10; 0 = never)\n"
		"  --verbose, --quiet   more or less logging\n"
		"  --help               this text\n");
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_CAN_DEV = 256, OPT_BAUD, OPT_FRAMING, OPT_DBC, OPT_OUT, OPT_FLUSH_MS, OPT_FSYNC_MS, OPT_ROTATE_MB,
	OPT_ROTATE_HOURLY, OPT_SNAPSHOT_S, OPT_SNAPSHOT_ROWS, OPT_MERGED_S, OPT_IFNAME, OPT_RT, OPT_PRIO, OPT_CPU_RX,
	OPT_CPU_DECODE, OPT_CPU_LOG, OPT_CPU_HOUSE, OPT_MLOCK, OPT_WAIT, OPT_SPIN_US, OPT_RING, OPT_FULL_WAIT_MS, OPT_LOG_BUFFER_KB, OPT_STATUS_S,
	OPT_VERBOSE, OPT_QUIET, OPT_HELP,
};

static const struct option long_opts[] = {
	{"can-dev", required_argument, NULL, OPT_CAN_DEV},
	{"baud", required_argument, NULL, OPT_BAUD},
	{"framing", required_argument, NULL, OPT_FRAMING},
	{"dbc", required_argument, NULL, OPT_DBC},
	{"out", required_argument, NULL, OPT_OUT},
	{"flush-ms", required_argument, NULL, OPT_FLUSH_MS},
	{"fsync-ms", required_argument, NULL, OPT_FSYNC_MS},
	{"rotate-mb", required_argument, NULL, OPT_ROTATE_MB},
	{"rotate-hourly", no_argument, NULL, OPT_ROTATE_HOURLY},
	{"snapshot-s", required_argument, NULL, OPT_SNAPSHOT_S},
	{"snapshot-rows", required_argument, NULL, OPT_SNAPSHOT_ROWS},
	{"merged-s", required_argument, NULL, OPT_MERGED_S},
	{"ifname", required_argument, NULL, OPT_IFNAME},
	{"rt", no_argument, NULL, OPT_RT},
	{"prio", required_argument, NULL, OPT_PRIO},
	{"cpu-rx", required_argument, NULL, OPT_CPU_RX},
	{"cpu-decode", required_argument, NULL, OPT_CPU_DECODE},
	{"cpu-log", required_argument, NULL, OPT_CPU_LOG},
	{"cpu-house", required_argument, NULL, OPT_CPU_HOUSE},
	{"mlock", no_argument, NULL, OPT_MLOCK},
	{"wait", required_argument, NULL, OPT_WAIT},
	{"spin-us", required_argument, NULL, OPT_SPIN_US},
	{"ring", required_argument, NULL, OPT_RING},
	{"full-wait-ms", required_argument, NULL, OPT_FULL_WAIT_MS},
	{"log-buffer-kb", required_argument, NULL, OPT_LOG_BUFFER_KB},
	{"status-s", required_argument, NULL, OPT_STATUS_S},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static int bad_value(const char *opt, const char *val, const char *why)
{
	rt_err("invalid value '%s' for --%s: %s (see v2xd --help)", val, opt, why);
	return 2;
}

static int parse_options(int argc, char **argv, struct v2xd_conf *c)
{
	unsigned long long v;
	int opt;

	v2xd_conf_init(c);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		const char *name = opt >= 256 && opt - 256 < (int)(sizeof(long_opts) / sizeof(long_opts[0]))
					   ? long_opts[opt - 256].name : "?";
		switch (opt) {
		case OPT_CAN_DEV: c->can_dev = optarg; break;
		case OPT_BAUD:
			if (parse_uint(optarg, 4000000, &v) || !v2xd_baud_supported((unsigned)v))
				return bad_value(name, optarg, "one of 115200, 230400, 460800, 921600, 2000000");
			c->baud = (unsigned)v;
			break;
		case OPT_FRAMING:
			if (v2xd_framing_parse(optarg, &c->framing))
				return bad_value(name, optarg, "auto, text or v2");
			break;
		case OPT_DBC: c->dbc_path = optarg; break;
		case OPT_OUT: c->log.out_dir = optarg; break;
		case OPT_FLUSH_MS:
			if (parse_uint(optarg, 60000, &v) || v == 0)
				return bad_value(name, optarg, "1..60000 ms");
			c->log.flush_ns = v * RT_NS_PER_MS;
			break;
		case OPT_FSYNC_MS:
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return bad_value(name, optarg, "1..3600000 ms");
			c->log.fsync_ns = v * RT_NS_PER_MS;
			break;
		case OPT_ROTATE_MB:
			if (parse_uint(optarg, 1u << 20, &v))
				return bad_value(name, optarg, "a size in MiB (0 = never)");
			c->log.rotate_bytes = v << 20;
			break;
		case OPT_ROTATE_HOURLY: c->log.rotate_hourly = 1; break;
		case OPT_SNAPSHOT_S:
			if (parse_uint(optarg, 86400, &v) || v == 0)
				return bad_value(name, optarg, "1..86400 s");
			c->log.snapshot_ns = v * RT_NS_PER_SEC;
			break;
		case OPT_SNAPSHOT_ROWS:
			if (parse_uint(optarg, 1000000, &v) || v == 0)
				return bad_value(name, optarg, "1..1000000 rows");
			c->log.snapshot_rows = (unsigned)v;
			break;
		case OPT_MERGED_S:
			if (parse_uint(optarg, 86400, &v) || v == 0)
				return bad_value(name, optarg, "1..86400 s");
			c->log.merged_ns = v * RT_NS_PER_SEC;
			break;
		case OPT_IFNAME:
			if (!optarg[0] || strlen(optarg) > 15 || strpbrk(optarg, " #()\t"))
				return bad_value(name, optarg, "an interface name of 1..15 characters, no spaces");
			c->log.ifname = optarg;
			break;
		case OPT_RT: c->policy = SCHED_FIFO; break;
		case OPT_PRIO:
			if (parse_uint(optarg, 99, &v) || v < 11)
				return bad_value(name, optarg, "11..99");
			c->prio = (int)v;
			break;
		case OPT_CPU_RX:
		case OPT_CPU_DECODE:
		case OPT_CPU_LOG:
		case OPT_CPU_HOUSE: {
			cpu_set_t *set = opt == OPT_CPU_RX ? &c->cpu_rx : opt == OPT_CPU_DECODE ? &c->cpu_decode
					 : opt == OPT_CPU_LOG ? &c->cpu_log : &c->log.house_cpus;
			if (rt_cpuset_parse(optarg, set))
				return bad_value(name, optarg, "a CPU list such as 1, 0-1 or 0,2-3");
			break;
		}
		case OPT_MLOCK: c->mlock = 1; break;
		case OPT_WAIT:
			if (rt_wait_mode_parse(optarg, &c->wait_mode))
				return bad_value(name, optarg, "hybrid, spin or sleep");
			break;
		case OPT_SPIN_US:
			if (parse_uint(optarg, 1000000, &v))
				return bad_value(name, optarg, "0..1000000 us");
			c->spin_ns = v * RT_NS_PER_US;
			break;
		case OPT_RING:
			if (parse_uint(optarg, 1u << 24, &v) || v < 64 || (v & (v - 1)))
				return bad_value(name, optarg, "a power of two from 64 to 16777216");
			c->ring_records = (size_t)v;
			break;
		case OPT_FULL_WAIT_MS:
			if (parse_uint(optarg, 60000, &v))
				return bad_value(name, optarg, "0..60000 ms");
			c->full_wait_ns = v * RT_NS_PER_MS;
			break;
		case OPT_LOG_BUFFER_KB:
			if (parse_uint(optarg, 1u << 20, &v) || v < 16)
				return bad_value(name, optarg, "16..1048576 KiB");
			c->log.buffer_bytes = (size_t)v << 10;
			break;
		case OPT_STATUS_S:
			if (parse_uint(optarg, 86400, &v))
				return bad_value(name, optarg, "0..86400 s");
			c->status_ns = v * RT_NS_PER_SEC;
			break;
		case OPT_VERBOSE: c->log_level = RT_LOG_DEBUG; break;
		case OPT_QUIET: c->log_level = RT_LOG_WARN; break;
		case OPT_HELP: usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		rt_err("unexpected argument '%s' (see v2xd --help)", argv[optind]);
		return 2;
	}
	if (!c->can_dev) {
		rt_err("--can-dev PATH is required (see v2xd --help)");
		return 2;
	}
	return 0;
}

_Static_assert(sizeof(long_opts) / sizeof(long_opts[0]) == OPT_HELP - OPT_CAN_DEV + 2,
	       "long_opts must list every OPT_ value, in enum order (bad_value() names options by index)");

int main(int argc, char **argv)
{
	struct v2xd_conf conf;
	int rc;

	rt_log_setup("v2xd", RT_LOG_INFO);
	if (argc > 1 && strcmp(argv[1], "decode") == 0)
		return decode_cmd_main(argc - 1, argv + 1);
	rc = parse_options(argc, argv, &conf);
	if (rc)
		return rc;
	rt_log_setup("v2xd", conf.log_level);
	return v2xd_run(&conf);
}

/* v2xd.h - the vehicle daemon's configuration and entry points (main.c, run.c, decode_cmd.c). */
#ifndef V2X_PROGRAMS_V2XD_V2XD_H
#define V2X_PROGRAMS_V2XD_V2XD_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/log.h"
#include "rt/wait.h"
#include "stages/can_rx/framer.h"
#include "stages/log/log_stage.h"

struct v2xd_conf {
	const char *can_dev;
	unsigned baud;
	enum framer_mode framing;
	const char *dbc_path;       /* NULL: the built-in twizy.dbc */
	struct log_stage_conf log;  /* output directory, intervals, rotation, snapshots, buffers */
	int policy, prio;
	cpu_set_t cpu_rx, cpu_decode, cpu_log; /* --cpu-house is log.house_cpus */
	int mlock;
	enum rt_wait_mode wait_mode;
	uint64_t spin_ns;
	size_t ring_records;
	uint64_t full_wait_ns;      /* back-pressure: how long a stage waits on a full ring before dropping */
	uint64_t status_ns;
	enum rt_log_level log_level;
};

/* Fills c with the defaults documented in `v2xd --help`. */
void v2xd_conf_init(struct v2xd_conf *c);

/* Returns nonzero when baud is one of the supported rates. */
int v2xd_baud_supported(unsigned baud);

/* Parses auto|text|v2.  Returns 0 or -EINVAL. */
int v2xd_framing_parse(const char *s, enum framer_mode *out);

/* Runs the vehicle pipeline until SIGINT/SIGTERM.  Returns the process exit status. */
int v2xd_run(const struct v2xd_conf *c);

/* `v2xd decode`: argv[0] is "decode".  Returns the process exit status. */
int decode_cmd_main(int argc, char **argv);

/* Loads the DBC at path (NULL: built-in) into a new decoder, logging a clear error.  Returns 0 or -errno. */
struct decoder;
int v2xd_load_decoder(const char *path, struct decoder **out);

#endif

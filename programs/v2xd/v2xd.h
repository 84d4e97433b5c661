/* v2xd.h - the vehicle daemon's pieces: the stage list (stages.c), the daemon (main.c), `v2xd decode` (decode_cmd.c). */
#ifndef V2X_PROGRAMS_V2XD_V2XD_H
#define V2X_PROGRAMS_V2XD_V2XD_H

#include <stddef.h>

#include "rt/pipeline.h"
#include "stages/can_rx/framer.h"

/* The vehicle pipeline: its stages front to back, and the rings between them. */
extern const struct rt_stage_desc *const v2xd_stages[];
extern const size_t v2xd_n_stages;
extern const struct rt_ring_desc v2xd_rings[];
extern const size_t v2xd_n_rings;

/* Parses auto|text|v2.  Returns 0 or -EINVAL. */
int v2xd_framing_parse(const char *s, enum framer_mode *out);

/* `v2xd decode`: argv[0] is "decode".  Returns the process exit status. */
int decode_cmd_main(int argc, char **argv);

#endif

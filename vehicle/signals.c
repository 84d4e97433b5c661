/* signals.c - names and units of the canonical signals (see signals.h). */
#include "vehicle/signals.h"

#include <string.h>

static const char *const canon_names[SIG__COUNT] = {
#define CANON_NAME(e, name, unit) [SIG_##e] = name,
	CANON_SIGNALS(CANON_NAME)
#undef CANON_NAME
};

static const char *const canon_units[SIG__COUNT] = {
#define CANON_UNIT(e, name, unit) [SIG_##e] = unit,
	CANON_SIGNALS(CANON_UNIT)
#undef CANON_UNIT
};

const char *canon_sig_name(enum canon_sig sig)
{
	return (unsigned)sig < SIG__COUNT ? canon_names[sig] : NULL;
}

const char *canon_sig_unit(enum canon_sig sig)
{
	return (unsigned)sig < SIG__COUNT ? canon_units[sig] : NULL;
}

int canon_sig_lookup(const char *name)
{
	for (int i = 0; i < SIG__COUNT; i++)
		if (strcmp(canon_names[i], name) == 0)
			return i;
	return -1;
}

const char *charge_phase_name(int phase)
{
	static const char *const names[] = {"none", "charging", "topoff", "done", "stopped"};
	return phase >= 0 && phase < (int)(sizeof(names) / sizeof(names[0])) ? names[phase] : NULL;
}

/*
 * ring_overflow - overfills a small ring on purpose: the ring refuses the extra records, counts them and emits
 * v2x:ring_overflow.  Used by the trace session test.  Prints "refused=N full_drops=N" and exits 0 when the ring
 * behaved (N = the records pushed beyond its capacity).
 */
#include <stdint.h>
#include <stdio.h>

#include "rt/ring.h"

int main(void)
{
	struct ring r;
	unsigned refused = 0;

	if (ring_init(&r, "overflow_test", sizeof(uint64_t), 4, NULL) < 0)
		return 1;
	for (uint64_t i = 0; i < 7; i++)
		if (!ring_push(&r, &i))
			refused++;
	unsigned long long drops = (unsigned long long)atomic_load(&r.full_drops);
	printf("refused=%u full_drops=%llu\n", refused, drops);
	ring_fini(&r);
	return refused == 3 && drops == 3 ? 0 : 1;
}

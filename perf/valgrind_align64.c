/*
 * valgrind_align64.c - an LD_PRELOAD shim for perf/valgrind.sh's callgrind runs only: calloc returns 64-byte
 * aligned memory.
 *
 * Why: programs/v2xd/run.c allocates its struct pipeline (which holds cache-line aligned rings) with calloc, which
 * guarantees only 16-byte alignment; ring_init refuses a misaligned ring, so v2xd works only while the heap happens
 * to place that block on a 64-byte boundary.  Under valgrind it does not ("cannot allocate the rings").  Memcheck
 * has --alignment=64 for this; callgrind uses the program's own malloc, hence this shim.  It costs a
 * posix_memalign per calloc at start-up (v2xd allocates nothing per frame), which the instruction counts include.
 * Remove it once run.c uses aligned_alloc.  Built by perf/valgrind.sh (cc -shared -fPIC).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (posix_memalign(&p, 64, total ? total : 1) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	return memset(p, 0, total);
}

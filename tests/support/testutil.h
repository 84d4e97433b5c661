/*
 * testutil.h - support for integration tests and test tools: real pseudo-terminals standing in for the ESP32's USB
 * serial port, spawning the project's programs, temporary directories, reading files back.
 * Every wait here is bounded; nothing is left running when a test ends (callers kill what they spawn).
 */
#ifndef V2X_TESTS_SUPPORT_TESTUTIL_H
#define V2X_TESTS_SUPPORT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct test_pty {
	int master;            /* the ESP32's side: the test writes here */
	int slave;             /* kept open so the line settings stay (raw mode) and FIONREAD works */
	char slave_path[64];
	char link_path[512];   /* a stable name for the device (a symlink to slave_path), as udev would give */
};

/*
 * Opens a pseudo-terminal pair, puts the slave in raw mode, and points link_path (if not NULL) at the slave,
 * replacing an older link.  Returns 0 or -errno.
 */
int test_pty_open(struct test_pty *p, const char *link_path);

/* Writes all n bytes to the master, waiting (poll, bounded by 30 s of no progress) while the pty is full.
 * Returns 0 or -errno (-ETIMEDOUT). */
int test_pty_write_all(struct test_pty *p, const void *buf, size_t n);

/* Waits until the reader has taken every byte written so far (the slave's input queue is empty), at most
 * timeout_ms.  Returns 0 or -ETIMEDOUT. */
int test_pty_wait_drained(struct test_pty *p, int timeout_ms);

/* "Unplugs": closes both sides (the reader sees a hang-up) and removes the link. */
void test_pty_close(struct test_pty *p);

/* Returns the build directory ($V2X_BUILD, else "build"). */
const char *test_build_dir(void);

/* Spawns argv (argv[0] a path) with stdout and stderr appended to log_path (NULL: inherited).  Returns the pid or
 * -errno.  The child is killed when the test process dies (PR_SET_PDEATHSIG) and is remembered for
 * test_kill_spawned(). */
pid_t test_spawn(char *const argv[], const char *log_path);

/* Kills (SIGKILL) and reaps every process test_spawn() started that is still running: a cmocka teardown, so a failed
 * assertion never leaves a daemon behind to read the next test's device.  Returns 0 (usable as a teardown). */
int test_kill_spawned(void **state);

/* Waits for pid to exit, at most timeout_ms.  Returns its exit status (0..255), 128+signal when killed, or
 * -ETIMEDOUT (the process is then killed with SIGKILL and reaped). */
int test_wait_exit(pid_t pid, int timeout_ms);

/* Creates a fresh directory under /tmp named after tag; fills buf.  Returns 0 or -errno. */
int test_mkdtemp(char *buf, size_t size, const char *tag);

/* Removes a directory tree made by test_mkdtemp (best effort). */
void test_rmtree(const char *dir);

/* Reads a whole file into a new NUL-terminated buffer (*len without the NUL).  Returns NULL on error. */
char *test_read_file(const char *path, size_t *len);

/* Waits until the file at path contains needle (a daemon's log line), at most timeout_ms.  Returns 0 or
 * -ETIMEDOUT. */
int test_wait_for_text(const char *path, const char *needle, int timeout_ms);

/* Sleeps ms milliseconds. */
void test_sleep_ms(int ms);

/* Returns CLOCK_MONOTONIC in ms. */
int64_t test_now_ms(void);

/* Zeroed memory aligned to a cache line (64 bytes), for structs that embed rings or waiters (calloc only gives 16).
 * Free with free(). */
void *test_zalloc_aligned(size_t size);

#endif

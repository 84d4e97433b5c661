/* testutil.c - pseudo-terminals, processes and files for tests (see testutil.h). */
#include "tests/support/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

int64_t test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void test_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int test_pty_open(struct test_pty *p, const char *link_path)
{
	struct termios tio;

	memset(p, 0, sizeof(*p));
	p->master = p->slave = -1;
	if (openpty(&p->master, &p->slave, p->slave_path, NULL, NULL) < 0)
		return -errno;
	if (tcgetattr(p->slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(p->slave, TCSANOW, &tio);
	}
	fcntl(p->master, F_SETFL, fcntl(p->master, F_GETFL) | O_NONBLOCK);
	fcntl(p->master, F_SETFD, FD_CLOEXEC);
	fcntl(p->slave, F_SETFD, FD_CLOEXEC);
	if (link_path) {
		snprintf(p->link_path, sizeof(p->link_path), "%s", link_path);
		char tmp[600];
		snprintf(tmp, sizeof(tmp), "%s.new", link_path);
		unlink(tmp);
		if (symlink(p->slave_path, tmp) < 0 || rename(tmp, link_path) < 0) {
			int err = -errno;
			test_pty_close(p);
			return err;
		}
	}
	return 0;
}

int test_pty_write_all(struct test_pty *p, const void *buf, size_t n)
{
	const char *c = buf;
	int64_t last_progress = test_now_ms();

	while (n > 0) {
		ssize_t w = write(p->master, c, n);
		if (w > 0) {
			c += w;
			n -= (size_t)w;
			last_progress = test_now_ms();
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (test_now_ms() - last_progress > 30000)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = p->master, .events = POLLOUT};
		poll(&pfd, 1, 100);
	}
	return 0;
}

int test_pty_wait_drained(struct test_pty *p, int timeout_ms)
{
	int64_t end = test_now_ms() + timeout_ms;
	int empty_seen = 0;

	/* FIONREAD counts the line discipline's buffer, not bytes the pty is still moving into it: wait until it has
	 * read empty three times over 100 ms. */
	for (;;) {
		int pending = 0;
		if (ioctl(p->slave, FIONREAD, &pending) < 0)
			return -errno;
		empty_seen = pending == 0 ? empty_seen + 1 : 0;
		if (empty_seen >= 3)
			return 0;
		if (pending == 0) {
			test_sleep_ms(50);
			continue;
		}
		if (test_now_ms() > end)
			return -ETIMEDOUT;
		test_sleep_ms(5);
	}
}

void test_pty_close(struct test_pty *p)
{
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	p->master = p->slave = -1;
	if (p->link_path[0])
		unlink(p->link_path);
}

const char *test_build_dir(void)
{
	const char *b = getenv("V2X_BUILD");
	return b && *b ? b : "build";
}

static pid_t spawned[64];
static unsigned n_spawned;

pid_t test_spawn(char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0) {
		if (n_spawned < sizeof(spawned) / sizeof(spawned[0]))
			spawned[n_spawned++] = pid;
		return pid;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the parent died before prctl */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (log_path) {
			int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int test_kill_spawned(void **state)
{
	(void)state;
	for (unsigned i = 0; i < n_spawned; i++) {
		if (kill(spawned[i], 0) == 0) {
			kill(spawned[i], SIGKILL);
			waitpid(spawned[i], NULL, 0);
		}
	}
	n_spawned = 0;
	return 0;
}

int test_wait_exit(pid_t pid, int timeout_ms)
{
	int64_t end = test_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0)
			return -errno;
		if (test_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		test_sleep_ms(10);
	}
}

int test_mkdtemp(char *buf, size_t size, const char *tag)
{
	snprintf(buf, size, "/tmp/v2x-%s-XXXXXX", tag);
	return mkdtemp(buf) ? 0 : -errno;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

void test_rmtree(const char *dir)
{
	if (dir && strncmp(dir, "/tmp/v2x-", 9) == 0)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int test_wait_for_text(const char *path, const char *needle, int timeout_ms)
{
	int64_t end = test_now_ms() + timeout_ms;

	for (;;) {
		char *text = test_read_file(path, NULL);
		int found = text && strstr(text, needle) != NULL;
		free(text);
		if (found)
			return 0;
		if (test_now_ms() > end)
			return -ETIMEDOUT;
		test_sleep_ms(20);
	}
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void *test_zalloc_aligned(size_t size)
{
	size_t rounded = (size + 63) / 64 * 64;
	void *p = aligned_alloc(64, rounded);
	if (p)
		memset(p, 0, rounded);
	return p;
}

/*
 * Startup timing driver for bench/run.sh.
 *
 *   spawn ROUNDS CMD1 [ARGS...] :: CMD2 [ARGS...] :: ...
 *
 * Runs every command once to check that it exits 0, then ROUNDS rounds,
 * each running every command once (fork, execv, wait4) in an order
 * shuffled for each round (fixed seed), never starting a round with the
 * command that ended the last: no command always follows the same one,
 * and none runs twice in a row. (Reversing the order every other round
 * ran the first and the last command twice in a row half the time, warm
 * from themselves, which favoured whichever came last.) Each run is timed with CLOCK_MONOTONIC from before fork to after
 * wait4; stdout and stderr go to /dev/null. Prints one line per command:
 *
 *   INDEX median_us p10_us p90_us maxrss_median_kib maxrss_max_kib failures
 *
 * or `INDEX fail STATUS` when the check run did not exit 0 (it is then run
 * once more with stderr visible, to show why). ru_maxrss is the child's peak RSS: the largest of this
 * driver's forked copy (small: it is a static C program), the command
 * before it execs anything and whatever it execs.
 *
 * Static and small on purpose: the forked copy of the driver is part of
 * every child's ru_maxrss, and its fork cost is part of every timing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 16

struct cmd {
	char **argv;
	int failed;
	double *us;
	long *rss;
	int n;
	int failures;
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Run once; returns the wait status, -1 if fork failed. */
static int run(char **argv, int quiet, double *us, long *rss)
{
	struct rusage ru;
	int status = 0;
	double t0 = now_us();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			if (quiet)
				dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*us = now_us() - t0;
	*rss = ru.ru_maxrss;
	return status;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static double pct(const double *v, int n, int p)
{
	return n ? v[(n - 1) * p / 100] : 0;
}

int main(int argc, char **argv)
{
	struct cmd cmds[MAX_CMDS];
	int ncmd = 0, rounds;

	if (argc < 3 || (rounds = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: spawn ROUNDS CMD [ARGS...] [:: CMD [ARGS...]]...\n");
		return 2;
	}
	memset(cmds, 0, sizeof(cmds));
	for (int i = 2; i < argc; i++) {
		if (ncmd == MAX_CMDS) {
			fprintf(stderr, "spawn: at most %d commands\n", MAX_CMDS);
			return 2;
		}
		cmds[ncmd].argv = &argv[i];
		while (i < argc && strcmp(argv[i], "::") != 0)
			i++;
		argv[i < argc ? i : argc] = NULL; /* argv[argc] is NULL already */
		ncmd++;
	}
	for (int c = 0; c < ncmd; c++) {
		double us;
		long rss;
		int st = run(cmds[c].argv, 1, &us, &rss);
		if (st != 0) {
			/* Again with stderr visible, to say why. */
			run(cmds[c].argv, 0, &us, &rss);
			fprintf(stderr, "spawn: %s exited with status %#x\n", cmds[c].argv[0], st);
			cmds[c].failed = st ? st : -1;
			continue;
		}
		cmds[c].us = calloc(rounds, sizeof(double));
		cmds[c].rss = calloc(rounds, sizeof(long));
		if (!cmds[c].us || !cmds[c].rss)
			return 1;
	}
	int order[MAX_CMDS], last = -1;
	unsigned long long seed = 0x9e3779b97f4a7c15ULL;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < ncmd; k++)
			order[k] = k;
		for (int k = ncmd - 1; k > 0; k--) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			int j = (int)((seed >> 33) % (unsigned long long)(k + 1));
			int t = order[k];
			order[k] = order[j];
			order[j] = t;
		}
		if (ncmd > 1 && order[0] == last) {
			order[0] = order[ncmd - 1];
			order[ncmd - 1] = last;
		}
		last = order[ncmd - 1];
		for (int k = 0; k < ncmd; k++) {
			struct cmd *c = &cmds[order[k]];
			double us;
			long rss;
			if (c->failed)
				continue;
			if (run(c->argv, 1, &us, &rss) != 0) {
				c->failures++;
				continue;
			}
			c->us[c->n] = us;
			c->rss[c->n] = rss;
			c->n++;
		}
	}
	for (int c = 0; c < ncmd; c++) {
		struct cmd *m = &cmds[c];
		if (m->failed) {
			printf("%d fail %#x\n", c, m->failed);
			continue;
		}
		qsort(m->us, m->n, sizeof(double), cmp_double);
		qsort(m->rss, m->n, sizeof(long), cmp_long);
		printf("%d %.1f %.1f %.1f %ld %ld %d\n", c, pct(m->us, m->n, 50),
		       pct(m->us, m->n, 10), pct(m->us, m->n, 90),
		       m->n ? m->rss[(m->n - 1) / 2] : 0, m->n ? m->rss[m->n - 1] : 0,
		       m->failures);
	}
	return 0;
}

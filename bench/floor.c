/*
 * The kernel's share of a launch, for bench/run.sh: what the system calls
 * and page faults a launch cannot do without cost on this machine, each
 * timed in a freshly forked child (as a launch is a fresh process), the
 * median of ROUNDS children. Prints one "name microseconds" line each:
 *
 *   floor ROUNDS DIR...
 *
 *   path        per directory of DIR...: openat(O_PATH|O_NOFOLLOW) beside
 *               the last one, fstat, landlock_add_rule, close; the least
 *               a checked Landlock rule on a path costs (needs Landlock)
 *   capdrop     per capability: prctl(PR_CAPBSET_DROP) (needs root)
 *   anonpage    per page: the first write to a fresh anonymous page
 *   mountinfo   open, read and close /proc/self/mountinfo
 *   seccomp7    seccomp(SET_MODE_FILTER) of a 7-instruction filter
 *
 * A line reads "name fail" when the call failed. Nothing is asserted.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static char **dirs;
static int ndirs;

/* Each returns microseconds per unit, or a negative number on failure. */

static double per_path(void)
{
	struct landlock_ruleset_attr attr = {
		.handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
	};
	int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0 || ndirs == 0)
		return -1;
	/* Every directory's parent, opened beforehand: the walk keeps it. */
	int *parent = calloc(ndirs, sizeof(int));
	char **name = calloc(ndirs, sizeof(char *));
	for (int i = 0; i < ndirs; i++) {
		char *slash = strrchr(dirs[i], '/');
		if (!slash || slash == dirs[i])
			return -1;
		*slash = 0;
		parent[i] = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
		name[i] = slash + 1;
		if (parent[i] < 0)
			return -1;
	}
	double t0 = now_us();
	for (int i = 0; i < ndirs; i++) {
		struct stat st;
		int fd = openat(parent[i], name[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0)
			return -1;
		struct landlock_path_beneath_attr pb = {
			.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
			.parent_fd = fd,
		};
		if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0)
			return -1;
		close(fd);
	}
	return (now_us() - t0) / ndirs;
}

static double cap_drop(void)
{
	int n = 0;
	double t0 = now_us();
	for (int c = 0; c < 41; c++) {
		if (prctl(PR_CAPBSET_READ, c) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, c) != 0)
			return -1;
		n++;
	}
	return n ? (now_us() - t0) / n : -1;
}

static double anon_page(void)
{
	enum { PAGES = 32 };
	char *p = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	double t0 = now_us();
	for (int i = 0; i < PAGES; i++)
		p[i * 4096] = 1;
	return (now_us() - t0) / PAGES;
}

static double mountinfo(void)
{
	static char buf[65536];
	double t0 = now_us();
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return now_us() - t0;
}

static double seccomp7(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), /* arch, set below */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffff, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	/* The arch check passes whatever this machine is: compare the
	 * loaded value with itself by always taking the "equal" branch. */
	f[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0);
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	double t0 = now_us();
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		return -1;
	return now_us() - t0;
}

static double in_child(double (*work)(void))
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		double v = work();
		if (write(p[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	double v = -1;
	if (read(p[0], &v, sizeof(v)) != sizeof(v))
		v = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void measure(const char *name, double (*work)(void), int rounds)
{
	double *v = calloc(rounds, sizeof(double));
	for (int i = 0; i < rounds; i++) {
		v[i] = in_child(work);
		if (v[i] < 0) {
			printf("%s fail\n", name);
			free(v);
			return;
		}
	}
	qsort(v, rounds, sizeof(double), cmp);
	printf("%s %.2f\n", name, v[rounds / 2]);
	free(v);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: floor ROUNDS DIR...\n");
		return 2;
	}
	int rounds = atoi(argv[1]);
	if (rounds < 1)
		rounds = 1;
	dirs = argv + 2;
	ndirs = argc - 2;
	measure("path", per_path, rounds);
	measure("capdrop", cap_drop, rounds);
	measure("anonpage", anon_page, rounds);
	measure("mountinfo", mountinfo, rounds);
	measure("seccomp7", seccomp7, rounds);
	return 0;
}

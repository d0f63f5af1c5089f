/*
 * nolandlock: run a command on a kernel that seems to have no Landlock.
 *
 *   nolandlock ERRNO CMD [ARGS...]
 *
 * Installs a seccomp filter that fails landlock_create_ruleset,
 * landlock_add_rule and landlock_restrict_self with ERRNO (38 = ENOSYS: not
 * built in, 95 = EOPNOTSUPP: not enabled at boot, 1 = EPERM: blocked by a
 * container profile), then execs CMD. Everything else is allowed. The
 * filter is inherited by CMD and everything it starts.
 *
 * Built static (gcc -static) by tests/landlock.rs. Needs CAP_SYS_ADMIN or
 * no_new_privs to install the filter; it sets no_new_privs only when the
 * first attempt is refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

/* The same numbers on every architecture (asm-generic). */
#define NR_CREATE 444
#define NR_ADD 445
#define NR_RESTRICT 446

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: nolandlock ERRNO CMD [ARGS...]\n");
		return 2;
	}
	unsigned int err = (unsigned int)strtoul(argv[1], NULL, 0) & SECCOMP_RET_DATA;
	struct sock_filter f[] = {
		/* Another architecture (e.g. a 32-bit entry): allow, untouched. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NR_CREATE, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, NR_RESTRICT, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
		if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
			perror("nolandlock: installing the seccomp filter");
			return 125;
		}
	}
	execvp(argv[2], argv + 2);
	perror("nolandlock: exec");
	return 127;
}

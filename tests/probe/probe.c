/*
 * probe: the test workload. It tries exactly one thing and prints what
 * happened, so a failing test explains itself:
 *
 *   ok[: detail]            the action succeeded (exit 0)
 *   errno=NAME(N): detail   the action failed (exit 1)
 *
 * Built static (gcc -static) by the tests so it runs in any root filesystem,
 * including a shell-less one. Usage: probe ACTION [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char *ename(int e) {
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ENOTTY: return "ENOTTY";
	case EBADF: return "EBADF";
	case ENOTDIR: return "ENOTDIR";
	case EROFS: return "EROFS";
	case ESRCH: return "ESRCH";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EADDRINUSE: return "EADDRINUSE";
	case ENOTSOCK: return "ENOTSOCK";
	case EFAULT: return "EFAULT";
	case ENOEXEC: return "ENOEXEC";
	case EINPROGRESS: return "EINPROGRESS";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
	case EIDRM: return "EIDRM";
	default: return "E?";
	}
}

static int report(long r, const char *what) {
	if (r < 0) {
		int e = errno;
		printf("errno=%s(%d): %s\n", ename(e), e, what);
		return 1;
	}
	printf("ok: %s\n", what);
	return 0;
}

static long num(const char *s) { return strtol(s, NULL, 0); }

/* A pid argument: a number, or "ppid" for the parent. */
static pid_t pidarg(const char *s) { return !strcmp(s, "ppid") ? getppid() : (pid_t)num(s); }

/* Name the calling thread through /proc/self/task/TID/comm, as cuInit
 * names its threads. */
static int set_comm(const char *name) {
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)gettid());
	int fd = open(path, O_WRONLY);
	if (fd < 0) return report(-1, path);
	long r = write(fd, name, strlen(name));
	close(fd);
	return report(r, path);
}

static void *comm_thread(void *arg) {
	(void)arg;
	return (void *)(intptr_t)set_comm("probe-thread");
}

/* 127.0.0.1:PORT */
static struct sockaddr_in loopback(const char *port) {
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)num(port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

static int need(int argc, int n) {
	if (argc < n) {
		fprintf(stderr, "probe: missing arguments\n");
		exit(2);
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: probe ACTION [ARGS...]\n");
		return 2;
	}
	const char *a = argv[1];
	setvbuf(stdout, NULL, _IONBF, 0);

	if (!strcmp(a, "true")) return 0;
	if (!strcmp(a, "exit")) { need(argc, 3); return (int)num(argv[2]); }
	if (!strcmp(a, "status")) {
		/* Identity, capabilities, no_new_privs and seccomp state. */
		FILE *f = fopen("/proc/self/status", "r");
		if (!f) return report(-1, "open /proc/self/status");
		char line[512];
		while (fgets(line, sizeof line, f)) {
			if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) ||
			    !strncmp(line, "Groups:", 7) || !strncmp(line, "Cap", 3) ||
			    !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8))
				fputs(line, stdout);
		}
		return 0;
	}
	if (!strcmp(a, "comm")) {
		/* comm: rename this thread and a new one (see set_comm). */
		if (set_comm("probe-main")) return 1;
		pthread_t t;
		void *res = NULL;
		errno = pthread_create(&t, NULL, comm_thread, NULL);
		if (errno) return report(-1, "pthread_create");
		pthread_join(t, &res);
		return (int)(intptr_t)res;
	}
	if (!strcmp(a, "env")) {
		extern char **environ;
		for (char **e = environ; *e; e++) puts(*e);
		return 0;
	}
	if (!strcmp(a, "fds")) {
		/* Open descriptors, excluding the one used to list them. */
		for (int fd = 0; fd < 1024; fd++)
			if (fcntl(fd, F_GETFD) != -1) printf("%d\n", fd);
		return 0;
	}
	if (!strcmp(a, "read")) {
		need(argc, 3);
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) return report(-1, argv[2]);
		char b[64];
		return report(read(fd, b, sizeof b), argv[2]);
	}
	if (!strcmp(a, "write")) {
		/* Open for writing (creating) and write one line. */
		need(argc, 3);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0) return report(-1, argv[2]);
		return report(write(fd, "x\n", 2), argv[2]);
	}
	if (!strcmp(a, "openrw")) {
		need(argc, 3);
		return report(open(argv[2], O_RDWR), argv[2]);
	}
	if (!strcmp(a, "truncate")) {
		need(argc, 3);
		return report(truncate(argv[2], 0), argv[2]);
	}
	if (!strcmp(a, "mkdir")) { need(argc, 3); return report(mkdir(argv[2], 0755), argv[2]); }
	if (!strcmp(a, "unlink")) { need(argc, 3); return report(unlink(argv[2]), argv[2]); }
	if (!strcmp(a, "rename")) { need(argc, 4); return report(rename(argv[2], argv[3]), argv[3]); }
	if (!strcmp(a, "link")) { need(argc, 4); return report(link(argv[2], argv[3]), argv[3]); }
	if (!strcmp(a, "symlink")) { need(argc, 4); return report(symlink(argv[2], argv[3]), argv[3]); }
	if (!strcmp(a, "ls")) {
		need(argc, 3);
		return report(open(argv[2], O_RDONLY | O_DIRECTORY), argv[2]);
	}
	if (!strcmp(a, "exec")) {
		need(argc, 3);
		execv(argv[2], argv + 2);
		return report(-1, argv[2]);
	}
	if (!strcmp(a, "ioctl")) {
		/* ioctl PATH: FIONREAD on an opened device (Landlock ioctl_dev). */
		need(argc, 3);
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) return report(-1, argv[2]);
		int n = 0;
		return report(ioctl(fd, FIONREAD, &n), argv[2]);
	}
	if (!strcmp(a, "tiocsti")) {
		char c = 'x';
		return report(ioctl(0, TIOCSTI, &c), "TIOCSTI on stdin");
	}
	if (!strcmp(a, "tioclinux")) {
		char c = 0;
		return report(ioctl(0, TIOCLINUX, &c), "TIOCLINUX on stdin");
	}
	if (!strcmp(a, "tiocsetd")) {
		/* tiocsetd: open a pty pair and set the slave's line discipline
		 * to N_TTY, the one it has (harmless when allowed). */
		int m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m < 0) return report(-1, "posix_openpt");
		if (grantpt(m) < 0 || unlockpt(m) < 0) return report(-1, "unlockpt");
		char *name = ptsname(m);
		int sl = name ? open(name, O_RDWR | O_NOCTTY) : -1;
		if (sl < 0) return report(-1, "open pty slave");
		int ldisc = 0; /* N_TTY */
		return report(ioctl(sl, TIOCSETD, &ldisc), "TIOCSETD(N_TTY) on a pty");
	}
	if (!strcmp(a, "inotify")) {
		/* inotify DIR: watch DIR, say so, and print the first event
		 * (name and kind) seen within 5 seconds. */
		need(argc, 3);
		int fd = inotify_init1(IN_CLOEXEC);
		if (fd < 0) return report(-1, "inotify_init1");
		int wd = inotify_add_watch(fd, argv[2], IN_CREATE | IN_OPEN | IN_MODIFY | IN_CLOSE_WRITE);
		if (report(wd, "inotify_add_watch")) return 1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) <= 0) {
			printf("no event within 5s\n");
			return 1;
		}
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		long n = read(fd, buf, sizeof buf);
		if (n < (long)sizeof(struct inotify_event)) return report(-1, "read inotify");
		struct inotify_event *ev = (struct inotify_event *)buf;
		printf("event: %s %s\n",
		       ev->mask & IN_CREATE ? "IN_CREATE" : ev->mask & IN_OPEN ? "IN_OPEN" : "other",
		       ev->len ? ev->name : "");
		return 0;
	}
	if (!strcmp(a, "connect") || !strcmp(a, "bind")) {
		/* connect|bind PORT [ADDR]: TCP on IPv4 loopback. */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		struct sockaddr_in sa = {0};
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)num(argv[2]));
		sa.sin_addr.s_addr = htonl(argc > 3 ? (uint32_t)num(argv[3]) : INADDR_LOOPBACK);
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (!strcmp(a, "bind")) return report(bind(s, (void *)&sa, sizeof sa), argv[2]);
		return report(connect(s, (void *)&sa, sizeof sa), argv[2]);
	}
	if (!strcmp(a, "tfo")) {
		/* tfo PORT: TCP Fast Open, sendto(MSG_FASTOPEN) on a fresh socket
		 * connects to 127.0.0.1:PORT without calling connect(). */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		struct sockaddr_in sa = loopback(argv[2]);
		return report(sendto(s, "x", 1, MSG_FASTOPEN, (void *)&sa, sizeof sa), "sendto(MSG_FASTOPEN)");
	}
	if (!strcmp(a, "tfo-sendmsg")) {
		/* tfo-sendmsg PORT: the same through sendmsg. */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		struct sockaddr_in sa = loopback(argv[2]);
		struct iovec iov = {.iov_base = "x", .iov_len = 1};
		struct msghdr m = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
		return report(sendmsg(s, &m, MSG_FASTOPEN), "sendmsg(MSG_FASTOPEN)");
	}
	if (!strcmp(a, "tfo-connect")) {
		/* tfo-connect PORT: TCP_FASTOPEN_CONNECT, then connect(). */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		int one = 1;
		if (setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) < 0)
			return report(-1, "setsockopt(TCP_FASTOPEN_CONNECT)");
		struct sockaddr_in sa = loopback(argv[2]);
		return report(connect(s, (void *)&sa, sizeof sa), "connect with TCP_FASTOPEN_CONNECT");
	}
	if (!strcmp(a, "mptcp")) {
		/* mptcp PORT: an MPTCP socket connects to 127.0.0.1:PORT. */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */);
		if (s < 0) return report(-1, "socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)");
		struct sockaddr_in sa = loopback(argv[2]);
		return report(connect(s, (void *)&sa, sizeof sa), "MPTCP connect");
	}
	if (!strcmp(a, "listen")) {
		/* listen on an unbound TCP socket: the kernel picks a port. */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		if (listen(s, 1) < 0) return report(-1, "listen on an unbound socket");
		struct sockaddr_in sa = {0};
		socklen_t n = sizeof sa;
		getsockname(s, (void *)&sa, &n);
		printf("ok: listening on port %d\n", ntohs(sa.sin_port));
		return 0;
	}
	if (!strcmp(a, "connect6")) {
		/* connect6 PORT ADDR: TCP over AF_INET6 (e.g. ::ffff:127.0.0.1). */
		need(argc, 4);
		int s = socket(AF_INET6, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET6)");
		struct sockaddr_in6 sa = {0};
		sa.sin6_family = AF_INET6;
		sa.sin6_port = htons((uint16_t)num(argv[2]));
		if (inet_pton(AF_INET6, argv[3], &sa.sin6_addr) != 1) {
			fprintf(stderr, "probe: bad address %s\n", argv[3]);
			return 2;
		}
		return report(connect(s, (void *)&sa, sizeof sa), argv[3]);
	}
	if (!strcmp(a, "bind-unspec")) {
		/* bind-unspec PORT: bind an IPv4 socket with sin_family AF_UNSPEC
		 * and INADDR_ANY, which the kernel takes as AF_INET. */
		need(argc, 3);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		struct sockaddr_in sa = {0};
		sa.sin_family = AF_UNSPEC;
		sa.sin_port = htons((uint16_t)num(argv[2]));
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
		return report(bind(s, (void *)&sa, sizeof sa), "bind(AF_UNSPEC)");
	}
	if (!strcmp(a, "reconnect")) {
		/* reconnect PORT1 PORT2: connect to PORT1, disconnect with
		 * connect(AF_UNSPEC), connect the same socket to PORT2. */
		need(argc, 4);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_INET)");
		struct sockaddr_in sa = loopback(argv[2]);
		if (connect(s, (void *)&sa, sizeof sa) < 0) return report(-1, "first connect");
		struct sockaddr un = {0};
		un.sa_family = AF_UNSPEC;
		if (connect(s, &un, sizeof un) < 0) return report(-1, "connect(AF_UNSPEC)");
		sa = loopback(argv[3]);
		return report(connect(s, (void *)&sa, sizeof sa), "connect after AF_UNSPEC");
	}
	if (!strcmp(a, "socketpair")) {
		int sv[2];
		return report(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair(AF_UNIX)");
	}
	if (!strcmp(a, "listmount")) {
		/* listmount: the ids of the mounts below the root (Linux 6.8,
		 * syscall 458 on every architecture). */
		struct { uint32_t size, spare; uint64_t mnt_id, param; } req = {
			24, 0, ~0ULL, 0 };
		uint64_t ids[64];
		return report(syscall(458, &req, ids, 64UL, 0UL), "listmount");
	}
	if (!strcmp(a, "pair-sendto")) {
		/* pair-sendto dgram|raw|seqpacket PATH: a socket pair of that
		 * type sends to the pathname socket PATH (sendto with the
		 * address), then connects one end to it and sends. */
		need(argc, 4);
		int type = !strcmp(argv[2], "raw") ? SOCK_RAW
			: !strcmp(argv[2], "seqpacket") ? SOCK_SEQPACKET : SOCK_DGRAM;
		int sv[2];
		if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
			return report(-1, "socketpair(AF_UNIX)");
		struct sockaddr_un un = {0};
		un.sun_family = AF_UNIX;
		snprintf(un.sun_path, sizeof un.sun_path, "%s", argv[3]);
		if (sendto(sv[0], "x", 1, 0, (void *)&un, sizeof un) < 0)
			return report(-1, "sendto(PATH)");
		if (connect(sv[1], (void *)&un, sizeof un) < 0)
			return report(-1, "connect(PATH)");
		return report(send(sv[1], "y", 1, 0), "send after connect");
	}
	if (!strcmp(a, "shm-create")) {
		/* shm-create KEY: a new 4 KiB segment, mode 0600; prints its id. */
		need(argc, 3);
		int id = shmget((key_t)num(argv[2]), 4096, IPC_CREAT | IPC_EXCL | 0600);
		if (id < 0) return report(-1, "shmget(IPC_CREAT)");
		printf("ok: id=%d\n", id);
		return 0;
	}
	if (!strcmp(a, "shmget")) {
		need(argc, 3);
		return report(shmget((key_t)num(argv[2]), 0, 0), "shmget");
	}
	if (!strcmp(a, "shmat")) {
		/* shmat ID: attach a segment by id, read-only. */
		need(argc, 3);
		void *p = shmat((int)num(argv[2]), NULL, SHM_RDONLY);
		return report(p == (void *)-1 ? -1 : 0, "shmat");
	}
	if (!strcmp(a, "shm-rm")) {
		need(argc, 3);
		return report(shmctl((int)num(argv[2]), IPC_RMID, NULL), "shmctl(IPC_RMID)");
	}
	if (!strcmp(a, "msg-create")) {
		/* msg-create KEY: a new message queue, mode 0600; prints its id. */
		need(argc, 3);
		int id = msgget((key_t)num(argv[2]), IPC_CREAT | IPC_EXCL | 0600);
		if (id < 0) return report(-1, "msgget(IPC_CREAT)");
		printf("ok: id=%d\n", id);
		return 0;
	}
	if (!strcmp(a, "msgsnd")) {
		/* msgsnd ID: send one message without waiting. */
		need(argc, 3);
		struct { long type; char text[1]; } m = {1, {'x'}};
		return report(msgsnd((int)num(argv[2]), &m, 1, IPC_NOWAIT), "msgsnd");
	}
	if (!strcmp(a, "msg-rm")) {
		need(argc, 3);
		return report(msgctl((int)num(argv[2]), IPC_RMID, NULL), "msgctl(IPC_RMID)");
	}
	if (!strcmp(a, "mq-create") || !strcmp(a, "mq-open")) {
		/* mq-create|mq-open NAME: POSIX message queue NAME (no leading
		 * slash, as the kernel takes it), created with mode 0600 or
		 * opened read-write. Raw syscall: no librt needed. */
		need(argc, 3);
		int create = !strcmp(a, "mq-create");
		long fd = syscall(SYS_mq_open, argv[2], O_RDWR | (create ? O_CREAT | O_EXCL : 0), 0600, NULL);
		return report(fd, create ? "mq_open(O_CREAT)" : "mq_open");
	}
	if (!strcmp(a, "mq-unlink")) {
		need(argc, 3);
		return report(syscall(SYS_mq_unlink, argv[2]), "mq_unlink");
	}
	if (!strcmp(a, "prlimit")) {
		/* prlimit PID|ppid: set RLIMIT_CORE of PID to 0 (harmless). */
		need(argc, 3);
		struct rlimit r = {0, 0};
		return report(prlimit(pidarg(argv[2]), RLIMIT_CORE, &r, NULL), "prlimit(RLIMIT_CORE)");
	}
	if (!strcmp(a, "setpriority")) {
		/* setpriority WHICH WHO: nice 19 (always allowed to lower). */
		need(argc, 4);
		return report(setpriority((int)num(argv[2]), (id_t)pidarg(argv[3]), 19), "setpriority");
	}
	if (!strcmp(a, "setaffinity")) {
		/* setaffinity PID: give PID this process's own CPU mask. */
		need(argc, 3);
		cpu_set_t set;
		if (sched_getaffinity(0, sizeof set, &set) < 0) return report(-1, "sched_getaffinity");
		return report(sched_setaffinity(pidarg(argv[2]), sizeof set, &set), "sched_setaffinity");
	}
	if (!strcmp(a, "ioprio")) {
		/* ioprio PID: IOPRIO_WHO_PROCESS, best-effort class, level 7. */
		need(argc, 3);
		return report(syscall(SYS_ioprio_set, 1, (int)pidarg(argv[2]), (2 << 13) | 7), "ioprio_set");
	}
	if (!strcmp(a, "socket")) {
		/* socket DOMAIN TYPE PROTO (numbers). */
		need(argc, 5);
		return report(socket((int)num(argv[2]), (int)num(argv[3]), (int)num(argv[4])), "socket");
	}
	if (!strcmp(a, "abstract")) {
		/* Connect to an abstract unix socket "@NAME". */
		need(argc, 3);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_UNIX)");
		struct sockaddr_un su = {0};
		su.sun_family = AF_UNIX;
		size_t n = strlen(argv[2]);
		if (n > sizeof su.sun_path - 2) n = sizeof su.sun_path - 2;
		memcpy(su.sun_path + 1, argv[2], n);
		return report(connect(s, (void *)&su, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), argv[2]);
	}
	if (!strcmp(a, "unix")) {
		/* Connect to the named unix socket PATH (Landlock resolve_unix). */
		need(argc, 3);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (s < 0) return report(-1, "socket(AF_UNIX)");
		struct sockaddr_un su = {0};
		su.sun_family = AF_UNIX;
		strncpy(su.sun_path, argv[2], sizeof su.sun_path - 1);
		return report(connect(s, (void *)&su, sizeof su), argv[2]);
	}
	if (!strcmp(a, "kill")) {
		need(argc, 3);
		return report(kill((pid_t)num(argv[2]), argc > 3 ? (int)num(argv[3]) : 0), argv[2]);
	}
	if (!strcmp(a, "ptrace")) {
		/* Attach to PID (default: the parent). */
		pid_t p = argc > 2 ? (pid_t)num(argv[2]) : getppid();
		return report(ptrace(PTRACE_ATTACH, p, 0, 0), "ptrace attach");
	}
	if (!strcmp(a, "unshare")) {
		need(argc, 3);
		return report(unshare((int)num(argv[2])), "unshare");
	}
	if (!strcmp(a, "clone")) {
		/* clone(FLAGS|SIGCHLD) via the raw syscall; the child exits at once. */
		need(argc, 3);
		long r = syscall(SYS_clone, num(argv[2]) | SIGCHLD, 0, 0, 0, 0);
		if (r == 0) _exit(0);
		if (r > 0) waitpid((pid_t)r, NULL, 0);
		return report(r, "clone");
	}
	if (!strcmp(a, "clone3")) {
		struct clone_args ca = {0};
		ca.exit_signal = SIGCHLD;
		long r = syscall(SYS_clone3, &ca, sizeof ca);
		if (r == 0) _exit(0);
		if (r > 0) waitpid((pid_t)r, NULL, 0);
		return report(r, "clone3");
	}
	if (!strcmp(a, "fork")) {
		pid_t p = fork();
		if (p == 0) _exit(0);
		if (p > 0) waitpid(p, NULL, 0);
		return report(p, "fork");
	}
	if (!strcmp(a, "memfd")) {
		return report(memfd_create("probe", MFD_CLOEXEC), "memfd_create");
	}
	if (!strcmp(a, "memfd-exec")) {
		/* Copy SELF into a memfd and exec it: via /proc/self/fd/N, or
		 * with execveat(AT_EMPTY_PATH) when argv[2] is "execveat". */
		int m = memfd_create("probe", 0);
		if (m < 0) return report(-1, "memfd_create");
		int self = open("/proc/self/exe", O_RDONLY);
		if (self < 0) return report(-1, "open /proc/self/exe");
		char buf[65536];
		ssize_t n;
		while ((n = read(self, buf, sizeof buf)) > 0)
			if (write(m, buf, (size_t)n) != n) return report(-1, "write memfd");
		char *args[] = {"probe", "true", NULL};
		char *envp[] = {NULL};
		if (argc > 2 && !strcmp(argv[2], "execveat")) {
			syscall(SYS_execveat, m, "", args, envp, AT_EMPTY_PATH);
			return report(-1, "execveat(memfd, AT_EMPTY_PATH)");
		}
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", m);
		execve(p, args, envp);
		return report(-1, p);
	}
	if (!strcmp(a, "execveat-empty")) {
		/* execveat(fd of PATH, "", AT_EMPTY_PATH) */
		need(argc, 3);
		int fd = open(argv[2], O_PATH);
		if (fd < 0) return report(-1, argv[2]);
		char *args[] = {"probe", "true", NULL};
		char *envp[] = {NULL};
		syscall(SYS_execveat, fd, "", args, envp, AT_EMPTY_PATH);
		return report(-1, "execveat AT_EMPTY_PATH");
	}
	if (!strcmp(a, "setuid0")) {
		return report(setresuid(0, 0, 0), "setresuid(0,0,0)");
	}
	if (!strcmp(a, "setgid0")) {
		/* setgid0 [FILE]: become gid 0 with no other groups, then read
		 * FILE (a root-group file) with the new identity. */
		gid_t none[1] = {0};
		if (setgroups(1, none) < 0) return report(-1, "setgroups([0])");
		if (setresgid(0, 0, 0) < 0) return report(-1, "setresgid(0,0,0)");
		if (argc < 3) return report(0, "setgroups([0]) and setresgid(0,0,0)");
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0) return report(-1, argv[2]);
		char buf[64];
		long n = read(fd, buf, sizeof buf);
		close(fd);
		printf("gid=%d read %ld bytes of %s\n", (int)getgid(), n, argv[2]);
		return report(n, "setresgid(0,0,0) and read");
	}
	if (!strcmp(a, "euid")) {
		printf("euid=%d uid=%d\n", (int)geteuid(), (int)getuid());
		return 0;
	}
	if (!strcmp(a, "mount")) {
		return report(mount("none", "/tmp", "tmpfs", 0, NULL), "mount tmpfs");
	}
	if (!strcmp(a, "personality")) {
		need(argc, 3);
		return report(personality((unsigned long)num(argv[2])), "personality");
	}
	if (!strcmp(a, "syscall")) {
		/* syscall NR [ARG...]: a raw syscall with up to 6 numeric args. */
		need(argc, 3);
		long v[6] = {0};
		for (int i = 0; i < 6 && i + 3 < argc; i++) v[i] = num(argv[i + 3]);
		return report(syscall(num(argv[2]), v[0], v[1], v[2], v[3], v[4], v[5]), argv[2]);
	}
#if defined(__x86_64__)
	if (!strcmp(a, "x32")) {
		/* getpid through the x32 ABI (bit 30 set in the syscall number). */
		long r;
		__asm__ volatile("syscall" : "=a"(r) : "0"(0x40000000L | SYS_getpid) : "rcx", "r11", "memory");
		if (r < 0 && r > -4096) { errno = (int)-r; r = -1; }
		return report(r, "x32 getpid");
	}
	if (!strcmp(a, "int80")) {
		/* getpid through the i386 ABI (int 0x80, number 20). */
		long r;
		__asm__ volatile("int $0x80" : "=a"(r) : "0"(20L) : "memory");
		if (r < 0 && r > -4096) { errno = (int)-r; r = -1; }
		return report(r, "int 0x80 getpid");
	}
#endif
	if (!strcmp(a, "sleep")) {
		need(argc, 3);
		sleep((unsigned)num(argv[2]));
		return 0;
	}
	if (!strcmp(a, "signals")) {
		/* Print each signal received, one per line, until SIGTERM-like
		 * exit: `signals N` exits after N signals with status 0. */
		need(argc, 3);
		sigset_t s;
		sigfillset(&s);
		sigprocmask(SIG_BLOCK, &s, NULL);
		puts("ready");
		for (long n = num(argv[2]); n > 0; n--) {
			int sig = 0;
			sigwait(&s, &sig);
			/* runc forwards its Go runtime's preemption signal
			 * (SIGURG) to the container's PID 1, which forwards it
			 * here like any other: noise, not one of the signals a
			 * test sends. */
			if (sig == SIGURG) { n++; continue; }
			printf("signal %d\n", sig);
		}
		return 0;
	}
	if (!strcmp(a, "orphan")) {
		/* Leave a grandchild that exits after the child: a zombie for
		 * init to reap. Then report whether it was reaped. */
		int pfd[2];
		if (pipe(pfd) < 0) return report(-1, "pipe");
		pid_t c = fork();
		if (c == 0) {
			pid_t g = fork();
			if (g == 0) { usleep(200000); _exit(0); }
			if (write(pfd[1], &g, sizeof g) != sizeof g) _exit(1);
			_exit(0);
		}
		pid_t g = 0;
		if (read(pfd[0], &g, sizeof g) != sizeof g) return report(-1, "read grandchild pid");
		waitpid(c, NULL, 0);
		printf("grandchild %d\n", (int)g);
		usleep(800000);
		char p[64], st[256];
		snprintf(p, sizeof p, "/proc/%d/stat", (int)g);
		FILE *f = fopen(p, "r");
		if (!f) return report(errno == ENOENT ? 0 : -1, "grandchild reaped");
		if (!fgets(st, sizeof st, f)) st[0] = 0;
		char *r = strrchr(st, ')');
		printf("not reaped: grandchild %d, state %c\n", (int)g, r && r[1] ? r[2] : '?');
		return 1;
	}
	fprintf(stderr, "probe: unknown action %s\n", a);
	return 2;
}

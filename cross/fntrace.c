// fntrace FUNCS OUT -- CMD...: which functions of CMD run.
//
// FUNCS lists function start addresses (hex, one per line) of CMD, a
// static non-PIE executable. Each gets a breakpoint (int3) once CMD is
// exec'd; the first hit records the function, puts its byte back and
// resumes it there, so each function traps at most once per process.
// Processes CMD forks are followed the same way (they inherit the
// breakpoints not yet hit). A process stops being traced when it execs
// (the workload) or exits. OUT gets the addresses of the functions that
// ran, one per line. Exits 1 unless CMD (or a process it forked) went
// on to exec and CMD itself, if it exited, exited 0: a refused launch
// runs the error path, not the launch. Used by cross/launch-order.sh
// (x86_64 only: it reads and writes the instruction pointer as rip).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t *fn; static size_t nfn; static unsigned char *hit;
static long *orig;
static long find(uint64_t a) {
  size_t lo = 0, hi = nfn;
  while (lo < hi) { size_t m = (lo + hi) / 2; if (fn[m] < a) lo = m + 1; else hi = m; }
  return (lo < nfn && fn[lo] == a) ? (long)lo : -1;
}
static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--")) { fprintf(stderr, "usage: fntrace FUNCS OUT -- CMD...\n"); return 2; }
  FILE *in = fopen(argv[1], "r"); if (!in) { perror(argv[1]); return 2; }
  size_t cap = 1024; fn = malloc(cap * 8); unsigned long a;
  while (fscanf(in, "%lx", &a) == 1) { if (nfn == cap) fn = realloc(fn, (cap *= 2) * 8); fn[nfn++] = a; }
  fclose(in);
  qsort(fn, nfn, 8, cmp);
  size_t k = 0; for (size_t i = 0; i < nfn; i++) if (!k || fn[i] != fn[k - 1]) fn[k++] = fn[i]; nfn = k;
  hit = calloc(nfn, 1); orig = calloc(nfn, sizeof(long));
  pid_t c = fork();
  if (c == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); raise(SIGSTOP); execv(argv[4], argv + 4); _exit(127); }
  int st; waitpid(c, &st, 0);
  ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
  ptrace(PTRACE_CONT, c, 0, 0);
  waitpid(c, &st, 0);  // at the exec of CMD: set the breakpoints
  for (size_t i = 0; i < nfn; i++) {
    errno = 0;
    orig[i] = ptrace(PTRACE_PEEKTEXT, c, fn[i], 0);
    if (errno || ptrace(PTRACE_POKETEXT, c, fn[i], (orig[i] & ~0xffL) | 0xcc)) {
      fprintf(stderr, "fntrace: cannot set a breakpoint at %lx\n", (unsigned long)fn[i]);
      kill(c, SIGKILL);
      return 1;
    }
  }
  int live = 1, execd = 0, failed = 0;
  ptrace(PTRACE_CONT, c, 0, 0);
  while (live > 0) {
    pid_t p = waitpid(-1, &st, __WALL);
    if (p < 0) break;
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      if (p == c && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) failed = 1;
      live--;
      continue;
    }
    if (!WIFSTOPPED(st)) continue;
    int ev = st >> 16, sig = WSTOPSIG(st);
    if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE) {
      live++; ptrace(PTRACE_CONT, p, 0, 0); continue;
    }
    if (ev == PTRACE_EVENT_EXEC) { execd = 1; ptrace(PTRACE_DETACH, p, 0, 0); live--; continue; }
    if (ev == 0 && sig == SIGTRAP) {
      struct user_regs_struct r; ptrace(PTRACE_GETREGS, p, 0, &r);
      long i = find(r.rip - 1);
      if (i >= 0) {
        hit[i] = 1;
        long w = ptrace(PTRACE_PEEKTEXT, p, fn[i], 0);
        ptrace(PTRACE_POKETEXT, p, fn[i], (w & ~0xffL) | (orig[i] & 0xff));
        r.rip -= 1; ptrace(PTRACE_SETREGS, p, 0, &r);
        ptrace(PTRACE_CONT, p, 0, 0); continue;
      }
    }
    ptrace(PTRACE_CONT, p, 0, (sig == SIGSTOP || sig == SIGTRAP) ? 0 : sig);
  }
  FILE *f = fopen(argv[2], "w"); size_t h = 0;
  if (!f) { perror(argv[2]); return 1; }
  for (size_t i = 0; i < nfn; i++) if (hit[i]) { fprintf(f, "%lx\n", (unsigned long)fn[i]); h++; }
  fclose(f);
  fprintf(stderr, "fntrace: %zu of %zu functions ran\n", h, nfn);
  if (failed || !execd) {
    fprintf(stderr, "fntrace: the command failed (%s)\n", execd ? "it exited non-zero" : "nothing was exec'd");
    return 1;
  }
  return 0;
}

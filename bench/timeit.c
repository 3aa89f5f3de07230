/* timeit.c: runs one command and prints how long it took and its peak RSS.
 *
 *   timeit [-o OUT] [-e ERR] [-i IN] -- CMD [ARG...]
 *
 * CMD runs with stdin from IN (default /dev/null), stdout to OUT and stderr
 * to ERR (default /dev/null for both). The clock starts right before fork and
 * stops when wait4 returns, so it covers exec, the dynamic loader and the
 * whole run, and nothing of the caller. Prints one line:
 *
 *   <wall seconds> <peak RSS KiB> <exit status> <user+sys CPU seconds>
 *
 * The peak RSS is ru_maxrss of the child as wait4 reports it: the figure GNU
 * time prints as %M. A child killed by a signal reports 128 + the signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void) {
  fprintf(stderr, "usage: timeit [-o OUT] [-e ERR] [-i IN] -- CMD [ARG...]\n");
  exit(2);
}

/* Opens path onto fd in the child, or exits 127. */
static void redirect(const char *path, int fd, int flags) {
  int f = open(path, flags, 0644);
  if (f < 0 || dup2(f, fd) < 0) {
    fprintf(stderr, "timeit: %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  if (f != fd) close(f);
}

static double seconds(const struct timeval *tv) {
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int main(int argc, char **argv) {
  const char *in = "/dev/null", *out = "/dev/null", *err = "/dev/null";
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "-o") == 0) out = argv[++i];
    else if (strcmp(argv[i], "-e") == 0) err = argv[++i];
    else if (strcmp(argv[i], "-i") == 0) in = argv[++i];
    else usage();
  }
  if (i >= argc) usage();

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) { perror("timeit: fork"); return 2; }
  if (pid == 0) {
    redirect(in, 0, O_RDONLY);
    redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
    redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
    execvp(argv[i], argv + i);
    fprintf(stderr, "timeit: %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) { perror("timeit: wait4"); return 2; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("%.6f %ld %d %.3f\n", wall, ru.ru_maxrss, code, seconds(&ru.ru_utime) + seconds(&ru.ru_stime));
  return 0;
}

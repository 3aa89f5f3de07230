/* splitbench.c: the statement splitter alone, over an mmap'd file.
 *
 *   splitbench FILE [MIN_SECONDS]
 *
 * Maps FILE, runs one untimed pass (it faults the pages in and counts the
 * pieces), then splits the whole file again and again until MIN_SECONDS
 * (default 0.5) of CPU time have passed, at least once. Prints one line:
 *
 *   <bytes> <pieces per pass> <statements per pass> <passes> <CPU seconds>
 *   <wall seconds> <MB/s of wall time> <MB/s of CPU time>
 *
 * MB is 10^6 bytes. Statements are the pieces that are not EMPTY. The CPU
 * figure is the one to compare: on a shared machine the wall clock also
 * counts the time other processes held the CPU. Links build/libmoonshift.a
 * and uses only ms_split_init / ms_split_next. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sqlsplit.h"

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One pass over the buffer; returns the number of pieces, -1 on an error. */
static long pass(const char *buf, size_t len, long *statements) {
  ms_split s;
  ms_stmt st;
  long pieces = 0, stmts = 0;
  int rc;
  ms_split_init(&s, buf, len);
  while ((rc = ms_split_next(&s, &st)) == 1) {
    pieces++;
    if (st.cls != MS_CLASS_EMPTY) stmts++;
  }
  if (rc < 0) {
    char msg[256];
    ms_split_errmsg(&s, msg, sizeof msg);
    fprintf(stderr, "splitbench: %s\n", msg);
    return -1;
  }
  if (statements) *statements = stmts;
  return pieces;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: splitbench FILE [MIN_SECONDS]\n");
    return 2;
  }
  double min_s = argc == 3 ? atof(argv[2]) : 0.5;
  int fd = open(argv[1], O_RDONLY);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size == 0) {
    perror(argv[1]);
    return 2;
  }
  size_t len = (size_t)sb.st_size;
  const char *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (buf == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  long stmts = 0, pieces = pass(buf, len, &stmts);
  if (pieces < 0) return 1;
  long passes = 0;
  double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), cpu;
  do {
    if (pass(buf, len, NULL) != pieces) {
      fprintf(stderr, "splitbench: passes disagree\n");
      return 1;
    }
    passes++;
    cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  } while (cpu < min_s);
  double wall = clock_s(CLOCK_MONOTONIC) - w0, mb = (double)len * (double)passes / 1e6;
  printf("%zu %ld %ld %ld %.6f %.6f %.1f %.1f\n", len, pieces, stmts, passes, cpu, wall,
         mb / wall, mb / cpu);
  munmap((void *)buf, len);
  close(fd);
  return 0;
}

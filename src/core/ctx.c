/* ctx.c: the run context's error message, its folder, -v detail and the
 * clock. */
#include "ms.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "report.h"

ms_status ms_fail(ms_ctx *c, ms_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (msg) {
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  free(c->err);
  c->err = msg;
  return code;
}

const char *ms_project_dir(const ms_ctx *c) {
  return c->opts.dir && *c->opts.dir ? c->opts.dir : "migrations";
}

void ms_verbose(ms_ctx *c, const char *fmt, ...) {
  if (!c->opts.verbose) return;
  va_list ap;
  va_start(ap, fmt);
  ms_report_vtext(c, MS_EV_INFO, fmt, ap);
  va_end(ap);
}

double ms_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int ms_random_hex(char *out, size_t n) {
  static const char hex[] = "0123456789abcdef";
  unsigned char raw[64];
  size_t want = (n - 1 + 1) / 2;
  if (n == 0 || want > sizeof raw) return -1;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t got = fd >= 0 ? read(fd, raw, want) : -1;
  if (fd >= 0) close(fd);
  if (got != (ssize_t)want) return -1;
  for (size_t i = 0; i + 1 < n; i++) out[i] = hex[i % 2 ? raw[i / 2] & 15 : raw[i / 2] >> 4];
  out[n - 1] = '\0';
  return 0;
}

void ms_sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

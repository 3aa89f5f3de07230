/* ctx.c: the run context's error message, release, and the output helpers
 * every unit uses to talk to the user (stdout for results, stderr for the
 * rest). */
#include "ms.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "source.h"
#include "lock.h"
#include "sumpool.h"

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

void ms_ctx_release(ms_ctx *c) {
  if (c->conn) {
    if (c->locked) ms_lock_release(c);
    PQfinish(c->conn);
    c->conn = NULL;
  }
  ms_sumpool_finish(c, 0);
  if (c->src) {
    ms_source_free(c->src);
    free(c->src);
    c->src = NULL;
  }
  free(c->err);
  free(c->table_schema);
  free(c->table_name);
  free(c->table_sql);
  free(c->history_name);
  free(c->history_sql);
  c->err = c->table_schema = c->table_name = c->table_sql = c->history_name = c->history_sql = NULL;
}

static int out_quiet, out_batch;

void ms_out_quiet(int quiet) { out_quiet = quiet; }

void ms_out_batch(int on) {
  out_batch = on;
  if (!on) fflush(stdout);
}

void ms_out(const char *fmt, ...) {
  if (out_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  if (!out_batch) fflush(stdout);
}

void ms_out_line(const char *s, size_t n) {
  if (out_quiet) return;
  fwrite(s, 1, n, stdout);
  fputc('\n', stdout);
  if (!out_batch) fflush(stdout);
}

void ms_verbose(const ms_ctx *c, const char *fmt, ...) {
  if (!c->opts.verbose) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

double ms_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

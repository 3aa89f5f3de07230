/* project.c: the folder scan of a command, and versions as its files
 * name them. */
#include "project.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "source.h"

ms_status ms_project_scan(ms_ctx *c) {
  c->src = calloc(1, sizeof *c->src);
  if (!c->src) return ms_fail(c, MS_EFAILED, "out of memory");
  return ms_source_scan(c, ms_project_dir(c), c->src);
}

void ms_fmt_version(const ms_ctx *c, int64_t v, char *out, size_t n) {
  const ms_migration *m = c->src ? ms_source_find(c->src, v) : NULL;
  char d[24];
  int k = 0, w = m ? m->vwidth : 1;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do { d[k++] = (char)('0' + u % 10); u /= 10; } while (u);   /* status prints thousands */
  size_t len = 0;
  if (v < 0 && len + 1 < n) out[len++] = '-';
  for (int i = k; i < w && len + 1 < n; i++) out[len++] = '0';
  while (k > 0 && len + 1 < n) out[len++] = d[--k];
  if (n) out[len] = '\0';
}

ms_status ms_parse_version_arg(ms_ctx *c, const char *arg, const char *what, int64_t *out) {
  char *end;
  if (!arg || !*arg || *arg < '0' || *arg > '9')
    return ms_fail(c, MS_EUSAGE, "usage: moonshift %s VERSION (digits)", what);
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (errno || *end) return ms_fail(c, MS_EUSAGE, "%s: '%s' is not a version (digits, 64-bit)", what, arg);
  *out = v;
  return MS_OK;
}

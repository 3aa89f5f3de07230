/* drift.c: finds applied migrations whose file changed after it ran
 * (checksum differs: "modified") or is gone ("missing"), the edits other
 * tools let pass unnoticed. Uses runner.c for the cached checksums. */
#include "drift.h"

#include <inttypes.h>
#include <string.h>

#include "project.h"
#include "step.h"
#include "source.h"

void ms_drift_free(ms_drift *d) {
  ms_buf_free(&d->list);
  d->modified = d->missing = 0;
}

ms_status ms_drift_check(ms_ctx *c, ms_applied *a, ms_drift *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < a->n; i++) {
    ms_applied_row *r = &a->v[i];
    ms_migration *m = ms_source_find(c->src, r->version);
    const char *sum = NULL;
    char v[32];
    r->drift = MS_DRIFT_NONE;
    if (r->failed_op) continue;
    if (!m) {
      ms_fmt_version(c, r->version, v, sizeof v);
      r->drift = MS_DRIFT_MISSING;
      out->missing++;
      ms_buf_printf(&out->list, "\n  %s %s: applied, but its file is missing from %s", v, r->name,
                    c->src->dir);
      continue;
    }
    ms_status st = ms_step_sum(c, m, &sum);
    if (st != MS_OK) return st;
    if (strcmp(sum, r->checksum) != 0) {
      r->drift = MS_DRIFT_MODIFIED;
      out->modified++;
      ms_buf_printf(&out->list, "\n  %s: modified since it was applied on %s (checksum %s, now %s)",
                    m->path, r->applied_at, r->checksum, sum);
    }
  }
  return MS_OK;
}

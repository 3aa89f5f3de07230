/* plan.c: decides what up and down will run: pending files in version order
 * (refusing late-merged lower versions unless allowed), and applied
 * migrations in reverse order of application for down. */
#include "plan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "step.h"

void ms_plan_free(ms_plan *p) {
  free(p->v);
  p->v = NULL;
  p->n = 0;
}

static int64_t max_applied(const ms_applied *a) {
  return a->n ? a->v[a->n - 1].version : 0;
}

ms_status ms_plan_up(ms_ctx *c, const ms_applied *a, ms_plan *out) {
  const ms_source *s = c->src;
  ms_buf late = {0};
  int64_t top = max_applied(a);
  out->n = 0;
  out->v = calloc(s->n ? s->n : 1, sizeof *out->v);
  if (!out->v) return ms_fail(c, MS_EFAILED, "out of memory");
  for (size_t i = 0; i < s->n; i++) {
    ms_migration *m = &s->v[i];
    const ms_applied_row *r = ms_applied_find(a, m->version);
    if (r && !ms_applied_resumable(r)) continue;
    free(m->resume_hashes);
    m->resume_hashes = NULL;
    m->resume_done = 0;
    if (r) {
      /* resumed at the statement where its failed attempt stopped */
      m->resume_done = r->statements_done;
      m->resume_hashes = strdup(r->statement_hashes);
      if (!m->resume_hashes) { ms_plan_free(out); return ms_fail(c, MS_EFAILED, "out of memory"); }
    }
    if (c->opts.has_to && m->version > c->opts.to) break;
    if (m->version < top && !c->opts.allow_out_of_order && !ms_step_allows_late(c, m))
      ms_buf_printf(&late, "\n  %s (version %" PRId64 " is already applied)", m->path, top);
    out->v[out->n++] = m;
  }
  if (late.len == 0) return MS_OK;
  ms_status st = ms_fail(c, MS_EUSAGE, "pending migrations are older than the newest applied one "
                         "(merged late from another branch?); nothing was run:%s\nrun them anyway with "
                         "--allow-out-of-order", late.data);
  ms_buf_free(&late);
  ms_plan_free(out);
  return st;
}

/* Newest application first: by applied_at, then version, descending. */
static int by_order_desc(const void *x, const void *y) {
  const ms_applied_row *a = *(ms_applied_row *const *)x, *b = *(ms_applied_row *const *)y;
  if (a->applied_epoch != b->applied_epoch) return a->applied_epoch < b->applied_epoch ? 1 : -1;
  return a->version < b->version ? 1 : a->version > b->version ? -1 : 0;
}

ms_status ms_plan_down(ms_ctx *c, const ms_applied *a, long steps, ms_plan *out) {
  ms_status st = MS_OK;
  ms_buf missing = {0};
  const ms_applied_row **rows = calloc(a->n ? a->n : 1, sizeof *rows);
  out->n = 0;
  out->v = calloc(a->n ? a->n : 1, sizeof *out->v);
  if (!rows || !out->v) { free(rows); ms_plan_free(out); return ms_fail(c, MS_EFAILED, "out of memory"); }
  for (size_t i = 0; i < a->n; i++) rows[i] = &a->v[i];
  qsort(rows, a->n, sizeof *rows, by_order_desc);
  for (size_t i = 0; i < a->n; i++) {
    if (steps > 0 ? (long)out->n >= steps : rows[i]->version <= c->opts.to) {
      if (steps > 0) break;
      continue;
    }
    ms_migration *m = ms_source_find(c->src, rows[i]->version);
    if (!m) ms_buf_printf(&missing, "\n  version %" PRId64 " %s", rows[i]->version, rows[i]->name);
    else out->v[out->n++] = m;
  }
  free(rows);
  if (missing.len) {
    st = ms_fail(c, MS_EUSAGE, "cannot roll back: applied migrations have no file in %s; nothing was "
                 "run:%s", c->src->dir, missing.data);
    ms_plan_free(out);
  }
  ms_buf_free(&missing);
  return st;
}

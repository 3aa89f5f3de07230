/* report.c: hands events and results to the reporter of the run context
 * (report.h); a context without one drops them. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define REP(c, fn) ((c)->rep && (c)->rep->fn)

void ms_report(ms_ctx *c, const ms_event *e) {
  if (REP(c, event)) c->rep->event(c->rep->ud, e);
}

void ms_report_vtext(ms_ctx *c, ms_ev_kind kind, const char *fmt, va_list ap) {
  if (!REP(c, event)) return;
  ms_buf b = {0};
  ms_buf_vprintf(&b, fmt, ap);
  ms_event e = { .kind = kind, .text = b.data ? b.data : "" };
  c->rep->event(c->rep->ud, &e);
  ms_buf_free(&b);
}

void ms_report_text(ms_ctx *c, ms_ev_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ms_report_vtext(c, kind, fmt, ap);
  va_end(ap);
}

void ms_res_line(ms_ctx *c, const char *fmt, ...) {
  if (!REP(c, line)) return;
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) { c->rep->line(c->rep->ud, small, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) return;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  c->rep->line(c->rep->ud, big, (size_t)n);
  free(big);
}

void ms_res_text(ms_ctx *c, const char *s, size_t n) {
  if (REP(c, line)) c->rep->line(c->rep->ud, s, n);
}

void ms_res_batch(ms_ctx *c, int on) {
  if (REP(c, batch)) c->rep->batch(c->rep->ud, on);
}

void ms_res_str(ms_ctx *c, const char *key, const char *v) {
  if (REP(c, str)) c->rep->str(c->rep->ud, key, v);
}

void ms_res_int(ms_ctx *c, const char *key, long long v) {
  if (REP(c, num)) c->rep->num(c->rep->ud, key, v);
}

void ms_res_bool(ms_ctx *c, const char *key, int v) {
  if (REP(c, boolean)) c->rep->boolean(c->rep->ud, key, v);
}

void ms_res_item(ms_ctx *c, const char *list) {
  if (REP(c, item)) c->rep->item(c->rep->ud, list);
}

void ms_res_end_item(ms_ctx *c) {
  if (REP(c, end_item)) c->rep->end_item(c->rep->ud);
}

void ms_res_list(ms_ctx *c, const char *list) {
  if (REP(c, list)) c->rep->list(c->rep->ud, list);
}

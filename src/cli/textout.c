/* textout.c: the text reporter of textout.h. Result lines and a dry run's
 * listing go to stdout; the target line, warnings, lock waits, Lua output
 * and server notices to stderr, each as one "moonshift: ..." line. Only the
 * CLI layer uses it. */
#include "textout.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "source.h"

static void out_flush(ms_textout *t) {
  if (!t->batch) fflush(stdout);
}

/* Takes the "applying ..." line off the terminal before other output. */
static void clear_applying(ms_textout *t) {
  if (!t->applying) return;
  fputs("\r\033[K", stdout);
  fflush(stdout);
  t->applying = 0;
}

static void show_applying(ms_textout *t) {
  if (!t->applying_text[0]) return;
  fputs(t->applying_text, stdout);
  fflush(stdout);
  t->applying = 1;
}

static void err_line(ms_textout *t, const char *lead, const char *s, size_t n) {
  int was = t->applying;
  clear_applying(t);
  fprintf(stderr, "moonshift: %s%.*s\n", lead, (int)n, s);
  if (was) show_applying(t);
}

static void show_statement(const ms_event *e) {
  const char *p = e->text, *end = p + e->len;
  printf("  [%d] %s:%lu\n      ", e->index, e->file, e->line);
  for (; p < end; p++) {
    if (*p == '\r') continue;
    putchar(*p);
    if (*p == '\n' && p + 1 < end) fputs("      ", stdout);
  }
  if (e->bytes) printf("\n      (%zu bytes of COPY data)", e->bytes);
  putchar('\n');
}

/* A migration's output: each line after "[label] ", the label being its
 * file's name without the extension (what the sandbox draws its progress
 * with). */
static void show_log(const ms_event *e, size_t n) {
  const char *label = NULL;
  size_t ln = 0;
  if (e->migration && e->migration->path) {
    const char *p = e->migration->path, *slash = strrchr(p, '/'), *dot;
    label = slash ? slash + 1 : p;
    dot = strrchr(label, '.');
    ln = dot ? (size_t)(dot - label) : strlen(label);
  }
  const char *s = e->text, *end = s + n;
  while (s <= end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t k = nl ? (size_t)(nl - s) : (size_t)(end - s);
    if (label) fprintf(stderr, "[%.*s] ", (int)ln, label);
    fprintf(stderr, "%.*s\n", (int)k, s);
    if (!nl) break;
    s = nl + 1;
  }
}

static void show_target(ms_textout *t, const ms_target *g) {
  if (t->quiet || !g) return;
  fprintf(stderr, "moonshift: database \"%s\" on %s:%s as %s%s%s%s\n", g->dbname, g->host, g->port,
          g->user, g->from_env ? " (from " : "", g->from_env ? g->from_env : "", g->from_env ? ")" : "");
}

void ms_textout_side(ms_textout *t, const ms_event *e) {
  size_t n = e->text ? (e->len ? e->len : strlen(e->text)) : 0;
  switch (e->kind) {
  case MS_EV_TARGET: show_target(t, e->target); break;
  case MS_EV_INFO: err_line(t, "", e->text, n); break;
  case MS_EV_WARNING: err_line(t, "warning: ", e->text, n); break;
  case MS_EV_WAITING:
    err_line(t, "", e->text, n);
    if (t->verbose && e->detail && *e->detail) err_line(t, "  its query: ", e->detail, strlen(e->detail));
    break;
  case MS_EV_LOG: {
    int was = t->applying;
    clear_applying(t);
    show_log(e, n);
    if (was) show_applying(t);
    break;
  }
  case MS_EV_NOTICE:
  case MS_EV_DRAW: {
    int was = t->applying;
    clear_applying(t);
    fwrite(e->text, 1, n, stderr);
    if (was && e->kind != MS_EV_DRAW) show_applying(t);
    break;
  }
  default: break;
  }
}

static void text_event(void *ud, const ms_event *e) {
  ms_textout *t = ud;
  const ms_migration *m = e->migration;
  switch (e->kind) {
  case MS_EV_START:
    if (!t->tty || !m) break;
    snprintf(t->applying_text, sizeof t->applying_text, "%s %0*" PRId64 " %s ...",
             e->down ? "reverting" : "applying", m->vwidth, m->version, m->name);
    show_applying(t);
    break;
  case MS_EV_DONE:
    clear_applying(t);
    t->applying_text[0] = '\0';
    if (!m || e->dry_run) break;
    printf("%s %0*" PRId64 " %s (%s%.0f ms)\n", e->down ? "reverted" : "applied", m->vwidth, m->version,
           m->name, e->empty ? "empty, nothing to run; " : "", e->ms);
    out_flush(t);
    break;
  case MS_EV_WOULD:
    if (!m) break;
    printf("-- would %s %0*" PRId64 " %s (%s)\n", e->down ? "roll back" : "apply", m->vwidth, m->version,
           m->name, m->kind == MS_KIND_LUA ? "lua" : "sql");
    out_flush(t);
    break;
  case MS_EV_WOULD_TRACK:
    if (!m) break;
    printf("  then: %s version %" PRId64 " in %s\n", e->down ? "delete" : "insert", m->version, e->text);
    out_flush(t);
    break;
  case MS_EV_STATEMENT:
    show_statement(e);
    out_flush(t);
    break;
  case MS_EV_SQL:
    printf("  sql: %s\n", e->text);
    for (int i = 0; i < e->nparams; i++)
      printf("       $%d = %s\n", i + 1, e->params[i] ? e->params[i] : "NULL");
    out_flush(t);
    break;
  case MS_EV_NOTE:
    printf("%s\n", e->text);
    out_flush(t);
    break;
  default:
    ms_textout_side(t, e);
    break;
  }
}

static void text_line(void *ud, const char *s, size_t n) {
  ms_textout *t = ud;
  clear_applying(t);
  fwrite(s, 1, n, stdout);
  fputc('\n', stdout);
  out_flush(t);
}

static void text_batch(void *ud, int on) {
  ms_textout *t = ud;
  t->batch = on;
  if (!on) fflush(stdout);
}

void ms_textout_init(ms_textout *t, int quiet, int verbose) {
  memset(t, 0, sizeof *t);
  t->quiet = quiet;
  t->verbose = verbose;
  t->tty = isatty(STDOUT_FILENO) == 1;
  t->rep.ud = t;
  t->rep.event = text_event;
  t->rep.line = text_line;
  t->rep.batch = text_batch;
}

/* sqlrun.c: runs one section of a SQL migration, cut into statements by
 * sqlsplit.c. A transactional section is pipelined together with BEGIN, its
 * tracking row and COMMIT (one round trip per batch); one with COPY data goes
 * statement by statement inside its transaction; one marked
 * transaction:false goes statement by statement outside any transaction.
 * Errors map back to file:line:col of the failing statement. */
#include "sqlrun.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conn.h"
#include "file.h"
#include "pgerr.h"
#include "sqlfile.h"
#include "sqlsplit.h"


typedef struct section {
  const char *path;
  ms_file file;
  ms_sqlfile sf;
  const ms_section *sec;
  int stepwise;        /* must be sent statement by statement */
  int statements;      /* significant statements in the section */
  size_t scanned;      /* section offset the splitter's progress reached */
} section;

static void drop_file_behind(void *ud, size_t pos) {
  section *s = ud;
  ms_file_drop(&s->file, s->scanned, pos);
  s->scanned = pos;
}

static ms_status open_section(ms_ctx *c, const ms_migration *m, int down, section *s) {
  ms_buf err = {0};
  memset(s, 0, sizeof *s);
  s->path = down && m->down_path ? m->down_path : m->path;
  ms_status st = ms_file_open(c, s->path, &s->file);
  if (st != MS_OK) return st;
  if (ms_sqlfile_parse_with(s->path, s->file.data, s->file.len, down && m->down_path, &s->sf, &err,
                            drop_file_behind, s) != 0)
    st = ms_fail(c, MS_EUSAGE, "%s", err.data ? err.data : "bad markers");
  ms_buf_free(&err);
  if (st != MS_OK) return st;
  s->sec = down ? &s->sf.down : &s->sf.up;
  if (!s->sec->present)
    return ms_fail(c, MS_EUSAGE, "%s: has no -- migrate:down section, so it cannot be rolled back",
                   s->path);
  return MS_OK;
}

static unsigned long abs_line(const section *s, unsigned long rel) {
  return (unsigned long)s->sec->line + rel - 1;
}

static void drop_behind(void *ud, size_t pos) {
  section *s = ud;
  if (pos > s->scanned) ms_file_drop(&s->file, s->sec->off + s->scanned, s->sec->off + pos);
  s->scanned = pos;
}

/* Hands back the pages of a piece once it has been used. */
static void drop_piece(section *s, const ms_stmt *st) {
  ms_file_drop(&s->file, s->sec->off + st->piece_off, s->sec->off + st->piece_off + st->piece_len);
}

/* Starts splitting the section; long COPY data hands its pages back as the
 * splitter passes them. */
static void split_section(section *s, ms_split *sp) {
  ms_split_init(sp, s->file.data + s->sec->off, s->sec->len);
  s->scanned = 0;
  sp->progress = drop_behind;
  sp->progress_ud = s;
}

static ms_status stmt_problem(ms_ctx *c, const section *s, const ms_stmt *st) {
  if (!s->sec->transaction) return MS_OK;
  const char *stmt = s->file.data + s->sec->off + st->off;
  int n = (int)(st->len > 40 ? 40 : st->len);
  if (st->cls == MS_CLASS_TXN)
    return ms_fail(c, MS_EUSAGE, "%s:%lu: '%.*s' controls the transaction, but this section already "
                   "runs in one with its tracking row; remove it, or mark the section with "
                   "transaction:false", s->path, abs_line(s, st->line), n, stmt);
  if (st->cls == MS_CLASS_NOTX)
    return ms_fail(c, MS_EUSAGE, "%s:%lu: '%.*s' cannot run inside a transaction; put it in a "
                   "section marked transaction:false (e.g. -- migrate:up transaction:false)",
                   s->path, abs_line(s, st->line), n, stmt);
  return MS_OK;
}

/* Splits the whole section once: errors, problems, and the sending mode. */
static ms_status scan_section(ms_ctx *c, section *s) {
  ms_split sp;
  ms_stmt st;
  int rc;
  split_section(s, &sp);
  s->stepwise = !s->sec->transaction || c->opts.verbose || c->opts.dry_run;
  while ((rc = ms_split_next(&sp, &st)) == 1) {
    drop_piece(s, &st);
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) {
      if (st.cls == MS_CLASS_META_SKIP) s->stepwise = 1;
      continue;
    }
    s->statements++;
    if (st.cls == MS_CLASS_COPY) s->stepwise = 1;
    ms_status bad = stmt_problem(c, s, &st);
    if (bad != MS_OK) return bad;
  }
  if (rc < 0) {
    char msg[256];
    ms_split_errmsg(&sp, msg, sizeof msg);
    return ms_fail(c, MS_EUSAGE, "%s:%lu: %s", s->path, abs_line(s, sp.err_line), msg);
  }
  return MS_OK;
}

ms_status ms_sqlrun_check(ms_ctx *c, const ms_migration *m, int down) {
  section s;
  ms_status st = open_section(c, m, down, &s);
  if (st == MS_OK) st = scan_section(c, &s);
  ms_file_close(&s.file);
  return st;
}

/* The SET statements of the section's timeouts (or the defaults): SET LOCAL
 * inside a transaction, session SET outside one (RESET ALL follows the
 * migration either way). Values were validated as digits and a unit. */
static int timeout_sql(ms_ctx *c, const ms_section *sec, int i, char *out, size_t n) {
  const char *lt = sec->lock_timeout[0] ? sec->lock_timeout : c->opts.lock_timeout_default;
  const char *st = sec->statement_timeout[0] ? sec->statement_timeout : c->opts.statement_timeout_default;
  const char *names[2] = { "lock_timeout", "statement_timeout" }, *vals[2] = { lt, st };
  if (i > 1 || !vals[i] || !*vals[i]) return 0;
  snprintf(out, n, "SET %s%s = '%s'", sec->transaction ? "LOCAL " : "", names[i], vals[i]);
  return 1;
}

static ms_status set_timeouts(ms_ctx *c, const ms_section *sec) {
  char q[96];
  for (int i = 0; i < 2; i++) {
    if (!timeout_sql(c, sec, i, q, sizeof q)) continue;
    ms_status st = ms_conn_exec(c, q);
    if (st != MS_OK) return st;
  }
  return MS_OK;
}

/* Sets c->err from a failed result, mapped into the file. */
static ms_status sql_error(ms_ctx *c, const section *s, const PGresult *r, size_t sent_off,
                           long prefix, unsigned long line) {
  ms_pgerr e;
  ms_buf b = {0};
  ms_srcmap map = { s->path, prefix < 0 ? NULL : s->file.data, s->file.len, sent_off, prefix };
  ms_pgerr_from(r, c->conn, &e);
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", e.sqlstate ? e.sqlstate : "");
  ms_status st = ms_conn_failure(c);
  if (st == MS_ECONNECT && !e.sqlstate) {
    ms_buf_printf(&b, "%s:%lu: lost the connection to the database while running it", s->path, line);
  } else {
    ms_pgerr_format(&b, &e, &map, (int)line);
  }
  st = ms_fail(c, st, "%s", b.data ? b.data : "statement failed");
  ms_buf_free(&b);
  return st;
}

static ms_status send_copy_data(ms_ctx *c, section *s, const ms_stmt *st) {
  size_t off = s->sec->off + st->data_off, left = st->data_len;
  while (left > 0) {
    int n = left > (1u << 20) ? (1 << 20) : (int)left;
    if (PQputCopyData(c->conn, s->file.data + off, n) != 1) break;
    ms_file_drop(&s->file, off, off + (size_t)n);
    off += (size_t)n;
    left -= (size_t)n;
  }
  return PQputCopyEnd(c->conn, left ? "moonshift could not send the COPY data" : NULL) == 1
           ? MS_OK : MS_ECONNECT;
}

/* Runs one statement (and its COPY data). */
static ms_status run_stmt(ms_ctx *c, section *s, const ms_stmt *st) {
  size_t off = s->sec->off + st->off;
  unsigned long line = abs_line(s, st->line);
  char *sql = strndup(s->file.data + off, st->len);
  if (!sql) return ms_fail(c, MS_EFAILED, "out of memory");
  double t0 = ms_now_ms();
  PGresult *r = PQexec(c->conn, sql);
  free(sql);
  if (PQresultStatus(r) == PGRES_COPY_IN) {
    PQclear(r);
    r = NULL;
    if (send_copy_data(c, s, st) == MS_OK) {
      PGresult *next;
      while ((next = PQgetResult(c->conn)) != NULL) {
        if (r && ms_pg_ok(r)) { PQclear(r); r = NULL; }
        if (!r) r = next; else PQclear(next);
      }
    }
  }
  ms_status rc = ms_pg_ok(r) ? MS_OK : sql_error(c, s, r, off, 0, line);
  PQclear(r);
  ms_verbose(c, "  %s:%lu: %.1f ms", s->path, line, ms_now_ms() - t0);
  return rc;
}

/* A statement queued in the pipeline, to map its result back to the file. */
typedef struct queued {
  size_t off;          /* byte offset in the file; SIZE_MAX for moonshift's own SQL */
  unsigned long line;
} queued;

static ms_status queue(ms_ctx *c, const char *sql, queued *q, size_t off, unsigned long line) {
  q->off = off;
  q->line = line;
  if (PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0) == 1) return MS_OK;
  return ms_fail(c, ms_conn_failure(c), "cannot send a statement: %s", PQerrorMessage(c->conn));
}

/* Syncs and reads the results of the n queued statements; the first error
 * becomes c->err. */
static ms_status collect(ms_ctx *c, const section *s, const queued *q, int n) {
  ms_status st = MS_OK;
  PGresult *r;
  if (PQpipelineSync(c->conn) != 1) return ms_fail(c, MS_ECONNECT, "lost the connection to the database");
  for (int i = 0; i < n; i++) {
    while ((r = PQgetResult(c->conn)) != NULL) {
      ExecStatusType rs = PQresultStatus(r);
      if (st == MS_OK && !ms_pg_ok(r) && rs != PGRES_PIPELINE_ABORTED) {
        if (q[i].off == SIZE_MAX) st = sql_error(c, s, r, 0, -1, 0);
        else st = sql_error(c, s, r, q[i].off, 0, q[i].line);
      }
      PQclear(r);
      if (PQstatus(c->conn) != CONNECTION_OK) return st == MS_OK ? ms_fail(c, MS_ECONNECT, "lost the connection to the database") : MS_ECONNECT;
    }
  }
  while ((r = PQgetResult(c->conn)) != NULL) {   /* the PGRES_PIPELINE_SYNC marker */
    int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  return st;
}

/* Sends a transactional section as BEGIN, its statements, the tracking row
 * and COMMIT in pipeline mode: one round trip per PIPE_BATCH statements, and
 * every error pinned to its own statement. */
#define PIPE_BATCH 256
static ms_status run_pipelined(ms_ctx *c, section *s, const ms_record *rec) {
  queued q[PIPE_BATCH + 4];
  int n = 0;
  ms_split sp;
  ms_stmt st;
  if (PQenterPipelineMode(c->conn) != 1) return ms_fail(c, ms_conn_failure(c), "cannot enter pipeline mode");
  char set[96];
  ms_status rc = queue(c, "BEGIN", &q[n++], SIZE_MAX, 0);
  for (int i = 0; i < 2 && rc == MS_OK; i++)
    if (timeout_sql(c, s->sec, i, set, sizeof set)) rc = queue(c, set, &q[n++], SIZE_MAX, 0);
  split_section(s, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY) continue;
    size_t off = s->sec->off + st.off;
    char *sql = strndup(s->file.data + off, st.len);
    if (!sql) { rc = ms_fail(c, MS_EFAILED, "out of memory"); break; }
    rc = queue(c, sql, &q[n++], off, abs_line(s, st.line));
    free(sql);
    drop_piece(s, &st);
    if (rc == MS_OK && n >= PIPE_BATCH) { rc = collect(c, s, q, n); n = 0; }
  }
  if (rc == MS_OK) {
    ms_buf b = {0};
    ms_tracker_record_sql(c, &b, rec, 1);
    rc = queue(c, b.data, &q[n++], SIZE_MAX, 0);
    ms_buf_free(&b);
  }
  if (rc == MS_OK) rc = queue(c, "COMMIT", &q[n++], SIZE_MAX, 0);
  if (rc == MS_OK) rc = queue(c, "RESET ALL", &q[n++], SIZE_MAX, 0);
  if (n > 0 && PQstatus(c->conn) == CONNECTION_OK) {
    ms_status done = collect(c, s, q, n);
    if (rc == MS_OK) rc = done;
  }
  PQexitPipelineMode(c->conn);
  c->retry_safe = 1;
  return rc;
}

/* Prints statement k with its file:line, continuation lines indented. */
static void show_stmt(const section *s, const ms_stmt *st, int k) {
  const char *p = s->file.data + s->sec->off + st->off, *e = p + st->len;
  printf("  [%d] %s:%lu\n      ", k, s->path, abs_line(s, st->line));
  for (; p < e; p++) {
    if (*p == '\r') continue;
    putchar(*p);
    if (*p == '\n' && p + 1 < e) fputs("      ", stdout);
  }
  if (st->data_len) printf("\n      (%zu bytes of COPY data)", st->data_len);
  putchar('\n');
}

/* --dry-run: rehearses a transactional section inside the caller's
 * transaction, showing each statement; lists a non-transactional one. */
static ms_status run_dry(ms_ctx *c, section *s, const ms_record *rec) {
  ms_split sp;
  ms_stmt st;
  int k = 0, tx = s->sec->transaction;
  ms_status rc = tx ? set_timeouts(c, s->sec) : MS_OK;
  if (!tx) printf("  (runs outside a transaction: listed, not rehearsed)\n");
  split_section(s, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    show_stmt(s, &st, ++k);
    if (tx) rc = run_stmt(c, s, &st);
  }
  if (rc == MS_OK && tx) {
    ms_buf q = {0};
    ms_tracker_record_sql(c, &q, rec, 1);
    rc = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  }
  fflush(stdout);
  return rc;
}

static ms_status run_stepwise(ms_ctx *c, section *s, const ms_record *rec) {
  ms_split sp;
  ms_stmt st;
  int done = 0, tx = s->sec->transaction;
  ms_status rc = tx ? ms_conn_exec(c, "BEGIN") : MS_OK;
  if (rc == MS_OK) rc = set_timeouts(c, s->sec);
  split_section(s, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    rc = run_stmt(c, s, &st);
    drop_piece(s, &st);
    if (rc == MS_OK) done++;
  }
  c->retry_safe = tx || done == 0;
  if (rc == MS_OK) {
    ms_buf q = {0};
    ms_tracker_record_sql(c, &q, rec, tx);
    ms_buf_printf(&q, ";\n%sRESET ALL", tx ? "COMMIT;\n" : "");
    rc = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  } else if (!tx && done > 0) {
    /* part of the section ran and stays: record the failed attempt */
    char *why = strdup(c->err ? c->err : "");
    ms_status mark = ms_tracker_mark_failed(c, rec->version, rec->name, rec->kind, rec->checksum,
                                            rec->down ? "down" : "up", done, s->statements, why);
    rc = ms_fail(c, rc, "%s\nthis section runs outside a transaction: statement %d of %d failed and "
                 "the %d before it stay applied; %s", why ? why : "", done + 1, s->statements, done,
                 mark == MS_OK ? "the migration is recorded as failed until `moonshift repair` or "
                 "`moonshift force`" : "recording the failure failed too");
    free(why);
  }
  return rc;
}

ms_status ms_sqlrun_run(ms_ctx *c, const ms_migration *m, const ms_record *rec) {
  section s;
  ms_status st = open_section(c, m, rec->down, &s);
  if (st == MS_OK) st = scan_section(c, &s);
  if (st == MS_OK && c->opts.dry_run) {
    st = run_dry(c, &s, rec);
    ms_file_close(&s.file);
    return st;
  }
  if (st == MS_OK) st = s.stepwise ? run_stepwise(c, &s, rec) : run_pipelined(c, &s, rec);
  if (st != MS_OK) ms_conn_recover(c);
  ms_file_close(&s.file);
  return st;
}

int ms_sqlrun_allows_late(ms_ctx *c, const ms_migration *m) {
  section s;
  int ok = open_section(c, m, 0, &s) == MS_OK && s.sec->out_of_order;
  ms_file_close(&s.file);
  return ok;
}

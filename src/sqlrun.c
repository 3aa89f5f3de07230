/* sqlrun.c: runs one section of a SQL migration. A transactional section of
 * moderate size is sent in one round trip together with BEGIN, its tracking
 * row and COMMIT; a large one, one with COPY data, or one marked
 * transaction:false goes statement by statement (cut by sqlsplit.c), the
 * latter outside any transaction. Errors map back to file:line:col. */
#include "sqlrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conn.h"
#include "file.h"
#include "pgerr.h"
#include "sqlfile.h"
#include "sqlsplit.h"

#define WHOLE_SEND_MAX (1u << 20)   /* larger transactional sections go stepwise */
#define BEGIN_PREFIX "BEGIN;\n"

typedef struct section {
  const char *path;
  ms_file file;
  ms_sqlfile sf;
  const ms_section *sec;
  int stepwise;        /* must be sent statement by statement */
  int statements;      /* significant statements in the section */
} section;

static ms_status open_section(ms_ctx *c, const ms_migration *m, int down, section *s) {
  ms_buf err = {0};
  memset(s, 0, sizeof *s);
  s->path = down && m->down_path ? m->down_path : m->path;
  ms_status st = ms_file_open(c, s->path, &s->file);
  if (st != MS_OK) return st;
  if (ms_sqlfile_parse(s->path, s->file.data, s->file.len, down && m->down_path, &s->sf, &err) != 0)
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
  ms_split_init(&sp, s->file.data + s->sec->off, s->sec->len);
  s->stepwise = !s->sec->transaction || s->sec->len > WHOLE_SEND_MAX;
  while ((rc = ms_split_next(&sp, &st)) == 1) {
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

/* Sets c->err from a failed result, mapped into the file. */
static ms_status sql_error(ms_ctx *c, const section *s, const PGresult *r, size_t sent_off,
                           long prefix, unsigned long line) {
  ms_pgerr e;
  ms_buf b = {0};
  ms_srcmap map = { s->path, s->file.data, s->file.len, sent_off, prefix };
  ms_pgerr_from(r, c->conn, &e);
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

static ms_status send_copy_data(ms_ctx *c, const section *s, const ms_stmt *st) {
  const char *data = s->file.data + s->sec->off + st->data_off;
  size_t left = st->data_len;
  while (left > 0) {
    int n = left > (1u << 20) ? (1 << 20) : (int)left;
    if (PQputCopyData(c->conn, data, n) != 1) break;
    data += n;
    left -= (size_t)n;
  }
  return PQputCopyEnd(c->conn, left ? "moonshift could not send the COPY data" : NULL) == 1
           ? MS_OK : MS_ECONNECT;
}

/* Runs one statement (and its COPY data). */
static ms_status run_stmt(ms_ctx *c, const section *s, const ms_stmt *st) {
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

static ms_status run_whole(ms_ctx *c, const section *s, const ms_record *rec) {
  ms_buf q = {0};
  ms_buf_puts(&q, BEGIN_PREFIX);
  ms_buf_add(&q, s->file.data + s->sec->off, s->sec->len);
  ms_buf_puts(&q, "\n;\n");
  ms_tracker_record_sql(c, &q, rec, 1);
  ms_buf_puts(&q, ";\nCOMMIT;\nRESET ALL");
  if (q.oom) { ms_buf_free(&q); return ms_fail(c, MS_EFAILED, "out of memory"); }
  PGresult *r = PQexec(c->conn, q.data);
  ms_buf_free(&q);
  ms_status st = ms_pg_ok(r) ? MS_OK
                 : sql_error(c, s, r, s->sec->off, (long)strlen(BEGIN_PREFIX), (unsigned long)s->sec->line);
  PQclear(r);
  return st;
}

static ms_status run_stepwise(ms_ctx *c, const section *s, const ms_record *rec) {
  ms_split sp;
  ms_stmt st;
  int done = 0, tx = s->sec->transaction;
  ms_status rc = tx ? ms_conn_exec(c, "BEGIN") : MS_OK;
  ms_split_init(&sp, s->file.data + s->sec->off, s->sec->len);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    rc = run_stmt(c, s, &st);
    if (rc == MS_OK) done++;
  }
  if (rc == MS_OK) {
    ms_buf q = {0};
    ms_tracker_record_sql(c, &q, rec, tx);
    ms_buf_printf(&q, ";\n%sRESET ALL", tx ? "COMMIT;\n" : "");
    rc = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  } else if (!tx && s->statements > 1) {
    char *why = strdup(c->err ? c->err : "");
    rc = ms_fail(c, rc, "%s\nthis section runs outside a transaction: statement %d of %d failed, "
                 "the %d before it stay applied, and the migration is not recorded as applied",
                 why ? why : "", done + 1, s->statements, done);
    free(why);
  }
  return rc;
}

ms_status ms_sqlrun_run(ms_ctx *c, const ms_migration *m, const ms_record *rec) {
  section s;
  ms_status st = open_section(c, m, rec->down, &s);
  if (st == MS_OK) st = scan_section(c, &s);
  if (st == MS_OK) st = s.stepwise ? run_stepwise(c, &s, rec) : run_whole(c, &s, rec);
  if (st != MS_OK) ms_conn_recover(c);
  ms_file_close(&s.file);
  return st;
}

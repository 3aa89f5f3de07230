/* sqlrun.c: runs one section of a SQL migration, cut into statements by
 * sqlsplit.c. A transactional section is pipelined together with BEGIN, its
 * tracking row and COMMIT (one round trip per batch); one with COPY data goes
 * statement by statement inside its transaction; one marked
 * transaction:false goes statement by statement outside any transaction.
 * Errors map back to file:line:col of the failing statement. */
#include "sqlrun.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "checksum.h"
#include "conn.h"
#include "config.h"
#include "file.h"
#include "invalidx.h"
#include "lease.h"
#include "pgerr.h"
#include "runner.h"
#include "sqlfile.h"
#include "sqlscan.h"
#include "sqlsplit.h"
#include "textpos.h"


typedef struct section {
  const char *path;
  ms_file file;
  ms_sqlfile sf;
  const ms_section *sec;
  int stepwise;        /* must be sent statement by statement */
  int statements;      /* significant statements in the section */
  size_t scanned;      /* section offset the splitter's progress reached */
  int resume_done;     /* statements a failed attempt already applied */
  const char *resume_hashes;  /* their hashes, "{h1,...}" */
  ms_migration *m;
  int down;
  const ms_scan_facts *known; /* what checking this file found earlier in the run */
} section;

static void drop_file_behind(void *ud, size_t pos) {
  section *s = ud;
  ms_file_drop(&s->file, s->scanned, pos);
  s->scanned = pos;
}

static ms_status open_section(ms_ctx *c, ms_migration *m, int down, section *s) {
  ms_buf err = {0};
  memset(s, 0, sizeof *s);
  s->path = down && m->down_path ? m->down_path : m->path;
  ms_status st = ms_file_open(c, s->path, &s->file);
  if (st != MS_OK) return st;
  s->known = ms_sqlscan_get(m, down, &s->file);
  if (s->known)
    s->sf = s->known->sf;
  else if (ms_sqlfile_parse_with(s->path, s->file.data, s->file.len, down && m->down_path, &s->sf,
                                 &err, drop_file_behind, s) != 0)
    st = ms_fail(c, MS_EUSAGE, "%s", err.data ? err.data : "bad markers");
  ms_buf_free(&err);
  if (st != MS_OK) return st;
  s->sec = down ? &s->sf.down : &s->sf.up;
  s->m = m;
  s->down = down;
  s->resume_done = down ? 0 : m->resume_done;
  s->resume_hashes = down ? NULL : m->resume_hashes;
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

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  if (p[0] < 0x80) return 1;
  size_t k = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
  if (k == 0 || k > n) return 0;
  for (size_t i = 1; i < k; i++) if ((p[i] & 0xC0) != 0x80) return 0;
  if (k == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) return 0;
  if (k == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))) return 0;
  return k;
}

/* With a UTF-8 client encoding the server rejects invalid bytes part way
 * through a run: find them before anything runs. */
static ms_status check_utf8(ms_ctx *c, const section *s, const ms_stmt *st) {
  const unsigned char *p = (const unsigned char *)s->file.data + s->sec->off + st->off;
  for (size_t i = 0; i < st->len;) {
    size_t k = utf8_len(p + i, st->len - i);
    if (k == 0) {
      unsigned long line, col;
      ms_textpos_line_col(s->file.data + s->sec->off, s->sec->len, st->off + i, &line, &col);
      return ms_fail(c, MS_EUSAGE, "%s:%lu:%lu: invalid UTF-8 (byte 0x%02X); nothing was run",
                     s->path, abs_line(s, line), col, p[i]);
    }
    i += k;
  }
  return MS_OK;
}

/* Splits the whole section once: errors, problems, and the sending mode;
 * what it finds is remembered for the rest of the run. */
static ms_status scan_section(ms_ctx *c, section *s) {
  ms_split sp;
  ms_stmt st;
  int rc, steps = 0;
  s->stepwise = !s->sec->transaction || c->opts.verbose || c->opts.dry_run || ms_hook_has_each(c);
  if (s->known) {
    s->statements = s->known->statements;
    s->stepwise |= s->known->stepwise;
    return MS_OK;
  }
  split_section(s, &sp);
  int utf8 = c->conn && PQclientEncoding(c->conn) == pg_char_to_encoding("UTF8");
  while ((rc = ms_split_next(&sp, &st)) == 1) {
    ms_status bad = MS_OK;
    if (st.cls == MS_CLASS_META_SKIP) steps = 1;
    if (st.cls != MS_CLASS_EMPTY && st.cls != MS_CLASS_META_SKIP) {
      s->statements++;
      if (st.cls == MS_CLASS_COPY) steps = 1;
      bad = stmt_problem(c, s, &st);
      if (bad == MS_OK && utf8) bad = check_utf8(c, s, &st);
    }
    drop_piece(s, &st);
    if (bad != MS_OK) return bad;
  }
  if (rc < 0) {
    char msg[256];
    ms_split_errmsg(&sp, msg, sizeof msg);
    return ms_fail(c, MS_EUSAGE, "%s:%lu: %s", s->path, abs_line(s, sp.err_line), msg);
  }
  if (s->statements == 0 && s->sec == &s->sf.up)
    return ms_fail(c, MS_EUSAGE, "%s:%d: the up section holds no SQL statement (an unfinished "
                   "migration?); nothing was run", s->path, s->sec->line);
  s->stepwise |= steps;
  ms_scan_facts facts = { s->sf, s->statements, steps };
  ms_sqlscan_put(s->m, s->down, &s->file, &facts);
  return MS_OK;
}

ms_status ms_sqlrun_check(ms_ctx *c, ms_migration *m, int down) {
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
  if (!sec->transaction && ms_conn_pooled(c)) {
    /* through a pooler a session SET would reach other clients' sessions */
    if (timeout_sql(c, sec, 0, q, sizeof q) || timeout_sql(c, sec, 1, q, sizeof q))
      fprintf(stderr, "moonshift: warning: lock_timeout/statement_timeout are not applied to a "
              "transaction:false section through a connection pooler (they would leak to other "
              "clients)\n");
    return MS_OK;
  }
  if (ms_conn_watch_sql(c, sec->transaction, q, sizeof q)) {
    ms_status st = ms_conn_exec(c, q);
    if (st != MS_OK) return st;
  }
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
  ms_status st = ms_pgerr_connection_lost(&e) ? MS_ECONNECT : ms_conn_failure(c);
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

/* Syncs and reads the results of the n queued statements. st is the
 * caller's status so far: when it is already a failure, c->err keeps that
 * report; else the first failed statement's becomes c->err. */
static ms_status collect(ms_ctx *c, const section *s, const queued *q, int n, ms_status st) {
  PGresult *r;
  if (PQpipelineSync(c->conn) != 1)
    return st != MS_OK ? st : ms_fail(c, MS_ECONNECT, "lost the connection to the database");
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
/* The checksum for the tracking row. runner.c leaves it to be asked for
 * here (when the folder is being hashed on workers), so a large file's
 * checksum is computed while its statements run. */
static ms_status need_sum(ms_ctx *c, const section *s, ms_record *rec) {
  return rec->down || rec->checksum ? MS_OK : ms_runner_sum(c, s->m, &rec->checksum);
}

static ms_status run_pipelined(ms_ctx *c, section *s, ms_record *rec) {
  queued q[PIPE_BATCH + 8];
  int n = 0;
  ms_split sp;
  ms_stmt st;
  if (PQenterPipelineMode(c->conn) != 1) return ms_fail(c, ms_conn_failure(c), "cannot enter pipeline mode");
  char set[96];
  ms_status rc = queue(c, "BEGIN", &q[n++], SIZE_MAX, 0);
  if (rc == MS_OK && ms_conn_watch_sql(c, 1, set, sizeof set)) rc = queue(c, set, &q[n++], SIZE_MAX, 0);
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
    if (rc == MS_OK && n >= PIPE_BATCH) { rc = collect(c, s, q, n, rc); n = 0; }
  }
  if (rc == MS_OK) {
    ms_buf b = {0};
    if (ms_lease_fence_sql(c, &b)) rc = queue(c, b.data, &q[n++], SIZE_MAX, 0);
    ms_buf_free(&b);
  }
  if (rc == MS_OK) rc = need_sum(c, s, rec);
  if (rc == MS_OK) {
    ms_buf b = {0};
    ms_tracker_record_sql(c, &b, rec, 1);
    rc = queue(c, b.data, &q[n++], SIZE_MAX, 0);
    ms_buf_free(&b);
  }
  /* COMMIT rides in the last batch: the server skips it once any statement
   * before it failed, and the tracking row commits with the migration */
  if (rc == MS_OK) rc = queue(c, "COMMIT", &q[n++], SIZE_MAX, 0);
  if (rc == MS_OK) rc = queue(c, "RESET ALL", &q[n++], SIZE_MAX, 0);
  if (n > 0 && PQstatus(c->conn) == CONNECTION_OK) {
    rc = collect(c, s, q, n, rc);
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
  const char *dir = rec->down ? "down" : "up";
  ms_status rc = tx ? set_timeouts(c, s->sec) : MS_OK;
  if (rc == MS_OK && tx) rc = ms_hook_each(c, "before_each", s->m, dir, 0);
  if (!tx) printf("  (runs outside a transaction: listed, not rehearsed)\n");
  split_section(s, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    show_stmt(s, &st, ++k);
    if (tx) rc = run_stmt(c, s, &st);
  }
  if (rc == MS_OK && tx) rc = ms_hook_each(c, "after_each", s->m, dir, ms_now_ms() - rec->t0);
  if (rc == MS_OK && tx) {
    ms_buf q = {0};
    ms_tracker_record_sql(c, &q, rec, 1);
    rc = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  }
  fflush(stdout);
  return rc;
}

/* The short hash recorded for an applied statement of a section run
 * outside a transaction: 16 hex digits of SHA-256 over its text. */
static void stmt_hash(const section *s, const ms_stmt *st, char out[17]) {
  unsigned char d[32];
  static const char hex[] = "0123456789abcdef";
  ms_sha256_raw(s->file.data + s->sec->off + st->off, st->len, d);
  for (int i = 0; i < 8; i++) { out[2 * i] = hex[d[i] >> 4]; out[2 * i + 1] = hex[d[i] & 15]; }
  out[16] = '\0';
}

/* The k-th (0-based) hash in "{h1,h2,...}", or NULL. */
static const char *nth_hash(const char *list, int k, char out[17]) {
  const char *p = list ? strchr(list, '{') : NULL;
  if (!p) return NULL;
  for (p++; k > 0 && p; k--) { p = strchr(p, ','); if (p) p++; }
  if (!p || strlen(p) < 16) return NULL;
  memcpy(out, p, 16);
  out[16] = '\0';
  return out;
}

/* Outside a transaction, a resumed section skips the statements its failed
 * attempt applied, after checking they are unchanged in the file. */
static ms_status skip_applied(ms_ctx *c, const section *s, const ms_stmt *st, int k) {
  char have[17], want[17];
  stmt_hash(s, st, have);
  if (nth_hash(s->resume_hashes, k, want) && strcmp(have, want) == 0) return MS_OK;
  return ms_fail(c, MS_EUSAGE, "%s:%lu: statement %d changed since the failed attempt applied it, so "
                 "moonshift cannot resume there; nothing was run. Restore it, or run `moonshift "
                 "repair` (start over) or `moonshift force` (accept as applied)", s->path,
                 abs_line(s, st->line), k + 1);
}

static ms_status run_stepwise(ms_ctx *c, section *s, ms_record *rec) {
  ms_split sp;
  ms_stmt st;
  ms_buf hashes = {0};
  int done = 0, k = 0, tx = s->sec->transaction;
  const char *dir = rec->down ? "down" : "up";
  ms_status rc = tx ? ms_conn_exec(c, "BEGIN") : MS_OK;
  if (rc == MS_OK) rc = set_timeouts(c, s->sec);
  if (rc == MS_OK) rc = ms_hook_each(c, "before_each", s->m, dir, 0);
  if (!tx && s->resume_done > 0)
    fprintf(stderr, "moonshift: resuming %s at statement %d of %d (the failed attempt applied the "
            "ones before it)\n", s->path, s->resume_done + 1, s->statements);
  ms_buf_puts(&hashes, "{");
  split_section(s, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    if (!tx && k < s->resume_done) rc = skip_applied(c, s, &st, k);
    else {
      if (!tx && k == s->resume_done && s->resume_done > 0 && st.cls == MS_CLASS_NOTX)
        rc = ms_invalid_index_drop(c, s->file.data + s->sec->off + st.off, st.len);
      if (rc == MS_OK) rc = run_stmt(c, s, &st);
    }
    drop_piece(s, &st);
    if (rc != MS_OK) break;
    char h[17];
    stmt_hash(s, &st, h);
    ms_buf_printf(&hashes, "%s%s", k ? "," : "", h);
    done++;
    k++;
  }
  ms_buf_puts(&hashes, "}");
  c->retry_safe = tx || done == 0;
  if (rc == MS_OK) rc = ms_hook_each(c, "after_each", s->m, dir, ms_now_ms() - rec->t0);
  if (rc == MS_OK) rc = need_sum(c, s, rec);
  if (rc == MS_OK) {
    ms_buf q = {0};
    if (ms_lease_fence_sql(c, &q)) ms_buf_puts(&q, ";\n");
    ms_tracker_record_sql(c, &q, rec, tx);
    ms_buf_printf(&q, ";\n%sRESET ALL", tx ? "COMMIT;\n" : "");
    rc = ms_conn_exec(c, q.data);
    ms_buf_free(&q);
  } else if (!tx && done > 0 && rc != MS_EUSAGE) {
    /* part of the section ran and stays: record the failed attempt */
    char *why = strdup(c->err ? c->err : "");
    ms_status mark = ms_tracker_mark_failed(c, rec->version, rec->name, rec->kind, rec->checksum,
                                            rec->down ? "down" : "up", done, s->statements,
                                            rec->down ? NULL : hashes.data, why);
    rc = ms_fail(c, rc, "%s\nthis section runs outside a transaction: statement %d of %d failed and "
                 "the %d before it stay applied; %s", why ? why : "", done + 1, s->statements, done,
                 mark != MS_OK ? "recording the failure failed too" : rec->down
                 ? "the migration is recorded as failed until `moonshift repair` or `moonshift force`"
                 : "fix the cause and run up again to resume at the failed statement (or `moonshift "
                   "repair` to start over, `moonshift force` to accept it)");
    free(why);
  }
  ms_buf_free(&hashes);
  return rc;
}

ms_status ms_sqlrun_run(ms_ctx *c, ms_migration *m, const ms_record *rec) {
  section s;
  ms_record r = *rec;
  ms_status st = open_section(c, m, rec->down, &s);
  if (st == MS_OK) st = scan_section(c, &s);
  /* outside a transaction the checksum must be known before anything
   * runs: a file that cannot be read then must not leave work unrecorded */
  if (st == MS_OK && (!s.sec->transaction || c->opts.dry_run)) st = need_sum(c, &s, &r);
  if (st == MS_OK && c->opts.dry_run) {
    st = run_dry(c, &s, &r);
    ms_file_close(&s.file);
    return st;
  }
  if (st == MS_OK) st = s.stepwise ? run_stepwise(c, &s, &r) : run_pipelined(c, &s, &r);
  if (st != MS_OK) ms_conn_recover(c);
  ms_file_close(&s.file);
  return st;
}

int ms_sqlrun_allows_late(ms_ctx *c, ms_migration *m) {
  section s;
  int ok = open_section(c, m, 0, &s) == MS_OK && s.sec->out_of_order;
  ms_file_close(&s.file);
  return ok;
}

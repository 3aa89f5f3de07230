/* sqlrun.c: the SQL kind of migration for step.c (ms_sql_ops): one section
 * of a SQL file, cut into statements by sqlsplit.c. A transactional section
 * is pipelined together with BEGIN, its tracking row and COMMIT (one round
 * trip per batch: the fast path); one with COPY data, hooks, -v or a dry
 * run goes statement by statement inside its transaction; one marked
 * transaction:false goes statement by statement outside any transaction.
 * Errors map back to file:line:col of the failing statement. */
#include "step.h"

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
#include "report.h"
#include "file.h"
#include "invalidx.h"
#include "pgerr.h"
#include "envsub.h"
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
  ms_buf hashes;       /* "{h1,...}": the statements applied outside a transaction */
  const char *src;     /* the text sent: the file, or (goose ENVSUB) a copy whose section
                        * part is substituted; the section starts at sec->off in both */
  size_t src_len;
  size_t sec_len;      /* the section's length in src */
  ms_buf copy;         /* that copy, when there is one */
  int tx;              /* runs in a transaction: its marker says so and (diesel's
                        * metadata.toml) the migration does not say otherwise */
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
  s->tx = s->sec->transaction && !m->no_transaction;
  s->src = s->file.data;
  s->src_len = s->file.len;
  s->sec_len = s->sec->len;
  if (s->sec->present && s->sec->envsub) {
    /* goose ENVSUB: the file's bytes up to the section, then the section
     * substituted, so offsets and lines before it stay the file's */
    ms_buf_add(&s->copy, s->file.data, s->sec->off);
    if (ms_sqlfile_text(s->path, s->file.data, s->sec, ms_envsub_getenv, NULL, &s->copy, &err) != 0 || s->copy.oom)
      st = ms_fail(c, MS_EUSAGE, "%s", err.data ? err.data : "out of memory");
    ms_buf_free(&err);
    if (st != MS_OK) return st;
    s->src = s->copy.data ? s->copy.data : "";
    s->src_len = s->copy.len;
    s->sec_len = s->copy.len - s->sec->off;
  }
  s->m = m;
  s->down = down;
  s->resume_done = down ? 0 : m->resume_done;
  s->resume_hashes = down ? NULL : m->resume_hashes;
  if (!s->sec->present)
    return ms_fail(c, MS_EUSAGE, "%s: has no %s section, so it cannot be rolled back", s->path,
                   s->sf.format == MS_FORMAT_PLAIN ? "-- migrate:down" : ms_mark_spelling(s->sf.format, MS_MARK_DOWN));
  return MS_OK;
}

static void close_section(section *s) {
  ms_file_close(&s->file);
  ms_buf_free(&s->copy);
  ms_buf_free(&s->hashes);
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
  ms_split_init(sp, s->src + s->sec->off, s->sec_len);
  s->scanned = 0;
  sp->progress = drop_behind;
  sp->progress_ud = s;
}

static ms_status stmt_problem(ms_ctx *c, const section *s, const ms_stmt *st) {
  if (!s->tx) return MS_OK;
  const char *stmt = s->src + s->sec->off + st->off;
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
  const unsigned char *p = (const unsigned char *)s->src + s->sec->off + st->off;
  for (size_t i = 0; i < st->len;) {
    size_t k = utf8_len(p + i, st->len - i);
    if (k == 0) {
      unsigned long line, col;
      ms_textpos_line_col(s->src + s->sec->off, s->sec_len, st->off + i, &line, &col);
      return ms_fail(c, MS_EUSAGE, "%s:%lu:%lu: invalid UTF-8 (byte 0x%02X); nothing was run",
                     s->path, abs_line(s, line), col, p[i]);
    }
    i += k;
  }
  return MS_OK;
}

/* A NUL byte would cut the statement short where libpq reads its text:
 * refused in the statement and the comments before it, before anything
 * runs. COPY data is left out (the server refuses a NUL there itself, and
 * reading it again would hold a large file's pages). */
static ms_status check_nul(ms_ctx *c, const section *s, const ms_stmt *st) {
  const char *base = s->src + s->sec->off;
  size_t end = st->cls == MS_CLASS_EMPTY ? st->piece_off + st->piece_len : st->off + st->len;
  const char *nul = memchr(base + st->piece_off, '\0', end - st->piece_off);
  if (!nul) return MS_OK;
  unsigned long line, col;
  ms_textpos_line_col(base, s->sec_len, (size_t)(nul - base), &line, &col);
  return ms_fail(c, MS_EUSAGE, "%s:%lu:%lu: a NUL byte, which would cut the statement short; nothing was run",
                 s->path, abs_line(s, line), col);
}

/* 1 for the file `moonshift new` writes, before anything is added: its own
 * name as the first line, and nothing but the two markers after it. */
static int untouched_template(const section *s) {
  const char *name = s->m->name;
  size_t n = strlen(name);
  const char *t = s->file.data;
  if (s->sf.format != MS_FORMAT_DBMATE || !s->sf.down.present || !s->sf.down.empty || !s->sf.up.empty) return 0;
  return s->file.len > n + 4 && memcmp(t, "-- ", 3) == 0 && memcmp(t + 3, name, n) == 0 && t[3 + n] == '\n';
}

/* Splits the whole section once: errors, problems, and the sending mode;
 * what it finds is remembered for the rest of the run. */
static ms_status scan_section(ms_ctx *c, section *s) {
  ms_split sp;
  ms_stmt st;
  int rc, steps = 0;
  s->stepwise = !s->tx || c->opts.verbose || c->opts.dry_run || ms_hook_has_each(c);
  if (s->known) {
    s->statements = s->known->statements;
    s->stepwise |= s->known->stepwise;
    return MS_OK;
  }
  split_section(s, &sp);
  int utf8 = c->conn && PQclientEncoding(c->conn) == pg_char_to_encoding("UTF8");
  while ((rc = ms_split_next(&sp, &st)) == 1) {
    ms_status bad = check_nul(c, s, &st);
    if (st.cls == MS_CLASS_META_SKIP || st.block) steps = 1;   /* a goose block goes alone, simply */
    if (st.cls != MS_CLASS_EMPTY && st.cls != MS_CLASS_META_SKIP) {
      s->statements++;
      if (st.cls == MS_CLASS_COPY) steps = 1;
      if (bad == MS_OK) bad = stmt_problem(c, s, &st);
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
  /* a section with no statement applies as a no-op (goose, golang-migrate
   * and dbmate do the same), but the untouched template of `moonshift new`
   * is an unfinished migration, not an empty one */
  if (s->statements == 0 && s->sec == &s->sf.up && untouched_template(s))
    return ms_fail(c, MS_EUSAGE, "%s:%d: the up section holds no SQL statement (an unfinished "
                   "migration?); nothing was run", s->path, s->sec->line);
  s->stepwise |= steps;
  ms_scan_facts facts = { s->sf, s->statements, steps };
  ms_sqlscan_put(s->m, s->down, &s->file, &facts);
  return MS_OK;
}

static ms_status sql_check(ms_ctx *c, ms_migration *m, int down) {
  section s;
  ms_status st = open_section(c, m, down, &s);
  if (st == MS_OK) st = scan_section(c, &s);
  close_section(&s);
  return st;
}

/* Sets c->err from a failed result, mapped into the file. */
static ms_status sql_error(ms_ctx *c, const section *s, const PGresult *r, size_t sent_off,
                           long prefix, unsigned long line) {
  ms_pgerr e;
  ms_buf b = {0};
  ms_srcmap map = { s->path, prefix < 0 ? NULL : s->src, s->src_len, sent_off, prefix };
  ms_pgerr_from(r, c->conn, &e);
  snprintf(c->sqlstate, sizeof c->sqlstate, "%s", e.sqlstate ? e.sqlstate : "");
  ms_status st = ms_pgerr_connection_lost(&e) ? MS_ECONNECT : ms_conn_failure(c);
  if (st == MS_EFAILED && e.sqlstate && strcmp(e.sqlstate, MS_SQLSTATE_LOCK_LOST) == 0) st = MS_ELOCK;
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
    if (PQputCopyData(c->conn, s->src + off, n) != 1) break;
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
  char *sql = strndup(s->src + off, st->len);
  if (!sql) return ms_fail(c, MS_EFAILED, "out of memory");
  double t0 = ms_now_ms();
  /* the extended protocol takes exactly one statement: text the splitter
   * took for one statement can never carry a second one (a hidden COMMIT)
   * past the checks, whatever the flags. A goose StatementBegin/End block
   * holds several by design and goes as one simple query, as goose sends it. */
  PGresult *r = st->block ? PQexec(c->conn, sql) : PQexecParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
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

static ms_status sql_fast(ms_ctx *c, ms_step *s) {
  section *x = s->body;
  queued q[PIPE_BATCH + 12];
  int n = 0;
  ms_split sp;
  ms_stmt st;
  if (PQenterPipelineMode(c->conn) != 1) return ms_fail(c, ms_conn_failure(c), "cannot enter pipeline mode");
  char set[96];
  ms_status rc = queue(c, "BEGIN", &q[n++], SIZE_MAX, 0);
  for (int i = 0; i < MS_STEP_PROLOGUE && rc == MS_OK; i++)
    if (ms_step_prologue_sql(c, s, i, set, sizeof set)) rc = queue(c, set, &q[n++], SIZE_MAX, 0);
  split_section(x, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY) continue;
    size_t off = x->sec->off + st.off;
    char *sql = strndup(x->src + off, st.len);
    if (!sql) { rc = ms_fail(c, MS_EFAILED, "out of memory"); break; }
    rc = queue(c, sql, &q[n++], off, abs_line(x, st.line));
    free(sql);
    drop_piece(x, &st);
    if (rc == MS_OK && n >= PIPE_BATCH) { rc = collect(c, x, q, n, rc); n = 0; }
  }
  for (int i = 0; rc == MS_OK && ms_conn_identity_sql[i]; i++)
    rc = queue(c, ms_conn_identity_sql[i], &q[n++], SIZE_MAX, 0);
  ms_buf b = {0};
  if (rc == MS_OK && ms_step_fence_sql(c, &b)) rc = queue(c, b.data, &q[n++], SIZE_MAX, 0);
  ms_buf_free(&b);
  if (rc == MS_OK) rc = ms_step_track_sql(c, s, &b);
  if (rc == MS_OK) rc = queue(c, b.data, &q[n++], SIZE_MAX, 0);
  ms_buf_free(&b);
  /* COMMIT rides in the last batch: the server skips it once any statement
   * before it failed, and the tracking row commits with the migration */
  if (rc == MS_OK) rc = queue(c, "COMMIT", &q[n++], SIZE_MAX, 0);
  if (rc == MS_OK) rc = queue(c, "RESET ALL", &q[n++], SIZE_MAX, 0);
  if (n > 0 && PQstatus(c->conn) == CONNECTION_OK) rc = collect(c, x, q, n, rc);
  PQexitPipelineMode(c->conn);
  c->retry_safe = 1;
  return rc;
}

/* A dry run's listing of statement k with its file:line. */
static void show_stmt(ms_ctx *c, const section *x, const ms_stmt *st, int k) {
  ms_event e = { .kind = MS_EV_STATEMENT, .index = k, .file = x->path, .line = abs_line(x, st->line),
                 .text = x->src + x->sec->off + st->off, .len = st->len, .bytes = st->data_len };
  ms_report(c, &e);
}

/* The short hash recorded for an applied statement of a section run
 * outside a transaction: 16 hex digits of SHA-256 over its text. */
static void stmt_hash(const section *s, const ms_stmt *st, char out[17]) {
  unsigned char d[32];
  static const char hex[] = "0123456789abcdef";
  ms_sha256_raw(s->src + s->sec->off + st->off, st->len, d);
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

/* Runs one statement of a live, real run: a resumed section skips (after
 * checking them) the statements its failed attempt applied. */
static ms_status live_stmt(ms_ctx *c, ms_step *s, const ms_stmt *st, int k) {
  section *x = s->body;
  if (!s->tx && k < x->resume_done) return skip_applied(c, x, st, k);
  if (!s->tx && k == x->resume_done && x->resume_done > 0 && st->cls == MS_CLASS_NOTX) {
    ms_status rc = ms_invalid_index_drop(c, x->src + x->sec->off + st->off, st->len);
    if (rc != MS_OK) return rc;
  }
  return run_stmt(c, x, st);
}

/* Outside a transaction every statement that ran stays: its progress is
 * recorded as it goes, as a failure part way would be, so that a runner
 * killed between two statements leaves a migration that the next up
 * resumes (the finished migration's tracking row replaces it). */
static ms_status note_progress(ms_ctx *c, ms_step *s) {
  section *x = s->body;
  ms_buf h = {0}, why = {0};
  ms_buf_add(&h, x->hashes.data, x->hashes.len);
  ms_buf_puts(&h, "}");
  ms_buf_printf(&why, "the run stopped after statement %d of %d (was moonshift killed?) before the "
                "migration finished", s->done, s->total);
  /* written as moonshift's own user, whatever role the section set, in a
   * transaction of its own that leaves the section's settings as they were */
  ms_status st = h.oom || why.oom ? ms_fail(c, MS_EFAILED, "out of memory") : ms_conn_as_self_begin(c);
  if (st == MS_OK)
    st = ms_tracker_mark_failed(c, s->rec.version, s->rec.name, "sql", s->rec.checksum, "up", s->done, s->total,
                                h.data, why.data);
  st = ms_conn_as_self_end(c, st);
  ms_buf_free(&h);
  ms_buf_free(&why);
  return st;
}

/* The statements one by one: run (a dry run's rehearsal shows each), or
 * only listed when the section is not rehearsed. */
static ms_status sql_body(ms_ctx *c, ms_step *s) {
  section *x = s->body;
  ms_split sp;
  ms_stmt st;
  int k = 0, dry = c->opts.dry_run;
  ms_status rc = MS_OK;
  if (!dry && !s->tx && x->resume_done > 0)
    ms_report_text(c, MS_EV_INFO, "resuming %s at statement %d of %d (the failed attempt applied the "
                   "ones before it)", x->path, x->resume_done + 1, x->statements);
  ms_buf_puts(&x->hashes, "{");
  split_section(x, &sp);
  while (rc == MS_OK && ms_split_next(&sp, &st) == 1) {
    if (st.cls == MS_CLASS_EMPTY || st.cls == MS_CLASS_META_SKIP) continue;
    if (dry) show_stmt(c, x, &st, k + 1);
    if (s->live && !dry && st.cls == MS_CLASS_TXN) s->tx_from = k;
    if (s->live) rc = dry ? run_stmt(c, x, &st) : live_stmt(c, s, &st, k);
    drop_piece(x, &st);
    if (rc != MS_OK) break;
    if (!dry) {
      char h[17];
      stmt_hash(x, &st, h);
      ms_buf_printf(&x->hashes, "%s%s", k ? "," : "", h);
      s->done++;
      if (!s->tx && !s->down && s->done < s->total && k >= x->resume_done &&
          PQtransactionStatus(c->conn) == PQTRANS_IDLE) rc = note_progress(c, s);
    }
    k++;
  }
  ms_buf_puts(&x->hashes, "}");
  s->hashes = x->hashes.data;
  return rc;
}

static void sql_close(ms_ctx *c, ms_step *s) {
  section *x = s->body;
  (void)c;
  if (!x) return;
  close_section(x);
  free(x);
  s->body = NULL;
}

static ms_status sql_open(ms_ctx *c, ms_step *s) {
  section *x = malloc(sizeof *x);
  if (!x) return ms_fail(c, MS_EFAILED, "out of memory");
  ms_status st = open_section(c, s->m, s->down, x);
  s->body = x;
  if (st == MS_OK) st = scan_section(c, x);
  if (st != MS_OK) return st;
  const ms_section *sec = x->sec;
  s->tx = x->tx;
  s->fast = !x->stepwise;
  s->total = x->statements;
  s->lock_timeout = sec->lock_timeout[0] ? sec->lock_timeout : NULL;
  s->statement_timeout = sec->statement_timeout[0] ? sec->statement_timeout : NULL;
  return MS_OK;
}

static int sql_allows_late(ms_ctx *c, ms_migration *m) {
  section s;
  int ok = open_section(c, m, 0, &s) == MS_OK && s.sec->out_of_order;
  close_section(&s);
  return ok;
}

const ms_step_ops ms_sql_ops = { "sql", sql_check, sql_open, sql_body, sql_fast, sql_close, sql_allows_late };

/* step.c: one migration's protocol (step.h), for every kind: sqlrun.c and
 * luarun.c provide the bodies. Uses conn, config (hooks), lease (the
 * fence), tracker and report. */
#include "step.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "conn.h"
#include "lock.h"
#include "pgerr.h"
#include "report.h"
#include "sumpool.h"

/* An attempt whose work another runner did first: not a failure. */
#define MS_DONE_ELSEWHERE ((ms_status)-1)

static const ms_step_ops *ops_of(const ms_migration *m) {
  return m->kind == MS_KIND_LUA ? &ms_lua_ops : &ms_sql_ops;
}

int ms_step_allows_late(ms_ctx *c, ms_migration *m) { return ops_of(m)->allows_late(c, m); }

ms_status ms_step_check(ms_ctx *c, ms_migration *m, int down) { return ops_of(m)->check(c, m, down); }

ms_status ms_step_checksum(ms_ctx *c, const ms_migration *m, char out[MS_CHECKSUM_LEN]) {
  const char *paths[2] = { m->path, m->down_path };
  int bad = 0, rc = ms_checksum_files(paths, 2, out, &bad, NULL);
  if (rc == ENOMEM) return ms_fail(c, MS_EFAILED, "out of memory");
  if (rc != 0) return ms_fail(c, MS_EUSAGE, "%s: cannot read: %s", paths[bad], strerror(rc));
  return MS_OK;
}

ms_status ms_step_sum(ms_ctx *c, ms_migration *m, const char **out) {
  char sum[MS_CHECKSUM_LEN];
  ms_sumpool_finish(c, 1);
  *out = m->checksum;
  if (m->checksum) return MS_OK;
  ms_status st = ms_step_checksum(c, m, sum);
  if (st != MS_OK) return st;
  m->checksum = strdup(sum);
  *out = m->checksum;
  return m->checksum ? MS_OK : ms_fail(c, MS_EFAILED, "out of memory");
}

int ms_step_prologue_sql(ms_ctx *c, const ms_step *s, int i, char *out, size_t n) {
  if (i == 0) return ms_conn_watch_sql(c, s->tx, out, n);
  const char *name = i == 1 ? "lock_timeout" : "statement_timeout";
  const char *own = i == 1 ? s->lock_timeout : s->statement_timeout;
  const char *v = own ? own : i == 1 ? c->opts.lock_timeout_default : c->opts.statement_timeout_default;
  if (i > 2 || !v || !*v) return 0;
  /* values were validated as digits and a unit */
  snprintf(out, n, "SET %s%s = '%s'", s->tx ? "LOCAL " : "", name, v);
  return 1;
}

/* The prologue as separate statements; outside a transaction through a
 * pooler a session SET would reach other clients' sessions, so none. */
static ms_status prologue(ms_ctx *c, const ms_step *s) {
  char q[96];
  if (!s->tx && ms_conn_pooled(c)) {
    if (ms_step_prologue_sql(c, s, 1, q, sizeof q) || ms_step_prologue_sql(c, s, 2, q, sizeof q))
      ms_report_text(c, MS_EV_WARNING, "lock_timeout/statement_timeout are not applied to a migration "
                     "outside a transaction through a connection pooler (they would leak to other clients)");
    return MS_OK;
  }
  for (int i = 0; i < MS_STEP_PROLOGUE; i++) {
    if (!ms_step_prologue_sql(c, s, i, q, sizeof q)) continue;
    ms_status st = ms_conn_exec(c, q);
    if (st != MS_OK) return st;
  }
  return MS_OK;
}

int ms_step_fence_sql(ms_ctx *c, ms_buf *b) { return ms_lock_fence_sql(c, b); }

ms_status ms_step_track_sql(ms_ctx *c, ms_step *s, ms_buf *b) {
  if (!s->down && !s->rec.checksum) {
    ms_status st = ms_step_sum(c, s->m, &s->rec.checksum);
    if (st != MS_OK) return st;
  }
  ms_tracker_record_sql(c, b, &s->rec, s->tx || c->opts.dry_run);
  return b->oom ? ms_fail(c, MS_EFAILED, "out of memory") : MS_OK;
}

/* After the body, the transaction must be as the protocol left it: open
 * and healthy inside one (a dry run's too), closed outside one. */
static ms_status check_tx(ms_ctx *c, ms_step *s) {
  PGTransactionStatusType t = PQtransactionStatus(c->conn);
  int in_tx = s->tx || c->opts.dry_run;
  if (in_tx && t == PQTRANS_INTRANS) return MS_OK;
  if (!in_tx && t == PQTRANS_IDLE) return MS_OK;
  if (t == PQTRANS_INERROR && in_tx)
    return ms_fail(c, MS_EFAILED, "%s: an SQL error was caught inside the migration, but it left the "
                   "transaction aborted; wrap the statement in db:savepoint(fn) to recover from it", s->m->path);
  if (!in_tx && (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) && s->done >= 0) s->done = s->tx_from;
  if (!in_tx && (t == PQTRANS_INTRANS || t == PQTRANS_INERROR))
    return ms_fail(c, MS_EFAILED, "%s: the migration runs outside a transaction but left one open "
                   "(a BEGIN without its COMMIT); it was rolled back", s->m->path);
  if (t == PQTRANS_UNKNOWN) return ms_fail(c, MS_ECONNECT, "lost the connection to the database");
  return ms_fail(c, MS_EFAILED, "%s: the migration ended its own transaction (COMMIT or ROLLBACK); "
                 "set transaction = false to manage transactions yourself", s->m->path);
}

/* The session's own user and role back, the tracking change with the lease
 * fence, COMMIT and RESET ALL, in one
 * round trip; a dry run writes only the tracking change, inside its own
 * transaction. */
static ms_status finish(ms_ctx *c, ms_step *s) {
  int dry = c->opts.dry_run;
  if (dry && !s->tx) return MS_OK;
  ms_buf q = {0};
  for (int i = 0; ms_conn_identity_sql[i]; i++) ms_buf_printf(&q, "%s;\n", ms_conn_identity_sql[i]);
  if (!dry && ms_step_fence_sql(c, &q)) ms_buf_puts(&q, ";\n");
  ms_status st = ms_step_track_sql(c, s, &q);
  if (!dry) ms_buf_printf(&q, ";\n%sRESET ALL", s->tx ? "COMMIT;\n" : "");
  if (st == MS_OK) st = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  return st;
}

/* Outside a transaction what ran before the failure stays: record it, so
 * that nothing else runs until the operator decides. */
static ms_status record_failure(ms_ctx *c, const ms_step *s, const ms_step_ops *ops, ms_status st) {
  char *why = strdup(c->err ? c->err : "");
  ms_status mark = ms_tracker_mark_failed(c, s->rec.version, s->rec.name, ops->kind, s->rec.checksum,
                                          s->down ? "down" : "up", s->done, s->total,
                                          s->down ? NULL : s->hashes, why);
  const char *next = mark != MS_OK ? "recording the failure failed too"
    : s->down || s->done < 0 ? "it is recorded as failed until `moonshift repair` or `moonshift force`"
    : "fix the cause and run up again to resume at the failed statement (or `moonshift repair` to "
      "start over, `moonshift force` to accept it)";
  if (s->done >= 0 && s->done >= s->total)
    st = ms_fail(c, st, "%s\nthis section runs outside a transaction: its %d statements ran and stay applied, "
                 "but recording the migration failed; %s", why ? why : "", s->done, next);
  else if (s->done >= 0)
    st = ms_fail(c, st, "%s\nthis section runs outside a transaction: statement %d of %d failed and the %d "
                 "before it stay applied; %s", why ? why : "", s->done + 1, s->total, s->done, next);
  else
    st = ms_fail(c, st, "%s\nthis migration runs outside a transaction, so what it did before the error "
                 "stays; %s", why ? why : "", next);
  free(why);
  return st;
}

/* One attempt at the protocol. */
static ms_status attempt(ms_ctx *c, const ms_step_ops *ops, ms_step *s) {
  int dry = c->opts.dry_run;
  const char *dir = s->down ? "down" : "up";
  if (!dry && s->fast && ops->fast) {
    ms_status fst = ops->fast(c, s);
    if (fst != MS_OK) ms_conn_recover(c);
    if (fst == MS_EFAILED && ms_tracker_done_elsewhere(c, s->rec.version, s->down)) return MS_DONE_ELSEWHERE;
    return fst;
  }
  s->live = s->tx || !dry;
  c->retry_safe = s->tx;
  ms_status st = s->tx && !dry ? ms_conn_exec(c, "BEGIN") : MS_OK;
  if (st == MS_OK && s->live) st = prologue(c, s);
  c->in_tx_body = s->tx || dry;
  if (st == MS_OK && s->live) st = ms_hook_each(c, "before_each", s->m, dir, 0);
  if (st == MS_OK && !s->live)
    ms_report_text(c, MS_EV_NOTE, "  (runs outside a transaction: %s)",
                   s->total >= 0 ? "listed, not rehearsed" : "not rehearsed");
  long before = 0, after = 0;
  int watch = !s->tx && !dry;   /* outside a transaction the body could drop or rewrite our tables */
  if (st == MS_OK && watch) st = ms_tracker_census(c, s->rec.version, &before);
  if (st == MS_OK) st = ops->body(c, s);
  if (st == MS_OK && s->live) st = check_tx(c, s);
  if (st == MS_OK && watch) st = ms_tracker_census(c, s->rec.version, &after);
  if (st == MS_OK && watch && after != before)
    st = ms_fail(c, MS_EFAILED, "%s: the migration %s moonshift's tracking tables (%s, %s.%s); stopping "
                 "before anything else is recorded: restore them (from a backup) before running again",
                 s->m->path, after < 0 ? "dropped" : "changed the rows of", c->table_sql, c->table_schema,
                 c->history_name);
  if (st == MS_OK && s->live) st = ms_hook_each(c, "after_each", s->m, dir, ms_now_ms() - s->rec.t0);
  c->in_tx_body = 0;
  if (st == MS_OK) st = finish(c, s);
  if (!s->tx) c->retry_safe = s->done == 0;
  if (st != MS_OK && !dry) {
    ms_conn_recover(c);
    if (s->tx && st == MS_EFAILED && ms_tracker_done_elsewhere(c, s->rec.version, s->down)) return MS_DONE_ELSEWHERE;
    int ran = s->done > 0 || (s->done < 0 && st == MS_EFAILED);
    if (!s->tx && ran && st != MS_EUSAGE) st = record_failure(c, s, ops, st);
  }
  return st;
}

/* Stopped by its lock_timeout and rolled back: worth another attempt. */
static int retry(ms_ctx *c, ms_status st, int attempt_no) {
  return st == MS_EFAILED && strcmp(c->sqlstate, MS_SQLSTATE_LOCK_NOT_AVAILABLE) == 0 && c->retry_safe &&
         attempt_no <= c->opts.retries && !c->opts.dry_run;
}

ms_status ms_step_run(ms_ctx *c, ms_migration *m, int down) {
  const ms_step_ops *ops = ops_of(m);
  /* while the folder is hashed on workers, a SQL migration asks for its
   * checksum only when it writes its tracking row, so a large file's
   * hashing overlaps its run */
  int later = !down && m->kind == MS_KIND_SQL && c->sumpool && !m->checksum && !c->opts.dry_run;
  const char *sum = NULL;
  ms_status st = down || later ? MS_OK : ms_step_sum(c, m, &sum);
  if (st != MS_OK) return st;
  ms_event e = { .kind = c->opts.dry_run ? MS_EV_WOULD : MS_EV_START, .migration = m, .down = down };
  ms_report(c, &e);
  c->current = m;
  double t0 = ms_now_ms();
  int empty = 0;
  for (int attempt_no = 1;; attempt_no++) {
    t0 = ms_now_ms();
    ms_step s = { .m = m, .down = down, .done = 0, .total = -1, .tx_from = 0 };
    s.rec = (ms_record){ down, m->version, m->name, ops->kind, sum, t0 };
    c->sqlstate[0] = '\0';
    c->retry_safe = 0;
    st = ops->open(c, &s);
    /* outside a transaction the checksum must be known before anything
     * runs: a file that cannot be read then must not leave work unrecorded */
    if (st == MS_OK && !s.tx && !down && !s.rec.checksum) st = ms_step_sum(c, m, &s.rec.checksum);
    if (st == MS_OK) st = attempt(c, ops, &s);
    empty = s.total == 0;
    if (ops->close) ops->close(c, &s);
    if (!retry(c, st, attempt_no)) break;
    double delay = 500.0 * (1 << (attempt_no - 1 < 6 ? attempt_no - 1 : 6));
    delay = delay / 2 + (double)(rand() % 1000) / 1000.0 * delay / 2;
    ms_report_text(c, MS_EV_INFO, "%0*lld %s: a lock was not available within its lock_timeout "
                   "(attempt %d of %d); retrying in %.1f s", m->vwidth, (long long)m->version, m->name,
                   attempt_no, c->opts.retries + 1, delay / 1000);
    ms_sleep_ms((long)delay);
  }
  c->current = NULL;
  if (st == MS_DONE_ELSEWHERE) {
    ms_report_text(c, MS_EV_INFO, "%0*lld %s was %s by another runner meanwhile (the migration lock did not "
                   "keep it out); this run's attempt was rolled back", m->vwidth, (long long)m->version,
                   m->name, down ? "rolled back" : "applied");
    return MS_OK;
  }
  if (st != MS_OK) return st;
  if (c->opts.dry_run) {
    char table[600];
    snprintf(table, sizeof table, "%s.%s", c->table_schema, c->table_name);
    ms_event w = { .kind = MS_EV_WOULD_TRACK, .migration = m, .down = down, .text = table };
    ms_report(c, &w);
  }
  ms_event d = { .kind = MS_EV_DONE, .migration = m, .down = down, .dry_run = c->opts.dry_run,
                 .empty = empty, .ms = ms_now_ms() - t0 };
  ms_report(c, &d);
  return MS_OK;
}

/* session.c: opening and closing a command (session.h). Uses source,
 * sumpool, conn, tracker, lock and drift. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "drift.h"
#include "lock.h"
#include "project.h"
#include "report.h"
#include "source.h"
#include "sumpool.h"
#include "tracker.h"

/* A migration left failed part way blocks up, down and redo until the
 * operator decides with repair or force. */
static ms_status refuse_failed(ms_ctx *c, const ms_applied *a, int resume) {
  const ms_applied_row *r = NULL;
  for (size_t i = 0; i < a->n && !r; i++)
    if (a->v[i].failed_op && !(resume && ms_applied_resumable(&a->v[i]))) r = &a->v[i];
  if (!r) return MS_OK;
  char v[32], where[64] = "";
  ms_fmt_version(c, r->version, v, sizeof v);
  if (r->statements_done >= 0)
    snprintf(where, sizeof where, " at statement %d of %d", r->statements_done + 1, r->statement_count);
  return ms_fail(c, MS_EFAILED, "migration %s %s failed part way (%s%s, %s) and may have left "
                 "changes behind; nothing was run.\nfix the cause, then run `moonshift repair %s` to "
                 "run it again, or `moonshift force %s` to mark it %s\nits error was: %s", v, r->name,
                 r->failed_op, where, r->applied_at, v, v,
                 strcmp(r->failed_op, "up") == 0 ? "applied" : "rolled back", r->error ? r->error : "-");
}

/* Applied migrations whose files changed or went missing: refused (unless
 * --allow-modified) or reported. */
static ms_status refuse_drift(ms_ctx *c, ms_applied *a, int refuse) {
  ms_drift d;
  ms_status st = ms_drift_check(c, a, &d);
  if (st == MS_OK && (d.modified || d.missing)) {
    if (refuse && !c->opts.allow_modified)
      st = ms_fail(c, MS_EUSAGE, "applied migrations no longer match their files; nothing was run:%s\n"
                   "restore the files, or record deliberate edits with `moonshift accept VERSION...` "
                   "(or run anyway with --allow-modified)", d.list.data);
    else
      ms_report_text(c, MS_EV_WARNING, "applied migrations no longer match their files:%s", d.list.data);
  }
  ms_drift_free(&d);
  return st;
}

static ms_status load(ms_ctx *c, unsigned what, ms_applied *a) {
  ms_applied_free(a);
  ms_status st = ms_tracker_load(c, a);
  if (st == MS_OK && (what & MS_SESS_NO_FAILED)) st = refuse_failed(c, a, (what & MS_SESS_RESUME) != 0);
  if (st == MS_OK && (what & (MS_SESS_NO_DRIFT | MS_SESS_WARN_DRIFT)))
    st = refuse_drift(c, a, (what & MS_SESS_NO_DRIFT) != 0);
  return st;
}

/* libpq's own environment names a target only through these. */
static const char *const pg_target_vars[] = { "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE", NULL };

/* Where the connection goes when no URL is given: libpq's environment when
 * it names a target (listed into from), else a refusal. */
static ms_status default_target(ms_ctx *c, ms_buf *from) {
  for (int i = 0; pg_target_vars[i]; i++) {
    const char *v = getenv(pg_target_vars[i]);
    if (v && *v) ms_buf_printf(from, "%s%s", from->len ? ", " : "", pg_target_vars[i]);
  }
  if (c->opts.env && *c->opts.env)
    return ms_fail(c, MS_EUSAGE, "environment '%s' of the config gives no url (is the variable it "
                   "reads unset?), and neither --url nor DATABASE_URL is set; nothing was done",
                   c->opts.env);
  if (from->len) return MS_OK;
  return ms_fail(c, MS_EUSAGE, "no database given: use --url URL, set DATABASE_URL, or set url in "
                 "moonshift.lua (libpq's PGHOST, PGDATABASE or PGSERVICE also name one)");
}

static ms_status connect(ms_ctx *c) {
  ms_buf from = {0};
  int given = c->opts.url && *c->opts.url;
  ms_status st = given ? MS_OK : default_target(c, &from);
  if (st == MS_OK && c->opts.wait > 0) st = ms_conn_wait(c, c->opts.wait);
  if (st == MS_OK) st = ms_conn_open(c);
  if (st == MS_OK) {
    const char *host = PQhost(c->conn);
    ms_target t = { host && *host ? host : "local", PQport(c->conn), PQdb(c->conn), PQuser(c->conn),
                    from.len ? from.data : NULL };
    ms_event e = { .kind = MS_EV_TARGET, .target = &t };
    ms_report(c, &e);
    st = ms_tracker_resolve(c);
  }
  if (st == MS_OK) c->lock_key = ms_lock_key(c->table_schema, c->table_name);
  ms_buf_free(&from);
  return st;
}

ms_status ms_session_lock(ms_ctx *c, unsigned what, ms_applied *a) {
  ms_status st = ms_lock_acquire(c);
  if (st == MS_OK && c->opts.dry_run) {
    st = ms_conn_exec(c, "BEGIN");
    c->dry_open = st == MS_OK;
  }
  if (st == MS_OK) st = ms_tracker_ensure(c);
  if (st == MS_OK) st = load(c, what, a);
  return st;
}

ms_status ms_session_open(ms_ctx *c, unsigned what, ms_applied *a) {
  ms_status st = MS_OK;
  if (what & MS_SESS_FOLDER) st = ms_project_scan(c);
  if (st == MS_OK && (what & MS_SESS_HASH)) ms_sumpool_start(c);
  if (st == MS_OK && (what & MS_SESS_CONNECT)) st = connect(c);
  if (st == MS_OK && (what & MS_SESS_LOCK)) return ms_session_lock(c, what, a);
  if (st == MS_OK && (what & MS_SESS_LOAD)) st = load(c, what, a);
  return st;
}

ms_status ms_session_close(ms_ctx *c, ms_status st) {
  if (c->dry_open) {
    ms_conn_recover(c);
    c->dry_open = 0;
  }
  if (c->conn && c->locked) ms_lock_release(c);
  return st;
}

void ms_ctx_release(ms_ctx *c) {
  if (c->conn) {
    if (c->locked) ms_lock_release(c);
    PQfinish(c->conn);
    c->conn = NULL;
  }
  ms_sumpool_finish(c, 0);
  if (c->src) {
    ms_source_free(c->src);
    free(c->src);
    c->src = NULL;
  }
  free(c->err);
  free(c->table_schema);
  free(c->table_name);
  free(c->table_sql);
  free(c->history_name);
  free(c->history_sql);
  c->err = c->table_schema = c->table_name = c->table_sql = c->history_name = c->history_sql = NULL;
}

/* check.c: `moonshift log` (the history table) and `moonshift check` (for
 * start-up, init containers and CI: is the database exactly at the newest
 * version?). Neither takes the lock nor changes anything. Uses project,
 * tracker, drift and report. */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "drift.h"
#include "pgerr.h"
#include "project.h"
#include "report.h"
#include "source.h"
#include "tracker.h"

/* First line of s, at most n bytes, into out. */
static void first_line(const char *s, char *out, size_t n) {
  size_t k = 0;
  while (s && s[k] && s[k] != '\n' && k + 1 < n) { out[k] = s[k]; k++; }
  out[k] = '\0';
}

ms_status ms_cmd_log(ms_ctx *c) {
  ms_status st;
  ms_buf q = {0};
  ms_buf_printf(&q, "SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                "who || '@' || coalesce(host, '?'), action, coalesce(version::text, ''), "
                "coalesce(name, ''), coalesce(duration_ms::text || ' ms', ''), coalesce(error, detail, '') "
                "FROM %s ORDER BY id", c->history_sql);
  PGresult *r = PQexec(c->conn, q.data);
  ms_buf_free(&q);
  if (!ms_pg_ok(r)) {
    int missing = ms_pg_no_table(r);
    st = missing ? MS_OK : ms_conn_report(c, r);
    if (missing) ms_res_line(c, "no history yet (%s.%s does not exist)", c->table_schema, c->history_name);
    PQclear(r);
    return st;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    char note[200], v[32] = "";
    const char *vt = PQgetvalue(r, i, 3);
    if (*vt) ms_fmt_version(c, strtoll(vt, NULL, 10), v, sizeof v);
    first_line(PQgetvalue(r, i, 6), note, sizeof note);
    ms_res_item(c, "events");
    ms_res_str(c, "at", PQgetvalue(r, i, 0));
    ms_res_str(c, "by", PQgetvalue(r, i, 1));
    ms_res_str(c, "action", PQgetvalue(r, i, 2));
    if (*vt) ms_res_int(c, "version", strtoll(vt, NULL, 10));
    ms_res_str(c, "name", PQgetvalue(r, i, 4));
    if (*PQgetvalue(r, i, 5)) ms_res_int(c, "duration_ms", strtoll(PQgetvalue(r, i, 5), NULL, 10));
    ms_res_str(c, "note", PQgetvalue(r, i, 6));
    ms_res_end_item(c);
    ms_res_line(c, "%s  %-24s  %-12s %-14s %-28s %8s  %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
           PQgetvalue(r, i, 2), v, PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), note);
  }
  ms_res_list(c, "events");
  PQclear(r);
  return MS_OK;
}

static void problem_json(ms_ctx *c, const char *kind, int64_t version, const char *name, const char *error) {
  ms_res_item(c, "problems");
  ms_res_str(c, "problem", kind);
  ms_res_int(c, "version", version);
  ms_res_str(c, "name", name);
  if (error) ms_res_str(c, "error", error);
  ms_res_end_item(c);
}

/* check --at-least / --at-most: the newest fully applied version against
 * the range an application can run with. */
static ms_status gate(ms_ctx *c, const ms_applied *a) {
  int64_t newest = 0;
  for (size_t i = 0; i < a->n; i++) if (!a->v[i].failed_op) newest = a->v[i].version;
  char v[32] = "0", lo[32], hi[32];
  if (newest) ms_fmt_version(c, newest, v, sizeof v);
  ms_res_int(c, "version", newest);
  if (c->opts.has_at_least) ms_fmt_version(c, c->opts.at_least, lo, sizeof lo);
  if (c->opts.has_at_most) ms_fmt_version(c, c->opts.at_most, hi, sizeof hi);
  if (c->opts.has_at_least && newest < c->opts.at_least)
    return ms_fail(c, MS_ECHECK_TOO_OLD, "the database is at version %s, older than %s, the oldest this "
                   "application runs with (run moonshift up)", v, lo);
  if (c->opts.has_at_most && newest > c->opts.at_most)
    return ms_fail(c, MS_ECHECK_TOO_NEW, "the database is at version %s, newer than %s, the newest this "
                   "application knows", v, hi);
  ms_res_line(c, "ok: the database is at version %s, within what this application runs with", v);
  return MS_OK;
}

ms_status ms_cmd_check(ms_ctx *c, ms_applied *ap) {
  if (c->opts.has_at_least || c->opts.has_at_most) return gate(c, ap);
  ms_applied a = *ap;
  ms_drift d = { 0, 0, { 0 } };
  size_t pending = 0;
  ms_status st = ms_drift_check(c, &a, &d);
  if (st != MS_OK) { ms_drift_free(&d); return st; }
  for (size_t i = 0; i < c->src->n; i++) {
    const ms_migration *m = &c->src->v[i];
    if (ms_applied_find(&a, m->version)) continue;
    char v[32];
    ms_fmt_version(c, m->version, v, sizeof v);
    ms_res_line(c, "pending: %s %s", v, m->name);
    problem_json(c, "pending", m->version, m->name, NULL);
    pending++;
  }
  const ms_applied_row *f = ms_applied_failed(&a);
  for (size_t i = 0; i < a.n; i++) {
    const ms_applied_row *r = &a.v[i];
    char v[32], err[200];
    ms_fmt_version(c, r->version, v, sizeof v);
    if (r->drift == MS_DRIFT_MODIFIED) {
      ms_res_line(c, "modified: %s %s (its file changed after it was applied)", v, r->name);
      problem_json(c, "modified", r->version, r->name, NULL);
    }
    if (r->drift == MS_DRIFT_MISSING) {
      ms_res_line(c, "missing: %s %s (applied, but its file is gone)", v, r->name);
      problem_json(c, "missing", r->version, r->name, NULL);
    }
    if (r->failed_op) {
      first_line(r->error, err, sizeof err);
      ms_res_line(c, "failed: %s %s (%s failed part way: %s)", v, r->name, r->failed_op, err);
      problem_json(c, "failed", r->version, r->name, r->error);
    }
  }
  ms_status code = f ? MS_ECHECK_FAILED : d.missing ? MS_ECHECK_MISSING : d.modified ? MS_ECHECK_MODIFIED
                 : pending ? MS_ECHECK_PENDING : MS_OK;
  ms_res_int(c, "version", a.n ? a.v[a.n - 1].version : 0);
  ms_res_list(c, "problems");
  if (code == MS_OK) {
    char v[32] = "0";
    if (a.n) ms_fmt_version(c, a.v[a.n - 1].version, v, sizeof v);
    ms_res_line(c, "ok: the database is at version %s, the newest", v);
  } else {
    ms_fail(c, code, "the database is not at the newest version: %zu pending, %zu modified, %zu missing, %d failed",
            pending, d.modified, d.missing, f ? 1 : 0);
  }
  ms_drift_free(&d);
  return code;
}

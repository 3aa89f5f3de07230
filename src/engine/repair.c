/* repair.c: the commands that change the tracking table without running a
 * migration: repair (forget a failed attempt), force (accept it as done),
 * baseline (adopt an existing database: record versions as applied), accept
 * (new checksums) and unlock (a gone runner's lease). All but unlock run
 * under the migration lock. Uses project, tracker, lock and runner. */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "lease.h"
#include "project.h"
#include "report.h"
#include "step.h"
#include "source.h"
#include "tracker.h"

static ms_status exec_fmt(ms_ctx *c, const char *fmt, int64_t version) {
  ms_buf q = {0};
  ms_buf_printf(&q, fmt, c->table_sql, version);
  ms_status st = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  return st;
}

#define CLEAR_FAILED "UPDATE %s SET failed_op = NULL, statements_done = NULL, statement_count = NULL, " \
                     "error = NULL, applied_at = pg_catalog.clock_timestamp() WHERE version = %" PRId64
#define FORGET "DELETE FROM %s WHERE version = %" PRId64

/* Records m as applied without running it (with a history row saying how). */
static ms_status record_applied(ms_ctx *c, ms_migration *m, const char *action) {
  const char *sum = NULL;
  ms_status st = ms_step_sum(c, m, &sum);
  if (st != MS_OK) return st;
  const char *params[5] = { NULL, m->name, m->kind == MS_KIND_LUA ? "lua" : "sql", sum, c->host };
  char v[24];
  snprintf(v, sizeof v, "%" PRId64, m->version);
  params[0] = v;
  ms_buf q = {0};
  ms_buf_printf(&q, "WITH rec AS (INSERT INTO %s (version, name, kind, checksum, duration_ms) "
                "VALUES ($1, $2, $3, $4, 0) RETURNING version, name) INSERT INTO %s "
                "(host, version, name, action, detail) SELECT $5, version, name, '%s', "
                "'recorded as applied without running' FROM rec", c->table_sql, c->history_sql, action);
  PGresult *r = NULL;
  st = ms_conn_query(c, q.data, 5, params, &r);
  PQclear(r);
  ms_buf_free(&q);
  return st;
}

ms_status ms_cmd_repair(ms_ctx *c, const ms_applied *ap, const char *arg) {
  const ms_applied a = *ap;
  int64_t v = 0;
  char vs[32];
  ms_status st = ms_parse_version_arg(c, arg, "repair", &v);
  const ms_applied_row *r = st == MS_OK ? ms_applied_find(&a, v) : NULL;
  if (st == MS_OK) ms_fmt_version(c, v, vs, sizeof vs);
  if (st == MS_OK && (!r || !r->failed_op))
    st = ms_fail(c, MS_EUSAGE, "repair %s: no failed attempt of version %s is recorded; nothing changed", vs, vs);
  if (st == MS_OK) {
    int up = strcmp(r->failed_op, "up") == 0;
    st = exec_fmt(c, up ? FORGET : CLEAR_FAILED, v);
    if (st == MS_OK) {
      ms_tracker_history_note(c, v, r->name, "repair", up ? "failed up forgotten" : "failed down forgotten");
      ms_res_line(c, "repaired %s %s: the failed %s is forgotten; the next %s runs it again", vs, r->name,
             r->failed_op, up ? "up" : "down");
    }
  }
  return st;
}

ms_status ms_cmd_force(ms_ctx *c, const ms_applied *ap, const char *arg) {
  const ms_applied a = *ap;
  int64_t v = 0;
  char vs[32];
  ms_status st = ms_parse_version_arg(c, arg, "force", &v);
  if (st != MS_OK) return st;
  const ms_applied_row *r = ms_applied_find(&a, v);
  ms_migration *m = ms_source_find(c->src, v);
  ms_fmt_version(c, v, vs, sizeof vs);
  if (r && r->failed_op) {
    int up = strcmp(r->failed_op, "up") == 0;
    st = exec_fmt(c, up ? CLEAR_FAILED : FORGET, v);
    if (st == MS_OK) {
      ms_tracker_history_note(c, v, r->name, "force", up ? "failed up recorded as applied"
                                                               : "failed down recorded as rolled back");
      ms_res_line(c, "forced %s %s: recorded as %s", vs, r->name, up ? "applied" : "rolled back");
    }
  } else if (r) {
    st = ms_fail(c, MS_EUSAGE, "force %s: version %s is already applied; nothing changed", vs, vs);
  } else if (m) {
    st = record_applied(c, m, "force");
    if (st == MS_OK) {
      ms_res_line(c, "forced %s %s: recorded as applied without running it", vs, m->name);
    }
  } else {
    st = ms_fail(c, MS_EUSAGE, "force %s: no migration file has version %s; nothing changed", vs, vs);
  }
  return st;
}

ms_status ms_cmd_baseline(ms_ctx *c, const ms_applied *ap, const char *arg) {
  const ms_applied a = *ap;
  int64_t v = 0;
  size_t n = 0;
  ms_status st = ms_parse_version_arg(c, arg, "baseline", &v);
  /* one transaction; a dry run is already inside the session's */
  int own = !c->opts.dry_run;
  if (st == MS_OK && own) st = ms_conn_exec(c, "BEGIN");
  for (size_t i = 0; st == MS_OK && i < c->src->n && c->src->v[i].version <= v; i++) {
    ms_migration *m = &c->src->v[i];
    if (ms_applied_find(&a, m->version)) continue;
    st = record_applied(c, m, "baseline");
    if (st == MS_OK) {
      char vs[32];
      ms_fmt_version(c, m->version, vs, sizeof vs);
      ms_res_line(c, "baselined %s %s", vs, m->name);
      n++;
    }
  }
  if (st == MS_OK && own) st = ms_conn_exec(c, "COMMIT");
  else if (st != MS_OK && own) ms_conn_recover(c);
  if (st == MS_OK) ms_res_line(c, "%zu migration%s recorded as applied without running", n, n == 1 ? "" : "s");
  return st;
}

ms_status ms_cmd_accept(ms_ctx *c, const ms_applied *ap, const char *const *args, int nargs) {
  const ms_applied a = *ap;
  ms_status st = nargs > 0 ? MS_OK : ms_fail(c, MS_EUSAGE, "usage: moonshift accept VERSION...");
  int64_t *vs = calloc(nargs > 0 ? (size_t)nargs : 1, sizeof *vs);
  if (!vs) return ms_fail(c, MS_EFAILED, "out of memory");
  for (int i = 0; st == MS_OK && i < nargs; i++) st = ms_parse_version_arg(c, args[i], "accept", &vs[i]);
  /* check every version first: all or nothing */
  for (int i = 0; st == MS_OK && i < nargs; i++) {
    const ms_applied_row *r = ms_applied_find(&a, vs[i]);
    ms_migration *m = ms_source_find(c->src, vs[i]);
    if (!r || r->failed_op) st = ms_fail(c, MS_EUSAGE, "accept %s: version %s is not applied; nothing changed", args[i], args[i]);
    else if (!m) st = ms_fail(c, MS_EUSAGE, "accept %s: version %s has no file in %s; nothing changed", args[i], args[i], c->src->dir);
  }
  for (int i = 0; st == MS_OK && i < nargs; i++) {
    const ms_applied_row *r = ms_applied_find(&a, vs[i]);
    ms_migration *m = ms_source_find(c->src, vs[i]);
    const char *sum = NULL;
    char v[24], vt[32];
    st = ms_step_sum(c, m, &sum);
    if (st != MS_OK) break;
    ms_fmt_version(c, vs[i], vt, sizeof vt);
    if (strcmp(sum, r->checksum) == 0) { ms_res_line(c, "accepted %s %s: unchanged", vt, m->name); continue; }
    snprintf(v, sizeof v, "%" PRId64, vs[i]);
    ms_buf q = {0}, detail = {0};
    ms_buf_printf(&detail, "checksum %s -> %s", r->checksum, sum);
    ms_buf_printf(&q, "WITH rec AS (UPDATE %s SET checksum = $2 WHERE version = $1 RETURNING version, name) "
                  "INSERT INTO %s (host, version, name, action, detail) SELECT $3, version, name, "
                  "'accept', $4 FROM rec", c->table_sql, c->history_sql);
    const char *params[4] = { v, sum, c->host, detail.data };
    PGresult *res = NULL;
    st = ms_conn_query(c, q.data, 4, params, &res);
    PQclear(res);
    if (st == MS_OK) ms_res_line(c, "accepted %s %s: %s", vt, m->name, detail.data);
    ms_buf_free(&q);
    ms_buf_free(&detail);
  }
  free(vs);
  return st;
}

/* `moonshift unlock`: releases the lease of a runner that is gone, after
 * watching half a lease for a live owner's renewal. */
ms_status ms_cmd_unlock(ms_ctx *c) {
  ms_status st = MS_OK;
  char *table = ms_lease_table_sql(c);
  if (!table) return ms_fail(c, MS_EFAILED, "out of memory");
  char owner[320], expiry[64], owner2[320], expiry2[64];
  int expired = 0, expired2 = 0;
  double lease_ms = 0, lease2 = 0;
  int found = ms_lease_read(c, table, &st, owner, sizeof owner, &expired, expiry, sizeof expiry, &lease_ms);
  if (st == MS_OK && !found) ms_res_line(c, "no lease is held");
  if (st == MS_OK && found && !expired) {
    /* a live owner renews every third of its lease: watch for half of it */
    double wait = lease_ms / 2;
    ms_report_text(c, MS_EV_INFO, "the lease of %s has not expired; checking for %.1f s whether its "
                   "owner still renews it", owner, wait / 1000);
    ms_sleep_ms((long)wait);
    found = ms_lease_read(c, table, &st, owner2, sizeof owner2, &expired2, expiry2, sizeof expiry2, &lease2);
    if (st == MS_OK && found && (strcmp(owner, owner2) != 0 || strcmp(expiry, expiry2) != 0))
      st = ms_fail(c, MS_ELOCK, "the lease of %s is being renewed: its owner is alive; nothing changed",
                   owner2);
    if (st == MS_OK && !found) ms_res_line(c, "the lease was released meanwhile");
  }
  if (st == MS_OK && found) {
    ms_buf q = {0};
    ms_buf_printf(&q, "DELETE FROM %s WHERE id = 1 AND owner = $1 AND expires_at::text = $2", table);
    const char *params[2] = { owner, expiry };
    PGresult *d = NULL;
    st = ms_conn_query(c, q.data, 2, params, &d);
    int gone = st == MS_OK && atoi(PQcmdTuples(d)) == 1;
    PQclear(d);
    ms_buf_free(&q);
    if (st == MS_OK && gone) {
      ms_tracker_history_note(c, -1, NULL, "unlock", owner);
      ms_res_line(c, "released the lease of %s, whose owner is gone", owner);
    } else if (st == MS_OK) {
      st = ms_fail(c, MS_ELOCK, "the lease changed while it was checked; nothing changed");
    }
  }
  free(table);
  return st;
}

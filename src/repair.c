/* repair.c: the commands that change the tracking table without running a
 * migration: repair (forget a failed attempt), force (accept it as done) and
 * baseline (adopt an existing database: record versions as applied). Each
 * runs under the migration lock. Uses project, tracker, lock and runner. */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "lock.h"
#include "project.h"
#include "runner.h"
#include "source.h"
#include "tracker.h"

/* Opens everything and loads the tracking table under the lock. */
static ms_status open_locked(ms_ctx *c, ms_applied *a) {
  ms_status st = ms_project_scan(c);
  if (st == MS_OK) st = ms_project_connect(c);
  if (st == MS_OK) st = ms_lock_acquire(c);
  if (st == MS_OK) st = ms_tracker_ensure(c);
  if (st == MS_OK) st = ms_tracker_load(c, a);
  return st;
}

static ms_status exec_fmt(ms_ctx *c, const char *fmt, int64_t version) {
  ms_buf q = {0};
  ms_buf_printf(&q, fmt, c->table_sql, version);
  ms_status st = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  return st;
}

#define CLEAR_FAILED "UPDATE %s SET failed_op = NULL, statements_done = NULL, statement_count = NULL, " \
                     "error = NULL, applied_at = clock_timestamp() WHERE version = %" PRId64
#define FORGET "DELETE FROM %s WHERE version = %" PRId64

/* Records m as applied without running it. */
static ms_status record_applied(ms_ctx *c, const ms_migration *m) {
  char sum[65];
  ms_status st = ms_runner_checksum(c, m, sum);
  if (st != MS_OK) return st;
  ms_record rec = { 0, m->version, m->name, m->kind == MS_KIND_LUA ? "lua" : "sql", sum, ms_now_ms() };
  ms_buf q = {0};
  ms_tracker_record_sql(c, &q, &rec, 0);
  st = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  return st;
}

ms_status ms_cmd_repair(ms_ctx *c, const char *arg) {
  ms_applied a = {0};
  int64_t v = 0;
  char vs[32];
  ms_status st = ms_parse_version_arg(c, arg, "repair", &v);
  if (st == MS_OK) st = open_locked(c, &a);
  const ms_applied_row *r = st == MS_OK ? ms_applied_find(&a, v) : NULL;
  if (st == MS_OK) ms_fmt_version(c, v, vs, sizeof vs);
  if (st == MS_OK && (!r || !r->failed_op))
    st = ms_fail(c, MS_EUSAGE, "repair %s: no failed attempt of version %s is recorded; nothing changed", vs, vs);
  if (st == MS_OK) {
    int up = strcmp(r->failed_op, "up") == 0;
    st = exec_fmt(c, up ? FORGET : CLEAR_FAILED, v);
    if (st == MS_OK)
      ms_out("repaired %s %s: the failed %s is forgotten; the next %s runs it again", vs, r->name,
             r->failed_op, up ? "up" : "down");
  }
  ms_applied_free(&a);
  return st;
}

ms_status ms_cmd_force(ms_ctx *c, const char *arg) {
  ms_applied a = {0};
  int64_t v = 0;
  char vs[32];
  ms_status st = ms_parse_version_arg(c, arg, "force", &v);
  if (st == MS_OK) st = open_locked(c, &a);
  if (st != MS_OK) { ms_applied_free(&a); return st; }
  const ms_applied_row *r = ms_applied_find(&a, v);
  const ms_migration *m = ms_source_find(c->src, v);
  ms_fmt_version(c, v, vs, sizeof vs);
  if (r && r->failed_op) {
    int up = strcmp(r->failed_op, "up") == 0;
    st = exec_fmt(c, up ? CLEAR_FAILED : FORGET, v);
    if (st == MS_OK) ms_out("forced %s %s: recorded as %s", vs, r->name, up ? "applied" : "rolled back");
  } else if (r) {
    st = ms_fail(c, MS_EUSAGE, "force %s: version %s is already applied; nothing changed", vs, vs);
  } else if (m) {
    st = record_applied(c, m);
    if (st == MS_OK) ms_out("forced %s %s: recorded as applied without running it", vs, m->name);
  } else {
    st = ms_fail(c, MS_EUSAGE, "force %s: no migration file has version %s; nothing changed", vs, vs);
  }
  ms_applied_free(&a);
  return st;
}

ms_status ms_cmd_baseline(ms_ctx *c, const char *arg) {
  ms_applied a = {0};
  int64_t v = 0;
  size_t n = 0;
  ms_status st = ms_parse_version_arg(c, arg, "baseline", &v);
  if (st == MS_OK) st = open_locked(c, &a);
  if (st == MS_OK) st = ms_conn_exec(c, "BEGIN");
  for (size_t i = 0; st == MS_OK && i < c->src->n && c->src->v[i].version <= v; i++) {
    const ms_migration *m = &c->src->v[i];
    if (ms_applied_find(&a, m->version)) continue;
    st = record_applied(c, m);
    if (st == MS_OK) {
      char vs[32];
      ms_fmt_version(c, m->version, vs, sizeof vs);
      ms_out("baselined %s %s", vs, m->name);
      n++;
    }
  }
  if (st == MS_OK) st = ms_conn_exec(c, "COMMIT");
  else ms_conn_recover(c);
  if (st == MS_OK) ms_out("%zu migration%s recorded as applied without running", n, n == 1 ? "" : "s");
  ms_applied_free(&a);
  return st;
}

/* tracker.c: creates and reads the tracking table and writes the SQL that
 * records a migration, so the runner can send it in the same transaction
 * (and the same round trip) as the migration itself. Uses conn.c. */
#include "tracker.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "conn.h"
#include "pgerr.h"
#include "report.h"

static char *quote_ident(ms_ctx *c, const char *s) {
  char *q = PQescapeIdentifier(c->conn, s, strlen(s));
  char *copy = q ? strdup(q) : NULL;
  PQfreemem(q);
  return copy;
}

ms_status ms_tracker_resolve(ms_ctx *c) {
  const char *spec = c->opts.table && *c->opts.table ? c->opts.table : "moonshift_migrations";
  const char *dot = strchr(spec, '.');
  PGresult *r = NULL;
  if (dot) {
    c->table_schema = strndup(spec, (size_t)(dot - spec));
    c->table_name = strdup(dot + 1);
  } else {
    ms_status st = ms_conn_query(c, "SELECT current_schema()", 0, NULL, &r);
    if (st != MS_OK) return st;
    if (PQgetisnull(r, 0, 0)) {
      PQclear(r);
      return ms_fail(c, MS_EUSAGE, "no schema to hold the tracking table: search_path names no "
                     "existing schema; give --table SCHEMA.NAME");
    }
    c->table_schema = strdup(PQgetvalue(r, 0, 0));
    c->table_name = strdup(spec);
    PQclear(r);
  }
  if (!c->table_schema || !c->table_name || !*c->table_schema || !*c->table_name)
    return ms_fail(c, MS_EUSAGE, "bad tracking table name '%s': expected [schema.]name", spec);
  /* the history table: moonshift_history beside the default tracking
   * table, else <name>_history */
  ms_buf h = {0};
  if (strcmp(c->table_name, "moonshift_migrations") == 0) ms_buf_puts(&h, "moonshift_history");
  else ms_buf_printf(&h, "%s_history", c->table_name);
  c->history_name = h.data;
  char *qs = quote_ident(c, c->table_schema), *qn = quote_ident(c, c->table_name);
  char *qh = c->history_name ? quote_ident(c, c->history_name) : NULL;
  ms_buf b = {0}, hb = {0};
  if (qs && qn && qh) {
    ms_buf_printf(&b, "%s.%s", qs, qn);
    ms_buf_printf(&hb, "%s.%s", qs, qh);
  }
  free(qs);
  free(qn);
  free(qh);
  c->table_sql = b.data;
  c->history_sql = hb.data;
  if (!c->table_sql || !c->history_sql) return ms_fail(c, MS_EFAILED, "out of memory");
  if (gethostname(c->host, sizeof c->host - 1) != 0) strcpy(c->host, "unknown");
  return MS_OK;
}

void ms_applied_free(ms_applied *a) {
  PQclear(a->res);
  free(a->v);
  a->v = NULL;
  a->res = NULL;
  a->n = 0;
}

const ms_applied_row *ms_applied_find(const ms_applied *a, int64_t version) {
  size_t lo = 0, hi = a->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a->v[mid].version == version) return &a->v[mid];
    if (a->v[mid].version < version) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

/* Seconds since 1970 as YYYY-MM-DDTHH:MM:SSZ (UTC, fraction dropped). */
static void format_utc(double epoch, char *out, size_t n) {
  time_t t = (time_t)floor(epoch);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) snprintf(out, n, "?");
}

ms_status ms_tracker_load(ms_ctx *c, ms_applied *out) {
  ms_buf q = {0};
  PGresult *r = NULL;
  memset(out, 0, sizeof *out);
  /* applied_at comes as a number and is formatted here: to_char and a
   * window function for the order tripled the server's time on this query */
  ms_buf_printf(&q,
    "SELECT version, name, kind, checksum, pg_catalog.date_part('epoch', applied_at), duration_ms, applied_by, "
    "failed_op, coalesce(statements_done, -1), coalesce(statement_count, -1), error, "
    "statement_hashes::text FROM %s ORDER BY version", c->table_sql);
  PGresult *raw = PQexec(c->conn, q.data);
  ms_buf_free(&q);
  if (!ms_pg_ok(raw)) {
    ms_status st = ms_pg_no_table(raw) ? MS_OK : ms_conn_report(c, raw);
    PQclear(raw);
    return st;
  }
  r = raw;
  int n = PQntuples(r);
  out->v = calloc(n ? (size_t)n : 1, sizeof *out->v);
  if (!out->v) { PQclear(r); return ms_fail(c, MS_EFAILED, "out of memory"); }
  out->res = r;
  for (int i = 0; i < n; i++) {
    ms_applied_row *row = &out->v[i];
    row->version = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    row->name = PQgetvalue(r, i, 1);
    row->kind = PQgetvalue(r, i, 2);
    row->checksum = PQgetvalue(r, i, 3);
    row->applied_epoch = strtod(PQgetvalue(r, i, 4), NULL);
    format_utc(row->applied_epoch, row->at, sizeof row->at);
    row->applied_at = row->at;
    row->duration_ms = atoi(PQgetvalue(r, i, 5));
    row->applied_by = PQgetvalue(r, i, 6);
    row->failed_op = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7);
    row->statements_done = atoi(PQgetvalue(r, i, 8));
    row->statement_count = atoi(PQgetvalue(r, i, 9));
    row->error = PQgetisnull(r, i, 10) ? NULL : PQgetvalue(r, i, 10);
    row->statement_hashes = PQgetisnull(r, i, 11) ? NULL : PQgetvalue(r, i, 11);
    out->n++;
  }
  return MS_OK;
}

ms_status ms_tracker_ensure(ms_ctx *c) {
  const char *params[3] = { c->table_schema, c->table_name, c->history_name };
  PGresult *r = NULL;
  ms_status st = ms_conn_query(c,
    "SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1), "
    "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n "
    " ON n.oid = k.relnamespace WHERE n.nspname = $1 AND k.relname = $2), "
    "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n "
    " ON n.oid = k.relnamespace WHERE n.nspname = $1 AND k.relname = $3)", 3, params, &r);
  if (st != MS_OK) return st;
  int has_schema = atoi(PQgetvalue(r, 0, 0)) > 0, has_table = atoi(PQgetvalue(r, 0, 1)) > 0;
  int has_history = atoi(PQgetvalue(r, 0, 2)) > 0;
  PQclear(r);
  if (has_table && has_history) return MS_OK;
  ms_buf q = {0};
  if (!has_schema) {
    char *qs = quote_ident(c, c->table_schema);
    ms_buf_printf(&q, "CREATE SCHEMA IF NOT EXISTS %s;\n", qs ? qs : "");
    free(qs);
  }
  if (!has_table)
    ms_buf_printf(&q,
      "CREATE TABLE %s (\n"
      "  version bigint PRIMARY KEY,\n"
      "  name text NOT NULL,\n"
      "  kind text NOT NULL CHECK (kind IN ('sql', 'lua')),\n"
      "  checksum text NOT NULL,\n"
      "  applied_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),\n"
      "  duration_ms integer NOT NULL,\n"
      "  applied_by text NOT NULL DEFAULT current_user,\n"
      "  failed_op text CHECK (failed_op IN ('up', 'down')),\n"
      "  statements_done integer,\n"
      "  statement_count integer,\n"
      "  statement_hashes text[],\n"
      "  error text\n);\n", c->table_sql);
  if (!has_history)
    ms_buf_printf(&q,
      "CREATE TABLE %s (\n"
      "  id bigserial PRIMARY KEY,\n"
      "  at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),\n"
      "  who text NOT NULL DEFAULT current_user,\n"
      "  host text,\n"
      "  version bigint,\n"
      "  name text,\n"
      "  action text NOT NULL,\n"
      "  duration_ms integer,\n"
      "  error text,\n"
      "  detail text\n)", c->history_sql);
  st = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  if (st != MS_OK) {
    char *why = c->err ? strdup(c->err) : NULL;
    st = ms_fail(c, st, "cannot create the tracking tables in schema %s: %s", c->table_schema,
                 why ? why : "unknown error");
    free(why);
  }
  return st;
}

static void add_literal(ms_ctx *c, ms_buf *b, const char *s) {
  char *q = PQescapeLiteral(c->conn, s, strlen(s));
  if (q) ms_buf_puts(b, q); else b->oom = 1;
  PQfreemem(q);
}

const ms_applied_row *ms_applied_failed(const ms_applied *a) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].failed_op) return &a->v[i];
  return NULL;
}

int ms_applied_resumable(const ms_applied_row *r) {
  return r->failed_op && strcmp(r->failed_op, "up") == 0 && strcmp(r->kind, "sql") == 0 &&
         r->statements_done >= 0 && r->statement_hashes != NULL;
}

ms_status ms_tracker_mark_failed(ms_ctx *c, int64_t version, const char *name, const char *kind,
                                 const char *checksum, const char *op, int done, int total,
                                 const char *hashes, const char *error) {
  char v[24], d[16], t[16];
  const char *params[9] = { v, name, kind, checksum, op, d, t, error, hashes };
  snprintf(v, sizeof v, "%" PRId64, version);
  snprintf(d, sizeof d, "%d", done);
  snprintf(t, sizeof t, "%d", total);
  if (done < 0) params[5] = NULL;
  if (total < 0) params[6] = NULL;
  ms_buf q = {0};
  ms_buf_printf(&q,
    "INSERT INTO %s AS t (version, name, kind, checksum, duration_ms, failed_op, statements_done, "
    "statement_count, error, statement_hashes) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9) "
    "ON CONFLICT (version) DO UPDATE SET failed_op = $5, statements_done = $6, "
    "statement_count = $7, error = $8, statement_hashes = $9, applied_at = pg_catalog.clock_timestamp()",
    c->table_sql);
  PGresult *r = NULL;
  char *keep = c->err ? strdup(c->err) : NULL;
  ms_status st = ms_conn_query(c, q.data, 9, params, &r);
  ms_buf_free(&q);
  PQclear(r);
  if (st == MS_OK) { free(c->err); c->err = keep; }
  else free(keep);
  return st;
}

/* Appends the INSERT of a history row whose version and name come from the
 * CTE "rec" (so it is written only with its tracking change), then the
 * statement's last line of defence: it divides by the number of tracking
 * rows changed, so when another runner recorded this version first (two
 * runners that did not share a lock) it fails with division_by_zero and the
 * migration's transaction rolls back with it. */
static void history_from_rec(ms_ctx *c, ms_buf *b, const char *action, const char *duration) {
  /* a dry run writes no history: its sequence would advance even though the
   * rehearsal is rolled back */
  if (!c->opts.dry_run) {
    ms_buf_printf(b, ", hist AS (INSERT INTO %s (host, version, name, action, duration_ms) SELECT ", c->history_sql);
    add_literal(c, b, c->host);
    ms_buf_printf(b, ", version, name, '%s', %s FROM rec)", action, duration);
  }
  ms_buf_puts(b, " SELECT pg_catalog.int4div(1, pg_catalog.count(*)::integer) FROM rec");
}

ms_status ms_tracker_census(ms_ctx *c, int64_t version, long *rows) {
  char v[24];
  const char *params[3] = { c->table_sql, c->history_sql, v };
  snprintf(v, sizeof v, "%" PRId64, version);
  PGresult *r = NULL;
  *rows = -1;
  /* as moonshift's own user: a migration may have set a role that cannot read them */
  ms_status st = ms_conn_as_self_begin(c);
  if (st != MS_OK) return st;
  st = ms_conn_query(c, "SELECT pg_catalog.to_regclass($1) IS NOT NULL AND "
                               "pg_catalog.to_regclass($2) IS NOT NULL", 2, params, &r);
  int there = st == MS_OK && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (st == MS_OK && there) {
    ms_buf q = {0};
    ms_buf_printf(&q, "SELECT pg_catalog.count(*) FROM %s WHERE version <> $1", c->table_sql);
    r = NULL;
    st = ms_conn_query(c, q.data, 1, params + 2, &r);
    if (st == MS_OK) *rows = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    ms_buf_free(&q);
  }
  return ms_conn_as_self_end(c, st);
}

int ms_tracker_done_elsewhere(ms_ctx *c, int64_t version, int down) {
  char v[24];
  const char *params[1] = { v };
  snprintf(v, sizeof v, "%" PRId64, version);
  ms_buf q = {0};
  ms_buf_printf(&q, "SELECT pg_catalog.count(*) FROM %s WHERE version = $1 AND failed_op IS NULL", c->table_sql);
  char *keep = c->err ? strdup(c->err) : NULL;
  PGresult *r = NULL;
  int found = -1;
  if (ms_conn_query(c, q.data, 1, params, &r) == MS_OK) found = atoi(PQgetvalue(r, 0, 0)) > 0;
  PQclear(r);
  ms_buf_free(&q);
  free(c->err);
  c->err = keep;
  return found < 0 ? 0 : down ? !found : found;
}

void ms_tracker_record_sql(ms_ctx *c, ms_buf *b, const ms_record *r, int in_tx) {
  char duration[96];
  if (in_tx) snprintf(duration, sizeof duration, "(extract(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.now()) * 1000)::integer");
  else snprintf(duration, sizeof duration, "%ld", (long)(ms_now_ms() - r->t0));
  /* one statement (it may be pipelined): the tracking change, and the
   * history row through a data-modifying CTE */
  if (r->down) {
    ms_buf_printf(b, "WITH rec AS (DELETE FROM %s WHERE version = %" PRId64 " RETURNING version, name)",
                  c->table_sql, r->version);
    history_from_rec(c, b, "down", duration);
    return;
  }
  ms_buf_printf(b, "WITH rec AS (INSERT INTO %s AS t (version, name, kind, checksum, duration_ms) "
                "VALUES (%" PRId64 ", ", c->table_sql, r->version);
  add_literal(c, b, r->name);
  ms_buf_printf(b, ", '%s', ", r->kind);
  add_literal(c, b, r->checksum);
  ms_buf_printf(b, ", %s)", duration);
  /* a retried migration replaces the row its failed attempt left */
  ms_buf_puts(b, " ON CONFLICT (version) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
              "checksum = excluded.checksum, duration_ms = excluded.duration_ms, "
              "applied_at = pg_catalog.clock_timestamp(), applied_by = current_user, failed_op = NULL, "
              "statements_done = NULL, statement_count = NULL, statement_hashes = NULL, error = NULL "
              "WHERE t.failed_op IS NOT NULL RETURNING version, name)");
  history_from_rec(c, b, "up", duration);
}

char *ms_tracker_history(ms_ctx *c, int64_t version, const char *name, const char *action,
                         long duration_ms, const char *error, const char *detail) {
  char v[24], d[24];
  const char *params[7] = { c->host, v, name, action, d, error, detail };
  snprintf(v, sizeof v, "%" PRId64, version);
  snprintf(d, sizeof d, "%ld", duration_ms);
  if (version < 0) params[1] = NULL;
  if (duration_ms < 0) params[4] = NULL;
  ms_buf q = {0};
  ms_buf_printf(&q, "INSERT INTO %s (host, version, name, action, duration_ms, error, detail) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)", c->history_sql);
  char *keep = c->err ? strdup(c->err) : NULL;
  PGresult *r = NULL;
  ms_buf warn = {0};
  if (ms_conn_query(c, q.data, 7, params, &r) != MS_OK)
    ms_buf_printf(&warn, "warning: could not write the history row (%s %s): %s", action,
                  name ? name : "", c->err ? c->err : "unknown error");
  PQclear(r);
  free(c->err);
  c->err = keep;
  ms_buf_free(&q);
  return warn.data;
}

void ms_tracker_history_note(ms_ctx *c, int64_t version, const char *name, const char *action,
                             const char *detail) {
  char *warn = ms_tracker_history(c, version, name, action, -1, NULL, detail);
  if (warn) ms_report_text(c, MS_EV_WARNING, "%s", strncmp(warn, "warning: ", 9) == 0 ? warn + 9 : warn);
  free(warn);
}

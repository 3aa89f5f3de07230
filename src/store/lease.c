/* lease.c: the table lease lock for connections through a transaction
 * pooler (PgBouncer), where a session advisory lock may be held by a server
 * connection other clients then use. Every statement here is a transaction
 * of its own. The lease row says who holds it and until when; a renewer
 * thread with its own connection pushes the expiry forward every third of
 * the lease, so a crashed runner blocks others for one lease at most. */
#include "lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "wait.h"
#include "pgerr.h"

typedef struct lease {
  char owner[320];       /* host:pid:random */
  char seconds[32];      /* the lease length, as SQL text */
  char *table_sql;       /* quoted, qualified lease table */
  PGconn *conn;          /* the renewer's own connection */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop, lost, running;
  char why[256];         /* why the lease was lost */
} lease;

char *ms_lease_table_sql(ms_ctx *c) {
  ms_buf name = {0}, q = {0};
  if (strcmp(c->table_name, "moonshift_migrations") == 0) ms_buf_puts(&name, "moonshift_lock");
  else ms_buf_printf(&name, "%s_lock", c->table_name);
  char *qs = PQescapeIdentifier(c->conn, c->table_schema, strlen(c->table_schema));
  char *qn = name.data ? PQescapeIdentifier(c->conn, name.data, name.len) : NULL;
  if (qs && qn) ms_buf_printf(&q, "%s.%s", qs, qn);
  PQfreemem(qs);
  PQfreemem(qn);
  ms_buf_free(&name);
  return q.data;
}

/* Creates the schema and lease table if missing; a concurrent creator's
 * win (duplicate object) is fine. */
static ms_status ensure_table(ms_ctx *c, const char *table) {
  const char *params[1] = { table };
  PGresult *r = NULL;
  ms_status st = ms_conn_query(c, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, params, &r);
  int exists = st == MS_OK && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (st != MS_OK || exists) return st;
  ms_buf q = {0};
  char *qs = PQescapeIdentifier(c->conn, c->table_schema, strlen(c->table_schema));
  ms_buf_printf(&q, "CREATE SCHEMA IF NOT EXISTS %s; "
                "CREATE TABLE IF NOT EXISTS %s (id integer PRIMARY KEY CHECK (id = 1), "
                "owner text NOT NULL, host text, acquired_at timestamptz NOT NULL, "
                "expires_at timestamptz NOT NULL, lease interval NOT NULL)", qs ? qs : "public", table);
  PQfreemem(qs);
  ms_conn_notices(c, 0);   /* "already exists, skipping" is expected */
  r = PQexec(c->conn, q.data);
  ms_conn_notices(c, 1);
  ms_buf_free(&q);
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  int raced = state && (strcmp(state, MS_SQLSTATE_UNIQUE_VIOLATION) == 0 ||
                        strcmp(state, MS_SQLSTATE_DUPLICATE_TABLE) == 0 ||
                        strcmp(state, MS_SQLSTATE_DUPLICATE_OBJECT) == 0 ||
                        strcmp(state, MS_SQLSTATE_DUPLICATE_SCHEMA) == 0);
  st = ms_pg_ok(r) || raced ? MS_OK : ms_conn_report(c, r);
  PQclear(r);
  return st;
}

static void *renewer(void *arg) {
  ms_ctx *c = arg;
  lease *l = c->lease;
  ms_buf q = {0};
  ms_buf_printf(&q, "UPDATE %s SET expires_at = pg_catalog.clock_timestamp() + $2::interval WHERE id = 1 "
                "AND owner = $1 RETURNING 1", l->table_sql);
  const char *params[2] = { l->owner, l->seconds };
  double every = atof(l->seconds) * 1000 / 3;
  pthread_mutex_lock(&l->mu);
  while (!l->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)((every - (long)(every / 1000) * 1000) * 1e6);
    until.tv_sec += (time_t)(every / 1000) + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&l->cv, &l->mu, &until);
    if (l->stop) break;
    pthread_mutex_unlock(&l->mu);
    PGresult *r = PQexecParams(l->conn, q.data, 2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    const char *err = ok ? "" : PQresultStatus(r) == PGRES_TUPLES_OK ? "another runner took it over"
                                                                      : PQerrorMessage(l->conn);
    pthread_mutex_lock(&l->mu);
    if (!ok && !l->lost) {
      l->lost = 1;
      snprintf(l->why, sizeof l->why, "%s", err);
    }
    PQclear(r);
  }
  pthread_mutex_unlock(&l->mu);
  ms_buf_free(&q);
  return NULL;
}

/* One attempt: returns 1 when the lease is ours. */
static int try_take(ms_ctx *c, void *ud, ms_status *st) {
  lease *l = ud;
  ms_buf q = {0};
  ms_buf_printf(&q, "INSERT INTO %s AS l (id, owner, host, acquired_at, expires_at, lease) VALUES "
                "(1, $1, $2, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp() + $3::interval, $3::interval) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, "
                "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, "
                "lease = excluded.lease "
                "WHERE l.expires_at < pg_catalog.clock_timestamp() OR l.owner = excluded.owner RETURNING 1",
                l->table_sql);
  const char *params[3] = { l->owner, c->host, l->seconds };
  PGresult *r = NULL;
  *st = ms_conn_query(c, q.data, 3, params, &r);
  ms_buf_free(&q);
  int got = *st == MS_OK && PQntuples(r) == 1;
  PQclear(r);
  /* a runner with the advisory lock excludes a lease, and the other way
   * round (lock.c): give the lease back and wait */
  if (got && ms_wait_advisory_held(c, st)) {
    ms_buf d = {0};
    ms_buf_printf(&d, "DELETE FROM %s WHERE id = 1 AND owner = $1", l->table_sql);
    const char *owner[1] = { l->owner };
    PQclear(PQexecParams(c->conn, d.data, 1, NULL, owner, NULL, NULL, 0));
    ms_buf_free(&d);
    got = 0;
  }
  return *st == MS_OK && got;
}

int ms_lease_live(ms_ctx *c, ms_status *st) {
  char *table = ms_lease_table_sql(c);
  if (!table) { *st = ms_fail(c, MS_EFAILED, "out of memory"); return 0; }
  const char *params[1] = { table };
  PGresult *r = NULL;
  int live = 0;
  *st = ms_conn_query(c, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, params, &r);
  int exists = *st == MS_OK && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (exists) {
    ms_buf q = {0};
    ms_buf_printf(&q, "SELECT pg_catalog.count(*) FROM %s WHERE id = 1 AND expires_at > pg_catalog.clock_timestamp()", table);
    r = NULL;
    *st = ms_conn_query(c, q.data, 0, NULL, &r);
    live = *st == MS_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    ms_buf_free(&q);
  }
  free(table);
  return live;
}

/* Says who holds the lease: its owner on the line, and with -v since when
 * and when it expires unless renewed. */
static void show_holder(ms_ctx *c, void *ud, double waited_ms) {
  const lease *l = ud;
  ms_buf q = {0};
  ms_buf_printf(&q, "SELECT owner, coalesce(host, '?'), pg_catalog.to_char(acquired_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), pg_catalog.round(extract(epoch FROM expires_at - pg_catalog.clock_timestamp()))::int "
                "FROM %s WHERE id = 1", l->table_sql);
  PGresult *r = NULL;
  if (ms_conn_query(c, q.data, 0, NULL, &r) == MS_OK && PQntuples(r) == 1) {
    ms_buf what = {0}, detail = {0};
    ms_buf_printf(&what, "lease held by %s", PQgetvalue(r, 0, 0));
    ms_buf_printf(&detail, "owner %s on host %s since %s, expires in %s s unless renewed",
                  PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    ms_wait_report(c, what.data ? what.data : "lease", waited_ms, detail.data);
    ms_buf_free(&what);
    ms_buf_free(&detail);
  }
  PQclear(r);
  ms_buf_free(&q);
}

static void lease_free(ms_ctx *c) {
  lease *l = c->lease;
  if (!l) return;
  if (l->conn) PQfinish(l->conn);
  free(l->table_sql);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  free(l);
  c->lease = NULL;
}

ms_status ms_lease_acquire(ms_ctx *c) {
  lease *l = calloc(1, sizeof *l);
  if (!l) return ms_fail(c, MS_EFAILED, "out of memory");
  c->lease = l;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  char id[17];
  if (ms_random_hex(id, sizeof id) != 0) { lease_free(c); return ms_fail(c, MS_EFAILED, "cannot read /dev/urandom"); }
  /* unique whatever the host name and pid (containers share both) */
  snprintf(l->owner, sizeof l->owner, "%s:%d:%s", c->host, (int)getpid(), id);
  snprintf(l->seconds, sizeof l->seconds, "%.3f seconds", c->opts.lock_lease);
  l->table_sql = ms_lease_table_sql(c);
  if (!l->table_sql) { lease_free(c); return ms_fail(c, MS_EFAILED, "out of memory"); }
  ms_status st = ensure_table(c, l->table_sql);
  if (st == MS_OK) st = ms_wait_poll(c, try_take, show_holder, l, "lease");
  if (st == MS_ELOCK) {
    char *why = c->err ? strdup(c->err) : NULL;
    st = ms_fail(c, st, "%s (see `moonshift unlock` if that run is gone)", why ? why : "lock timeout");
    free(why);
  }
  if (st == MS_OK) st = ms_conn_connect(c, "moonshift lease renewer", &l->conn);
  if (st == MS_OK && pthread_create(&l->thread, NULL, renewer, c) != 0)
    st = ms_fail(c, MS_EFAILED, "cannot start the lease renewer: %s", strerror(errno));
  if (st != MS_OK) { lease_free(c); return st; }
  l->running = 1;
  c->locked = 1;
  return MS_OK;
}

int ms_lease_fence_sql(ms_ctx *c, ms_buf *b) {
  lease *l = c->lease;
  if (!l) return 0;
  char *owner = PQescapeLiteral(c->conn, l->owner, strlen(l->owner));
  if (!owner) { b->oom = 1; return 0; }
  ms_buf_printf(b, "DO $moonshift$ BEGIN IF NOT EXISTS (SELECT 1 FROM %s WHERE id = 1 AND owner = %s "
                "FOR UPDATE) THEN RAISE EXCEPTION 'moonshift lost its migration lease to another runner' "
                "USING ERRCODE = '" MS_SQLSTATE_LOCK_LOST "'; "
                "END IF; END $moonshift$", l->table_sql, owner);
  PQfreemem(owner);
  return 1;
}

ms_status ms_lease_check(ms_ctx *c) {
  lease *l = c->lease;
  if (!l) return MS_OK;
  pthread_mutex_lock(&l->mu);
  int lost = l->lost;
  char why[256];
  snprintf(why, sizeof why, "%s", l->why);
  pthread_mutex_unlock(&l->mu);
  return lost ? ms_fail(c, MS_ELOCK, "lost the migration lease (%s); stopping before the next "
                        "migration", why) : MS_OK;
}

void ms_lease_release(ms_ctx *c) {
  lease *l = c->lease;
  if (!l) return;
  if (l->running) {
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (c->conn && PQstatus(c->conn) == CONNECTION_OK) {
    ms_buf q = {0};
    ms_buf_printf(&q, "DELETE FROM %s WHERE id = 1 AND owner = $1", l->table_sql);
    const char *params[1] = { l->owner };
    PQclear(PQexecParams(c->conn, q.data, 1, NULL, params, NULL, NULL, 0));
    ms_buf_free(&q);
  }
  c->locked = 0;
  lease_free(c);
}

/* Reads the lease row: owner, whether it expired, its expiry as text, and
 * the lease length in ms. Returns 0 when there is none. */
int ms_lease_read(ms_ctx *c, const char *table, ms_status *st, char *owner, size_t n,
                      int *expired, char *expiry, size_t en, double *lease_ms) {
  ms_buf q = {0};
  ms_buf_printf(&q, "SELECT owner, expires_at < pg_catalog.clock_timestamp(), expires_at::text, "
                "extract(epoch FROM lease) * 1000 FROM %s WHERE id = 1", table);
  PGresult *r = PQexec(c->conn, q.data);
  ms_buf_free(&q);
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  int found = 0;
  *st = MS_OK;
  if (!ms_pg_ok(r)) {
    if (!state || strcmp(state, MS_SQLSTATE_UNDEFINED_TABLE) != 0) *st = ms_conn_report(c, r);
  } else if (PQntuples(r) == 1) {
    found = 1;
    snprintf(owner, n, "%s", PQgetvalue(r, 0, 0));
    *expired = PQgetvalue(r, 0, 1)[0] == 't';
    snprintf(expiry, en, "%s", PQgetvalue(r, 0, 2));
    *lease_ms = atof(PQgetvalue(r, 0, 3));
  }
  PQclear(r);
  return found;
}

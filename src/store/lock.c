/* lock.c: the session advisory lock that serialises migration runs. Waiters
 * poll pg_try_advisory_lock instead of blocking inside pg_advisory_lock, so a
 * waiter never holds a transaction that a CREATE INDEX CONCURRENTLY run by
 * the holder would wait for. Uses conn.c for queries. */
#include "lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "checksum.h"
#include "conn.h"
#include "lease.h"
#include "pgerr.h"
#include "wait.h"
#include "report.h"

int64_t ms_lock_key(const char *schema, const char *name) {
  ms_buf b = {0};
  unsigned char d[32];
  uint64_t k = 0;
  ms_buf_printf(&b, "moonshift:%s.%s", schema, name);
  ms_sha256_raw(b.data, b.len, d);
  ms_buf_free(&b);
  for (int i = 0; i < 8; i++) k = (k << 8) | d[i];
  return (int64_t)k;
}

/* Says who holds the lock (pg_locks joined with pg_stat_activity). */
static void show_holder(ms_ctx *c, void *ud, double waited_ms) {
  static const char *q =
    "SELECT a.pid, coalesce(nullif(a.application_name, ''), '-'), coalesce(a.state, '-'), "
    "regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g') "
    "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid = (($1::bigint >> 32) & 4294967295)::oid "
    "AND l.objid = ($1::bigint & 4294967295)::oid";
  const char *key = ud;
  PGresult *r = NULL;
  if (ms_conn_query(c, q, 1, &key, &r) != MS_OK) return;
  if (PQntuples(r) == 0) ms_wait_report(c, "lock", waited_ms, NULL);
  for (int i = 0; i < PQntuples(r); i++) {
    char what[80];
    snprintf(what, sizeof what, "lock: pid %s (%s, %s)", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
             PQgetvalue(r, i, 2));
    ms_wait_report(c, what, waited_ms, PQgetvalue(r, i, 3));
  }
  PQclear(r);
}

static int try_advisory(ms_ctx *c, void *ud, ms_status *st) {
  const char *params[1] = { ud };
  PGresult *r = NULL;
  *st = ms_conn_query(c, "SELECT pg_catalog.pg_try_advisory_lock($1::bigint)", 1, params, &r);
  int got = *st == MS_OK && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  /* a live lease (a runner with --lock=table) excludes the advisory lock */
  if (got && ms_lease_live(c, st)) {
    r = NULL;
    if (ms_conn_query(c, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", 1, params, &r) == MS_OK) PQclear(r);
    got = 0;
  }
  return *st == MS_OK && got;
}

int ms_lock_fence_sql(ms_ctx *c, ms_buf *b) {
  if (c->opts.lock_mode == MS_LOCK_TABLE) return ms_lease_fence_sql(c, b);
  if (!c->locked) return 0;
  uint64_t k = (uint64_t)c->lock_key;
  ms_buf_printf(b, "DO $moonshift$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE "
                "locktype = 'advisory' AND granted AND pid = pg_catalog.pg_backend_pid() AND objsubid = 1 "
                "AND classid = %" PRIu64 " AND objid = %" PRIu64 ") THEN RAISE EXCEPTION 'moonshift lost its "
                "migration lock (did a migration run DISCARD ALL or pg_advisory_unlock_all()?)' USING ERRCODE "
                "= '" MS_SQLSTATE_LOCK_LOST "'; END IF; END $moonshift$", k >> 32, k & 0xffffffffu);
  return 1;
}

/* Through a pooler, libpq's backend PID (PgBouncer's own cancel key) is not
 * the server's: a session advisory lock may then outlive our transaction on
 * a server connection that other clients share. */
static ms_status refuse_pooler(ms_ctx *c) {
  PGresult *r = NULL;
  ms_status st = ms_conn_query(c, "SELECT pg_catalog.pg_backend_pid()", 0, NULL, &r);
  if (st != MS_OK) return st;
  int server_pid = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  if (server_pid == PQbackendPID(c->conn)) return MS_OK;
  return ms_fail(c, MS_EUSAGE, "this connection goes through a connection pooler (PgBouncer?), where a "
                 "session advisory lock is not safe in transaction pooling; use --lock=table (or "
                 "--lock=advisory if the pooler runs in session mode)");
}

ms_status ms_lock_acquire(ms_ctx *c) {
  if (c->opts.lock_mode == MS_LOCK_TABLE) return ms_lease_acquire(c);
  if (c->opts.lock_mode == MS_LOCK_AUTO) {
    ms_status st = refuse_pooler(c);
    if (st != MS_OK) return st;
  }
  char key[24], what[64];
  snprintf(key, sizeof key, "%" PRId64, c->lock_key);
  snprintf(what, sizeof what, "lock (key %s)", key);
  ms_status st = ms_wait_poll(c, try_advisory, show_holder, key, what);
  if (st == MS_OK) c->locked = 1;
  return st;
}

ms_status ms_lock_check(ms_ctx *c) {
  return c->opts.lock_mode == MS_LOCK_TABLE ? ms_lease_check(c) : MS_OK;
}

void ms_lock_release(ms_ctx *c) {
  if (c->opts.lock_mode == MS_LOCK_TABLE) { ms_lease_release(c); return; }
  char key[24];
  const char *params[1] = { key };
  PGresult *r = NULL;
  snprintf(key, sizeof key, "%" PRId64, c->lock_key);
  c->locked = 0;
  if (PQstatus(c->conn) != CONNECTION_OK) return;
  ms_conn_notices(c, 0);   /* "you don't own a lock" when a migration released it */
  if (ms_conn_query(c, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", 1, params, &r) == MS_OK)
    PQclear(r);
  ms_conn_notices(c, 1);
}

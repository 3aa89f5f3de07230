/* lock.c: the session advisory lock that serialises migration runs. Waiters
 * poll pg_try_advisory_lock instead of blocking inside pg_advisory_lock, so a
 * waiter never holds a transaction that a CREATE INDEX CONCURRENTLY run by
 * the holder would wait for. Uses conn.c for queries. */
#include "lock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "buf.h"
#include "checksum.h"
#include "conn.h"
#include "lease.h"

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

static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

/* Prints who holds the lock (pg_locks joined with pg_stat_activity). */
static void show_holder(ms_ctx *c, const char *key) {
  static const char *q =
    "SELECT a.pid, coalesce(nullif(a.application_name, ''), '-'), "
    "coalesce(host(a.client_addr), 'local'), "
    "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "coalesce(a.state, '-'), left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120) "
    "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid = (($1::bigint >> 32) & 4294967295)::oid "
    "AND l.objid = ($1::bigint & 4294967295)::oid";
  PGresult *r = NULL;
  if (ms_conn_query(c, q, 1, &key, &r) != MS_OK) return;
  if (PQntuples(r) == 0)
    fprintf(stderr, "moonshift: waiting for the migration lock (key %s)\n", key);
  for (int i = 0; i < PQntuples(r); i++)
    fprintf(stderr, "moonshift: waiting for the migration lock (key %s) held by pid %s "
            "(application %s, client %s, connected since %s, %s: %s)\n", key,
            PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
            PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
  PQclear(r);
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
  char key[24];
  const char *params[1] = { key };
  snprintf(key, sizeof key, "%" PRId64, c->lock_key);
  double start = ms_now_ms(), next_report = start + 2000;
  long delay = 20;
  for (;;) {
    PGresult *r = NULL;
    ms_status st = ms_conn_query(c, "SELECT pg_catalog.pg_try_advisory_lock($1::bigint)", 1, params, &r);
    if (st != MS_OK) return st;
    int got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (got) { c->locked = 1; return MS_OK; }
    double now = ms_now_ms();
    if (c->opts.lock_timeout >= 0 && now - start >= c->opts.lock_timeout * 1000)
      return ms_fail(c, MS_ELOCK, "could not take the migration lock (key %s) within %gs; "
                     "another moonshift run holds it", key, c->opts.lock_timeout);
    if (now >= next_report) {
      show_holder(c, key);
      next_report = now + 5000;
    }
    sleep_ms(delay + rand() % (delay / 2 + 1));
    if (delay < 1000) delay *= 2;
  }
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
  if (ms_conn_query(c, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", 1, params, &r) == MS_OK)
    PQclear(r);
}

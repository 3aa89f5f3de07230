/* conn.c: opens the libpq connection (PQconnectdbParams with expand_dbname,
 * so URLs and conninfo strings both work), routes server notices to the reporter,
 * runs internal queries, and reports failures with passwords masked (mask.c). */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "mask.h"
#include "pgerr.h"
#include "report.h"

/* Server notices go to the reporter as the server words them, except those
 * of a session that is going away (shutdown, lost connection): that is
 * reported once, as moonshift's own error. */
static void notice(void *arg, const PGresult *r) {
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (ms_sqlstate_connection_lost(state)) return;
  ms_event e = { .kind = MS_EV_NOTICE, .text = PQresultErrorMessage(r) };
  ms_report(arg, &e);
}

const char *const ms_conn_identity_sql[] = { "RESET SESSION AUTHORIZATION", "RESET ROLE", NULL };

static void no_notice(void *arg, const PGresult *r) { (void)arg; (void)r; }

/* Folds libpq's multi-line message into one line, masked. */
static void one_line(ms_buf *b, const char *msg) {
  ms_buf raw = {0};
  int space = 0;
  for (const char *p = msg; *p; p++) {
    if (*p == '\n' || *p == '\t' || *p == '\r') { space = 1; continue; }
    if (space && raw.len > 0) ms_buf_puts(&raw, raw.data[raw.len - 1] == ':' ? " " : "; ");
    space = 0;
    ms_buf_add(&raw, p, 1);
  }
  ms_mask_secrets(b, raw.data ? raw.data : "unknown error");
  ms_buf_free(&raw);
}

/* The connection parameters moonshift gives libpq (NULL-terminated). */
static void params(const ms_ctx *c, const char *appname, const char *keys[4], const char *vals[4]) {
  int n = 0;
  if (!getenv("PGCONNECT_TIMEOUT")) { keys[n] = "connect_timeout"; vals[n++] = "10"; }
  keys[n] = "fallback_application_name"; vals[n++] = appname;
  if (c->opts.url && *c->opts.url) { keys[n] = "dbname"; vals[n++] = c->opts.url; }
  keys[n] = NULL; vals[n] = NULL;
}

ms_status ms_conn_wait(ms_ctx *c, double seconds) {
  const char *keys[4], *vals[4];
  params(c, "moonshift", keys, vals);
  double until = ms_now_ms() + seconds * 1000;
  for (int said = 0;; said = 1) {
    PGPing p = PQpingParams(keys, vals, 1);
    /* up, or nothing to wait for (bad parameters): connecting says which */
    if (p == PQPING_OK || p == PQPING_NO_ATTEMPT) return MS_OK;
    if (ms_now_ms() >= until)
      return ms_fail(c, MS_ECONNECT, "the database server did not accept connections within %gs (%s); "
                     "nothing was done", seconds, p == PQPING_REJECT ? "it answered but refused them: "
                     "starting up, shutting down or in recovery" : "no answer");
    if (!said) ms_report_text(c, MS_EV_INFO, "waiting up to %gs for the database server to accept connections", seconds);
    ms_sleep_ms(250);
  }
}

ms_status ms_conn_connect(ms_ctx *c, const char *appname, struct pg_conn **out) {
  const char *keys[4], *vals[4];
  params(c, appname, keys, vals);
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  *out = NULL;
  if (conn && PQstatus(conn) == CONNECTION_OK) {
    /* notices of other connections (the lease renewer's thread) are dropped */
    PQsetNoticeReceiver(conn, out == &c->conn ? notice : no_notice, c);
    *out = conn;
    return MS_OK;
  }
  ms_buf b = {0}, clean = {0};
  one_line(&b, conn ? PQerrorMessage(conn) : "out of memory");
  ms_mask_quoted(&clean, b.data ? b.data : "", c->opts.url);
  ms_status st = ms_fail(c, MS_ECONNECT, "cannot connect to the database: %s", clean.data);
  ms_buf_free(&clean);
  ms_buf_free(&b);
  PQfinish(conn);
  return st;
}

ms_status ms_conn_open(ms_ctx *c) {
  return ms_conn_connect(c, "moonshift", &c->conn);
}

ms_status ms_conn_failure(const ms_ctx *c) {
  return c->conn && PQstatus(c->conn) == CONNECTION_OK ? MS_EFAILED : MS_ECONNECT;
}

ms_status ms_conn_report(ms_ctx *c, const PGresult *r) {
  ms_pgerr e;
  ms_buf b = {0};
  ms_pgerr_from(r, c->conn, &e);
  ms_pgerr_format(&b, &e, NULL, 0);
  ms_status st = ms_pgerr_connection_lost(&e) ? MS_ECONNECT : ms_conn_failure(c);
  if (st == MS_EFAILED && e.sqlstate && strcmp(e.sqlstate, MS_SQLSTATE_LOCK_LOST) == 0) st = MS_ELOCK;
  if (st == MS_ECONNECT && e.sqlstate) {
    st = ms_fail(c, st, "lost the connection to the database: %s", b.data);
  } else if (st == MS_ECONNECT) {
    ms_buf_free(&b);
    one_line(&b, PQerrorMessage(c->conn));
    st = ms_fail(c, st, "lost the connection to the database: %s", b.data);
  } else {
    st = ms_fail(c, st, "%s", b.data ? b.data : "query failed");
  }
  ms_buf_free(&b);
  return st;
}

ms_status ms_conn_exec(ms_ctx *c, const char *sql) {
  PGresult *r = PQexec(c->conn, sql);
  ms_status st = ms_pg_ok(r) ? MS_OK : ms_conn_report(c, r);
  PQclear(r);
  return st;
}

ms_status ms_conn_query(ms_ctx *c, const char *sql, int nparams, const char *const *params,
                        PGresult **out) {
  PGresult *r = PQexecParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
  *out = NULL;
  if (ms_pg_ok(r)) { *out = r; return MS_OK; }
  ms_status st = ms_conn_report(c, r);
  PQclear(r);
  return st;
}

void ms_conn_notices(ms_ctx *c, int on) {
  PQsetNoticeReceiver(c->conn, on ? notice : no_notice, c);
}

int ms_conn_watch_sql(ms_ctx *c, int local, char *out, size_t n) {
  if (!c->conn || PQserverVersion(c->conn) < 140000 || (!local && ms_conn_pooled(c))) return 0;
  snprintf(out, n, "SET %sclient_connection_check_interval = '1s'", local ? "LOCAL " : "");
  return 1;
}

int ms_conn_pooled(const ms_ctx *c) { return c->opts.lock_mode == MS_LOCK_TABLE; }

ms_status ms_conn_as_self_begin(ms_ctx *c) {
  return ms_conn_exec(c, "BEGIN; SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL ROLE NONE");
}

ms_status ms_conn_as_self_end(ms_ctx *c, ms_status st) {
  if (st == MS_OK) return ms_conn_exec(c, "COMMIT");
  if (c->conn && PQtransactionStatus(c->conn) != PQTRANS_IDLE) PQclear(PQexec(c->conn, "ROLLBACK"));
  return st;
}

void ms_conn_recover(ms_ctx *c) {
  if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) return;
  if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) PQclear(PQexec(c->conn, "ROLLBACK"));
  for (int i = 0; ms_conn_identity_sql[i]; i++) PQclear(PQexec(c->conn, ms_conn_identity_sql[i]));
  PQclear(PQexec(c->conn, "RESET ALL"));
}

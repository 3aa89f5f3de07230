/* conn.c: opens the libpq connection (PQconnectdbParams with expand_dbname,
 * so URLs and conninfo strings both work), routes server notices to stderr,
 * runs internal queries, and masks passwords in anything shown. */
#include "conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgerr.h"

/* Server notices go to stderr as the server words them, except the
 * warning a backend sends as the server shuts down: the lost connection is
 * reported once, as moonshift's own error. */
static void notice(void *arg, const PGresult *r) {
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  (void)arg;
  if (state && strncmp(state, "57P", 3) == 0) return;
  fprintf(stderr, "%s", PQresultErrorMessage(r));
}

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

/* The password written in a URL's userinfo, as [*from, *to), or 0. */
static int url_password(const char *url, const char **from, const char **to) {
  const char *auth = url ? strstr(url, "://") : NULL, *at = NULL, *p;
  if (!auth) return 0;
  for (p = auth + 3; *p && *p != '/' && *p != '?'; p++) if (*p == '@') at = p;
  const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;
  if (!colon) return 0;
  *from = colon + 1;
  *to = at;
  return 1;
}

/* Copies msg into out, replacing any double-quoted token that is part of
 * the URL's password (libpq quotes the token of a URL it cannot decode,
 * such as a bare '%' in a password) with ***. */
static void scrub(ms_buf *out, const char *msg, const char *url) {
  const char *from, *to;
  if (!url_password(url, &from, &to)) { ms_buf_puts(out, msg); return; }
  for (const char *p = msg; *p;) {
    const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
    size_t n = close ? (size_t)(close - p - 1) : 0;
    int secret = 0;
    for (const char *q = from; n > 0 && q + n <= to && !secret; q++) secret = memcmp(q, p + 1, n) == 0;
    if (secret) {
      ms_buf_puts(out, "\"***\"");
      p = close + 1;
    } else {
      ms_buf_add(out, p, 1);
      p++;
    }
  }
  if (!out->data) ms_buf_puts(out, "");
}

ms_status ms_conn_connect(ms_ctx *c, const char *appname, struct pg_conn **out) {
  const char *keys[4], *vals[4];
  int n = 0;
  if (!getenv("PGCONNECT_TIMEOUT")) { keys[n] = "connect_timeout"; vals[n++] = "10"; }
  keys[n] = "fallback_application_name"; vals[n++] = appname;
  if (c->opts.url && *c->opts.url) { keys[n] = "dbname"; vals[n++] = c->opts.url; }
  keys[n] = NULL; vals[n] = NULL;
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  *out = NULL;
  if (conn && PQstatus(conn) == CONNECTION_OK) {
    PQsetNoticeReceiver(conn, notice, NULL);
    *out = conn;
    return MS_OK;
  }
  ms_buf b = {0}, clean = {0};
  one_line(&b, conn ? PQerrorMessage(conn) : "out of memory");
  scrub(&clean, b.data ? b.data : "", c->opts.url);
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
  if (st == MS_ECONNECT && e.sqlstate) return ms_fail(c, st, "lost the connection to the database: %s", b.data);
  if (st == MS_ECONNECT) {
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

static void no_notice(void *arg, const PGresult *r) { (void)arg; (void)r; }

void ms_conn_notices(ms_ctx *c, int on) {
  PQsetNoticeReceiver(c->conn, on ? notice : no_notice, NULL);
}

int ms_conn_watch_sql(ms_ctx *c, int local, char *out, size_t n) {
  if (!c->conn || PQserverVersion(c->conn) < 140000 || (!local && ms_conn_pooled(c))) return 0;
  snprintf(out, n, "SET %sclient_connection_check_interval = '1s'", local ? "LOCAL " : "");
  return 1;
}

int ms_conn_pooled(const ms_ctx *c) { return c->opts.lock_mode == MS_LOCK_TABLE; }

void ms_conn_recover(ms_ctx *c) {
  if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) return;
  if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) PQclear(PQexec(c->conn, "ROLLBACK"));
  PQclear(PQexec(c->conn, "RESET ALL"));
}

static int starts_ci(const char *p, const char *word) {
  for (; *word; p++, word++)
    if (tolower((unsigned char)*p) != *word) return 0;
  return 1;
}

/* At p, "password" [spaces] "=" value: appends "password=***" and returns
 * the length consumed, else 0. In a URL query the value ends at '&', in a
 * conninfo string at white space (or its closing quote). */
static size_t mask_pair(ms_buf *b, const char *p, int in_query) {
  const char *q = p + 8;
  while (isspace((unsigned char)*q)) q++;
  if (*q != '=') return 0;
  q++;
  while (isspace((unsigned char)*q)) q++;
  if (*q == '\'' && !in_query) {
    for (q++; *q && *q != '\''; q++) if (*q == '\\' && q[1]) q++;
    if (*q) q++;
  } else {
    while (*q && (in_query ? *q != '&' : !isspace((unsigned char)*q))) {
      if (*q == '\\' && q[1] && !in_query) q++;   /* conninfo: "\ " escapes a space */
      q++;
    }
  }
  ms_buf_puts(b, "password=***");
  return (size_t)(q - p);
}

/* At p, scheme "://": returns where the scheme's "://" ends, else NULL. */
static const char *url_at(const char *p) {
  if (!isalpha((unsigned char)*p)) return NULL;
  while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
  return strncmp(p, "://", 3) == 0 ? p + 3 : NULL;
}

void ms_mask_secrets(ms_buf *b, const char *s) {
  int in_query = 0;
  for (const char *p = s; *p;) {
    const char *auth = (p == s || !isalnum((unsigned char)p[-1])) ? url_at(p) : NULL;
    if (auth) {
      /* userinfo ends at the last '@' before the path: a password may hold
       * '@' or spaces; masking too much is the safe mistake */
      const char *end = auth, *at = NULL;
      while (*end && *end != '/' && *end != '\n') { if (*end == '@') at = end; end++; }
      const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL, *kw = NULL;
      for (const char *k = auth; at && k + 8 <= at && !kw; k++)
        if (starts_ci(k, "password")) kw = k;
      if (kw) {
        /* a password= pair inside the would-be userinfo: libpq may read
         * this as a URL or as conninfo; mask what either would call the
         * password, through the end of the token holding the '@' */
        const char *from = colon && colon < kw ? colon : kw;
        ms_buf_add(b, p, (size_t)(from - p));
        ms_buf_puts(b, from == colon ? ":***" : "password=***");
        for (p = at; *p && !isspace((unsigned char)*p); p++) {}
        continue;
      }
      ms_buf_add(b, p, (size_t)((colon ? colon : auth) - p));
      if (colon) {
        ms_buf_puts(b, ":***");
        p = at;
      } else {
        p = auth;
      }
      in_query = 0;
      continue;
    }
    if (*p == '?') in_query = 1;
    else if (isspace((unsigned char)*p)) in_query = 0;
    if ((p == s || !isalnum((unsigned char)p[-1])) && starts_ci(p, "password")) {
      size_t k = mask_pair(b, p, in_query);
      if (k) { p += k; continue; }
    }
    ms_buf_add(b, p, 1);
    p++;
  }
  if (!b->data) ms_buf_puts(b, "");
}

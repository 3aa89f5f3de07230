/* invalidx.c: before a failed CREATE INDEX CONCURRENTLY is run again, drops
 * the INVALID index of that name its attempt left behind (which would make
 * it fail again). Reads the statement's first words only; uses conn.c. */
#include "invalidx.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "buf.h"
#include "conn.h"
#include "report.h"

static int word_at(const char **p, const char *e, const char *w) {
  const char *q = *p;
  while (q < e && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
  size_t n = strlen(w);
  if ((size_t)(e - q) < n || strncasecmp(q, w, n) != 0) return 0;
  if (q + n < e && (isalnum((unsigned char)q[n]) || q[n] == '_')) return 0;
  *p = q + n;
  return 1;
}

/* Copies the identifier at *p into out: "quoted" as written inside the
 * quotes, unquoted folded to lower case; dotted names kept whole when
 * keep_dots (for to_regclass). Returns 0 when there is none. */
static int ident_at(const char **p, const char *e, char *out, size_t cap, int keep_dots) {
  const char *q = *p;
  size_t n = 0;
  while (q < e && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
  for (;;) {
    if (q < e && *q == '"') {
      if (keep_dots && n + 1 < cap) out[n++] = '"';
      for (q++; q < e; q++) {
        if (*q == '"' && !(q + 1 < e && q[1] == '"')) break;
        if (*q == '"') { if (keep_dots && n + 1 < cap) out[n++] = '"'; q++; }
        if (n + 1 < cap) out[n++] = *q;
      }
      if (q >= e) return 0;
      if (keep_dots && n + 1 < cap) out[n++] = '"';
      q++;
    } else {
      const char *w = q;
      while (q < e && (isalnum((unsigned char)*q) || *q == '_' || *q == '$')) {
        if (n + 1 < cap) out[n++] = keep_dots ? *q : (char)tolower((unsigned char)*q);
        q++;
      }
      if (q == w) return 0;
    }
    if (keep_dots && q < e && *q == '.') { if (n + 1 < cap) out[n++] = '.'; q++; continue; }
    break;
  }
  out[n] = '\0';
  *p = q;
  return n > 0;
}

/* Before a CREATE INDEX CONCURRENTLY is run again: a failed attempt leaves
 * an INVALID index of that name behind, which would make it fail again. */
ms_status ms_invalid_index_drop(ms_ctx *c, const char *stmt, size_t len) {
  const char *p = stmt, *e = stmt + len;
  char name[256], table[512];
  if (!word_at(&p, e, "create")) return MS_OK;
  word_at(&p, e, "unique");
  if (!word_at(&p, e, "index") || !word_at(&p, e, "concurrently")) return MS_OK;
  if (word_at(&p, e, "if") && !(word_at(&p, e, "not") && word_at(&p, e, "exists"))) return MS_OK;
  if (!ident_at(&p, e, name, sizeof name, 0) || !word_at(&p, e, "on")) return MS_OK;
  word_at(&p, e, "only");
  if (!ident_at(&p, e, table, sizeof table, 1)) return MS_OK;
  const char *params[2] = { name, table };
  PGresult *r = NULL;
  ms_status rc = ms_conn_query(c,
    "SELECT format('%I.%I', n.nspname, ic.relname) FROM pg_catalog.pg_index i "
    "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace "
    "WHERE i.indrelid = pg_catalog.to_regclass($2) AND ic.relname = $1 AND NOT i.indisvalid", 2, params, &r);
  if (rc != MS_OK || PQntuples(r) == 0) { PQclear(r); return rc; }
  ms_buf q = {0};
  ms_buf_printf(&q, "DROP INDEX CONCURRENTLY %s", PQgetvalue(r, 0, 0));
  ms_report_text(c, MS_EV_INFO, "dropping the INVALID index %s left by the failed attempt", PQgetvalue(r, 0, 0));
  PQclear(r);
  rc = ms_conn_exec(c, q.data);
  ms_buf_free(&q);
  return rc;
}


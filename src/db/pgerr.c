/* pgerr.c: result classification and error reports (see pgerr.h). Positions
 * reported by the server count characters of the query string; they are
 * turned into byte offsets in the migration file, then into line:col. */
#include "pgerr.h"
#include "textpos.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

int ms_pg_ok(const PGresult *r) {
  switch (r ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
  case PGRES_COMMAND_OK: case PGRES_TUPLES_OK: case PGRES_EMPTY_QUERY:
  case PGRES_COPY_IN: case PGRES_COPY_OUT: case PGRES_SINGLE_TUPLE:
    return 1;
  default:
    return 0;
  }
}

int ms_pg_no_table(const PGresult *r) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  return state && (strcmp(state, MS_SQLSTATE_UNDEFINED_TABLE) == 0 ||
                   strcmp(state, MS_SQLSTATE_INVALID_SCHEMA_NAME) == 0);
}

static const char *field(const PGresult *r, int code) {
  const char *v = r ? PQresultErrorField(r, code) : NULL;
  return v && *v ? v : NULL;
}

void ms_pgerr_from(const PGresult *r, const PGconn *conn, ms_pgerr *e) {
  memset(e, 0, sizeof *e);
  e->severity = field(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  e->sqlstate = field(r, PG_DIAG_SQLSTATE);
  e->message = field(r, PG_DIAG_MESSAGE_PRIMARY);
  e->detail = field(r, PG_DIAG_MESSAGE_DETAIL);
  e->hint = field(r, PG_DIAG_MESSAGE_HINT);
  e->context = field(r, PG_DIAG_CONTEXT);
  const char *pos = field(r, PG_DIAG_STATEMENT_POSITION);
  e->position = pos ? strtol(pos, NULL, 10) : 0;
  if (!e->severity) e->severity = "ERROR";
  if (!e->message) {
    e->connection_lost = conn && PQstatus(conn) == CONNECTION_BAD;
    e->message = e->connection_lost ? "the connection to the server was lost"
                                    : (r ? PQresultErrorMessage(r) : "no result from the server");
  }
}

int ms_sqlstate_connection_lost(const char *code) {
  return code && (strncmp(code, MS_SQLSTATE_CLASS_CONNECTION, strlen(MS_SQLSTATE_CLASS_CONNECTION)) == 0 ||
                  strncmp(code, MS_SQLSTATE_SESSION_ENDED_PREFIX, strlen(MS_SQLSTATE_SESSION_ENDED_PREFIX)) == 0);
}

int ms_pgerr_connection_lost(const ms_pgerr *e) {
  if (e->connection_lost) return 1;
  if (e->severity && (strcmp(e->severity, "FATAL") == 0 || strcmp(e->severity, "PANIC") == 0)) return 1;
  return ms_sqlstate_connection_lost(e->sqlstate);
}

void ms_text_linecol(const char *text, size_t len, size_t off, int *line, int *col) {
  int l = 1, c = 1;
  if (off > len) off = len;
  for (size_t i = 0; i < off; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\n') { l++; c = 1; }
    else if ((ch & 0xC0) != 0x80) c++;
  }
  *line = l;
  *col = c;
}

static void add_lines(ms_buf *b, const char *label, const char *v) {
  if (!v) return;
  ms_buf_printf(b, "\n%s: ", label);
  for (const char *p = v; *p; p++) {
    if (*p == '\n' && p[1]) ms_buf_printf(b, "\n%*s", (int)strlen(label) + 2, "");
    else if (*p != '\n') ms_buf_add(b, p, 1);
  }
}

static void add_caret(ms_buf *b, const char *text, size_t len, size_t off, int line, int col) {
  (void)0;
  size_t s = off, e = off;
  while (s > 0 && text[s - 1] != '\n') s--;
  while (e < len && text[e] != '\n' && text[e] != '\r') e++;
  if (e - s > 500) return;
  ms_buf_printf(b, "\n%5d | ", line);
  ms_buf_add(b, text + s, e - s);
  ms_buf_printf(b, "\n      | %*s^", col - 1, "");
}

void ms_pgerr_format(ms_buf *b, const ms_pgerr *e, const ms_srcmap *map, int stmt_line) {
  const char *cond = ms_sqlstate_name(e->sqlstate);
  int line = stmt_line, col = 0;
  size_t off = 0;
  int have_pos = 0;
  if (map && map->text && e->position > map->prefix_chars) {
    off = map->sent_off + ms_textpos_char_to_byte(map->text + map->sent_off, map->text_len - map->sent_off,
                                                  (unsigned long)(e->position - map->prefix_chars));
    ms_text_linecol(map->text, map->text_len, off, &line, &col);
    have_pos = 1;
  }
  if (map && map->path) {
    ms_buf_puts(b, map->path);
    if (line > 0) ms_buf_printf(b, ":%d", line);
    if (have_pos) ms_buf_printf(b, ":%d", col);
    ms_buf_puts(b, ": ");
  }
  ms_buf_printf(b, "%s", e->severity);
  if (e->sqlstate) ms_buf_printf(b, " %s", e->sqlstate);
  if (cond) ms_buf_printf(b, " %s", cond);
  ms_buf_printf(b, ": %s", e->message);
  while (b->len > 0 && b->data[b->len - 1] == '\n') b->data[--b->len] = '\0';
  add_lines(b, "DETAIL", e->detail);
  add_lines(b, "HINT", e->hint);
  add_lines(b, "CONTEXT", e->context);
  if (have_pos) add_caret(b, map->text, map->text_len, off, line, col);
}

/* pgerr.h: the one place that classifies libpq results and extracts and
 * formats server diagnostics (SQLSTATE, message, detail, hint, position,
 * context), mapping an error position back into the migration file. */
#ifndef MS_PGERR_H
#define MS_PGERR_H

#include <stddef.h>
#include "buf.h"

struct pg_result;

/* SQLSTATEs moonshift reacts to. */
#define MS_SQLSTATE_UNDEFINED_TABLE "42P01"
#define MS_SQLSTATE_INVALID_SCHEMA_NAME "3F000"
#define MS_SQLSTATE_LOCK_NOT_AVAILABLE "55P03"
#define MS_SQLSTATE_QUERY_CANCELED "57014"
/* moonshift's own, raised by the lock fence when the run no longer holds its lock */
#define MS_SQLSTATE_LOCK_LOST "MSL01"
#define MS_SQLSTATE_UNIQUE_VIOLATION "23505"
#define MS_SQLSTATE_DUPLICATE_TABLE "42P07"
#define MS_SQLSTATE_DUPLICATE_OBJECT "42710"
#define MS_SQLSTATE_DUPLICATE_SCHEMA "42P06"

/* SQLSTATE prefixes, compared with strncmp over their length: class 08
 * (connection exception) and 57P01-57P05 (admin_shutdown, crash_shutdown,
 * cannot_connect_now, database_dropped, idle_session_timeout: the server
 * ended the session). */
#define MS_SQLSTATE_CLASS_CONNECTION "08"
#define MS_SQLSTATE_SESSION_ENDED_PREFIX "57P0"

typedef struct ms_pgerr {
  const char *severity, *sqlstate, *message, *detail, *hint, *context;
  long position;           /* 1-based character position in the query sent, or 0 */
  int connection_lost;     /* the server went away (no SQLSTATE, connection bad) */
} ms_pgerr;

/* 1 when r is a success status (command ok, tuples ok, copy in/out). */
int ms_pg_ok(const struct pg_result *r);

/* 1 when r failed because the table or its schema does not exist (yet). */
int ms_pg_no_table(const struct pg_result *r);

/* Fills e from r; the strings point into r (valid until PQclear). */
void ms_pgerr_from(const struct pg_result *r, const struct pg_conn *conn, ms_pgerr *e);

/* 1 when e means the session is gone: no server message on a bad
 * connection, a FATAL or PANIC error, or ms_sqlstate_connection_lost. */
int ms_pgerr_connection_lost(const ms_pgerr *e);

/* 1 when SQLSTATE code (may be NULL or empty: 0) says the session is gone:
 * class 08 (connection exception) or 57P0x (the server ended it). The one
 * test for that, for errors, notices and errors raised through Lua. */
int ms_sqlstate_connection_lost(const char *code);

/* Condition name of a SQLSTATE (e.g. "undefined_table"), or NULL. */
const char *ms_sqlstate_name(const char *code);

/* Where a statement sent to the server came from, to map positions back. */
typedef struct ms_srcmap {
  const char *path;        /* file shown to the user */
  const char *text;        /* the whole file */
  size_t text_len;
  size_t sent_off;         /* byte offset in text where the sent SQL starts */
  long prefix_chars;       /* characters moonshift put before it in the query */
} ms_srcmap;

/* Appends a full report: "path:line:col: ERROR SQLSTATE name: message" then
 * DETAIL, HINT, CONTEXT and the source line with a caret. Without a position
 * the first line names path:line of the statement (line given, may be 0). */
void ms_pgerr_format(ms_buf *b, const ms_pgerr *e, const ms_srcmap *map, int stmt_line);

/* Byte offset -> 1-based line and character column in text. */
void ms_text_linecol(const char *text, size_t len, size_t off, int *line, int *col);

#endif

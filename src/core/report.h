/* report.h: what a run tells its user. The engine, the store and the Lua
 * bridge never print: they send events (a migration starting or done, a dry
 * run's statements, warnings, lock waits, Lua output) and results (text
 * lines and the fields of the --json document) to the reporter the run
 * context holds. The CLI provides a text and a JSON reporter, the C API its
 * own; with none, everything is dropped. */
#ifndef MS_REPORT_H
#define MS_REPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ms.h"

typedef enum ms_ev_kind {
  MS_EV_TARGET,      /* the database the command works on: text (one line), target */
  MS_EV_START,       /* a migration starts: migration, down */
  MS_EV_DONE,        /* it succeeded: migration, down, ms (its duration) */
  MS_EV_WOULD,       /* dry run: a migration would run: migration, down */
  MS_EV_WOULD_TRACK, /* dry run: the tracking change it would make: migration, down, text (table) */
  MS_EV_STATEMENT,   /* dry run: statement index, file, line, text/len, bytes (COPY data) */
  MS_EV_SQL,         /* dry run: a Lua db call's SQL: text, nparams, params */
  MS_EV_NOTE,        /* a side line of a dry run's listing: text */
  MS_EV_INFO,        /* news about the run (resuming, retrying, cleaning up): text */
  MS_EV_WARNING,     /* text */
  MS_EV_WAITING,     /* waiting for the lock: text (who holds it), detail (their query), ms (waited) */
  MS_EV_LOG,         /* a Lua migration's print / log.info: migration (may be NULL), text */
  MS_EV_DRAW,        /* terminal drawing for stderr (a progress bar): text/len */
  MS_EV_NOTICE       /* a server notice: text */
} ms_ev_kind;

/* The database a command works on (no password, ever). */
typedef struct ms_target {
  const char *host, *port, *dbname, *user;
  const char *from_env;   /* "PGHOST, PGPORT" when libpq's environment chose it, else NULL */
} ms_target;

typedef struct ms_event {
  ms_ev_kind kind;
  const struct ms_migration *migration;
  int down;
  int dry_run;            /* MS_EV_DONE of a rehearsal */
  int empty;              /* MS_EV_DONE of a migration with no statement: a no-op */
  double ms;
  const char *text;
  size_t len;             /* of text; 0: strlen(text) */
  const char *detail;
  const char *file;
  unsigned long line;
  int index;
  size_t bytes;
  int nparams;
  const char *const *params;
  const ms_target *target;
} ms_event;

/* The reporter's callbacks. ud is the reporter's own state. A result is
 * given twice, as a text line and as fields: each reporter keeps the form it
 * shows. Any callback may be NULL. */
typedef struct ms_reporter {
  void *ud;
  void (*event)(void *ud, const ms_event *e);
  void (*line)(void *ud, const char *s, size_t n);   /* a result line, no newline */
  void (*batch)(void *ud, int on);                    /* many lines follow (a listing) */
  void (*str)(void *ud, const char *key, const char *v);   /* v NULL: null */
  void (*num)(void *ud, const char *key, long long v);
  void (*boolean)(void *ud, const char *key, int v);
  void (*item)(void *ud, const char *list);           /* a new object in array `list` */
  void (*end_item)(void *ud);
  void (*list)(void *ud, const char *list);           /* ensures array `list` exists */
} ms_reporter;

/* Sends e to c's reporter. */
void ms_report(ms_ctx *c, const ms_event *e);

/* Shorthands for events that carry only text. */
void ms_report_text(ms_ctx *c, ms_ev_kind kind, const char *fmt, ...) MS_PRINTF(3, 4);
void ms_report_vtext(ms_ctx *c, ms_ev_kind kind, const char *fmt, va_list ap);

/* A result line (printf-style, no newline), and its text as it is. */
void ms_res_line(ms_ctx *c, const char *fmt, ...) MS_PRINTF(2, 3);
void ms_res_text(ms_ctx *c, const char *s, size_t n);
void ms_res_batch(ms_ctx *c, int on);

/* Fields of the --json document: key = value on the document, or on the
 * object last opened with ms_res_item until ms_res_end_item. */
void ms_res_str(ms_ctx *c, const char *key, const char *v);
void ms_res_int(ms_ctx *c, const char *key, long long v);
void ms_res_bool(ms_ctx *c, const char *key, int v);
void ms_res_item(ms_ctx *c, const char *list);
void ms_res_end_item(ms_ctx *c);
void ms_res_list(ms_ctx *c, const char *list);

#endif

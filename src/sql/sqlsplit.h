/* sqlsplit.h: splits a PostgreSQL SQL script into statements exactly where
 * `psql -f` would end them (quotes, dollar quotes, nested comments, parens,
 * BEGIN ATOMIC bodies), plus goose StatementBegin/End blocks, pg_dump COPY
 * data and \restrict lines. Iterates over a caller-owned buffer without
 * copying; uses only the C library. lsplit.c is the Lua face. */
#ifndef MS_SQLSPLIT_H
#define MS_SQLSPLIT_H

#include <stddef.h>

#include "attr.h"


/* What a piece is, decided from its first keywords. */
typedef enum ms_class {
  MS_CLASS_SQL = 0,    /* an ordinary statement */
  MS_CLASS_TXN,        /* transaction control: BEGIN, COMMIT, ROLLBACK, END,
                          ABORT, START TRANSACTION, PREPARE TRANSACTION,
                          COMMIT/ROLLBACK PREPARED (not SAVEPOINT, RELEASE,
                          ROLLBACK TO) */
  MS_CLASS_NOTX,       /* cannot run inside a transaction block (VACUUM,
                          CREATE INDEX CONCURRENTLY, CREATE DATABASE, ...) */
  MS_CLASS_ADDVALUE,   /* ALTER TYPE ... ADD VALUE: the new value cannot be
                          used in the transaction that adds it */
  MS_CLASS_COPY,       /* COPY ... FROM STDIN; inline data in data_off/len */
  MS_CLASS_META_SKIP,  /* a \restrict or \unrestrict line: not SQL, skip it */
  MS_CLASS_EMPTY       /* only whitespace and comments (end of input) */
} ms_class;

/* One piece of the input. Pieces partition the buffer: piece_off of each is
 * the previous piece_off + piece_len, the first is 0, the last ends at len. */
typedef struct ms_stmt {
  size_t piece_off;    /* start of the piece, leading whitespace/comments */
  size_t piece_len;    /* whole piece, COPY data and its \. line included */
  size_t off;          /* first significant byte (EMPTY: == piece_off) */
  size_t len;          /* statement text from off, ';' included if any */
  size_t data_off;     /* COPY inline data (excluding the \. line) */
  size_t data_len;     /* 0 when the piece has no data */
  unsigned long data_line; /* 1-based line where the COPY data starts */
  unsigned long line;  /* 1-based line of off ('\n' ends a line) */
  unsigned long col;   /* 1-based column of off, counted in bytes */
  int terminated;      /* 1 if the statement ends with its own ';' */
  int block;           /* 1 for a goose StatementBegin/StatementEnd block:
                          one unit that may hold several statements, so it
                          must be sent whole as one simple-protocol query
                          (PQexec), never with PQsendQueryParams or in a
                          pipeline (they take one statement only: "cannot
                          insert multiple commands into a prepared
                          statement"). off/len span the block's SQL without
                          the annotation lines; cls is its first
                          statement's class. 0 for every other piece. */
  ms_class cls;
} ms_stmt;

/* Iterator state: set up by ms_split_init, only read by callers. */
typedef struct ms_split {
  const char *buf;
  size_t len;
  size_t pos;              /* where the next piece starts */
  size_t lc_pos;           /* line-count cursor: newlines before lc_pos */
  unsigned long lc_line;   /*   are counted; lc_bol starts line lc_line */
  size_t lc_bol;
  const char *err;         /* static text of the error, NULL if none */
  unsigned long err_line;  /* 1-based line the error points at */
  size_t err_off;          /* byte offset the error points at */
  /* optional: called now and then while a long COPY data block is scanned,
   * with the offset reached, so the caller can drop pages behind it */
  void (*progress)(void *ud, size_t pos);
  void *progress_ud;
} ms_split;

/* Starts splitting buf[0..len). The buffer is not copied and must stay
 * readable, unchanged, from the current piece onwards: bytes before the
 * piece_off of the last piece returned are never read again. */
void ms_split_init(ms_split *s, const char *buf, size_t len);

/* Fills *out with the next piece and returns 1; returns 0 at the end of the
 * input; returns -1 on an error, with s->err (static text), s->err_line and
 * s->err_off set (see ms_split_errmsg); after -1 every call returns -1.
 * Errors: an unterminated quote, comment, dollar quote or goose block; COPY
 * data without its \. line; a psql meta-command other than \restrict and
 * \unrestrict at a statement boundary. Time is linear in the input. */
int ms_split_next(ms_split *s, ms_stmt *out) MS_MUST_CHECK;

/* Writes the complete error message of a failed split into buf (at most n
 * bytes, NUL-terminated, as snprintf), e.g. "unterminated dollar-quoted
 * string starting at line 12" or "psql meta-command \set is not SQL".
 * Returns the length it wanted, like snprintf; writes "" if no error. */
int ms_split_errmsg(const ms_split *s, char *buf, size_t n);

/* Classifies one statement's text (as ms_split_next returns it) by its
 * first keywords: MS_CLASS_SQL, _TXN, _NOTX, _ADDVALUE or _COPY. */
ms_class ms_split_classify(const char *stmt, size_t len);

/* The short name of a class: "sql", "txn", "notx", "addvalue", "copy",
 * "meta_skip" or "empty". Static storage. */
const char *ms_split_classname(ms_class cls);

#endif

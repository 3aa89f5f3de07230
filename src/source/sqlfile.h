/* sqlfile.h: the sections of a SQL migration file: "-- migrate:up" and
 * "-- migrate:down" markers (dbmate's convention) with key:value options. */
#ifndef MS_SQLFILE_H
#define MS_SQLFILE_H

#include <stddef.h>
#include "buf.h"

typedef struct ms_section {
  int present;
  size_t off, len;     /* the section's SQL: bytes after the marker line */
  int line;            /* 1-based line of the first byte of the section */
  int marker_line;     /* line of the marker, 0 when the file has none */
  int transaction;     /* 1 unless transaction:false */
  int out_of_order;    /* out_of_order:ok: may run below the newest applied version */
  char lock_timeout[24];       /* lock_timeout:2s, "" when not given */
  char statement_timeout[24];  /* statement_timeout:10min, "" when not given */
} ms_section;

/* 1 when s is a PostgreSQL time setting moonshift accepts: digits and an
 * optional unit (us, ms, s, min, h, d). */
int ms_sqlfile_duration_ok(const char *s, size_t n);

typedef struct ms_sqlfile {
  ms_section up, down;
} ms_sqlfile;

/* Splits text into sections. A file with no markers is all up (or all down
 * when as_down is set, for a .down.sql file). On a problem returns -1 and
 * appends "path:line: cause" to err. A leading UTF-8 byte order mark is
 * left out of the first section. */
int ms_sqlfile_parse(const char *path, const char *text, size_t len, int as_down,
                     ms_sqlfile *out, ms_buf *err);

/* The same, calling progress(ud, offset) every MiB of a large file so
 * the caller can hand back the pages behind (progress may be NULL). */
int ms_sqlfile_parse_with(const char *path, const char *text, size_t len, int as_down,
                          ms_sqlfile *out, ms_buf *err, void (*progress)(void *, size_t), void *ud);

#endif

/* sqlfile.h: the sections of a SQL migration file, cut by the markers of
 * the tool that wrote it: dbmate's "-- migrate:up" / "-- migrate:down"
 * (moonshift's own, with key:value options), goose's "-- +goose Up" /
 * "-- +goose Down" and annotations, node-pg-migrate's "-- Up Migration" /
 * "-- Down Migration", tern's "---- create above / drop below ----"; and a
 * section's text as it is to be sent (goose ENVSUB applied). */
#ifndef MS_SQLFILE_H
#define MS_SQLFILE_H

#include <stddef.h>
#include "buf.h"
#include "envsub.h"
#include "sqlmark.h"

typedef struct ms_section {
  int present;
  size_t off, len;     /* the section's SQL: bytes after the marker line */
  int line;            /* 1-based line of the first byte of the section */
  int marker_line;     /* line of the marker, 0 when the file has none (or,
                          for tern's up part and goose's missing Down, the
                          section has none) */
  int transaction;     /* 1 unless transaction:false, goose NO TRANSACTION
                          or tern disable-tx */
  int out_of_order;    /* out_of_order:ok: may run below the newest applied version */
  char lock_timeout[24];       /* lock_timeout:2s, "" when not given */
  char statement_timeout[24];  /* statement_timeout:10min, "" when not given */
  int empty;           /* 1 when the section holds nothing but blank lines,
                          -- comments and annotations: it applies as a
                          no-op. (A section of block comments only is not
                          flagged; the splitter finds no statement in it
                          either, and a runner should treat "no statement"
                          as a no-op too.) */
  int envsub;          /* goose: 1 when ENVSUB ON covers some of its lines.
                          The text to send is then not the file's bytes at
                          off but ms_sqlfile_text's copy: split that copy,
                          and read error positions (offsets, lines,
                          columns) in it. */
  int envsub_start;    /* goose: ENVSUB was ON where the section starts */
} ms_section;

/* 1 when s is a PostgreSQL time setting moonshift accepts: digits and an
 * optional unit (us, ms, s, min, h, d). */
int ms_sqlfile_duration_ok(const char *s, size_t n);

/* A parsed file. Plain data (no pointers): it may be copied and kept. */
typedef struct ms_sqlfile {
  ms_section up, down;
  ms_format format;    /* whose markers the file holds */
} ms_sqlfile;

/* Splits text into sections. A file with no markers is all up (or all down
 * when as_down is set, for a .down.sql file). On a problem returns -1 and
 * appends "path:line: cause" to err: a malformed or misplaced marker, a
 * line that looks like a marker but is not one as its tool reads it (an
 * indented or upper-case "-- migrate:down", an unknown "-- +goose WORD"),
 * the markers of two tools in one file, an annotation of a tool moonshift
 * does not run (Liquibase, Atlas, bun, graphile-migrate), a tern template,
 * or goose ENVSUB text goose would fail on. A leading UTF-8 byte order mark
 * is left out of the first section. Per tool:
 *   dbmate  up before down; options after the marker
 *   goose   exactly one Up, before an optional Down; NO TRANSACTION anywhere
 *           makes both sections non-transactional (goose reads it for the
 *           whole file); a file without Down rolls back as a no-op (an
 *           empty down section, as goose does); StatementBegin/End pair up
 *   node-pg-migrate  either order; a down marker needs an up marker
 *   tern    up is the file's start up to the marker, down the rest;
 *           disable-tx applies to the part it is in
 * goose's StatementBegin/StatementEnd may also appear in files of any other
 * format (moonshift honours them everywhere). Pure. */
int ms_sqlfile_parse(const char *path, const char *text, size_t len, int as_down,
                     ms_sqlfile *out, ms_buf *err);

/* The same, calling progress(ud, offset) every MiB of a large file so
 * the caller can hand back the pages behind (progress may be NULL). */
int ms_sqlfile_parse_with(const char *path, const char *text, size_t len, int as_down,
                          ms_sqlfile *out, ms_buf *err, void (*progress)(void *, size_t), void *ud);

/* Appends to out the text of section sec (parsed from text) as it is to be
 * sent: the file's bytes, with the lines under goose ENVSUB ON substituted
 * through lookup (ms_envsub_getenv reads the process environment).
 * Annotation and -- comment lines are copied as they are; line ends are
 * kept, so the copy has the section's lines unless a value holds a
 * newline. Only needed when sec->envsub (otherwise it copies the bytes).
 * Returns 0, or -1 with "path:line: cause" in err (${VAR?message} with VAR
 * unset, or out of memory). */
int ms_sqlfile_text(const char *path, const char *text, const ms_section *sec,
                    ms_envsub_lookup lookup, void *ud, ms_buf *out, ms_buf *err);

#endif

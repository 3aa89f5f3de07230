/* sqlmark.h: reads one line of a SQL migration as the tools whose files
 * moonshift runs read it: a dbmate, goose, node-pg-migrate or tern marker,
 * an annotation of a tool moonshift does not read (Liquibase, Atlas, bun,
 * graphile-migrate), a line that looks like a marker but is not one as its
 * tool reads it, or none of these. Pure; C library only. sqlfile.c builds
 * the sections from these verdicts. */
#ifndef MS_SQLMARK_H
#define MS_SQLMARK_H

#include <stddef.h>

/* Whose markers a SQL file holds. */
typedef enum ms_format {
  MS_FORMAT_PLAIN = 0,  /* no section marker: the whole file is one section */
  MS_FORMAT_DBMATE,     /* -- migrate:up / -- migrate:down [options] */
  MS_FORMAT_GOOSE,      /* -- +goose Up / -- +goose Down and goose's other annotations */
  MS_FORMAT_NPM,        /* node-pg-migrate: -- Up Migration / -- Down Migration */
  MS_FORMAT_TERN        /* ---- create above / drop below ---- */
} ms_format;

/* "plain", "dbmate", "goose", "node-pg-migrate" or "tern". Static storage. */
const char *ms_format_name(ms_format f);

typedef enum ms_mark_kind {
  MS_MARK_NONE = 0,     /* an ordinary line */
  MS_MARK_UP,           /* starts the up section (dbmate, goose, node-pg-migrate) */
  MS_MARK_DOWN,         /* starts the down section (dbmate, goose, node-pg-migrate) */
  MS_MARK_SPLIT,        /* tern: ends the up part (the file's start), starts the down part */
  MS_MARK_NOTX,         /* goose NO TRANSACTION, tern disable-tx */
  MS_MARK_ENVSUB_ON,    /* goose ENVSUB ON */
  MS_MARK_ENVSUB_OFF,   /* goose ENVSUB OFF */
  MS_MARK_BLOCK_BEGIN,  /* goose StatementBegin */
  MS_MARK_BLOCK_END,    /* goose StatementEnd */
  MS_MARK_BAD           /* refused: why says what the line is and why it is refused */
} ms_mark_kind;

typedef struct ms_mark {
  ms_mark_kind kind;
  ms_format format;     /* the marker's tool (any kind but NONE and BAD) */
  const char *opts;     /* dbmate: where the options start, inside the line */
  char why[200];        /* MS_MARK_BAD: the cause, without path or line */
} ms_mark;

/* Reads the line s[0..e - s) (without its '\n'; a final '\r' counts as
 * blank) into *out. Only out->kind is set for an ordinary line. Lines that
 * do not start, after blanks, with "--" are ordinary, except a tern
 * template ("{{") which only sqlfile.c, knowing the file is tern's, looks
 * for. Time is linear in the line's length. */
void ms_mark_read(const char *s, const char *e, ms_mark *out);

/* The spelling of a marker kind in a format's files, for messages
 * ("-- +goose Up", "-- migrate:down", ...). Static storage. */
const char *ms_mark_spelling(ms_format f, ms_mark_kind k);

#endif

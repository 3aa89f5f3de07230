/* diesel.h: diesel's migration folders, <version>_<name>/up.sql + down.sql
 * with an optional metadata.toml: the folder name's reading and the one
 * metadata key diesel has. Pure; C library only. source.c does the file
 * system side. */
#ifndef MS_DIESEL_H
#define MS_DIESEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What a diesel folder name says: the version is the name up to its first
 * '_' with every '-' left out (migrations_internals' version_from_string),
 * so 2019-02-26-002946_create_user is 20190226002946 and
 * 00000000000000_diesel_initial_setup is 0 (a real migration). */
typedef struct ms_diesel_name {
  int ok;                 /* 0: why says what is wrong */
  int64_t version;
  int width;              /* digits of the version (dashes left out) */
  size_t name_off, name_len;   /* the part after the first '_' */
  const char *why;        /* static */
} ms_diesel_name;

/* Reads a folder name (no path). Never fails: the verdict is in out->ok.
 * The name part follows moonshift's rule (ASCII letters, digits, '_', '-',
 * '.'); the version part must be digits and dashes and fit in int64. */
void ms_diesel_name_parse(const char *dname, ms_diesel_name *out);

/* Reads metadata.toml's text into *run_in_transaction: the top-level key
 * run_in_transaction = true | false, or 0 when the file lacks it (diesel's
 * default for a file that exists; a migration without the file runs in a
 * transaction). Other keys are ignored, as diesel ignores them. Returns 0,
 * or -1 with "path:line: cause" in err for a line moonshift cannot read,
 * or a run_in_transaction that is not true or false (where diesel would
 * silently fall back to a transaction). */
int ms_diesel_metadata(const char *path, const char *text, size_t len, int *run_in_transaction,
                       ms_buf *err);

#endif

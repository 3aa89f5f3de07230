/* source.h: the migration folder: file-name parsing, discovery and ordering. */
#ifndef MS_SOURCE_H
#define MS_SOURCE_H

#include "ms.h"

typedef enum ms_kind { MS_KIND_SQL = 0, MS_KIND_LUA = 1 } ms_kind;

typedef struct ms_migration {
  int64_t version;
  int vwidth;          /* digits of the version in the file name (keeps 001) */
  char *name;          /* description: the part after "<version>_" */
  char *path;          /* the file (the up file of an .up.sql/.down.sql pair) */
  char *down_path;     /* the .down.sql file of a pair, else NULL */
  ms_kind kind;
  int handle;          /* the kind's handle on the loaded file (luarun.c: where the Lua
                        * registry keeps its table); 0 until loaded */
  int pair;            /* during the scan: 1 for an .up.sql file, 2 for a .down.sql */
  char *checksum;      /* computed once, on first use (runner.c), else NULL */
  int resume_done;     /* set by the plan: statements a failed attempt applied */
  char *resume_hashes; /*   and their hashes, "{h1,h2,...}"; NULL: run from the start */
  struct ms_sqlscan *scan; /* what checking its SQL found (sqlscan.c), or NULL */
  int folder;          /* 1 for a diesel migration folder <version>_<name>/:
                          path is its up.sql, down_path its down.sql (or NULL) */
  int no_transaction;  /* diesel metadata.toml run_in_transaction = false (or
                          a metadata.toml without the key): both directions
                          run outside a transaction, whatever the sections say */
} ms_migration;

typedef struct ms_source {
  ms_migration *v;     /* sorted by version */
  size_t n, cap;
  char *dir;
} ms_source;

/* What a file name says. */
typedef enum ms_name_role {
  MS_NAME_IGNORED = 0, /* not a migration (README, hidden file, backup) */
  MS_NAME_SINGLE,      /* <version>_<name>.sql | .lua */
  MS_NAME_UP,          /* <version>_<name>.up.sql */
  MS_NAME_DOWN,        /* <version>_<name>.down.sql */
  MS_NAME_BAD          /* looks like a migration but does not parse */
} ms_name_role;

typedef struct ms_name {
  ms_name_role role;
  int64_t version;
  ms_kind kind;
  size_t name_off, name_len;  /* the description inside the file name */
  const char *why;            /* for MS_NAME_BAD: a static reason */
} ms_name;

/* Parses one file name (no directory part). Never fails: the verdict is in
 * out->role. Pure; used by discovery and by the Lua module. */
void ms_name_parse(const char *fname, ms_name *out);

/* Scans dir and fills *out (which the caller zeroes) with the migrations,
 * sorted by version: files, and diesel's <version>_<name>/ folders (up.sql,
 * down.sql, metadata.toml; version 0 allowed there, as diesel's initial
 * setup has it). Returns MS_EUSAGE with every offending file named in
 * c->err for a missing folder, malformed names, duplicate versions, a lone
 * .down.sql, a folder named like a migration without up.sql, an unreadable
 * metadata.toml, or diesel folders whose versions diesel would order
 * otherwise (it compares them as strings); and MS_EUSAGE with one line
 * naming the tool for a folder of a tool moonshift cannot run yet
 * (toolfolder.h: Sqitch, Flyway, Liquibase, a manifest). Free with
 * ms_source_free. */
ms_status ms_source_scan(ms_ctx *c, const char *dir, ms_source *out) MS_MUST_CHECK;

void ms_source_free(ms_source *s);

/* Returns the migration with this version, or NULL. */
ms_migration *ms_source_find(const ms_source *s, int64_t version);

#endif

/* toolfolder.h: recognises, from a file name in a migrations folder, the
 * tools whose folders moonshift cannot run yet: Sqitch (sqitch.plan),
 * Flyway (V1__x.sql, U1__x.sql, B1__x.sql, R__x.sql), Liquibase changelogs
 * and manifest-ordered folders (Kong's init.lua). Pure; C library only;
 * source.c refuses such a folder with one line. */
#ifndef MS_TOOLFOLDER_H
#define MS_TOOLFOLDER_H

typedef enum ms_toolfolder {
  MS_TOOLFOLDER_NONE = 0,
  MS_TOOLFOLDER_SQITCH,
  MS_TOOLFOLDER_LIQUIBASE,
  MS_TOOLFOLDER_MANIFEST,
  MS_TOOLFOLDER_FLYWAY
} ms_toolfolder;

/* The tool a file name (no directory part) belongs to, or NONE. */
ms_toolfolder ms_toolfolder_of(const char *fname);

/* Why a folder holding that tool's file is refused, to follow "migrations
 * folder DIR ": e.g. "is a Sqitch project (sqitch.plan): moonshift does
 * not run Sqitch plans yet". Static storage; "" for NONE. */
const char *ms_toolfolder_why(ms_toolfolder t);

#endif

/* toolfolder.c: which tool a migrations folder's file name belongs to,
 * among those moonshift refuses (see toolfolder.h), by the names each tool
 * gives its files: Flyway's <prefix><version>__<description>.sql with the
 * default prefixes V, U, B and R (no version), Sqitch's plan, Liquibase's
 * usual changelog names, Kong's init.lua. C library only. */
#include "toolfolder.h"

#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static int flyway(const char *f) {
  const char *p = f + 1, *sep;
  if (!ends_with(f, ".sql")) return 0;
  if (f[0] == 'R') return strncmp(p, "__", 2) == 0 && strlen(p) > 6;
  if (f[0] != 'V' && f[0] != 'U' && f[0] != 'B') return 0;
  sep = strstr(p, "__");
  if (!sep || sep == p || strlen(sep) <= 6) return 0;
  if (*p < '0' || *p > '9') return 0;
  for (; p < sep; p++)
    if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == '_')) return 0;
  return 1;
}

static int liquibase(const char *f) {
  static const char *const stems[] = { "changelog.", "db.changelog", "changelog-master.", NULL };
  static const char *const exts[] = { ".xml", ".yaml", ".yml", ".json", NULL };
  for (int i = 0; stems[i]; i++) {
    if (strncasecmp(f, stems[i], strlen(stems[i])) != 0) continue;
    for (int k = 0; exts[k]; k++)
      if (ends_with(f, exts[k])) return 1;
    return strncasecmp(f, "db.changelog", 12) == 0 && ends_with(f, ".sql");
  }
  return 0;
}

ms_toolfolder ms_toolfolder_of(const char *fname) {
  if (strcmp(fname, "sqitch.plan") == 0) return MS_TOOLFOLDER_SQITCH;
  if (strcmp(fname, "init.lua") == 0) return MS_TOOLFOLDER_MANIFEST;
  if (liquibase(fname)) return MS_TOOLFOLDER_LIQUIBASE;
  if (flyway(fname)) return MS_TOOLFOLDER_FLYWAY;
  return MS_TOOLFOLDER_NONE;
}

const char *ms_toolfolder_why(ms_toolfolder t) {
  switch (t) {
  case MS_TOOLFOLDER_SQITCH:
    return "is a Sqitch project (sqitch.plan): moonshift does not run Sqitch plans yet";
  case MS_TOOLFOLDER_LIQUIBASE:
    return "holds a Liquibase changelog: moonshift does not run Liquibase changelogs yet";
  case MS_TOOLFOLDER_MANIFEST:
    return "is ordered by a manifest (init.lua, as Kong's migrations are): moonshift orders "
           "migrations by the versions in their names and does not read manifests yet";
  case MS_TOOLFOLDER_FLYWAY:
    return "holds Flyway migrations (V<version>__<name>.sql, U, B and R__ files): moonshift "
           "does not run Flyway's versions yet";
  default:
    return "";
  }
}

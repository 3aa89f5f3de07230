/* source.c: discovers migration files in a folder, parses their names
 * (<version>_<name>.sql|.lua, or an .up.sql/.down.sql pair), rejects
 * malformed names and duplicate versions, and sorts by version as int64.
 * Uses only POSIX directory calls; knows nothing of SQL or the database. */
#define _DEFAULT_SOURCE 1   /* struct dirent's d_type */
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int name_char_ok(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
}

void ms_name_parse(const char *fname, ms_name *out) {
  size_t n = strlen(fname), i = 0, stem;
  memset(out, 0, sizeof *out);
  if (n == 0 || fname[0] == '.' || fname[n - 1] == '~') return;
  int digit_first = fname[0] >= '0' && fname[0] <= '9';
  int is_sql = ends_with(fname, n, ".sql"), is_lua = ends_with(fname, n, ".lua");
  if (!digit_first && !is_sql && !is_lua) return;
  out->role = MS_NAME_BAD;
  if (!is_sql && !is_lua) { out->why = "a migration file must end in .sql or .lua"; return; }
  if (!digit_first) { out->why = "a migration file name must start with its version (digits)"; return; }
  out->role = MS_NAME_SINGLE;
  out->kind = is_lua ? MS_KIND_LUA : MS_KIND_SQL;
  stem = n - 4;
  if (is_sql && ends_with(fname, stem, ".up")) { out->role = MS_NAME_UP; stem -= 3; }
  else if (is_sql && ends_with(fname, stem, ".down")) { out->role = MS_NAME_DOWN; stem -= 5; }
  uint64_t v = 0;
  for (; i < stem && fname[i] >= '0' && fname[i] <= '9'; i++) {
    unsigned d = (unsigned)(fname[i] - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) {
      out->role = MS_NAME_BAD;
      out->why = "the version does not fit in a 64-bit integer";
      return;
    }
    v = v * 10 + d;
  }
  out->version = (int64_t)v;
  if (v == 0) {
    out->role = MS_NAME_BAD;
    out->why = "version 0 is reserved: it means \"before every migration\" (down --to 0)";
    return;
  }
  if (i >= stem || fname[i] != '_' || i + 1 >= stem) {
    out->role = MS_NAME_BAD;
    out->why = "expected <version>_<name>.sql, <version>_<name>.lua or <version>_<name>.up.sql/.down.sql";
    return;
  }
  out->name_off = i + 1;
  out->name_len = stem - i - 1;
  for (size_t k = out->name_off; k < stem; k++) {
    if (!name_char_ok((unsigned char)fname[k])) {
      out->role = MS_NAME_BAD;
      out->why = "the name may contain only ASCII letters, digits, '_', '-' and '.'";
      return;
    }
  }
}

static char *join_path(const char *dir, const char *f) {
  size_t a = strlen(dir), b = strlen(f);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, f, b + 1);
  return p;
}

static int cmp_version(const void *a, const void *b) {
  const ms_migration *x = a, *y = b;
  if (x->version != y->version) return x->version < y->version ? -1 : 1;
  return x->pair - y->pair;
}

static void migration_free(ms_migration *m) {
  free(m->checksum);
  free(m->resume_hashes);
  free(m->scan);
  free(m->name);
  free(m->path);
  free(m->down_path);
}

void ms_source_free(ms_source *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) migration_free(&s->v[i]);
  free(s->v);
  free(s->dir);
  memset(s, 0, sizeof *s);
}

static int push(ms_source *s, const ms_migration *m) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    ms_migration *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = *m;
  return 0;
}

/* Collects the candidate files; problems are appended to errs. */
static ms_status collect(ms_ctx *c, const char *dir, ms_source *s, ms_buf *errs) {
  DIR *d = opendir(dir);
  if (!d)
    return ms_fail(c, MS_EUSAGE, "cannot open migrations folder %s: %s", dir, strerror(errno));
  struct dirent *e;
  ms_status st = MS_OK;
  while ((e = readdir(d)) != NULL) {
    ms_name nm;
    ms_name_parse(e->d_name, &nm);
    if (nm.role == MS_NAME_IGNORED) continue;
    char *path = join_path(dir, e->d_name);
    if (!path) { st = ms_fail(c, MS_EFAILED, "out of memory"); break; }
    struct stat sb;
    if (nm.role == MS_NAME_BAD) {
      ms_buf_printf(errs, "\n  %s: %s", path, nm.why);
    } else if (e->d_type != DT_REG && stat(path, &sb) != 0) {
      /* the entry's type spares a stat of every plain file; links and
       * file systems that do not tell are looked at */
      ms_buf_printf(errs, "\n  %s: %s", path, strerror(errno));
    } else if (e->d_type != DT_REG && !S_ISREG(sb.st_mode)) {
      ms_buf_printf(errs, "\n  %s: named like a migration but not a regular file", path);
    } else {
      ms_migration m = {0};
      m.version = nm.version;
      m.vwidth = (int)nm.name_off - 1;
      m.kind = nm.kind;
      m.name = strndup(e->d_name + nm.name_off, nm.name_len);
      m.path = path;
      m.pair = nm.role == MS_NAME_UP ? 1 : nm.role == MS_NAME_DOWN ? 2 : 0;
      if (m.pair == 2) { m.down_path = path; m.path = NULL; }
      path = NULL;
      if (!m.name || push(s, &m) != 0) {
        migration_free(&m);
        st = ms_fail(c, MS_EFAILED, "out of memory");
        break;
      }
    }
    free(path);
  }
  closedir(d);
  return st;
}

static const char *any_path(const ms_migration *m) { return m->path ? m->path : m->down_path; }

/* Merges .up.sql/.down.sql pairs and reports duplicates and lone down files. */
static void merge(ms_source *s, ms_buf *errs) {
  size_t w = 0;
  for (size_t i = 0; i < s->n; i++) {
    ms_migration *m = &s->v[i];
    ms_migration *prev = w > 0 ? &s->v[w - 1] : NULL;
    if (prev && prev->version == m->version) {
      int same = strcmp(prev->name, m->name) == 0;
      /* sorted by pair within a version: an up file comes right before its down */
      if (same && prev->pair == 1 && m->pair == 2) {
        prev->down_path = m->down_path;
        m->down_path = NULL;
        prev->pair = 3;
        migration_free(m);
        continue;
      }
      ms_buf_printf(errs, "\n  %s and %s: both have version %lld", any_path(prev), any_path(m),
                    (long long)m->version);
      migration_free(m);
      continue;
    }
    s->v[w++] = *m;
  }
  s->n = w;
  for (size_t i = 0; i < s->n; i++) {
    ms_migration *m = &s->v[i];
    if (!m->path) ms_buf_printf(errs, "\n  %s: a .down.sql file needs its .up.sql file", m->down_path);
    m->pair = 0;
  }
}

ms_status ms_source_scan(ms_ctx *c, const char *dir, ms_source *out) {
  ms_buf errs = {0};
  ms_status st = collect(c, dir, out, &errs);
  if (st == MS_OK) {
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_version);
    merge(out, &errs);
    out->dir = strdup(dir);
    if (errs.len > 0)
      st = ms_fail(c, MS_EUSAGE, "migrations folder %s has problems; nothing was run:%s", dir, errs.data);
  }
  ms_buf_free(&errs);
  if (st != MS_OK) ms_source_free(out);
  return st;
}

ms_migration *ms_source_find(const ms_source *s, int64_t version) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->v[mid].version == version) return &s->v[mid];
    if (s->v[mid].version < version) lo = mid + 1; else hi = mid;
  }
  return NULL;
}
